//! The fuzzing loop: build batches of cases, run each batch's model on both simulators, compare
//! the whole output image, and on any difference or failure run the batch's cases one by one to
//! name the case (template, changed fields, first differing byte); those are saved for replay.

use crate::mutate::{self, Case};
use crate::oracle::{self, Outcome};
use crate::pack::{self, OUTPUT};
use crate::templates::{self, Template};
use cvsim::npz::{self, Array, ElemType};
use cvsim_isa::{Chip, Desc};
use cvsim_compiler::example::SplitMix64;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Options {
    pub chip: Chip,
    pub seed: u64,
    pub cases: usize,
    pub per_model: usize,
    pub family: Option<String>,
    pub vectors: PathBuf,
    pub work: PathBuf,
    pub mutate_fields: bool,
    pub data: mutate::DataMode,
}

/// Descriptor counts by (template family, operation name).
#[derive(Default)]
struct Counts {
    by_op: BTreeMap<(String, String), (u64, u64)>,
}

impl Counts {
    fn add(&mut self, chip: Chip, t: &Template, c: &Case, same: bool) {
        for d in &c.descs {
            let op = match d {
                Desc::Tiu(x) => format!("{}{}", x.op(chip).name(), if x.is_bf16() { ".bf16" } else { ".i8" }),
                Desc::Tdma(x) => x.op().name(),
                Desc::Cpu(_) => continue,
            };
            // A TIU template's loads and stores are set-up, not the descriptor under test.
            if t.family.starts_with("tiu_") && matches!(d, Desc::Tdma(_)) {
                continue;
            }
            let e = self.by_op.entry((t.family.clone(), op)).or_default();
            e.0 += 1;
            if same {
                e.1 += 1;
            }
        }
    }
}

struct Verdict {
    same: bool,
    text: String,
}

fn run_model(work: &Path, name: &str, p: &pack::Packed) -> Verdict {
    let model_path = work.join(format!("{name}.cvimodel"));
    let in_path = work.join(format!("{name}_in.npz"));
    let out_path = work.join(format!("{name}_vendor.npz"));
    let input = Array {
        name: pack::INPUT.into(),
        elem: ElemType::I8,
        shape: vec![1, 1, 1, p.image.len() as u64],
        data: p.image.clone(),
    };
    if let Err(e) = std::fs::write(&model_path, &p.model).map_err(|e| e.to_string()).and_then(|_| npz::write(&in_path, &[input.clone()])) {
        return Verdict { same: false, text: format!("cannot write the model: {e}") };
    }
    let ours = oracle::cvsim(&p.model, std::slice::from_ref(&input));
    let theirs = oracle::vendor(&model_path, &in_path, &out_path);
    match (&ours.outcome, &theirs.outcome) {
        (Outcome::Outputs(o), Outcome::Outputs(t)) => {
            let (a, b) = (o.iter().find(|x| x.name == OUTPUT), t.iter().find(|x| x.name == OUTPUT));
            match (a, b) {
                (Some(a), Some(b)) if a.data == b.data => Verdict { same: true, text: String::new() },
                (Some(a), Some(b)) => {
                    let i = (0..a.data.len().max(b.data.len())).find(|&i| a.data.get(i) != b.data.get(i)).unwrap_or(0);
                    let block = p.blocks.iter().position(|r| r.contains(&i));
                    let n = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
                    Verdict {
                        same: false,
                        text: format!(
                            "differ: image byte {i} (case {block:?}, offset {}): cvsim {:#04x}, vendor {:#04x}; {n} bytes differ",
                            block.map_or(0, |k| i - p.blocks[k].start),
                            a.data.get(i).copied().unwrap_or(0),
                            b.data.get(i).copied().unwrap_or(0)
                        ),
                    }
                }
                _ => Verdict { same: false, text: "an output is missing".into() },
            }
        }
        (Outcome::Failed(e), Outcome::Outputs(_)) => Verdict { same: false, text: format!("cvsim failed, vendor ran: {e}") },
        (Outcome::Outputs(_), Outcome::Failed(e)) => Verdict { same: false, text: format!("vendor failed, cvsim ran: {e}") },
        (Outcome::Failed(a), Outcome::Failed(b)) => Verdict { same: false, text: format!("both failed: cvsim: {a}; vendor: {b}") },
    }
}

