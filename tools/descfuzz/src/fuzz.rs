//! The fuzzing loop: build batches of cases, run each batch's model on both simulators, compare
//! the whole output image, and on any difference or failure run the batch's cases one by one to
//! name the case (template, changed fields, first differing byte); those are saved for replay.

use crate::mutate::{self, Case};
use crate::oracle::{self, Outcome};
use crate::pack::{self, OUTPUT};
use crate::templates::{self, Template};
use cvsim::npz::{self, Array, ElemType};
use cvsim_compiler::example::SplitMix64;
use cvsim_isa::{Chip, Desc, TdmaDesc};
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
    /// Where to append each differing or refused case as a vector.
    pub record: Option<PathBuf>,
}

/// What one case (or one batch) came to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Identical,
    /// The vendor simulator aborted or rejected it and cvsim refused it with an error.
    BothRefuse,
    /// Different bytes, or one simulator ran what the other refused.
    Differ,
}

/// Descriptor counts by (template family, operation name): identical, both refuse, differ.
#[derive(Default)]
struct Counts {
    by_op: BTreeMap<(String, String), [u64; 3]>,
}

impl Counts {
    fn add(&mut self, chip: Chip, t: &Template, c: &Case, kind: Kind) {
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
            self.by_op.entry((t.family.clone(), op)).or_default()[kind as usize] += 1;
        }
    }
}

struct Verdict {
    kind: Kind,
    text: String,
    /// Both images, when both simulators ran and they differ.
    images: Option<(Vec<u8>, Vec<u8>)>,
    /// The vendor's image whenever it ran.
    vendor_image: Option<Vec<u8>>,
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
        return Verdict { kind: Kind::Differ, text: format!("cannot write the model: {e}"), images: None, vendor_image: None };
    }
    let ours = oracle::cvsim(&p.model, std::slice::from_ref(&input));
    let theirs = oracle::vendor(&model_path, &in_path, &out_path);
    let vendor_image = match &theirs.outcome {
        Outcome::Outputs(t) => t.iter().find(|x| x.name == OUTPUT).map(|a| a.data.clone()),
        Outcome::Failed(_) => None,
    };
    let mut v = compare(&ours.outcome, &theirs.outcome, p);
    v.vendor_image = vendor_image;
    v
}

fn compare(ours: &Outcome, theirs: &Outcome, p: &pack::Packed) -> Verdict {
    match (ours, theirs) {
        (Outcome::Outputs(o), Outcome::Outputs(t)) => {
            let (a, b) = (o.iter().find(|x| x.name == OUTPUT), t.iter().find(|x| x.name == OUTPUT));
            match (a, b) {
                (Some(a), Some(b)) if a.data == b.data => Verdict { kind: Kind::Identical, text: String::new(), images: None, vendor_image: None },
                (Some(a), Some(b)) => {
                    let i = (0..a.data.len().max(b.data.len())).find(|&i| a.data.get(i) != b.data.get(i)).unwrap_or(0);
                    let block = p.blocks.iter().position(|r| r.contains(&i));
                    let n = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
                    Verdict {
                        kind: Kind::Differ,
                        images: Some((a.data.clone(), b.data.clone())),
                        vendor_image: None,
                        text: format!(
                            "differ: image byte {i} (case {block:?}, offset {}): cvsim {:#04x}, vendor {:#04x}; {n} bytes differ",
                            block.map_or(0, |k| i - p.blocks[k].start),
                            a.data.get(i).copied().unwrap_or(0),
                            b.data.get(i).copied().unwrap_or(0)
                        ),
                    }
                }
                _ => Verdict { kind: Kind::Differ, text: "an output is missing".into(), images: None, vendor_image: None },
            }
        }
        (Outcome::Failed(e), Outcome::Outputs(_)) => Verdict { kind: Kind::Differ, text: format!("cvsim refused, vendor ran: {e}"), images: None, vendor_image: None },
        (Outcome::Outputs(_), Outcome::Failed(e)) => Verdict { kind: Kind::Differ, text: format!("vendor failed, cvsim ran: {e}"), images: None, vendor_image: None },
        (Outcome::Failed(a), Outcome::Failed(b)) => Verdict { kind: Kind::BothRefuse, text: format!("both refuse: cvsim: {a}; vendor: {b}"), images: None, vendor_image: None },
    }
}

/// The fuzzer's state over one run.
struct Run<'a> {
    o: &'a Options,
    all: &'a [Template],
    copy: TdmaDesc,
    work: PathBuf,
    counts: Counts,
    findings: Vec<String>,
    refusals: BTreeMap<String, u64>,
    vendor_runs: u64,
}

