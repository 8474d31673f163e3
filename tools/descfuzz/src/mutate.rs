//! One fuzz case from a template: fresh data in every region the program reads (edge values
//! first: int8 −128/127/0/±1, bf16 ±0, ±inf, NaNs, subnormals, ±max) and random values in the
//! value fields of each operation (result shift, ReLU, operand and result signedness) within what
//! the vendor's emitter writes for that operation.

use cvsim_isa::tiu::tiu_layout;
use cvsim_isa::{Chip, Desc, LayoutFamily, TiuField, TiuOp};
use cvsim_compiler::example::SplitMix64;

use crate::templates::Template;

pub struct Case {
    pub template: usize,
    pub descs: Vec<Desc>,
    pub init: Vec<(u64, Vec<u8>)>,
    /// What was changed, for the report of a difference.
    pub notes: Vec<String>,
}

const BF16_EDGES: [u16; 16] = [
    0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFF81, 0x0001, 0x8005, 0x007F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80,
    0x3F81,
];
const I8_EDGES: [u8; 5] = [0x80, 0x7F, 0x00, 0xFF, 0x01];

fn bf16_value(rng: &mut SplitMix64) -> u16 {
    if rng.range(0, 3) == 0 {
        BF16_EDGES[rng.range(0, BF16_EDGES.len() as i64 - 1) as usize]
    } else {
        // Mostly normal numbers near 1, so that sums and products stay finite often enough.
        let sign = (rng.range(0, 1) as u16) << 15;
        let exp = rng.range(127 - 12, 127 + 12) as u16;
        sign | exp << 7 | rng.range(0, 127) as u16
    }
}

fn i8_value(rng: &mut SplitMix64) -> u8 {
    if rng.range(0, 3) == 0 {
        I8_EDGES[rng.range(0, I8_EDGES.len() as i64 - 1) as usize]
    } else {
        rng.range(0, 255) as u8
    }
}

/// Whether the template's data are bf16 elements.
fn bf16_data(t: &Template) -> bool {
    if t.family.starts_with("tiu_") {
        return t.family.ends_with("_bf16");
    }
    let s = t.sub.as_str();
    (s.contains("bf16") && !s.contains("i8_to_bf16")) || t.family == "tdma_lut_move"
}

/// Which regions get fresh data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Every region (activations, weights, quantisation records, tables, backgrounds).
    All,
    /// The first region only (the main operand); the rest keep the template's values.
    First,
    Keep,
}

fn fresh_data(chip: Chip, t: &Template, rng: &mut SplitMix64, mode: DataMode) -> Vec<(u64, Vec<u8>)> {
    let mut out = fresh_bytes(t, rng, mode);
    // CV183x record shifts: the emitters' 0..=31 except in one case in 25 (the rest of the byte
    // range is probed rarely).
    if let (Some((i, rb)), false) = (t.records, chip.layout().signed_shifts()) {
        if mode != DataMode::Keep && !coin(rng, 25) {
            let bytes = &mut out[i].1;
            for r in bytes.chunks_mut(rb) {
                if let Some(last) = r.last_mut() {
                    *last &= 31;
                }
            }
        }
    }
    out
}

