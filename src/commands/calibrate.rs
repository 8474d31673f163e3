//! `cvsim calibrate`: thresholds for every activation of an ONNX model from a folder of images or
//! .npz files, written as the vendor's calibration table. The fp32 reference runs the imported
//! graph (without the compiler's fusing passes, so the table names the tensors the vendor's
//! does); KL thresholds, then the vendor's tuning on the first `--tune-num` samples.

use cvsim_compiler::calibration::{
    self, calibrate_with_reference, drop_identities, vendor_names, Dataset, InputSpec, PixelFormat, Preprocess, Table,
    TuneOptions,
};
use cvsim_compiler::onnx;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Folder of calibration images (png, jpg) or .npz files keyed by input name.
    #[arg(long, value_name = "DIR")]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub calibration: DatasetArgs,
    /// Shapes of the graph inputs in order, as JSON, e.g. '[[1,3,224,224]]'.
    #[arg(long, value_name = "JSON")]
    pub input_shapes: Option<String>,
    /// Where to write the table.
    #[arg(short = 'o', long = "output", value_name = "TABLE")]
    pub output: PathBuf,
}

/// How to calibrate, shared by `cvsim calibrate` and `cvsim compile --dataset`.
#[derive(clap::Args, Debug, Clone)]
pub struct DatasetArgs {
    /// Use this many files (the first of the vendor's seeded order); 0 = all.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub input_num: usize,
    /// Per-channel mean subtracted from 0..255 pixel values, `m0,m1,m2` (or one value).
    #[arg(long, value_name = "M0,M1,M2", value_delimiter = ',', allow_hyphen_values = true)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel scale applied after the mean, `s0,s1,s2` (or one value).
    #[arg(long, value_name = "S0,S1,S2", value_delimiter = ',', allow_hyphen_values = true)]
    pub scale: Option<Vec<f32>>,
    /// Channel order the images are fed in: rgb, bgr or gray.
    #[arg(long, value_name = "FORMAT", default_value = "rgb")]
    pub pixel_format: PixelFormat,
    /// Samples the thresholds are tuned on after KL (0 = no tuning).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub tune_num: usize,
    /// Initial bins of each tensor's histogram.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub histogram_bin_num: usize,
}

/// The calibration table of `model` on the files in `dataset`, and a one-line summary.
pub fn table(
    model: &Path,
    input_shapes: Option<&str>,
    dataset: &Path,
    a: &DatasetArgs,
) -> Result<(Table, String), String> {
    if a.histogram_bin_num < 2 {
        return Err("--histogram-bin-num must be at least 2".into());
    }
    let shapes = input_shapes.map(super::compile::parse_shapes).transpose()?;
    let mut g = onnx::import_file(model, shapes.as_deref()).map_err(|e| format!("{}: {e}", model.display()))?;
    drop_identities(&mut g);
    let inputs: Vec<InputSpec> = g
        .inputs
        .iter()
        .map(|&i| InputSpec { name: g.tensors[i].name.clone(), shape: g.tensors[i].shape.clone() })
        .collect();
    let defaults = Preprocess::default();
    let pre = Preprocess {
        mean: a.mean.clone().unwrap_or(defaults.mean),
        scale: a.scale.clone().unwrap_or(defaults.scale),
        pixel_format: a.pixel_format,
    };
    let ds = Dataset::open(dataset, a.input_num, inputs, pre).map_err(|e| e.to_string())?;
    let opts = calibration::Options { histogram_bins: a.histogram_bin_num, ..calibration::Options::default() };
    let tune_opts = TuneOptions { samples: a.tune_num, ..TuneOptions::default() };
    let (cal, tuned) = calibrate_with_reference(&g, &ds, &opts, &tune_opts).map_err(|e| e.to_string())?;
    let tune_samples = a.tune_num.min(cal.samples);
    let model_name = model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let header = Table::vendor_header(&model_name, a.histogram_bin_num, cal.samples, tune_samples);
    let names = vendor_names(&g);
    let table = cal.to_table(header, &|t| names.get(&t).cloned().unwrap_or_else(|| g.tensors[t].name.clone()));
    let summary = format!(
        "calibrated {} tensors on {} samples ({} thresholds raised by tuning on {})",
        table.entries.len(),
        cal.samples,
        tuned.len(),
        tune_samples
    );
    Ok((table, summary))
}

pub fn main(a: Args) -> Result<ExitCode, String> {
    let (table, summary) = table(&a.model, a.input_shapes.as_deref(), &a.dataset, &a.calibration)?;
    std::fs::write(&a.output, table.to_text()).map_err(|e| format!("{}: {e}", a.output.display()))?;
    println!("{summary} -> {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
