//! Softmax over the channels of an int8 `[N, C, 1, 1]`, in bf16 on the TPU. One row per lane
//! (the tensor is viewed as `(1, N, 1, C)`), every step a single descriptor:
//!
//! 1. the int8 values become 16-bit LUT indices: `xor` zeroes a bf16 buffer, `copy` writes each
//!    value into the low byte of its 16-bit slot;
//! 2. `e = EXP[q as u8]` (bf16 lookup), `EXP[j] = bf16(exp(scale · (j as i8 − 127)))`: the
//!    exponentials relative to the largest possible input, so no maximum is needed (softmax does
//!    not change when every exponent moves by the same amount) and every value is in (0, 1];
//! 3. `sum = Σ e` by a bf16 average pool of the row with the constant 1.0;
//! 4. `1/sum` = `POW[idx(sum)] · MANT[sum & 0xFF]`, where `idx` is the TDMA `mv_lut_idx` exponent
//!    index (`floor(log2 x) + 63`), `POW[i] = 2^(63 − i)` and `MANT[j] = 1 / (1 + (j & 0x7F)/128)`
//!    (the low byte of a bf16 is the exponent's last bit and the 7 mantissa bits);
//! 5. `y = e · (1/sum)`, the reciprocal broadcast along the row by a zero stride.
//!
//! Every bf16 result is the fp32 result rounded to nearest even (isa.md §3.7).
//!
//! Of bf16 logits ([`softmax_bf16`]) step 1–2 become: the row maximum by a max pool, `d = x − max`,
//! `t = max(8·d, −128)`, `i = trunc(t)` by a TDMA bf16 → int8 move, `f = t − i` in (−1, 0], and
//! `e = BASE[i] + SLOPE[i]·f` (two bf16 lookups and a mac), `BASE[k] = exp(k/8)`,
//! `SLOPE[k] = exp(k/8) − exp((k−1)/8)`: the exponential interpolated between eighths.

use super::local::{Arena, Local};
use super::table_bf16::{interpolate, load_table, Scratch};
use super::tdma::{g2l_bf16, g2l_tensor, l2g_bf16, l2l_lut_idx, Global};
use super::tiu::eu::{COPY, MAX, MUL, SUB, XOR};
use super::tiu::{opd0_shape, opd0_strides, opd1_strides, res0_shape, res0_strides};
use super::{CompileError, LayerCx};
use crate::lower::TensorRef;
use cvsim_isa::TiuDesc;
use cvsim_runtime::cvimodel::DType;

/// fp32 → bf16, round to nearest even (the tables are made on the host).
pub fn bf16(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7FC0;
    }
    let b = x.to_bits();
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// The exponential table for an input step `scale`, indexed by the int8 value's byte.
pub fn exp_table(scale: f32) -> [u16; 256] {
    std::array::from_fn(|j| bf16(((scale as f64) * ((j as u8 as i8) as f64 - 127.0)).exp() as f32))
}

/// `2^(63 − i)`: the reciprocal of the power of two whose exponent index is `i`.
pub fn pow_table() -> [u16; 256] {
    std::array::from_fn(|i| bf16(2f64.powi(63 - i as i32) as f32))
}

/// The reciprocal of the mantissa `1.m` held in a bf16's low 7 bits.
pub fn mantissa_table() -> [u16; 256] {
    std::array::from_fn(|j| bf16((1.0 / (1.0 + (j & 0x7F) as f64 / 128.0)) as f32))
}

const ONE: u32 = 0x3F80;

/// Eighths per unit of the interpolated exponential of bf16 logits.
pub const EXP_STEPS: f32 = 8.0;

/// `exp(k/8)` for the int8 index byte `k` (≤ 0; positive indices cannot occur and hold 1).
pub fn exp_base_table() -> [u16; 256] {
    std::array::from_fn(|j| bf16(((j as u8 as i8).min(0) as f64 / EXP_STEPS as f64).exp() as f32))
}