fn fresh_bytes(t: &Template, rng: &mut SplitMix64, mode: DataMode) -> Vec<(u64, Vec<u8>)> {
    // A compressed stream must stay a valid stream: the decompress vectors keep their data.
    if mode == DataMode::Keep || (t.family == "tdma_vlc" && t.sub.contains("decompress")) {
        return t.init.clone();
    }
    let bf16 = bf16_data(t);
    let lut_idx = t.family == "tdma_lut_move";
    t.init
        .iter()
        .enumerate()
        .map(|(i, (addr, old))| {
            // The vendor asserts that a shift amount lies in −16..=16: the arithmetic-shift
            // vectors keep their shift operand.
            if (mode == DataMode::First || t.sub == "arith_shift") && i > 0 {
                return (*addr, old.clone());
            }
            let mut bytes = Vec::with_capacity(old.len());
            if bf16 {
                while bytes.len() + 1 < old.len() {
                    let mut v = bf16_value(rng);
                    // The index move's input domain: the vendor asserts on NaN (and, it turns
                    // out, on negative values); one case in 200 keeps them to check the refusal.
                    if lut_idx && rng.range(0, 199) != 0 {
                        v &= 0x7FFF;
                        if v > 0x7F80 {
                            v = 0x7F80;
                        }
                    }
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            while bytes.len() < old.len() {
                bytes.push(i8_value(rng));
            }
            (*addr, bytes)
        })
        .collect()
}

fn field_max(chip: Chip, f: TiuField) -> u32 {
    let w = tiu_layout(chip).fields.iter().find(|s| s.id == f).map_or(0, |s| s.width as u32);
    if w >= 32 {
        u32::MAX
    } else {
        (1u32 << w) - 1
    }
}

fn set_field(d: &mut cvsim_isa::TiuDesc, f: TiuField, v: u32, notes: &mut Vec<String>) {
    if d.get(f) != v {
        notes.push(format!("{}={v}", f.name()));
        d.set(f, v);
    }
}

fn coin(rng: &mut SplitMix64, one_in: i64) -> bool {
    rng.range(0, one_in - 1) == 0
}

/// Pads, insertions, dilation and strides of a windowed op (conv, depthwise, pooling), then the
/// output shrunk to what the new geometry allows (never grown, so the result still fits the
/// template's store). Left alone when the kernel would no longer fit.
fn mutate_window(chip: Chip, d: &mut cvsim_isa::TiuDesc, rng: &mut SplitMix64, notes: &mut Vec<String>, dilate: bool, exact: bool, inserts: bool) {
    let mut e = d.clone();
    let small = |rng: &mut SplitMix64, f: TiuField, hi: u32| rng.range(0, hi.min(field_max(chip, f)) as i64) as u32;
    for f in [TiuField::conv_opd0_up_pad, TiuField::conv_opd0_dn_pad, TiuField::conv_opd0_lf_pad, TiuField::conv_opd0_rt_pad] {
        if coin(rng, 2) {
            e.set(f, small(rng, f, 3));
        }
    }
    if coin(rng, 3) {
        for f in [TiuField::conv_opd0_y_ins0, TiuField::conv_opd0_x_ins0] {
            e.set(f, small(rng, f, 2));
        }
        for f in [TiuField::conv_opd0_y_ins0_last, TiuField::conv_opd0_x_ins0_last] {
            e.set(f, small(rng, f, 1));
        }
    }
    if dilate && coin(rng, 3) {
        for f in [TiuField::conv_opd1_y_ins0, TiuField::conv_opd1_x_ins0] {
            e.set(f, small(rng, f, 2));
        }
    }
    if coin(rng, 2) {
        e.conv_op_y_str = 1 + small(rng, TiuField::conv_op_y_str, 2);
        e.conv_op_x_str = 1 + small(rng, TiuField::conv_op_x_str, 2);
    }
    if coin(rng, 3) {
        // The pad / insert value.
        let v = if e.is_bf16() { bf16_value(rng) as u32 } else { i8_value(rng) as u32 };
        e.set_pad_value(chip, v);
    }
    let (kh, kw) = (d.opd1_h.max(1), d.opd1_w.max(1));
    let max_out = |input: u32, ins: u32, last: u32, lo: u32, hi: u32, k: u32, dil: u32, st: u32| -> u32 {
        let len = lo + (input.max(1) - 1) * (ins + 1) + 1 + last + hi;
        let ext = (k - 1) * (dil + 1) + 1;
        if ext > len {
            0
        } else {
            (len - ext) / st + 1
        }
    };
    // Max and min pooling ignore the insertion fields.
    let mut g = e.clone();
    if !inserts {
        (g.conv_opd0_x_ins0, g.conv_opd0_y_ins0, g.conv_opd0_x_ins0_last, g.conv_opd0_y_ins0_last) = (0, 0, 0, 0);
    }
    let e2 = &g;
    let oh = max_out(e.opd0_h, e2.conv_opd0_y_ins0, e2.conv_opd0_y_ins0_last, e.conv_opd0_up_pad, e.conv_opd0_dn_pad, kh, e.conv_opd1_y_ins0, e.conv_op_y_str);
    let ow = max_out(e.opd0_w, e2.conv_opd0_x_ins0, e2.conv_opd0_x_ins0_last, e.conv_opd0_lf_pad, e.conv_opd0_rt_pad, kw, e.conv_opd1_x_ins0, e.conv_op_x_str);
    // A convolution must ask for exactly the outputs its geometry gives (the vendor asserts it),
    // and never more than the template's store holds.
    if oh == 0 || ow == 0 || (exact && (oh > d.res0_h || ow > d.res0_w)) {
        return;
    }
    e.res0_h = d.res0_h.min(oh);
    e.res0_w = d.res0_w.min(ow);
    for &f in TiuField::ALL {
        let v = e.get(f);
        set_field(d, f, v, notes);
    }
}

fn mutate_tiu(chip: Chip, d: &mut cvsim_isa::TiuDesc, rng: &mut SplitMix64, notes: &mut Vec<String>) {
    let orig = d.clone();
    let t_sign = |f: TiuField| orig.get(f);
    use TiuOp::*;
    let op = d.op(chip);
    let bf16 = d.is_bf16();
    let cv18x = chip.layout() == LayoutFamily::Cv18x;
    let set = set_field;
    // One case in 100 probes settings the vendor refuses; the rest stay within what it accepts.
    let wild = coin(rng, 100);
    // Per-tensor result shift over the whole field (CV18[0-2]x: 0..=63), with both shift
    // flavours where the layout has them. Per-channel paths take theirs from the records in
    // memory, which the data already vary.
    let shift_ok = wild || !(op == Matmul && matches!(d.ps32_md, 2 | 3));
    if !bf16 && d.opt_chl_quan == 0 && shift_ok && matches!(op, Conv | DepthwiseConv | Matmul | Mul | Mac | Add | AvgPool | MdSum) && coin(rng, 2) {
        let hi = field_max(chip, TiuField::opt_res_shift);
        // Mostly the shifts compilers emit, sometimes any; shifts without a reference output
        // (`Quirks::res_shift_over_32_unreproducible`) only in the rare wild cases.
        let hi = if chip.quirks().res_shift_over_32_unreproducible && !wild { hi.min(32) } else { hi };
        let v = if coin(rng, 4) { rng.range(0, hi as i64) } else { rng.range(0, 16) } as u32;
        set(d, TiuField::opt_res_shift, v, notes);
        // Depthwise and average pooling only round; the shift's flavour follows the result's
        // sign (fixed up at the end) unless probing.
        if cv18x && coin(rng, 3) && (wild || !matches!(op, DepthwiseConv | AvgPool)) {
            let v = d.opt_rshift_typ ^ 1;
            set(d, TiuField::opt_rshift_typ, v, notes);
        }
        if cv18x && wild && coin(rng, 3) {
            let v = d.opt_shift_typ ^ 1;
            set(d, TiuField::opt_shift_typ, v, notes);
        }
    }
    let relu_ok = wild || !(matches!(op, Mul | Mac | Add | Sub) && d.opt_res0_seg == 0 || op == Matmul && matches!(d.ps32_md, 2 | 3));
    if matches!(op, Conv | DepthwiseConv | Matmul | Mul | Mac | Add | Sub | Max | Min | MulQm) && d.opt_relu_typ <= 1 && relu_ok && coin(rng, 2) {
        let v = d.opt_relu_typ ^ 1;
        set(d, TiuField::opt_relu_typ, v, notes);
    }
    if !bf16 {
        // Pooling keeps its input's signedness.
        if matches!(op, MaxPool | AvgPool | MinPool) && !wild && coin(rng, 3) {
            let v = d.opt_opd0_sign ^ 1;
            set(d, TiuField::opt_opd0_sign, v, notes);
            set(d, TiuField::opt_res0_sign, v, notes);
        }
        if (matches!(op, Conv | DepthwiseConv | Matmul | Mul | Mac | Add | Sub | MdSum) || wild && matches!(op, Max | Min | Ge | MaxPool | AvgPool | MinPool))
            && coin(rng, 3)
        {
            let v = d.opt_opd0_sign ^ 1;
            set(d, TiuField::opt_opd0_sign, v, notes);
        }
        if matches!(op, Conv | Matmul | Mul | Mac | Add | Sub) && d.opt_opd1_const == 0 && coin(rng, 3)
            || wild && matches!(op, DepthwiseConv | Max | Min | Ge) && coin(rng, 2)
        {
            let v = d.opt_opd1_sign ^ 1;
            set(d, TiuField::opt_opd1_sign, v, notes);
        }
        if matches!(op, Add | Sub | MdSum) && coin(rng, 3) || wild && matches!(op, Max | Min | Ge | Mul | Mac | Matmul) && coin(rng, 2) {
            let v = d.opt_res0_sign ^ 1;
            set(d, TiuField::opt_res0_sign, v, notes);
        }
        // Max and min keep one signedness for operands and result.
        if matches!(op, Max | Min | Ge) && !wild && coin(rng, 3) {
            let v = d.opt_res0_sign ^ 1;
            set(d, TiuField::opt_res0_sign, v, notes);
            set(d, TiuField::opt_opd0_sign, v, notes);
            set(d, TiuField::opt_opd1_sign, v, notes);
        }
        // A sum's or product's result is signed exactly when an operand is; a per-channel
        // quantised conv keeps a signed operand; the matrix multiply keeps the template's signs.
        if op == Conv && d.opt_chl_quan != 0 && !wild && d.opt_opd0_sign == 0 && d.opt_opd1_sign == 0 {
            set(d, TiuField::opt_opd1_sign, 1, notes);
        }
        if op == Matmul && !wild {
            for f in [TiuField::opt_opd0_sign, TiuField::opt_opd1_sign, TiuField::opt_res0_sign, TiuField::opt_shift_typ] {
                let v = t_sign(f);
                set(d, f, v, notes);
            }
        }
        // A difference and a convolution keep a signed operand (the vendor asserts a signed sub
        // result, and a signed convolution result on CV18[0-2]x).
        if matches!(op, Sub | Conv) && !wild && d.opt_opd0_sign == 0 && d.opt_opd1_sign == 0 {
            set(d, TiuField::opt_opd0_sign, 1, notes);
        }
        if matches!(op, Mul | Mac | Conv | Add | Sub) && !wild && !(op == Conv && d.opt_chl_quan != 0) {
            let v = (d.opt_opd0_sign | d.opt_opd1_sign).min(1);
            set(d, TiuField::opt_res0_sign, v, notes);
            // An arithmetic shift goes with a signed result.
            if cv18x && d.plain_res_shift() != 0 {
                set(d, TiuField::opt_shift_typ, v, notes);
            }
        }
    }
    if op == MdSum && coin(rng, 2) {
        let v = d.opt_res0_seg ^ 1;
        set(d, TiuField::opt_res0_seg, v, notes);
    }
    // A shift's flavour follows the result's sign: arithmetic for a signed result.
    if cv18x && !bf16 && !wild && d.opt_chl_quan == 0 && d.plain_res_shift() != 0
        && matches!(op, Conv | DepthwiseConv | AvgPool | Matmul | Mul | Mac | Add | Sub)
    {
        let v = d.opt_res0_sign.min(1);
        set(d, TiuField::opt_shift_typ, v, notes);
    }
    // A constant operand: any value of its type.
    if op.is_elementwise() && d.opt_opd1_const != 0 && coin(rng, 2) {
        let v = if bf16 { bf16_value(rng) as u32 } else { i8_value(rng) as u32 };
        set(d, TiuField::opd1_addr, v, notes);
    }
    if matches!(op, Conv | DepthwiseConv | MaxPool | AvgPool | MinPool) && coin(rng, 3) {
        mutate_window(chip, d, rng, notes, matches!(op, Conv | DepthwiseConv), op == Conv, !matches!(op, MaxPool | MinPool));
    }
    // Element-wise operands with explicit strides: read strides shrunk, so that rows and
    // channels overlap (every read stays inside the template's operand).
    if op.is_elementwise() && d.short_opd0_str == 3 && coin(rng, 4) {
        // bf16 strides stay even unless probing.
        let even = |v: u32| if bf16 && !wild { v & !1 } else { v };
        let v = even(rng.range(0, d.opd0_h_str as i64) as u32);
        set(d, TiuField::opd0_h_str, v, notes);
        if coin(rng, 2) {
            let v = even(rng.range(0, d.opd0_c_str as i64) as u32);
            set(d, TiuField::opd0_c_str, v, notes);
        }
    }
}

fn mutate_tdma(d: &mut cvsim_isa::TdmaDesc, bf16: bool, rng: &mut SplitMix64, notes: &mut Vec<String>) {
    use cvsim_isa::{TdmaField as F, TdmaKind};
    let op = d.op();
    let mut set = |d: &mut cvsim_isa::TdmaDesc, f: F, v: u32| {
        if d.get(f) != v {
            notes.push(format!("{}={v}", f.name()));
            d.set(f, v);
        }
    };
    if op.kind == TdmaKind::Fill && coin(rng, 1) {
        let v = if bf16 { bf16_value(rng) as u32 } else { i8_value(rng) as u32 };
        set(d, F::const_val, v);
    }
    if op.src_fmt != op.dst_fmt && coin(rng, 2) {
        // int8 ↔ bf16 conversions: signedness and the rounding of the narrowing direction.
        let v = d.int8_sign ^ 1;
        set(d, F::int8_sign, v);
        let v = rng.range(0, 1) as u32;
        set(d, F::int8_rnd_mode, v);
    }
}

pub fn make(chip: Chip, index: usize, t: &Template, rng: &mut SplitMix64, mutate_fields: bool, data: DataMode) -> Case {
    let mut notes = Vec::new();
    let mut descs = t.descs.clone();
    if mutate_fields {
        for d in &mut descs {
            match d {
                Desc::Tiu(d) => mutate_tiu(chip, d, rng, &mut notes),
                Desc::Tdma(d) => mutate_tdma(d, bf16_data(t), rng, &mut notes),
                Desc::Cpu(_) => {}
            }
        }
    }
    Case { template: index, descs, init: fresh_data(chip, t, rng, data), notes }
}
