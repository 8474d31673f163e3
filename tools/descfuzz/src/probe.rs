//! `descfuzz probe FILE.jsonl --grid F=A,B/G=C,D [--line K]`: one recorded case (a line of a
//! `fuzz --record` file or a vendor vector) run on both simulators for every combination of the
//! given TIU field values, one model each, with each side's outcome on one line. For finding the
//! rule behind a refusal or a difference, field by field.

use crate::oracle::{self, Outcome};
use crate::pack;
use crate::templates;
use crate::mutate::Case;
use cvsim::npz::{self, Array, ElemType};
use cvsim_isa::{Chip, Desc, TiuField};
use std::path::Path;

pub struct Options<'a> {
    pub file: &'a Path,
    pub line: Option<usize>,
    pub grid: &'a str,
    pub vectors: &'a Path,
    pub work: &'a Path,
}

/// The short form of a simulator's failure: the vendor's assertion, or cvsim's field.
fn short(text: &str) -> String {
    if let Some(i) = text.find("function ") {
        let t = &text[i + 9..];
        let line = text[..i].rsplit("line ").next().unwrap_or("").trim_end_matches([':', ' ']);
        return format!("{}@{line}", t.split(" (signal").next().unwrap_or(t).replace("assertion ", "").replace(" failed", ""));
    }
    if let Some(i) = text.find("field `") {
        return text[i..].chars().take(90).collect();
    }
    text.chars().take(120).collect()
}

pub fn run(o: &Options) -> Result<bool, String> {
    let text = std::fs::read_to_string(o.file).map_err(|e| format!("{}: {e}", o.file.display()))?;
    let mut axes: Vec<(TiuField, Vec<u32>)> = Vec::new();
    for part in o.grid.split('/').filter(|p| !p.is_empty()) {
        let (k, vs) = part.split_once('=').ok_or(format!("--grid {part}: FIELD=V,V,..."))?;
        let f = *TiuField::ALL.iter().find(|f| f.name() == k).ok_or(format!("no TIU field {k}"))?;
        let vs: Result<Vec<u32>, _> = vs.split(',').map(|v| v.parse::<u32>()).collect();
        axes.push((f, vs.map_err(|e| format!("--grid {part}: {e}"))?));
    }
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if o.line.is_some_and(|k| k != n + 1) {
            continue;
        }
        let raw: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let chip: Chip = raw["chip"].as_str().unwrap_or("").parse().map_err(|e| format!("line {}: {e}", n + 1))?;
        let t = templates::from_line(chip, raw["op"].as_str().unwrap_or(""), line)?;
        let copy = pack::copy_template(&templates::load(o.vectors, chip)?).ok_or("no g2g copy template")?;
        println!("# line {}: {} ({})", n + 1, t.id, chip.name());
        let total: usize = axes.iter().map(|(_, v)| v.len()).product();
        for mut k in 0..total {
            let mut descs = t.descs.clone();
            let mut label = Vec::new();
            for (f, vs) in &axes {
                let v = vs[k % vs.len()];
                k /= vs.len();
                label.push(format!("{}={v}", f.name()));
                for d in &mut descs {
                    if let Desc::Tiu(x) = d {
                        x.set(*f, v);
                    }
                }
            }
            let case = Case { template: 0, descs, init: t.init.clone(), notes: Vec::new() };
            let p = pack::pack(chip, std::slice::from_ref(&t), &copy, std::slice::from_ref(&case))?;
            let name = "probe";
            let (model, input, out) =
                (o.work.join(format!("{name}.cvimodel")), o.work.join(format!("{name}_in.npz")), o.work.join(format!("{name}_out.npz")));
            let arr = Array { name: pack::INPUT.into(), elem: ElemType::I8, shape: vec![1, 1, 1, p.image.len() as u64], data: p.image.clone() };
            std::fs::write(&model, &p.model).map_err(|e| e.to_string())?;
            npz::write(&input, std::slice::from_ref(&arr)).map_err(|e| e.to_string())?;
            let ours = oracle::cvsim(&p.model, std::slice::from_ref(&arr)).outcome;
            let theirs = oracle::vendor(&model, &input, &out).outcome;
            let img = |x: &Outcome| match x {
                Outcome::Outputs(a) => a.iter().find(|a| a.name == pack::OUTPUT).map(|a| a.data.clone()),
                Outcome::Failed(_) => None,
            };
            let verdict = match (&ours, &theirs) {
                (Outcome::Outputs(_), Outcome::Outputs(_)) => {
                    let (a, b) = (img(&ours).unwrap_or_default(), img(&theirs).unwrap_or_default());
                    let n = a.iter().zip(&b).filter(|(x, y)| x != y).count();
                    let at: Vec<String> = (0..a.len().min(b.len()))
                        .filter(|&i| a[i] != b[i])
                        .take(12)
                        .map(|i| format!("{i}: cvsim {:#04x} vendor {:#04x}", a[i], b[i]))
                        .collect();
                    if n == 0 { "identical".to_string() } else { format!("DIFFER {n} bytes [{}]", at.join(", ")) }
                }
                (Outcome::Failed(a), Outcome::Failed(b)) => format!("both refuse | vendor {} | cvsim {}", short(b), short(a)),
                (Outcome::Failed(a), _) => format!("CVSIM REFUSES, vendor ran | cvsim {}", short(a)),
                (_, Outcome::Failed(b)) => format!("VENDOR REFUSES, cvsim ran | vendor {}", short(b)),
            };
            println!("{}: {verdict}", label.join(" "));
        }
    }
    Ok(true)
}