/// `exp(k/8) − exp((k−1)/8)`: the step to the next lower eighth.
pub fn exp_slope_table() -> [u16; 256] {
    std::array::from_fn(|j| {
        let k = (j as u8 as i8).min(0) as f64 / EXP_STEPS as f64;
        bf16((k.exp() - (k - 1.0 / EXP_STEPS as f64).exp()) as f32)
    })
}

pub(super) fn table_bytes(t: &[u16; 256]) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The element-wise descriptor skeleton (explicit strides on all operands, one shape).
pub(super) fn eltwise(cx: &LayerCx, eu: u32, bf16: bool, res: &Local, opd0: &Local) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 3;
    d.tsk_eu_typ = eu;
    d.tsk_opd_num = 2;
    d.opd_typ = bf16 as u32;
    d.opt_relu_typ = 0;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 0;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (0, 0, 0);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 3, 3);
    (d.res0_addr, d.opd0_addr) = (res.addr, opd0.addr);
    res0_shape(&mut d, res);
    res0_strides(&mut d, res);
    opd0_shape(&mut d, opd0);
    opd0_strides(&mut d, opd0);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (res.n, res.c, res.h, res.w);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (res.n, res.c, res.h, res.w);
    d
}

/// A bf16 lookup: `res = table[opd0's low byte]`, derived strides.
pub(super) fn lut_bf16(cx: &LayerCx, res: &Local, idx: &Local, table: &Local) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 3;
    d.tsk_eu_typ = 12;
    if cx.chip.layout().tiu_ops_by_flag() {
        d.tens_lookup = 1;
    }
    d.tsk_opd_num = 2;
    d.opd_typ = 1;
    d.opt_relu_typ = 0;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 0;
    (d.opt_res0_sign, d.opt_opd0_sign) = (1, 1);
    d.opt_opd2_seg = 1;
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (res.addr, idx.addr, table.addr);
    res0_shape(&mut d, res);
    opd0_shape(&mut d, idx);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, cx.lanes, 32, 8);
    d
}

