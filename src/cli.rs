//! Argument parsing and dispatch.

use crate::commands;
use clap::{Parser, Subcommand};
use cvsim_isa::Chip;
use cvsim_runtime::Model;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "cvsim",
    version,
    about = "Bit-exact emulator and cycle-approximate simulator of the CV18xx TPU family"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Describe a .cvimodel: version, chip, programs, routines, tensors, sections, weights, and the
    /// device memory it needs.
    Info {
        model: PathBuf,
        /// Print the same as JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// Run a model on inputs from an .npz file and write its outputs to an .npz file; optionally
    /// estimate what the board's PMU would report (--pmu, --pmu-csv, --trace, --timing-only).
    Run(commands::run::Args),
    /// Print the timing model's constants in the format --timing-config reads (JSON; a file may
    /// give any subset of the fields).
    TimingConfig {
        /// Only this chip's entries of the per-chip tables.
        #[arg(long)]
        chip: Option<Chip>,
    },
    /// Where a model's TPU time goes, from the timing model alone: how the span divides between
    /// the engines, busy time by descriptor kind, the bus efficiency of each TDMA class, and the
    /// costliest layers.
    TimingReport(commands::timing_report::Args),
    /// Device memory of models loaded together (with clones): each allocation, the total, and
    /// what sharing weights, command buffers and the shared-gmem pool saves.
    Mem {
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Clones of each model (each has its own private gmem and IO memory).
        #[arg(long, default_value_t = 0)]
        clones: u32,
        /// With the PMU on (TPU_ENABLE_PMU): a PMU buffer follows each dmabuf.
        #[arg(long)]
        pmu: bool,
        /// With TPU_ENABLE_PROTECT: weights and dmabufs are page-rounded.
        #[arg(long)]
        protect: bool,
    },
    /// Run every conformance case (model.cvimodel + input.npz + expected.npz) under the folders.
    Conformance {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Before the closing line, add a table of passed/total cases per chip and mode and per
        /// folder (chip and mode from each case's manifest.json).
        #[arg(long)]
        summary: bool,
        /// Cases run at once (default: the machine's cores); each case runs on one thread.
        #[arg(long, short, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Run per-instruction conformance vectors (.jsonl files or folders of them).
    Vectors {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Build the bundled example model with cvsim's own encoder, run it, and check its outputs
    /// against the plain reference implementation of each layer.
    Example {
        /// Seed of the example's weights and input.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also save model.cvimodel, input.npz and expected.npz in this folder.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Compile an ONNX model (`--emit-ir` prints the compiler's IR after its passes).
    Compile(commands::compile::Args),
    /// Calibrate an ONNX model on a folder of images or .npz files: per-tensor KL thresholds,
    /// written as the vendor's calibration table.
    Calibrate(commands::calibrate::Args),
    /// Compare two npz files tensor by tensor: cosine, correlation, euclidean and SQNR similarity.
    Compare(commands::compare::Args),
    /// Run a model and compare every tensor of a reference dump, naming the first that differs.
    Diff(commands::diff::Args),
    /// Forward models from several threads at once on the one TPU: per forward, when it ran and
    /// how long it waited for the TPU (board estimate from the timing model, and the emulator's
    /// wall clock).
    Threads(commands::threads::Args),
    /// Step through a model's command buffers: breakpoints on descriptors, layers and writes;
    /// print local and global memory and descriptors. Commands from stdin or `--script FILE`.
    Debug(commands::debug::Args),
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_model(path: &PathBuf) -> Result<Model, String> {
    Model::from_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Info { model, json } => {
            let m = load_model(&model)?;
            if json {
                let v = cvsim_runtime::info::info_json(&m);
                println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
            } else {
                print!("{}", cvsim_runtime::info::render_info(&m));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { file, chip, verbose } => {
            let bytes = read(&file)?;
            let mut out = String::new();
            if bytes.starts_with(b"CviModel") {
                let m = Model::from_vec(bytes).map_err(|e| format!("{}: {e}", file.display()))?;
                commands::disasm::render_model(&m, verbose, &mut out)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
            } else {
                let (chip, cmds) =
                    commands::disasm::decode_raw(&bytes, chip).map_err(|e| format!("{}: {e}", file.display()))?;
                commands::disasm::render(chip, "raw", &cmds, verbose, &mut out);
            }
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => commands::run::main(args),
        Command::TimingConfig { chip } => {
            print!("{}", commands::timing::config_text(chip));
            Ok(ExitCode::SUCCESS)
        }
        Command::Mem { models, clones, pmu, protect } => {
            let models = models.iter().map(load_model).collect::<Result<Vec<_>, _>>()?;
            let options = cvsim_runtime::MemoryOptions { pmu, protect, ..Default::default() };
            print!("{}", commands::mem::render(&models, clones, options)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { dirs, summary, jobs } => {
            let (outcomes, out) = commands::conformance::run(&dirs, true, jobs.unwrap_or(0))?;
            let out = if summary { commands::conformance::report(&outcomes, true) } else { out };
            print!("{out}");
            Ok(if outcomes.iter().all(|o| o.ok) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Vectors { paths } => {
            let (out, _, fail) = commands::vectors::run(&paths)?;
            print!("{out}");
            Ok(if fail > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Example { seed, write } => {
            let report = commands::example::run(seed, write.as_deref())?;
            print!("{}", report.text);
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Compile(args) => commands::compile::main(args),
        Command::Calibrate(args) => commands::calibrate::main(args),
        Command::Compare(args) => commands::compare::main(args),
        Command::Diff(args) => commands::diff::main(args),
        Command::Threads(args) => commands::threads::main(args),
        Command::TimingReport(args) => commands::timing_report::main(args),
        Command::Debug(args) => commands::debug::main(args),
    }
}
