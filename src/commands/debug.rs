//! `cvsim debug`: the interactive stepper ([`crate::debugger`]) on a model and its inputs.

use super::tensors;
use crate::debugger::Debugger;
use crate::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// `cvsim debug` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    pub model: PathBuf,
    /// Inputs keyed by tensor name.
    #[arg(long)]
    pub input: PathBuf,
    /// Read the commands from this file, one a line, each echoed before its output (default:
    /// from standard input, with a prompt).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Program (shape variant) to run.
    #[arg(long, default_value_t = 0)]
    pub program: usize,
}

/// What a session ended with.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Commands that failed.
    pub errors: usize,
    /// The run's own error (a descriptor or CPU routine that failed), if any.
    pub failed: Option<String>,
}

/// Debug `inst` with commands from `input`, writing to `out`.
pub fn session(inst: &mut Instance, input: &mut dyn BufRead, out: &mut dyn Write, script: bool) -> Outcome {
    let mut d = Debugger::new(input, out, script);
    let failed = d.run(inst).err();
    Outcome { errors: d.errors, failed }
}

pub fn main(a: Args) -> Result<ExitCode, String> {
    let loaded = LoadedModel::from_file(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let mut inst = Instance::new(loaded, a.program).map_err(|e| format!("{}: {e}", a.model.display()))?;
    tensors::set_inputs(&mut inst, &npz::read(&a.input)?)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let outcome = match &a.script {
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            session(&mut inst, &mut text.as_slice(), &mut out, true)
        }
        None => session(&mut inst, &mut std::io::stdin().lock(), &mut out, false),
    };
    // Interactively a mistyped command was answered at once; a script must not hide it.
    let bad_script = a.script.is_some() && outcome.errors > 0;
    Ok(if bad_script || outcome.failed.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
