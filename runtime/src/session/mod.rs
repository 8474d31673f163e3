//! Running a model: a loaded model (parsed file and decoded command buffers, shared by every
//! instance) and instances of it (one program's device memory on an emulated TPU), with
//! forward passes that run TPU routines on the simulator and CPU routines on the host.
//!
//! - [`loaded`]: the parsed file and its command streams ([`LoadedModel`]).
//! - [`instance`]: one program's device memory and tensors ([`Instance`]).
//! - `run`: running the program's routines in order.
//! - `cpu_routine`: a CPU routine's function, found in [`crate::cpu::FUNCTIONS`], over the
//!   instance's tensors.
//! - [`error`]: what running can fail with ([`RuntimeError`]).

mod cpu_routine;
pub mod error;
pub mod instance;
pub mod loaded;
mod run;

pub use error::RuntimeError;
pub use instance::Instance;
pub use loaded::LoadedModel;
