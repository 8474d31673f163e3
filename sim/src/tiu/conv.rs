//! TIU convolution (tsk_typ 0), int8 (per-tensor shift or per-channel QM) and bf16, with partial
//! sums (spec `isa.md` §3.6.1, §3.7, §9).
//!
//! Also holds what depthwise convolution shares with it: the field checks, the per-channel bias and
//! quantisation records (opd2) and the int8 epilogue.
//!
//! Execution: every operand is bounds-checked once; the input is gathered into a padded buffer of
//! exactly the rows and columns the outputs read (pads and inserts materialised, so the inner loops
//! have no branches), and the weights into a dense `[oc][kh][kw][ic]` buffer.

use super::operand::{anchored_to_result, view, Opd};
use super::ps32::Ps32;
use super::window::{Bf16, Dilation, Kernel, Window};
use crate::arith;
use crate::bf16;
use crate::error::{ExecErrorKind, ExecResult};
use crate::fenv::{self, Truncating};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc};

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    check_common(d)?;
    let g = ConvShape::from_desc(d)?;
    if g.is_empty() {
        return Ok(());
    }
    let win = Window::from_desc(d, g.ih, g.iw, Kernel { kh: g.kh, kw: g.kw, dilation: Dilation::Honoured })?;
    // The vendor simulator asserts that a convolution asks for exactly the outputs its geometry
    // gives (`assert_output_hw`, every chip), where pooling may ask for fewer.
    {
        for (field, axis) in [("res0_h", win.h), ("res0_w", win.w)] {
            if axis.output != axis.max_output() {
                return Err(ExecErrorKind::Illegal {
                    field,
                    value: axis.output as i64,
                    why: "a convolution must produce exactly the outputs its padded input, kernel and stride give",
                });
            }
        }
    }
    if d.is_bf16() {
        exec_bf16(chip, lmem, d, &g, &win)
    } else {
        exec_int8(chip, lmem, d, &g, &win)
    }
}

/// Conv dimensions, checked for consistency between the operands.
struct ConvShape {
    n: u32,
    ic: u32,
    ih: u32,
    iw: u32,
    oc: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    /// `opt_opd1_const`: every tap uses the scalar in `opd1_addr`.
    w_const: bool,
}

impl ConvShape {
    fn from_desc(d: &TiuDesc) -> ExecResult<ConvShape> {
        let g = ConvShape {
            n: d.opd0_n,
            ic: d.opd0_c,
            ih: d.opd0_h,
            iw: d.opd0_w,
            oc: d.res0_c,
            oh: d.res0_h,
            ow: d.res0_w,
            kh: d.opd1_h,
            kw: d.opd1_w,
            w_const: d.opt_opd1_const != 0,
        };
        if d.res0_n != g.n {
            return Err(ExecErrorKind::Illegal {
                field: "res0_n",
                value: d.res0_n as i64,
                why: "conv result batch differs from opd0_n",
            });
        }
        if !g.w_const {
            if d.opd1_n != g.ic {
                return Err(ExecErrorKind::Illegal {
                    field: "opd1_n",
                    value: d.opd1_n as i64,
                    why: "weight input channels differ from opd0_c",
                });
            }
            if d.opd1_c != g.oc {
                return Err(ExecErrorKind::Illegal {
                    field: "opd1_c",
                    value: d.opd1_c as i64,
                    why: "weight output channels differ from res0_c",
                });
            }
        }
        nonzero_input(d)?;
        Ok(g)
    }

    fn is_empty(&self) -> bool {
        self.n == 0 || self.oc == 0 || self.oh == 0 || self.ow == 0
    }
}

