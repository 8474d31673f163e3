//! A plain integer reference of every layer kind (isa.md §3.6, §3.7), written independently of
//! the code generator: NCHW loops, no tiling.

use cvsim_compiler::codegen::{conv, softmax};
use cvsim_compiler::lower::{ActBf16, ChannelQuant, Conv, ConvBf16, DType, Layer, Network, PoolKind, Rescale};
use cvsim_sim::arith::{f32_add_toward_zero, f32_mac};
use cvsim_sim::bf16::{bf16_operand, bf16_result};

/// A TIU bf16 result with optional ReLU on the rounded value.
fn out(x: f32, relu: bool) -> u16 {
    let r = bf16_result(x);
    if relu && r & 0x8000 != 0 {
        0
    } else {
        r
    }
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
}

fn bytes16(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A bf16 constant as the code generator writes it (round to nearest even).
fn konst(v: f32) -> f32 {
    bf16_operand(cvsim_compiler::codegen::softmax::bf16(v))
}

/// bf16 convolution: fp32 sums kh → kw → ic with the TIU's truncating MAC, padding as 0, then
/// the bias, ReLU and one rounding. With the reduction cut into `chunks` of input channels, the
/// sum runs kh → kw → ic over each chunk in turn, continuing from the chunks before it.
fn conv_bf16(
    c: &ConvBf16,
    x: &[u16],
    [n, ic, ih, iw]: [usize; 4],
    [_, oc, oh, ow]: [usize; 4],
    chunks: &[std::ops::Range<usize>],
) -> Vec<u16> {
    let icg = ic / c.group;
    let ocg = oc / c.group;
    let [kh, kw] = c.kernel;
    let mut y = Vec::with_capacity(n * oc * oh * ow);
    for b in 0..n {
        for o in 0..oc {
            let grp = o / ocg;
            for yy in 0..oh {
                for xo in 0..ow {
                    let mut acc = 0f32;
                    for chunk in chunks {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                for i in chunk.clone() {
                                    let ci = grp * icg + i;
                                    let iy = (yy * c.stride[0] + ky * c.dilation[0]) as i64 - c.pads.top as i64;
                                    let ix = (xo * c.stride[1] + kx * c.dilation[1]) as i64 - c.pads.left as i64;
                                    let xv = if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                        0.0
                                    } else {
                                        bf16_operand(x[((b * ic + ci) * ih + iy as usize) * iw + ix as usize])
                                    };
                                    let wv = bf16_operand(c.weight[((o * icg + i) * kh + ky) * kw + kx]);
                                    acc = f32_mac(acc, xv, wv);
                                }
                            }
                        }
                    }
                    y.push(out(f32_add_toward_zero(acc, c.bias[o]), c.relu));
                }
            }
        }
    }
    y
}

fn act_bf16(a: ActBf16, x: f32) -> u16 {
    let r = |v: f32| bf16_operand(bf16_result(v));
    let max = |a: f32, b: f32| r(a.max(b));
    let min = |a: f32, b: f32| r(a.min(b));
    match a {
        ActBf16::Relu => bf16_result(x.max(0.0)),
        ActBf16::Clip { lo, hi } => bf16_result(min(max(x, konst(lo)), konst(hi))),
        ActBf16::HardSigmoid { alpha, beta } | ActBf16::HardSwish { alpha, beta } => {
            // The affine step is a 1×1 depthwise convolution: product and fp32 bias summed, one
            // rounding.
            let t = r(f32_mac(beta, x, konst(alpha)));
            let t = min(max(t, 0.0), 1.0);
            if matches!(a, ActBf16::HardSwish { .. }) {
                bf16_result(t * x)
            } else {
                bf16_result(t)
            }
        }
        ActBf16::LeakyRelu { alpha } => bf16_result(r(x * konst(alpha)).max(x)),
        ActBf16::ShiftClip { shift, hi } | ActBf16::ShiftClipMul { shift, hi } => {
            let t = min(max(r(x + konst(shift)), 0.0), konst(hi));
            if matches!(a, ActBf16::ShiftClipMul { .. }) {
                bf16_result(t * x)
            } else {
                bf16_result(t)
            }
        }
    }
}