impl Run<'_> {
    /// Runs `cases` (indices `first..` of batch `batch`) as one model; a batch that is not
    /// identical is halved until each case has its own verdict.
    fn settle(&mut self, batch: usize, first: usize, cases: &[Case]) -> Result<(), String> {
        let packed = pack::pack(self.o.chip, self.all, &self.copy, cases)?;
        let name = if cases.len() == 1 { format!("batch{batch}_case{first}") } else { format!("batch{batch}_{first}+{}", cases.len()) };
        let v = run_model(&self.work, &name, &packed);
        self.vendor_runs += 1;
        let clean = |work: &Path| {
            for ext in [".cvimodel", "_in.npz", "_vendor.npz"] {
                let _ = std::fs::remove_file(work.join(format!("{name}{ext}")));
            }
        };
        if v.kind == Kind::Identical || cases.len() == 1 {
            let c = &cases[0];
            for c in cases {
                self.counts.add(self.o.chip, &self.all[c.template], c, v.kind);
            }
            let t = &self.all[c.template];
            match v.kind {
                Kind::Identical => clean(&self.work),
                Kind::BothRefuse => {
                    clean(&self.work);
                    *self.refusals.entry(format!("{} {}: {}", t.family, t.sub, refusal_reason(&v.text))).or_default() += 1;
                    if let Some(f) = &self.o.record {
                        let why = format!("aborted: {}", refusal_reason(&v.text));
                        record(f, self.o.chip, t, c, &format!("{}-s{}-b{batch}-c{first}", t.id, self.o.seed), Err(&why))?;
                    }
                }
                Kind::Differ => {
                    let line = format!(
                        "{} seed {} batch {batch} case {first}: template {} ({} {}), fields [{}]: {} (replay: {}/{name}.cvimodel)",
                        self.o.chip.name(),
                        self.o.seed,
                        t.id,
                        t.family,
                        t.sub,
                        c.notes.join(" "),
                        v.text,
                        self.work.display()
                    );
                    println!("FINDING {line}");
                    use std::io::Write;
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(self.work.join("findings.txt")) {
                        let _ = writeln!(f, "{line}");
                    }
                    if let Some(f) = &self.o.record {
                        let why = format!("aborted: {}", refusal_reason(&v.text));
                        let vendor = v.vendor_image.as_deref().ok_or(why.as_str());
                        record(f, self.o.chip, t, c, &format!("{}-s{}-b{batch}-c{first}", t.id, self.o.seed), vendor)?;
                    }
                    self.findings.push(line);
                }
            }
            return Ok(());
        }
        // Both ran: each case's block of the image is its verdict (a case reads only memory it
        // loads itself, so one case's difference does not reach the next one's block).
        if let Some((ours, theirs)) = &v.images {
            let packed_blocks = packed.blocks.clone();
            let mut differing = Vec::new();
            for (j, (c, r)) in cases.iter().zip(&packed_blocks).enumerate() {
                if ours.get(r.clone()) == theirs.get(r.clone()) {
                    self.counts.add(self.o.chip, &self.all[c.template], c, Kind::Identical);
                } else {
                    differing.push(j);
                }
            }
            clean(&self.work);
            for j in differing {
                self.settle(batch, first + j, std::slice::from_ref(&cases[j]))?;
            }
            return Ok(());
        }
        clean(&self.work);
        let half = cases.len() / 2;
        self.settle(batch, first, &cases[..half])?;
        self.settle(batch, first + half, &cases[half..])
    }
}

/// The vendor's message without the run-specific parts, to group refusals.
fn refusal_reason(text: &str) -> String {
    let v = text.split("vendor: ").nth(1).unwrap_or(text);
    let v = v.rsplit(" | ").next().unwrap_or(v);
    v.split(" (signal").next().unwrap_or(v).trim().to_string()
}

