//! The bytes of a global-memory region: owned, or a range of a shared buffer (a model file's
//! weight section) that is copied on the first write.
//!
//! Sharing keeps a model's weights in memory once, however many instances run it: the weight
//! region reads the file's bytes in place. A write through `DerefMut` takes a private copy first,
//! so a model that writes its weights still sees its own writes and never changes the file or
//! another instance; [`RegionBytes::is_shared`] tells whether that has happened.

use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;

#[derive(Clone)]
pub struct RegionBytes(Backing);

#[derive(Clone)]
enum Backing {
    Owned(Vec<u8>),
    /// `range` was checked against the buffer when the region was made.
    Shared {
        bytes: Arc<Vec<u8>>,
        range: Range<usize>,
    },
}

impl RegionBytes {
    pub fn zeroed(len: usize) -> RegionBytes {
        RegionBytes(Backing::Owned(vec![0; len]))
    }

    /// `bytes[range]`, shared; `None` if the range is not inside the buffer.
    pub fn shared(bytes: Arc<Vec<u8>>, range: Range<usize>) -> Option<RegionBytes> {
        bytes.get(range.clone())?;
        Some(RegionBytes(Backing::Shared { bytes, range }))
    }

    /// Whether the bytes are still the shared buffer's (nothing has written them).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Backing::Shared { .. })
    }
}

impl From<Vec<u8>> for RegionBytes {
    fn from(v: Vec<u8>) -> RegionBytes {
        RegionBytes(Backing::Owned(v))
    }
}

impl Deref for RegionBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Backing::Owned(v) => v,
            Backing::Shared { bytes, range } => &bytes[range.clone()],
        }
    }
}

impl DerefMut for RegionBytes {
    /// Copies shared bytes into a private buffer first (copy on write).
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        if let Backing::Shared { bytes, range } = &self.0 {
            self.0 = Backing::Owned(bytes[range.clone()].to_vec());
        }
        match &mut self.0 {
            Backing::Owned(v) => v,
            Backing::Shared { .. } => unreachable!("made owned above"),
        }
    }
}

impl PartialEq for RegionBytes {
    fn eq(&self, other: &RegionBytes) -> bool {
        **self == **other
    }
}

impl Eq for RegionBytes {}

impl std::fmt::Debug for RegionBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_copies_and_leaves_the_buffer_alone() {
        let file = Arc::new(vec![1u8, 2, 3, 4, 5]);
        let mut a = RegionBytes::shared(file.clone(), 1..4).unwrap();
        let b = a.clone();
        assert_eq!(&*a, &[2, 3, 4]);
        assert!(a.is_shared() && b.is_shared());
        a[0] = 9;
        assert_eq!(&*a, &[9, 3, 4]);
        assert!(!a.is_shared());
        assert_eq!(&*b, &[2, 3, 4]);
        assert_eq!(*file, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_range_past_the_buffer_is_refused() {
        assert!(RegionBytes::shared(Arc::new(vec![0; 4]), 2..5).is_none());
    }
}
