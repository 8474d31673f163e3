//! TIU pooling (tsk_typ 1): max (eu 0), average (eu 1) and min (eu 3, CV18[0-2]x), int8 and bf16
//! (spec `isa.md` §3.6.3; window geometry as for conv, without kernel dilation).
//!
//! Each channel plane is gathered once with its padding materialised, then every output row is
//! folded tap by tap with [`Window::fold_row`].

use super::conv::{bf16_pad, check_common, nonzero_input, pad_i8, Int8Out, Requant};
use super::operand::{same_batch_and_channels, view, Opd};
use super::window::{Bf16, Dilation, InputPlanes, Int8, Kernel, Window};
use crate::arith;
use crate::bf16;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::Lmem;
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc, TiuOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Max,
    Min,
    Avg,
}

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    let kind = match d.op(chip) {
        TiuOp::MaxPool => Kind::Max,
        TiuOp::MinPool => Kind::Min,
        TiuOp::AvgPool => Kind::Avg,
        op => return Err(ExecErrorKind::Unsupported { what: format!("TIU {} in the pooling executor", op.name()) }),
    };
    check_common(d)?;
    // §9.9: on CV182x the vendor simulator's bf16 min pooling reads memory outside the window
    // (its output depends on prior local-memory contents), so no result can be reproduced.
    if kind == Kind::Min && d.is_bf16() && chip.quirks().bf16_min_pool_unreproducible {
        return Err(ExecErrorKind::Unsupported {
            what: "bf16 min pooling on cv182x (the vendor simulator reads outside the window, §9.9)".into(),
        });
    }
    // Every pooling emitter forces ReLU off; its hardware behaviour was never validated (§3.6.3).
    if d.opt_relu_typ != 0 {
        return Err(ExecErrorKind::Unsupported {
            what: format!("field `opt_relu_typ` = {} on pooling (emitters force ReLU off)", d.opt_relu_typ),
        });
    }
    for (field, v) in [("ps32_md", d.ps32_md), ("opt_chl_quan", d.opt_chl_quan)] {
        if v != 0 {
            return Err(ExecErrorKind::Unsupported { what: format!("field `{field}` = {v} on pooling") });
        }
    }
    if kind == Kind::Avg && d.opt_opd1_const == 0 {
        return Err(ExecErrorKind::Unsupported { what: "average pooling with opd1 in local memory (`opt_opd1_const` = 0); the averaging constant is an immediate".into() });
    }
    let (n, _) = same_batch_and_channels(
        d,
        "pooling result batch differs from opd0_n",
        "pooling result channels differ from opd0_c",
    )?;
    nonzero_input(d)?;
    if n == 0 || d.res0_h == 0 || d.res0_w == 0 {
        return Ok(());
    }
    // The vendor simulator does not insert elements in max and min pooling: it ignores the
    // insertion fields (a window over an input with `conv_opd0_x_ins0` = 2 reads neighbouring
    // input columns, not the insert value), on every chip. Average pooling inserts.
    let mut plain = d.clone();
    if kind != Kind::Avg {
        (plain.conv_opd0_x_ins0, plain.conv_opd0_y_ins0, plain.conv_opd0_x_ins0_last, plain.conv_opd0_y_ins0_last) =
            (0, 0, 0, 0);
    }
    let d = &plain;
    let win =
        Window::from_desc(d, d.opd0_h, d.opd0_w, Kernel { kh: d.opd1_h, kw: d.opd1_w, dilation: Dilation::Rejected })?;
    if d.is_bf16() {
        exec_bf16(chip, lmem, d, &win, kind)
    } else {
        exec_int8(chip, lmem, d, &win, kind)
    }
}

