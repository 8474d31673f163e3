//! The example's descriptors, built field by field from the emitter reset values
//! (`TiuDesc::reset` / `TdmaDesc::reset`) as cvikernel fills them (isa.md §3.4, §4.1, §4.2; field
//! choices checked against the emitter output in the conformance vectors), with serial-mode sync
//! ids (isa.md §2.2).

use super::layout::*;
use super::params::Params;
use super::{Layer, Step};
use cvsim_isa::{Chip, Desc, Engine, TdmaDesc, TiuDesc};

/// Serial-mode sync ids: each engine numbers its descriptors from 1; a descriptor waits for the
/// last descriptor of the other engine emitted before it, written only into the earliest
/// follower (so a TIU right after another TIU waits for nothing new); a TDMA descriptor with no
/// wait of its own repeats the previous TDMA wait (cvikernel's carry-forward).
struct Emitter {
    chip: Chip,
    steps: Vec<Step>,
    tiu_id: u32,
    tdma_id: u32,
    last: Option<Engine>,
    tdma_wait: u32,
}

impl Emitter {
    fn tiu(&mut self, layer: Layer, mut d: TiuDesc) {
        self.tiu_id += 1;
        d.cmd_en = 1;
        d.cmd_id_en = 1;
        d.cmd_id_tpu = self.tiu_id;
        d.cmd_id_gdma = if self.last == Some(Engine::Tdma) { self.tdma_id } else { 0 };
        d.layer_info = layer.id();
        self.last = Some(Engine::Tiu);
        self.steps.push(Step { layer, desc: Desc::Tiu(Box::new(d)) });
    }

    fn tdma(&mut self, layer: Layer, mut d: TdmaDesc) {
        self.tdma_id += 1;
        if self.last == Some(Engine::Tiu) {
            self.tdma_wait = self.tiu_id;
        }
        d.vld = 1;
        d.bar_en = 1;
        d.cmd_id = self.tdma_id;
        d.wait_id_tpu = self.tdma_wait;
        d.layer_id = layer.id();
        self.last = Some(Engine::Tdma);
        self.steps.push(Step { layer, desc: Desc::Tdma(Box::new(d)) });
    }
}

/// A global tensor side: region, offset and (n, c, h) byte strides; W is dense.
struct Global {
    region: u8,
    offset: u64,
    n_str: u32,
    c_str: u32,
    h_str: u32,
}

impl Global {
    /// Dense NCHW int8 of shape (_, c, h, w).
    fn dense(region: u8, offset: u64, c: u32, h: u32, w: u32) -> Global {
        Global { region, offset, n_str: c * h * w, c_str: h * w, h_str: w }
    }
}

fn set_src_global(d: &mut TdmaDesc, g: &Global) {
    d.src_base_reg_sel = g.region as u32;
    d.src_base_addr_low = g.offset as u32;
    d.src_base_addr_high = (g.offset >> 32) as u32;
}

fn set_dst_global(d: &mut TdmaDesc, g: &Global) {
    d.dst_base_reg_sel = g.region as u32;
    d.dst_base_addr_low = g.offset as u32;
    d.dst_base_addr_high = (g.offset >> 32) as u32;
}

fn set_src_strides(d: &mut TdmaDesc, n: u32, c: u32, h: u32) {
    d.src_n_stride = n;
    d.src_c_stride_low = c & 0xFFFF;
    d.src_c_stride_high = c >> 16;
    d.src_h_stride = h;
}

fn set_dst_strides(d: &mut TdmaDesc, n: u32, c: u32, h: u32) {
    d.dst_n_stride = n;
    d.dst_c_stride_low = c & 0xFFFF;
    d.dst_c_stride_high = c >> 16;
    d.dst_h_stride = h;
}

/// Tensor load: global (n, c, h, w) with strides → local tensor `l` (same shape).
/// `signed`: cv180x/cv181x emitters set `int8_sign` on signed int8 moves (isa.md §9 item 13).
fn g2l_tensor(chip: Chip, g: &Global, l: &Local, signed: bool) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 0;
    d.int8_sign = signed as u32;
    set_src_global(&mut d, g);
    d.dst_base_addr_low = l.addr;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.c, l.h, l.w);
    (d.dst_c, d.dst_h, d.dst_w) = (l.c, l.h, l.w);
    set_src_strides(&mut d, g.n_str, g.c_str, g.h_str);
    set_dst_strides(&mut d, l.n_str, l.c_str, l.h_str);
    d
}

