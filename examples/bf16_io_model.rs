//! Write a copy of a model whose float32 program inputs and outputs are declared bf16 with twice
//! as many elements in the last dimension (the same bytes, so the command buffers run unchanged):
//!
//! `cargo run --example bf16_io_model -- IN.cvimodel OUT.cvimodel`
//!
//! No model of the conformance corpus has a bf16 input or output; the Python module's tests
//! (`python/tests/test_bf16.py`) make one this way to check its bf16 conversions.

use cvsim_runtime::cvimodel::DType;
use cvsim_runtime::writer::ModelSpec;
use cvsim_runtime::Model;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: bf16_io_model IN.cvimodel OUT.cvimodel");
        return ExitCode::from(2);
    };
    match convert(src, dst) {
        Ok(n) => {
            println!("{dst}: {n} tensor(s) declared bf16");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bf16_io_model: {e}");
            ExitCode::from(1)
        }
    }
}

fn convert(src: &str, dst: &str) -> Result<usize, String> {
    let model = Model::from_file(src).map_err(|e| format!("{src}: {e}"))?;
    let mut spec = ModelSpec::from_model(&model).map_err(|e| format!("{src}: {e}"))?;
    let mut changed = 0;
    for p in &mut spec.programs {
        let io: Vec<String> = p.input_tensors.iter().chain(&p.output_tensors).cloned().collect();
        for t in p.tensor_map.iter_mut().filter(|t| io.contains(&t.name) && t.dtype == DType::F32) {
            t.dtype = DType::Bf16;
            if let Some(last) = t.shape.last_mut() {
                *last *= 2;
            }
            changed += 1;
        }
    }
    if changed == 0 {
        return Err(format!("{src}: no float32 program input or output"));
    }
    let bytes = spec.to_bytes().map_err(|e| format!("{dst}: {e}"))?;
    std::fs::write(dst, bytes).map_err(|e| format!("{dst}: {e}"))?;
    Ok(changed)
}
