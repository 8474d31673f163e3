//! TIU matrix multiply / FC (tsk_typ 2): res (M × N) = opd0 (M × K) · opd1 (K × N) [+ bias], int8
//! (per-tensor shift, 16-bit results, QM, partial sums) and bf16 (spec `isa.md` §1.3 "LMEM matrix
//! layout", §3.6.4).
//!
//! A matrix of `rows × cols` is a tensor (n = rows, c, h = 1, w): each row is cut into chunks of
//! `w` columns and chunk i is channel i. The left matrix's K is not in a field of its own:
//! `opd1_w` holds the number of valid columns in the left matrix's last chunk, and the right
//! matrix has the result's chunking.

use crate::arith;
use crate::bf16::{bf16_operand, bf16_result};
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use crate::tiu::conv::SHIFT_GROUP;
use crate::tiu::eltwise::access::Mem;
use crate::tiu::eltwise::num::rshift;
use crate::tiu::eltwise::{check_common, relu_enabled, unsupported};
use crate::tiu::operand::{default_strides, view, Opd};
use crate::tiu::ps32::Ps32;
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc};

/// The operands after their bounds checks, with the matrix dimensions.
struct Geometry {
    m: usize,
    k: usize,
    /// Columns the result covers: every column of every result chunk.
    n: usize,
    left: Mem,
    /// Left chunk width.
    lw: usize,
    right: Mem,
    /// Result (and right, and bias) chunk width.
    rw: usize,
    res: Mem,
}

impl Geometry {
    /// (chunk, column in chunk) of result/right/bias column `col`.
    #[inline]
    fn col(&self, col: usize) -> (usize, usize) {
        (col / self.rw, col % self.rw)
    }
}

/// Calls `f(r · cols + col, data index)` for every element of a `rows × cols` matrix stored in
/// chunks of `cw` columns, row by row.
#[inline]
fn each(mem: &Mem, rows: usize, cols: usize, cw: usize, mut f: impl FnMut(usize, usize)) {
    for r in 0..rows {
        each_col(mem, r, cols, cw, |col, i| f(r * cols + col, i));
    }
}

/// Calls `f(col, data index)` for every column of row `r` of a matrix stored as for [`each`].
#[inline]
fn each_col(mem: &Mem, r: usize, cols: usize, cw: usize, mut f: impl FnMut(usize, usize)) {
    let ws = mem.w_str();
    for c in 0..cols.div_ceil(cw) {
        let base = mem.at(r, c, 0, 0);
        for wi in 0..cw.min(cols - c * cw) {
            f(c * cw + wi, base + wi * ws);
        }
    }
}

/// Rows of the right matrix widened at a time. A whole widened right matrix would be up to four
/// times local memory (2 MB on CV183x for mobilenet_v2's classifier); a block of rows bounds it
/// while a result row stays in cache across the block.
const K_BLOCK: usize = 16;

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    check_common(d)?;
    if d.opt_opd1_const != 0 {
        // CV18[0-2]x list "FC with a constant opd1" as a feature, but no emitter or reference
        // shows what the hardware does with it.
        return Err(unsupported("matrix multiply with `opt_opd1_const` = 1".into()));
    }
    let relu = relu_enabled(chip, d)?;
    let ps32 = Ps32::of(d);
    let bias = d.tsk_opd_num == 3;
    if d.is_bf16() {
        if d.opt_res_add != 0 {
            return Err(ExecErrorKind::Illegal {
                field: "opt_res_add",
                value: 1,
                why: "the bf16 matrix multiply has no add-result mode",
            });
        }
        if d.opt_chl_quan != 0 {
            return Err(ExecErrorKind::Illegal {
                field: "opt_chl_quan",
                value: 1,
                why: "QM requantisation is an int8 mode",
            });
        }
        bf16(chip, lmem, d, relu, ps32, bias)
    } else {
        int8(chip, lmem, d, relu, ps32, bias)
    }
}

