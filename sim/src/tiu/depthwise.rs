//! TIU depthwise convolution (tsk_typ 1, eu 2), int8 (per-tensor shift or per-channel QM) and bf16
//! (spec `isa.md` §3.6.2; geometry, bias and records as for conv, §3.6.1).
//!
//! Each channel is one plane: the padded input plane is gathered once, and every output row is
//! accumulated tap by tap with [`Window::fold_row`].

use super::conv::{
    bf16_bias, bf16_pad, bf16_result, check_common, int8_requant, load_i8, load_u16, nonzero_input, pad_i8, relu,
};
use super::operand::{anchored_to_result, same_batch_and_channels, view, Opd};
use super::window::{Bf16, Dilation, InputPlanes, Int8, Kernel, Window};
use crate::arith;
use crate::bf16;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc};

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    check_common(d)?;
    if d.ps32_md != 0 {
        return Err(ExecErrorKind::Unsupported {
            what: format!(
                "field `ps32_md` = {} on depthwise convolution (partial sums are a conv/FC feature)",
                d.ps32_md
            ),
        });
    }
    let (n, c) = same_batch_and_channels(
        d,
        "depthwise result batch differs from opd0_n",
        "depthwise result channels differ from opd0_c",
    )?;
    if d.opt_opd1_const == 0 && d.opd1_c != c {
        return Err(ExecErrorKind::Illegal {
            field: "opd1_c",
            value: d.opd1_c as i64,
            why: "depthwise weight channels differ from opd0_c",
        });
    }
    nonzero_input(d)?;
    if n == 0 || d.res0_h == 0 || d.res0_w == 0 {
        return Ok(());
    }
    // The vendor simulator ignores kernel dilation in per-channel-quantised depthwise on
    // CV18[0-2]x: every such vector with dilation 2 matches dense taps (with the emitter's padding
    // and output size, which were computed for the dilated kernel), in all 17 cases where the two
    // differ; per-tensor depthwise, conv, and CV183x depthwise honour it. The spec (§3.6.2
    // "same geometry as conv") does not say this.
    let dilation = if d.opt_chl_quan != 0 && chip.quirks().depthwise_qm_ignores_dilation {
        Dilation::Ignored
    } else {
        Dilation::Honoured
    };
    let win = Window::from_desc(d, d.opd0_h, d.opd0_w, Kernel { kh: d.opd1_h, kw: d.opd1_w, dilation })?;
    if d.is_bf16() {
        exec_bf16(chip, lmem, d, &win)
    } else {
        exec_int8(chip, lmem, d, &win)
    }
}

/// Weights as `[c][kh][kw]`: opd1 `(1, C, KH, KW)` (EU-aligned, stride code 0, §1.3), or the
/// scalar of `opt_opd1_const` for every tap.
fn gather_weights<T: Copy>(
    chip: Chip,
    lmem: &Lmem,
    d: &TiuDesc,
    esz: u32,
    constant: T,
    mut load: impl FnMut(usize) -> T,
) -> ExecResult<Vec<T>> {
    let (c, kh, kw) = (d.opd0_c, d.opd1_h, d.opd1_w);
    if d.opt_opd1_const != 0 {
        return Ok(vec![constant; (c * kh * kw) as usize]);
    }
    let what = Label::new(Operand::Opd1, "depthwise weights (opd1)");
    let t = anchored_to_result(chip.lanes(), d, LTensor { n: 1, ..view(chip, d, Opd::Opd1, esz) }, what)?;
    let bases = t.channel_bases(lmem, what)?;
    let mut w = Vec::with_capacity((c * kh * kw) as usize);
    for &b in &bases {
        for y in 0..kh {
            for x in 0..kw {
                w.push(load(b + t.inner(0, y, x)));
            }
        }
    }
    Ok(w)
}

