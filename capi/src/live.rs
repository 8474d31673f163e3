//! Objects handed to C as opaque pointers (model handles, kernel functions, `CVI_RT_HANDLE`s,
//! `CVI_RT_MEM`s): boxed, with their addresses kept, so that a pointer C passes back is used only
//! while it names a live object of that kind. A stale, foreign or null pointer is refused, never
//! dereferenced.

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard};

pub(crate) struct Live<T> {
    addrs: Mutex<BTreeSet<usize>>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Live<T> {
    pub(crate) const fn new() -> Live<T> {
        Live { addrs: Mutex::new(BTreeSet::new()), kind: PhantomData }
    }

    fn addrs(&self) -> MutexGuard<'_, BTreeSet<usize>> {
        // A panic while holding the lock leaves a plain set behind; keep serving.
        self.addrs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Box `v` and hand out its address.
    pub(crate) fn publish(&self, v: T) -> *mut c_void {
        let p = Box::into_raw(Box::new(v));
        self.addrs().insert(p as usize);
        p as *mut c_void
    }

    /// The object `p` names, if it is one of these and live. As with the vendor's handles, C must
    /// not use one object from two threads at once.
    pub(crate) fn get<'a>(&self, p: *const c_void) -> Option<&'a mut T> {
        if p.is_null() || !self.addrs().contains(&(p as usize)) {
            return None;
        }
        // SAFETY: the address is a live Box<T> made by `publish` and not yet taken back.
        Some(unsafe { &mut *(p as *mut T) })
    }

    /// Take the object `p` names back (to drop it), if it is one of these and live.
    pub(crate) fn take(&self, p: *const c_void) -> Option<Box<T>> {
        if !self.addrs().remove(&(p as usize)) {
            return None;
        }
        // SAFETY: removed from the set, so taken back exactly once.
        Some(unsafe { Box::from_raw(p as *mut T) })
    }

    /// The first live object for which `pred` holds.
    pub(crate) fn find(&self, pred: impl Fn(&T) -> bool) -> Option<*mut c_void> {
        // SAFETY: every address in the set is a live Box<T>; the set's lock is held while they
        // are looked at, so none is taken back meanwhile.
        self.addrs().iter().copied().find(|&p| pred(unsafe { &*(p as *const T) })).map(|p| p as *mut c_void)
    }
}
