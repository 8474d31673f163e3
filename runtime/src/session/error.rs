//! What running a model can fail with, naming the program, tensor or routine.

use crate::cvimodel::ModelError;
use cvsim_sim::ExecError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("program {program} does not exist (the model has {count})")]
    NoProgram { program: usize, count: usize },
    #[error("no tensor named `{name}` (the program has: {known})")]
    NoTensor { name: String, known: String },
    #[error("tensor `{name}`: {why}")]
    BadTensor { name: String, why: String },
    #[error("input `{name}`: {got} bytes given, the tensor holds {want} ({dtype} {shape:?})")]
    InputSize { name: String, got: usize, want: usize, dtype: &'static str, shape: [i64; 4] },
    #[error("routine {routine} (TPU, section `{section}`): {source}")]
    Tpu { routine: usize, section: String, source: ExecError },
    #[error("routine {routine} (CPU `{function}`): {why}")]
    Cpu { routine: usize, function: String, why: String },
    #[error("routine {routine} (CPU `{function}`): CPU function `{function}` is not implemented")]
    UnknownCpuFunction { routine: usize, function: String },
    #[error("device memory: {0}")]
    Device(String),
}