/// Tensor store: local tensor `l` → global with strides.
fn l2g_tensor(chip: Chip, l: &Local, g: &Global, signed: bool) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 1;
    d.int8_sign = signed as u32;
    d.src_base_addr_low = l.addr;
    set_dst_global(&mut d, g);
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.c, l.h, l.w);
    (d.dst_c, d.dst_h, d.dst_w) = (l.c, l.h, l.w);
    set_src_strides(&mut d, l.n_str, l.c_str, l.h_str);
    set_dst_strides(&mut d, g.n_str, g.c_str, g.h_str);
    d
}

/// Matrix load: a global `rows × cols` matrix with `row_stride` → the local matrix layout `l`
/// (`sys_dtype = 1`; the source rows go in both `src_n` and `src_c`, isa.md §4.2).
fn g2l_matrix(chip: Chip, region: u8, offset: u64, row_stride: u32, cols: u32, l: &Local) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 0;
    d.sys_dtype = 1;
    d.int8_sign = 1;
    set_src_global(&mut d, &Global { region, offset, n_str: 1, c_str: row_stride, h_str: 1 });
    d.dst_base_addr_low = l.addr;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.n, 1, cols);
    (d.dst_c, d.dst_h, d.dst_w) = (l.c, 1, l.w);
    d.src_c_stride_low = row_stride;
    set_dst_strides(&mut d, l.n_str, l.c_str, l.h_str);
    d
}

/// Matrix store: the local matrix `l` → a global `rows × cols` matrix with `row_stride`.
fn l2g_matrix(chip: Chip, l: &Local, cols: u32, region: u8, offset: u64, row_stride: u32) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 1;
    d.sys_dtype = 1;
    d.int8_sign = 1;
    d.src_base_addr_low = l.addr;
    set_dst_global(&mut d, &Global { region, offset, n_str: 1, c_str: row_stride, h_str: 1 });
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.c, 1, l.w);
    (d.dst_c, d.dst_h, d.dst_w) = (l.n, 1, cols);
    set_src_strides(&mut d, l.n_str, l.c_str, l.h_str);
    d.dst_c_stride_low = row_stride;
    d
}

fn res0_shape(d: &mut TiuDesc, t: &Local) {
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (t.n, t.c, t.h, t.w);
}

fn opd0_shape(d: &mut TiuDesc, t: &Local) {
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (t.n, t.c, t.h, t.w);
}

fn res0_strides(d: &mut TiuDesc, t: &Local) {
    (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str) = (t.n_str, t.c_str, t.h_str, t.w_str);
}

fn opd0_strides(d: &mut TiuDesc, t: &Local) {
    (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str) = (t.n_str, t.c_str, t.h_str, t.w_str);
}

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
    let mut e = Emitter { chip, steps: Vec::new(), tiu_id: 0, tdma_id: 0, last: None, tdma_wait: 0 };
    let (ic, oc, ih, iw) = (IC as u32, OC as u32, IH as u32, IW as u32);

    let input = Global::dense(REGION_INPUT, G_INPUT, ic, ih, iw);
    e.tdma(Layer::Conv, g2l_tensor(e.chip, &input, &plan.input, true));
    let filter = Global::dense(REGION_WEIGHT, W_CONV_FILTER, oc, (KH * KW) as u32, ic);
    e.tdma(Layer::Conv, g2l_tensor(e.chip, &filter, &plan.conv_filter, true));
    let records = Global::dense(REGION_WEIGHT, W_CONV_QUANT, oc, 1, QM_RECORD as u32);
    e.tdma(Layer::Conv, g2l_tensor(e.chip, &records, &plan.conv_quant, false));
    e.tiu(Layer::Conv, conv(e.chip, &plan));

    e.tiu(Layer::Pool, max_pool(e.chip, &plan));

    e.tiu(Layer::Add, add_mul(e.chip, &plan, p));
    e.tiu(Layer::Add, add_mac(e.chip, &plan, p));
    // The FC reads its input as a matrix, so the add result goes out through shared memory.
    let spill = Global::dense(REGION_SHARED, G_SPILL, oc, PH as u32, PW as u32);
    e.tdma(Layer::Add, l2g_tensor(e.chip, &plan.add_lo, &spill, true));

    let k = FC_K as u32;
    let n = FC_N as u32;
    e.tdma(Layer::Fc, g2l_matrix(e.chip, REGION_SHARED, G_SPILL, k, k, &plan.fc_left));
    e.tdma(Layer::Fc, g2l_matrix(e.chip, REGION_WEIGHT, W_FC_FILTER, n, n, &plan.fc_right));
    e.tdma(Layer::Fc, g2l_matrix(e.chip, REGION_WEIGHT, W_FC_BIAS, n, n, &plan.fc_bias));
    e.tiu(Layer::Fc, fc(e.chip, &plan, p));
    e.tdma(Layer::Fc, l2g_matrix(e.chip, &plan.fc_out, n, REGION_OUTPUT, G_OUTPUT, n));
    e.steps
}
