//! The runtime's process-wide shared-gmem list, for planning several models in one process.

use serde::Serialize;

/// `CVI_ALLOC_SHARED` buffers: a request reuses the first buffer in the list at least as large,
/// otherwise a new buffer of exactly the request goes to the front of the list
/// (`sophgo/cviruntime:src/common/shared_mem.cpp`, spec runtime.md §2.5). Frees are not modelled:
/// a plan holds every model at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SharedPool {
    /// Buffer sizes, front of the list first.
    pub buffers: Vec<u64>,
}

impl SharedPool {
    /// Request `size` bytes (already rounded); returns the bytes newly allocated (0 if reused).
    pub fn acquire(&mut self, size: u64) -> u64 {
        if size == 0 || self.serving(size).is_some() {
            return 0;
        }
        self.buffers.insert(0, size);
        size
    }

    /// The buffer (index, front first) a request of `size` bytes would reuse.
    pub fn serving(&self, size: u64) -> Option<usize> {
        self.buffers.iter().position(|&b| b >= size)
    }

    pub fn total(&self) -> u64 {
        self.buffers.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_reuse_and_growth() {
        let mut p = SharedPool::default();
        assert_eq!(p.acquire(8192), 8192);
        assert_eq!(p.acquire(4096), 0);
        // A larger request cannot reuse the smaller buffer, which stays allocated.
        assert_eq!(p.acquire(12288), 12288);
        assert_eq!(p.buffers, vec![12288, 8192]);
        assert_eq!(p.acquire(0), 0);
        assert_eq!(p.total(), 20480);
    }
}
