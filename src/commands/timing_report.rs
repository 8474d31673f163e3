//! `cvsim timing-report`: where a model's TPU time goes, from the timing model alone (no data is
//! computed): per TPU routine, how the span divides between the engines, busy time by descriptor
//! kind, the bus efficiency of each TDMA class, and the layers that cost most.

use crate::commands::timing::{layer_names, load_config, time_program};
use cvsim_runtime::session::LoadedModel;
use cvsim_sim::timing::{breakdown, Breakdown, TdmaClass};
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub model: PathBuf,
    /// Print the whole breakdown as JSON (every layer).
    #[arg(long)]
    pub json: bool,
    /// Program (shape variant) to report.
    #[arg(long, default_value_t = 0)]
    pub program: usize,
    /// Layers listed in the text report, costliest first (0 lists every layer).
    #[arg(long, default_value_t = 15)]
    pub layers: usize,
    /// Timing constants to override (JSON, as printed by `cvsim timing-config`).
    #[arg(long, value_name = "FILE")]
    pub timing_config: Option<PathBuf>,
    /// Share of DDR bandwidth taken by other bus masters (0 <= x < 1).
    #[arg(long, value_name = "SHARE")]
    pub ddr_load: Option<f64>,
}

/// One TPU routine's breakdown.
#[derive(Serialize)]
pub struct RoutineReport {
    pub routine: usize,
    pub section: String,
    #[serde(flatten)]
    pub breakdown: Breakdown,
}

/// The breakdown of every TPU routine of the program.
pub fn reports(a: &Args) -> Result<(String, Vec<RoutineReport>), String> {
    let cfg = load_config(a.timing_config.as_deref(), a.ddr_load)?;
    let loaded = LoadedModel::from_file(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let timings = time_program(&loaded, a.program, &cfg).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let p = loaded.model.program(a.program).map_err(|e| e.to_string())?;
    let chip = loaded.model.chip();
    let out = timings
        .iter()
        .map(|t| {
            let names = layer_names(p, chip, t.cmds.commands());
            RoutineReport {
                routine: t.routine,
                section: t.section.clone(),
                breakdown: breakdown(&t.schedule, t.cmds.commands(), &cfg, &|l| names.get(&l).cloned()),
            }
        })
        .collect();
    Ok((chip.to_string(), out))
}

pub fn main(a: Args) -> Result<std::process::ExitCode, String> {
    let (chip, reps) = reports(&a)?;
    if a.json {
        let v = serde_json::json!({ "chip": chip, "routines": reps });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
    } else {
        print!("{}", render(&chip, &reps, a.layers));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn class_name(c: TdmaClass) -> &'static str {
    match c {
        TdmaClass::Load => "load",
        TdmaClass::Store => "store",
        TdmaClass::Move => "move (local)",
        TdmaClass::Copy => "copy (DRAM to DRAM)",
    }
}

/// The text report; `layers` caps the layer table (0: all).
pub fn render(chip: &str, reps: &[RoutineReport], layers: usize) -> String {
    let mut s = String::new();
    if reps.is_empty() {
        let _ = writeln!(s, "{chip}: the program has no TPU routine");
    }
    for r in reps {
        let b = &r.breakdown;
        let mhz = b.clock_hz as f64 / 1e6;
        let ms = |c: u64| c as f64 / b.clock_hz as f64 * 1e3;
        let pct = |c: u64| if b.span_cycles == 0 { 0.0 } else { c as f64 * 100.0 / b.span_cycles as f64 };
        let _ = writeln!(
            s,
            "routine {} ({}), {chip} at {mhz:.0} MHz: {:.3} ms ({} cycles)",
            r.routine, r.section, b.inference_ms, b.span_cycles
        );
        let o = &b.overlap;
        let _ = writeln!(
            s,
            "  span: TIU alone {:.3} ms ({:.1}%), TDMA alone {:.3} ms ({:.1}%), both {:.3} ms ({:.1}%), idle {:.3} ms ({:.1}%)",
            ms(o.tiu_only),
            pct(o.tiu_only),
            ms(o.tdma_only),
            pct(o.tdma_only),
            ms(o.both),
            pct(o.both),
            ms(o.idle),
            pct(o.idle)
        );
        let _ = writeln!(s, "\n  by kind (busy time; the engines overlap)");
        let _ = writeln!(s, "  {:<40} {:>7} {:>10} {:>7}", "kind", "count", "ms", "%span");
        for k in &b.kinds {
            let _ = writeln!(s, "  {:<40} {:>7} {:>10.3} {:>7.1}", k.kind, k.count, k.ms, k.percent);
        }
        let _ = writeln!(s, "\n  TDMA bus efficiency (useful bytes / busy time against the peak)");
        let _ = writeln!(
            s,
            "  {:<20} {:>7} {:>10} {:>12} {:>9} {:>8} {:>10} {:>10} {:>6}",
            "class", "count", "ms", "bytes", "rows", "B/row", "pages", "MB/s", "eff%"
        );
        for c in &b.tdma {
            let _ = writeln!(
                s,
                "  {:<20} {:>7} {:>10.3} {:>12} {:>9} {:>8.0} {:>10} {:>10.0} {:>6.1}",
                class_name(c.class),
                c.count,
                c.ms,
                c.useful_bytes,
                c.rows,
                c.mean_row_bytes(),
                c.page_switches,
                c.achieved_mb_s,
                c.efficiency_percent
            );
        }
        if let Some(peak) = b.tdma.iter().find(|c| c.class != TdmaClass::Move).map(|c| c.peak_mb_s) {
            let _ = writeln!(s, "  DRAM peak {peak:.0} MB/s (rate x width); moves against the local port");
        }
        let mut ls: Vec<_> = b.layers.iter().collect();
        ls.sort_by(|x, y| y.busy_cycles().cmp(&x.busy_cycles()).then(x.layer.cmp(&y.layer)));
        let shown = if layers == 0 { ls.len() } else { layers.min(ls.len()) };
        let _ = writeln!(s, "\n  layers by busy time ({shown} of {})", ls.len());
        let _ = writeln!(
            s,
            "  {:>6} {:<32} {:>9} {:>9} {:>9} {:>11} {:>6}",
            "layer", "stores", "span ms", "TIU ms", "TDMA ms", "DRAM bytes", "%span"
        );
        for l in ls.into_iter().take(shown) {
            let name = l.name.as_deref().unwrap_or("-");
            let name: String = if name.chars().count() > 32 {
                let tail: String = name.chars().rev().take(31).collect::<Vec<_>>().into_iter().rev().collect();
                format!("…{tail}")
            } else {
                name.to_string()
            };
            let _ = writeln!(
                s,
                "  {:>6} {:<32} {:>9.3} {:>9.3} {:>9.3} {:>11} {:>6.1}",
                l.layer,
                name,
                ms(l.end - l.start),
                ms(l.tiu_cycles),
                ms(l.tdma_cycles),
                l.bytes,
                pct(l.busy_cycles())
            );
        }
        s.push('\n');
    }
    s
}
