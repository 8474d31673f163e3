//! `descfuzz vectors FILE.jsonl`: cvsim on vectors whose expectations the oracle recorded
//! (`tools/vendor_vectors.py IN OUT`), each reported as identical, both refused (the vendor
//! aborted and cvsim refused), or different.

use cvsim_sim::vectors::{run_vector, Outcome, Vector};
use std::path::Path;

pub fn run(file: &Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (mut same, mut refused, mut differ) = (0, 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let raw: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let v: Vector = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        let vendor = raw["vendor"].as_str();
        let verdict = match (run_vector(&v), vendor) {
            (Outcome::Pass, None) => {
                same += 1;
                "identical".to_string()
            }
            (Outcome::Error(e), Some(_)) => {
                refused += 1;
                format!("both refuse: cvsim: {e}")
            }
            (o, vendor) => {
                differ += 1;
                format!("DIFFER: cvsim {o:?}; vendor {}", vendor.unwrap_or("ran"))
            }
        };
        println!("{}: {verdict}", v.id);
    }
    println!("{same} identical, {refused} both refuse, {differ} differ");
    Ok(differ == 0)
}
