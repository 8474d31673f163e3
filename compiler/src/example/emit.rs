//! The example's descriptors, built field by field from the emitter reset values
//! (`TiuDesc::reset` / `TdmaDesc::reset`) as cvikernel fills them (isa.md §3.4, §4.1, §4.2; field
//! choices checked against the emitter output in the conformance vectors), with serial-mode sync
//! ids (isa.md §2.2).

use super::layout::*;
use super::params::Params;
use super::{Layer, Step};
use crate::codegen::emitter::Emitter;
use crate::codegen::tdma::{g2l_matrix, g2l_tensor, l2g_matrix, l2g_tensor, Global};
use crate::codegen::tiu::{opd0_shape, opd0_strides, res0_shape, res0_strides};
use cvsim_isa::{Chip, Region, TiuDesc};

/// Layer 1: per-channel (QM) conv 3×3, pad 1, with bias records and ReLU (isa.md §3.6.1).
fn conv(chip: Chip, plan: &Plan) -> TiuDesc {
    let (x, w, q, y) = (&plan.input, &plan.conv_filter, &plan.conv_quant, &plan.conv_out);
    let mut d = TiuDesc::reset(chip);
    d.tsk_typ = 0;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 3; // records carry the bias
    d.opt_chl_quan = 1;
    d.opt_res_shift = 0;
    d.opt_opd2_seg = 1; // forced for QM records
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
    d.opt_relu_typ = 1;
    // cvikernel enables it for even ifmap/weight addresses and an even IC >= 4; no numeric effect.
    d.double_conv = (x.addr & 1 == 0 && w.addr & 1 == 0 && IC & 1 == 0 && IC >= 4) as u32;
    (d.conv_opd0_up_pad, d.conv_opd0_dn_pad, d.conv_opd0_lf_pad, d.conv_opd0_rt_pad) = (1, 1, 1, 1);
    d.opd0_ins_val = 0;
    (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = (y.addr, x.addr, w.addr, q.addr);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 0, 1, 2);
    res0_shape(&mut d, y);
    res0_strides(&mut d, y);
    opd0_shape(&mut d, x);
    // The weight operand is (n = ic, c = oc, h = kh, w = kw) in the weight layout (code 1).
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (IC as u32, OC as u32, KH as u32, KW as u32);
    // The records' shape is (1, oc, 1, 1); their stride and b_str are unused in QM mode.
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, OC as u32, 1, 1);
    d.opd2_b_str = 0;
    d
}

/// Layer 2: max pool 2×2 stride 2 (isa.md §3.6.3); derived (code 0) strides on both sides.
fn max_pool(chip: Chip, plan: &Plan) -> TiuDesc {
    let (x, y) = (&plan.conv_out, &plan.pool_out);
    let mut d = TiuDesc::reset(chip);
    d.tsk_typ = 1;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 1;
    d.opt_res_shift = 0;
    (d.opt_res0_sign, d.opt_opd0_sign) = (1, 1);
    // cvikernel turns a pad value of 0 into -128 for signed input.
    d.opd0_ins_val = 0xFF80;
    (d.opd1_h, d.opd1_w) = (2, 2);
    (d.conv_op_x_str, d.conv_op_y_str) = (2, 2);
    (d.res0_addr, d.opd0_addr) = (y.addr, x.addr);
    res0_shape(&mut d, y);
    opd0_shape(&mut d, x);
    d
}

/// The shared part of the element-wise ops: one shape written into all four operands and
/// explicit (code 3) strides (isa.md §3.6.5).
fn eltwise(chip: Chip, eu: u32, res: &Local, opd0: &Local, constant: i8) -> TiuDesc {
    let mut d = TiuDesc::reset(chip);
    d.tsk_typ = 3;
    d.tsk_eu_typ = eu;
    d.tsk_opd_num = 2;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (1, 1, 1);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 3, 3);
    (d.res0_addr, d.opd0_addr) = (res.addr, opd0.addr);
    d.opt_opd1_const = 1;
    d.opd1_addr = constant as u8 as u32; // int8 mul/mac constants are masked to 8 bits
    res0_shape(&mut d, res);
    res0_strides(&mut d, res);
    opd0_shape(&mut d, opd0);
    opd0_strides(&mut d, opd0);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (res.n, res.c, res.h, res.w);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (res.n, res.c, res.h, res.w);
    d
}

