//! The TDMA descriptor (64 bytes): its typed form and the two layouts (spec `isa.md` §4.1).

use crate::chip::{Chip, LayoutFamily};
use crate::fields::descriptor_fields;
use crate::layout::{rsv, val, FieldSpec, Layout};

pub const TDMA_BYTES: usize = 64;
pub const TDMA_WORDS: usize = TDMA_BYTES / 4;

descriptor_fields! {
    /// A decoded TDMA descriptor, every field raw.
    struct TdmaDesc;
    /// Identifies a TDMA field across layouts.
    enum TdmaField {
        vld, compress_en, eod, intp_en, bar_en, check_bf16_value, trans_dir, rsv00, trans_fmt,
        transpose_md, rsv01, intra_cmd_paral, outstanding_en, cmd_id,
        spec_func, dst_fmt, src_fmt, cmprs_fmt, sys_dtype, rsv2_1, int8_sign, compress_zero_guard,
        int8_rnd_mode, wait_id_tpu, wait_id_other_tdma, wait_id_sdma,
        const_val, src_base_reg_sel, mv_lut_idx, dst_base_reg_sel, mv_lut_base, rsv4_5,
        dst_h_stride, dst_c_stride_low, dst_n_stride, src_h_stride, src_c_stride_low, src_n_stride,
        dst_c, src_c, dst_w, dst_h, src_w, src_h,
        dst_base_addr_low, src_base_addr_low, src_n, dst_base_addr_high, src_base_addr_high,
        src_c_stride_high, dst_c_stride_high, compress_bias0, compress_bias1, layer_id,
    }
}

use TdmaField as D;

macro_rules! tdma_table {
    ($name:ident, $($head:expr),* $(,)?) => {
        pub static $name: &[FieldSpec<TdmaField>] = &[
            val(D::vld, "vld", 0, 1, 0),
            val(D::compress_en, "compress_en", 1, 1, 0),
            val(D::eod, "eod", 2, 1, 0),
            val(D::intp_en, "intp_en", 3, 1, 0),
            val(D::bar_en, "bar_en", 4, 1, 0),
            val(D::check_bf16_value, "check_bf16_value", 5, 1, 0),
            val(D::trans_dir, "trans_dir", 6, 2, 0),
            rsv(D::rsv00, "rsv00", 8, 2, 0),
            val(D::trans_fmt, "trans_fmt", 10, 1, 0),
            val(D::transpose_md, "transpose_md", 11, 2, 0),
            $($head,)*
            val(D::outstanding_en, "outstanding_en", 15, 1, 0),
            val(D::cmd_id, "cmd_id", 16, 16, 0),
            val(D::spec_func, "spec_func", 32, 3, 0),
            val(D::dst_fmt, "dst_fmt", 35, 2, 1),
            val(D::src_fmt, "src_fmt", 37, 2, 1),
            val(D::cmprs_fmt, "cmprs_fmt", 39, 1, 0),
            val(D::sys_dtype, "sys_dtype", 40, 1, 0),
            rsv(D::rsv2_1, "rsv2_1", 41, 4, 0),
            val(D::int8_sign, "int8_sign", 45, 1, 0),
            val(D::compress_zero_guard, "compress_zero_guard", 46, 1, 0),
            val(D::int8_rnd_mode, "int8_rnd_mode", 47, 1, 0),
            val(D::wait_id_tpu, "wait_id_tpu", 48, 16, 0),
            val(D::wait_id_other_tdma, "wait_id_other_tdma", 64, 16, 0),
            val(D::wait_id_sdma, "wait_id_sdma", 80, 16, 0),
            val(D::const_val, "const_val", 96, 16, 0),
            val(D::src_base_reg_sel, "src_base_reg_sel", 112, 3, 0),
            val(D::mv_lut_idx, "mv_lut_idx", 115, 1, 0),
            val(D::dst_base_reg_sel, "dst_base_reg_sel", 116, 3, 0),
            val(D::mv_lut_base, "mv_lut_base", 119, 1, 0),
            rsv(D::rsv4_5, "rsv4_5", 120, 8, 0),
            val(D::dst_h_stride, "dst_h_stride", 128, 16, 1),
            val(D::dst_c_stride_low, "dst_c_stride_low", 144, 16, 1),
            val(D::dst_n_stride, "dst_n_stride", 160, 32, 1),
            val(D::src_h_stride, "src_h_stride", 192, 16, 1),
            val(D::src_c_stride_low, "src_c_stride_low", 208, 16, 1),
            val(D::src_n_stride, "src_n_stride", 224, 32, 1),
            val(D::dst_c, "dst_c", 256, 16, 1),
            val(D::src_c, "src_c", 272, 16, 1),
            val(D::dst_w, "dst_w", 288, 16, 1),
            val(D::dst_h, "dst_h", 304, 16, 1),
            val(D::src_w, "src_w", 320, 16, 1),
            val(D::src_h, "src_h", 336, 16, 1),
            val(D::dst_base_addr_low, "dst_base_addr_low", 352, 32, 0),
            val(D::src_base_addr_low, "src_base_addr_low", 384, 32, 0),
            val(D::src_n, "src_n", 416, 16, 1),
            val(D::dst_base_addr_high, "dst_base_addr_high", 432, 8, 0),
            val(D::src_base_addr_high, "src_base_addr_high", 440, 8, 0),
            val(D::src_c_stride_high, "src_c_stride_high", 448, 16, 0),
            val(D::dst_c_stride_high, "dst_c_stride_high", 464, 16, 0),
            val(D::compress_bias0, "compress_bias0", 480, 8, 0),
            val(D::compress_bias1, "compress_bias1", 488, 8, 0),
            val(D::layer_id, "layer_ID", 496, 16, 0),
        ];
    };
}

// CV18[0-2]x: bit 13 reserved, bit 14 `intra_cmd_paral`.
tdma_table!(TDMA_CV18X_FIELDS, rsv(D::rsv01, "rsv01", 13, 1, 0), val(D::intra_cmd_paral, "intra_cmd_paral", 14, 1, 0),);
// CV183x: bits 14:13 are one reserved field.
tdma_table!(TDMA_CV183X_FIELDS, rsv(D::rsv01, "rsv01", 13, 2, 0));

pub static TDMA_CV18X: Layout<TdmaField> = Layout { name: "tdma-cv18x", bytes: TDMA_BYTES, fields: TDMA_CV18X_FIELDS };
pub static TDMA_CV183X: Layout<TdmaField> =
    Layout { name: "tdma-cv183x", bytes: TDMA_BYTES, fields: TDMA_CV183X_FIELDS };

pub fn tdma_layout(chip: Chip) -> &'static Layout<TdmaField> {
    match chip.layout() {
        LayoutFamily::Cv18x => &TDMA_CV18X,
        LayoutFamily::Cv183x => &TDMA_CV183X,
    }
}
