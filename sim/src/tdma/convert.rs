//! Element conversions applied while moving data (spec `isa.md` §4.5): plain copies, int8/uint8 →
//! bf16, bf16 → int8/uint8, and the LUT index/base moves (in `lut_move`).

use crate::bf16::{bf16_to_int8, int8_to_bf16, Int8Rounding};
use crate::error::{ExecErrorKind, ExecResult};
use cvsim_isa::{Chip, Direction, Fmt, TdmaDesc};
use std::sync::OnceLock;

/// Converts a run of source elements into the same number of destination elements.
pub(crate) trait Conv {
    /// True when `run` is a byte copy (lets overlapping moves use `copy_within`).
    const IS_COPY: bool = false;
    fn src_esz(&self) -> usize;
    fn dst_esz(&self) -> usize;
    /// `src.len() / src_esz()` elements; `dst` is exactly as long as they need.
    fn run(&self, src: &[u8], dst: &mut [u8]);
}

/// Same format on both sides: bytes move unchanged (int8 and uint8 alike, negative values
/// included; errata 13: `int8_sign` has no effect here).
pub(crate) struct Verbatim(pub usize);

impl Conv for Verbatim {
    const IS_COPY: bool = true;
    #[inline]
    fn src_esz(&self) -> usize {
        self.0
    }
    #[inline]
    fn dst_esz(&self) -> usize {
        self.0
    }
    #[inline]
    fn run(&self, src: &[u8], dst: &mut [u8]) {
        dst.copy_from_slice(src);
    }
}

/// int8 or uint8 → bf16 (exact: every 8-bit integer is a bf16).
pub(crate) struct I8ToBf16 {
    pub signed: bool,
}

impl Conv for I8ToBf16 {
    #[inline]
    fn src_esz(&self) -> usize {
        1
    }
    #[inline]
    fn dst_esz(&self) -> usize {
        2
    }
    #[inline]
    fn run(&self, src: &[u8], dst: &mut [u8]) {
        for (s, d) in src.iter().zip(dst.chunks_exact_mut(2)) {
            d.copy_from_slice(&int8_to_bf16(*s, self.signed).to_le_bytes());
        }
    }
}

/// bf16 → int8 or uint8 (`crate::bf16::bf16_to_int8`: rounding per `int8_rnd_mode`, saturation,
/// NaN by its sign, and the CV183x overflow-to-zero quirk seen in cv183x-tdma-013/-032/-051).
pub(crate) struct Bf16ToI8 {
    table: &'static [u8],
}

impl Bf16ToI8 {
    pub fn new(signed: bool, rnd: Int8Rounding, chip: Chip) -> Bf16ToI8 {
        Bf16ToI8 { table: narrow_table(chip, signed, rnd) }
    }
}

/// The 8-bit result of every bf16 bit pattern, one table per (chip, signedness, rounding), built
/// on first use from `bf16_to_int8` itself: one lookup per element instead of a libm rounding
/// call (≈ 9 ns per element on baseline x86-64). 64 KiB per table, at most 16 tables.
fn narrow_table(chip: Chip, signed: bool, rnd: Int8Rounding) -> &'static [u8] {
    static TABLES: [OnceLock<Box<[u8]>>; 16] = [const { OnceLock::new() }; 16];
    let i = chip as usize * 4 + signed as usize * 2 + (rnd == Int8Rounding::TowardZero) as usize;
    TABLES[i].get_or_init(|| (0..=u16::MAX).map(|b| bf16_to_int8(b, signed, rnd, chip)).collect())
}

impl Conv for Bf16ToI8 {
    #[inline]
    fn src_esz(&self) -> usize {
        2
    }
    #[inline]
    fn dst_esz(&self) -> usize {
        1
    }
    #[inline]
    fn run(&self, src: &[u8], dst: &mut [u8]) {
        for (s, d) in src.chunks_exact(2).zip(dst.iter_mut()) {
            *d = self.table[u16::from_le_bytes([s[0], s[1]]) as usize];
        }
    }
}

