//! `interp` (resize), per n·c plane, with the vendor runtime's f32 arithmetic
//! (spec `runtime.md` §2.3.3). Where the vendor code would index outside the input (it does not
//! clamp), the index is clamped instead, so a corrupt model cannot make the host read out of bounds.

use super::{write_f32, CpuContext, CpuFunction, CpuResult};
use crate::cvimodel::DType;

/// The `interp` routine: one input and one output, resized by the attributes of [`InterpParams`].
pub struct Interp;

impl CpuFunction for Interp {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn run(&self, cx: &mut CpuContext<'_>) -> CpuResult {
        let (src, dst) = (cx.input(0)?, cx.output(0)?);
        let p = InterpParams {
            shrink_factor: cx.int_attr("shrink_factor")?,
            zoom_factor: cx.int_attr("zoom_factor")?,
            pad_beg: cx.int_attr("pad_beg")?,
            pad_end: cx.int_attr("pad_end")?,
            height: cx.int_attr("height")?,
            width: cx.int_attr("width")?,
            mode: cx.str_attr("coordinate_transformation_mode")?,
        };
        let (st, dt) = (cx.tensors.desc(src)?, cx.tensors.desc(dst)?);
        let [n, c, ih, iw] = st.shape.map(|d| d.max(0) as usize);
        let (oh, ow) = p.output_size(ih, iw, (dt.shape[2].max(0) as usize, dt.shape[3].max(0) as usize));
        let planes = n * c;
        if ih == 0 || iw == 0 || oh == 0 || ow == 0 {
            return Err("empty input or output".into());
        }
        // A copy: input and output may share a region.
        let inb = cx.tensors.bytes(src)?.into_owned();
        let out = cx.tensors.bytes_mut(dst)?;
        if p.is_nearest() {
            let esz = match st.dtype {
                DType::I8 | DType::U8 => 1,
                DType::Bf16 => 2,
                _ => 4,
            };
            if inb.len() < planes * ih * iw * esz || out.len() < planes * oh * ow * esz {
                return Err("tensor smaller than the resize needs".into());
            }
            nearest(&p, &inb, out, planes, esz, (ih, iw), (oh, ow));
        } else {
            if inb.len() < planes * ih * iw * 4 || out.len() < planes * oh * ow * 4 {
                return Err("tensor smaller than the resize needs".into());
            }
            let x: Vec<f32> = inb.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            let mut y = vec![0f32; planes * oh * ow];
            bilinear(&p, &x, &mut y, planes, (ih, iw), (oh, ow));
            write_f32(out, &y);
        }
        Ok(())
    }
}

/// The attributes the routine reads (all mandatory in the vendor code; absent zeros read as 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterpParams {
    pub shrink_factor: i32,
    pub zoom_factor: i32,
    pub pad_beg: i32,
    pub pad_end: i32,
    pub height: i32,
    pub width: i32,
    pub mode: String,
}

impl InterpParams {
    /// Output (oh, ow) for an input of (ih, iw), given the output tensor's own dims as fallback.
    pub fn output_size(&self, ih: usize, iw: usize, out_hw: (usize, usize)) -> (usize, usize) {
        if self.mode != "align_corners" {
            return if self.height != 0 && self.width != 0 { (self.height as usize, self.width as usize) } else { out_hw };
        }
        let eh = ih as i64 + self.pad_beg as i64 + self.pad_end as i64;
        let ew = iw as i64 + self.pad_beg as i64 + self.pad_end as i64;
        let shrink = |v: i64| (v - 1) / self.shrink_factor as i64 + 1;
        let zoom = |v: i64| v + (v - 1) * (self.zoom_factor as i64 - 1);
        let (h, w) = match (self.shrink_factor != 0, self.zoom_factor != 0) {
            (true, false) => (shrink(eh), shrink(ew)),
            (false, true) => (zoom(eh), zoom(ew)),
            (true, true) => (zoom(shrink(eh)), zoom(shrink(ew))),
            _ if self.height != 0 && self.width != 0 => (self.height as i64, self.width as i64),
            _ => (out_hw.0 as i64, out_hw.1 as i64),
        };
        (h.max(0) as usize, w.max(0) as usize)
    }

    pub fn is_nearest(&self) -> bool {
        self.mode.len() >= 7 && &self.mode[..7] == "nearest"
    }
}

