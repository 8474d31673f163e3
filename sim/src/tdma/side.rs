//! Which descriptor fields describe each side of a transfer (spec `isa.md` §4.1–4.3), and turning
//! a side plus a shape into a bounds-checked tensor.

use super::walk::Walk;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{GTensor, Gmem, LTensor, Lmem};
use cvsim_isa::Operand;
use cvsim_isa::{Direction, TdmaDesc};

/// The address and strides of one side. Shapes are chosen by each mode (§4.3), so they are not here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Side {
    pub global: bool,
    pub sel: u32,
    pub addr: u64,
    pub n_str: u32,
    pub c_str: u32,
    pub h_str: u32,
    pub what: Label,
    high_field: &'static str,
}

impl Side {
    pub fn src(d: &TdmaDesc, dir: Direction) -> Side {
        Side {
            global: dir.src_is_global(),
            sel: d.src_base_reg_sel,
            addr: d.src_addr(),
            n_str: d.src_n_stride,
            c_str: d.src_c_stride(),
            h_str: d.src_h_stride,
            what: Label::new(Operand::Src, "TDMA source"),
            high_field: "src_base_addr_high",
        }
    }

    pub fn dst(d: &TdmaDesc, dir: Direction) -> Side {
        Side {
            global: dir.dst_is_global(),
            sel: d.dst_base_reg_sel,
            addr: d.dst_addr(),
            n_str: d.dst_n_stride,
            c_str: d.dst_c_stride(),
            h_str: d.dst_h_stride,
            what: Label::new(Operand::Dst, "TDMA destination"),
            high_field: "dst_base_addr_high",
        }
    }

    /// The local address (`lane << 15 | offset`); the 8 high address bits must be clear.
    pub fn lmem_addr(&self) -> ExecResult<u32> {
        if self.addr >> 32 != 0 {
            return Err(ExecErrorKind::Illegal {
                field: self.high_field,
                value: (self.addr >> 32) as i64,
                why: "a local-memory address has no bits above 31",
            });
        }
        Ok(self.addr as u32)
    }

    /// This side as a local tensor of `shape` (n, c, h, w); W is dense.
    pub fn local(&self, [n, c, h, w]: [u32; 4], esz: usize) -> ExecResult<LTensor> {
        let esz = esz as u32;
        Ok(LTensor {
            addr: self.lmem_addr()?,
            n,
            c,
            h,
            w,
            n_str: self.n_str,
            c_str: self.c_str,
            h_str: self.h_str,
            w_str: esz,
            esz,
        })
    }

    /// This side as a bounds-checked global tensor of `shape`.
    pub fn global(&self, gmem: &Gmem, [n, c, h, w]: [u32; 4], esz: usize) -> ExecResult<GTensor> {
        GTensor::resolve(
            gmem,
            self.sel,
            self.addr,
            n,
            c,
            h,
            w,
            self.n_str as u64,
            self.c_str as u64,
            self.h_str as u64,
            esz as u32,
        )
    }

    /// This side as a walk over `shape` in (n, c, h, w) order.
    pub fn walk(&self, lmem: &Lmem, gmem: &Gmem, shape: [u32; 4], esz: usize) -> ExecResult<Walk> {
        if self.global {
            Ok(Walk::global(&self.global(gmem, shape, esz)?))
        } else {
            Walk::local(lmem, &self.local(shape, esz)?, self.what)
        }
    }
}

/// `Illegal` unless `a == b`: two fields the hardware assumes equal.
pub(crate) fn require_eq(field: &'static str, value: u32, expected: u32, why: &'static str) -> ExecResult {
    if value == expected {
        Ok(())
    } else {
        Err(ExecErrorKind::Illegal { field, value: value as i64, why })
    }
}
