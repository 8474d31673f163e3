//! Convolution and transposed convolution in fp32: im2col and a matrix product (ndarray's `dot`,
//! blocked by matrixmultiply), with a direct loop for depthwise convolution where im2col would be
//! all overhead.

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};

pub struct Geometry {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub group: usize,
}

/// `x` [N,C,H,W], `w` [O,C/g,kh,kw], optional bias [O]; output of shape `out`.
pub fn conv(x: &[f32], xs: &[usize], w: &[f32], bias: Option<&[f32]>, g: &Geometry, out: &[usize]) -> ArrayD<f32> {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, oh, ow) = (out[1], out[2], out[3]);
    let (cg, og) = (c / g.group, o / g.group);
    let [kh, kw] = g.kernel;
    let kk = cg * kh * kw;
    let mut y = vec![0f32; n * o * oh * ow];
    let plain_1x1 = kh == 1 && kw == 1 && g.strides == [1, 1] && g.pads == [0; 4];
    for b in 0..n {
        for gi in 0..g.group {
            let xg = &x[(b * c + gi * cg) * h * wd..(b * c + (gi + 1) * cg) * h * wd];
            let wg = &w[gi * og * kk..(gi + 1) * og * kk];
            let yg = &mut y[(b * o + gi * og) * oh * ow..(b * o + (gi + 1) * og) * oh * ow];
            if cg == 1 && og == 1 {
                depthwise(xg, h, wd, wg, g, oh, ow, yg);
                continue;
            }
            let wm = ArrayView2::from_shape((og, kk), wg).expect("weight slice has og*kk elements");
            let prod = if plain_1x1 {
                wm.dot(&ArrayView2::from_shape((cg, h * wd), xg).expect("input slice has cg*h*w elements"))
            } else {
                wm.dot(&im2col(xg, cg, h, wd, g, oh, ow))
            };
            yg.copy_from_slice(prod.as_slice().expect("dot returns a standard-layout array"));
        }
    }
    if let Some(bias) = bias {
        for (i, chunk) in y.chunks_mut(oh * ow).enumerate() {
            let bv = bias[i % o];
            chunk.iter_mut().for_each(|v| *v += bv);
        }
    }
    ArrayD::from_shape_vec(IxDyn(out), y).expect("output has the inferred size")
}

fn im2col(x: &[f32], cg: usize, h: usize, w: usize, g: &Geometry, oh: usize, ow: usize) -> Array2<f32> {
    let [kh, kw] = g.kernel;
    let mut cols = Array2::<f32>::zeros((cg * kh * kw, oh * ow));
    let cs = cols.as_slice_mut().expect("fresh array is contiguous");
    for ci in 0..cg {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &mut cs[((ci * kh + ky) * kw + kx) * oh * ow..][..oh * ow];
                for oy in 0..oh {
                    let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &x[(ci * h + iy as usize) * w..][..w];
                    let dst = &mut row[oy * ow..][..ow];
                    for (ox, d) in dst.iter_mut().enumerate() {
                        let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                        if ix >= 0 && ix < w as isize {
                            *d = src[ix as usize];
                        }
                    }
                }
            }
        }
    }
    cols
}

#[allow(clippy::too_many_arguments)]
fn depthwise(x: &[f32], h: usize, w: usize, k: &[f32], g: &Geometry, oh: usize, ow: usize, y: &mut [f32]) {
    let [kh, kw] = g.kernel;
    for ky in 0..kh {
        for kx in 0..kw {
            let kv = k[ky * kw + kx];
            for oy in 0..oh {
                let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let src = &x[iy as usize * w..][..w];
                let dst = &mut y[oy * ow..][..ow];
                let off = (kx * g.dilations[1]) as isize - g.pads[1] as isize;
                // Output columns whose input column lies inside the row.
                let lo = if off < 0 { ((-off) as usize).div_ceil(g.strides[1]) } else { 0 };
                let hi =
                    if (w as isize) > off { (((w as isize - off) as usize).div_ceil(g.strides[1])).min(ow) } else { 0 };
                if g.strides[1] == 1 {
                    let s = (lo as isize + off) as usize;
                    for (d, &v) in dst[lo..hi.max(lo)].iter_mut().zip(&src[s..]) {
                        *d += kv * v;
                    }
                } else {
                    for ox in lo..hi {
                        *(&mut dst[ox]) += kv * src[(ox as isize * g.strides[1] as isize + off) as usize];
                    }
                }
            }
        }
    }
}

/// `x` [N,C,H,W], `w` [C, O/g, kh, kw], optional bias [O]; output of shape `out`.
pub fn conv_transpose(
    x: &[f32],
    xs: &[usize],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    out: &[usize],
) -> ArrayD<f32> {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, oh, ow) = (out[1], out[2], out[3]);
    let (cg, og) = (c / g.group, o / g.group);
    let [kh, kw] = g.kernel;
    let mut y = vec![0f32; n * o * oh * ow];
    for b in 0..n {
        for gi in 0..g.group {
            let xg = ArrayView2::from_shape((cg, h * wd), &x[(b * c + gi * cg) * h * wd..][..cg * h * wd])
                .expect("input slice");
            let wg = ArrayView2::from_shape((cg, og * kh * kw), &w[gi * cg * og * kh * kw..][..cg * og * kh * kw])
                .expect("weight slice");
            let cols = wg.t().dot(&xg);
            let yg = &mut y[(b * o + gi * og) * oh * ow..][..og * oh * ow];
            for oc in 0..og {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let row = cols.row((oc * kh + ky) * kw + kx);
                        for iy in 0..h {
                            let oy = (iy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                            if oy < 0 || oy >= oh as isize {
                                continue;
                            }
                            for ix in 0..wd {
                                let ox = (ix * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                                if ox >= 0 && ox < ow as isize {
                                    yg[(oc * oh + oy as usize) * ow + ox as usize] += row[iy * wd + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(bias) = bias {
        for (i, chunk) in y.chunks_mut(oh * ow).enumerate() {
            let bv = bias[i % o];
            chunk.iter_mut().for_each(|v| *v += bv);
        }
    }
    ArrayD::from_shape_vec(IxDyn(out), y).expect("output has the inferred size")
}
