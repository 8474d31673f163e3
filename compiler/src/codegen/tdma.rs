//! TDMA moves between global and local memory, field by field from the emitter reset values as
//! cvikernel fills them (isa.md §4.1, §4.2).

use super::local::Local;
use cvsim_isa::{Chip, TdmaDesc};

/// A global tensor side: region, offset and (n, c, h) byte strides; W is dense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub region: u8,
    pub offset: u64,
    pub n_str: u32,
    pub c_str: u32,
    pub h_str: u32,
}

impl Global {
    /// Dense NCHW int8 of shape (_, c, h, w).
    pub fn dense(region: u8, offset: u64, c: u32, h: u32, w: u32) -> Global {
        Global { region, offset, n_str: c * h * w, c_str: h * w, h_str: w }
    }

    /// The same strides, `bytes` further on.
    pub fn at(self, bytes: u64) -> Global {
        Global { offset: self.offset + bytes, ..self }
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
pub fn g2l_tensor(chip: Chip, g: &Global, l: &Local, signed: bool) -> TdmaDesc {
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
pub fn l2g_tensor(chip: Chip, l: &Local, g: &Global, signed: bool) -> TdmaDesc {
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
pub fn g2l_matrix(chip: Chip, region: u8, offset: u64, row_stride: u32, cols: u32, l: &Local) -> TdmaDesc {
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
pub fn l2g_matrix(chip: Chip, l: &Local, cols: u32, region: u8, offset: u64, row_stride: u32) -> TdmaDesc {
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
