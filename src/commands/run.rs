//! `cvsim run`: a model's forward pass on inputs from an npz file, its outputs to an npz file or
//! stdout; with the timing flags, what the board's PMU would report, and with `--check`, the
//! command-buffer checker's findings. The work is the runtime's (`Instance`, `runtime::timing`,
//! `runtime::check`); this module reads the flags, the files, and prints.

use crate::commands::{tensors, timing};
use crate::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub model: PathBuf,
    /// Inputs keyed by tensor name, in each tensor's dtype (bf16 as uint16).
    #[arg(long, required_unless_present = "timing_only")]
    pub input: Option<PathBuf>,
    /// Where to write the outputs, keyed by tensor name.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also write every tensor of the program (like the vendor's output-all-tensors option).
    #[arg(long)]
    pub dump_all: Option<PathBuf>,
    /// Program (shape variant) to run.
    #[arg(long, default_value_t = 0)]
    pub program: usize,
    /// Check the command buffers while emulating: races between TIU and TDMA under the timing
    /// schedule, reads of unwritten local memory, out-of-range accesses.
    #[arg(long)]
    pub check: bool,
    /// Host threads one descriptor may be split across (default: the machine's cores); the
    /// outputs are the same bytes whatever the count, and 1 runs everything on one thread.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Deflate the npz members of --output and --dump-all (as np.savez_compressed); without
    /// it they are stored as np.savez writes them.
    #[arg(long)]
    pub compress: bool,
    #[command(flatten)]
    pub timing: TimingArgs,
}

/// The timing flags of `run`.
#[derive(clap::Args, Debug, Default)]
pub struct TimingArgs {
    /// Print the vendor runtime's PMU summary (TPU_ENABLE_PMU=1) after each TPU routine, from the
    /// timing model.
    #[arg(long)]
    pub pmu: bool,
    /// Write the per-descriptor and per-layer PMU CSV files PREFIX_des.csv and PREFIX_layer.csv
    /// (the vendor's TPU_PMUBUF_OUTPUT_FILE; they hold the last TPU routine).
    #[arg(long, value_name = "PREFIX")]
    pub pmu_csv: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace (JSON): TIU and TDMA tracks, layers, DDR bandwidth.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Only run the timing model, without computing any data (no --input needed); prints the PMU
    /// summary unless --pmu-csv or --trace is given.
    #[arg(long)]
    pub timing_only: bool,
    /// Timing constants to override (JSON, as printed by `cvsim timing-config`).
    #[arg(long, value_name = "FILE")]
    pub timing_config: Option<PathBuf>,
    /// Share of DDR bandwidth taken by other bus masters (0 <= x < 1); overrides the config.
    #[arg(long, value_name = "SHARE")]
    pub ddr_load: Option<f64>,
}

pub fn main(a: Args) -> Result<ExitCode, String> {
    let Args { model, input, output, dump_all, program, timing: timing_args, check, compress, threads } = a;
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", model.display());
    let how = if compress { npz::Compression::Deflated } else { npz::Compression::Stored };
    let loaded = LoadedModel::from_file(&model).map_err(|e| at(&e))?;
    let mut req = timing::TimingRequest {
        pmu: timing_args.pmu,
        pmu_csv: timing_args.pmu_csv.clone(),
        trace: timing_args.trace.clone(),
    };
    if timing_args.timing_only && !req.any() {
        req.pmu = true;
    }
    let timings = if req.any() {
        let cfg = timing::load_config(timing_args.timing_config.as_deref(), timing_args.ddr_load)?;
        timing::time_program(&loaded, program, &cfg).map_err(|e| at(&e))?
    } else {
        Vec::new()
    };
    if timing_args.timing_only {
        if output.is_some() || dump_all.is_some() {
            return Err("--timing-only computes no data: drop --output and --dump-all".into());
        }
        print!("{}", timing::report(&loaded, program, &timings, &req)?);
        return Ok(ExitCode::SUCCESS);
    }
    let input = input.ok_or("--input is required unless --timing-only")?;
    let mut inst = Instance::new(loaded.clone(), program).map_err(|e| at(&e))?;
    let threads = threads.unwrap_or_else(cvsim_sim::par::Workers::host_threads);
    inst.machine.lmem.workers = cvsim_sim::par::Workers::new(threads);
    tensors::set_inputs_from_npz(&mut inst, &input)?;
    let findings = if check {
        Some(cvsim_runtime::check::forward(&mut inst).map_err(|e| at(&e))?)
    } else {
        inst.forward().map_err(|e| at(&e))?;
        None
    };
    // The vendor runtime prints a summary as each TPU routine finishes, so before the outputs.
    print!("{}", timing::report(&loaded, program, &timings, &req)?);
    let outs = tensors::outputs(&inst)?;
    match &output {
        Some(p) => npz::write_with(p, &outs, how)?,
        None => print!("{}", preview(&outs)),
    }
    if let Some(p) = &dump_all {
        npz::write_with(p, &tensors::all(&inst)?, how)?;
    }
    if let Some(f) = &findings {
        print!("{}", crate::commands::check::render(f));
        if !f.is_empty() {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Without `--output`: each output's name, type, shape and first 16 values, a line each.
fn preview(outs: &[npz::Array]) -> String {
    let mut s = String::new();
    for a in outs {
        let n = a.data.len() / a.elem.size();
        let shown: Vec<String> = (0..n.min(16)).map(|i| tensors::format_elem(a, i)).collect();
        s += &format!(
            "{} {} {:?}: [{}{}]\n",
            a.name,
            a.elem.name(),
            a.shape,
            shown.join(", "),
            if n > 16 { ", ..." } else { "" }
        );
    }
    s
}