fn exec_int8(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, win: &Window) -> ExecResult {
    let x = view(chip, d, Opd::Opd0, 1);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "depthwise input (opd0)"))?;
    let res = view(chip, d, Opd::Res0, 1);
    let rb = res.channel_bases(lmem, Label::new(Operand::Res0, "depthwise result (res0)"))?;
    if d.opt_chl_quan != 0 && d.opt_res0_sign == 0 {
        // No vector or fuzzed case shows what the vendor simulator does with it.
        return Err(ExecErrorKind::Unsupported {
            what: "per-channel quantised depthwise convolution with an unsigned result (`opt_res0_sign` = 0)".into(),
        });
    }
    let (out, requant) =
        int8_requant(chip, lmem, d, x.c, Label::new(Operand::Opd2, "depthwise bias/quantisation (opd2)"))?;
    let w_signed = d.opt_opd1_sign != 0;
    let w_const = {
        let b = d.opd1_addr as u8;
        if w_signed {
            b as i8 as i16
        } else {
            b as i16
        }
    };
    let weights = gather_weights(chip, lmem, d, 1, w_const, |i| load_i8(lmem, i, w_signed))?;
    let x_signed = d.opt_opd0_sign != 0;
    let input =
        InputPlanes::new(win, &x, &xb, &res, lmem.lanes, pad_i8(chip, d), &lmem.data, Int8 { signed: x_signed });

    let (kh, kw) = (win.h.kernel as usize, win.w.kernel as usize);
    let (c_n, oh_n, ow_n) = (x.c as usize, d.res0_h as usize, d.res0_w as usize);
    let out = out.with_tail(x.n as usize * c_n * oh_n * ow_n);
    // One item per (image, channel): its finished rows. Nothing but the result is written, and
    // it does not overlap the input unless `input` gathered all of it first.
    let compute = |data: &[u8], item: usize, dst: &mut [u8]| {
        let (n, c) = (item / c_n, item % c_n);
        let mut buf = Vec::new();
        let plane = input.get_into(n as u32, c, &x, &xb, data, Int8 { signed: x_signed }, &mut buf);
        let w = &weights[c * kh * kw..(c + 1) * kh * kw];
        let mut acc = vec![0i32; ow_n];
        for oh in 0..oh_n {
            acc.fill(0);
            win.fold_row(&mut acc, plane, oh, |t| w[t] as i32, |a: i32, v: i16, wt| a.wrapping_add(v as i32 * wt));
            let flat = ((n as usize * c_n + c) * oh_n + oh) * ow_n;
            out.finish_row_at(&acc, requant[c], &mut dst[oh * ow_n..(oh + 1) * ow_n], 1, flat);
        }
    };
    let w_step = res.w_str as usize;
    let emit = |data: &mut [u8], item: usize, src: &[u8]| {
        let (n, c) = (item / c_n, item % c_n);
        for (oh, row) in src.chunks_exact(ow_n).enumerate() {
            let at = rb[c] + res.inner(n as u32, oh as u32, 0);
            for (ow, &v) in row.iter().enumerate() {
                data[at + ow * w_step] = v;
            }
        }
    };
    let work = (oh_n * ow_n * kh * kw) as u64;
    let mut workers = std::mem::take(&mut lmem.workers);
    workers.compute_then_emit(&mut lmem.data[..], x.n as usize * c_n, oh_n * ow_n, work, compute, emit);
    lmem.workers = workers;
    Ok(())
}

fn exec_bf16(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, win: &Window) -> ExecResult {
    let x = view(chip, d, Opd::Opd0, 2);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "depthwise input (opd0)"))?;
    let res = view(chip, d, Opd::Res0, 2);
    let rb = res.channel_bases(lmem, Label::new(Operand::Res0, "depthwise result (res0)"))?;
    let bias = bf16_bias(chip, lmem, d, x.c, Label::new(Operand::Opd2, "depthwise bias (opd2)"))?;
    let relu = relu(d);
    let weights = gather_weights(chip, lmem, d, 2, bf16::bf16_operand(d.opd1_addr as u16), |i| {
        bf16::bf16_operand(load_u16(lmem, i))
    })?;
    let pad = bf16_pad(chip, d);
    let input = InputPlanes::new(win, &x, &xb, &res, lmem.lanes, pad, &lmem.data, Bf16);

    let (kh, kw) = (win.h.kernel as usize, win.w.kernel as usize);
    let (c_n, oh_n, ow_n) = (x.c as usize, d.res0_h as usize, d.res0_w as usize);
    // As for int8: one item per (image, channel), its finished bf16 rows.
    let compute = |data: &[u8], item: usize, dst: &mut [u8]| {
        let (n, c) = (item / c_n, item % c_n);
        let mut buf = Vec::new();
        let plane = input.get_into(n as u32, c, &x, &xb, data, Bf16, &mut buf);
        let w = &weights[c * kh * kw..(c + 1) * kh * kw];
        let b = bias.as_ref().map(|b| b[c]);
        let mut acc = vec![0f32; ow_n];
        for oh in 0..oh_n {
            acc.fill(0.0);
            // fp32 products summed in kh → kw order with the truncating MAC of `arith::f32_mac`.
            win.fold_row(&mut acc, plane, oh, |t| w[t], |a: f32, v: f32, wt| arith::f32_mac(a, v, wt));
            for (dst, &a) in dst[oh * ow_n * 2..(oh + 1) * ow_n * 2].chunks_exact_mut(2).zip(&acc) {
                let v = match b {
                    Some(b) => arith::f32_add_toward_zero(a, b),
                    None => a,
                };
                dst.copy_from_slice(&bf16_result(v, relu).to_le_bytes());
            }
        }
    };
    let emit = |data: &mut [u8], item: usize, src: &[u8]| {
        let (n, c) = (item / c_n, item % c_n);
        for (oh, row) in src.chunks_exact(ow_n * 2).enumerate() {
            for (ow, v) in row.chunks_exact(2).enumerate() {
                let at = rb[c] + res.inner(n as u32, oh as u32, ow as u32);
                data[at..at + 2].copy_from_slice(v);
            }
        }
    };
    let work = (oh_n * ow_n * kh * kw) as u64;
    let mut workers = std::mem::take(&mut lmem.workers);
    workers.compute_then_emit(&mut lmem.data[..], x.n as usize * c_n, oh_n * ow_n * 2, work, compute, emit);
    lmem.workers = workers;
    Ok(())
}
