//! VLC-compressed loads (G2L decompress) and stores (L2G compress), spec `isa.md` §4.4 with
//! errata 14–20. One descriptor moves one stream: the whole tensor in (n, c, h, w) order, or the
//! whole matrix row after row. The codec is `crate::vlc`.
//!
//! On a load the stream header decides signedness, biases and zero guard; the descriptor's
//! `cmprs_fmt`, `compress_bias0/1` and `compress_zero_guard` are ignored (errata 16–17). On a
//! store the descriptor decides and the header carries its values.

use super::convert::{self, formats, with_conv, Conv, Verbatim};
use super::matrix::{pieces, GRows, LRows};
use super::side::{require_eq, Side};
use super::tensor::{same_count, sizes};
use super::walk::{buf, pair, Loc, Mem, Split, Walk};
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use crate::vlc::{self, StoreParamError, VlcHeader, HEADER_BYTES};
use cvsim_isa::{Chip, Direction, Fmt, TdmaDesc, TdmaKind, TdmaOp};

pub(crate) fn exec(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, op: TdmaOp) -> ExecResult {
    if !matches!(op.kind, TdmaKind::Tensor | TdmaKind::Matrix) {
        return Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} (compression only on plain tensor and matrix copies)", op.name()),
        });
    }
    match op.dir {
        Direction::G2L => load(chip, lmem, gmem, d, op.kind == TdmaKind::Matrix),
        Direction::L2G => store(lmem, gmem, d, op.kind == TdmaKind::Matrix),
        dir => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} with compress_en (only g2l decompress and l2g compress)", dir.name()),
        }),
    }
}

fn vlc_err(e: vlc::VlcError) -> ExecErrorKind {
    ExecErrorKind::Vlc(e.to_string())
}

/// Streams start 16-byte aligned (`check_tdma_compressed_tg`).
fn aligned(side: &Side, field: &'static str) -> ExecResult {
    if side.addr & 15 != 0 {
        return Err(ExecErrorKind::Illegal {
            field,
            value: (side.addr & 0xFFFF_FFFF) as i64,
            why: "a VLC stream starts 16-byte aligned",
        });
    }
    Ok(())
}

/// Decompressing load: the stream at the source address expands to the source shape (tensor:
/// src_n·src_c·src_h·src_w elements; matrix: src_n rows of src_w), which is then placed like an
/// uncompressed load, with the int8 → bf16 widening if the formats ask for it.
fn load(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, matrix: bool) -> ExecResult {
    let sel = convert::select(chip, d, Direction::G2L)?;
    let (se, de) = sizes(sel);
    let (src, dst) = (Side::src(d, Direction::G2L), Side::dst(d, Direction::G2L));
    aligned(&src, "src_base_addr_low")?;
    let elems = if matrix {
        require_eq("src_c", d.src_c, d.src_n, "a global matrix's src_c repeats its row count src_n")?;
        d.src_n as usize * d.src_w as usize
    } else {
        d.src_n as usize * d.src_c as usize * d.src_h as usize * d.src_w as usize
    };
    if elems == 0 {
        return Ok(());
    }
    let raw_len = elems * se;

    // Header first (its size field gives the stream length), then the whole stream.
    let (region, start) = gmem.resolve(src.sel, src.addr, HEADER_BYTES as u64)?;
    let region_data = &gmem.regions[region].data;
    let header = VlcHeader::parse(&region_data[start..]).map_err(vlc_err)?;
    if header.bf16 != (se == 2) {
        return Err(ExecErrorKind::Illegal {
            field: "src_fmt",
            value: d.src_fmt as i64,
            why: "the VLC stream header's data type (bit 29) differs from the source format",
        });
    }
    let len = vlc::stream_len(&region_data[start..], raw_len).map_err(vlc_err)?;
    let (region, start) = gmem.resolve(src.sel, src.addr, len as u64)?;
    let dec = vlc::Decoder::new(&gmem.regions[region].data[start..start + len], raw_len).map_err(vlc_err)?;
    let placement = if matrix {
        let g = GRows {
            loc: Loc::Temp,
            start: 0,
            rows: d.src_n as usize,
            cols: d.src_w as usize,
            row_str: d.src_w as usize * se,
            esz: se,
        };
        let l = LRows::resolve(lmem, &dst, [d.src_n, d.dst_c, d.dst_h, d.dst_w], d.src_w, de, ("dst_c", "dst_h"))?;
        Placement::Matrix(g, l)
    } else {
        let s = Walk::flat(Loc::Temp, 0, elems, se);
        let t = dst.walk(lmem, gmem, [d.src_n, d.dst_c, d.dst_h, d.dst_w], de)?;
        same_count(d, &s, &t)?;
        Placement::Tensor(s, t)
    };
    // Placed as it is decoded: the whole expansion at once would be a second copy of the
    // weights being loaded (0.5 MB for a mobilenet_v2 classifier).
    let mut m = Streamed { dec, window: Vec::new(), start: 0, failed: None, dst: &mut lmem.data };
    match &placement {
        Placement::Matrix(g, l) => with_conv!(sel, conv => pieces(g, l, |gp, lp, n| m.chunk(gp, lp, n, &conv))),
        Placement::Tensor(s, t) => with_conv!(sel, conv => pair(&mut m, s, t, &conv)),
    }
    m.failed.map_or(Ok(()), |e| Err(vlc_err(e)))
}

