//! The VLC weight-compression codec of the CV18xx TDMA (`compress_en = 1`).
//!
//! A compressing store (L2G) turns a whole tensor or matrix into one stream; a decompressing load
//! (G2L) expands one stream. Sources: `isa.md` §4.4, corrected by §9 items 14–20 (measured on the
//! vendor simulator), and the `tdma_vlc` section of `conformance/vectors/README.md`. The encoder
//! here reproduces the hardware compressor byte for byte, and the decoder accepts everything it
//! writes (`sim/tests/vlc_vectors.rs` checks both against every `tdma_vlc` vector).
//!
//! # Stream layout
//!
//! `[16-byte header][kmap: one byte per block, zero-padded to a multiple of 16][block data,
//! zero-padded to a multiple of 16]`. Bits are packed LSB first. The header (little-endian):
//!
//! | bits | field |
//! |---|---|
//! | 23:0 | size of the block-data section in bytes (a multiple of 16) |
//! | 28 | signed int8 (two-side circular shift + zigzag) |
//! | 29 | bf16 |
//! | 39:32 | bias0 |
//! | 46:40 | bias1 |
//! | 47 | zero guard |
//!
//! Everything else is reserved and written as 0. On a load these header fields decide, not the
//! descriptor's `cmprs_fmt`, bias or zero-guard fields (§9.16–17).
//!
//! A block is 16 symbols: 16 bytes of int8 data, or the 16 exponent bytes of 16 bf16 elements,
//! followed (bf16 only, bit-aligned) by one "fraction" byte `sign << 7 | mantissa` per element that
//! exists, except elements with exponent 0 when the zero guard is on. The kmap byte of a block is
//! `k << 5 | (ulen - 16)`, or 0xE0 for a raw block (16 symbols × 8 bits). A Golomb-Rice block is
//! `k` bit-planes of 16 bits, then (bf16 with zero guard, k > 0) a 4-bit count of zero symbols,
//! then `ulen` bits of unary quotients (`q` zeros and a one per symbol); its length is
//! `16k + ulen (+ 4)` bits (§9.14).
//!
//! # Decisions not settled by the sources
//!
//! * The last block is padded with zero **elements** before symbol remapping (§9.15); padded
//!   elements have no fraction byte. The vectors confirm both.
//! * Signed int8 with bias0 in 128..=255 (the header holds 8 bits, the format description only
//!   makes sense up to 127): the circular shift is taken modulo 127 for positive values and 128
//!   for negative ones, which equals the described rule for every bias up to 127 and keeps the
//!   map a bijection for the others. Never seen in the corpus.
//! * A bf16 stream ignores the header's signed bit (the compressor writes it as given).
//! * A raw block's kmap low bits are ignored on decoding. Everything else a well-formed stream
//!   guarantees (unary field length, zero count, symbol range, section sizes) is checked and a
//!   violation is a [`VlcError`].

mod bits;
mod decode;
mod encode;
mod remap;

pub use decode::{decompress, decompress_into, Decoder};
pub use encode::compress;

use std::fmt;

/// Bytes of the stream header.
pub const HEADER_BYTES: usize = 16;
/// Symbols per block (int8: 16 bytes; bf16: 16 elements = 32 bytes).
pub const SYMBOLS_PER_BLOCK: usize = 16;
/// The kmap byte of a block stored raw.
pub const RAW_KMAP: u8 = 0xE0;
/// Sections are padded to multiples of this.
pub const SECTION_ALIGN: usize = 16;

/// The decoded 16-byte stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlcHeader {
    /// Size of the block-data section in bytes (24 bits).
    pub data_bytes: u32,
    pub signed: bool,
    pub bf16: bool,
    pub bias0: u8,
    /// 7 bits.
    pub bias1: u8,
    pub zero_guard: bool,
    /// The header with every defined field cleared: all zero in a stream the hardware wrote.
    pub reserved: [u8; HEADER_BYTES],
}

impl VlcHeader {
    /// Parse the first 16 bytes of `stream`.
    pub fn parse(stream: &[u8]) -> Result<VlcHeader, VlcError> {
        let bytes: &[u8; HEADER_BYTES] = stream
            .get(..HEADER_BYTES)
            .and_then(|h| h.try_into().ok())
            .ok_or(VlcError::Truncated { part: StreamPart::Header, need: HEADER_BYTES, len: stream.len() })?;
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&bytes[..8]);
        let w = u64::from_le_bytes(lo);
        let header = VlcHeader {
            data_bytes: (w & 0xFF_FFFF) as u32,
            signed: (w >> 28) & 1 != 0,
            bf16: (w >> 29) & 1 != 0,
            bias0: (w >> 32) as u8,
            bias1: ((w >> 40) as u8) & 0x7F,
            zero_guard: (w >> 47) & 1 != 0,
            reserved: [0; HEADER_BYTES],
        };
        // Clear the defined fields (bits 23:0, 29:28, 47:32); what is left is reserved.
        let field_mask: u64 = 0xFF_FFFF | (3 << 28) | (0xFFFF << 32);
        let mut reserved = *bytes;
        reserved[..8].copy_from_slice(&(w & !field_mask).to_le_bytes());
        Ok(VlcHeader { reserved, ..header })
    }

    /// The 16 header bytes the compressor writes (reserved bits zero; `data_bytes` keeps 24 bits,
    /// `bias1` 7 bits).
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let w = (self.data_bytes as u64 & 0xFF_FFFF)
            | (self.signed as u64) << 28
            | (self.bf16 as u64) << 29
            | (self.bias0 as u64) << 32
            | ((self.bias1 & 0x7F) as u64) << 40
            | (self.zero_guard as u64) << 47;
        let mut out = [0u8; HEADER_BYTES];
        out[..8].copy_from_slice(&w.to_le_bytes());
        out
    }

    /// True when a reserved header bit is set (the hardware never writes one; report it).
    pub fn has_reserved_bits(&self) -> bool {
        self.reserved.iter().any(|&b| b != 0)
    }
}

