//! TDMA moves between global and local memory, field by field from the emitter reset values as
//! cvikernel fills them (isa.md §4.1, §4.2).

use super::local::Local;
use cvsim_isa::{Chip, Region, TdmaDesc};

/// A global tensor side: region, offset and (n, c, h) byte strides; W is dense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub region: Region,
    pub offset: u64,
    pub n_str: u32,
    pub c_str: u32,
    pub h_str: u32,
}

impl Global {
    /// Dense NCHW int8 of shape (_, c, h, w).
    pub fn dense(region: Region, offset: u64, c: u32, h: u32, w: u32) -> Global {
        Global { region, offset, n_str: c * h * w, c_str: h * w, h_str: w }
    }

    /// The same strides, `bytes` further on.
    pub fn at(self, bytes: u64) -> Global {
        Global { offset: self.offset + bytes, ..self }
    }
}

/// The descriptor form of a global address: emitters add the chip's `GLOBAL_MEM_START_ADDR`
/// (4 GiB on CV183x, whose vendor simulator rejects addresses below it; isa.md §1.4).
fn gaddr(chip: Chip, g: &Global) -> u64 {
    g.offset + chip.params().gmem_start
}

fn set_src_global(chip: Chip, d: &mut TdmaDesc, g: &Global) {
    let a = gaddr(chip, g);
    d.src_base_reg_sel = g.region.number() as u32;
    d.src_base_addr_low = a as u32;
    d.src_base_addr_high = (a >> 32) as u32;
}

fn set_dst_global(chip: Chip, d: &mut TdmaDesc, g: &Global) {
    let a = gaddr(chip, g);
    d.dst_base_reg_sel = g.region.number() as u32;
    d.dst_base_addr_low = a as u32;
    d.dst_base_addr_high = (a >> 32) as u32;
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
    set_src_global(chip, &mut d, g);
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
    set_dst_global(chip, &mut d, g);
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.c, l.h, l.w);
    (d.dst_c, d.dst_h, d.dst_w) = (l.c, l.h, l.w);
    set_src_strides(&mut d, l.n_str, l.c_str, l.h_str);
    set_dst_strides(&mut d, g.n_str, g.c_str, g.h_str);
    d
}

/// Matrix load: a global `rows × cols` matrix with `row_stride` → the local matrix layout `l`
/// (`sys_dtype = 1`; the source rows go in both `src_n` and `src_c`, isa.md §4.2).
pub fn g2l_matrix(chip: Chip, region: Region, offset: u64, row_stride: u32, cols: u32, l: &Local) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 0;
    d.sys_dtype = 1;
    d.int8_sign = 1;
    set_src_global(chip, &mut d, &Global { region, offset, n_str: 1, c_str: row_stride, h_str: 1 });
    d.dst_base_addr_low = l.addr;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.n, 1, cols);
    (d.dst_c, d.dst_h, d.dst_w) = (l.c, 1, l.w);
    d.src_c_stride_low = row_stride;
    set_dst_strides(&mut d, l.n_str, l.c_str, l.h_str);
    d
}

/// Matrix store: the local matrix `l` → a global `rows × cols` matrix with `row_stride`.
pub fn l2g_matrix(chip: Chip, l: &Local, cols: u32, region: Region, offset: u64, row_stride: u32) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 1;
    d.sys_dtype = 1;
    d.int8_sign = 1;
    d.src_base_addr_low = l.addr;
    set_dst_global(chip, &mut d, &Global { region, offset, n_str: 1, c_str: row_stride, h_str: 1 });
    (d.src_n, d.src_c, d.src_h, d.src_w) = (l.n, l.c, 1, l.w);
    (d.dst_c, d.dst_h, d.dst_w) = (l.n, 1, cols);
    set_src_strides(&mut d, l.n_str, l.c_str, l.h_str);
    d.dst_c_stride_low = row_stride;
    d
}

/// Element formats of a TDMA move (`src_fmt`/`dst_fmt`: 1 = 8-bit, 2 = bf16; isa.md §4.5).
pub const FMT_I8: u32 = 1;
pub const FMT_BF16: u32 = 2;

/// bf16 tensor load (no conversion).
pub fn g2l_bf16(chip: Chip, g: &Global, l: &Local) -> TdmaDesc {
    let mut d = g2l_tensor(chip, g, l, false);
    (d.src_fmt, d.dst_fmt) = (FMT_BF16, FMT_BF16);
    d
}

/// bf16 tensor store (no conversion).
pub fn l2g_bf16(chip: Chip, l: &Local, g: &Global) -> TdmaDesc {
    let mut d = l2g_tensor(chip, l, g, false);
    (d.src_fmt, d.dst_fmt) = (FMT_BF16, FMT_BF16);
    d
}

/// Local-to-local bf16 move of the exponent index of every value (`mv_lut_idx`), the index a
/// following bf16 lookup reads (isa.md §4.5).
pub fn l2l_lut_idx(chip: Chip, src: &Local, dst: &Local) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 3;
    (d.src_fmt, d.dst_fmt) = (FMT_BF16, FMT_BF16);
    d.mv_lut_idx = 1;
    d.src_base_addr_low = src.addr;
    d.dst_base_addr_low = dst.addr;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (src.n, src.c, src.h, src.w);
    (d.dst_c, d.dst_h, d.dst_w) = (dst.c, dst.h, dst.w);
    set_src_strides(&mut d, src.n_str, src.c_str, src.h_str);
    set_dst_strides(&mut d, dst.n_str, dst.c_str, dst.h_str);
    d
}

/// Local-to-local move with a format conversion: bf16 → int8 (`to_int8`, rounding toward zero
/// when `truncate`, saturating) or int8 → bf16 (exact); signed int8 (isa.md §4.5).
pub fn l2l_convert(chip: Chip, src: &Local, dst: &Local, to_int8: bool, truncate: bool) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = 3;
    (d.src_fmt, d.dst_fmt) = if to_int8 { (FMT_BF16, FMT_I8) } else { (FMT_I8, FMT_BF16) };
    d.int8_sign = 1;
    d.int8_rnd_mode = (to_int8 && truncate) as u32;
    d.src_base_addr_low = src.addr;
    d.dst_base_addr_low = dst.addr;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (src.n, src.c, src.h, src.w);
    (d.dst_c, d.dst_h, d.dst_w) = (dst.c, dst.h, dst.w);
    set_src_strides(&mut d, src.n_str, src.c_str, src.h_str);
    set_dst_strides(&mut d, dst.n_str, dst.c_str, dst.h_str);
    d
}
