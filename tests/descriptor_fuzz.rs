//! Real descriptors with random fields changed must run or stop with a typed error, never panic:
//! the emulator must never corrupt host memory. A panic is where a slice index would have gone out
//! of bounds in a language without checks, so every panic found here is a missing bounds check.
//!
//! Two sources of descriptors: the bundled example model (conv, pool, element-wise, matmul, TDMA
//! tensor and matrix moves; always available), run in the runtime's own device memory, and every
//! per-instruction vector of `../shared/conformance/vectors` (all chips and families; reported as
//! ignored when the corpus is absent). The mutations are seeded, so a failure reproduces.

use cvsim_compiler::example;
use cvsim_isa::cmdbuf::encode_cmdbuf;
use cvsim_isa::tdma::tdma_layout;
use cvsim_isa::tiu::tiu_layout;
use cvsim_isa::{parse_cmdbuf, Chip, Command, CommandStream, Desc};
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_sim::Machine;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A new value for a field of `width` bits: mostly the edges and small numbers the bounds checks
/// must get right, sometimes anything.
fn value(rng: &mut Rng, width: u8, old: u32) -> u32 {
    let mask = if width >= 32 { u32::MAX } else { (1u32 << width) - 1 };
    let v = match rng.below(8) {
        0 => 0,
        1 => mask,
        2 => mask >> 1,
        3 => old.wrapping_add(1),
        4 => old.wrapping_sub(1),
        5 => rng.below(16) as u32,
        6 => old.wrapping_add(rng.below(0x1000) as u32),
        _ => rng.next() as u32,
    };
    v & mask
}

/// Change 1 to 3 fields of one descriptor of `cmds` (TIU or TDMA); describe what changed.
fn mutate(rng: &mut Rng, chip: Chip, cmds: &mut [Command]) -> String {
    let targets: Vec<usize> = (0..cmds.len()).filter(|&i| !matches!(cmds[i].desc, Desc::Cpu(_))).collect();
    let i = targets[rng.below(targets.len() as u64) as usize];
    let mut what = format!("descriptor {i}:");
    for _ in 0..1 + rng.below(3) {
        match &mut cmds[i].desc {
            Desc::Tiu(d) => {
                let fields = tiu_layout(chip).fields;
                let f = &fields[rng.below(fields.len() as u64) as usize];
                let v = value(rng, f.width, d.get(f.id));
                d.set(f.id, v);
                what += &format!(" {}={v:#x}", f.name);
            }
            Desc::Tdma(d) => {
                let fields = tdma_layout(chip).fields;
                let f = &fields[rng.below(fields.len() as u64) as usize];
                let v = value(rng, f.width, d.get(f.id));
                d.set(f.id, v);
                what += &format!(" {}={v:#x}", f.name);
            }
            Desc::Cpu(_) => {}
        }
    }
    what
}

/// Run mutated copies of `cmds` on clones of `machine`; return a line per panic.
fn fuzz(label: &str, chip: Chip, machine: &Machine, cmds: &[Command], trials: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    let mut panics = Vec::new();
    for t in 0..trials {
        let mut m = cmds.to_vec();
        let what = mutate(&mut rng, chip, &mut m);
        // What a model file would hold: the mutated descriptors must also survive the codec.
        let m = match encode_cmdbuf(chip, &m) {
            Ok(buf) => CommandStream::from_vec(buf, Some(chip)).expect("an encoded cmdbuf parses"),
            Err(e) => panic!("{label} trial {t}: mutation within field widths failed to encode: {e}"),
        };
        let mut mach = machine.clone();
        if catch_unwind(AssertUnwindSafe(|| {
            let r = mach.run(&m);
            // To see which checks the mutations reach: FUZZ_SHOW=1 cargo test --test descriptor_fuzz -- --nocapture
            if std::env::var("FUZZ_SHOW").is_ok() {
                eprintln!("{what} => {:?}", r.map_err(|e| e.to_string()));
            }
        }))
        .is_err()
        {
            panics.push(format!("{label} (seed {seed}, trial {t}): panicked after {what}"));
        }
    }
    panics
}

fn report(panics: Vec<String>) {
    assert!(panics.is_empty(), "{} mutated descriptors panicked instead of returning an error:\n{}", panics.len(), {
        panics.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    });
}

#[test]
fn mutated_example_descriptors_never_panic() {
    let ex = example::build(1);
    let loaded = LoadedModel::new(cvsim_runtime::cvimodel::Model::from_vec(ex.model_bytes.clone()).unwrap()).unwrap();
    let mut inst = Instance::new(loaded.clone(), 0).unwrap();
    let input: Vec<u8> = ex.input.iter().map(|&v| v as u8).collect();
    inst.set_input(&ex.input_name, &input).unwrap();
    let cmds = loaded.cmdbufs.values().next().expect("the example has a cmdbuf").commands().to_vec();
    report(fuzz("example", example::CHIP, &inst.machine, &cmds, 3000, 0x5eed));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn mutated_vector_descriptors_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/vectors");
    let mut panics = Vec::new();
    let files = cvsim_sim::vectors::find_files(&[root]);
    assert!(!files.is_empty(), "no vector files");
    for (fi, f) in files.iter().enumerate() {
        let vectors = cvsim_sim::vectors::load_file(f).unwrap();
        // A few vectors per file, each mutated many times: every family on every chip.
        for (vi, v) in vectors.iter().enumerate().step_by(vectors.len().div_ceil(4).max(1)) {
            let chip: Chip = v.chip.parse().unwrap();
            let (_, cmds) = parse_cmdbuf(&hex::decode(&v.cmdbuf_hex).unwrap(), Some(chip)).unwrap();
            let mut m = Machine::new(chip);
            let spans: Vec<(u64, u64)> = v
                .gmem_init
                .iter()
                .chain(&v.gmem_expect)
                .map(|r| (r.addr & cvsim_sim::memory::DDR_MASK, r.hex.len() as u64 / 2))
                .collect();
            let lo = spans.iter().map(|s| s.0).min().unwrap();
            let hi = spans.iter().map(|s| s.0 + s.1).max().unwrap();
            m.gmem.add_region("vector", lo, (hi - lo) as usize);
            for r in &v.gmem_init {
                m.gmem.write(r.addr, &hex::decode(&r.hex).unwrap()).unwrap();
            }
            let label = format!("{} {}", f.display(), v.id);
            panics.extend(fuzz(&label, chip, &m, &cmds, 150, (fi * 1000 + vi) as u64 + 1));
        }
    }
    report(panics);
}
