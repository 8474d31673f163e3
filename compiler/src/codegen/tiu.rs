//! Shared pieces of TIU descriptors: operand shapes and explicit strides.

use super::local::Local;
use cvsim_isa::TiuDesc;

/// Element-wise operation codes (`tsk_eu_typ` of `tsk_typ` 3, isa.md §3.4).
pub mod eu {
    pub const MUL: u32 = 0;
    pub const MAC: u32 = 1;
    pub const ADD: u32 = 2;
    pub const SUB: u32 = 3;
    pub const MAX: u32 = 4;
    pub const MIN: u32 = 5;
    pub const XOR: u32 = 9;
    pub const COPY: u32 = 10;
}

pub fn res0_shape(d: &mut TiuDesc, t: &Local) {
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (t.n, t.c, t.h, t.w);
}

pub fn opd0_shape(d: &mut TiuDesc, t: &Local) {
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (t.n, t.c, t.h, t.w);
}

pub fn res0_strides(d: &mut TiuDesc, t: &Local) {
    (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str) = (t.n_str, t.c_str, t.h_str, t.w_str);
}

pub fn opd0_strides(d: &mut TiuDesc, t: &Local) {
    (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str) = (t.n_str, t.c_str, t.h_str, t.w_str);
}

pub fn opd1_strides(d: &mut TiuDesc, t: &Local) {
    (d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str) = (t.n_str, t.c_str, t.h_str, t.w_str);
}
