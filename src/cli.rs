//! Argument parsing and dispatch.

use crate::commands;
use clap::{Parser, Subcommand};
use cvsim_isa::Chip;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "cvsim", version, about = "Bit-exact emulator and cycle-approximate simulator of the CV18xx TPU family")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Disassemble every TPU routine of a .cvimodel, or a raw cmdbuf/dmabuf file (with --chip).
    Disasm {
        file: PathBuf,
        /// Chip of a raw command buffer (cv180x, cv181x, cv182x, cv183x).
        #[arg(long)]
        chip: Option<Chip>,
        /// List every field with its bit range, and flag reserved fields with unexpected values.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run per-instruction conformance vectors (.jsonl files or folders of them).
    Vectors {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Disasm { file, chip, verbose } => {
            let bytes = read(&file)?;
            let (chip, cmds) = commands::disasm::decode_raw(&bytes, chip).map_err(|e| format!("{}: {e}", file.display()))?;
            let mut out = String::new();
            commands::disasm::render(chip, "raw", &cmds, verbose, &mut out);
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Vectors { paths } => {
            let (out, _, fail) = commands::vectors::run(&paths)?;
            print!("{out}");
            Ok(if fail > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}
