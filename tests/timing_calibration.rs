//! The timing model's defaults against the vendor's board latencies (`timing.md` §5) on the corpus
//! networks: every board figure within 15%, the mobilenet_v2 CV180x/CV181x ratio within 15%, and
//! the bf16 build slower than the int8 build by about what the vendor says. Needs
//! `../shared/conformance`; reported as ignored when it is absent.

use cvsim_runtime::timing::calibration::{evaluate, load, residual, Evaluation, CASES};
use cvsim_sim::timing::TimingConfig;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TOLERANCE: f64 = 0.15;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

/// One evaluation of every case, shared by the trials.
fn get() -> Result<&'static Evaluation, Failed> {
    static EVAL: OnceLock<Result<Evaluation, String>> = OnceLock::new();
    EVAL.get_or_init(|| load(&corpus()).and_then(|l| evaluate(&l, &TimingConfig::default())))
        .as_ref()
        .map_err(|e| Failed::from(e.clone()))
}

fn main() {
    let args = Arguments::from_args();
    if !corpus().join("networks").is_dir() {
        let t = Trial::test("timing calibration: conformance corpus absent (../shared/conformance)", || Ok(()));
        libtest_mimic::run(&args, vec![t.with_ignored_flag(true)]).exit();
    }
    let mut trials = Vec::new();
    for c in CASES.iter().filter(|c| c.board.is_some()) {
        trials.push(Trial::test(format!("board_figure::{}", c.name), move || {
            let e = get()?;
            let (_, f) = e.rows.iter().find(|(k, _)| k.name == c.name).ok_or("case not evaluated")?;
            let (board, _) = c.board.expect("filtered");
            let r = residual(f.inference_ms, board);
            if r.abs() > TOLERANCE {
                return Err(format!("model {:.3} ms vs board {board} ms: {:+.1}%", f.inference_ms, r * 100.0).into());
            }
            Ok(())
        }));
    }
    trials.push(Trial::test("mobilenet_v2_cv180x_over_cv181x_ratio", move || {
        let (m, b) = get()?.ratio_180_181;
        let r = residual(m, b);
        if r.abs() > TOLERANCE {
            return Err(format!("model ratio {m:.3} vs board {b:.3}: {:+.1}%", r * 100.0).into());
        }
        Ok(())
    }));
    trials.push(Trial::test("mobilenet_v2_cv181x_bf16_slower_than_int8", move || {
        // The vendor FAQ (§1.3.2): roughly 3–4× slower, to be measured case by case. This corpus's
        // bf16 build moves 6.8× the int8 build's DRAM data (12× the stores: it keeps fewer results in
        // local memory), so its TDMA time alone is ~4.1× the int8 inference and no overlap brings it
        // under 4; the bound is the FAQ's range widened to that floor of this build, and still fails
        // if the physics goes wrong (see traces/timing-calibration-*.md).
        let x = get()?.bf16_over_int8;
        if !(3.0..=5.5).contains(&x) {
            return Err(format!("bf16 / int8 = {x:.2}").into());
        }
        Ok(())
    }));
    libtest_mimic::run(&args, trials).exit();
}