/// An input with no channels, rows or columns has no defined window.
pub(crate) fn nonzero_input(d: &TiuDesc) -> ExecResult {
    for (field, v) in [("opd0_c", d.opd0_c), ("opd0_h", d.opd0_h), ("opd0_w", d.opd0_w)] {
        if v == 0 {
            return Err(ExecErrorKind::Illegal { field, value: 0, why: "input dimension must be at least 1" });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Field checks shared with depthwise convolution
// ---------------------------------------------------------------------------------------------

fn unsupported(what: String) -> ExecErrorKind {
    ExecErrorKind::Unsupported { what }
}

/// Reject fields no emitter sets and no source defines (spec §8 item 4), and operand widths the
/// conv datapath does not read.
pub(crate) fn check_common(d: &TiuDesc) -> ExecResult {
    let zero_only = [
        ("opt_opd0_const", d.opt_opd0_const),
        ("opt_opd2_const", d.opt_opd2_const),
        ("short_nchwstr_same", d.short_nchwstr_same),
        ("opt_relu_value", d.opt_relu_value),
        ("fp_round_typ", d.fp_round_typ),
        ("opt_res_add", d.opt_res_add),
    ];
    for (field, v) in zero_only {
        if v != 0 {
            return Err(unsupported(format!("field `{field}` = {v} (undocumented; no emitter sets it)")));
        }
    }
    if d.opt_relu_typ > 1 {
        return Err(unsupported(format!(
            "field `opt_relu_typ` = {} (only 0 = off and 1 = ReLU are documented)",
            d.opt_relu_typ
        )));
    }
    // seg: 1 = 8-bit (or one bf16 element); 0 = 16-bit byte planes; 2/3 undocumented.
    for (field, v) in
        [("opt_res0_seg", d.opt_res0_seg), ("opt_opd0_seg", d.opt_opd0_seg), ("opt_opd1_seg", d.opt_opd1_seg)]
    {
        if v != 1 {
            return Err(unsupported(format!(
                "field `{field}` = {v} (convolution operands are 8-bit or bf16 elements, seg = 1)"
            )));
        }
    }
    Ok(())
}

/// `opt_relu_typ` (0 or 1 after [`check_common`]).
pub(crate) fn relu(d: &TiuDesc) -> bool {
    d.opt_relu_typ == 1
}

/// Whether opd2 (bias or records) is read: `tsk_opd_num` 3 with bias, 2 without.
pub(crate) fn has_bias(d: &TiuDesc) -> ExecResult<bool> {
    match d.tsk_opd_num {
        2 => Ok(false),
        3 => Ok(true),
        v => Err(ExecErrorKind::Illegal {
            field: "tsk_opd_num",
            value: v as i64,
            why: "convolution takes 2 operands, or 3 with a bias",
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Operand gathering
// ---------------------------------------------------------------------------------------------

/// Channel bases of `t`, and bounds for `planes` copies of it `b_str` bytes apart (byte planes of
/// 16-bit biases, ps32 partial sums). Returns the bases of plane 0.
pub(crate) fn plane_bases(t: &LTensor, lmem: &Lmem, planes: u32, b_str: u32, what: Label) -> ExecResult<Vec<usize>> {
    let bases = t.channel_bases(lmem, what)?;
    if planes > 1 {
        let (lane, off) = Lmem::split(t.addr);
        let extra = (planes - 1) as u64 * b_str as u64;
        if off as u64 + extra >= lmem.per_lane as u64 {
            return Err(ExecErrorKind::LmemOutOfRange {
                what: what.text,
                lane,
                start: off as u64 + extra,
                end: off as u64 + extra + 1,
                limit: lmem.per_lane,
            });
        }
        let last = LTensor { addr: t.addr + extra as u32, ..*t };
        last.channel_bases(lmem, what)?;
        lmem.retrace_planes(2, t, planes, b_str, what);
    }
    Ok(bases)
}

/// The int8 pad/insert value, sign-extended per `opt_opd0_sign`. CV18[0-2]x hold it in the low
/// byte of the 16-bit `opd0_ins_val`; CV183x's field is 8 bits.
pub(crate) fn pad_i8(chip: Chip, d: &TiuDesc) -> i16 {
    let b = d.pad_value(chip) as u8;
    if d.opt_opd0_sign != 0 {
        b as i8 as i16
    } else {
        b as i16
    }
}

/// The bf16 pad/insert value of a convolution, depthwise convolution or average pooling: the
/// 16-bit pad field (CV183x `opd0_ins_fp`, CV18[0-2]x `opd0_ins_val`) read by the vendor as an
/// unsigned integer, its value exact in fp32 (not the bf16 pattern, nor the integer rounded to
/// bf16). With that, fuzzed depthwise convolutions and average pools with random pad values and
/// padding agree on every chip (CV181x 400 of 400; CV183x 30 of 30 that the bf16 reading left
/// apart). cvikernel puts 0 there, which every reading takes as 0. Max and min pooling read the
/// field as a bf16 pattern.
pub(crate) fn bf16_pad(chip: Chip, d: &TiuDesc) -> f32 {
    d.pad_value(chip) as u16 as f32
}

#[inline]
pub(crate) fn load_i8(lmem: &Lmem, i: usize, signed: bool) -> i16 {
    let b = lmem.data[i];
    if signed {
        b as i8 as i16
    } else {
        b as i16
    }
}

#[inline]
pub(crate) fn load_u16(lmem: &Lmem, i: usize) -> u16 {
    u16::from_le_bytes([lmem.data[i], lmem.data[i + 1]])
}

/// Two int8 operands in one 32-bit lane, `lo` in the low half: the unit of the int8 kernel,
/// which multiplies a pair of input channels by a pair of weights in one step.
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

#[inline(always)]
fn unpair(v: i32) -> (i32, i32) {
    (v as i16 as i32, (v >> 16) as i16 as i32)
}

/// Gather span rows `rows` of image `n` of opd0 `(N, IC, IH, IW)` into `buf` as channel pairs
/// `[ic / 2][row][col]` (columns in the [`Window::col_pos`] order), pads and inserts filled
/// with `pad`; an odd channel count is completed by a pad channel (its weights are zero). A conv
/// tap over consecutive outputs then reads consecutive lanes of one pair plane.
#[allow(clippy::too_many_arguments)]
fn gather_pairs(
    x: &LTensor,
    bases: &[usize],
    win: &Window,
    pad: i16,
    n: u32,
    rows: std::ops::Range<usize>,
    load: &impl Fn(usize) -> i16,
    buf: &mut Vec<i32>,
) {
    let row_len = win.row_len();
    let nr = rows.len();
    let ic = bases.len();
    buf.clear();
    buf.resize(ic.div_ceil(2) * nr * row_len, pair(pad, pad));
    // (position in a plane row, offset from the row's first element) of every input column.
    let cols: Vec<(usize, usize)> = win
        .w
        .sources()
        .iter()
        .enumerate()
        .filter_map(|(col, s)| s.map(|w| (win.col_pos(col), x.inner(0, 0, w))))
        .collect();
    let srcs: Vec<(usize, usize)> =
        rows.enumerate().filter_map(|(r, p)| win.h.source(p as u32).map(|h| (r, x.inner(n, h, 0)))).collect();
    // One pair plane at a time, rows in order: the reads walk each channel's rows and the writes
    // fill the plane in order.
    for (plane, chans) in buf.chunks_mut(nr * row_len).zip(bases.chunks(2)) {
        for &(r, row) in &srcs {
            let dst = &mut plane[r * row_len..(r + 1) * row_len];
            match *chans {
                [lo, hi] => {
                    for &(pos, col) in &cols {
                        dst[pos] = pair(load(lo + row + col), load(hi + row + col));
                    }
                }
                _ => {
                    for &(pos, col) in &cols {
                        dst[pos] = pair(load(chans[0] + row + col), pad);
                    }
                }
            }
        }
    }
}

/// Channel pairs of gathered input one band of output rows may take (64 KiB): gathering the
/// whole input widened would hold a second copy of it (0.45 MB on a mobilenet_v2 layer).
const BAND_PAIRS: usize = 16 * 1024;

/// Weights as `[oc][kh][kw][ic]`: from opd1 `(IC, OC, KH, KW)` through its stride code (1 = the
/// weight layout, §1.3), or the scalar of `opt_opd1_const` for every tap.
fn gather_weights<T: Copy>(
    chip: Chip,
    lmem: &Lmem,
    d: &TiuDesc,
    g: &ConvShape,
    esz: u32,
    constant: T,
    mut load: impl FnMut(usize) -> T,
) -> ExecResult<Vec<T>> {
    let per_oc = (g.kh * g.kw * g.ic) as usize;
    if g.w_const {
        return Ok(vec![constant; g.oc as usize * per_oc]);
    }
    let what = Label::new(Operand::Opd1, "conv weights (opd1)");
    let t = anchored_to_result(chip.lanes(), d, view(chip, d, Opd::Opd1, esz), what)?;
    let bases = t.channel_bases(lmem, what)?;
    let mut w = Vec::with_capacity(g.oc as usize * per_oc);
    for &b in &bases {
        for kh in 0..g.kh {
            for kw in 0..g.kw {
                for ic in 0..g.ic {
                    w.push(load(b + t.inner(ic, kh, kw)));
                }
            }
        }
    }
    Ok(w)
}

// ---------------------------------------------------------------------------------------------
// int8 epilogue (shared with depthwise)
// ---------------------------------------------------------------------------------------------

/// Results the vendor simulator requantises together (see [`Int8Out::with_tail`]).
pub(crate) const SHIFT_GROUP: usize = 4;

/// How one output channel's int32 accumulator becomes an int8 result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requant {
    /// `acc + bias16`, ReLU, rounding shift, saturate (`opt_chl_quan = 0`).
    PerTensor { bias: i32 },
    /// `acc + bias32` (wrapping), QM multiply and shift, clamp to int8 (`opt_chl_quan = 1`).
    Qm { bias: i32, mult: i32, shift: i32, adds_one: bool },
}

/// The int8 epilogue parameters common to every channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int8Out {
    relu: bool,
    signed: bool,
    rshift: u32,
    /// `opt_shift_typ`: arithmetic (1) or logical (0) right shift.
    arith: bool,
    /// `opt_rshift_typ`: rounding (1) or truncating (0) right shift.
    round: bool,
    chip: Chip,
    /// The flat (n, c, h, w) index from which results take another shift, and that shift: see
    /// [`Int8Out::with_tail`].
    tail: Option<(usize, u32)>,
}

impl Int8Out {
    /// The per-tensor epilogue without ReLU: rounding (or plain) right shift by `opt_res_shift`,
    /// arithmetic or logical per `opt_shift_typ`, saturation per `opt_res0_sign`.
    pub(crate) fn shift_only(chip: Chip, d: &TiuDesc) -> ExecResult<Int8Out> {
        Ok(Int8Out {
            relu: false,
            signed: d.opt_res0_sign != 0,
            rshift: d.plain_res_shift(),
            // Without a shift the value stays signed whatever the flavour says: the vendor
            // simulator saturates a negative sum to -128 under a logical shift of 0.
            arith: d.opt_shift_typ != 0 || d.plain_res_shift() == 0,
            round: d.opt_rshift_typ != 0,
            chip,
            tail: None,
        })
    }

    /// The vendor simulator shifts a result of `total` elements, flattened in (n, c, h, w)
    /// order, four at a time; the up to three left over take a shift of 33..=63 modulo 32
    /// (differential fuzzing: only those last elements differed, by the sum shifted that much).
    pub(crate) fn with_tail(self, total: usize) -> Int8Out {
        if self.rshift > 32 {
            Int8Out { tail: Some((total / SHIFT_GROUP * SHIFT_GROUP, self.rshift - 32)), ..self }
        } else {
            self
        }
    }

    /// [`Int8Out::finish_row`] for a row whose first element has flat index `flat`.
    #[inline]
    pub(crate) fn finish_row_at(&self, acc: &[i32], q: Requant, dst: &mut [u8], step: usize, flat: usize) {
        match self.tail {
            Some((from, shift)) if flat + acc.len() > from => {
                let k = from.saturating_sub(flat).min(acc.len());
                self.finish_row(&acc[..k], q, dst, step);
                let tail = Int8Out { rshift: shift, tail: None, ..*self };
                tail.finish_row(&acc[k..], q, &mut dst[k * step..], step);
            }
            _ => self.finish_row(acc, q, dst, step),
        }
    }

    /// Finish one row of accumulators of one channel into `dst[o · step]`. The requantisation
    /// is resolved once per row, so each variant's loop is straight-line code (vectorised, and
    /// compiled for AVX2 where the host has it).
    pub(crate) fn finish_row(&self, acc: &[i32], q: Requant, dst: &mut [u8], step: usize) {
        #[cfg(target_arch = "x86_64")]
        if wide() {
            // SAFETY: the host has AVX2.
            return unsafe { self.finish_row_avx2(acc, q, dst, step) };
        }
        self.finish_row_by(acc, q, dst, step)
    }

    #[target_feature(enable = "avx2")]
    #[cfg(target_arch = "x86_64")]
    unsafe fn finish_row_avx2(&self, acc: &[i32], q: Requant, dst: &mut [u8], step: usize) {
        self.finish_row_by(acc, q, dst, step)
    }

    #[inline(always)]
    fn finish_row_by(&self, acc: &[i32], q: Requant, dst: &mut [u8], step: usize) {
        #[inline(always)]
        fn write(acc: &[i32], dst: &mut [u8], step: usize, f: impl Fn(i32) -> u8) {
            if step == 1 {
                for (d, &a) in dst[..acc.len()].iter_mut().zip(acc) {
                    *d = f(a);
                }
            } else {
                for (o, &a) in acc.iter().enumerate() {
                    dst[o * step] = f(a);
                }
            }
        }
        let (relu, signed, rs, round) = (self.relu, self.signed, self.rshift, self.round);
        match q {
            Requant::PerTensor { bias } => {
                let pre = move |a: i32| {
                    let v = a.wrapping_add(bias);
                    if relu {
                        v.max(0)
                    } else {
                        v
                    }
                };
                if self.arith {
                    let shift = move |v: i32| if round { arith::rshr_i32(v, rs) } else { arith::shr_floor_i32(v, rs) };
                    write(acc, dst, step, |a| arith::saturate8(shift(pre(a)), signed));
                } else if round {
                    write(acc, dst, step, |a| arith::saturate8(arith::rshr_u32(pre(a) as u32, rs) as i64, signed));
                } else {
                    write(acc, dst, step, |a| arith::saturate8(arith::shr_u32(pre(a) as u32, rs) as i64, signed));
                }
            }
            Requant::Qm { bias, mult, shift, adds_one } if !signed => {
                // An unsigned QM result saturates to 0..=255 (ReLU changes nothing then).
                let chip = self.chip;
                if adds_one {
                    let x = move |a: i32| arith::srdhm(arith::add_bias_wrapping(a, bias), mult);
                    write(acc, dst, step, |a| {
                        let x = x(a);
                        ((x >> shift as u32) + (x >= 0) as i32).clamp(0, 255) as u8
                    });
                } else {
                    write(acc, dst, step, |a| {
                        let v = arith::add_bias_wrapping(a, bias);
                        arith::multiply_by_quantized_multiplier(v, mult, shift, chip).clamp(0, 255) as u8
                    });
                }
            }
            Requant::Qm { bias, mult, shift, adds_one } => {
                let chip = self.chip;
                // ReLU after the requantisation (§8 item 12); QM output is signed int8.
                let out = move |v: i8| if relu { v.max(0) as u8 } else { v as u8 };
                if adds_one {
                    write(acc, dst, step, |a| out(arith::qm_requantize_i8_adding_one(a, bias, mult, shift as u32)));
                } else if (0..32).contains(&shift) {
                    let e = shift as u32;
                    write(acc, dst, step, |a| out(arith::qm_requantize_i8_right(a, bias, mult, e)));
                } else {
                    write(acc, dst, step, |a| out(arith::qm_requantize_i8(a, bias, mult, shift, chip)));
                }
            }
        }
    }
}

/// Per-channel requantisation for `channels` output channels, read from opd2 once per descriptor:
/// 16-bit biases in two byte planes (per-tensor), or the packed QM records.
pub(crate) fn int8_requant(
    chip: Chip,
    lmem: &Lmem,
    d: &TiuDesc,
    channels: u32,
    what: Label,
) -> ExecResult<(Int8Out, Vec<Requant>)> {
    let bias = has_bias(d)?;
    let relu = relu(d);
    if d.opt_chl_quan == 0 {
        // Per-tensor shift: 5 bits on CV183x; on CV18[0-2]x the 6-bit field is an unsigned right
        // shift here (0..=63); only the QM paths read it as two's complement (§3.3).
        let out = Int8Out { relu, ..Int8Out::shift_only(chip, d)? };
        if !bias {
            return Ok((out, vec![Requant::PerTensor { bias: 0 }; channels as usize]));
        }
        if d.opt_opd2_seg != 0 {
            return Err(unsupported(format!(
                "field `opt_opd2_seg` = {} with a per-tensor bias (the bias is 16-bit, seg = 0)",
                d.opt_opd2_seg
            )));
        }
        if d.short_opd2_str != 2 {
            return Err(unsupported(format!(
                "field `short_opd2_str` = {} for a bias (only the per-channel layout 2 is documented)",
                d.short_opd2_str
            )));
        }
        let t = LTensor { n: 1, c: channels, h: 1, w: 1, ..view(chip, d, Opd::Opd2, 1) };
        let t = anchored_to_result(chip.lanes(), d, t, what)?;
        let bases = plane_bases(&t, lmem, 2, d.opd2_b_str, what)?;
        let signed = d.opt_opd2_sign != 0;
        let b_str = d.opd2_b_str as usize;
        let q = bases
            .iter()
            .map(|&b| {
                let hi = load_i8(lmem, b + b_str, signed) as i32;
                Requant::PerTensor { bias: hi * 256 + lmem.data[b] as i32 }
            })
            .collect();
        return Ok((out, q));
    }
    if d.opt_res_shift != 0 {
        return Err(unsupported(format!(
            "field `opt_res_shift` = {} with per-channel quantisation (the shift is in the records)",
            d.opt_res_shift
        )));
    }
    // Records: channel c at lane c % lanes, offset opd2_addr + (c / lanes)·R; the opd2 shape,
    // stride code and b_str are ignored in this mode (§3.6.1).
    let r = if bias { 9 } else { 5 };
    let t =
        LTensor { addr: d.opd2_addr, n: 1, c: channels, h: 1, w: r, n_str: 0, c_str: r, h_str: 0, w_str: 1, esz: 1 };
    let t = anchored_to_result(chip.lanes(), d, t, what)?;
    let bases = t.channel_bases(lmem, what)?;
    let out = Int8Out { relu, signed: d.opt_res0_sign != 0, rshift: 0, arith: true, round: true, chip, tail: None };
    let word = |i: usize| i32::from_le_bytes([lmem.data[i], lmem.data[i + 1], lmem.data[i + 2], lmem.data[i + 3]]);
    let q = bases
        .iter()
        .map(|&b| {
            let (bias, m) = if bias { (word(b), b + 4) } else { (0, b) };
            let raw = lmem.data[m + 4];
            Requant::Qm {
                bias,
                mult: word(m),
                shift: arith::qm_shift_from_byte(chip, raw),
                adds_one: arith::qm_shift_adds_one(chip, raw),
            }
        })
        .collect();
    Ok((out, q))
}

// ---------------------------------------------------------------------------------------------
// bf16 bias (shared with depthwise)
// ---------------------------------------------------------------------------------------------

/// fp32 biases per channel: two 16-bit planes, plane 0 = high half, plane 1 = low half at
/// `opd2_b_str` (§3.6.1 bf16). None without a bias.
pub(crate) fn bf16_bias(
    chip: Chip,
    lmem: &Lmem,
    d: &TiuDesc,
    channels: u32,
    what: Label,
) -> ExecResult<Option<Vec<f32>>> {
    if !has_bias(d)? {
        return Ok(None);
    }
    if d.opt_opd2_seg != 0 {
        return Err(unsupported(format!(
            "field `opt_opd2_seg` = {} with a bf16 bias (the bias is fp32 in two planes, seg = 0)",
            d.opt_opd2_seg
        )));
    }
    if d.short_opd2_str != 2 {
        return Err(unsupported(format!(
            "field `short_opd2_str` = {} for a bias (only the per-channel layout 2 is documented)",
            d.short_opd2_str
        )));
    }
    let t = LTensor { n: 1, c: channels, h: 1, w: 1, ..view(chip, d, Opd::Opd2, 2) };
    let t = anchored_to_result(chip.lanes(), d, t, what)?;
    let b_str = if chip.quirks().bf16_bias_plane_stride_from_channels {
        // The rows the channels span from the operand's first lane.
        let lane0 = (t.addr >> cvsim_isa::chip::LMEM_SHIFT) % chip.lanes();
        (lane0 + channels).div_ceil(chip.lanes()) * 2
    } else {
        d.opd2_b_str
    };
    let bases = plane_bases(&t, lmem, 2, b_str, what)?;
    let b_str = b_str as usize;
    Ok(Some(
        bases
            .iter()
            .map(|&b| {
                let v = f32::from_bits((load_u16(lmem, b) as u32) << 16 | load_u16(lmem, b + b_str) as u32);
                // A subnormal bias adds as zero (oracle: −1e-38 leaves a product on a bf16 tie
                // rounding to even, −1.2e-38 truncates it below).
                if v.is_subnormal() {
                    0.0
                } else {
                    v
                }
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Result and partial sums
// ---------------------------------------------------------------------------------------------

/// res0 and its plane bases: one plane for a final result, 4 byte planes (int8) or 2 half-word
/// planes (bf16) when partial sums are read or written.
fn result_bases(chip: Chip, lmem: &Lmem, d: &TiuDesc, esz: u32, ps: Ps32) -> ExecResult<(LTensor, Vec<usize>)> {
    let t = view(chip, d, Opd::Res0, esz);
    let planes = if ps == Ps32::Off { 1 } else { 4 / esz };
    let bases = plane_bases(&t, lmem, planes, d.res0_b_str, Label::new(Operand::Res0, "conv result (res0)"))?;
    Ok((t, bases))
}

// ---------------------------------------------------------------------------------------------
// int8
// ---------------------------------------------------------------------------------------------

/// One output channel's int8 kernel over gathered channel-pair planes ([`gather_pairs`]).
/// Integer sums wrap modulo 2^32 whatever their order, so the kernel may add in any order.
struct Int8Pairs<'a> {
    img: &'a [i32],
    /// This channel's weight pairs, `[kh][kw][ic / 2]`.
    wk: &'a [i32],
    /// Position in a plane row of each kernel column's first tap.
    cols: &'a [usize],
    pairs: usize,
    kh: usize,
    dh: usize,
    plane: usize,
    row_len: usize,
}

impl Int8Pairs<'_> {
    /// The sums of one output row whose top kernel row is plane row `top`.
    fn sums(&self, top: usize, acc: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if wide() {
            // SAFETY: the host has AVX2.
            return unsafe { self.sums_avx2(top, acc) };
        }
        self.sums_portable(top, acc)
    }

    fn sums_portable(&self, top: usize, acc: &mut [i32]) {
        let Int8Pairs { img, wk, cols, pairs, kh, dh, plane, row_len } = *self;
        acc.fill(0);
        let n = acc.len();
        for ky in 0..kh {
            let r = (top + ky * dh) * row_len;
            for (kx, &c0) in cols.iter().enumerate() {
                let wrow = &wk[(ky * cols.len() + kx) * pairs..][..pairs];
                for (cp, &w) in wrow.iter().enumerate() {
                    let at = cp * plane + r + c0;
                    let (wl, wh) = unpair(w);
                    for (a, &v) in acc.iter_mut().zip(&img[at..at + n]) {
                        let (l, h) = unpair(v);
                        *a = a.wrapping_add(l * wl + h * wh);
                    }
                }
            }
        }
    }

    /// Eight outputs per 256-bit register, sixteen at a time where the row has them; each step
    /// multiplies a channel pair of eight inputs by the broadcast weight pair (`vpmaddwd`: two
    /// products of 9-bit operands, exact in 32 bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sums_avx2(&self, top: usize, acc: &mut [i32]) {
        use std::arch::x86_64::*;
        let Int8Pairs { img, wk, cols, pairs, kh, dh, plane, row_len } = *self;
        let n = acc.len();
        let mut o = 0;
        while o < n {
            let m = (n - o).min(16);
            // Lanes at and beyond `m` are masked off: neither read nor written.
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m as i32), lane);
            let mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m as i32 - 8), lane);
            let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for ky in 0..kh {
                let r = (top + ky * dh) * row_len;
                for (kx, &c0) in cols.iter().enumerate() {
                    let wrow = &wk[(ky * cols.len() + kx) * pairs..][..pairs];
                    for (cp, &w) in wrow.iter().enumerate() {
                        let at = cp * plane + r + c0 + o;
                        let src = &img[at..at + m];
                        let wv = _mm256_set1_epi32(w);
                        if m == 16 {
                            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(src.as_ptr().cast()), wv));
                            let hi = _mm256_loadu_si256(src[8..].as_ptr().cast());
                            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(hi, wv));
                        } else {
                            let lo = _mm256_maskload_epi32(src.as_ptr(), mask0);
                            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(lo, wv));
                            if m > 8 {
                                let hi = _mm256_maskload_epi32(src[8..].as_ptr(), mask1);
                                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(hi, wv));
                            }
                        }
                    }
                }
            }
            let dst = &mut acc[o..o + m];
            _mm256_maskstore_epi32(dst.as_mut_ptr(), mask0, a0);
            if m > 8 {
                _mm256_maskstore_epi32(dst[8..].as_mut_ptr(), mask1, a1);
            }
            o += m;
        }
    }
}

