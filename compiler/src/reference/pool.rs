//! Pooling and resizing over NCHW planes.

use crate::ir::ResizeMode;
use ndarray::{ArrayD, IxDyn};

pub fn pool(
    x: &[f32],
    xs: &[usize],
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    max: bool,
    count_pad: bool,
    out: &[usize],
) -> ArrayD<f32> {
    let (h, w) = (xs[2], xs[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = xs[0] * xs[1];
    let mut y = Vec::with_capacity(planes * oh * ow);
    for p in 0..planes {
        let src = &x[p * h * w..][..h * w];
        for oy in 0..oh {
            let y0 = (oy * strides[0]) as isize - pads[0] as isize;
            let y1 = y0 + kernel[0] as isize;
            for ox in 0..ow {
                let x0 = (ox * strides[1]) as isize - pads[1] as isize;
                let x1 = x0 + kernel[1] as isize;
                let (ya, yb) = (y0.max(0) as usize, (y1.min(h as isize)).max(0) as usize);
                let (xa, xb) = (x0.max(0) as usize, (x1.min(w as isize)).max(0) as usize);
                let mut acc = if max { f32::NEG_INFINITY } else { 0.0 };
                for iy in ya..yb {
                    for &v in &src[iy * w + xa..iy * w + xb.max(xa)] {
                        acc = if max { acc.max(v) } else { acc + v };
                    }
                }
                if !max {
                    let n = if count_pad {
                        // The window clipped to the padded input, as ONNX counts it.
                        let (py1, px1) = (y1.min((h + pads[2]) as isize), x1.min((w + pads[3]) as isize));
                        ((py1 - y0) * (px1 - x0)) as f32
                    } else {
                        ((yb.saturating_sub(ya)) * (xb.saturating_sub(xa))) as f32
                    };
                    acc /= n.max(1.0);
                }
                y.push(acc);
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(out), y).expect("output has the inferred size")
}

pub fn resize(x: &[f32], xs: &[usize], mode: ResizeMode, out: &[usize]) -> ArrayD<f32> {
    let (h, w) = (xs[2], xs[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = xs[0] * xs[1];
    let mut y = Vec::with_capacity(planes * oh * ow);
    // Source coordinate of an output coordinate, and the two neighbours with the weight of the second.
    let coord = |o: usize, n: usize, on: usize, align: bool| -> (usize, usize, f32) {
        let s = if align {
            if on > 1 {
                o as f32 * (n - 1) as f32 / (on - 1) as f32
            } else {
                0.0
            }
        } else {
            ((o as f32 + 0.5) * n as f32 / on as f32 - 0.5).max(0.0)
        };
        let i0 = (s.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, s - i0 as f32)
    };
    for p in 0..planes {
        let src = &x[p * h * w..][..h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let v = match mode {
                    ResizeMode::Nearest => src[(oy * h / oh) * w + ox * w / ow],
                    ResizeMode::Linear { align_corners } => {
                        let (y0, y1, fy) = coord(oy, h, oh, align_corners);
                        let (x0, x1, fx) = coord(ox, w, ow, align_corners);
                        let top = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
                        let bot = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
                        top * (1.0 - fy) + bot * fy
                    }
                };
                y.push(v);
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(out), y).expect("output has the inferred size")
}
