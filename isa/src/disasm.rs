//! Disassembly: one line per descriptor, and with `verbose` every field with its bit range.

use crate::chip::{Chip, LMEM_SHIFT};
use crate::cmdbuf::{Command, Desc};
use crate::codec::Fields;
use crate::layout::{FieldKind, Layout};
use crate::op::{Direction, Operand, TdmaKind, TiuKind, TiuOp};
use crate::region::Region;
use crate::tdma::{tdma_layout, TdmaDesc};
use crate::tiu::{tiu_layout, TiuDesc};
use std::fmt::Write;

fn lmem(addr: u32) -> String {
    format!("L{}:{:#06x}", addr >> LMEM_SHIFT, addr & ((1 << LMEM_SHIFT) - 1))
}

fn gmem(sel: u32, addr: u64) -> String {
    format!("{}+{:#x}", Region::of_base_reg(sel).name(), addr)
}

/// A reserved field whose value differs from what the layout table expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedMismatch {
    pub field: &'static str,
    pub value: u32,
    pub expected: u32,
}

fn reserved_mismatches<D: Fields>(layout: &Layout<D::Id>, d: &D) -> Vec<ReservedMismatch> {
    layout
        .fields
        .iter()
        .filter_map(|f| match f.kind {
            FieldKind::Reserved { expected } if d.get(f.id) != expected => {
                Some(ReservedMismatch { field: f.name, value: d.get(f.id), expected })
            }
            _ => None,
        })
        .collect()
}

/// Reserved fields of a descriptor that differ from their expected values.
pub fn check_reserved(chip: Chip, desc: &Desc) -> Vec<ReservedMismatch> {
    match desc {
        Desc::Tiu(d) => reserved_mismatches(tiu_layout(chip), &**d),
        Desc::Tdma(d) => reserved_mismatches(tdma_layout(chip), &**d),
        Desc::Cpu(_) => Vec::new(),
    }
}

fn field_lines<D: Fields>(layout: &Layout<D::Id>, d: &D, out: &mut String) {
    for f in layout.fields {
        let v = d.get(f.id);
        let shown = f.interpret(v);
        let _ = write!(out, "    {:<24} {:<18} = {:<11} {:#x}", f.name, f.bit_range(), shown, v);
        if let FieldKind::Reserved { expected } = f.kind {
            if v != expected {
                let _ = write!(out, "  <- reserved, expected {expected:#x}");
            }
        }
        out.push('\n');
    }
}

/// Every field of a descriptor, one per line, with its bit range and value.
pub fn verbose_fields(chip: Chip, desc: &Desc) -> String {
    let mut s = String::new();
    match desc {
        Desc::Tiu(d) => field_lines(tiu_layout(chip), &**d, &mut s),
        Desc::Tdma(d) => field_lines(tdma_layout(chip), &**d, &mut s),
        Desc::Cpu(c) => {
            let _ = writeln!(
                s,
                "    op_type={} num_tiu={} num_tdma={} name={:?}",
                c.op_type(),
                c.num_tiu(),
                c.num_tdma(),
                c.name()
            );
        }
    }
    s
}

fn shape4(n: u32, c: u32, h: u32, w: u32) -> String {
    format!("({n},{c},{h},{w})")
}

fn tiu_stride(code: u32, n: u32, c: u32, h: u32, w: u32) -> String {
    match code {
        0 => String::new(),
        1 => "/wgt".to_string(),
        2 => "/chan".to_string(),
        _ => format!("/s({n},{c},{h},{w})"),
    }
}

/// The operation name with its data path, e.g. `conv.i8.qm` or `add.bf16`.
pub fn tiu_op_name(chip: Chip, d: &TiuDesc) -> String {
    let op = d.op(chip);
    let mut s = match op {
        TiuOp::Unknown { tsk_typ, eu_typ } => format!("unknown(tsk={tsk_typ},eu={eu_typ})"),
        _ => op.name().to_string(),
    };
    s.push_str(if d.is_bf16() { ".bf16" } else { ".i8" });
    if d.opt_chl_quan != 0 && op != TiuOp::MulQm {
        s.push_str(".qm");
    }
    match d.ps32_md {
        2 => s.push_str(".ps32_first"),
        3 => s.push_str(".ps32_mid"),
        1 => s.push_str(".ps32_last"),
        _ => {}
    }
    s
}