/// Whether the host runs AVX2. The release build targets baseline x86-64 (4 lanes of i32/f32);
/// the kernels below are also compiled for AVX2 (8 lanes) and picked at run time. The bits are
/// the same: integer vector operations are exact, and the compiler neither contracts nor
/// reorders float operations, so every output is the same IEEE operations in the same order.
#[inline]
fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One output channel's bf16 kernel over gathered `[ic][row][col]` fp32 input planes.
struct Bf16Rows<'a> {
    img: &'a [f32],
    wk: &'a [f32],
    /// Position in a plane row of each kernel column's first tap.
    cols: &'a [usize],
    ic: usize,
    kh: usize,
    kw: usize,
    dh: usize,
    plane: usize,
    row_len: usize,
}

impl Bf16Rows<'_> {
    /// The fp32 sums of one output row whose top kernel row is span row `top`, accumulated
    /// onto what `acc` holds (zero, or a previous partial sum), by `mac`.
    #[inline(always)]
    fn sums_by(&self, top: usize, acc: &mut [f32], mac: impl Fn(f32, f32, f32) -> f32) {
        let Bf16Rows { img, wk, cols, ic, kh, kw, dh, plane, row_len } = *self;
        let n = acc.len();
        // fp32 sum in the order kh → kw → ic (§3.6.1 bf16), each output independently;
        // the loop over outputs is innermost so it vectorises without reordering a sum.
        for ky in 0..kh {
            let r = (top + ky * dh) * row_len;
            for (kx, &cp) in cols.iter().enumerate().take(kw) {
                let col = r + cp;
                for c in 0..ic {
                    let wv = wk[(ky * kw + kx) * ic + c];
                    let src = &img[c * plane + col..][..n];
                    for (a, &v) in acc.iter_mut().zip(src) {
                        *a = mac(*a, v, wv);
                    }
                }
            }
        }
    }

    /// The sums with the host's adder set to the TIU's (`fenv`).
    #[inline(always)]
    fn sums_truncating(&self, t: Truncating, top: usize, acc: &mut [f32]) {
        self.sums_by(top, acc, |a, v, w| t.mac(a, v, w))
    }

    /// [`Bf16Rows::sums_truncating`] with sixteen outputs held in two 256-bit registers
    /// through every tap (masked lanes beyond the row), each output's sum in the same order.
    /// `OVERFLOW`: whether a product may exceed the fp32 range (see [`Truncating::mac`]); when
    /// no product can, the multiply needs no correction.
    #[target_feature(enable = "avx2")]
    #[cfg(target_arch = "x86_64")]
    unsafe fn sums_truncating_avx2<const OVERFLOW: bool>(&self, _: Truncating, top: usize, acc: &mut [f32]) {
        use std::arch::x86_64::*;
        let Bf16Rows { img, wk, cols, ic, kh, kw, dh, plane, row_len } = *self;
        let n = acc.len();
        let sign = _mm256_set1_ps(-0.0);
        let max = _mm256_set1_ps(f32::MAX);
        let inf = _mm256_set1_ps(f32::INFINITY);
        // The product as the TIU makes it: a host product of f32::MAX (only an overflow under
        // this rounding) is the signed infinity.
        let product = |v: __m256, w: __m256| {
            let p = _mm256_mul_ps(v, w);
            if OVERFLOW {
                let over = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, p), max);
                _mm256_blendv_ps(p, _mm256_or_ps(_mm256_and_ps(p, sign), inf), over)
            } else {
                p
            }
        };
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut o = 0;
        while o < n {
            let m = (n - o).min(16);
            let mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m as i32), lane);
            let mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m as i32 - 8), lane);
            let dst = &mut acc[o..o + m];
            let mut a0 = _mm256_maskload_ps(dst.as_ptr(), mask0);
            let mut a1 = if m > 8 { _mm256_maskload_ps(dst[8..].as_ptr(), mask1) } else { _mm256_setzero_ps() };
            for ky in 0..kh {
                let r = (top + ky * dh) * row_len;
                for (kx, &cp) in cols.iter().enumerate().take(kw) {
                    let wrow = &wk[(ky * kw + kx) * ic..][..ic];
                    for (c, &w) in wrow.iter().enumerate() {
                        let at = c * plane + r + cp + o;
                        let src = &img[at..at + m];
                        let wv = _mm256_set1_ps(w);
                        if m == 16 {
                            a0 = _mm256_add_ps(a0, product(_mm256_loadu_ps(src.as_ptr()), wv));
                            a1 = _mm256_add_ps(a1, product(_mm256_loadu_ps(src[8..].as_ptr()), wv));
                        } else {
                            a0 = _mm256_add_ps(a0, product(_mm256_maskload_ps(src.as_ptr(), mask0), wv));
                            if m > 8 {
                                a1 = _mm256_add_ps(a1, product(_mm256_maskload_ps(src[8..].as_ptr(), mask1), wv));
                            }
                        }
                    }
                }
            }
            _mm256_maskstore_ps(dst.as_mut_ptr(), mask0, a0);
            if m > 8 {
                _mm256_maskstore_ps(dst[8..].as_mut_ptr(), mask1, a1);
            }
            o += m;
        }
    }

    /// The sums with the TIU's adder: the adds truncate (round toward zero) and subnormal
    /// products flush to zero, not the host references' round-to-nearest (see
    /// `arith::f32_add_toward_zero`). On the host's own adder in that mode where it has one,
    /// else in software.
    fn sums(&self, top: usize, acc: &mut [f32], overflow: bool) {
        let done = fenv::truncating(|t| {
            #[cfg(target_arch = "x86_64")]
            if wide() {
                // SAFETY: the host has AVX2.
                return unsafe {
                    if overflow {
                        self.sums_truncating_avx2::<true>(t, top, acc)
                    } else {
                        self.sums_truncating_avx2::<false>(t, top, acc)
                    }
                };
            }
            self.sums_truncating(t, top, acc)
        });
        if done.is_none() {
            self.sums_by(top, acc, arith::f32_mac)
        }
    }
}