/// Which part of a stream a [`VlcError::Truncated`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamPart {
    Header,
    Kmap,
    Data,
}

impl fmt::Display for StreamPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamPart::Header => "header",
            StreamPart::Kmap => "header and block-size map",
            StreamPart::Data => "header, block-size map and block data",
        })
    }
}

/// A stream the decoder cannot expand. Bit positions count from the start of the block-data
/// section (byte `16 + kmap length` of the stream).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VlcError {
    #[error("VLC stream is {len} bytes; its {part} need {need}")]
    Truncated { part: StreamPart, need: usize, len: usize },
    #[error("bf16 VLC stream cannot fill an odd output length of {out_len} bytes")]
    OddBf16Length { out_len: usize },
    #[error("VLC block {block}: kmap byte {kmap:#04x} names Rice order 6 (valid: 0..=5, or 7 for raw)")]
    BadRiceOrder { block: usize, kmap: u8 },
    #[error(
        "VLC block {block}: needs {need} more bits at data bit {bit}, but the data section ends at bit {data_bits}"
    )]
    DataOverrun { block: usize, bit: usize, need: u32, data_bits: usize },
    #[error("VLC block {block}: the {ulen}-bit unary field starting at data bit {bit} ends before its 16th symbol")]
    UnaryOverflow { block: usize, bit: usize, ulen: u32 },
    #[error("VLC block {block}: the 16 unary codes starting at data bit {bit} take {used} bits, kmap says {ulen}")]
    UnaryLength { block: usize, bit: usize, used: u32, ulen: u32 },
    #[error("VLC block {block}: symbol {index} decodes to {value}, beyond 255")]
    SymbolRange { block: usize, index: usize, value: u32 },
    #[error("VLC block {block}: zero count field says {count} but the block has {actual} zero symbols")]
    ZeroCount { block: usize, count: u32, actual: u32 },
}

/// A compressing-store parameter combination the vendor simulator refuses with an assertion
/// (§9.20): report the descriptor as illegal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreParamError {
    #[error(
        "compressing store of int8/uint8 data needs bias0 = 0, bias1 = 0 and zero guard off \
         (got bias0 {bias0}, bias1 {bias1}, zero guard {zero_guard}); the vendor simulator asserts"
    )]
    Int8 { bias0: u8, bias1: u8, zero_guard: bool },
    #[error(
        "compressing store of bf16 data needs bias0 = 127 and bias1 = 0 (got bias0 {bias0}, \
         bias1 {bias1}); the vendor simulator asserts"
    )]
    Bf16 { bias0: u8, bias1: u8 },
}

/// Reject the compressing-store parameters the vendor simulator refuses (§9.20): int8/uint8 with
/// a non-zero bias or the zero guard on; bf16 with bias0 ≠ 127 or bias1 ≠ 0. The zero guard is
/// free for bf16, and signedness is free for both (the bf16 coding ignores it; whether the
/// simulator accepts a signed bf16 store is not known).
pub fn check_store_params(
    signed: bool,
    bf16: bool,
    bias0: u8,
    bias1: u8,
    zero_guard: bool,
) -> Result<(), StoreParamError> {
    let _ = signed;
    if bf16 {
        if bias0 != 127 || bias1 != 0 {
            return Err(StoreParamError::Bf16 { bias0, bias1 });
        }
    } else if bias0 != 0 || bias1 != 0 || zero_guard {
        return Err(StoreParamError::Int8 { bias0, bias1, zero_guard });
    }
    Ok(())
}

/// Number of blocks for `raw_len` uncompressed bytes (16 bytes per int8 block, 32 per bf16 block).
#[inline]
pub const fn block_count(raw_len: usize, bf16: bool) -> usize {
    let per = if bf16 { 2 * SYMBOLS_PER_BLOCK } else { SYMBOLS_PER_BLOCK };
    raw_len.div_ceil(per)
}

#[inline]
const fn align16(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// Length of the padded block-size map for `raw_len` bytes.
#[inline]
pub const fn kmap_len(raw_len: usize, bf16: bool) -> usize {
    align16(block_count(raw_len, bf16))
}

/// Upper bound of a stream's length for `raw_len` bytes (`get_out_bs_buf_size`, §4.4): every
/// block raw, plus the map and the header.
#[inline]
pub const fn max_stream_len(raw_len: usize, bf16: bool) -> usize {
    let per = if bf16 { 2 * SYMBOLS_PER_BLOCK } else { SYMBOLS_PER_BLOCK };
    block_count(raw_len, bf16).saturating_mul(per).saturating_add(kmap_len(raw_len, bf16)).saturating_add(HEADER_BYTES)
}

/// How many bytes a stream occupies (header + map + the header's data size) when it expands to
/// `out_len` bytes. Checks only the header.
pub fn stream_len(stream: &[u8], out_len: usize) -> Result<usize, VlcError> {
    let h = VlcHeader::parse(stream)?;
    Ok(HEADER_BYTES + kmap_len(out_len, h.bf16) + h.data_bytes as usize)
}
