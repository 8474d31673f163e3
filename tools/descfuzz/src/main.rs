//! Differential testing of cvsim against the vendor simulator (the oracle in `../shared/oracle`):
//!
//! - `descfuzz example [SEED...]` — `cvsim example` models for each seed on both simulators.
//! - `descfuzz fuzz --chip C --seed S --cases N [--family F] [--per-model K] [--work DIR]` —
//!   random legal descriptors of every TIU family and TDMA kind, many per `.cvimodel`, on both
//!   simulators, every byte compared; prints the counts per family.
//!
//! A developer tool: the project's build and tests never need it or the oracle.

mod example;
mod fuzz;
mod mutate;
mod oracle;
mod pack;
mod probe;
mod templates;
mod vectors;

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: descfuzz example [SEED...] [--work DIR]\n       descfuzz fuzz --chip C --seed S --cases N [--family F] [--per-model K] [--record FILE.jsonl] [--work DIR]\n       descfuzz vectors FILE.jsonl [--set TIU_FIELD=VALUE]\n       descfuzz probe FILE.jsonl --grid FIELD=V,V/FIELD=V,V [--line K] [--work DIR]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { return usage() };
    let mut work = std::env::temp_dir().join("cvsim-descfuzz");
    let mut free = Vec::new();
    let mut opts = std::collections::HashMap::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if let Some(k) = a.strip_prefix("--") {
            let Some(v) = it.next() else { return usage() };
            if k == "work" {
                work = PathBuf::from(v);
            } else {
                opts.insert(k.to_string(), v.clone());
            }
        } else {
            free.push(a.clone());
        }
    }
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("{}: {e}", work.display());
        return ExitCode::FAILURE;
    }
    let result = match cmd.as_str() {
        "example" => {
            let seeds: Result<Vec<u64>, _> = free.iter().map(|s| s.parse()).collect();
            match seeds {
                Ok(s) if s.is_empty() => example::run(&[0, 1, 2, 3, 4, 5, 6, 7], &work),
                Ok(s) => example::run(&s, &work),
                Err(e) => Err(format!("bad seed: {e}")),
            }
        }
        "fuzz" => {
            let get = |k: &str| opts.get(k).cloned();
            let parse = |k: &str, d: u64| get(k).map_or(Ok(d), |v| v.parse::<u64>().map_err(|e| format!("--{k}: {e}")));
            (|| {
                let chip: cvsim_isa::Chip =
                    get("chip").ok_or("--chip is required")?.parse().map_err(|e| format!("--chip: {e}"))?;
                fuzz::run(&fuzz::Options {
                    chip,
                    seed: parse("seed", 1)?,
                    cases: parse("cases", 100)? as usize,
                    per_model: parse("per-model", 40)?.max(1) as usize,
                    family: get("family"),
                    vectors: get("vectors").map_or_else(|| PathBuf::from("../shared/conformance/vectors"), PathBuf::from),
                    work: work.clone(),
                    mutate_fields: get("fields").as_deref() != Some("keep"),
                    record: get("record").map(PathBuf::from),
                    data: match get("data").as_deref() {
                        None | Some("all") => mutate::DataMode::All,
                        Some("first") => mutate::DataMode::First,
                        Some("keep") => mutate::DataMode::Keep,
                        Some(x) => return Err(format!("--data {x}: all, first or keep")),
                    },
                })
            })()
        }
        "vectors" => match free.as_slice() {
            [f] => {
                let set = match opts.get("set").map(|s| s.split_once('=')) {
                    None => None,
                    Some(Some((k, v))) => Some((k.to_string(), v.parse::<u32>().map_err(|e| e.to_string()).unwrap_or(0))),
                    Some(None) => return usage(),
                };
                vectors::run(std::path::Path::new(f), set)
            }
            _ => return usage(),
        },
        "probe" => match free.as_slice() {
            [f] => {
                let vectors = opts.get("vectors").map_or_else(|| PathBuf::from("../shared/conformance/vectors"), PathBuf::from);
                let line = match opts.get("line").map(|s| s.parse::<usize>()) {
                    None => None,
                    Some(Ok(k)) => Some(k),
                    Some(Err(_)) => return usage(),
                };
                probe::run(&probe::Options {
                    file: std::path::Path::new(f),
                    line,
                    grid: opts.get("grid").map_or("", |s| s.as_str()),
                    vectors: &vectors,
                    work: &work,
                })
            }
            _ => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("descfuzz: {e}");
            ExitCode::FAILURE
        }
    }
}
