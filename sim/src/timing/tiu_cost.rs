//! TIU cycles of one descriptor, from its fields only.
//!
//! The structure is the vendor estimator's (`timing.md` §4.3): a lane holds output channels, its EUs
//! hold 16 output pixels (8 for bf16), and one cycle applies one kernel tap of one input channel to
//! every active EU of every lane. So a pass over 16 pixels of one channel group costs the inner loop
//! (taps × input channels plus fixed per-pass latencies), and the descriptor costs
//! `N × channel groups × pixel groups` passes plus start-up and write-back.
//!
//! Departures from the estimator, each fixing one of its known weaknesses (`timing.md` §4.5):
//! - the data type is read from the descriptor on every chip (`opd_typ`; the estimator costs a
//!   CV18[0-2]x bf16 op as int8), and the element-wise operand/result widths from the `*_seg` flags;
//! - min pooling (which the estimator rejects) is costed as max pooling, the same datapath;
//! - unknown operations get an element-wise cost instead of an assertion;
//! - a fixed per-descriptor overhead (`descriptor_ns`) is added; see [`TiuConfig::descriptor_ns`].

use super::config::TiuConfig;
use cvsim_isa::{Chip, TiuCost, TiuDesc};

/// Ceiling division that treats a zero divisor as 1 (fields are raw and may be 0).
#[inline]
fn cdiv(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// Cycles of the descriptor's work, without the per-descriptor fetch overhead.
pub fn tiu_work_cycles(chip: Chip, d: &TiuDesc, cfg: &TiuConfig) -> u64 {
    let cost = d.op(chip).cost();
    let bf16 = d.is_bf16();
    let qm = d.opt_chl_quan != 0;
    let e = cfg.eu_per_lane as u64;
    let e_act = if bf16 { cfg.eu_active_bf16 } else { cfg.eu_active_int8 } as u64;
    let n = d.res0_n.max(1) as u64;
    let c = d.res0_c.max(1) as u64;
    let oh = d.res0_h.max(1) as u64;
    let ow = d.res0_w.max(1) as u64;
    let start_lane = (d.res0_addr >> cvsim_isa::chip::LMEM_SHIFT) as u64;
    let lanes = chip.lanes() as u64;
    // Channels are laid out from the start lane on, so a tensor that starts at lane 5 of 8 and has
    // 8 channels needs two passes per pixel group.
    let groups = cdiv(start_lane + c, lanes);
    let pix = cdiv(oh * ow, e_act);
    let kh = d.opd1_h.max(1) as u64;
    let kw = d.opd1_w.max(1) as u64;
    let taps = kh * kw;
    let x_str = d.conv_op_x_str.max(1) as u64;
    let x_ins = d.conv_opd0_x_ins0 as u64;
    let shift = if bf16 {
        cfg.shift_bf16_cycles
    } else if qm {
        cfg.shift_qm_cycles
    } else {
        cfg.shift_int8_cycles
    } as u64;
    let bias = if d.tsk_opd_num == 3 && !qm { cfg.bias_cycles as u64 } else { 0 };
    let ps32 = cfg.ps32_cycles[(d.ps32_md & 3) as usize] as u64;
    let post = if qm { cfg.post_qm_cycles } else { cfg.post_cycles } as u64;
    let sync = cfg.sync_cycles as u64;
    let min_loop = |l: u64| if qm && !bf16 { l.max(cfg.min_loop_qm_cycles as u64) } else { l };
    let min_loop_dw = |l: u64| if qm && !bf16 { l.max(cfg.min_loop_qm_depthwise_cycles as u64) } else { l };
    // The window's input span of one 16-pixel row, in input pixels, for pooling-type ops.
    let span = |eu: u64| ((eu - 1) * x_str) as f64 / (x_ins + 1) as f64 + 1.0;

    match cost {
        TiuCost::Conv => {
            let ic = d.opd0_c.max(1) as u64;
            let dconv = d.double_conv != 0 && !bf16;
            let channel_cycles = if dconv && taps == 1 {
                (ic as f64 / cfg.pointwise_double_conv_channels.get(chip)).ceil() as u64
            } else {
                cdiv(ic, if dconv { *cfg.double_conv_channels.get(chip) as u64 } else { 1 })
            };
            // Input words fetched per tap; with fewer input channels than that the pipeline stalls.
            let fetch = cdiv((e - 1) * x_str / (x_ins + 1) + 1, e) + 1;
            let bubble = if fetch > ic { taps * (fetch - ic) } else { 0 };
            let lp = min_loop(taps * channel_cycles + bubble + bias + shift + ps32);
            sync + n * groups * pix * lp + post
        }
        TiuCost::ExtremumPool => {
            let misc = if oh * ow == 1 { 1.0 } else { pool_misc(span(e), e as f64).max(1.0) };
            ((n * groups * pix) as f64 * (taps as f64 * misc + 2.0)) as u64
        }
        TiuCost::AvgPool => {
            let misc = if oh * ow == 1 { 1.0 } else { pool_misc(span(e_act), e_act as f64).max(1.0) };
            let lp = min_loop_dw((taps as f64 * misc) as u64);
            n * groups * pix * (lp + shift) + post
        }
        TiuCost::Depthwise => {
            let shift = if !bf16 || (taps == 1 && !qm) { cfg.shift_depthwise_cycles as u64 } else { shift };
            let misc = if taps == 1 {
                1.0
            } else {
                let w = ow.min(16);
                let rows = if ow >= 16 { 1 } else { 16 / ow };
                (((w - 1) * x_str) as f64 / (x_ins + 1) as f64 + 1.0) / 16.0 * rows as f64 + 15.0 / 16.0
            };
            let lp = min_loop_dw((taps as f64 * misc) as u64);
            n * groups * pix * (lp + bias + shift) + post
        }
        TiuCost::Matmul => {
            let k = d.opd1_n.max(1) as u64;
            let add = if d.opt_res_add != 0 { 2 } else { 0 };
            sync + n * cdiv(c, lanes) * cdiv(ow, e_act) * (k + bias + shift + ps32 + add) + post
        }
        TiuCost::Lut => {
            let per = cfg.eltwise.lut_base + d.opd1_h as f64;
            eltwise_total(n * groups * pix, per, cfg, post)
        }
        TiuCost::MdSum => eltwise_total(n * groups * pix, cfg.eltwise.mdsum, cfg, post),
        _ => {
            let per = eltwise_latency(cost, d, bf16, cfg);
            let write = if d.res0_c_str % 16 == 0 { 1.0 } else { cfg.unaligned_write_factor };
            eltwise_total(n * groups * pix, per * write, cfg, post)
        }
    }
}

fn pool_misc(a: f64, e: f64) -> f64 {
    a / e + if a >= e { (e - 1.0) / e } else { (a - 1.0) / e }
}

fn eltwise_total(passes: u64, per_pass: f64, cfg: &TiuConfig, post: u64) -> u64 {
    (passes as f64 * per_pass) as u64 + cfg.eltwise_cmd_cycles as u64 + post
}

/// Per-pixel-group issue cycles of an element-wise op (estimator `eu_lat`).
fn eltwise_latency(cost: TiuCost, d: &TiuDesc, bf16: bool, cfg: &TiuConfig) -> f64 {
    let l = &cfg.eltwise;
    // CV18[0-2]x `opt_*_seg` and CV183x `opt_*_int8` both read 1 as "8-bit".
    let wide_in = bf16 || d.opt_opd0_seg != 1;
    let wide_out = bf16 || d.opt_res0_seg != 1;
    let w = wide_in as usize;
    let mut lat = match cost {
        TiuCost::Mul => l.mul[w] + if wide_out { 0.0 } else { l.mul_8bit_result },
        TiuCost::Mac => l.mac[w],
        TiuCost::AddSub => l.add_sub[w] + if wide_in && d.opt_opd1_const != 0 { l.add_sub_16bit_const } else { 0.0 },
        TiuCost::Logic => l.logic[w],
        TiuCost::Shift => l.shift[w],
        TiuCost::Copy => l.copy[w],
        _ => l.unknown,
    };
    if wide_out {
        lat += l.wide_result;
    }
    lat
}

/// Total TIU cycles of one descriptor at `clock_hz`: the work plus the fixed per-descriptor
/// overhead. Never 0, so that every PMU record has a positive duration.
pub fn tiu_cycles(chip: Chip, d: &TiuDesc, cfg: &TiuConfig, clock_hz: u64) -> u64 {
    let overhead = (cfg.descriptor_ns * clock_hz as f64 / 1e9).round() as u64;
    (tiu_work_cycles(chip, d, cfg) + overhead).max(1)
}