fn f32_of(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// fp32 → bf16 as the TIU rounds its results: nearest even; an all-ones exponent after rounding
/// becomes 0x7F7F (isa.md §3.7).
fn bf16_rne(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7FC0;
    }
    let b = x.to_bits();
    let r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16;
    if r & 0x7F80 == 0x7F80 {
        0x7F7F
    } else {
        r
    }
}

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
    let i8s =
        |v: &Vec<Option<Vec<u8>>>, t: usize| -> Vec<i8> { v[t].as_ref().unwrap().iter().map(|&b| b as i8).collect() };
    let to_bytes = |x: Vec<i8>| -> Vec<u8> { x.into_iter().map(|b| b as u8).collect() };
    for l in &net.layers {
        let shape = |t: usize| net.tensors[t].shape;
        let out: Vec<u8> = match l {
            Layer::Quantize { input, output, .. } if net.tensors[*output].dtype == DType::Bf16 => {
                let b = v[*input].as_ref().unwrap();
                b.chunks_exact(4)
                    .flat_map(|c| {
                        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        (((x * 1.001957f32).to_bits() >> 16) as u16).to_le_bytes()
                    })
                    .collect()
            }
            Layer::Quantize { input, scale, .. } => {
                let b = v[*input].as_ref().unwrap();
                b.chunks_exact(4)
                    .map(|c| {
                        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        (round_half_away(x * scale) as i32).clamp(-128, 127) as i8 as u8
                    })
                    .collect()
            }
            Layer::Dequantize { input, scale, .. } => match net.tensors[*input].dtype {
                DType::Bf16 => v[*input]
                    .as_ref()
                    .unwrap()
                    .chunks_exact(2)
                    .flat_map(|b| f32_of(u16::from_le_bytes([b[0], b[1]])).to_le_bytes())
                    .collect(),
                _ => i8s(&v, *input).iter().flat_map(|&q| (q as f32 * scale).to_le_bytes()).collect(),
            },
            Layer::Conv(c) => {
                let x = i8s(&v, c.input);
                let so = shape(c.output);
                let acc = conv_acc(c, &x, shape(c.input), so);
                let per = so[2] * so[3];
                to_bytes(
                    acc.iter().enumerate().map(|(i, &a)| requant(a, &c.quant[(i / per) % so[1]], c.relu)).collect(),
                )
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
            Layer::Pool(p) if net.tensors[p.input].dtype == DType::Bf16 => {
                let x = u16s(v[p.input].as_ref().unwrap());
                let [n, c, ih, iw] = shape(p.input);
                let [_, _, oh, ow] = shape(p.output);
                let k = konst(1.0 / (p.kernel[0] * p.kernel[1]) as f32);
                let mut y = Vec::new();
                for bc in 0..n * c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut mx = f32::NEG_INFINITY;
                            let mut acc = 0f32;
                            for ky in 0..p.kernel[0] {
                                for kx in 0..p.kernel[1] {
                                    let iy = (oy * p.stride[0] + ky) as i64 - p.pads.top as i64;
                                    let ix = (ox * p.stride[1] + kx) as i64 - p.pads.left as i64;
                                    let xv = if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                        if p.kind == PoolKind::Max {
                                            bf16_operand(0xFF7F)
                                        } else {
                                            0.0
                                        }
                                    } else {
                                        bf16_operand(x[(bc * ih + iy as usize) * iw + ix as usize])
                                    };
                                    mx = mx.max(xv);
                                    acc = f32_mac(acc, xv, k);
                                }
                            }
                            y.push(bf16_result(if p.kind == PoolKind::Max { mx } else { acc }));
                        }
                    }
                }
                bytes16(&y)
            }
            Layer::Slice { input, output, c0 } => {
                let [n, ci, h, w] = shape(*input);
                let co = shape(*output)[1];
                let e = net.tensors[*input].dtype.size();
                let x = v[*input].as_ref().unwrap();
                let plane = h * w * e;
                (0..n).flat_map(|b| x[(b * ci + c0) * plane..(b * ci + c0 + co) * plane].to_vec()).collect()
            }
            Layer::ChannelShuffle { input, groups, .. } => {
                let [n, c, h, w] = shape(*input);
                let e = net.tensors[*input].dtype.size();
                let x = v[*input].as_ref().unwrap();
                let (plane, per) = (h * w * e, c / groups);
                let mut y = vec![0u8; x.len()];
                for b in 0..n {
                    for j in 0..c {
                        let (k, i) = (j / groups, j % groups);
                        let from = (b * c + i * per + k) * plane;
                        y[(b * c + j) * plane..][..plane].copy_from_slice(&x[from..from + plane]);
                    }
                }
                y
            }
            Layer::Concat { inputs, output, .. } if net.tensors[*output].dtype == DType::Bf16 => {
                let [n, _, h, w] = shape(*output);
                let plane = h * w * 2;
                let mut y = Vec::new();
                for b in 0..n {
                    for &t in inputs {
                        let ct = shape(t)[1];
                        y.extend_from_slice(&v[t].as_ref().unwrap()[b * ct * plane..(b + 1) * ct * plane]);
                    }
                }
                y
            }
            Layer::ConvBf16(c) => {
                let (si, so) = (shape(c.input), shape(c.output));
                let chunks = if c.group == 1 {
                    conv::reduction_chunks(net.chip, si, so, c.kernel, c.stride, c.pads, c.dilation, 1, true)
                        .expect("the layer compiled")
                } else {
                    vec![0..si[1] / c.group]
                };
                bytes16(&conv_bf16(c, &u16s(v[c.input].as_ref().unwrap()), si, so, &chunks))
            }
            Layer::FullyConnectedBf16 { input, output, weight, bias, relu } => {
                let c = ConvBf16 {
                    input: *input,
                    output: *output,
                    weight: weight.clone(),
                    bias: bias.clone(),
                    kernel: [1, 1],
                    stride: [1, 1],
                    pads: cvsim_compiler::lower::Pads::ZERO,
                    dilation: [1, 1],
                    group: 1,
                    relu: *relu,
                };
                let (si, so) = (shape(*input), shape(*output));
                let chunks = conv::reduction_chunks(net.chip, si, so, [1, 1], [1, 1], c.pads, [1, 1], 1, true)
                    .expect("the layer compiled");
                bytes16(&conv_bf16(&c, &u16s(v[*input].as_ref().unwrap()), si, so, &chunks))
            }
            Layer::AddBf16 { a, b, relu, .. } => {
                let (x, y) = (u16s(v[*a].as_ref().unwrap()), u16s(v[*b].as_ref().unwrap()));
                bytes16(
                    &x.iter().zip(&y).map(|(&p, &q)| out(bf16_operand(p) + bf16_operand(q), *relu)).collect::<Vec<_>>(),
                )
            }
            Layer::MulBf16 { a, b, .. } => {
                let s = shape(*a);
                let (x, y) = (u16s(v[*a].as_ref().unwrap()), u16s(v[*b].as_ref().unwrap()));
                let per = s[2] * s[3];
                let bc = y.len() != x.len();
                bytes16(
                    &x.iter()
                        .enumerate()
                        .map(|(i, &p)| bf16_result(bf16_operand(p) * bf16_operand(if bc { y[i / per] } else { y[i] })))
                        .collect::<Vec<_>>(),
                )
            }
            Layer::ActBf16 { input, act, .. } => {
                let x = u16s(v[*input].as_ref().unwrap());
                bytes16(&x.iter().map(|&p| act_bf16(*act, bf16_operand(p))).collect::<Vec<_>>())
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
                                PoolKind::Avg { multiplier, rshift } => {
                                    sat8(rshr(sum * multiplier as i64, rshift as u32))
                                }
                                PoolKind::Mean => unreachable!("bf16 only"),
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
            Layer::LutBf16 { input, table, .. } => {
                let r = |v: f32| bf16_operand(bf16_result(v));
                let y: Vec<u16> = u16s(v[*input].as_ref().unwrap())
                    .iter()
                    .map(|&xb| {
                        let x = match table.clamp {
                            Some([lo, hi]) => bf16_operand(xb).max(konst(lo)).min(konst(hi)),
                            None => bf16_operand(xb),
                        };
                        let t = r(x * konst(table.scale));
                        let i = cvsim_sim::bf16::bf16_to_int8(
                            bf16_result(t),
                            true,
                            cvsim_sim::bf16::Int8Rounding::TowardZero,
                            net.chip,
                        );
                        let f = r(t - i as i8 as f32);
                        let (b, s) = (bf16_operand(table.base[i as usize]), bf16_operand(table.slope[i as usize]));
                        bf16_result(f32_add_toward_zero(b, s * f))
                    })
                    .collect();
                bytes16(&y)
            }
            Layer::Softmax { input, .. } if net.tensors[*input].dtype == DType::Bf16 => {
                let [n, c, _, _] = shape(*input);
                let x = u16s(v[*input].as_ref().unwrap());
                let (base, slope) = (softmax::exp_base_table(), softmax::exp_slope_table());
                let (pow, man) = (softmax::pow_table(), softmax::mantissa_table());
                let r = |v: f32| bf16_operand(bf16_result(v));
                let mut y = Vec::new();
                for row in x.chunks(c).take(n) {
                    let xs: Vec<f32> = row.iter().map(|&b| bf16_operand(b)).collect();
                    let mx = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                    let e: Vec<u16> = xs
                        .iter()
                        .map(|&xv| {
                            let t = r(r(r(xv - mx) * softmax::EXP_STEPS).max(-128.0));
                            let i = cvsim_sim::bf16::bf16_to_int8(
                                bf16_result(t),
                                true,
                                cvsim_sim::bf16::Int8Rounding::TowardZero,
                                net.chip,
                            );
                            let f = r(t - i as i8 as f32);
                            let (b, s) = (bf16_operand(base[i as usize]), bf16_operand(slope[i as usize]));
                            bf16_result(f32_add_toward_zero(b, s * f))
                        })
                        .collect();
                    let mut acc = 0f32;
                    for &ev in &e {
                        acc = f32_mac(acc, bf16_operand(ev), 1.0);
                    }
                    let sum = bf16_result(acc);
                    let idx = ((sum >> 7) & 0xFF) as i32 - 127 + 63;
                    let recip =
                        bf16_result(bf16_operand(pow[idx as u8 as usize]) * bf16_operand(man[(sum & 0xFF) as usize]));
                    y.extend(e.iter().map(|&ev| bf16_result(bf16_operand(ev) * bf16_operand(recip))));
                }
                bytes16(&y)
            }
            Layer::Softmax { input, scale, .. } => {
                let [n, c, _, _] = shape(*input);
                let q = i8s(&v, *input);
                let (exp, pow, man) = (softmax::exp_table(*scale), softmax::pow_table(), softmax::mantissa_table());
                let mut y = Vec::new();
                for r in 0..n {
                    let e: Vec<u16> = (0..c).map(|i| exp[q[r * c + i] as u8 as usize]).collect();
                    let mut acc = 0f32;
                    for &x in &e {
                        acc += f32_of(x) * 1.0;
                    }
                    let sum = bf16_rne(acc);
                    let idx = ((sum >> 7) & 0xFF) as i32 - 127 + 63;
                    let recip = bf16_rne(f32_of(pow[idx as u8 as usize]) * f32_of(man[(sum & 0xFF) as usize]));
                    y.extend(e.iter().map(|&x| bf16_rne(f32_of(x) * f32_of(recip))));
                }
                y.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
        };
        v[l.output()] = Some(out);
    }
    v
}
