//! `cvsim run --check`: the forward pass under the command-buffer checker (`cvsim_sim::check`).

use cvsim_runtime::session::Instance;
use cvsim_sim::check::{Checker, Finding};
use std::fmt::Write;

/// Run the instance's program with every TPU routine checked; the findings in routine order.
pub fn forward(inst: &mut Instance) -> Result<Vec<Finding>, String> {
    let mut checker = Checker::new(&inst.machine);
    let r = inst.forward_with(&mut |routine, m, cmds| checker.run(m, &cmds.to_commands(), routine));
    r.map_err(|e| e.to_string())?;
    Ok(checker.findings)
}

/// One line per finding, prefixed with its routine, then a count.
pub fn render(findings: &[Finding]) -> String {
    let mut o = String::new();
    for f in findings {
        let routine = match f {
            Finding::Race { tiu, .. } => tiu.routine,
            Finding::UninitRead { desc, .. } | Finding::OutOfRange { desc, .. } | Finding::WeightWrite { desc, .. } => {
                desc.routine
            }
        };
        let _ = writeln!(o, "check: routine {routine}: {f}");
    }
    let _ = writeln!(o, "check: {} finding(s)", findings.len());
    o
}
