//! A plain integer reference of every layer kind (isa.md §3.6, §3.7), written independently of
//! the code generator: NCHW loops, no tiling.

use cvsim_compiler::lower::{ChannelQuant, Conv, Layer, Network, PoolKind, Rescale};

/// Rounding right shift: round half up.
pub fn rshr(x: i64, r: u32) -> i64 {
    if r == 0 {
        x
    } else {
        ((x >> (r - 1)) + 1) >> 1
    }
}

pub fn sat8(x: i64) -> i8 {
    x.clamp(-128, 127) as i8
}

/// TFLite `MultiplyByQuantizedMultiplier`, then the int8 clamp.
pub fn mbqm(x: i64, m: u32, s: i8) -> i8 {
    let (left, right) = if s > 0 { (0, s as u32) } else { ((-s) as u32, 0) };
    let a = (x << left) as i32 as i64;
    let p = a * (m as i32 as i64);
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    let y = (p + nudge) / (1i64 << 31);
    let mask = (1i64 << right) - 1;
    let rem = y & mask;
    let threshold = (mask >> 1) + (y < 0) as i64;
    sat8((y >> right) + (rem > threshold) as i64)
}

pub fn requant(acc: i64, q: &ChannelQuant, relu: bool) -> i8 {
    let y = mbqm(acc + q.bias as i64, q.multiplier, q.shift);
    if relu {
        y.max(0)
    } else {
        y
    }
}

