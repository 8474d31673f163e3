//! Data → stream, as the hardware compressor writes it.

use super::bits::BitWriter;
use super::remap::Remap;
use super::{
    block_count, kmap_len, max_stream_len, VlcHeader, HEADER_BYTES, RAW_KMAP, SECTION_ALIGN, SYMBOLS_PER_BLOCK,
};

/// Longest unary field a kmap byte can describe (5 bits of `ulen − 16`).
const MAX_ULEN: u32 = 47;
/// A Rice block longer than this is stored raw (16 symbols × 8 bits).
const RAW_BITS: u32 = 128;
/// Largest Rice order the encoder tries.
const MAX_K: u32 = 5;

/// Compress `data` into one stream, byte-identical to the hardware compressor for the parameters
/// [`check_store_params`](super::check_store_params) accepts (and a well-formed stream for any
/// others).
///
/// * Blocks of 16 symbols; the last block is padded with zero elements before remapping (§9.15).
/// * Per block, Rice order k = 0..=5 with the fewest bits (`16k + Σ(q+1)`, plus 4 for the bf16
///   zero count when k > 0), a unary part over 47 bits ruling k out, ties to the smaller k; raw if
///   the best exceeds 128 bits or no k fits.
/// * The header carries the parameters as given (`bias1` keeps 7 bits); a bf16 stream is coded the
///   same whatever `signed` says, and the zero guard only changes bf16 coding.
/// * For bf16, an odd trailing byte is treated as the low byte of one more element whose high byte
///   is zero (the TDMA never produces one).
/// * The header's size field has 24 bits; streams with a data section of 16 MiB or more (far beyond
///   any local memory) get a truncated size.
pub fn compress(data: &[u8], signed: bool, bf16: bool, bias0: u8, bias1: u8, zero_guard: bool) -> Vec<u8> {
    let bias1 = bias1 & 0x7F;
    let raw_len = if bf16 { data.len().next_multiple_of(2) } else { data.len() };
    let blocks = block_count(raw_len, bf16);
    let data_start = HEADER_BYTES + kmap_len(raw_len, bf16);
    let mut out = Vec::with_capacity(max_stream_len(raw_len, bf16));
    out.resize(data_start, 0);
    let mut kmap = Vec::with_capacity(blocks);
    let table = Remap::new(signed, bf16, bias0, bias1, zero_guard).encode_table();
    let mut bits = BitWriter::new(out);

    if bf16 {
        let zero_count = zero_guard;
        for chunk in data.chunks(2 * SYMBOLS_PER_BLOCK) {
            // Elements of this block; missing ones (and a missing high byte) are zero.
            let mut elems = [0u16; SYMBOLS_PER_BLOCK];
            for (e, pair) in elems.iter_mut().zip(chunk.chunks(2)) {
                *e = u16::from_le_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            }
            let present = chunk.len().div_ceil(2);
            let mut symbols = [0u8; SYMBOLS_PER_BLOCK];
            for (s, &e) in symbols.iter_mut().zip(&elems) {
                *s = table[exponent(e) as usize];
            }
            kmap.push(put_symbols(&mut bits, &symbols, zero_count));
            for &e in &elems[..present] {
                if zero_guard && exponent(e) == 0 {
                    continue;
                }
                let frac = ((e >> 8) & 0x80) | (e & 0x7F);
                bits.put(frac as u64, 8);
            }
        }
    } else {
        for chunk in data.chunks(SYMBOLS_PER_BLOCK) {
            let mut symbols = [table[0]; SYMBOLS_PER_BLOCK];
            for (s, &b) in symbols.iter_mut().zip(chunk) {
                *s = table[b as usize];
            }
            kmap.push(put_symbols(&mut bits, &symbols, false));
        }
    }

    let mut out = bits.finish();
    out.resize(out.len().next_multiple_of(SECTION_ALIGN), 0);
    let header = VlcHeader {
        data_bytes: (out.len() - data_start) as u32,
        signed,
        bf16,
        bias0,
        bias1,
        zero_guard,
        reserved: [0; HEADER_BYTES],
    };
    out[..HEADER_BYTES].copy_from_slice(&header.to_bytes());
    out[HEADER_BYTES..HEADER_BYTES + blocks].copy_from_slice(&kmap);
    out
}

#[inline]
fn exponent(e: u16) -> u8 {
    (e >> 7) as u8
}

/// Code one block's symbols (choosing the Rice order) and return its kmap byte.
fn put_symbols(bits: &mut BitWriter, symbols: &[u8; SYMBOLS_PER_BLOCK], zero_count: bool) -> u8 {
    let mut best: Option<(u32, u32, u32)> = None; // (bits, k, ulen)
    for k in 0..=MAX_K {
        let ulen: u32 = symbols.iter().map(|&s| (s as u32 >> k) + 1).sum();
        if ulen > MAX_ULEN {
            continue;
        }
        let size = 16 * k + ulen + if zero_count && k > 0 { 4 } else { 0 };
        match best {
            Some((b, _, _)) if b <= size => {}
            _ => best = Some((size, k, ulen)),
        }
    }
    match best {
        Some((size, k, ulen)) if size <= RAW_BITS => {
            for j in 0..k {
                let plane = symbols.iter().enumerate().fold(0u64, |p, (i, &s)| p | (((s as u64 >> j) & 1) << i));
                bits.put(plane, 16);
            }
            if zero_count && k > 0 {
                bits.put(symbols.iter().filter(|&&s| s == 0).count() as u64, 4);
            }
            for &s in symbols {
                let q = s as u32 >> k;
                bits.put(1u64 << q, q + 1);
            }
            ((k << 5) | (ulen - 16)) as u8
        }
        _ => {
            for &s in symbols {
                bits.put(s as u64, 8);
            }
            RAW_KMAP
        }
    }
}
