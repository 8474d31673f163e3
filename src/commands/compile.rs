//! `cvsim compile`: ONNX to the compiler's IR (`--emit-ir` prints it after the passes); the
//! quantising, lowering and packaging stages hang off the same arguments.

use cvsim_compiler::{ir::Graph, onnx, passes};
use cvsim_isa::Chip;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Quantize {
    Int8,
    Bf16,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Print the compiler's IR after the passes, one line per node, and stop.
    #[arg(long)]
    pub emit_ir: bool,
    /// Shapes of the graph inputs in order, as JSON, e.g. '[[1,3,224,224]]' (required for
    /// dynamic dimensions).
    #[arg(long, value_name = "JSON")]
    pub input_shapes: Option<String>,
    /// Target chip.
    #[arg(long)]
    pub chip: Option<Chip>,
    /// Precision of the compiled model.
    #[arg(long)]
    pub quantize: Option<Quantize>,
    /// A calibration table in the vendor's format (`# op_name threshold min max`).
    #[arg(long, value_name = "TABLE")]
    pub calibration_table: Option<PathBuf>,
    /// Calibrate on the images or .npz files in this folder.
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Where to write the .cvimodel.
    #[arg(short = 'o', long = "output", value_name = "OUT.cvimodel")]
    pub output: Option<PathBuf>,
    /// Validate the compiled model against the fp32 reference on these inputs.
    #[arg(long, value_name = "IN.npz")]
    pub test_input: Option<PathBuf>,
    /// Minimum similarity of the validation, `COS,EUC`.
    #[arg(long, value_name = "COS,EUC")]
    pub tolerance: Option<String>,
}

/// Parses `--input-shapes`.
pub fn parse_shapes(text: &str) -> Result<Vec<Vec<usize>>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("--input-shapes `{text}`: expected a JSON list of shapes like [[1,3,224,224]] ({e})"))
}

/// Imports the model and runs the passes.
pub fn frontend(model: &Path, input_shapes: Option<&str>) -> Result<Graph, String> {
    let shapes = input_shapes.map(parse_shapes).transpose()?;
    let mut g = onnx::import_file(model, shapes.as_deref()).map_err(|e| format!("{}: {e}", model.display()))?;
    passes::run(&mut g);
    Ok(g)
}

pub fn main(a: Args) -> Result<ExitCode, String> {
    let g = frontend(&a.model, a.input_shapes.as_deref())?;
    if a.emit_ir {
        print!("{g}");
        return Ok(ExitCode::SUCCESS);
    }
    Err("compiling to a .cvimodel (--chip, --quantize, -o) is not available yet; --emit-ir prints the imported graph"
        .into())
}
