//! ONNX `TensorProto` to a constant [`Value`]: every storage field (raw_data little-endian,
//! float_data, int32_data, int64_data, double_data, uint64_data) and element type the compiler
//! can hold (floats widened to f32, integers to i64).

use crate::ir::{DType, Value};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::tensor_proto::{DataLocation, DataType};
use onnx_protobuf::TensorProto;

/// The IR type an ONNX element type maps to.
pub fn dtype_of(code: i32) -> Result<DType, String> {
    use DataType as D;
    let d = protobuf::Enum::from_i32(code).ok_or_else(|| format!("unknown element type {code}"))?;
    Ok(match d {
        D::FLOAT | D::FLOAT16 | D::DOUBLE | D::BFLOAT16 => DType::F32,
        D::INT8 | D::UINT8 | D::INT16 | D::UINT16 | D::INT32 | D::UINT32 | D::INT64 | D::UINT64 => DType::I64,
        D::BOOL => DType::Bool,
        other => return Err(format!("element type {other:?} is not supported")),
    })
}

pub fn shape_of(dims: &[i64]) -> Result<(Vec<usize>, usize), String> {
    let mut count: usize = 1;
    let mut shape = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("negative dimension in {dims:?}"))?;
        count = count.checked_mul(d).ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
        shape.push(d);
    }
    Ok((shape, count))
}

fn check_len(have: usize, want: usize, field: &str) -> Result<(), String> {
    if have != want {
        return Err(format!("{field} holds {have} elements, the dimensions need {want}"));
    }
    Ok(())
}

/// Decodes a tensor; every length is checked against the dimensions before anything is
/// allocated, so sizes are bounded by the file's own bytes.
pub fn decode(t: &TensorProto) -> Result<Value, String> {
    use DataType as D;
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) || !t.external_data.is_empty() {
        return Err("external data is not supported (save the model with its weights inside)".into());
    }
    let (shape, n) = shape_of(&t.dims)?;
    let d: D = protobuf::Enum::from_i32(t.data_type).ok_or_else(|| format!("unknown element type {}", t.data_type))?;
    let raw = &t.raw_data;
    let elem = match d {
        D::FLOAT | D::INT32 | D::UINT32 => 4,
        D::DOUBLE | D::INT64 | D::UINT64 => 8,
        D::FLOAT16 | D::BFLOAT16 | D::INT16 | D::UINT16 => 2,
        D::INT8 | D::UINT8 | D::BOOL => 1,
        other => return Err(format!("element type {other:?} is not supported")),
    };
    let floats: Option<Vec<f32>> = if !raw.is_empty() || n == 0 {
        check_len(raw.len() / elem, n, "raw_data")?;
        if raw.len() % elem != 0 {
            return Err(format!("raw_data has {} bytes, not a multiple of {elem}", raw.len()));
        }
        let c = raw.chunks_exact(elem);
        match d {
            D::FLOAT => Some(c.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
            D::DOUBLE => Some(c.map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32).collect()),
            D::FLOAT16 => Some(c.map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
            D::BFLOAT16 => Some(c.map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
            _ => {
                let ints: Vec<i64> = c
                    .map(|b| match d {
                        D::INT32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                        D::UINT32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                        D::INT64 | D::UINT64 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
                        D::INT16 => i16::from_le_bytes([b[0], b[1]]) as i64,
                        D::UINT16 => u16::from_le_bytes([b[0], b[1]]) as i64,
                        D::INT8 => b[0] as i8 as i64,
                        _ => b[0] as i64,
                    })
                    .collect();
                return ints_value(shape, ints);
            }
        }
    } else {
        match d {
            D::FLOAT => {
                check_len(t.float_data.len(), n, "float_data")?;
                Some(t.float_data.clone())
            }
            D::DOUBLE => {
                check_len(t.double_data.len(), n, "double_data")?;
                Some(t.double_data.iter().map(|&v| v as f32).collect())
            }
            // fp16 and bf16 values sit in int32_data as their bit patterns.
            D::FLOAT16 => {
                check_len(t.int32_data.len(), n, "int32_data")?;
                Some(t.int32_data.iter().map(|&v| half::f16::from_bits(v as u16).to_f32()).collect())
            }
            D::BFLOAT16 => {
                check_len(t.int32_data.len(), n, "int32_data")?;
                Some(t.int32_data.iter().map(|&v| half::bf16::from_bits(v as u16).to_f32()).collect())
            }
            D::INT64 => {
                check_len(t.int64_data.len(), n, "int64_data")?;
                return ints_value(shape, t.int64_data.clone());
            }
            D::UINT32 | D::UINT64 => {
                check_len(t.uint64_data.len(), n, "uint64_data")?;
                return ints_value(shape, t.uint64_data.iter().map(|&v| v as i64).collect());
            }
            _ => {
                check_len(t.int32_data.len(), n, "int32_data")?;
                return ints_value(shape, t.int32_data.iter().map(|&v| v as i64).collect());
            }
        }
    };
    let v = floats.unwrap_or_default();
    ArrayD::from_shape_vec(IxDyn(&shape), v).map(Value::F32).map_err(|e| e.to_string())
}

fn ints_value(shape: Vec<usize>, v: Vec<i64>) -> Result<Value, String> {
    ArrayD::from_shape_vec(IxDyn(&shape), v).map(Value::I64).map_err(|e| e.to_string())
}