/// Nearest-neighbour resize of `planes` planes of element size `esz`, byte for byte.
pub fn nearest(
    p: &InterpParams,
    input: &[u8],
    out: &mut [u8],
    planes: usize,
    esz: usize,
    (ih, iw): (usize, usize),
    (oh, ow): (usize, usize),
) {
    let sh = ih as f32 / oh as f32;
    let sw = iw as f32 / ow as f32;
    let half = p.mode == "nearest_half_pixel";
    let src = |o: usize, s: f32, n: usize| -> usize {
        let v = if half { ((o as f64 + 0.5) * s as f64 - 1.0).ceil() as i64 } else { (o as f32 * s) as i64 };
        v.clamp(0, n as i64 - 1) as usize
    };
    let rows: Vec<usize> = (0..oh).map(|h| src(h, sh, ih)).collect();
    let cols: Vec<usize> = (0..ow).map(|w| src(w, sw, iw)).collect();
    for pl in 0..planes {
        for (h, &r) in rows.iter().enumerate() {
            for (w, &c) in cols.iter().enumerate() {
                let si = ((pl * ih + r) * iw + c) * esz;
                let di = ((pl * oh + h) * ow + w) * esz;
                out[di..di + esz].copy_from_slice(&input[si..si + esz]);
            }
        }
    }
}

/// Bilinear resize of fp32 planes (modes `half_pixel`, `pytorch_half_pixel`, `asymmetric`, and
/// the Caffe-style `align_corners` for any other mode).
pub fn bilinear(
    p: &InterpParams,
    input: &[f32],
    out: &mut [f32],
    planes: usize,
    (ih, iw): (usize, usize),
    (oh, ow): (usize, usize),
) {
    match p.mode.as_str() {
        "half_pixel" | "pytorch_half_pixel" => half_pixel(p.mode == "pytorch_half_pixel", input, out, planes, (ih, iw), (oh, ow)),
        "asymmetric" => asymmetric(input, out, planes, (ih, iw), (oh, ow)),
        _ => align_corners(p, input, out, planes, (ih, iw), (oh, ow)),
    }
}

fn half_pixel(pytorch: bool, input: &[f32], out: &mut [f32], planes: usize, (ih, iw): (usize, usize), (oh, ow): (usize, usize)) {
    let scale_h = oh as f32 / ih as f32;
    let scale_w = ow as f32 / iw as f32;
    // The vendor recomputes the loop bounds with an f32 product, which can fall one short.
    let lh = ((ih as f32 * scale_h) as i64).clamp(0, oh as i64) as usize;
    let lw = ((iw as f32 * scale_w) as i64).clamp(0, ow as i64) as usize;
    let axis = |o: usize, scale: f32, n: usize, len: usize| -> (usize, usize, f32, f32) {
        let mut s = if scale == 1.0 { o as f32 } else { (o as f32 + 0.5) / scale - 0.5 };
        if pytorch && len == 1 {
            s = 0.0;
        }
        let s = s.clamp(0.0, (n - 1) as f32);
        let i1 = (s as usize).min(n - 1);
        let i2 = (i1 + 1).min(n - 1);
        if i1 == i2 {
            (i1, i2, 0.5, 0.5)
        } else {
            (i1, i2, (s - i1 as f32).abs(), (s - i2 as f32).abs())
        }
    };
    for pl in 0..planes {
        let x = &input[pl * ih * iw..(pl + 1) * ih * iw];
        for y in 0..lh {
            let (y1, y2, dy1, dy2) = axis(y, scale_h, ih, oh);
            for xo in 0..lw {
                let (x1, x2, dx1, dx2) = axis(xo, scale_w, iw, ow);
                let v = dx2 * dy2 * x[y1 * iw + x1]
                    + dx1 * dy2 * x[y1 * iw + x2]
                    + dx2 * dy1 * x[y2 * iw + x1]
                    + dx1 * dy1 * x[y2 * iw + x2];
                out[(pl * oh + y) * ow + xo] = v;
            }
        }
    }
}

