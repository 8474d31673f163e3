//! What `CVI_TENSOR` reports about a tensor.

use super::ApiError;
use crate::cvimodel::{AttrValue, DType, PixelFormat, Program, RoutineKind};
use crate::session::Instance;

/// `CVI_MEM_TYPE_E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// The runtime's own memory, filled from host memory (`CVI_MEM_SYSTEM`, 1).
    System,
    /// Bound to a device address (`CVI_MEM_DEVICE`, 2).
    Device,
}

impl MemType {
    pub fn cvi_value(self) -> i32 {
        match self {
            MemType::System => 1,
            MemType::Device => 2,
        }
    }
}

/// One input or output tensor, as `CVI_TENSOR` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: [i64; 4],
    pub dtype: DType,
    pub count: u64,
    /// Bytes of its memory (`CVI_NN_TensorSize`): VPSS-aligned for an aligned frame input.
    pub mem_size: u64,
    pub qscale: f32,
    pub zero_point: i32,
    /// `CVI_NN_PIXEL_FORMAT_E`: the model's pixel format, or TENSOR (100).
    pub pixel_format: i32,
    pub pixel_format_kind: Option<PixelFormat>,
    pub aligned: bool,
    pub mean: Option<[f32; 3]>,
    pub scale: Option<[f32; 3]>,
    /// Memory region (None: host memory only, offset −1) and byte offset in it.
    pub region: Option<cvsim_isa::Region>,
    pub region_offset: u64,
    /// Device address, when the tensor has device memory.
    pub paddr: Option<u64>,
    pub mem_type: MemType,
}

fn three(v: &[f32]) -> Option<[f32; 3]> {
    (!v.is_empty()).then(|| {
        let mut a = [0.0; 3];
        for (d, s) in a.iter_mut().zip(v) {
            *d = *s;
        }
        a
    })
}

impl TensorInfo {
    pub(crate) fn of(inst: &Instance, prog: &Program, name: &str) -> Result<TensorInfo, ApiError> {
        let t = prog.tensor(name).ok_or_else(|| ApiError::NoTensor {
            name: name.into(),
            which: "tensor map",
            known: prog.tensor_map.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let mem_size = inst.mem_size(t)? as u64;
        Ok(TensorInfo {
            name: t.name.clone(),
            shape: t.shape,
            dtype: t.dtype,
            count: t.count().unwrap_or(0),
            mem_size,
            qscale: reported_qscale(prog, name).unwrap_or(t.qscale),
            zero_point: t.zero_point,
            pixel_format: t.cvi_pixel_format(),
            pixel_format_kind: t.pixel_format_kind(),
            aligned: t.aligned,
            mean: three(&t.mean),
            scale: three(&t.scale),
            region: t.region,
            region_offset: t.region_offset,
            paddr: t.region.and_then(|r| inst.region_base(r)).map(|b| b + t.region_offset),
            mem_type: MemType::System,
        })
    }
}

/// The runtime overwrites the qscale of a `quant` routine's output when it converts NONE → INT8:
/// 128/threshold, or the `scale` attribute (default 1) without a threshold (spec §2.3.1).
fn reported_qscale(prog: &Program, name: &str) -> Option<f32> {
    prog.routines.iter().find_map(|r| {
        let RoutineKind::Cpu { function, .. } = &r.kind else { return None };
        let is = |k: &str, v: &str| matches!(r.attr(k), Some(AttrValue::Str(s)) if s == v);
        if function != "quant" || r.out_tensors.first().map(String::as_str) != Some(name) {
            return None;
        }
        if !(is("from", "NONE") && is("to", "INT8")) {
            return None;
        }
        Some(match (r.attr("threshold"), r.attr("scale")) {
            (Some(AttrValue::Float(th)), _) => 128.0 / th,
            (_, Some(AttrValue::Float(s))) => *s,
            _ => 1.0,
        })
    })
}
