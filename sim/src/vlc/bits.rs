//! LSB-first bit packing of the VLC block data.

/// Mask of the low `n` bits (`n <= 64`).
#[inline]
const fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Most bits one [`BitReader::read`] or [`BitWriter::put`] may move: a 64-bit window minus the up to
/// 7 bits of the current byte already consumed (reader) or still pending (writer).
pub(super) const MAX_BITS: u32 = 56;

/// Reads bit fields from a byte slice, LSB first, never past its end.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, pos: 0 }
    }

    /// Current position in bits.
    #[inline]
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Total length in bits.
    #[inline]
    pub(super) fn len_bits(&self) -> usize {
        self.data.len() * 8
    }

    /// The next `n` bits (`n <= MAX_BITS`) as an integer whose bit 0 is the first bit, or `None`
    /// (position unchanged) when fewer than `n` bits are left.
    #[inline]
    pub(super) fn read(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= MAX_BITS);
        if n as usize > self.len_bits() - self.pos {
            return None;
        }
        let byte = self.pos >> 3;
        let mut window = [0u8; 8];
        let tail = self.data.get(byte..).unwrap_or(&[]);
        let take = tail.len().min(8);
        window[..take].copy_from_slice(&tail[..take]);
        let v = (u64::from_le_bytes(window) >> (self.pos & 7)) & low_bits(n);
        self.pos += n as usize;
        Some(v)
    }
}

/// Appends bit fields to a byte vector, LSB first.
pub(super) struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// Continue writing at the end of `out`.
    pub(super) fn new(out: Vec<u8>) -> BitWriter {
        BitWriter { out, acc: 0, pending: 0 }
    }

    /// Append the low `n` bits of `v` (`n <= MAX_BITS`).
    #[inline]
    pub(super) fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n <= MAX_BITS);
        self.acc |= (v & low_bits(n)) << self.pending;
        self.pending += n;
        while self.pending >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.pending -= 8;
        }
    }

    /// Flush the last partial byte (zero-filled) and return the vector.
    pub(super) fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fields() {
        let fields: [(u64, u32); 6] = [(1, 1), (0x5A, 7), (0xFFFF, 16), (0, 3), (0x1234_5678_9ABC, 47), (0xAB, 8)];
        let mut w = BitWriter::new(vec![0xEE]);
        for &(v, n) in &fields {
            w.put(v, n);
        }
        let bytes = w.finish();
        assert_eq!(bytes[0], 0xEE);
        let mut r = BitReader::new(&bytes[1..]);
        for &(v, n) in &fields {
            assert_eq!(r.read(n), Some(v & low_bits(n)));
        }
        let left = r.len_bits() - r.pos();
        assert!(left < 8);
        assert_eq!(r.read(left as u32 + 1), None);
    }

    #[test]
    fn lsb_first() {
        let mut w = BitWriter::new(Vec::new());
        w.put(1, 1);
        w.put(0, 2);
        w.put(1, 1);
        assert_eq!(w.finish(), vec![0b1001]);
    }
}
