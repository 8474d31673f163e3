//! Sizes of VPSS-aligned input frames (spec runtime.md §2.2, the runtime's `Neuron::setPixelAlign`).

use crate::cvimodel::PixelFormat;
use cvsim_isa::Chip;
use serde::Serialize;

/// Row, Y-row and channel (plane) alignment of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VpssAlign {
    /// Row (width) alignment.
    pub w: u64,
    /// Y-plane row alignment.
    pub y: u64,
    /// Channel / plane start alignment.
    pub ch: u64,
}

/// The chip's VPSS row and plane alignment (`ChipParams::vpss_row_align`). YUV420 planar
/// doubles the Y-row alignment (its chroma rows are half as wide and must still be aligned).
pub fn vpss_align(chip: Chip, fmt: PixelFormat) -> VpssAlign {
    let p = chip.params();
    let w = p.vpss_row_align;
    let y = if fmt == PixelFormat::Yuv420Planar { w * 2 } else { w };
    VpssAlign { w, y, ch: p.vpss_plane_align }
}

fn align(v: u64, a: u64) -> Option<u64> {
    v.div_ceil(a).checked_mul(a)
}

/// Bytes of an aligned frame buffer for a tensor of this shape (NCHW, or NHWC for packed formats).
/// `None` when a dim is negative (dynamic) or the size overflows (only in corrupt files).
pub fn vpss_frame_size(chip: Chip, fmt: PixelFormat, shape: [i64; 4]) -> Option<u64> {
    let d: Vec<u64> = shape.iter().map(|&x| u64::try_from(x).ok()).collect::<Option<_>>()?;
    let a = vpss_align(chip, fmt);
    let mul = |x: u64, y: u64| x.checked_mul(y);
    use PixelFormat::*;
    match fmt {
        Grayscale => {
            let (n, c, h, w) = (d[0], d[1], d[2], d[3]);
            mul(mul(n, c)?, mul(h, align(w, a.w)?)?)
        }
        RgbPlanar | BgrPlanar | RgbaPlanar => {
            let (n, c, h, w) = (d[0], d[1], d[2], d[3]);
            mul(mul(n, c)?, align(mul(align(w, a.w)?, h)?, a.ch)?)
        }
        RgbPacked | BgrPacked => {
            let (n, h, w, c) = (d[0], d[1], d[2], d[3]);
            mul(mul(n, h)?, align(mul(w, c)?, a.w)?)
        }
        YuvNv12 | YuvNv21 => {
            let (n, h, w) = (d[0], d[2], d[3]);
            let uv_start = align(mul(h, align(w, a.y)?)?, a.ch)?;
            let uv = mul(h / 2, align(w, a.w)?)?;
            mul(n, align(uv_start.checked_add(uv)?, a.ch)?)
        }
        Yuv420Planar => {
            let (n, h, w) = (d[0], d[2], d[3]);
            let plane = mul(h / 2, align(w / 2, a.w)?)?;
            let u_start = align(mul(h, align(w, a.y)?)?, a.ch)?;
            let v_start = align(u_start.checked_add(plane)?, a.ch)?;
            mul(n, align(v_start.checked_add(plane)?, a.ch)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    // Sizes the vendor runtime reported for the corpus's 20×36 feature cases (features/README.md),
    // plus the spec's 64×64 NV12 example.
    #[test]
    fn matches_runtime_reported_sizes() {
        let s = [1, 3, 20, 36];
        assert_eq!(vpss_frame_size(Chip::Cv181x, RgbPlanar, s), Some(3840));
        assert_eq!(vpss_frame_size(Chip::Cv181x, YuvNv12, s), Some(1920));
        assert_eq!(vpss_frame_size(Chip::Cv183x, YuvNv12, s), Some(8192));
        assert_eq!(vpss_frame_size(Chip::Cv181x, Yuv420Planar, s), Some(3840));
        assert_eq!(vpss_frame_size(Chip::Cv181x, YuvNv12, [1, 3, 64, 64]), Some(6144));
        assert_eq!(vpss_frame_size(Chip::Cv181x, Grayscale, [1, 1, 20, 36]), Some(1280));
        assert_eq!(vpss_frame_size(Chip::Cv181x, RgbPacked, [1, 20, 36, 3]), Some(20 * 128));
        assert_eq!(vpss_frame_size(Chip::Cv181x, RgbPlanar, [1, -1, 20, 36]), None);
        assert_eq!(vpss_frame_size(Chip::Cv181x, YuvNv12, [i64::MAX, 3, i64::MAX, i64::MAX]), None);
    }
}
