//! Calibration: per-tensor statistics of the fp32 graph over a dataset, thresholds by KL
//! divergence as the vendor computes them, and the vendor's table format.

mod collect;
pub mod dataset;
pub mod histogram;
pub mod kld;
pub mod order;
pub mod propagate;
mod reference_run;
pub mod table;
pub mod tune;

pub use collect::{calibrate, CalibrateError, Calibration, Options, RunFn, Sample, SampleSource, TensorResult};
pub use dataset::{Dataset, DatasetError, InputSpec, PixelFormat, Preprocess};
pub use reference_run::{calibrate_with_reference, drop_identities, Error};
pub use table::{vendor_names, ApplyReport, Entry, Table, TableError};
pub use tune::{tune, EvalNodeFn, TuneError, TuneOptions, Tuned};
