//! The .cvimodel container, device-memory accounting, the CVI_NN-style runtime API, and the
//! model-level work every front end shares (program timing, the checked forward, calibration of
//! the timing model, the threads timeline).
//!
//! - [`cvimodel`]: parse a `.cvimodel` file into owned types ([`Model`]), with typed errors.
//! - [`memory`]: what the vendor runtime allocates on the device for a model ([`MemoryPlan`]).
//! - [`info`]: a `cvimodel_tool -a dump`-style report and its JSON form.

pub mod api;
pub mod check;
pub mod cpu;
pub mod cvimodel;
mod generated;
pub mod info;
pub mod memory;
pub mod session;
pub mod threads;
pub mod timing;
pub mod writer;

pub use cvimodel::{
    AttrValue, CpuAttr, DType, Header, Model, ModelError, PixelFormat, Program, QuantType, Routine, RoutineKind, Section,
    SectionType, Tensor, Version, Weight,
};
pub use memory::{MemoryOptions, MemoryPlan};
