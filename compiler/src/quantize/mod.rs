//! Quantisation arithmetic as the vendor's CV18xx backend computes it: activation scales from
//! calibration thresholds, per-channel int8 convolution weights with their QM records (int32 bias,
//! 32-bit multiplier, right shift), the int8 multipliers of element-wise add, average pooling and
//! concat, 256-entry int8 lookup tables, and bf16 rounding and lookup tables.
//!
//! Every function here is pure arithmetic on plain numbers and slices; the lowering decides where
//! the results go. Each reproduces the vendor's floating-point steps in the same precision (some
//! in f32, some in f64), because a one-ulp difference in a real scale changes the low byte of a
//! 31-bit multiplier, and the tests compare with the bytes of vendor-compiled models.

mod bf16;
mod conv;
mod lut;
mod multiplier;
mod rounding;
mod scale;

pub use bf16::{bf16_round, bf16_to_f32, f32_to_bf16, Bf16ExpMantissaTables, Bf16SlopeTables, LUT_ENTRIES};
pub use conv::{
    pack_qm_records, quantize_bias_i32, quantize_conv_per_channel, quantize_filter_i8, ChannelQuant, ConvQuant,
};
pub use lut::{int8_lut, LutFn};
pub use multiplier::{
    avgpool_multiplier, bias_qscale, concat_multipliers, eltwise_add_multipliers, filter_qscale, int8_multiplier,
    mul_qdm_multiplier, qdm_multiplier, EltwiseMultipliers, Int8Multiplier, Qdm,
};
pub use rounding::{round_half_away_i8, round_half_even, round_half_even_i8, saturate_i32};
pub use scale::{dequant_scale, input_quant_scale, int8_scale};
