//! `cvsim example` models on the vendor runtime: each seed's file must register and run there and
//! give the bytes cvsim gives (and the example's own reference).

use crate::oracle::{self, Outcome};
use cvsim::npz::{Array, ElemType};
use cvsim_compiler::example;
use std::path::Path;

pub fn run(seeds: &[u64], work: &Path) -> Result<bool, String> {
    let mut all_ok = true;
    for &seed in seeds {
        let ex = example::build(seed);
        let dir = work.join(format!("example_seed{seed}"));
        cvsim::commands::example::write(&ex, &dir)?;
        let input = Array {
            name: ex.input_name.clone(),
            elem: ElemType::I8,
            shape: example::INPUT_SHAPE.iter().map(|&d| d as u64).collect(),
            data: ex.input.iter().map(|&v| v as u8).collect(),
        };
        let ours = oracle::cvsim(&ex.model_bytes, std::slice::from_ref(&input));
        let theirs = oracle::vendor(&dir.join("model.cvimodel"), &dir.join("input.npz"), &dir.join("vendor.npz"));
        let expected: Vec<u8> = ex.expected.iter().map(|&v| v as u8).collect();
        let verdict = match (&ours.outcome, &theirs.outcome) {
            (Outcome::Outputs(o), Outcome::Outputs(t)) => match oracle::first_difference(o, t) {
                Some((name, i, a, b)) => format!("DIFFER: `{name}` byte {i}: cvsim {a:#04x}, vendor {b:#04x}"),
                None if o.iter().find(|a| a.name == ex.output_name).map(|a| &a.data) != Some(&expected) => {
                    "DIFFER: both simulators agree but not with the example's reference".to_string()
                }
                None => "identical".to_string(),
            },
            (Outcome::Failed(e), _) => format!("DIFFER: cvsim failed: {e}"),
            (_, Outcome::Failed(e)) => format!("DIFFER: vendor failed: {e}"),
        };
        all_ok &= verdict == "identical";
        println!("example seed {seed}: {verdict} (cvsim {:.2} s, vendor {:.2} s)", ours.seconds, theirs.seconds);
    }
    Ok(all_ok)
}
