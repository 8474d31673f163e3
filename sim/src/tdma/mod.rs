//! TDMA execution: transfers between global and local memory (spec `isa.md` §4).
//!
//! Every access is bounds-checked once per descriptor when its side is resolved (`side`, `walk`,
//! `matrix`); the element loops then run on slices.
//!
//! - `tensor`: tensor copies in all four directions (strides, reshape, format conversion) and the
//!   N↔C transpose;
//! - `matrix`: matrix copies (global rows ↔ local chunked rows);
//! - `transpose`: matrix row/column transpose, C↔W transpose, HWC → CHW;
//! - `general`: flat byte copies (`trans_fmt = 1`);
//! - `fill`: constant fill (`spec_func = 4`);
//! - `convert`: int8 ↔ bf16 element conversion and the converter plumbing;
//! - `lut_move`: the `mv_lut_idx` / `mv_lut_base` moves;
//! - `compress`: VLC-compressed loads and stores;
//! - `side`, `walk`: how descriptor fields name a side, and the row walker that moves data.

mod compress;
mod convert;
mod fill;
mod general;
pub mod lut_move;
mod matrix;
mod side;
mod tensor;
mod transpose;
mod walk;

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Chip, TdmaDesc, TdmaKind};

/// Execute one TDMA descriptor.
pub fn exec(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc) -> ExecResult {
    reject_unused_fields(d)?;
    let op = d.op();
    if op.lut_idx || op.lut_base {
        return lut_move::exec(lmem, gmem, d);
    }
    if op.compressed {
        return compress::exec(chip, lmem, gmem, d, op);
    }
    let dir = op.dir;
    if d.transpose_md != 0 && d.spec_func != 1 {
        return Err(ExecErrorKind::Illegal {
            field: "transpose_md",
            value: d.transpose_md as i64,
            why: "a transpose mode needs spec_func = 1",
        });
    }
    match op.kind {
        TdmaKind::General => general::exec(chip, lmem, gmem, d, dir),
        TdmaKind::Tensor => tensor::copy(chip, lmem, gmem, d, dir),
        TdmaKind::NcTranspose => tensor::nc_transpose(chip, lmem, gmem, d, dir),
        TdmaKind::Matrix => matrix::copy(chip, lmem, gmem, d, dir),
        TdmaKind::RowColTranspose => transpose::row_col(lmem, gmem, d, dir),
        TdmaKind::Fill | TdmaKind::CwTranspose | TdmaKind::HwcToChw(_) if d.sys_dtype != 0 => {
            Err(ExecErrorKind::Illegal {
                field: "sys_dtype",
                value: d.sys_dtype as i64,
                why: "this mode has no matrix form",
            })
        }
        TdmaKind::Fill => fill::exec(lmem, gmem, d, dir),
        TdmaKind::CwTranspose => transpose::cw(lmem, gmem, d, dir),
        TdmaKind::HwcToChw(c) => transpose::hwc_to_chw(lmem, gmem, d, dir, c as u32),
        TdmaKind::Unknown { spec_func, transpose_md } => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA spec_func = {spec_func} (transpose_md = {transpose_md}); only 0, 1 and 4 are defined"),
        }),
    }
}

/// Fields cvikernel never sets (spec §8 item 5): refuse a non-default value instead of guessing.
fn reject_unused_fields(d: &TdmaDesc) -> ExecResult {
    for (field, v) in [
        ("check_bf16_value", d.check_bf16_value),
        ("wait_id_other_tdma", d.wait_id_other_tdma),
        ("wait_id_sdma", d.wait_id_sdma),
    ] {
        if v != 0 {
            return Err(ExecErrorKind::Unsupported {
                what: format!("TDMA field `{field}` = {v} (never emitted; meaning unknown)"),
            });
        }
    }
    Ok(())
}
