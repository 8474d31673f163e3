//! Evaluating a node on constant values: integer arithmetic for shape tensors (so Shape → Slice →
//! Concat → Reshape folds exactly), the fp32 reference for everything else.

use super::{eval, movement};
use crate::ir::{DType, Op, Value};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

/// Output values of `op` on constant inputs, or `None` when `op` cannot be folded on them (an
/// integer op the integer path does not know).
pub fn fold(op: &Op, inputs: &[&Value], out: &[Vec<usize>]) -> Result<Option<Vec<Value>>, String> {
    let ints = inputs.iter().any(|v| matches!(v, Value::I64(_)));
    if !ints {
        let arrays: Vec<&ArrayD<f32>> = inputs
            .iter()
            .map(|v| match v {
                Value::F32(a) => a,
                Value::I64(_) => unreachable!("no integer inputs on this path"),
            })
            .collect();
        let outs = eval::eval(op, &arrays, out)?;
        return Ok(Some(
            outs.into_iter()
                .map(|a| match op.out_dtype(DType::F32) {
                    DType::I64 => Value::I64(a.mapv(|v| v as i64)),
                    _ => Value::F32(a),
                })
                .collect(),
        ));
    }
    let first_int = matches!(inputs[0], Value::I64(_));
    match op {
        Op::Gather { axis } => {
            let idx = inputs[1].ints();
            Ok(match inputs[0] {
                Value::I64(a) => {
                    movement::gather_by(a.view(), &idx, inputs[1].shape(), *axis).map(|a| vec![Value::I64(a)])
                }
                Value::F32(a) => {
                    movement::gather_by(a.view(), &idx, inputs[1].shape(), *axis).map(|a| vec![Value::F32(a)])
                }
            })
        }
        Op::Cast { to } => Ok(Some(vec![match to {
            DType::F32 => Value::F32(inputs[0].to_f32()),
            _ => Value::I64(inputs[0].to_i64()),
        }])),
        Op::Add | Op::Sub | Op::Mul | Op::Div if inputs.iter().all(|v| matches!(v, Value::I64(_))) => {
            let (a, b) = (inputs[0].to_i64(), inputs[1].to_i64());
            let (ab, bb) = match (a.broadcast(IxDyn(&out[0])), b.broadcast(IxDyn(&out[0]))) {
                (Some(x), Some(y)) => (x, y),
                _ => return Err("operands do not broadcast".into()),
            };
            let f = |x: i64, y: i64| -> i64 {
                match op {
                    Op::Add => x.wrapping_add(y),
                    Op::Sub => x.wrapping_sub(y),
                    Op::Mul => x.wrapping_mul(y),
                    _ => x.checked_div(y).unwrap_or(0),
                }
            };
            Ok(Some(vec![Value::I64(Zip::from(&ab).and(&bb).map_collect(|&x, &y| f(x, y)))]))
        }
        _ if first_int && inputs[1..].iter().all(|v| matches!(v, Value::I64(_))) => {
            let arrays: Vec<ArrayD<i64>> = inputs.iter().map(|v| v.to_i64()).collect();
            let views: Vec<ArrayViewD<'_, i64>> = arrays.iter().map(|a| a.view()).collect();
            Ok(movement::eval(op, &views, out).map(|v| v.into_iter().map(Value::I64).collect()))
        }
        _ => {
            // Mixed: compute in fp32 and keep the first input's type.
            let arrays: Vec<ArrayD<f32>> = inputs.iter().map(|v| v.to_f32()).collect();
            let refs: Vec<&ArrayD<f32>> = arrays.iter().collect();
            let outs = eval::eval(op, &refs, out)?;
            Ok(Some(
                outs.into_iter()
                    .map(|a| if first_int { Value::I64(a.mapv(|v| v as i64)) } else { Value::F32(a) })
                    .collect(),
            ))
        }
    }
}