enum Placement {
    Matrix(GRows, LRows),
    Tensor(Walk, Walk),
}

/// The decompressed source of a load, decoded as the placement asks for it. Placement walks the
/// source forward only; what lies behind the furthest request is dropped. A corrupt stream stops
/// the placement at the block that fails (what was placed before it stays written) and the load
/// reports the error.
struct Streamed<'a> {
    dec: vlc::Decoder<'a>,
    /// Decoded bytes from source byte `start` on.
    window: Vec<u8>,
    start: usize,
    failed: Option<vlc::VlcError>,
    dst: &'a mut [u8],
}

impl Streamed<'_> {
    /// Make source bytes `lo..hi` available in the window; false once the stream failed.
    fn have(&mut self, lo: usize, hi: usize) -> bool {
        // Placement never goes back (both walks visit the source in order).
        debug_assert!(lo >= self.start, "source byte {lo} requested after {} was dropped", self.start);
        if self.failed.is_some() || lo < self.start {
            return false;
        }
        // Drop what placement has passed (in large steps: a drain moves the rest down).
        let passed = lo - self.start;
        if passed >= 64 * 1024 && passed >= self.window.len() / 2 {
            let passed = passed.min(self.window.len());
            self.window.drain(..passed);
            self.start += passed;
        }
        let end = self.start + self.window.len();
        if hi > end {
            let block = self.dec.block_bytes();
            let want = (hi - end).div_ceil(block) * block;
            let n = want.min(self.dec.remaining());
            let at = self.window.len();
            self.window.resize(at + n, 0);
            if let Err(e) = self.dec.fill(&mut self.window[at..]) {
                self.failed = Some(e);
                return false;
            }
        }
        hi <= self.start + self.window.len()
    }
}

impl Mem for Streamed<'_> {
    fn chunk<C: Conv>(&mut self, s: usize, d: usize, n: usize, conv: &C) {
        let len = n * conv.src_esz();
        if self.have(s, s + len) {
            let w = &self.window[s - self.start..s - self.start + len];
            conv.run(w, &mut self.dst[d..d + n * conv.dst_esz()]);
        }
    }
}

