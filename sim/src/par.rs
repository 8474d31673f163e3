//! Splitting one descriptor's work across host threads without changing a byte of its result.
//!
//! An executor describes its work as items (an output channel, a band of rows) whose results it
//! can compute from what it already read, without writing local memory. [`compute_then_emit`]
//! computes the items on up to `threads` threads, each a contiguous range of items, into one
//! buffer, then hands every item's bytes to the executor's `emit` on the calling thread, in item
//! order. All writes to local memory happen in `emit`, in the order a single thread makes them, so
//! the result is the single-threaded result whatever the thread count, even when an executor's
//! outputs alias.

use std::ops::Range;

/// Work below this many multiply-accumulates per descriptor (per chunk) stays on the calling
/// thread. Starting and joining a scoped thread costs about 30 µs on a 2-core VM, and an int8 MAC
/// about 0.1 ns in the conv dot product (bf16 MACs, emulated, several times more): 2^20 MACs is
/// 100 µs or more, so a split saves more than it costs (the measurement is under `traces/`).
pub const MIN_SPLIT_WORK: u64 = 1 << 20;

/// Most bytes of results held at once: items are computed and emitted a chunk at a time, so the
/// buffer stays small beside local memory whatever the descriptor's size.
const CHUNK_BYTES: usize = 64 << 10;

/// Host threads an executor may use, and the buffer it reuses between descriptors.
#[derive(Clone, Debug)]
pub struct Workers {
    threads: usize,
    buf: Vec<u8>,
}

impl Default for Workers {
    fn default() -> Workers {
        Workers::new(1)
    }
}

impl Workers {
    /// `threads` of at least 1 (0 counts as 1).
    pub fn new(threads: usize) -> Workers {
        Workers { threads: threads.max(1), buf: Vec::new() }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The host's cores, as `std::thread::available_parallelism` sees them (1 if unknown).
    pub fn host_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Compute `items` results of `item_len` bytes each with `compute(state, item, out)` (every
    /// item costing about `item_work` operations), then call `emit(state, item, bytes)` for each,
    /// in order, on this thread. `compute` only reads `state`; `emit` does the writes.
    pub fn compute_then_emit<S, C, E>(
        &mut self,
        state: &mut S,
        items: usize,
        item_len: usize,
        item_work: u64,
        compute: C,
        mut emit: E,
    ) where
        S: ?Sized + Sync,
        C: Fn(&S, usize, &mut [u8]) + Sync,
        E: FnMut(&mut S, usize, &[u8]),
    {
        if items == 0 {
            return;
        }
        // One item at a time on one thread (the buffer then holds one item); else chunks of at
        // least one item per thread, however large the items.
        let split = self.threads > 1 && item_work.saturating_mul(items as u64) >= MIN_SPLIT_WORK;
        let per_chunk = if split { (CHUNK_BYTES / item_len.max(1)).max(self.threads).min(items) } else { 1 };
        let chunk_work = item_work.saturating_mul(per_chunk as u64);
        let threads = if split && chunk_work >= MIN_SPLIT_WORK { self.threads.min(per_chunk) } else { 1 };
        let mut buf = std::mem::take(&mut self.buf);
        // Every item's bytes are written by `compute` before `emit` reads them: only growth is
        // zeroed, never the whole buffer per descriptor.
        if buf.len() < per_chunk * item_len {
            buf.resize(per_chunk * item_len, 0);
        }
        let mut start = 0;
        while start < items {
            let end = (start + per_chunk).min(items);
            let out = &mut buf[..(end - start) * item_len];
            run_parts(threads, start..end, item_len, out, &*state, &compute);
            for i in start..end {
                let k = i - start;
                emit(state, i, &out[k * item_len..(k + 1) * item_len]);
            }
            start = end;
        }
        self.buf = buf;
    }
}

/// `compute` over `range`, split into `threads` contiguous parts; part 0 on this thread.
fn run_parts<S, C>(threads: usize, range: Range<usize>, item_len: usize, out: &mut [u8], state: &S, compute: &C)
where
    S: ?Sized + Sync,
    C: Fn(&S, usize, &mut [u8]) + Sync,
{
    let n = range.len();
    let run = |first: usize, count: usize, out: &mut [u8]| run_range(first, count, item_len, out, state, compute);
    if threads <= 1 || n <= 1 {
        run(range.start, n, out);
        return;
    }
    // Parts as even as the items allow, the larger ones first.
    let (base, extra) = (n / threads, n % threads);
    let mut parts = Vec::with_capacity(threads);
    let mut rest = out;
    let mut first = range.start;
    for t in 0..threads {
        let len = base + usize::from(t < extra);
        let (mine, tail) = rest.split_at_mut(len * item_len);
        parts.push((first, len, mine));
        first += len;
        rest = tail;
    }
    std::thread::scope(|s| {
        let mut parts = parts.into_iter();
        let (first0, len0, out0) = parts.next().expect("at least one part");
        for (f, len, o) in parts {
            s.spawn(move || run(f, len, o));
        }
        run(first0, len0, out0);
    });
}

/// Items `first..first + count` into `out`. Not inlined: the executor's loop is then compiled once,
/// not once per caller (calling thread and spawned threads), which keeps fewer code pages resident.
#[inline(never)]
fn run_range<S, C>(first: usize, count: usize, item_len: usize, out: &mut [u8], state: &S, compute: &C)
where
    S: ?Sized + Sync,
    C: Fn(&S, usize, &mut [u8]) + Sync,
{
    for k in 0..count {
        compute(state, first + k, &mut out[k * item_len..(k + 1) * item_len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(threads: usize, items: usize, item_len: usize, work: u64) -> Vec<(usize, Vec<u8>)> {
        let mut got = Vec::new();
        Workers::new(threads).compute_then_emit(
            &mut got,
            items,
            item_len,
            work,
            |_, i, out| {
                for (k, b) in out.iter_mut().enumerate() {
                    *b = (i * 31 + k * 7) as u8;
                }
            },
            |got, i, bytes| got.push((i, bytes.to_vec())),
        );
        got
    }

    #[test]
    fn every_item_is_emitted_once_in_order_whatever_the_threads() {
        for (items, len) in [(0, 4), (1, 3), (7, 5), (300, 1000), (5, 0)] {
            let one = results(1, items, len, u64::MAX);
            assert_eq!(one.iter().map(|r| r.0).collect::<Vec<_>>(), (0..items).collect::<Vec<_>>());
            for t in [2, 3, 16] {
                assert_eq!(results(t, items, len, u64::MAX), one, "{items} items of {len} on {t} threads");
            }
        }
    }
}