pub fn run(o: &Options) -> Result<bool, String> {
    let all = templates::load(&o.vectors, o.chip)?;
    let copy = pack::copy_template(&all).ok_or("no g2g general-copy template for this chip")?;
    let chosen: Vec<usize> = (0..all.len())
        .filter(|&i| o.family.as_deref().is_none_or(|f| all[i].family == f || all[i].family.starts_with(f)))
        .collect();
    if chosen.is_empty() {
        return Err("no template matches --family".into());
    }
    let work = o.work.join(format!("{}_seed{}", o.chip.name(), o.seed));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut rng = SplitMix64::new(o.seed);
    let mut counts = Counts::default();
    let mut findings = Vec::new();
    let (mut done, mut batch) = (0usize, 0usize);
    while done < o.cases {
        let k = o.per_model.min(o.cases - done);
        let cases: Vec<Case> = (0..k)
            .map(|j| {
                // Every template in turn, so each family gets its share whatever the count.
                let ti = chosen[(done + j) % chosen.len()];
                mutate::make(o.chip, ti, &all[ti], &mut rng, o.mutate_fields, o.data)
            })
            .collect();
        let packed = pack::pack(o.chip, &all, &copy, &cases)?;
        let v = run_model(&work, &format!("batch{batch}"), &packed);
        if v.same {
            for c in &cases {
                counts.add(o.chip, &all[c.template], c, true);
            }
        } else {
            eprintln!("batch {batch}: {}; trying its cases one by one", v.text);
            for (j, c) in cases.iter().enumerate() {
                let one = pack::pack(o.chip, &all, &copy, std::slice::from_ref(c))?;
                let name = format!("batch{batch}_case{j}");
                let v1 = run_model(&work, &name, &one);
                counts.add(o.chip, &all[c.template], c, v1.same);
                if !v1.same {
                    let line = format!(
                        "{} seed {} batch {batch} case {j}: template {} ({} {}), fields [{}]: {} (replay: {}/{name}.cvimodel)",
                        o.chip.name(),
                        o.seed,
                        all[c.template].id,
                        all[c.template].family,
                        all[c.template].sub,
                        c.notes.join(" "),
                        v1.text,
                        work.display()
                    );
                    println!("FINDING {line}");
                    use std::io::Write;
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(work.join("findings.txt")) {
                        let _ = writeln!(f, "{line}");
                    }
                    findings.push(line);
                } else {
                    for ext in [".cvimodel", "_in.npz", "_vendor.npz"] {
                        let _ = std::fs::remove_file(work.join(format!("{name}{ext}")));
                    }
                }
            }
        }
        if v.same {
            for ext in [".cvimodel", "_in.npz", "_vendor.npz"] {
                let _ = std::fs::remove_file(work.join(format!("batch{batch}{ext}")));
            }
        }
        done += k;
        batch += 1;
        eprintln!("{}: {done}/{} cases, {} findings", o.chip.name(), o.cases, findings.len());
    }
    let (mut total, mut same) = (0, 0);
    println!("{} seed {} per-model {}: descriptors under test by family and operation (compared, identical)", o.chip.name(), o.seed, o.per_model);
    for ((fam, op), (n, s)) in &counts.by_op {
        println!("  {fam:<20} {op:<40} {n:>7} {s:>7}");
        total += n;
        same += s;
    }
    println!("{} total: {total} descriptors under test, {same} identical, {} cases with a difference", o.chip.name(), findings.len());
    Ok(findings.is_empty())
}
