//! The schedule alone (no data) on the corpus case with the most descriptors,
//! `mobilenet_v2_cv180x_int8` (about 18 000). Skips with a message when the corpus is absent.

use criterion::{criterion_group, criterion_main, Criterion};
use cvsim_runtime::Model;
use cvsim_sim::timing::{pmu, schedule, TimingConfig};
use std::path::Path;

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/networks/mobilenet_v2_cv180x_int8/model.cvimodel");
    let Ok(m) = Model::from_file(&path) else {
        eprintln!("schedule bench skipped: {} not found", path.display());
        return;
    };
    let p = m.program(0).expect("program 0");
    let cmds = p
        .routines
        .iter()
        .find_map(|r| m.routine_section(r))
        .map(|s| m.decode_cmdbuf(s).expect("decodes"))
        .expect("a TPU routine");
    let cfg = TimingConfig::default();
    c.bench_function("schedule mobilenet_v2_cv180x_int8", |b| b.iter(|| schedule(m.chip(), &cmds, &cfg).unwrap()));
    let s = schedule(m.chip(), &cmds, &cfg).unwrap();
    c.bench_function("pmu summary mobilenet_v2_cv180x_int8", |b| b.iter(|| pmu::summary_text(&s)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