/// Which conversion a descriptor asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvSel {
    Verbatim(usize),
    I8ToBf16 { signed: bool },
    Bf16ToI8 { signed: bool, rnd: Int8Rounding, chip: Chip },
    LutIdx,
    LutBase,
}

/// Bind `$conv` to the concrete converter `$sel` names and evaluate `$body` (one monomorphised
/// copy per converter: no dynamic dispatch in the element loops).
macro_rules! with_conv {
    ($sel:expr, $conv:ident => $body:expr) => {
        match $sel {
            $crate::tdma::convert::ConvSel::Verbatim(e) => {
                let $conv = $crate::tdma::convert::Verbatim(e);
                $body
            }
            $crate::tdma::convert::ConvSel::I8ToBf16 { signed } => {
                let $conv = $crate::tdma::convert::I8ToBf16 { signed };
                $body
            }
            $crate::tdma::convert::ConvSel::Bf16ToI8 { signed, rnd, chip } => {
                let $conv = $crate::tdma::convert::Bf16ToI8::new(signed, rnd, chip);
                $body
            }
            $crate::tdma::convert::ConvSel::LutIdx => {
                let $conv = $crate::tdma::lut_move::LutIdx;
                $body
            }
            $crate::tdma::convert::ConvSel::LutBase => {
                let $conv = $crate::tdma::lut_move::LutBase;
                $body
            }
        }
    };
}
pub(crate) use with_conv;

/// The element formats of a descriptor, rejecting the encodings 0 and 3 (never emitted).
pub(crate) fn formats(d: &TdmaDesc) -> ExecResult<(Fmt, Fmt)> {
    let f = |v: u32, what: &str| match Fmt::from_bits(v) {
        Fmt::Invalid(_) => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {what} = {v} (only 1 = 8-bit and 2 = bf16 are defined)"),
        }),
        f => Ok(f),
    };
    Ok((f(d.src_fmt, "src_fmt")?, f(d.dst_fmt, "dst_fmt")?))
}

/// The conversion of an ordinary transfer in direction `dir` (spec §4.5: G2L and L2L may widen
/// int8 → bf16, L2G and L2L may narrow bf16 → int8; the emitters refuse the other directions).
pub(crate) fn select(chip: Chip, d: &TdmaDesc, dir: Direction) -> ExecResult<ConvSel> {
    let (s, t) = formats(d)?;
    let sel = match (s, t) {
        (Fmt::I8, Fmt::I8) => ConvSel::Verbatim(1),
        (Fmt::Bf16, Fmt::Bf16) => ConvSel::Verbatim(2),
        (Fmt::I8, Fmt::Bf16) if matches!(dir, Direction::G2L | Direction::L2L) => {
            ConvSel::I8ToBf16 { signed: d.int8_sign != 0 }
        }
        (Fmt::Bf16, Fmt::I8) if matches!(dir, Direction::L2G | Direction::L2L) => {
            ConvSel::Bf16ToI8 { signed: d.int8_sign != 0, rnd: Int8Rounding::from_field(d.int8_rnd_mode), chip }
        }
        _ => {
            return Err(ExecErrorKind::Unsupported {
                what: format!(
                    "TDMA {} conversion {} → {} (src_fmt {}, dst_fmt {})",
                    dir.name(),
                    s.name(),
                    t.name(),
                    d.src_fmt,
                    d.dst_fmt
                ),
            })
        }
    };
    // An int8 → bf16 widening is exact: the vendor simulator runs it with either rounding mode.
    if d.int8_rnd_mode != 0 && !matches!(sel, ConvSel::Bf16ToI8 { .. } | ConvSel::I8ToBf16 { .. }) {
        return Err(ExecErrorKind::Illegal {
            field: "int8_rnd_mode",
            value: d.int8_rnd_mode as i64,
            why: "only a bf16 → int8 conversion rounds",
        });
    }
    Ok(sel)
}