fn exec_int8(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, win: &Window, kind: Kind) -> ExecResult {
    let x = view(chip, d, Opd::Opd0, 1);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "pooling input (opd0)"))?;
    let res = view(chip, d, Opd::Res0, 1);
    let rb = res.channel_bases(lmem, Label::new(Operand::Res0, "pooling result (res0)"))?;
    let signed = d.opt_opd0_sign != 0;
    // Padding and inserts take `opd0_ins_val` (cvikernel puts −128/0 there for max and 127/255
    // for min; the hardware just uses the field).
    let pad = pad_i8(chip, d);
    let mut input = InputPlanes::new(win, &x, &xb, &res, lmem.lanes, pad, &lmem.data, Int8 { signed });
    let ow = d.res0_w as usize;
    let mut acc = vec![0i32; ow];
    // Average: Σ x·const with the constant read as 8 bits (`opt_opd1_sign`, 0 from cvikernel),
    // then the rounding shift and saturation of the conv path.
    let k = {
        let b = d.opd1_addr as u8;
        if d.opt_opd1_sign != 0 {
            b as i8 as i32
        } else {
            b as i32
        }
    };
    let (oh_n, ow_n) = (d.res0_h as usize, d.res0_w as usize);
    let avg_out = if kind == Kind::Avg {
        Some(Int8Out::shift_only(chip, d)?.with_tail(x.n as usize * x.c as usize * oh_n * ow_n))
    } else {
        None
    };
    let w_step = res.w_str as usize;
    for n in 0..x.n as usize {
        for c in 0..x.c as usize {
            let plane = input.get(n as u32, c, &x, &xb, &lmem.data, Int8 { signed });
            for oh in 0..d.res0_h {
                let oh_u = oh as usize;
                match kind {
                    // The vendor simulator starts the running max/min at the pad value, so it
                    // takes part in every window, padded or not.
                    Kind::Max => {
                        acc.fill(pad as i32);
                        win.fold_row(&mut acc, plane, oh_u, |_| (), |a, v: i16, _| a.max(v as i32));
                    }
                    Kind::Min => {
                        acc.fill(pad as i32);
                        win.fold_row(&mut acc, plane, oh_u, |_| (), |a, v: i16, _| a.min(v as i32));
                    }
                    Kind::Avg => {
                        acc.fill(0);
                        win.fold_row(&mut acc, plane, oh_u, |_| (), |a: i32, v: i16, _| a.wrapping_add(v as i32 * k));
                    }
                }
                let dst = &mut lmem.data[rb[c] + res.inner(n as u32, oh, 0)..];
                match avg_out {
                    Some(o) => {
                        let flat = ((n * x.c as usize + c) * oh_n + oh_u) * ow_n;
                        o.finish_row_at(&acc, Requant::PerTensor { bias: 0 }, dst, w_step, flat)
                    }
                    // Max/min: the window's largest/smallest element, written as stored.
                    None => {
                        for (o, &a) in acc.iter().enumerate() {
                            dst[o * w_step] = a as u8;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn exec_bf16(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, win: &Window, kind: Kind) -> ExecResult {
    let x = view(chip, d, Opd::Opd0, 2);
    let xb = x.channel_bases(lmem, Label::new(Operand::Opd0, "pooling input (opd0)"))?;
    let res = view(chip, d, Opd::Res0, 2);
    let rb = res.channel_bases(lmem, Label::new(Operand::Res0, "pooling result (res0)"))?;
    // Average pooling pads as convolutions do; max and min pooling read the field as a bf16
    // pattern (fuzzing: every max/min pool with padding is identical so).
    let pad = match kind {
        Kind::Avg => bf16_pad(chip, d),
        Kind::Max | Kind::Min => bf16::bf16_operand(d.pad_value(chip) as u16),
    };
    let mut input = InputPlanes::new(win, &x, &xb, &res, lmem.lanes, pad, &lmem.data, Bf16);
    let ow = d.res0_w as usize;
    let mut acc = vec![0f32; ow];
    // Average: cvikernel divides the constant by kh·kw on the host (the hardware has no divider),
    // so the TIU computes Σ x·const in fp32, in kernel order, with the truncating MAC of
    // `arith::f32_mac`: round-to-nearest misses 6 average-pooling vectors (CV181x, CV182x, CV183x)
    // and keeping subnormal products misses `cv183x-tiu_pool_bf16-005`.
    let k = bf16::bf16_operand(d.opd1_addr as u16);
    for n in 0..x.n as usize {
        for c in 0..x.c as usize {
            let plane = input.get(n as u32, c, &x, &xb, &lmem.data, Bf16);
            for oh in 0..d.res0_h {
                let oh_u = oh as usize;
                // Max and min propagate NaN, which is also how ±inf operands read (crate::bf16):
                // a window touching −inf padding gives 0x7F7F.
                match kind {
                    Kind::Max => {
                        acc.fill(f32::NEG_INFINITY);
                        win.fold_row(
                            &mut acc,
                            plane,
                            oh_u,
                            |_| (),
                            |a: f32, v: f32, _| if a.is_nan() || v.is_nan() { f32::NAN } else { a.max(v) },
                        );
                    }
                    Kind::Min => {
                        acc.fill(f32::INFINITY);
                        win.fold_row(
                            &mut acc,
                            plane,
                            oh_u,
                            |_| (),
                            |a: f32, v: f32, _| if a.is_nan() || v.is_nan() { f32::NAN } else { a.min(v) },
                        );
                    }
                    Kind::Avg => {
                        acc.fill(0.0);
                        win.fold_row(&mut acc, plane, oh_u, |_| (), |a: f32, v: f32, _| arith::f32_mac(a, v, k));
                    }
                }
                for (o, &a) in acc.iter().enumerate() {
                    let at = rb[c] + res.inner(n as u32, oh, o as u32);
                    lmem.data[at..at + 2].copy_from_slice(&bf16::bf16_result(a).to_le_bytes());
                }
            }
        }
    }
    Ok(())
}
