//! The LUT index/base moves: an L2L bf16 tensor copy with `mv_lut_idx` or `mv_lut_base` set
//! (spec `isa.md` §4.5, errata 21; rules observed in the `tdma_lut_move` vectors).

use super::convert::{with_conv, Conv, ConvSel};
use super::tensor::sides;
use super::walk::{buf, transfer};
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Direction, Fmt, TdmaDesc, TdmaKind};

/// `mv_lut_base`: the value with its 7 mantissa bits cleared, `x & 0xFF80`, for every input
/// (±0, ±inf, NaN and subnormals included).
pub(crate) struct LutBase;

impl Conv for LutBase {
    #[inline]
    fn src_esz(&self) -> usize {
        2
    }
    #[inline]
    fn dst_esz(&self) -> usize {
        2
    }
    #[inline]
    fn run(&self, src: &[u8], dst: &mut [u8]) {
        for (s, o) in src.chunks_exact(2).zip(dst.chunks_exact_mut(2)) {
            o[0] = s[0] & 0x80;
            o[1] = s[1];
        }
    }
}

/// `mv_lut_idx`: the exponent index of a bf16 value, written to both bytes.
pub(crate) struct LutIdx;

/// The exponent index of `x`: `floor(log2 |x|) + 63`, plus 128 for a negative `x`, modulo 256;
/// 0 for ±0. This is tpu-mlir's host model (spec §3.6.5) and holds for every element of the
/// vectors, subnormals included (errata 21 covers positive normals only, and its "zero and
/// subnormal inputs follow neither rule" is wrong: e.g. cv183x-tdma_lut_move-032 maps 0x0001 to
/// 0xBABA = -133 + 63 and 0x007B to 0xC0C0 = -127 + 63). Infinity takes the x86 conversion of
/// log2(inf) to int (INT_MIN), whose low byte plus 63 is 0x3F: +inf gives 0x3F3F (README).
pub fn lut_index(x: u16) -> u8 {
    let exp = (x >> 7) & 0xFF;
    let man = x & 0x7F;
    let log2 = match exp {
        0 if man == 0 => return 0,
        0 => -133 + (15 - man.leading_zeros() as i32),
        255 => 0, // ±inf: INT_MIN contributes nothing to the low byte
        e => e as i32 - 127,
    };
    let sign = if x & 0x8000 != 0 { 128 } else { 0 };
    (log2 + 63 + sign) as u8
}

/// Whether `x` is a `mv_lut_idx` input the vendor simulator accepts. It asserts `v >= 0` in its
/// index routine, and every mixed-data vector (negatives, ±inf, NaN) stopped it except one on
/// cv180x, which contained negative values (0xBF80 → 0xBFBF, 0xA30D → 0x8686) and +inf (→ 0x3F3F)
/// but evidently no NaN (conformance README, `tdma_lut_move`). Errata 21 reads this as "negative,
/// infinite and NaN inputs are illegal"; the kept vector shows negatives and infinity computed, and
/// tpu-mlir's host model of the index has an explicit `+ 191` branch for negative inputs, so only
/// NaN (the one value for which `v >= 0` fails whatever `v` is derived as) is refused here.
pub fn lut_index_accepted(x: u16) -> bool {
    !(x & 0x7F80 == 0x7F80 && x & 0x7F != 0)
}

impl Conv for LutIdx {
    #[inline]
    fn src_esz(&self) -> usize {
        2
    }
    #[inline]
    fn dst_esz(&self) -> usize {
        2
    }
    #[inline]
    fn run(&self, src: &[u8], dst: &mut [u8]) {
        for (s, o) in src.chunks_exact(2).zip(dst.chunks_exact_mut(2)) {
            let i = lut_index(u16::from_le_bytes([s[0], s[1]]));
            o[0] = i;
            o[1] = i;
        }
    }
}

pub(crate) fn exec(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc) -> ExecResult {
    let op = d.op();
    if op.lut_idx && op.lut_base {
        return Err(ExecErrorKind::Illegal {
            field: "mv_lut_base",
            value: 1,
            why: "mv_lut_idx and mv_lut_base cannot both be set",
        });
    }
    let field = if op.lut_idx { "mv_lut_idx" } else { "mv_lut_base" };
    if op.dir != Direction::L2L || op.kind != TdmaKind::Tensor || op.compressed {
        return Err(ExecErrorKind::Illegal {
            field,
            value: 1,
            why: "a LUT index/base move is a plain local-to-local tensor copy",
        });
    }
    if op.src_fmt != Fmt::Bf16 || op.dst_fmt != Fmt::Bf16 {
        return Err(ExecErrorKind::Illegal { field, value: 1, why: "a LUT index/base move is bf16 → bf16" });
    }
    let sel = if op.lut_idx { ConvSel::LutIdx } else { ConvSel::LutBase };
    let (src, dst) = sides(lmem, gmem, d, Direction::L2L, sel)?;
    if op.lut_idx {
        // Check every input before writing anything, so a refused descriptor changes nothing.
        let data = buf(lmem, gmem, src.loc);
        for (pos, n) in src.rows() {
            for e in data[pos..pos + 2 * n].chunks_exact(2) {
                let x = u16::from_le_bytes([e[0], e[1]]);
                if !lut_index_accepted(x) {
                    return Err(ExecErrorKind::Illegal {
                        field: "mv_lut_idx",
                        value: x as i64,
                        why: "input element (bf16 bits shown) is NaN; the vendor simulator asserts v >= 0",
                    });
                }
            }
        }
    }
    with_conv!(sel, conv => transfer(lmem, gmem, &src, &dst, &conv))
}
