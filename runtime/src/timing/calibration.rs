//! Calibration of the timing model against the board latencies the vendor publishes
//! (`timing.md` §5): the corpus networks that have a board figure, the fit of the free constants
//! on some of them, and the residuals on all of them.
//!
//! The free constants are physical: DDR efficiency (one value for every chip), the fixed TDMA and
//! TIU per-descriptor latencies, the cross-engine sync latency, whether CV180x's TIU takes two
//! input channels per cycle under `double_conv`, and which of its two documented bus widths the
//! CV183x board has. No constant is per network.

use crate::Model;
use cvsim_isa::{Chip, Command};
use cvsim_sim::timing::{schedule, PmuSummary, TimingConfig};
use std::fmt::Write;
use std::path::Path;

/// Whether a case is used to fit the constants or only to check them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Fit,
    Check,
    /// No board figure: reported only.
    Report,
}

/// A corpus case and the vendor's board `inference_ms` for it.
pub struct Case {
    pub name: &'static str,
    /// Folder under the corpus root.
    pub dir: &'static str,
    /// Board `inference_ms` and where it comes from.
    pub board: Option<(f64, &'static str)>,
    pub role: Role,
}

const CSV: &str = "best_performance CSV";

/// The cases. The fit set has one network per chip family the board figures cover (squeezenet on
/// CV180x and CV183x, mobilenet_v2 on CV181x); the check set is the other network on each chip, so
/// every check is a network the fit never saw on that chip.
pub const CASES: &[Case] = &[
    Case {
        name: "squeezenet1_1_cv180x_int8",
        dir: "networks/squeezenet1_1_cv180x_int8",
        board: Some((27.45, CSV)),
        role: Role::Fit,
    },
    Case {
        name: "squeezenet1_1_cv183x_int8",
        dir: "networks/squeezenet1_1_cv183x_int8",
        board: Some((1.31, CSV)),
        role: Role::Fit,
    },
    Case {
        name: "mobilenet_v2_cv181x_int8",
        dir: "networks/mobilenet_v2_cv181x_int8",
        board: Some((7.07, CSV)),
        role: Role::Fit,
    },
    Case {
        name: "mobilenet_v2_cv180x_int8",
        dir: "networks/mobilenet_v2_cv180x_int8",
        board: Some((31.68, CSV)),
        role: Role::Check,
    },
    Case {
        name: "mobilenet_v2_cv183x_int8",
        dir: "networks/mobilenet_v2_cv183x_int8",
        board: Some((1.59, CSV)),
        role: Role::Check,
    },
    Case {
        name: "cls_hand_gesture_128_128_INT8_cv181x",
        dir: "models/cls_hand_gesture_128_128_INT8_cv181x",
        board: Some((1.09, "sophgo/tdl_models README")),
        role: Role::Check,
    },
    Case { name: "squeezenet1_1_cv181x_int8", dir: "networks/squeezenet1_1_cv181x_int8", board: None, role: Role::Report },
    Case { name: "mobilenet_v2_cv181x_bf16", dir: "networks/mobilenet_v2_cv181x_bf16", board: None, role: Role::Report },
];

/// Board figures of mobilenet_v2 for the CV180x/CV181x ratio target.
pub const MOBILENET_CV180X_MS: f64 = 31.68;
pub const MOBILENET_CV181X_MS: f64 = 7.07;

/// A case's TPU routines, decoded once.
pub struct Loaded {
    pub case: &'static Case,
    pub chip: Chip,
    pub routines: Vec<Vec<Command>>,
}

/// Load every case present under `corpus`; `Err` names the first case that does not load.
pub fn load(corpus: &Path) -> Result<Vec<Loaded>, String> {
    CASES
        .iter()
        .map(|c| {
            let path = corpus.join(c.dir).join("model.cvimodel");
            let m = Model::from_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let p = m.program(0).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut routines = Vec::new();
            for r in &p.routines {
                if let Some(sec) = m.routine_section(r) {
                    routines.push(m.decode_cmdbuf(sec).map_err(|e| format!("{}: {e}", path.display()))?);
                }
            }
            Ok(Loaded { case: c, chip: m.chip(), routines })
        })
        .collect()
}

/// The model's figures for one case: the sum of its TPU routines' `inference_ms` (the corpus
/// networks have one TPU routine; a CPU quant routine before it is outside the PMU figure).
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub inference_ms: f64,
    pub tiu_ms: f64,
    pub tdma_ms: f64,
    pub parallelism: f64,
    pub data_mb: f64,
}