fn exec_int8(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, g: &ConvShape, win: &Window) -> ExecResult {
    let ps = Ps32::of(d);
    let x = view(chip, d, Opd::Opd0, 1);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "conv input (opd0)"))?;
    let (res, rb) = result_bases(chip, lmem, d, 1, ps)?;
    let (out, requant) = if ps.writes_partial() {
        // Partial passes write the raw sum: no bias, ReLU or shift (§3.6.1).
        (None, Vec::new())
    } else {
        let (o, q) = int8_requant(chip, lmem, d, g.oc, Label::new(Operand::Opd2, "conv bias/quantisation (opd2)"))?;
        (Some(o.with_tail((g.n * g.oc * g.oh * g.ow) as usize)), q)
    };
    let x_signed = d.opt_opd0_sign != 0;
    let w_signed = d.opt_opd1_sign != 0;
    let w_const = {
        let b = d.opd1_addr as u8;
        if w_signed {
            b as i8 as i16
        } else {
            b as i16
        }
    };
    let weights = gather_weights(chip, lmem, d, g, 1, w_const, |i| load_i8(lmem, i, w_signed))?;
    let pad = pad_i8(chip, d);
    let (sh, _) = win.span();
    let ic = g.ic as usize;
    let pairs = ic.div_ceil(2);
    let (kh, kw) = (g.kh as usize, g.kw as usize);
    let (dh, dw) = (win.h.dilation as usize, win.w.dilation as usize);
    let st_h = win.h.stride as usize;
    let row_len = win.row_len();
    let cols: Vec<usize> = (0..kw).map(|kx| win.col_pos(kx * dw)).collect();
    // One channel's weight pairs `[kh][kw][ic / 2]`, an odd channel count completed by a zero
    // weight; made per item, so no second copy of every weight is held.
    let weight_pairs = |oc: usize| -> Vec<i32> {
        weights[oc * kh * kw * ic..(oc + 1) * kh * kw * ic]
            .chunks(ic.max(1))
            .flat_map(|tap| tap.chunks(2).map(|w| pair(w[0], w.get(1).copied().unwrap_or(0))))
            .collect()
    };
    let b_str = d.res0_b_str as usize;
    let w_step = res.w_str as usize;
    // The input is gathered a band of output rows at a time, unless the result may overwrite
    // input not yet read (in place): then all of it first, before the first write. A partial sum
    // also writes byte planes `b_str` beyond the result's own range, so it counts as in place.
    let in_place = ps.writes_partial() || res.may_overlap(&x, lmem.lanes);
    let oh_n = g.oh as usize;
    let band = if in_place { oh_n } else { (BAND_PAIRS / (st_h * row_len * pairs).max(1)).clamp(1, oh_n.max(1)) };
    let whole: Vec<Vec<i32>> = if in_place {
        (0..g.n)
            .map(|n| {
                let mut buf = Vec::new();
                gather_pairs(&x, &xb, win, pad, n, 0..sh, &|i| load_i8(lmem, i, x_signed), &mut buf);
                buf
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut banded = Vec::new();
    let ow_n = g.ow as usize;
    // Without a previous partial sum to add, a finished row needs nothing from local memory and
    // is computed (requantised) with the sums; else the raw sums go to the in-order writes.
    let finish_early = out.is_some() && !ps.reads();
    let out_len = if finish_early { 1 } else { 4 };
    let mut acc = vec![0i32; ow_n];
    let mut workers = std::mem::take(&mut lmem.workers);
    for n in 0..g.n as usize {
        for o0 in (0..oh_n).step_by(band) {
            let o1 = (o0 + band).min(oh_n);
            // Span rows the band reads: from its first output row's top to its last one's bottom tap.
            let (r0, r1) = if in_place { (0, sh) } else { (o0 * st_h, ((o1 - 1) * st_h + (kh - 1) * dh + 1).min(sh)) };
            let img: &[i32] = if in_place {
                &whole[n]
            } else {
                gather_pairs(&x, &xb, win, pad, n as u32, r0..r1, &|i| load_i8(lmem, i, x_signed), &mut banded);
                &banded
            };
            let plane = (r1 - r0) * row_len;
            let rows = o1 - o0;
            // One item per output channel: its band of rows, finished bytes or raw sums.
            let compute = |_: &[u8], oc: usize, dst: &mut [u8]| {
                let wk = weight_pairs(oc);
                let kernel = Int8Pairs { img, wk: &wk, cols: &cols, pairs, kh, dh, plane, row_len };
                let mut acc = vec![0i32; ow_n];
                for (r, oh) in (o0..o1).enumerate() {
                    kernel.sums(oh * st_h - r0, &mut acc);
                    let dst = &mut dst[r * ow_n * out_len..(r + 1) * ow_n * out_len];
                    match out {
                        Some(o) if finish_early => {
                            o.finish_row_at(&acc, requant[oc], dst, 1, ((n * g.oc as usize + oc) * oh_n + oh) * ow_n)
                        }
                        _ => {
                            for (d, a) in dst.chunks_exact_mut(4).zip(&acc) {
                                d.copy_from_slice(&a.to_le_bytes());
                            }
                        }
                    }
                }
            };
            let emit = |data: &mut [u8], oc: usize, src: &[u8]| {
                for (r, oh) in (o0 as u32..o1 as u32).enumerate() {
                    let at = rb[oc] + res.inner(n as u32, oh, 0);
                    let src = &src[r * ow_n * out_len..(r + 1) * ow_n * out_len];
                    if finish_early {
                        for (ow, &v) in src.iter().enumerate() {
                            data[at + ow * w_step] = v;
                        }
                        continue;
                    }
                    for (a, s) in acc.iter_mut().zip(src.chunks_exact(4)) {
                        *a = i32::from_le_bytes(s.try_into().expect("four bytes"));
                    }
                    if ps.reads() {
                        // Previous partial sum: 4 byte planes, least significant first.
                        for (ow, a) in acc.iter_mut().enumerate() {
                            let i = at + ow * w_step;
                            *a = a.wrapping_add(i32::from_le_bytes([0, 1, 2, 3].map(|k| data[i + k * b_str])));
                        }
                    }
                    match out {
                        None => {
                            for (ow, a) in acc.iter().enumerate() {
                                for (k, byte) in a.to_le_bytes().into_iter().enumerate() {
                                    data[at + ow * w_step + k * b_str] = byte;
                                }
                            }
                        }
                        Some(o) => o.finish_row_at(
                            &acc,
                            requant[oc],
                            &mut data[at..],
                            w_step,
                            ((n * g.oc as usize + oc) * oh_n + oh as usize) * ow_n,
                        ),
                    }
                }
            };
            let work = (rows * ow_n * kh * kw * ic) as u64;
            workers.compute_then_emit(&mut lmem.data[..], g.oc as usize, rows * ow_n * out_len, work, compute, emit);
        }
    }
    lmem.workers = workers;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// bf16
// ---------------------------------------------------------------------------------------------

/// The bf16 result of an fp32 accumulator: the hardware conversion (§3.7 as corrected by §9.3–9.7),
/// then ReLU on the bf16 value. ReLU after the conversion is what §9.5 shows: a −inf or negative
/// overflow result comes out as 0x7F7F even with ReLU on, because the conversion already replaced
/// it by the positive 0x7F7F.
#[inline]
pub(crate) fn bf16_result(acc: f32, relu: bool) -> u16 {
    let r = bf16::bf16_result(acc);
    if relu && r & 0x8000 != 0 {
        0
    } else {
        r
    }
}

fn exec_bf16(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, g: &ConvShape, win: &Window) -> ExecResult {
    let ps = Ps32::of(d);
    let x = view(chip, d, Opd::Opd0, 2);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "conv input (opd0)"))?;
    let (res, rb) = result_bases(chip, lmem, d, 2, ps)?;
    let bias = if ps.writes_partial() {
        None
    } else {
        bf16_bias(chip, lmem, d, g.oc, Label::new(Operand::Opd2, "conv bias (opd2)"))?
    };
    let relu = relu(d) && !ps.writes_partial();
    let weights = gather_weights(chip, lmem, d, g, 2, bf16::bf16_operand(d.opd1_addr as u16), |i| {
        bf16::bf16_operand(load_u16(lmem, i))
    })?;
    let pad = bf16_pad(chip, d);
    let input = win.gather_planes(&x, &xb, pad, &lmem.data, Bf16);

    let (plane, row_len) = (win.plane_len(), win.row_len());
    let ic = g.ic as usize;
    let (kh, kw) = (g.kh as usize, g.kw as usize);
    let (dh, dw) = (win.h.dilation as usize, win.w.dilation as usize);
    let st_h = win.h.stride as usize;
    let ow_n = g.ow as usize;
    let b_str = d.res0_b_str as usize;
    let (oh_n, oc_n) = (g.oh as usize, g.oc as usize);
    // Without partial sums a result needs nothing from local memory and is finished with its
    // sums; else the raw fp32 sums go to the in-order writes.
    let finish_early = ps == Ps32::Off;
    let out_len = if finish_early { 2 } else { 4 };
    let cols: Vec<usize> = (0..kw).map(|kx| win.col_pos(kx * dw)).collect();
    // Whether any product of an input and a weight may exceed the fp32 range (NaNs aside).
    let largest = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let overflow = largest(&input) as f64 * largest(&weights) as f64 >= f32::MAX as f64;
    // One item per (image, output channel): every row of it.
    let load = |data: &[u8], i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
    let compute = |data: &[u8], item: usize, dst: &mut [u8]| {
        let (n, oc) = (item / oc_n, item % oc_n);
        let img = &input[n * ic * plane..(n + 1) * ic * plane];
        let wk = &weights[oc * kh * kw * ic..(oc + 1) * kh * kw * ic];
        let mut acc = vec![0f32; ow_n];
        for oh in 0..oh_n {
            if ps.reads() {
                // The previous partial sum (fp32 bits, plane 0 = high half, plane 1 = low half)
                // starts the accumulation: the vendor simulator continues the sum from it, so a
                // chain of passes is the one-pass sum in the same order, not a sum of chunk sums.
                for (ow, a) in acc.iter_mut().enumerate() {
                    let at = rb[oc] + res.inner(n as u32, oh as u32, ow as u32);
                    *a = f32::from_bits((load(data, at) as u32) << 16 | load(data, at + b_str) as u32);
                }
            } else {
                acc.fill(0.0);
            }
            let rows = Bf16Rows { img, wk, cols: &cols, ic, kh, kw, dh, plane, row_len };
            rows.sums(oh * st_h, &mut acc, overflow);
            let dst = &mut dst[oh * ow_n * out_len..(oh + 1) * ow_n * out_len];
            if finish_early {
                for (d, &sum) in dst.chunks_exact_mut(2).zip(&acc) {
                    let v = match &bias {
                        Some(b) => arith::f32_add_toward_zero(sum, b[oc]),
                        None => sum,
                    };
                    d.copy_from_slice(&bf16_result(v, relu).to_le_bytes());
                }
            } else {
                for (d, &sum) in dst.chunks_exact_mut(4).zip(&acc) {
                    d.copy_from_slice(&sum.to_bits().to_le_bytes());
                }
            }
        }
    };
    let emit = |data: &mut [u8], item: usize, src: &[u8]| {
        let (n, oc) = (item / oc_n, item % oc_n);
        for oh in 0..oh_n {
            let src = &src[oh * ow_n * out_len..(oh + 1) * ow_n * out_len];
            for (ow, s) in src.chunks_exact(out_len).enumerate() {
                let at = rb[oc] + res.inner(n as u32, oh as u32, ow as u32);
                if finish_early {
                    data[at..at + 2].copy_from_slice(s);
                    continue;
                }
                let mut v = f32::from_bits(u32::from_le_bytes(s.try_into().expect("four bytes")));
                if ps.writes_partial() {
                    let bits = v.to_bits();
                    data[at..at + 2].copy_from_slice(&((bits >> 16) as u16).to_le_bytes());
                    data[at + b_str..at + b_str + 2].copy_from_slice(&(bits as u16).to_le_bytes());
                    continue;
                }
                if let Some(b) = &bias {
                    v = arith::f32_add_toward_zero(v, b[oc]);
                }
                data[at..at + 2].copy_from_slice(&bf16_result(v, relu).to_le_bytes());
            }
        }
    };
    let work = (oh_n * ow_n * kh * kw * ic) as u64;
    let mut workers = std::mem::take(&mut lmem.workers);
    workers.compute_then_emit(&mut lmem.data[..], g.n as usize * oc_n, oh_n * ow_n * out_len, work, compute, emit);
    lmem.workers = workers;
    Ok(())
}