/// Resolve the three matrices. `res_planes` byte planes of the result sit `res_b_str` apart.
fn geometry(chip: Chip, d: &TiuDesc, esz: u32, res_planes: u32, res_b_str: u32, lmem: &Lmem) -> ExecResult<Geometry> {
    // The emitters leave every matrix at stride code 0 (derived matrix strides); explicit strides
    // would also make the right matrix's unnamed width ambiguous.
    for (field, v) in [
        ("short_res0_str", d.short_res0_str),
        ("short_opd0_str", d.short_opd0_str),
        ("short_opd1_str", d.short_opd1_str),
        ("short_opd2_str", d.short_opd2_str),
    ] {
        if v != 0 {
            return Err(unsupported(format!("matrix multiply with `{field}` = {v} (the emitters use 0)")));
        }
    }
    for (field, v) in [("opd0_h", d.opd0_h), ("res0_h", d.res0_h)] {
        if v != 1 {
            return Err(ExecErrorKind::Illegal { field, value: v as i64, why: "a matrix operand has h = 1" });
        }
    }
    let left = view(chip, d, Opd::Opd0, esz);
    let res = view(chip, d, Opd::Res0, esz);
    if left.n != res.n {
        return Err(ExecErrorKind::Illegal {
            field: "opd0_n",
            value: left.n as i64,
            why: "the left matrix and the result have different row counts",
        });
    }
    if d.opd1_w == 0 || d.opd1_w > left.w || left.c == 0 {
        return Err(ExecErrorKind::Illegal {
            field: "opd1_w",
            value: d.opd1_w as i64,
            why: "must be the valid width (1..=opd0_w) of the left matrix's last chunk",
        });
    }
    let k = (left.c - 1) * left.w + d.opd1_w;
    if d.opd1_n != k {
        return Err(ExecErrorKind::Illegal {
            field: "opd1_n",
            value: d.opd1_n as i64,
            why: "must equal K = opd0_w·(opd0_c − 1) + opd1_w",
        });
    }
    if res.c == 0 || res.w == 0 {
        return Err(ExecErrorKind::Illegal {
            field: if res.c == 0 { "res0_c" } else { "res0_w" },
            value: 0,
            why: "a result matrix has at least one chunk of at least one column",
        });
    }
    if d.opd1_c != res.c {
        return Err(ExecErrorKind::Illegal {
            field: "opd1_c",
            value: d.opd1_c as i64,
            why: "the right matrix has the result's chunking (opd1_c = res0_c)",
        });
    }
    // The right matrix (K, res0_c, 1, res0_w): its w is not in a field (opd1_w means something else).
    let [n_str, c_str, h_str, w_str] = default_strides(chip.lanes(), [k, res.c, 1, res.w], esz);
    let right = LTensor { addr: d.opd1_addr, n: k, c: res.c, h: 1, w: res.w, n_str, c_str, h_str, w_str, esz };
    Ok(Geometry {
        m: res.n as usize,
        k: k as usize,
        n: (res.c * res.w) as usize,
        lw: left.w as usize,
        rw: res.w as usize,
        left: Mem::new(&left, 1, 0, lmem, Label::new(Operand::Opd0, "opd0"))?,
        right: Mem::new(&right, 1, 0, lmem, Label::new(Operand::Opd1, "opd1"))?,
        res: Mem::new(&res, res_planes, res_b_str, lmem, Label::new(Operand::Res0, "res0"))?,
    })
}

/// The bias matrix: `rows` rows with the result's chunking, each row a byte or 16-bit plane.
fn bias_rows(chip: Chip, d: &TiuDesc, esz: u32, rows: u32, lmem: &Lmem) -> ExecResult<(Mem, usize)> {
    let t = view(chip, d, Opd::Opd2, esz);
    if t.c != d.res0_c || t.w != d.res0_w || t.h != 1 {
        return Err(ExecErrorKind::Illegal {
            field: "opd2_c",
            value: t.c as i64,
            why: "the bias has the result's chunking (1, res0_c, 1, res0_w)",
        });
    }
    // The rows of the bias follow one another n_str apart, as rows of a matrix do; opd2_b_str is
    // not used (the spec leaves it open; on CV180x, where ceil(c / NPU) > 1 is common, reading
    // opd2_b_str as the row distance fails the vectors).
    let t = LTensor { n: rows, ..t };
    Ok((Mem::new(&t, 1, 0, lmem, Label::new(Operand::Opd2, "opd2 (bias)"))?, t.n_str as usize))
}

