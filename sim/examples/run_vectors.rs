//! Developer harness: run conformance vector files without the full CLI.
//! `cargo run -p cvsim-sim --release --example run_vectors -- PATH... [--quiet]`

use cvsim_sim::vectors::{find_files, run_file, Outcome};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.iter().any(|a| a == "--quiet");
    let paths: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    let (mut pass, mut fail) = (0, 0);
    for f in find_files(&paths) {
        match run_file(&f) {
            Ok(results) => {
                let p = results.iter().filter(|r| matches!(r.outcome, Outcome::Pass)).count();
                println!("{}: {} passed, {} failed", f.display(), p, results.len() - p);
                for r in &results {
                    if let Some(l) = r.failure_line() {
                        fail += 1;
                        if !quiet {
                            println!("  {l}");
                        }
                    } else {
                        pass += 1;
                    }
                }
            }
            Err(e) => {
                println!("{e}");
                fail += 1;
            }
        }
    }
    println!("{pass} passed, {fail} failed");
}
