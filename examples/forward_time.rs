//! Time the forward pass alone on a case folder (`model.cvimodel`, `input.npz`), as wall-clock and
//! as the calling thread's CPU time, which a busy machine inflates far less:
//!
//! `cargo run --release --example forward_time -- CASE_DIR [FORWARDS]`
//!
//! Prints one line per forward and the medians. `python/benches/overhead.py` compares these with
//! `cvsim.Model.run` on the same case.

use cvsim::commands::tensors;
use cvsim::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: forward_time CASE_DIR [FORWARDS]");
        return ExitCode::from(2);
    };
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10).max(1);
    let run = || -> Result<(Vec<f64>, Vec<f64>), String> {
        let loaded = LoadedModel::from_file(dir.join("model.cvimodel")).map_err(|e| e.to_string())?;
        let mut inst = Instance::new(loaded, 0).map_err(|e| e.to_string())?;
        tensors::set_inputs(&mut inst, &npz::read(&dir.join("input.npz"))?)?;
        inst.forward().map_err(|e| e.to_string())?; // warm-up
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (w, c) = (Instant::now(), thread_cpu_seconds());
            inst.forward().map_err(|e| e.to_string())?;
            let (w, c) = (w.elapsed().as_secs_f64(), thread_cpu_seconds() - c);
            println!("forward {i}: wall {:.3} ms, cpu {:.3} ms", w * 1e3, c * 1e3);
            wall.push(w);
            cpu.push(c);
        }
        Ok((wall, cpu))
    };
    match run() {
        Ok((wall, cpu)) => {
            println!("median: wall {:.3} ms, cpu {:.3} ms", median(wall) * 1e3, median(cpu) * 1e3);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("forward_time: {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