fn tiu_operands(chip: Chip, d: &TiuDesc) -> String {
    let op = d.op(chip);
    let mut s = String::new();
    let sg = |signed: u32| if signed != 0 { "s" } else { "u" };
    let seg = |v: u32| if v == 0 { "16" } else { "8" };
    let _ = write!(
        s,
        "res={}{}{} ",
        lmem(d.res0_addr),
        shape4(d.res0_n, d.res0_c, d.res0_h, d.res0_w),
        tiu_stride(d.short_res0_str, d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str)
    );
    if !d.is_bf16() {
        let _ = write!(s, "{}{} ", sg(d.opt_res0_sign), seg(d.opt_res0_seg));
    }
    let _ = write!(
        s,
        "opd0={}{}{} ",
        lmem(d.opd0_addr),
        shape4(d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w),
        tiu_stride(d.short_opd0_str, d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str)
    );
    if !d.is_bf16() {
        let _ = write!(s, "{}{} ", sg(d.opt_opd0_sign), seg(d.opt_opd0_seg));
    }
    let kind = op.info().map(|i| i.kind);
    let windowed = kind.is_some_and(TiuKind::windowed);
    if op.reads().contains(Operand::Opd1) && d.tsk_opd_num >= 2 {
        if d.opt_opd1_const != 0 {
            let _ = write!(s, "opd1=#{:#x} ", d.opd1_addr);
        } else {
            let _ = write!(
                s,
                "opd1={}{}{} ",
                lmem(d.opd1_addr),
                shape4(d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w),
                tiu_stride(d.short_opd1_str, d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str)
            );
        }
    }
    // Per-channel quantisation records of a windowed op lie in opd2 whatever `tsk_opd_num` says.
    if d.tsk_opd_num == 3 || (d.opt_chl_quan != 0 && windowed && op.reads().contains(Operand::Opd2)) {
        let _ = write!(s, "opd2={} ", lmem(d.opd2_addr));
    }
    if windowed {
        let _ = write!(
            s,
            "k={}x{} s={}x{} pad=[{},{},{},{}] ",
            d.opd1_h,
            d.opd1_w,
            d.conv_op_y_str,
            d.conv_op_x_str,
            d.conv_opd0_up_pad,
            d.conv_opd0_dn_pad,
            d.conv_opd0_lf_pad,
            d.conv_opd0_rt_pad
        );
        if d.conv_opd1_x_ins0 != 0 || d.conv_opd1_y_ins0 != 0 {
            let _ = write!(s, "dil={}x{} ", d.conv_opd1_y_ins0 + 1, d.conv_opd1_x_ins0 + 1);
        }
        if d.conv_opd0_x_ins0 | d.conv_opd0_y_ins0 | d.conv_opd0_x_ins0_last | d.conv_opd0_y_ins0_last != 0 {
            let _ = write!(
                s,
                "ins=[{},{},{},{}] ",
                d.conv_opd0_y_ins0, d.conv_opd0_x_ins0, d.conv_opd0_y_ins0_last, d.conv_opd0_x_ins0_last
            );
        }
        let pad = d.pad_value(chip);
        if pad != 0 {
            let _ = write!(s, "padv={pad:#x} ");
        }
    }
    if d.opt_chl_quan != 0 && matches!(op, TiuOp::MulQm | TiuOp::Matmul) {
        let _ = write!(s, "quan_m={:#x} ", d.quan_m);
    }
    if !d.is_bf16() {
        let _ = write!(s, "rs={} ", d.res_shift(chip));
        if matches!(op, TiuOp::Mac | TiuOp::Matmul) && d.opt_res_add != 0 {
            let _ = write!(s, "ls={} add ", d.opt_left_shift);
        }
    }
    if d.opt_relu_typ != 0 && kind != Some(TiuKind::Pool) {
        s.push_str("relu ");
    }
    if d.double_conv != 0 {
        s.push_str("dconv ");
    }
    s.trim_end().to_string()
}

fn tdma_operands(d: &TdmaDesc) -> String {
    let op = d.op();
    let mut s = String::new();
    let src = if op.dir.src_is_global() { gmem(d.src_base_reg_sel, d.src_addr()) } else { lmem(d.src_addr() as u32) };
    let dst = if op.dir.dst_is_global() { gmem(d.dst_base_reg_sel, d.dst_addr()) } else { lmem(d.dst_addr() as u32) };
    match op.kind {
        TdmaKind::General => {
            let _ = write!(s, "src={src} dst={dst} bytes={}", d.src_n_stride);
        }
        TdmaKind::Fill => {
            let _ = write!(
                s,
                "dst={dst}({},{},{},{}) str=({},{},{}) val={:#x}",
                d.src_n,
                d.dst_c,
                d.dst_h,
                d.dst_w,
                d.dst_n_stride,
                d.dst_c_stride(),
                d.dst_h_stride,
                d.const_val
            );
        }
        _ => {
            let _ = write!(
                s,
                "src={src}({},{},{},{}) str=({},{},{}) dst={dst}(_,{},{},{}) str=({},{},{})",
                d.src_n,
                d.src_c,
                d.src_h,
                d.src_w,
                d.src_n_stride,
                d.src_c_stride(),
                d.src_h_stride,
                d.dst_c,
                d.dst_h,
                d.dst_w,
                d.dst_n_stride,
                d.dst_c_stride(),
                d.dst_h_stride
            );
            if op.src_fmt != op.dst_fmt && op.dst_fmt == crate::op::Fmt::I8 {
                let _ = write!(
                    s,
                    " {} rnd={}",
                    if d.int8_sign != 0 { "s8" } else { "u8" },
                    if d.int8_rnd_mode != 0 { "rz" } else { "rne" }
                );
            }
            if op.compressed && op.dir == Direction::L2G {
                let _ = write!(s, " bias=({},{}) zg={}", d.compress_bias0, d.compress_bias1, d.compress_zero_guard);
            }
        }
    }
    s
}

/// The id a command waits for, prefixed by the other engine's letter, or `-`.
fn wait(cmd: &Command, engine: char) -> String {
    match cmd.desc.wait_id() {
        Some(w) if w != 0 => format!("{engine}{w}"),
        _ => "-".into(),
    }
}

/// One line for one command: routine, engine, index, sync ids, operation and operands.
pub fn line(chip: Chip, routine: &str, index: usize, cmd: &Command) -> String {
    match &cmd.desc {
        Desc::Tiu(d) => format!(
            "{routine} TIU  #{index:<5} id={:<5} wait={:<5} {:<22} {}",
            d.cmd_id_tpu,
            wait(cmd, 'D'),
            tiu_op_name(chip, d),
            tiu_operands(chip, d)
        ),
        Desc::Tdma(d) => format!(
            "{routine} TDMA #{index:<5} id={:<5} wait={:<5} {:<22} {}",
            d.cmd_id,
            wait(cmd, 'T'),
            d.op().name(),
            tdma_operands(d)
        ),
        Desc::Cpu(c) => format!("{routine} CPU  #{index:<5} op_type={} name={:?}", c.op_type(), c.name()),
    }
}
