//! `cvsim run --check`: the forward pass under the command-buffer checker (`cvsim_sim::check`).

use crate::commands::timing::layer_names;
use cvsim_runtime::session::Instance;
use cvsim_sim::check::{Checker, DescRef, Finding};
use std::collections::HashMap;
use std::fmt::Write;

/// What the checker found, with names for the layers it mentions.
#[derive(Debug, Default)]
pub struct Checked {
    /// In routine order.
    pub findings: Vec<Finding>,
    /// Per TPU routine: layer id → the tensor the layer stores (`timing::layer_names`).
    pub layer_names: HashMap<usize, HashMap<u32, String>>,
}

impl Checked {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Run the instance's program with every TPU routine checked.
pub fn forward(inst: &mut Instance) -> Result<Checked, String> {
    let mut checker = Checker::new(&inst.machine);
    let program = inst.program().clone();
    let chip = inst.loaded.model.chip();
    let mut names = HashMap::new();
    let r = inst.forward_with(&mut |routine, m, cmds| {
        let cmds = cmds.to_commands();
        names.insert(routine, layer_names(&program, chip, &cmds));
        checker.run(m, &cmds, routine)
    });
    r.map_err(|e| e.to_string())?;
    Ok(Checked { findings: checker.findings, layer_names: names })
}

/// One line per finding, prefixed with its routine, then a count. A descriptor's layer is named by
/// the tensor it stores, where one is known: `(layer 12 `conv1_Relu`)`.
pub fn render(c: &Checked) -> String {
    let mut o = String::new();
    for f in &c.findings {
        let descs: Vec<&DescRef> = match f {
            Finding::Race { tiu, tdma, .. } => vec![tiu, tdma],
            Finding::UninitRead { desc, .. } | Finding::OutOfRange { desc, .. } | Finding::WeightWrite { desc, .. } => {
                vec![desc]
            }
        };
        let mut line = f.to_string();
        for d in &descs {
            if let Some(name) = c.layer_names.get(&d.routine).and_then(|n| n.get(&d.layer)) {
                let plain = d.to_string();
                let named = format!("{} `{name}`)", plain.trim_end_matches(')'));
                line = line.replace(&plain, &named);
            }
        }
        let _ = writeln!(o, "check: routine {}: {line}", descs[0].routine);
    }
    let _ = writeln!(o, "check: {} finding(s)", c.findings.len());
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvsim_isa::Engine;

    fn desc(engine: Engine, index: usize, layer: u32) -> DescRef {
        DescRef { routine: 1, index, engine, op: "op".into(), layer }
    }

    #[test]
    fn layers_are_named_by_the_tensor_they_store_where_known() {
        let race = Finding::Race {
            tiu: desc(Engine::Tiu, 3, 7),
            tdma: desc(Engine::Tdma, 4, 8),
            tiu_writes: true,
            tdma_writes: false,
            bytes: cvsim_sim::check::Bytes { lane: 0, start: 0, end: 16, total: 16 },
            overlap: (10, 20),
        };
        let write = Finding::WeightWrite { desc: desc(Engine::Tdma, 9, 7), start: 0x100, end: 0x110 };
        let names = HashMap::from([(1, HashMap::from([(7, "conv1_Relu".to_string())]))]);
        let text = render(&Checked { findings: vec![race, write], layer_names: names });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("check: routine 1: "), "{text}");
        assert!(lines[0].contains("TIU #3 op (layer 7 `conv1_Relu`)"), "{text}");
        assert!(lines[0].contains("TDMA #4 op (layer 8)"), "layer 8 has no known tensor: {text}");
        assert!(lines[1].contains("TDMA #9 op (layer 7 `conv1_Relu`)"), "{text}");
        assert_eq!(lines[2], "check: 2 finding(s)");
    }
}
