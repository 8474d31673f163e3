//! Execution errors: each names the descriptor, and the address, region or field concerned.

use cvsim_isa::Engine;

/// What went wrong while executing one descriptor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecErrorKind {
    #[error(
        "local memory access out of range: lane {lane}, bytes {start:#x}..{end:#x} (local address {:#x}) of a {limit:#x}-byte lane ({what})",
        lmem_addr(.lane, .start)
    )]
    LmemOutOfRange { what: &'static str, lane: u32, start: u64, end: u64, limit: u32 },
    /// `region` says where the access fell: past the end of the region it starts in, or outside
    /// every region (with the nearest one).
    #[error("global memory access {start:#x}..{end:#x} (base register {sel} + {offset:#x}) {region}")]
    GmemOutOfRange { sel: u32, offset: u64, start: u64, end: u64, region: String },
    #[error("unsupported {what}")]
    Unsupported { what: String },
    #[error("illegal descriptor: field `{field}` = {value}: {why}")]
    Illegal { field: &'static str, value: i64, why: &'static str },
    #[error("{engine} descriptor waits for {other} id {wait}, which file order has not run yet (last completed {other} id: {done})")]
    WaitNotSatisfied { engine: &'static str, other: &'static str, wait: u32, done: u32 },
    #[error("decompression failed: {0}")]
    Vlc(String),
}

/// The `lane << 15 | offset` form of a local address, as descriptors write it.
fn lmem_addr(lane: &u32, offset: &u64) -> u64 {
    ((*lane as u64) << cvsim_isa::chip::LMEM_SHIFT) | offset
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("descriptor {index} ({engine}{op}): {kind}")]
pub struct ExecError {
    /// Index of the descriptor in its command stream.
    pub index: usize,
    pub engine: &'static str,
    /// ` op-name`, or empty.
    pub op: String,
    pub kind: ExecErrorKind,
}

impl ExecError {
    pub fn new(index: usize, engine: Engine, op: impl Into<String>, kind: ExecErrorKind) -> ExecError {
        let op = op.into();
        ExecError { index, engine: engine.name(), op: if op.is_empty() { op } else { format!(" {op}") }, kind }
    }
}

pub type ExecResult<T = ()> = Result<T, ExecErrorKind>;
