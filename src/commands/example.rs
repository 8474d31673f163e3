//! `cvsim example`: first the way a user works — a small ONNX network (written by cvsim, seeded
//! weights) calibrated, compiled to an int8 and a bf16 `.cvimodel` for CV181x, run in the
//! emulator and compared with the fp32 reference; then the hand-built example model (runtime
//! `example`), run through the runtime like any loaded .cvimodel and checked against the plain
//! reference implementation of each layer.

use super::tensors;
use crate::npz::{self, Array, ElemType};
use crate::similarity::similarity;
use cvsim_compiler::calibration::{self, TuneOptions};
use cvsim_compiler::driver::{self, Precision};
use cvsim_compiler::example::{self, layout, network, Example, SplitMix64};
use cvsim_compiler::reference;
use cvsim_isa::Chip;
use cvsim_isa::Desc;
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_runtime::Model;
use cvsim_sim::timing::TimingConfig;
use std::fmt::Write;
use std::path::Path;

/// Inputs checked besides the example's own: seeded, so a failure can be reproduced.
const EXTRA_INPUTS: usize = 3;
/// Input values shown; the output (10 values) is shown whole.
const SHOWN: usize = 12;

/// What the command prints, and whether every output equalled the reference.
pub struct Report {
    pub text: String,
    pub ok: bool,
}

fn as_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

fn i8_array(name: &str, shape: &[usize], v: &[i8]) -> Array {
    Array { name: name.into(), elem: ElemType::I8, shape: shape.iter().map(|&d| d as u64).collect(), data: as_bytes(v) }
}

fn values(v: &[i8], limit: usize) -> String {
    let shown: Vec<String> = v.iter().take(limit).map(|x| x.to_string()).collect();
    let more = if v.len() > limit { format!(", ... ({} values)", v.len()) } else { String::new() };
    format!("[{}{more}]", shown.join(", "))
}

/// The inputs to check: the example's calibration input, then seeded random ones.
pub fn inputs(ex: &Example) -> Vec<Vec<i8>> {
    let mut rng = SplitMix64::new(ex.seed ^ 0x5EED);
    let mut v = vec![ex.input.clone()];
    v.extend((0..EXTRA_INPUTS).map(|_| rng.i8s(ex.input.len(), i8::MIN, i8::MAX)));
    v
}

/// Run the example built for `seed` and check it against `reference` (normally the same
/// example: a test passes a deliberately different one to see the mismatch reported).
pub fn check(ex: &Example, reference: &Example) -> Result<Report, String> {
    let model = Model::from_bytes(&ex.model_bytes).map_err(|e| format!("the example model does not load: {e}"))?;
    let loaded = LoadedModel::new(model).map_err(|e| format!("the example model does not load: {e}"))?;
    let mut inst = Instance::new(loaded, 0).map_err(|e| format!("the example model: {e}"))?;
    let (tiu, tdma) = ex.steps.iter().fold((0, 0), |(t, d), s| match s.desc {
        Desc::Tiu(_) => (t + 1, d),
        _ => (t, d + 1),
    });

    let mut text = String::new();
    let _ = writeln!(
        text,
        "cvsim example (seed {}): a small int8 network built by cvsim itself for {}",
        ex.seed,
        example::CHIP
    );
    let _ = writeln!(
        text,
        "  conv 3x3 {}->{} (per-channel quant, relu) -> max pool 2x2 -> add (mul + mac) -> fc {}->{}",
        layout::IC,
        layout::OC,
        layout::FC_K,
        layout::FC_N
    );
    let _ = writeln!(
        text,
        "  model: {} bytes; section {}: {} descriptors ({tiu} TIU, {tdma} TDMA)",
        ex.model_bytes.len(),
        example::CMDBUF_SECTION,
        ex.steps.len()
    );

    let mut ok = true;
    let all = inputs(ex);
    for (k, input) in all.iter().enumerate() {
        inst.set_input(&ex.input_name, &as_bytes(input)).map_err(|e| e.to_string())?;
        inst.forward().map_err(|e| format!("the example model: {e}"))?;
        let out = tensors::outputs(&inst)?;
        let got = out
            .iter()
            .find(|a| a.name == ex.output_name)
            .ok_or_else(|| format!("the example model has no output `{}`", ex.output_name))?;
        let want = i8_array(&ex.output_name, &example::OUTPUT_SHAPE, &example::reference(reference, input));
        let what = if k == 0 { "example input".to_string() } else { format!("random input {k}") };
        if k == 0 {
            let _ =
                writeln!(text, "input  `{}` int8 {:?}: {}", ex.input_name, example::INPUT_SHAPE, values(input, SHOWN));
            let got_i8: Vec<i8> = got.data.iter().map(|&b| b as i8).collect();
            let _ =
                writeln!(text, "output `{}` {} {:?}: {}", got.name, got.elem.name(), got.shape, values(&got_i8, 64));
        }
        match tensors::compare(&want, got) {
            None => {
                let _ = writeln!(text, "  {what}: output equals the reference");
            }
            Some(why) => {
                ok = false;
                let want_i8: Vec<i8> = want.data.iter().map(|&b| b as i8).collect();
                let _ = writeln!(text, "  {what}: MISMATCH {why}\n    reference {}", values(&want_i8, 64));
            }
        }
    }
    if ok {
        let _ = writeln!(text, "OK: the emulator's output equals the plain reference on all {} inputs", all.len());
    } else {
        let _ = writeln!(text, "FAILED: the emulator's output differs from the plain reference");
    }
    Ok(Report { text, ok })
}