pub fn figures(l: &Loaded, cfg: &TimingConfig) -> Result<Figures, String> {
    let mut f = Figures { inference_ms: 0.0, tiu_ms: 0.0, tdma_ms: 0.0, parallelism: 0.0, data_mb: 0.0 };
    let (mut ticks, mut busy) = (0u64, 0u64);
    for cmds in &l.routines {
        let s = schedule(l.chip, cmds, cfg).map_err(|e| format!("{}: {e}", l.case.name))?;
        let p = PmuSummary::from_schedule(&s);
        f.inference_ms += p.inference_ms();
        f.tiu_ms += p.tiu_exe_ms();
        f.tdma_ms += p.tdma_exe_ms();
        f.data_mb += p.inference_data_mb();
        ticks += p.inference_tick;
        busy += p.tiu_exe_tick + p.tdma_exe_tick;
    }
    f.parallelism = (busy as f64 / ticks.max(1) as f64 * 100.0).max(100.0);
    Ok(f)
}

/// Relative residual model / board − 1.
pub fn residual(model: f64, board: f64) -> f64 {
    model / board - 1.0
}

/// Every case's figures under one config, with the two derived ratios.
pub struct Evaluation {
    pub rows: Vec<(&'static Case, Figures)>,
    /// mobilenet_v2 CV180x / CV181x, model and board.
    pub ratio_180_181: (f64, f64),
    /// mobilenet_v2 CV181x bf16 / int8 (the vendor says roughly 3–4).
    pub bf16_over_int8: f64,
}

impl Evaluation {
    fn ms(&self, name: &str) -> f64 {
        self.rows.iter().find(|(c, _)| c.name == name).map(|(_, f)| f.inference_ms).unwrap_or(f64::NAN)
    }

    /// Worst |residual| over the cases of one role.
    pub fn worst(&self, role: Role) -> f64 {
        self.rows
            .iter()
            .filter(|(c, _)| c.role == role)
            .filter_map(|(c, f)| c.board.map(|(b, _)| residual(f.inference_ms, b).abs()))
            .fold(0.0, f64::max)
    }
}

pub fn evaluate(loaded: &[Loaded], cfg: &TimingConfig) -> Result<Evaluation, String> {
    let rows = loaded.iter().map(|l| Ok((l.case, figures(l, cfg)?))).collect::<Result<Vec<_>, String>>()?;
    let mut e = Evaluation { rows, ratio_180_181: (0.0, MOBILENET_CV180X_MS / MOBILENET_CV181X_MS), bf16_over_int8: 0.0 };
    e.ratio_180_181.0 = e.ms("mobilenet_v2_cv180x_int8") / e.ms("mobilenet_v2_cv181x_int8");
    e.bf16_over_int8 = e.ms("mobilenet_v2_cv181x_bf16") / e.ms("mobilenet_v2_cv181x_int8");
    Ok(e)
}

/// The grid the fit searches. Values are physical ranges: DDR efficiency of a controller under
/// mixed TDMA traffic, descriptor latencies of a DRAM round trip or a few, sync latencies of a
/// handful of cycles to a microsecond.
pub struct Grid {
    pub ddr_efficiency: Vec<f64>,
    pub tdma_descriptor_ns: Vec<f64>,
    pub tiu_descriptor_ns: Vec<f64>,
    pub sync_ns: Vec<f64>,
    pub cv180x_double_conv_channels: Vec<u32>,
    pub cv183x_bus_bits: Vec<u32>,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            ddr_efficiency: (10..=18).map(|k| k as f64 * 0.05).collect(),
            tdma_descriptor_ns: (0..=10).map(|k| k as f64 * 100.0).collect(),
            tiu_descriptor_ns: vec![0.0, 100.0, 200.0, 300.0],
            sync_ns: vec![0.0, 250.0, 500.0],
            cv180x_double_conv_channels: vec![1, 2],
            cv183x_bus_bits: vec![16, 32],
        }
    }
}

/// One point of the grid applied to a base config.
pub fn apply(base: &TimingConfig, p: &Point) -> TimingConfig {
    let mut c = base.clone();
    for chip in Chip::ALL {
        c.ddr.get_mut(chip).efficiency = p.ddr_efficiency;
    }
    c.tdma.descriptor_ns = p.tdma_descriptor_ns;
    c.tiu.descriptor_ns = p.tiu_descriptor_ns;
    c.sync_ns = p.sync_ns;
    c.tiu.double_conv_channels[Chip::Cv180x] = p.cv180x_double_conv_channels;
    c.ddr[Chip::Cv183x].bus_bits = p.cv183x_bus_bits;
    c
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub ddr_efficiency: f64,
    pub tdma_descriptor_ns: f64,
    pub tiu_descriptor_ns: f64,
    pub sync_ns: f64,
    pub cv180x_double_conv_channels: u32,
    pub cv183x_bus_bits: u32,
}