/// Compressing store: the local source (tensor, or matrix of dst_c rows × dst_w columns) is
/// gathered in logical order, compressed with the descriptor's parameters, and the stream is
/// written at the destination address (exactly its length; the README saw nothing written after).
fn store(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, matrix: bool) -> ExecResult {
    let (s, t) = formats(d)?;
    if s != t {
        return Err(ExecErrorKind::Unsupported {
            what: format!("TDMA compressing store {} → {} (only same-format)", s.name(), t.name()),
        });
    }
    if d.int8_rnd_mode != 0 {
        return Err(ExecErrorKind::Illegal {
            field: "int8_rnd_mode",
            value: d.int8_rnd_mode as i64,
            why: "only a bf16 → int8 conversion rounds",
        });
    }
    let bf16 = s == Fmt::Bf16;
    let (signed, bias0, bias1, zero_guard) =
        (d.cmprs_fmt != 0, d.compress_bias0 as u8, d.compress_bias1 as u8, d.compress_zero_guard != 0);
    store_params(d, signed, bf16, bias0, bias1, zero_guard)?;
    let esz = s.size();
    let (src, dst) = (Side::src(d, Direction::L2G), Side::dst(d, Direction::L2G));
    aligned(&dst, "dst_base_addr_low")?;

    let conv = Verbatim(esz);
    let raw = if matrix {
        require_eq("dst_c", d.dst_c, d.src_n, "a global matrix's dst_c is its row count src_n")?;
        let (rows, cols) = (d.src_n as usize, d.dst_w as usize);
        let mut raw = vec![0u8; rows * cols * esz];
        let g = GRows { loc: Loc::Temp, start: 0, rows, cols, row_str: cols * esz, esz };
        let l = LRows::resolve(lmem, &src, [d.src_n, d.src_c, d.src_h, d.src_w], d.dst_w, esz, ("src_c", "src_h"))?;
        let mut m = Split { src: &lmem.data, dst: &mut raw };
        pieces(&g, &l, |gp, lp, n| m.chunk(lp, gp, n, &conv));
        raw
    } else {
        let s = src.walk(lmem, gmem, [d.src_n, d.src_c, d.src_h, d.src_w], esz)?;
        let elems = s.elems();
        let t = Walk::flat(Loc::Temp, 0, elems, esz);
        let dst_elems = d.src_n as u64 * d.dst_c as u64 * d.dst_h as u64 * d.dst_w as u64;
        if dst_elems != elems as u64 {
            return Err(ExecErrorKind::Illegal {
                field: "dst_c",
                value: d.dst_c as i64,
                why: "destination C·H·W differs from the source's",
            });
        }
        let mut raw = vec![0u8; elems * esz];
        pair(&mut Split { src: buf(lmem, gmem, s.loc), dst: &mut raw }, &s, &t, &conv);
        raw
    };
    if raw.is_empty() {
        return Ok(());
    }
    let stream = vlc::compress(&raw, signed, bf16, bias0, bias1, zero_guard);
    let (region, start) = gmem.resolve(dst.sel, dst.addr, stream.len() as u64)?;
    gmem.regions[region].data[start..start + stream.len()].copy_from_slice(&stream);
    Ok(())
}

/// The store parameters the vendor simulator asserts on (errata 20) are illegal descriptors.
fn store_params(d: &TdmaDesc, signed: bool, bf16: bool, bias0: u8, bias1: u8, zero_guard: bool) -> ExecResult {
    // The descriptor's bias1 has 8 bits, the stream header 7: a value the header cannot carry is
    // refused too (only 0 is accepted anyway).
    let e = match vlc::check_store_params(signed, bf16, bias0, bias1, zero_guard) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let (field, value) = match e {
        StoreParamError::Int8 { bias0, .. } | StoreParamError::Bf16 { bias0, .. }
            if bias0 != 0 && !(bf16 && bias0 == 127) =>
        {
            ("compress_bias0", d.compress_bias0)
        }
        StoreParamError::Int8 { bias1, .. } | StoreParamError::Bf16 { bias1, .. } if bias1 != 0 => {
            ("compress_bias1", d.compress_bias1)
        }
        StoreParamError::Bf16 { .. } => ("compress_bias0", d.compress_bias0),
        StoreParamError::Int8 { .. } => ("compress_zero_guard", d.compress_zero_guard),
    };
    Err(ExecErrorKind::Illegal {
        field,
        value: value as i64,
        why: if bf16 {
            "a compressing bf16 store needs bias0 = 127 and bias1 = 0 (the vendor simulator asserts)"
        } else {
            "a compressing int8 store needs bias0 = bias1 = 0 and the zero guard off (the vendor simulator asserts)"
        },
    })
}
