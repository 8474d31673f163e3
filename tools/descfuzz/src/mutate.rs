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

fn fresh_data(t: &Template, rng: &mut SplitMix64, mode: DataMode) -> Vec<(u64, Vec<u8>)> {
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
            if mode == DataMode::First && i > 0 {
                return (*addr, old.clone());
            }
            let mut bytes = Vec::with_capacity(old.len());
            if bf16 {
                while bytes.len() + 1 < old.len() {
                    let mut v = bf16_value(rng);
                    // The index move's input domain: the vendor asserts on NaN (and, it turns
                    // out, on negative values); one case in 16 keeps them to check the refusal.
                    if lut_idx && rng.range(0, 15) != 0 {
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

fn mutate_tiu(chip: Chip, d: &mut cvsim_isa::TiuDesc, rng: &mut SplitMix64, notes: &mut Vec<String>) {
    use TiuOp::*;
    let op = d.op(chip);
    let bf16 = d.is_bf16();
    let set = |d: &mut cvsim_isa::TiuDesc, f: TiuField, v: u32, notes: &mut Vec<String>| {
        if d.get(f) != v {
            notes.push(format!("{}={v}", f.name()));
            d.set(f, v);
        }
    };
    // Per-tensor right shift of the int8 paths that have one (per-channel paths take theirs from
    // the records in memory, which the data already vary).
    if !bf16 && d.opt_chl_quan == 0 && matches!(op, Conv | DepthwiseConv | Matmul | Mul | Add | AvgPool) {
        let hi = field_max(chip, TiuField::opt_res_shift).min(if chip.layout() == LayoutFamily::Cv183x { 31 } else { 24 });
        let v = rng.range(0, hi as i64) as u32;
        set(d, TiuField::opt_res_shift, v, notes);
    }
    if matches!(op, Conv | DepthwiseConv | Matmul | Mul | Add) && d.opt_relu_typ <= 1 && rng.range(0, 1) == 0 {
        let v = d.opt_relu_typ ^ 1;
        set(d, TiuField::opt_relu_typ, v, notes);
    }
    if !bf16 {
        if matches!(op, Conv | DepthwiseConv | MaxPool | AvgPool | MinPool | Matmul | Mul | Add | Max | Min) && rng.range(0, 2) == 0 {
            let v = d.opt_opd0_sign ^ 1;
            set(d, TiuField::opt_opd0_sign, v, notes);
        }
        if matches!(op, Mul | Add | Max | Min) && d.opt_opd1_const == 0 && rng.range(0, 2) == 0 {
            let v = d.opt_opd1_sign ^ 1;
            set(d, TiuField::opt_opd1_sign, v, notes);
        }
        if matches!(op, Mul | Add | Max | Min) && rng.range(0, 2) == 0 {
            let v = d.opt_res0_sign ^ 1;
            set(d, TiuField::opt_res0_sign, v, notes);
        }
    }
}

pub fn make(chip: Chip, index: usize, t: &Template, rng: &mut SplitMix64, mutate_fields: bool, data: DataMode) -> Case {
    let mut notes = Vec::new();
    let mut descs = t.descs.clone();
    if mutate_fields {
        for d in &mut descs {
            if let Desc::Tiu(d) = d {
                mutate_tiu(chip, d, rng, &mut notes);
            }
        }
    }
    Case { template: index, descs, init: fresh_data(t, rng, data), notes }
}