fn int8(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, relu: bool, ps32: Ps32, bias: bool) -> ExecResult {
    for (field, v) in [("opt_opd0_seg", d.opt_opd0_seg), ("opt_opd1_seg", d.opt_opd1_seg)] {
        if v != 1 {
            return Err(unsupported(format!("matrix multiply with `{field}` = {v} (16-bit inputs)")));
        }
    }
    let res_wide = crate::tiu::eltwise::access::is_wide("opt_res0_seg", d.opt_res0_seg)?;
    let res_signed = d.opt_res0_sign != 0;
    let qm = d.opt_chl_quan != 0;
    if qm && res_wide {
        return Err(ExecErrorKind::Illegal {
            field: "opt_res0_seg",
            value: 0,
            why: "QM matrix multiply has an 8-bit result",
        });
    }
    let esz = 1;
    // A 16-bit result is two row blocks: rows 0..M hold the low bytes, rows M..2M the high bytes,
    // so the plane distance is M rows (§3.6.4 infers it; the vectors confirm it: the emitter
    // leaves res0_b_str at its reset value 16, and reading it as the plane distance fails every
    // 16-bit-result vector with M > 1). Partial sums do use res0_b_str (cvikernel sets M·n_str).
    let res_t = view(chip, d, Opd::Res0, esz);
    let (planes, b_str) = match ps32 {
        Ps32::Off if res_wide || d.opt_res_add != 0 => (2, res_t.n.saturating_mul(res_t.n_str)),
        Ps32::Off => (1, 0),
        _ => (4, d.res0_b_str),
    };
    let g = geometry(chip, d, esz, planes, b_str, lmem)?;
    let data = &mut lmem.data;

    let lsign = d.opt_opd0_sign != 0;
    let rsign = d.opt_opd1_sign != 0;
    let rd = |i: usize, signed: bool| if signed { data[i] as i8 as i32 } else { data[i] as i32 };
    let mut left = vec![0i32; g.m * g.k];
    each(&g.left, g.m, g.k, g.lw, |f, i| left[f] = rd(i, lsign));
    let mut acc = vec![0i32; g.m * g.n];
    let mut block = vec![0i32; K_BLOCK.min(g.k) * g.n];
    for k0 in (0..g.k).step_by(K_BLOCK) {
        let kb = K_BLOCK.min(g.k - k0);
        for (j, dst) in block.chunks_exact_mut(g.n).take(kb).enumerate() {
            each_col(&g.right, k0 + j, g.n, g.rw, |col, i| dst[col] = rd(i, rsign));
        }
        for m in 0..g.m {
            let row = &mut acc[m * g.n..(m + 1) * g.n];
            for (a, right) in left[m * g.k + k0..m * g.k + k0 + kb].iter().zip(block.chunks_exact(g.n)) {
                for (o, &r) in row.iter_mut().zip(right) {
                    *o = o.wrapping_add(a.wrapping_mul(r));
                }
            }
        }
    }

    // Partial sums: four byte planes, res0_b_str apart, least significant first.
    let bs = g.res.b_str();
    if ps32.reads() {
        each(&g.res, g.m, g.n, g.rw, |f, i| {
            let old = i32::from_le_bytes([data[i], data[i + bs], data[i + 2 * bs], data[i + 3 * bs]]);
            acc[f] = acc[f].wrapping_add(old);
        });
    }
    if !ps32.finishes() {
        each(&g.res, g.m, g.n, g.rw, |f, i| {
            for (p, b) in acc[f].to_le_bytes().into_iter().enumerate() {
                data[i + p * bs] = b;
            }
        });
        return Ok(());
    }

    // opt_res_add: the old 16-bit result, shifted left by opt_left_shift, joins the sum.
    if d.opt_res_add != 0 && ps32 == Ps32::Off {
        let ls = d.opt_left_shift;
        each(&g.res, g.m, g.n, g.rw, |f, i| {
            let (lo, hi) = (data[i], data[i + bs]);
            let old =
                if res_signed { i16::from_le_bytes([lo, hi]) as i32 } else { u16::from_le_bytes([lo, hi]) as i32 };
            acc[f] = acc[f].wrapping_add(arith::shl_wrapping_i32(old, ls));
        });
    }
    if bias {
        // int8: a 16-bit bias in two rows (low bytes, high bytes); QM: a 32-bit bias in four rows
        // (bytes 0..3). Signed per opt_opd2_sign.
        let rows = if qm { 4 } else { 2 };
        let (b, row) = bias_rows(chip, d, esz, rows, lmem)?;
        let data = &lmem.data;
        let bsign = d.opt_opd2_sign != 0;
        for col in 0..g.n {
            let (c, w) = g.col(col);
            let i = b.at(0, c, 0, w);
            let v = if qm {
                i32::from_le_bytes([data[i], data[i + row], data[i + 2 * row], data[i + 3 * row]])
            } else if bsign {
                i16::from_le_bytes([data[i], data[i + row]]) as i32
            } else {
                u16::from_le_bytes([data[i], data[i + row]]) as i32
            };
            for m in 0..g.m {
                let o = &mut acc[m * g.n + col];
                *o = o.wrapping_add(v);
            }
        }
    }

    let (lo, hi) = match (res_wide, res_signed) {
        (false, true) => (i8::MIN as i32, i8::MAX as i32),
        (false, false) => (0, u8::MAX as i32),
        (true, true) => (i16::MIN as i32, i16::MAX as i32),
        (true, false) => (0, u16::MAX as i32),
    };
    let lo = if relu { lo.max(0) } else { lo };
    if qm {
        let (mult, shift) = (d.quan_m as i32, d.res_shift(chip));
        acc.iter_mut().for_each(|v| *v = arith::multiply_by_quantized_multiplier(*v, mult, shift, chip).clamp(lo, hi));
    } else {
        let rs = d.plain_res_shift();
        let (round, arith_shift) = (d.opt_rshift_typ != 0, d.opt_shift_typ != 0);
        // The vendor simulator shifts the result matrix, flattened row by row, four sums at a
        // time; the up to three sums left over take a shift of 33..=63 modulo 32 (35580 >> 33
        // gives 17790 there and 0 elsewhere).
        let tail = acc.len() / SHIFT_GROUP * SHIFT_GROUP;
        // ReLU acts on the 32-bit sum before the shift (§3.6.4); with saturation after it, that is
        // the same as clamping the low end at 0.
        acc.iter_mut().enumerate().for_each(|(f, v)| {
            let x = if relu { (*v).max(0) } else { *v };
            let s = if rs > 32 && f >= tail { rs - 32 } else { rs };
            *v = rshift(x, s, round, arith_shift).clamp(lo, hi)
        });
    }
    let data = &mut lmem.data;
    each(&g.res, g.m, g.n, g.rw, |f, i| {
        data[i] = acc[f] as u8;
        if res_wide {
            data[i + bs] = (acc[f] >> 8) as u8;
        }
    });
    Ok(())
}

