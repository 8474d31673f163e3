//! Constant values: shape, conversion to the fp32 the reference computes in.

use super::{DType, Value};
use ndarray::ArrayD;

impl Value {
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::I64(a) => a.shape(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as fp32 (integers converted), as the reference interpreter reads constants.
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Value::F32(a) => a.clone(),
            Value::I64(a) => a.mapv(|v| v as f32),
        }
    }

    /// The value as integers (floats truncated toward zero, like ONNX's Cast to int64).
    pub fn to_i64(&self) -> ArrayD<i64> {
        match self {
            Value::F32(a) => a.mapv(|v| v as i64),
            Value::I64(a) => a.clone(),
        }
    }

    /// Every element, in row-major order, as i64 (shape vectors, axes, pads).
    pub fn ints(&self) -> Vec<i64> {
        self.to_i64().iter().copied().collect()
    }

    /// Every element, in row-major order, as f32 (clip bounds, scales).
    pub fn floats(&self) -> Vec<f32> {
        self.to_f32().iter().copied().collect()
    }

    /// The single element of a one-element value.
    pub fn scalar_f32(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.floats()[0])
    }
}