/// Save the example as a conformance case folder: model, its input, and the reference output.
pub fn write(ex: &Example, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let model = dir.join("model.cvimodel");
    std::fs::write(&model, &ex.model_bytes).map_err(|e| format!("{}: {e}", model.display()))?;
    npz::write(&dir.join("input.npz"), &[i8_array(&ex.input_name, &example::INPUT_SHAPE, &ex.input)])?;
    npz::write(&dir.join("expected.npz"), &[i8_array(&ex.output_name, &example::OUTPUT_SHAPE, &ex.expected)])?;
    let d = dir.display();
    Ok(format!(
        "wrote {d}/model.cvimodel, {d}/input.npz and {d}/expected.npz (the reference output); try\n  \
         cvsim info {d}/model.cvimodel\n  cvsim disasm {d}/model.cvimodel\n  \
         cvsim run {d}/model.cvimodel --input {d}/input.npz\n  cvsim conformance {d}\n"
    ))
}

/// Calibration samples of the ONNX example, and the least similarity each precision must reach.
const CALIBRATION_SAMPLES: usize = 8;
const MIN_COSINE_INT8: f64 = 0.99;
const MIN_COSINE_BF16: f64 = 0.999;

/// The ONNX example: calibrate, compile (int8 and bf16), run, compare with fp32. With a folder,
/// also save the ONNX file, both models, the test input and the fp32 output there.
pub fn compiled(seed: u64, write_dir: Option<&Path>) -> Result<Report, String> {
    let chip = Chip::Cv181x;
    let onnx = network::onnx_bytes(seed);
    let samples = network::samples(seed, CALIBRATION_SAMPLES);
    let opts = calibration::Options { progress: false, ..calibration::Options::default() };
    let (table, _) = driver::calibration_table(&onnx, None, "example.onnx", &samples, &opts, &TuneOptions::default())
        .map_err(|e| format!("the ONNX example: {e}"))?;
    let mut g = driver::frontend(&onnx, None).map_err(|e| format!("the ONNX example: {e}"))?;
    driver::apply_table(&table, &mut g, &onnx, None).map_err(|e| format!("the ONNX example: {e}"))?;
    let test = network::samples(seed ^ 0x7E57, 1).remove(0);
    let values = reference::run(&g, &test.inputs).map_err(|e| format!("the ONNX example's fp32 reference: {e}"))?;
    let out_id = g.outputs[0];
    let want: Vec<f64> =
        values[out_id].as_ref().ok_or("the fp32 reference gave no output")?.iter().map(|&v| v as f64).collect();
    let input = &test.inputs[0].1;
    let input_array = Array {
        name: network::INPUT.into(),
        elem: ElemType::F32,
        shape: input.shape().iter().map(|&d| d as u64).collect(),
        data: input.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };

    let mut text = String::new();
    let _ = writeln!(
        text,
        "cvsim example (seed {seed}): an ONNX network written by cvsim ({} bytes, {} nodes after the passes), \
         calibrated on {CALIBRATION_SAMPLES} seeded inputs ({} thresholds), compiled for {chip}",
        onnx.len(),
        g.nodes.len(),
        table.entries.len()
    );
    let _ = writeln!(text, "  conv 3x3 + batch norm + relu -> max pool -> conv 3x3 + hardswish -> residual add -> depthwise conv s2 + relu -> global average pool -> gemm -> softmax");
    let argmax = |v: &[f64]| v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
    let mut ok = true;
    let mut saved = Vec::new();
    for (precision, min_cosine) in [(Precision::Int8, MIN_COSINE_INT8), (Precision::Bf16, MIN_COSINE_BF16)] {
        let label = if precision == Precision::Int8 { "int8" } else { "bf16" };
        let (net, bytes) = driver::build(&g, chip, precision, "cvsim_example")
            .map_err(|e| format!("the ONNX example ({label}): {e}"))?;
        let model = Model::from_bytes(&bytes).map_err(|e| format!("the compiled example does not load: {e}"))?;
        let loaded = LoadedModel::new(model).map_err(|e| format!("the compiled example does not load: {e}"))?;
        let timings = cvsim_runtime::timing::time_program(&loaded, 0, &TimingConfig::default())?;
        let ms: f64 = cvsim_runtime::timing::summaries(&timings).iter().map(|s| s.inference_ms()).sum();
        let mut inst = Instance::new(loaded, 0).map_err(|e| format!("the compiled example: {e}"))?;
        tensors::set_inputs(&mut inst, std::slice::from_ref(&input_array))?;
        inst.forward().map_err(|e| format!("the compiled example: {e}"))?;
        let outputs = tensors::outputs(&inst)?;
        let got = outputs.iter().find(|a| a.name == network::OUTPUT).ok_or("the compiled example has no output")?;
        let got_f: Vec<f64> =
            got.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect();
        let sim = similarity(&got_f, &want);
        let same_class = argmax(&got_f) == argmax(&want);
        let pass = sim.cosine >= min_cosine && same_class;
        ok &= pass;
        let _ = writeln!(
            text,
            "  {label}: {} layers, {} bytes; predicted inference {ms:.3} ms; against fp32: cosine {:.6}, euclidean {:.6}, sqnr {:.1} dB, class {} ({}): {}",
            net.layers.len(),
            bytes.len(),
            sim.cosine,
            sim.euclidean,
            sim.sqnr,
            argmax(&got_f),
            if same_class { "same as fp32" } else { "fp32 says another" },
            if pass { "ok" } else { "BELOW the bound" }
        );
        saved.push((label, bytes));
    }
    if let Some(dir) = write_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("example.onnx");
        std::fs::write(&path, &onnx).map_err(|e| format!("{}: {e}", path.display()))?;
        for (label, bytes) in &saved {
            let path = dir.join(format!("example_{label}.cvimodel"));
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        npz::write(&dir.join("example_input.npz"), std::slice::from_ref(&input_array))?;
        let d = dir.display();
        let _ = writeln!(
            text,
            "wrote {d}/example.onnx, {d}/example_int8.cvimodel, {d}/example_bf16.cvimodel and {d}/example_input.npz; try\n  \
             cvsim compile {d}/example.onnx --emit-ir\n  cvsim run {d}/example_int8.cvimodel --input {d}/example_input.npz --pmu"
        );
    }
    Ok(Report { text, ok })
}

/// The whole command.
pub fn run(seed: u64, write_dir: Option<&Path>) -> Result<Report, String> {
    let mut report = compiled(seed, write_dir)?;
    let ex = example::build(seed);
    let hand = check(&ex, &ex)?;
    report.text.push('\n');
    report.text.push_str(&hand.text);
    report.ok &= hand.ok;
    if let Some(dir) = write_dir {
        report.text.push_str(&write(&ex, dir)?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_matches_its_reference() {
        for seed in [0, 5] {
            let r = run(seed, None).unwrap();
            assert!(r.ok, "{}", r.text);
            assert_eq!(r.text.matches("output equals the reference").count(), 1 + EXTRA_INPUTS, "{}", r.text);
        }
    }

    /// A reference that computes one layer differently must be reported as a mismatch.
    #[test]
    fn a_wrong_reference_is_a_mismatch() {
        let ex = example::build(0);
        let mut wrong = ex.clone();
        wrong.params.fc_bias[0] += 3000;
        let r = check(&ex, &wrong).unwrap();
        assert!(!r.ok, "{}", r.text);
        assert!(r.text.contains("MISMATCH tensor `output`: first differing index 0"), "{}", r.text);
        assert!(r.text.contains("FAILED"), "{}", r.text);
    }
}
