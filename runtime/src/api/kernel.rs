//! The runtime's TPU kernel functions (`cviruntime_extra.h`): operations an application runs on
//! device buffers without a model.
//!
//! Only the matrix multiply is provided. The vendor builds it at run time as a TIU matrix multiply
//! tiled through local memory, for 8-bit operands (signed or not) with 32-bit results accumulated
//! across the tiles; integer sums do not depend on how they are tiled, so cvsim computes the
//! products directly, holding the one TPU as the vendor's command buffer would. The gray-image
//! light kernel is not provided: there are no facts about its arithmetic.

use super::{ApiError, Runtime};
use crate::cvimodel::DType;

/// `CVI_NN_PrepareMatrixMulKernelFunc`: Y (m×n, int32) = L (m×k) · R (k×n), row-major, 8-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulKernel {
    pub signed: bool,
    pub m: u32,
    pub k: u32,
    pub n: u32,
}

impl MatMulKernel {
    /// The vendor supports INT8 and UINT8 operands only (it asserts on the others).
    pub fn new(dtype: DType, m: u32, k: u32, n: u32) -> Result<MatMulKernel, ApiError> {
        let signed = match dtype {
            DType::I8 => true,
            DType::U8 => false,
            d => return Err(ApiError::Kernel(format!("matrix multiply of {}: only int8 and uint8 are supported", d.name()))),
        };
        if m == 0 || k == 0 || n == 0 {
            return Err(ApiError::Kernel(format!("matrix multiply of {m}×{k} by {k}×{n}: every dimension must be positive")));
        }
        Ok(MatMulKernel { signed, m, k, n })
    }

    /// `CVI_NN_RunKernelFunc`: L, R and Y are device addresses in user buffers.
    pub fn run(&self, rt: &Runtime, left: u64, right: u64, out: u64) -> Result<(), ApiError> {
        let (m, k, n) = (self.m as usize, self.k as usize, self.n as usize);
        let _tpu = rt.tpu();
        let l = rt.read(left, m * k)?;
        let r = rt.read(right, k * n)?;
        let val = |b: u8| if self.signed { b as i8 as i32 } else { b as i32 };
        let mut y = vec![0i32; m * n];
        for i in 0..m {
            let row = &mut y[i * n..(i + 1) * n];
            for (kk, &a) in l[i * k..(i + 1) * k].iter().enumerate() {
                let a = val(a);
                for (acc, &b) in row.iter_mut().zip(&r[kk * n..(kk + 1) * n]) {
                    *acc = acc.wrapping_add(a * val(b));
                }
            }
        }
        let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
        rt.write(out, &bytes)
    }
}