/// Appends the case as a vector of the `cvsim vectors` format (the template's own addresses and
/// sync ids; `gmem_expect` zeros of each region's length until `tools/vendor_vectors.py` records
/// the oracle's bytes; `vendor` marks a case the vendor simulator refused).
fn record(file: &Path, chip: Chip, t: &Template, c: &Case, id: &str, vendor: Result<&[u8], &str>) -> Result<(), String> {
    let cmdbuf = cvsim_isa::cmdbuf::encode_descs(chip, &c.descs).map_err(|e| format!("encode: {e}"))?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut v = serde_json::json!({
        "id": id,
        "chip": chip.name(),
        "op": t.family,
        "params": {"template": t.id, "sub": t.sub, "fields": c.notes},
        "cmdbuf_hex": hex(&cmdbuf),
        "gmem_init": c.init.iter().map(|(a, b)| serde_json::json!({"addr": a, "hex": hex(b)})).collect::<Vec<_>>(),
        "gmem_expect": t.expect.iter().map(|&(a, n)| {
            // The case ran alone: its block starts the image at the template's lowest address,
            // rounded down as `pack` places it.
            let (lo, _) = t.span();
            let at = (a - (lo - lo % pack::BLOCK_ALIGN)) as usize;
            let bytes = match vendor {
                Ok(img) => img.get(at..at + n).map(hex).unwrap_or_default(),
                Err(_) => "00".repeat(n),
            };
            serde_json::json!({"addr": a, "hex": bytes})
        }).collect::<Vec<_>>(),
    });
    if let Err(why) = vendor {
        v["vendor"] = why.into();
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    writeln!(f, "{v}").map_err(|e| e.to_string())
}

pub fn run(o: &Options) -> Result<bool, String> {
    let mut all = templates::load(&o.vectors, o.chip)?;
    let extra = templates::mdsum_templates(o.chip, &all);
    all.extend(extra);
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
    let mut r = Run { o, all: &all, copy, work, counts: Counts::default(), findings: Vec::new(), refusals: BTreeMap::new(), vendor_runs: 0 };
    let t0 = std::time::Instant::now();
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
        // Cases cvsim refuses run alone (a vendor abort would stop the whole batch); the rest
        // run as one model.
        let refused: Vec<bool> = cases
            .iter()
            .map(|c| {
                pack::pack(o.chip, &all, &r.copy, std::slice::from_ref(c))
                    .map(|p| {
                        let input = npz::Array { name: pack::INPUT.into(), elem: ElemType::I8, shape: vec![1, 1, 1, p.image.len() as u64], data: p.image };
                        matches!(oracle::cvsim(&p.model, &[input]).outcome, Outcome::Failed(_))
                    })
                    .unwrap_or(true)
            })
            .collect();
        let (bad, good): (Vec<(usize, Case)>, Vec<(usize, Case)>) = cases.into_iter().enumerate().partition(|(j, _)| refused[*j]);
        let good: Vec<Case> = good.into_iter().map(|(_, c)| c).collect();
        if !good.is_empty() {
            r.settle(batch, 0, &good)?;
        }
        for (j, c) in bad {
            r.settle(batch, 10_000 + j, std::slice::from_ref(&c))?;
        }
        done += k;
        batch += 1;
        eprintln!("{}: {done}/{} cases, {} differ, {} vendor runs, {:.0} s", o.chip.name(), o.cases, r.findings.len(), r.vendor_runs, t0.elapsed().as_secs_f64());
        // The counts so far, so that a run stopped early still says what it compared.
        let _ = std::fs::write(r.work.join("summary.txt"), summary(o, &r, done, t0.elapsed().as_secs_f64()));
    }
    let text = summary(o, &r, done, t0.elapsed().as_secs_f64());
    print!("{text}");
    Ok(r.findings.is_empty())
}

/// The counts by family and operation, by family, the refusals by reason and the totals.
fn summary(o: &Options, r: &Run, done: usize, secs: f64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, 
        "{} seed {} cases {} (of {}) per-model {}: descriptors under test by family and operation (identical, both refuse, differ)",
        o.chip.name(),
        o.seed,
        done,
        o.cases,
        o.per_model
    );
    let mut fam: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for ((f, op), n) in &r.counts.by_op {
        let _ = writeln!(out, "  {f:<20} {op:<40} {:>7} {:>7} {:>7}", n[0], n[1], n[2]);
        let e = fam.entry(f).or_default();
        (0..3).for_each(|i| e[i] += n[i]);
    }
    let _ = writeln!(out, "{} by family (identical, both refuse, differ):", o.chip.name());
    let mut total = [0u64; 3];
    for (f, n) in &fam {
        let _ = writeln!(out, "  {f:<20} {:>7} {:>7} {:>7}", n[0], n[1], n[2]);
        (0..3).for_each(|i| total[i] += n[i]);
    }
    let _ = writeln!(out, "{} refusals by reason (cases):", o.chip.name());
    for (why, n) in &r.refusals {
        let _ = writeln!(out, "  {n:>6}  {why}");
    }
    let _ = writeln!(out, 
        "{} total: {} descriptors under test: {} identical, {} both refuse, {} differ ({} cases differ; {} vendor runs, {:.0} s)",
        o.chip.name(),
        total.iter().sum::<u64>(),
        total[0],
        total[1],
        total[2],
        r.findings.len(),
        r.vendor_runs,
        secs
    );
    out
}
