//! `descfuzz vectors FILE.jsonl`: cvsim on vectors whose expectations the oracle recorded
//! (`tools/vendor_vectors.py IN OUT`), each reported as identical, both refused (the vendor
//! aborted and cvsim refused), or different.

use cvsim_sim::vectors::{run_vector, Outcome, Vector};
use std::path::Path;

/// Sets `field` to `value` in every TIU descriptor of the vector (for probing a hypothesis:
/// which value of a field makes cvsim give the oracle's bytes).
fn override_tiu(v: &mut Vector, field: &str, value: u32) -> Result<(), String> {
    use cvsim_isa::cmdbuf::{encode_descs, parse_cmdbuf};
    let chip: cvsim_isa::Chip = v.chip.parse().map_err(|e| format!("{e}"))?;
    let f = cvsim_isa::TiuField::ALL.iter().find(|f| f.name() == field).ok_or(format!("no TIU field {field}"))?;
    let buf: Vec<u8> = (0..v.cmdbuf_hex.len()).step_by(2).map(|i| u8::from_str_radix(&v.cmdbuf_hex[i..i + 2], 16).unwrap_or(0)).collect();
    let (_, cmds) = parse_cmdbuf(&buf, Some(chip)).map_err(|e| e.to_string())?;
    let mut descs: Vec<cvsim_isa::Desc> = cmds.into_iter().map(|c| c.desc).collect();
    for d in &mut descs {
        if let cvsim_isa::Desc::Tiu(t) = d {
            t.set(*f, value);
        }
    }
    let out = encode_descs(chip, &descs).map_err(|e| e.to_string())?;
    v.cmdbuf_hex = out.iter().map(|b| format!("{b:02x}")).collect();
    Ok(())
}

pub fn run(file: &Path, set: Option<(String, u32)>) -> Result<bool, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (mut same, mut refused, mut differ) = (0, 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let raw: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let mut v: Vector = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        if let Some((f, x)) = &set {
            override_tiu(&mut v, f, *x)?;
        }
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
