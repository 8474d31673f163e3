//! Scales of symmetric int8 tensors from their calibration thresholds.

/// The real value of one int8 step of a tensor with this threshold: `threshold / 127` (the
/// vendor's scale for signed int8; CV18xx activations are always signed).
pub fn int8_scale(threshold: f64) -> f64 {
    threshold / 127.0
}

/// The scale recorded in a .cvimodel tensor map (`QSCALE`), which multiplies an int8 value back to
/// real: the f32 of [`int8_scale`].
pub fn dequant_scale(threshold: f64) -> f32 {
    int8_scale(threshold) as f32
}

/// The `scale` argument of the `quant` CPU routine that turns an fp32 model input into int8: the
/// f32 reciprocal of the f32 [`dequant_scale`] (not `127 / threshold` rounded once, which can
/// differ in the last bit). Given a `threshold` argument instead, the runtime routine uses 128;
/// the vendor's compiler passes this scale.
pub fn input_quant_scale(threshold: f64) -> f32 {
    1.0f32 / dequant_scale(threshold)
}
