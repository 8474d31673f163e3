//! `cvsim compile`: ONNX to the compiler's IR (`--emit-ir` prints it after the passes); the
//! quantising, lowering and packaging stages hang off the same arguments.

use super::tensors;
use crate::npz::{self, ElemType};
use crate::similarity::{similarity, Tolerance};
use cvsim_compiler::calibration::table::Table;
use cvsim_compiler::reference;
use cvsim_compiler::{bf16, driver, int8, ir::Graph, onnx, package, passes};
use cvsim_isa::Chip;
use cvsim_runtime::session::{Instance, LoadedModel};
use ndarray::ArrayD;
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
    /// Calibrate on the images or .npz files in this folder (int8; instead of a table).
    #[arg(long, value_name = "DIR", conflicts_with = "calibration_table")]
    pub dataset: Option<PathBuf>,
    #[command(flatten)]
    pub calibration: super::calibrate::DatasetArgs,
    /// With --dataset: also write the table made.
    #[arg(long, value_name = "TABLE", requires = "dataset")]
    pub save_calibration_table: Option<PathBuf>,
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
    let mut g = frontend(&a.model, a.input_shapes.as_deref())?;
    if a.emit_ir {
        print!("{g}");
        return Ok(ExitCode::SUCCESS);
    }
    let chip = a.chip.ok_or("--chip is required (cv180x, cv181x, cv182x or cv183x)")?;
    let quantize = a.quantize.ok_or("--quantize is required (int8 or bf16)")?;
    let output = a.output.as_ref().ok_or("-o OUT.cvimodel is required")?;
    let name = a.model.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    let net = match quantize {
        Quantize::Int8 => {
            let table = match (&a.calibration_table, &a.dataset) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                    Table::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
                }
                (None, Some(dir)) => {
                    let (table, summary) =
                        super::calibrate::table(&a.model, a.input_shapes.as_deref(), dir, &a.calibration)?;
                    eprintln!("{summary}");
                    if let Some(out) = &a.save_calibration_table {
                        std::fs::write(out, table.to_text()).map_err(|e| format!("{}: {e}", out.display()))?;
                    }
                    table
                }
                (None, None) => return Err("int8 needs --calibration-table TABLE or --dataset DIR".into()),
            };
            let shapes = a.input_shapes.as_deref().map(parse_shapes).transpose()?;
            let bytes = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
            driver::apply_table(&table, &mut g, &bytes, shapes.as_deref())
                .map_err(|e| format!("{}: {e}", a.model.display()))?;
            int8::quantize(&g, chip, &name).map_err(|e| format!("{}: {e}", a.model.display()))?
        }
        Quantize::Bf16 => bf16::quantize(&g, chip, &name).map_err(|e| format!("{}: {e}", a.model.display()))?,
    };
    let bytes = package::build(&net).map_err(|e| format!("{}: {e}", a.model.display()))?;
    std::fs::write(output, &bytes).map_err(|e| format!("{}: {e}", output.display()))?;
    eprintln!("wrote {} ({} bytes, {} layers)", output.display(), bytes.len(), net.layers.len());
    match &a.test_input {
        Some(input) => {
            let tolerance = match &a.tolerance {
                Some(t) => Tolerance::parse(t)?,
                None => Tolerance::DEFAULT,
            };
            validate(&g, output, input, &tolerance)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// An npz array as fp32 (the element types a model input can come in).
fn to_f32(a: &npz::Array) -> Result<ArrayD<f32>, String> {
    let data: Vec<f32> = match a.elem {
        ElemType::F32 => a.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        ElemType::I8 => a.data.iter().map(|&b| b as i8 as f32).collect(),
        ElemType::U8 => a.data.iter().map(|&b| b as f32).collect(),
        e => return Err(format!("array `{}`: {} is not a model input type the validation takes", a.name, e.name())),
    };
    let shape: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
    ArrayD::from_shape_vec(shape, data).map_err(|e| format!("array `{}`: {e}", a.name))
}

/// Run the fp32 reference and the compiled model in cvsim on the same inputs and print the
/// similarity of each output, as `model_deploy.py --test_input` does; 1 below the tolerance.
fn validate(g: &Graph, model: &Path, input: &Path, tol: &Tolerance) -> Result<ExitCode, String> {
    let arrays = npz::read(input)?;
    let mut named = Vec::new();
    for &i in &g.inputs {
        let name = &g.tensors[i].name;
        let a = arrays
            .iter()
            .find(|a| &a.name == name)
            .ok_or_else(|| format!("{}: no array named `{name}` (the model's input)", input.display()))?;
        named.push((name.clone(), to_f32(a)?));
    }
    let values = reference::run(g, &named).map_err(|e| format!("fp32 reference: {e}"))?;
    let loaded = LoadedModel::from_file(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let mut inst = Instance::new(loaded, 0).map_err(|e| format!("{}: {e}", model.display()))?;
    tensors::set_inputs(&mut inst, &arrays)?;
    inst.forward().map_err(|e| format!("{}: {e}", model.display()))?;
    let outputs = tensors::outputs(&inst)?;
    let mut pass = true;
    for &o in &g.outputs {
        let name = &g.tensors[o].name;
        let reference: Vec<f64> = values[o]
            .as_ref()
            .ok_or_else(|| format!("fp32 reference gave no `{name}`"))?
            .iter()
            .map(|&v| v as f64)
            .collect();
        let got = outputs
            .iter()
            .find(|a| &a.name == name)
            .ok_or_else(|| format!("the compiled model has no output `{name}`"))?;
        let target: Vec<f64> = to_f32(got)?.iter().map(|&v| v as f64).collect();
        let s = similarity(&target, &reference);
        let ok = tol.passes(&s);
        pass &= ok;
        println!(
            "{name}: cosine {:.6}, euclidean {:.6}, sqnr {:.2} dB: {}",
            s.cosine,
            s.euclidean,
            s.sqnr,
            if ok { "pass" } else { "below tolerance" }
        );
    }
    Ok(if pass { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