/// Raw accumulators (before bias) of a convolution, [n][oc][oh][ow].
pub fn conv_acc(c: &Conv, x: &[i8], [n, ic, ih, iw]: [usize; 4], [_, oc, oh, ow]: [usize; 4]) -> Vec<i64> {
    let icg = ic / c.group;
    let ocg = oc / c.group;
    let [kh, kw] = c.kernel;
    let mut out = vec![0i64; n * oc * oh * ow];
    for b in 0..n {
        for o in 0..oc {
            let grp = o / ocg;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = 0i64;
                    for i in 0..icg {
                        let ci = grp * icg + i;
                        for ky in 0..kh {
                            let iy = (y * c.stride[0] + ky * c.dilation[0]) as i64 - c.pads.top as i64;
                            if iy < 0 || iy >= ih as i64 {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (xo * c.stride[1] + kx * c.dilation[1]) as i64 - c.pads.left as i64;
                                if ix < 0 || ix >= iw as i64 {
                                    continue;
                                }
                                let xv = x[((b * ic + ci) * ih + iy as usize) * iw + ix as usize] as i64;
                                let wv = c.weight[((o * icg + i) * kh + ky) * kw + kx] as i64;
                                acc += xv * wv;
                            }
                        }
                    }
                    out[((b * oc + o) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    out
}

fn round_half_away(v: f32) -> f32 {
    v.round()
}

/// Run the whole network on the given inputs (raw bytes per tensor); returns every tensor's bytes.
pub fn run(net: &Network, inputs: &[(usize, Vec<u8>)]) -> Vec<Option<Vec<u8>>> {
    let mut v: Vec<Option<Vec<u8>>> = vec![None; net.tensors.len()];
    for (t, b) in inputs {
        v[*t] = Some(b.clone());
    }
    let i8s = |v: &Vec<Option<Vec<u8>>>, t: usize| -> Vec<i8> { v[t].as_ref().unwrap().iter().map(|&b| b as i8).collect() };
    let to_bytes = |x: Vec<i8>| -> Vec<u8> { x.into_iter().map(|b| b as u8).collect() };
    for l in &net.layers {
        let shape = |t: usize| net.tensors[t].shape;
        let out: Vec<u8> = match l {
            Layer::Quantize { input, scale, .. } => {
                let b = v[*input].as_ref().unwrap();
                b.chunks_exact(4)
                    .map(|c| {
                        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        (round_half_away(x * scale) as i32).clamp(-128, 127) as i8 as u8
                    })
                    .collect()
            }
            Layer::Dequantize { input, scale, .. } => {
                i8s(&v, *input).iter().flat_map(|&q| (q as f32 * scale).to_le_bytes()).collect()
            }
            Layer::Conv(c) => {
                let x = i8s(&v, c.input);
                let so = shape(c.output);
                let acc = conv_acc(c, &x, shape(c.input), so);
                let per = so[2] * so[3];
                to_bytes(acc.iter().enumerate().map(|(i, &a)| requant(a, &c.quant[(i / per) % so[1]], c.relu)).collect())
            }
            Layer::FullyConnected(f) => {
                let x = i8s(&v, f.input);
                let [m, k, _, _] = shape(f.input);
                let nn = shape(f.output)[1];
                let mut y = Vec::new();
                for r in 0..m {
                    for o in 0..nn {
                        let acc: i64 = (0..k).map(|i| x[r * k + i] as i64 * f.weight[o * k + i] as i64).sum();
                        y.push(requant(acc, &f.quant[o], f.relu));
                    }
                }
                to_bytes(y)
            }
            Layer::Lut { input, table, .. } => i8s(&v, *input).iter().map(|&x| table[x as u8 as usize] as u8).collect(),
            Layer::Add { a, b, ma, mb, rshift, relu, .. } => {
                let (a, b) = (i8s(&v, *a), i8s(&v, *b));
                to_bytes(
                    a.iter()
                        .zip(&b)
                        .map(|(&x, &y)| {
                            let r = sat8(rshr(x as i64 * *ma as i64 + y as i64 * *mb as i64, *rshift as u32));
                            if *relu {
                                r.max(0)
                            } else {
                                r
                            }
                        })
                        .collect(),
                )
            }
            Layer::Mul { a, b, multiplier, shift, .. } => {
                let s = shape(*a);
                let (x, y) = (i8s(&v, *a), i8s(&v, *b));
                let per = s[2] * s[3];
                let broadcast = y.len() != x.len();
                to_bytes(
                    x.iter()
                        .enumerate()
                        .map(|(i, &xv)| {
                            let yv = if broadcast { y[i / per] } else { y[i] };
                            mbqm(xv as i64 * yv as i64, *multiplier, *shift)
                        })
                        .collect(),
                )
            }
            Layer::Pool(p) => {
                let x = i8s(&v, p.input);
                let [n, c, ih, iw] = shape(p.input);
                let [_, _, oh, ow] = shape(p.output);
                let mut y = Vec::new();
                for bc in 0..n * c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut mx = -128i64;
                            let mut sum = 0i64;
                            for ky in 0..p.kernel[0] {
                                for kx in 0..p.kernel[1] {
                                    let iy = (oy * p.stride[0] + ky) as i64 - p.pads.top as i64;
                                    let ix = (ox * p.stride[1] + kx) as i64 - p.pads.left as i64;
                                    if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                        continue;
                                    }
                                    let xv = x[(bc * ih + iy as usize) * iw + ix as usize] as i64;
                                    mx = mx.max(xv);
                                    sum += xv;
                                }
                            }
                            y.push(match p.kind {
                                PoolKind::Max => mx as i8,
                                PoolKind::Avg { multiplier, rshift } => sat8(rshr(sum * multiplier as i64, rshift as u32)),
                            });
                        }
                    }
                }
                to_bytes(y)
            }
            Layer::Concat { inputs, output, rescale } => {
                let [n, c, h, w] = shape(*output);
                let mut y = vec![0i8; n * c * h * w];
                let mut c0 = 0;
                for (&t, r) in inputs.iter().zip(rescale) {
                    let x = i8s(&v, t);
                    let ct = shape(t)[1];
                    for b in 0..n {
                        for ci in 0..ct {
                            for i in 0..h * w {
                                let xv = x[(b * ct + ci) * h * w + i];
                                y[(b * c + c0 + ci) * h * w + i] = match r {
                                    None => xv,
                                    Some(Rescale { multiplier, rshift }) => {
                                        sat8(rshr(xv as i64 * *multiplier as i64, *rshift as u32))
                                    }
                                };
                            }
                        }
                    }
                    c0 += ct;
                }
                to_bytes(y)
            }
            Layer::Reshape { input, .. } => v[*input].clone().unwrap(),
        };
        v[l.output()] = Some(out);
    }
    v
}