/// The fit: the grid point with the smallest worst |log residual| over the fit cases, ties broken
/// by the sum of squared log residuals. Only fit cases are looked at.
pub fn fit(loaded: &[Loaded], base: &TimingConfig, grid: &Grid) -> Result<(Point, f64), String> {
    let fit_set: Vec<&Loaded> = loaded.iter().filter(|l| l.case.role == Role::Fit).collect();
    let mut best: Option<(Point, (f64, f64))> = None;
    for &ddr_efficiency in &grid.ddr_efficiency {
        for &tdma_descriptor_ns in &grid.tdma_descriptor_ns {
            for &tiu_descriptor_ns in &grid.tiu_descriptor_ns {
                for &sync_ns in &grid.sync_ns {
                    for &cv180x_double_conv_channels in &grid.cv180x_double_conv_channels {
                        for &cv183x_bus_bits in &grid.cv183x_bus_bits {
                            let p = Point {
                                ddr_efficiency,
                                tdma_descriptor_ns,
                                tiu_descriptor_ns,
                                sync_ns,
                                cv180x_double_conv_channels,
                                cv183x_bus_bits,
                            };
                            let cfg = apply(base, &p);
                            let (mut worst, mut sq) = (0.0f64, 0.0);
                            for l in &fit_set {
                                let (b, _) = l.case.board.expect("fit cases have a board figure");
                                let r = (figures(l, &cfg)?.inference_ms / b).ln();
                                worst = worst.max(r.abs());
                                sq += r * r;
                            }
                            let key = (worst, sq);
                            if best.as_ref().map_or(true, |(_, k)| key < *k) {
                                best = Some((p, key));
                            }
                        }
                    }
                }
            }
        }
    }
    let (p, (worst, _)) = best.ok_or("empty grid")?;
    Ok((p, worst.exp() - 1.0))
}

/// The calibration report (markdown): the fitted constants and every residual.
pub fn report(e: &Evaluation, cfg: &TimingConfig, fitted: Option<(&Point, f64)>) -> String {
    let mut s = String::new();
    let pct = |x: f64| format!("{:+.1}%", x * 100.0);
    if let Some((p, worst)) = fitted {
        let _ = writeln!(s, "## Fit\n");
        let _ = writeln!(s, "Grid search over the free constants; objective: the worst |log(model / board)| over the");
        let _ = writeln!(s, "fit cases (worst fit residual {}).\n", pct(worst));
        let _ = writeln!(s, "| constant | fitted value |\n|---|---|");
        let _ = writeln!(s, "| `ddr.<chip>.efficiency` (all chips) | {:.2} |", p.ddr_efficiency);
        let _ = writeln!(s, "| `tdma.descriptor_ns` | {} |", p.tdma_descriptor_ns);
        let _ = writeln!(s, "| `tiu.descriptor_ns` | {} |", p.tiu_descriptor_ns);
        let _ = writeln!(s, "| `sync_ns` | {} |", p.sync_ns);
        let _ = writeln!(s, "| `tiu.double_conv_channels.cv180x` | {} |", p.cv180x_double_conv_channels);
        let _ = writeln!(s, "| `ddr.cv183x.bus_bits` | {} |\n", p.cv183x_bus_bits);
    }
    let _ = writeln!(s, "## Residuals (defaults of this build)\n");
    let _ = writeln!(
        s,
        "| case | role | board ms | model ms | residual | tiu ms | tdma ms | parallelism | data MB |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (c, f) in &e.rows {
        let (board, res) = match c.board {
            Some((b, src)) => (format!("{b:.2} ({src})"), pct(residual(f.inference_ms, b))),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {:?} | {} | {:.3} | {} | {:.3} | {:.3} | {:.1}% | {:.2} |",
            c.name, c.role, board, f.inference_ms, res, f.tiu_ms, f.tdma_ms, f.parallelism, f.data_mb
        );
    }
    let (m, b) = e.ratio_180_181;
    let _ = writeln!(s, "\nmobilenet_v2 CV180x / CV181x: model {m:.3}, board {b:.3}, residual {} (check).", pct(residual(m, b)));
    let _ = writeln!(
        s,
        "mobilenet_v2 CV181x bf16 / int8: model {:.2} (vendor FAQ: roughly 3–4, measured case by case; no board figure).",
        e.bf16_over_int8
    );
    let _ = writeln!(s, "\nWorst |residual|: fit cases {}, check cases {}.", pct(e.worst(Role::Fit)), pct(e.worst(Role::Check)));
    let _ = writeln!(s, "\n## Effective config\n\n```json\n{}\n```", cfg.to_json());
    s
}
