//! Lowering a [`crate::lower::Network`] to TIU/TDMA descriptors: tiles that fit local memory,
//! weights in the layouts the TIU reads, device memory for activations, sync ids.

pub mod emitter;
pub mod local;
pub mod tdma;
pub mod tiu;