pub fn softmax(cx: &mut LayerCx, input: TensorRef, output: TensorRef, scale: f32) -> Result<(), CompileError> {
    let [n, c, _, _] = cx.shape(input);
    let lanes = cx.lanes;
    let name = cx.tensor_name(output);
    let t_exp = cx.w.add(format!("{name}_exp_table_bf16"), &table_bytes(&exp_table(scale)), [1, 1, 32, 8], DType::Bf16);
    let t_pow = cx.w.add(format!("{name}_pow_table_bf16"), &table_bytes(&pow_table()), [1, 1, 32, 8], DType::Bf16);
    let t_man =
        cx.w.add(format!("{name}_mantissa_table_bf16"), &table_bytes(&mantissa_table()), [1, 1, 32, 8], DType::Bf16);

    // Rows are channels: up to `rows` of them at a time, in as many lanes.
    let row_bytes = |w: u32| (2 * w).div_ceil(16) * 16;
    let per_row = row_bytes(c) * 3 + c.div_ceil(16) * 16 + 3 * 16;
    let tables = 3 * 512;
    let fit = (cx.lmem.saturating_sub(tables) / per_row.max(1)) * lanes;
    if fit == 0 {
        return Err(cx.error(format!("a row of {c} values does not fit local memory")));
    }
    let rows_max = n.min(fit).min(4095);
    let mut arena = Arena::new(cx.lmem);
    let mut alloc = |b: u32| arena.alloc(b).expect("sized to fit");
    let (a_exp, a_pow, a_man) = (alloc(512), alloc(512), alloc(512));
    let rl = rows_max.div_ceil(lanes);
    let a_q = alloc(c.div_ceil(16) * 16 * rl);
    let a_idx = alloc(row_bytes(c) * rl);
    let a_e = alloc(row_bytes(c) * rl);
    let a_y = alloc(row_bytes(c) * rl);
    let (a_sum, a_sidx, a_r1, a_r2) = (alloc(16 * rl), alloc(16 * rl), alloc(16 * rl), alloc(16 * rl));

    let [l_exp, l_pow, l_man] = [(a_exp, t_exp), (a_pow, t_pow), (a_man, t_man)].map(|(a, t)| load_table(cx, a, t));
    let src = cx.global(input);
    let dst = cx.global(output);
    for r0 in (0..n).step_by(rows_max as usize) {
        let rows = rows_max.min(n - r0);
        let q = Local::eu_aligned(a_q, lanes, 1, rows, 1, c);
        let qg = Global { region: src.region, offset: src.offset + (r0 * c) as u64, n_str: n * c, c_str: c, h_str: c };
        cx.load(g2l_tensor(cx.chip, &qg, &q, true), &q);
        // 16-bit indices: zero the buffer, then each value into the low byte of its slot.
        let idx_bytes = Local::eu_aligned(a_idx, lanes, 1, rows, 1, 2 * c);
        let mut d = eltwise(cx, XOR, false, &idx_bytes, &idx_bytes);
        d.opd1_addr = idx_bytes.addr;
        opd1_strides(&mut d, &idx_bytes);
        cx.tiu(d, &[&idx_bytes], &[&idx_bytes]);
        let idx_low = Local { w: c, w_str: 2, ..idx_bytes };
        let mut d = eltwise(cx, COPY, false, &idx_low, &q);
        d.tsk_opd_num = 1;
        cx.tiu(d, &[&q, &idx_bytes], &[&idx_bytes]);
        let idx = Local::eu_aligned_bf16(a_idx, lanes, 1, rows, 1, c);
        let e = Local::eu_aligned_bf16(a_e, lanes, 1, rows, 1, c);
        cx.tiu(lut_bf16(cx, &e, &idx, &l_exp), &[&idx, &l_exp], &[&e]);
        // The row sum: average pool over the whole row with the constant 1.0.
        let sum = Local::eu_aligned_bf16(a_sum, lanes, 1, rows, 1, 1);
        let mut d = TiuDesc::reset(cx.chip);
        d.tsk_typ = 1;
        d.tsk_eu_typ = 1;
        d.tsk_opd_num = 2;
        d.opd_typ = 1;
        d.opt_relu_typ = 0;
        d.opt_res_shift = 0;
        d.opt_shift_typ = 0;
        d.opt_opd1_sign = 0;
        d.opt_opd1_const = 1;
        d.opd1_addr = ONE;
        // tpu-mlir writes the window size here; no padding reads it.
        let pad = bf16(c as f32) as u32;
        if cx.chip.layout().bf16_pad_field() {
            d.opd0_ins_fp = pad;
        } else {
            d.opd0_ins_val = pad;
        }
        (d.opd1_h, d.opd1_w) = (1, c);
        (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
        (d.res0_addr, d.opd0_addr) = (sum.addr, e.addr);
        res0_shape(&mut d, &sum);
        opd0_shape(&mut d, &e);
        cx.tiu(d, &[&e], &[&sum]);
        // 1/sum = POW[idx(sum)] · MANT[sum's low byte].
        let sidx = Local::eu_aligned_bf16(a_sidx, lanes, 1, rows, 1, 1);
        cx.l2l(l2l_lut_idx(cx.chip, &sum, &sidx), &sum, &sidx);
        let r1 = Local::eu_aligned_bf16(a_r1, lanes, 1, rows, 1, 1);
        let r2 = Local::eu_aligned_bf16(a_r2, lanes, 1, rows, 1, 1);
        cx.tiu(lut_bf16(cx, &r1, &sidx, &l_pow), &[&sidx, &l_pow], &[&r1]);
        cx.tiu(lut_bf16(cx, &r2, &sum, &l_man), &[&sum, &l_man], &[&r2]);
        let mut d = eltwise(cx, MUL, true, &r1, &r1);
        d.opd1_addr = r2.addr;
        opd1_strides(&mut d, &r2);
        cx.tiu(d, &[&r1, &r2], &[&r1]);
        // y = e · (1/sum), the reciprocal read with a zero column stride.
        let y = Local::eu_aligned_bf16(a_y, lanes, 1, rows, 1, c);
        let mut d = eltwise(cx, MUL, true, &y, &e);
        d.opd1_addr = r1.addr;
        let r1_row = Local { w: c, w_str: 0, ..r1 };
        opd1_strides(&mut d, &r1_row);
        cx.tiu(d, &[&e, &r1], &[&y]);
        let yg = Global {
            region: dst.region,
            offset: dst.offset + (r0 * c * 2) as u64,
            n_str: n * c * 2,
            c_str: 2 * c,
            h_str: 2 * c,
        };
        cx.store(l2g_bf16(cx.chip, &y, &yg), &y);
    }
    Ok(())
}

/// Softmax over the channels of a bf16 `[N, C, 1, 1]` (see the module documentation).
pub fn softmax_bf16(cx: &mut LayerCx, input: TensorRef, output: TensorRef) -> Result<(), CompileError> {
    let [n, c, _, _] = cx.shape(input);
    let lanes = cx.lanes;
    let name = cx.tensor_name(output);
    let tables = [exp_base_table(), exp_slope_table(), pow_table(), mantissa_table()];
    let names = ["exp_base", "exp_slope", "pow", "mantissa"];
    let offs: Vec<u64> = tables
        .iter()
        .zip(names)
        .map(|(t, what)| cx.w.add(format!("{name}_{what}_table_bf16"), &table_bytes(t), [1, 1, 32, 8], DType::Bf16))
        .collect();
    let row = (2 * c).div_ceil(16) * 16;
    // Per row: x/d/t, i (int8), ib/f, idx words, b/e, s; and 16-byte scalars.
    let per_row = 6 * row + c.div_ceil(16) * 16 + 5 * 16;
    let fit = (cx.lmem.saturating_sub(4 * 512) / per_row.max(1)) * lanes;
    if fit == 0 {
        return Err(cx.error(format!("a row of {c} values does not fit local memory")));
    }
    let rows_max = n.min(fit).min(4095);
    let rl = rows_max.div_ceil(lanes);
    let mut arena = Arena::new(cx.lmem);
    let mut alloc = |b: u32| arena.alloc(b).expect("sized to fit");
    let a_tables = [0; 4].map(|_| alloc(512));
    let [a_x, a_ib, a_idx, a_e, a_s, a_y] = [0; 6].map(|_| alloc(row * rl));
    let a_i = alloc(c.div_ceil(16) * 16 * rl);
    let [a_max, a_sum, a_sidx, a_r1, a_r2] = [0; 5].map(|_| alloc(16 * rl));
    let [l_base, l_slope, l_pow, l_man] = [0, 1, 2, 3].map(|k| load_table(cx, a_tables[k], offs[k]));
    let (src, dst) = (cx.global(input), cx.global(output));
    for r0 in (0..n).step_by(rows_max as usize) {
        let rows = rows_max.min(n - r0);
        let v = |addr, w| Local::eu_aligned_bf16(addr, lanes, 1, rows, 1, w);
        let x = v(a_x, c);
        let g = |base: Global| Global {
            offset: base.offset + (r0 * c * 2) as u64,
            n_str: n * c * 2,
            c_str: 2 * c,
            h_str: 2 * c,
            ..base
        };
        cx.load(g2l_bf16(cx.chip, &g(src), &x), &x);
        // The row maximum.
        let mx = v(a_max, 1);
        let mut d = TiuDesc::reset(cx.chip);
        d.tsk_typ = 1;
        d.tsk_opd_num = 1;
        d.opd_typ = 1;
        d.opt_relu_typ = 0;
        d.opt_res_shift = 0;
        d.opt_shift_typ = 0;
        (d.opt_res0_sign, d.opt_opd0_sign) = (0, 0);
        if cx.chip.layout().bf16_pad_field() {
            d.opd0_ins_fp = 0xFF7F;
        } else {
            d.opd0_ins_val = 0xFF7F;
        }
        (d.opd1_h, d.opd1_w) = (1, c);
        (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
        (d.res0_addr, d.opd0_addr) = (mx.addr, x.addr);
        res0_shape(&mut d, &mx);
        opd0_shape(&mut d, &x);
        cx.tiu(d, &[&x], &[&mx]);
        // t = max(8·(x − max), −128), in place in x. A sub's result is signed.
        let mut d = eltwise(cx, SUB, true, &x, &x);
        d.opt_res0_sign = 1;
        (d.opd0_b_str, d.opd1_b_str) = (0, 0);
        d.opd1_addr = mx.addr;
        opd1_strides(&mut d, &Local { w: c, w_str: 0, ..mx });
        cx.tiu(d, &[&x, &mx], &[&x]);
        let mut d = eltwise(cx, MUL, true, &x, &x);
        d.opt_opd1_const = 1;
        d.opd1_addr = bf16(EXP_STEPS) as u32;
        cx.tiu(d, &[&x], &[&x]);
        let mut d = eltwise(cx, MAX, true, &x, &x);
        d.opt_opd1_const = 1;
        d.opd1_addr = bf16(-128.0) as u32;
        cx.tiu(d, &[&x], &[&x]);
        // e = BASE[trunc(t)] + SLOPE[trunc(t)]·(t − trunc(t)).
        let scratch = Scratch { i: a_i, f: a_ib, idx: a_idx, e: a_e, slope: a_s };
        let e = interpolate(cx, &x, scratch, [&l_base, &l_slope]);
        let y = v(a_y, c);
        normalise(cx, &e, &y, rows, c, [a_sum, a_sidx, a_r1, a_r2], [&l_pow, &l_man]);
        cx.store(l2g_bf16(cx.chip, &y, &g(dst)), &y);
    }
    Ok(())
}

/// `y = e / Σ e` per row: the sum by a mean pool with the constant 1.0, its reciprocal from the
/// exponent index and mantissa tables, and the broadcast multiply.
fn normalise(cx: &mut LayerCx, e: &Local, y: &Local, rows: u32, c: u32, at: [u32; 4], [l_pow, l_man]: [&Local; 2]) {
    let lanes = cx.lanes;
    let v = |addr| Local::eu_aligned_bf16(addr, lanes, 1, rows, 1, 1);
    let (sum, sidx, r1, r2) = (v(at[0]), v(at[1]), v(at[2]), v(at[3]));
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 1;
    d.tsk_eu_typ = 1;
    d.tsk_opd_num = 2;
    d.opd_typ = 1;
    d.opt_relu_typ = 0;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 0;
    d.opt_opd1_sign = 0;
    d.opt_opd1_const = 1;
    d.opd1_addr = ONE;
    // tpu-mlir writes the window size here; no padding reads it.
    let pad = bf16(c as f32) as u32;
    if cx.chip.layout().bf16_pad_field() {
        d.opd0_ins_fp = pad;
    } else {
        d.opd0_ins_val = pad;
    }
    (d.opd1_h, d.opd1_w) = (1, c);
    (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
    (d.res0_addr, d.opd0_addr) = (sum.addr, e.addr);
    res0_shape(&mut d, &sum);
    opd0_shape(&mut d, e);
    cx.tiu(d, &[e], &[&sum]);
    cx.l2l(l2l_lut_idx(cx.chip, &sum, &sidx), &sum, &sidx);
    cx.tiu(lut_bf16(cx, &r1, &sidx, l_pow), &[&sidx, l_pow], &[&r1]);
    cx.tiu(lut_bf16(cx, &r2, &sum, l_man), &[&sum, l_man], &[&r2]);
    let mut d = eltwise(cx, MUL, true, &r1, &r1);
    d.opd1_addr = r2.addr;
    opd1_strides(&mut d, &r2);
    cx.tiu(d, &[&r1, &r2], &[&r1]);
    let mut d = eltwise(cx, MUL, true, y, e);
    d.opd1_addr = r1.addr;
    opd1_strides(&mut d, &Local { w: c, w_str: 0, ..r1 });
    cx.tiu(d, &[e, &r1], &[y]);
}
