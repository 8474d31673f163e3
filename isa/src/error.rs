//! Errors of the command-stream codecs, each with the byte offset it concerns.

/// A defect in a cmdbuf or dmabuf. `offset` is the byte offset within the buffer given to the
/// decoder (the caller adds the section's file offset where it knows it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("offset {offset}: command buffer is empty")]
    Empty { offset: usize },
    #[error("offset {offset}: truncated {what}: need {need} bytes, {have} left")]
    Truncated { offset: usize, what: &'static str, need: usize, have: usize },
    #[error("offset {offset}: record magic {found:#04x} is not a CV18xx cmdbuf magic (0xA5..0xA8)")]
    BadMagic { offset: usize, found: u8 },
    #[error(
        "offset {offset}: record magic {found:#04x} ({found_chip}) differs from the stream's {expected:#04x} ({chip})"
    )]
    MixedMagic { offset: usize, found: u8, found_chip: &'static str, expected: u8, chip: &'static str },
    #[error("offset {offset}: unknown engine id {engine} in record header (0 = TIU, 1 = CPU, 2 = TDMA)")]
    UnknownEngine { offset: usize, engine: u8 },
    #[error("offset {offset}: {engine} record has length {len}, expected {expected}")]
    BadLength { offset: usize, engine: &'static str, len: usize, expected: usize },
    #[error("offset {offset}: record payload of {len} bytes runs past the end ({have} bytes left)")]
    PastEnd { offset: usize, len: usize, have: usize },
    #[error("offset {offset}: dmabuf magic {found:#06x}, expected 0xb5b5")]
    BadDmabufMagic { offset: usize, found: u16 },
    #[error("offset {offset}: dmabuf secondary magic {found:#06x} does not match chip {chip} ({expected:#06x})")]
    DmabufChip { offset: usize, found: u16, chip: &'static str, expected: u16 },
    #[error("offset {offset}: dmabuf {what} ({value}) is inconsistent: {why}")]
    DmabufField { offset: usize, what: &'static str, value: u64, why: &'static str },
    #[error("descriptor {index}: {msg}")]
    Sync { index: usize, msg: String },
}
