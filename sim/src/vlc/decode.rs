//! Stream → data.

use super::bits::BitReader;
use super::remap::Remap;
use super::{block_count, kmap_len, StreamPart, VlcError, VlcHeader, HEADER_BYTES, SYMBOLS_PER_BLOCK};

/// Expand `stream` into `out_len` bytes.
///
/// The header decides signedness, bf16, biases and zero guard (§9.16–17). `stream` may extend past
/// the stream's end (for instance to the end of global memory); only the header, the map and the
/// header's data size are read. The output is allocated only after the stream was found long
/// enough for `out_len`, and never larger than `out_len`.
pub fn decompress(stream: &[u8], out_len: usize) -> Result<Vec<u8>, VlcError> {
    let mut dec = Decoder::new(stream, out_len)?;
    let mut out = vec![0u8; out_len];
    dec.fill(&mut out)?;
    Ok(out)
}

/// [`decompress`] into a caller buffer (its length is the output length). Returns the number of
/// stream bytes the stream occupies (header + map + data section). On error `out` may hold a
/// partial result.
pub fn decompress_into(stream: &[u8], out: &mut [u8]) -> Result<usize, VlcError> {
    let mut dec = Decoder::new(stream, out.len())?;
    dec.fill(out)?;
    Ok(dec.sections.stream_len)
}

/// A stream decoded a block at a time, for consumers that take the output in order and need not
/// hold all of it (a decompressing load places it as it comes).
pub struct Decoder<'a> {
    sections: Sections<'a>,
    table: [u8; 256],
    bits: BitReader<'a>,
    block: usize,
    /// Output bytes decoded so far.
    done: usize,
    out_len: usize,
}

impl<'a> Decoder<'a> {
    /// As [`decompress`] checks it: header, map and data section present for `out_len` bytes.
    pub fn new(stream: &'a [u8], out_len: usize) -> Result<Decoder<'a>, VlcError> {
        let sections = Sections::locate(stream, out_len)?;
        let h = &sections.header;
        let table = Remap::new(h.signed, h.bf16, h.bias0, h.bias1, h.zero_guard).decode_table();
        let bits = BitReader::new(sections.data);
        Ok(Decoder { sections, table, bits, block: 0, done: 0, out_len })
    }

    /// Output bytes one block gives (the last one may give fewer).
    pub fn block_bytes(&self) -> usize {
        if self.sections.header.bf16 {
            2 * SYMBOLS_PER_BLOCK
        } else {
            SYMBOLS_PER_BLOCK
        }
    }

    /// Output bytes not yet decoded.
    pub fn remaining(&self) -> usize {
        self.out_len - self.done
    }

    /// Decode the next `out.len()` output bytes (a whole number of blocks, or the rest).
    pub fn fill(&mut self, out: &mut [u8]) -> Result<(), VlcError> {
        debug_assert!(out.len() <= self.remaining());
        let h = self.sections.header;
        let zero_count = h.bf16 && h.zero_guard;
        for chunk in out.chunks_mut(self.block_bytes()) {
            let block = self.block;
            let kmap = self.sections.kmap[block];
            let symbols = read_symbols(&mut self.bits, block, kmap, zero_count)?;
            if h.bf16 {
                // Fraction bytes follow for the elements that exist, except zero-guarded zeros.
                for (pair, &sym) in chunk.chunks_exact_mut(2).zip(&symbols) {
                    let exp = self.table[sym as usize];
                    let value = if h.zero_guard && exp == 0 {
                        0
                    } else {
                        let frac = self.bits.read(8).ok_or_else(|| overrun(&self.bits, block, 8))? as u16;
                        ((frac & 0x80) << 8) | ((exp as u16) << 7) | (frac & 0x7F)
                    };
                    pair.copy_from_slice(&value.to_le_bytes());
                }
            } else {
                for (byte, &sym) in chunk.iter_mut().zip(&symbols) {
                    *byte = self.table[sym as usize];
                }
            }
            self.block += 1;
            self.done += chunk.len();
        }
        Ok(())
    }
}

/// The checked pieces of a stream for a given output length.
struct Sections<'a> {
    header: VlcHeader,
    kmap: &'a [u8],
    data: &'a [u8],
    stream_len: usize,
}

impl<'a> Sections<'a> {
    fn locate(stream: &'a [u8], out_len: usize) -> Result<Sections<'a>, VlcError> {
        let header = VlcHeader::parse(stream)?;
        if header.bf16 && out_len % 2 != 0 {
            return Err(VlcError::OddBf16Length { out_len });
        }
        let blocks = block_count(out_len, header.bf16);
        let data_start = HEADER_BYTES + kmap_len(out_len, header.bf16);
        let kmap = stream
            .get(HEADER_BYTES..HEADER_BYTES + blocks)
            .filter(|_| stream.len() >= data_start)
            .ok_or(VlcError::Truncated { part: StreamPart::Kmap, need: data_start, len: stream.len() })?;
        let stream_len = data_start + header.data_bytes as usize;
        let data = stream.get(data_start..stream_len).ok_or(VlcError::Truncated {
            part: StreamPart::Data,
            need: stream_len,
            len: stream.len(),
        })?;
        Ok(Sections { header, kmap, data, stream_len })
    }
}

fn overrun(bits: &BitReader<'_>, block: usize, need: u32) -> VlcError {
    VlcError::DataOverrun { block, bit: bits.pos(), need, data_bits: bits.len_bits() }
}

/// The 16 symbols of one block (exponent symbols for bf16), leaving `bits` after its coded part.
fn read_symbols(
    bits: &mut BitReader<'_>,
    block: usize,
    kmap: u8,
    zero_count: bool,
) -> Result<[u8; SYMBOLS_PER_BLOCK], VlcError> {
    let read = |bits: &mut BitReader<'_>, n: u32| bits.read(n).ok_or_else(|| overrun(bits, block, n));
    let mut symbols = [0u8; SYMBOLS_PER_BLOCK];
    let k = (kmap >> 5) as u32;
    match k {
        7 => {
            for quad in symbols.chunks_exact_mut(4) {
                quad.copy_from_slice(&(read(bits, 32)? as u32).to_le_bytes());
            }
            return Ok(symbols);
        }
        6 => return Err(VlcError::BadRiceOrder { block, kmap }),
        _ => {}
    }
    let ulen = (kmap & 0x1F) as u32 + 16;
    let mut planes = [0u16; 5];
    for plane in planes.iter_mut().take(k as usize) {
        *plane = read(bits, 16)? as u16;
    }
    let count = if zero_count && k > 0 { Some(read(bits, 4)? as u32) } else { None };
    let unary_start = bits.pos();
    let mut unary = read(bits, ulen)?;
    let mut used = 0;
    for (i, sym) in symbols.iter_mut().enumerate() {
        if unary == 0 {
            return Err(VlcError::UnaryOverflow { block, bit: unary_start, ulen });
        }
        let q = unary.trailing_zeros();
        unary >>= q + 1;
        used += q + 1;
        let mut value = q << k;
        for (j, plane) in planes.iter().take(k as usize).enumerate() {
            value |= ((*plane as u32 >> i) & 1) << j;
        }
        *sym = u8::try_from(value).map_err(|_| VlcError::SymbolRange { block, index: i, value })?;
    }
    if used != ulen {
        return Err(VlcError::UnaryLength { block, bit: unary_start, used, ulen });
    }
    if let Some(count) = count {
        let actual = symbols.iter().filter(|&&s| s == 0).count() as u32;
        if actual != count {
            return Err(VlcError::ZeroCount { block, count, actual });
        }
    }
    Ok(symbols)
}