/// Layer 3a: x · m0 into a 16-bit result (two byte planes, `res0_b_str` apart), no shift.
fn add_mul(chip: Chip, plan: &Plan, p: &Params) -> TiuDesc {
    let mut d = eltwise(chip, 0, &plan.add_lo, &plan.pool_out, p.add_m0);
    d.opt_res_shift = 0;
    d.opt_res0_seg = 0;
    d.res0_b_str = plan.add_hi.addr - plan.add_lo.addr;
    d
}

/// Layer 3b: x · m1 + (acc16 << 0), rounding right shift, int8 result into the low plane.
fn add_mac(chip: Chip, plan: &Plan, p: &Params) -> TiuDesc {
    let mut d = eltwise(chip, 1, &plan.add_lo, &plan.pool_out, p.add_m1);
    d.opt_res_add = 1;
    d.opt_left_shift = 0;
    d.opt_res_shift = p.add_rshift as u32;
    d.opt_res0_seg = 1;
    d.res0_b_str = plan.add_hi.addr - plan.add_lo.addr;
    d
}

/// Layer 4: int8 FC with a 16-bit bias and a per-tensor rounding right shift (isa.md §3.6.4).
/// All stride codes 0: the TIU derives the matrix layouts.
fn fc(chip: Chip, plan: &Plan, p: &Params) -> TiuDesc {
    let (l, r, b, y) = (&plan.fc_left, &plan.fc_right, &plan.fc_bias, &plan.fc_out);
    let mut d = TiuDesc::reset(chip);
    d.tsk_typ = 2;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 3;
    d.opt_res_shift = p.fc_rshift as u32;
    d.opt_left_shift = 0;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = (y.addr, l.addr, r.addr, b.addr);
    res0_shape(&mut d, y);
    opd0_shape(&mut d, l);
    // opd1_w is the number of valid columns in the left matrix's last chunk, not the right width.
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (FC_K as u32, r.c, 1, FC_K as u32 - l.w * (l.c - 1));
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, b.c, 1, b.w);
    d
}

/// Every descriptor of the example, in cmdbuf order, with its layer.
pub fn descriptors(chip: Chip, p: &Params) -> Vec<Step> {
    let plan = Plan::new(chip.lanes());
    let mut e = Emitter::new(chip);
    let (ic, oc, ih, iw) = (IC as u32, OC as u32, IH as u32, IW as u32);

    let input = Global::dense(REGION_INPUT, G_INPUT, ic, ih, iw);
    e.tdma(Layer::Conv.id(), g2l_tensor(e.chip, &input, &plan.input, true));
    let filter = Global::dense(Region::WEIGHT, W_CONV_FILTER, oc, (KH * KW) as u32, ic);
    e.tdma(Layer::Conv.id(), g2l_tensor(e.chip, &filter, &plan.conv_filter, true));
    let records = Global::dense(Region::WEIGHT, W_CONV_QUANT, oc, 1, QM_RECORD as u32);
    e.tdma(Layer::Conv.id(), g2l_tensor(e.chip, &records, &plan.conv_quant, false));
    e.tiu(Layer::Conv.id(), conv(e.chip, &plan));

    e.tiu(Layer::Pool.id(), max_pool(e.chip, &plan));

    e.tiu(Layer::Add.id(), add_mul(e.chip, &plan, p));
    e.tiu(Layer::Add.id(), add_mac(e.chip, &plan, p));
    // The FC reads its input as a matrix, so the add result goes out through shared memory.
    let spill = Global::dense(Region::SHARED, G_SPILL, oc, PH as u32, PW as u32);
    e.tdma(Layer::Add.id(), l2g_tensor(e.chip, &plan.add_lo, &spill, true));

    let k = FC_K as u32;
    let n = FC_N as u32;
    e.tdma(Layer::Fc.id(), g2l_matrix(e.chip, Region::SHARED, G_SPILL, k, k, &plan.fc_left));
    e.tdma(Layer::Fc.id(), g2l_matrix(e.chip, Region::WEIGHT, W_FC_FILTER, n, n, &plan.fc_right));
    e.tdma(Layer::Fc.id(), g2l_matrix(e.chip, Region::WEIGHT, W_FC_BIAS, n, n, &plan.fc_bias));
    e.tiu(Layer::Fc.id(), fc(e.chip, &plan, p));
    e.tdma(Layer::Fc.id(), l2g_matrix(e.chip, &plan.fc_out, n, REGION_OUTPUT, G_OUTPUT, n));
    let layer = |id| Layer::ALL.into_iter().find(|l| l.id() == id).expect("every step has an example layer");
    e.steps.into_iter().map(|s| Step { layer: layer(s.layer), desc: s.desc }).collect()
}
