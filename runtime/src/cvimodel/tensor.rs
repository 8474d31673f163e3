//! Tensors and weights, with their tagged addresses decoded (spec runtime.md §1.5).

use super::dtype::{DType, QuantType};
use cvsim_isa::{Region, RegionKind};
use serde::Serialize;

/// A decoded tagged address: `None` for −1 ("no memory reserved").
/// Errors when bits above 42 are set, which no address the compiler writes has.
pub fn split_tagged(offset: i64) -> Result<Option<(Region, u64)>, String> {
    if offset == -1 {
        return Ok(None);
    }
    match Region::untag(offset as u64) {
        Some(at) => Ok(Some(at)),
        None => Err(format!("offset {offset:#x} is not a tagged address (bits 43..63 set)")),
    }
}

/// The frame formats of `CVI_NN_PIXEL_FORMAT_E`, as named in `Tensor.pixel_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PixelFormat {
    RgbPacked,
    BgrPacked,
    RgbPlanar,
    BgrPlanar,
    YuvNv12,
    YuvNv21,
    Yuv420Planar,
    Grayscale,
    RgbaPlanar,
}

impl PixelFormat {
    /// From the string tpu-mlir writes (its `--customization_format` names).
    pub fn from_name(s: &str) -> Option<PixelFormat> {
        use PixelFormat::*;
        Some(match s {
            "RGB_PACKED" => RgbPacked,
            "BGR_PACKED" => BgrPacked,
            "RGB_PLANAR" => RgbPlanar,
            "BGR_PLANAR" => BgrPlanar,
            "YUV_NV12" => YuvNv12,
            "YUV_NV21" => YuvNv21,
            "YUV420_PLANAR" | "YUV_420_PLANAR" => Yuv420Planar,
            "GRAYSCALE" => Grayscale,
            "RGBA_PLANAR" => RgbaPlanar,
            _ => return None,
        })
    }

    /// The `CVI_NN_PIXEL_FORMAT_E` value the runtime reports in `CVI_TENSOR.pixel_format`.
    pub const fn cvi_value(self) -> i32 {
        use PixelFormat::*;
        match self {
            RgbPacked => 0,
            BgrPacked => 1,
            RgbPlanar => 2,
            BgrPlanar => 3,
            YuvNv12 => 11,
            YuvNv21 => 12,
            Yuv420Planar => 13,
            Grayscale => 15,
            RgbaPlanar => 1000,
        }
    }

    /// `CVI_NN_PIXEL_TENSOR`, reported when a tensor has no pixel format.
    pub const CVI_TENSOR: i32 = 100;
}

/// `cvi.model.QuantInfo`, when present.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QuantInfo {
    pub kind: QuantType,
    /// The calibration threshold.
    pub max_value: f32,
    pub min_value: f32,
    pub zero_point: f32,
    pub qscale: f32,
}

/// One entry of a program's tensor map.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tensor {
    pub id: u32,
    pub name: String,
    /// The tagged address as stored (−1 = no device memory).
    pub offset: i64,
    /// Bits 40..42 of `offset`; `None` when `offset` is −1.
    pub region: Option<Region>,
    /// Bits 0..39 of `offset` (0 when `offset` is −1).
    pub region_offset: u64,
    pub dtype: DType,
    /// Always 4 dims, padded with trailing 1s as the runtime reports them (−1 = dynamic).
    pub shape: [i64; 4],
    pub stride: Option<Vec<i64>>,
    pub quant: Option<QuantInfo>,
    /// `QuantInfo.qscale`, 0 when there is no `QuantInfo` (what `CVI_TENSOR.qscale` gets).
    pub qscale: f32,
    /// `QuantInfo.zero_point` as the runtime's `int`.
    pub zero_point: i32,
    /// Memory reused by a later tensor: not exported by `OPTION_OUTPUT_ALL_TENSORS`.
    pub overwrote: bool,
    pub scale: Vec<f32>,
    pub mean: Vec<f32>,
    pub pixel_format: Option<String>,
    /// The input is a VPSS-aligned frame (§2.2).
    pub aligned: bool,
    /// Byte size given by the model (0 = compute it).
    pub size: u32,
    /// File offset of the tensor's flatbuffer table, for error messages.
    pub table_at: usize,
}

impl Tensor {
    /// Product of the 4 dims; `None` for dynamic (negative) dims or overflow.
    pub fn count(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
    }

    /// count × element size (the runtime's size for a tensor that is not an aligned frame).
    pub fn byte_size(&self) -> Option<u64> {
        self.count()?.checked_mul(self.dtype.size() as u64)
    }

    pub fn pixel_format_kind(&self) -> Option<PixelFormat> {
        self.pixel_format.as_deref().and_then(PixelFormat::from_name)
    }

    /// `CVI_TENSOR.pixel_format`: the format's value, or `CVI_NN_PIXEL_TENSOR` (100).
    pub fn cvi_pixel_format(&self) -> i32 {
        self.pixel_format_kind().map_or(PixelFormat::CVI_TENSOR, PixelFormat::cvi_value)
    }

    /// `io_mem` / `private` / `shared` / `-`, as `cvimodel_tool` classifies the tensor.
    pub fn memory_class(&self, legacy_neuron: bool) -> &'static str {
        match self.region {
            None => "-",
            Some(_) if legacy_neuron => "private",
            Some(r) => match r.kind() {
                RegionKind::Io => "io_mem",
                RegionKind::Private => "private",
                RegionKind::Shared | RegionKind::Weight => "shared",
            },
        }
    }
}

/// One entry of the weight map (informational: the cmdbuf addresses weights directly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Weight {
    pub name: String,
    pub offset: i64,
    pub region: Option<Region>,
    pub region_offset: u64,
    pub size: u32,
    /// The dims as stored (may be absent or have any rank).
    pub shape: Vec<i64>,
    pub dtype: DType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_addresses() {
        assert_eq!(split_tagged(-1), Ok(None));
        let mask = cvsim_isa::region::OFFSET_MASK;
        assert_eq!(split_tagged(0), Ok(Some((Region::SHARED, 0))));
        assert_eq!(split_tagged((3 << 40) | 0x1234), Ok(Some((Region::IO_FIRST, 0x1234))));
        assert_eq!(split_tagged((7 << 40) | mask as i64), Ok(Some((Region::IO_LAST, mask))));
        assert!(split_tagged(1 << 43).is_err());
        assert!(split_tagged(-2).is_err());
    }

    #[test]
    fn pixel_format_names() {
        assert_eq!(PixelFormat::from_name("YUV_NV12").map(PixelFormat::cvi_value), Some(11));
        assert_eq!(PixelFormat::from_name("RGBA_PLANAR").map(PixelFormat::cvi_value), Some(1000));
        assert_eq!(PixelFormat::from_name("rgb"), None);
    }
}
