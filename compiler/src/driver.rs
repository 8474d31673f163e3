//! The stages in order, for the command line, the bundled example and tests: ONNX bytes → IR →
//! passes; ONNX bytes + samples → calibration table; calibrated IR → quantised network →
//! `.cvimodel` bytes.

use crate::calibration::{
    self, calibrate_with_reference, drop_identities, vendor_names, SampleSource, Table, TuneOptions,
};
use crate::ir::Graph;
use crate::lower::{Chip, Network};
use crate::onnx::{self, ImportError};
use crate::package::{self, PackageError};
use crate::{bf16, int8, passes};

/// The precision a model is compiled to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Int8,
    Bf16,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("calibration: {0}")]
    Calibrate(#[from] calibration::Error),
    #[error(transparent)]
    Quantize(#[from] int8::QuantizeError),
    #[error(transparent)]
    Package(#[from] PackageError),
}

/// Import and run the passes.
pub fn frontend(onnx_bytes: &[u8], input_shapes: Option<&[Vec<usize>]>) -> Result<Graph, DriverError> {
    let mut g = onnx::import(onnx_bytes, input_shapes)?;
    passes::run(&mut g);
    Ok(g)
}

/// The calibration table of a model on `samples`, naming tensors as the vendor's table does (the
/// graph as imported, before the fusing passes), so it applies to cvsim's and the vendor's graphs.
pub fn calibration_table(
    onnx_bytes: &[u8],
    input_shapes: Option<&[Vec<usize>]>,
    model_name: &str,
    samples: &dyn SampleSource,
    opts: &calibration::Options,
    tune: &TuneOptions,
) -> Result<(Table, usize), DriverError> {
    let mut g = onnx::import(onnx_bytes, input_shapes)?;
    drop_identities(&mut g);
    let (cal, tuned) = calibrate_with_reference(&g, samples, opts, tune)?;
    let header = Table::vendor_header(model_name, opts.histogram_bins, cal.samples, tune.samples.min(cal.samples));
    let names = vendor_names(&g);
    Ok((cal.to_table(header, &|t| names.get(&t).cloned().unwrap_or_else(|| g.tensors[t].name.clone())), tuned.len()))
}

/// Attach a table's thresholds to a graph after the passes. Entries name tensors of the graph as
/// imported (the vendor's naming); `Table::apply_with_import` maps those the passes folded away.
pub fn apply_table(
    table: &Table,
    graph: &mut Graph,
    onnx_bytes: &[u8],
    input_shapes: Option<&[Vec<usize>]>,
) -> Result<calibration::ApplyReport, DriverError> {
    let imported = onnx::import(onnx_bytes, input_shapes)?;
    Ok(table.apply_with_import(graph, &imported))
}

/// Quantise a graph (calibrated, for int8) and write the model file.
pub fn build(graph: &Graph, chip: Chip, precision: Precision, name: &str) -> Result<(Network, Vec<u8>), DriverError> {
    let net = match precision {
        Precision::Int8 => int8::quantize(graph, chip, name)?,
        Precision::Bf16 => bf16::quantize(graph, chip, name)?,
    };
    let bytes = package::build(&net)?;
    Ok((net, bytes))
}