fn asymmetric(input: &[f32], out: &mut [f32], planes: usize, (ih, iw): (usize, usize), (oh, ow): (usize, usize)) {
    let sh = ih as f32 / oh as f32;
    let sw = iw as f32 / ow as f32;
    for pl in 0..planes {
        let x = |h: usize, w: usize| input[(pl * ih + h.min(ih - 1)) * iw + w.min(iw - 1)];
        for h in 0..oh {
            let fh = (h as f32 * sh).min((ih - 1) as f32);
            let (h0, h1) = (fh.floor() as usize, fh.ceil() as usize);
            for w in 0..ow {
                let fw = (w as f32 * sw).min((iw - 1) as f32);
                let (w0, w1) = (fw.floor() as usize, fw.ceil() as usize);
                let hi = fh == h0 as f32;
                let wi = fw == w0 as f32;
                let v = match (hi, wi) {
                    (true, true) => x(h0, w0),
                    (true, false) => x(h0, w0) * (w1 as f32 - fw) + x(h0, w1) * (fw - w0 as f32),
                    (false, true) => x(h0, w0) * (h1 as f32 - fh) + x(h1, w0) * (fh - h0 as f32),
                    _ => {
                        let a = (w1 as f32 - fw) * (h1 as f32 - fh);
                        let b = (fw - w0 as f32) * (h1 as f32 - fh);
                        let c = (w1 as f32 - fw) * (fh - h0 as f32);
                        let d = (fw - w0 as f32) * (fh - h0 as f32);
                        x(h0, w0) * a + x(h0, w1) * b + x(h1, w0) * c + x(h1, w1) * d
                    }
                };
                out[(pl * oh + h) * ow + w] = v;
            }
        }
    }
}

fn align_corners(
    p: &InterpParams,
    input: &[f32],
    out: &mut [f32],
    planes: usize,
    (ih, iw): (usize, usize),
    (oh, ow): (usize, usize),
) {
    let eh = ih + p.pad_beg.max(0) as usize + p.pad_end.max(0) as usize;
    let ew = iw + p.pad_beg.max(0) as usize + p.pad_end.max(0) as usize;
    if eh == oh && ew == ow && p.pad_beg == 0 && p.pad_end == 0 {
        out[..planes * oh * ow].copy_from_slice(&input[..planes * oh * ow]);
        return;
    }
    let rh = if oh > 1 { (eh - 1) as f32 / (oh - 1) as f32 } else { 0.0 };
    let rw = if ow > 1 { (ew - 1) as f32 / (ow - 1) as f32 } else { 0.0 };
    for pl in 0..planes {
        let x = |h: usize, w: usize| input[(pl * ih + h.min(ih - 1)) * iw + w.min(iw - 1)];
        for h in 0..oh {
            let r = rh * h as f32;
            let h1 = r as usize;
            let hs = if h1 < eh - 1 { 1 } else { 0 };
            let l1 = r - h1 as f32;
            let l0 = 1.0 - l1;
            for w in 0..ow {
                let c = rw * w as f32;
                let w1 = c as usize;
                let ws = if w1 < ew - 1 { 1 } else { 0 };
                let m1 = c - w1 as f32;
                let m0 = 1.0 - m1;
                let v = l0 * (m0 * x(h1, w1) + m1 * x(h1, w1 + ws)) + l1 * (m0 * x(h1 + hs, w1) + m1 * x(h1 + hs, w1 + ws));
                out[(pl * oh + h) * ow + w] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_matches_the_scrfd_example() {
        // 14x24 → 27x48 "nearest": row (int)(h·14/27), column (int)(w·0.5).
        let p = InterpParams { mode: "nearest".into(), height: 27, width: 48, ..Default::default() };
        assert_eq!(p.output_size(14, 24, (0, 0)), (27, 48));
        let input: Vec<u8> = (0..14 * 24).map(|i| i as u8).collect();
        let mut out = vec![0u8; 27 * 48];
        nearest(&p, &input, &mut out, 1, 1, (14, 24), (27, 48));
        let sh = 14f32 / 27f32;
        for h in 0..27 {
            for w in 0..48 {
                let r = (h as f32 * sh) as usize;
                assert_eq!(out[h * 48 + w], input[r * 24 + w / 2]);
            }
        }
    }

    #[test]
    fn half_pixel_upsample_by_two_interpolates() {
        let p = InterpParams { mode: "half_pixel".into(), ..Default::default() };
        let input = [0.0f32, 4.0];
        let mut out = [0f32; 4];
        bilinear(&p, &input, &mut out, 1, (1, 2), (1, 4));
        assert_eq!(out, [0.0, 1.0, 3.0, 4.0]);
    }
}
