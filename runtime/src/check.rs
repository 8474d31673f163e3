//! A forward pass under the command-buffer checker (`cvsim_sim::check`), for `cvsim run --check`
//! and any other caller: every TPU routine is checked, and each finding names its descriptor's
//! layer by the tensor the layer stores where one is known ([`crate::timing::layer_names`]).

use crate::session::{Instance, RuntimeError};
use cvsim_sim::check::{Checker, Finding};

/// Run the instance's program with every TPU routine checked; the findings in routine order.
pub fn forward(inst: &mut Instance) -> Result<Vec<Finding>, RuntimeError> {
    let mut checker = Checker::new(&inst.machine);
    let program = inst.program().clone();
    let chip = inst.loaded.model.chip();
    inst.forward_with(&mut |routine, m, cmds| {
        let names = crate::timing::layer_names(&program, chip, cmds.commands());
        checker.run(m, cmds, routine, &|layer| names.get(&layer).cloned())
    })?;
    Ok(checker.findings)
}