fn bf16(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, relu: bool, ps32: Ps32, bias: bool) -> ExecResult {
    let esz = 2;
    let (planes, b_str) = if ps32 == Ps32::Off { (1, 0) } else { (2, d.res0_b_str) };
    let g = geometry(chip, d, esz, planes, b_str, lmem)?;
    // The fp32 bias of each column: two rows, the high 16 bits, then the low 16 bits.
    let bv: Option<Vec<f32>> = if bias {
        let (b, row) = bias_rows(chip, d, esz, 2, lmem)?;
        let data = &lmem.data;
        let rd = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as u32;
        let at = |col: usize| {
            let (c, w) = g.col(col);
            b.at(0, c, 0, w)
        };
        Some((0..g.n).map(|col| f32::from_bits(rd(at(col)) << 16 | rd(at(col) + row))).collect())
    } else {
        None
    };
    let data = &mut lmem.data;
    let rd = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
    let mut left = vec![0f32; g.m * g.k];
    each(&g.left, g.m, g.k, g.lw, |f, i| left[f] = bf16_operand(rd(i)));
    // fp32 accumulation in the reference's order: column-in-chunk outer, chunk inner
    // (`test_181x_bf16_matrix_mac.c`): k = ci·w + wi for wi in 0..w, ci in 0..c. Each add is
    // rounded toward zero and subnormal products flush, as in the conv MAC (`arith::f32_mac`).
    // The spec (§3.6.4) and the C reference add in round-to-nearest floats, and the vectors pass
    // either way. The corpus decides both points: `models/lstr_det_lane_360_640_MIX_cv181x`
    // (attention and FC layers, K up to 240 over several chunks) is byte-identical only with
    // truncating adds in this order. With round-to-nearest, or in plain k order, its outputs end
    // one bf16 ulp off.
    let lc = g.k.div_ceil(g.lw);
    let order: Vec<usize> =
        (0..g.lw).flat_map(|wi| (0..lc).map(move |ci| ci * g.lw + wi)).filter(|&k| k < g.k).collect();
    // A partial sum (fp32 as two 16-bit planes: high half first) starts the accumulation. No
    // vector covers bf16 partial sums; whether the old sum is added first (as here) or last is
    // not known.
    let bs = g.res.b_str();
    let mut acc = vec![0f32; g.m * g.n];
    if ps32.reads() {
        each(&g.res, g.m, g.n, g.rw, |f, i| acc[f] = f32::from_bits((rd(i) as u32) << 16 | rd(i + bs) as u32));
    }
    // CV18[0-2]x start the truncating sum at the bias (the products are then added to it); CV183x
    // adds it to the finished sum (differential fuzzing: each way leaves the other chip's cases
    // one ulp or more off).
    let bias_first = chip.quirks().bf16_matmul_bias_starts_sum && ps32 == Ps32::Off;
    if let Some(bv) = bv.as_ref().filter(|_| bias_first) {
        for row in acc.chunks_exact_mut(g.n) {
            row.copy_from_slice(bv);
        }
    }
    // The right matrix is widened a block of rows at a time, the blocks taken in `order`, so
    // every sum still sees its products in that order.
    let mut block = vec![0f32; K_BLOCK.min(g.k) * g.n];
    for ks in order.chunks(K_BLOCK) {
        for (&k, dst) in ks.iter().zip(block.chunks_exact_mut(g.n)) {
            each_col(&g.right, k, g.n, g.rw, |col, i| dst[col] = bf16_operand(rd(i)));
        }
        for m in 0..g.m {
            let row = &mut acc[m * g.n..(m + 1) * g.n];
            for (&k, right) in ks.iter().zip(block.chunks_exact(g.n)) {
                let a = left[m * g.k + k];
                for (o, &r) in row.iter_mut().zip(right) {
                    *o = arith::f32_mac(*o, a, r);
                }
            }
        }
    }
    if !ps32.finishes() {
        each(&g.res, g.m, g.n, g.rw, |f, i| {
            let bits = acc[f].to_bits();
            data[i..i + 2].copy_from_slice(&((bits >> 16) as u16).to_le_bytes());
            data[i + bs..i + bs + 2].copy_from_slice(&(bits as u16).to_le_bytes());
        });
        return Ok(());
    }
    if let Some(bv) = bv.as_ref().filter(|_| !bias_first) {
        // An fp32 bias per column (two rows: the high 16 bits, then the low 16 bits).
        for row in acc.chunks_exact_mut(g.n) {
            for (a, &v) in row.iter_mut().zip(bv) {
                *a = arith::f32_add_toward_zero(*a, v);
            }
        }
    }
    let data = &mut lmem.data;
    each(&g.res, g.m, g.n, g.rw, |f, i| {
        let mut r = bf16_result(acc[f]);
        // ReLU on the bf16 result, as for the element-wise ops (errata §9.5).
        if relu && r & 0x8000 != 0 {
            r = 0;
        }
        data[i..i + 2].copy_from_slice(&r.to_le_bytes());
    });
    Ok(())
}
