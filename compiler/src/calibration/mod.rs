//! Calibration: per-tensor statistics of the fp32 graph over a dataset, thresholds by KL
//! divergence as the vendor computes them, and the vendor's table format.

pub mod histogram;
pub mod kld;
pub mod table;

pub use table::{ApplyReport, Entry, Table, TableError};
