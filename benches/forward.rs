//! The forward pass alone (no load, no npz input or output): the bundled example model, always,
//! and the mobilenet_v2 network cases of `../shared/conformance` when the corpus is present.
//! `cargo bench --bench forward`; whole-process `cvsim run` times are in `traces/performance-*.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use cvsim::commands::tensors;
use cvsim::npz;
use cvsim_compiler::example;
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_runtime::Model;
use std::path::Path;

const NETWORK_CASES: [&str; 4] =
    ["mobilenet_v2_cv181x_int8", "mobilenet_v2_cv181x_bf16", "mobilenet_v2_cv180x_int8", "mobilenet_v2_cv183x_int8"];

fn example_forward(c: &mut Criterion) {
    let ex = example::build(1);
    let loaded =
        LoadedModel::new(Model::from_vec(ex.model_bytes.clone()).expect("example parses")).expect("example loads");
    let mut inst = Instance::new(loaded, 0).expect("example instance");
    let input: Vec<u8> = ex.input.iter().map(|&v| v as u8).collect();
    inst.set_input(&ex.input_name, &input).expect("example input");
    c.bench_function("forward/example", |b| b.iter(|| inst.forward().expect("example forward")));
}

fn network_forward(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/networks");
    let mut group = c.benchmark_group("forward");
    // A forward takes 0.1 to 1 s: the minimum sample count keeps a bench run to minutes.
    group.sample_size(10);
    for name in NETWORK_CASES {
        let dir = root.join(name);
        if !dir.join("model.cvimodel").is_file() {
            eprintln!("SKIP forward/{name}: {} not found (the conformance corpus is absent)", dir.display());
            continue;
        }
        let loaded = LoadedModel::from_file(dir.join("model.cvimodel")).expect("corpus model loads");
        let mut inst = Instance::new(loaded, 0).expect("corpus instance");
        let inputs = npz::read(&dir.join("input.npz")).expect("corpus input");
        tensors::set_inputs(&mut inst, &inputs).expect("corpus input fits");
        group.bench_function(name, |b| b.iter(|| inst.forward().expect("corpus forward")));
    }
    group.finish();
}

criterion_group!(benches, example_forward, network_forward);
criterion_main!(benches);
