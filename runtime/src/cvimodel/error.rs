//! Why a `.cvimodel` was rejected. Every variant says where in the file the problem is, so a user
//! can look at the bytes (`xxd -s OFFSET`).

use cvsim_isa::StreamError;
use std::path::PathBuf;

/// A defect found while loading a `.cvimodel` or reading one of its sections.
///
/// Offsets named `at` are file offsets of the flatbuffer table concerned (the table's own start,
/// i.e. header length + position in the body).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("file offset 0: file is {len} bytes, shorter than the {need}-byte cvimodel header")]
    TooShort { len: usize, need: usize },
    #[error("file offset 0: magic {found:?} is not \"CviModel\"")]
    BadMagic { found: String },
    #[error("file offset 30: unknown chip {found:?} in the header (expected cv180x, cv181x, cv182x or cv183x)")]
    UnknownChip { found: String },
    #[error("file offset 8: body_size {body_size} puts the flatbuffer body at file offsets {start}..{end}, past the end of the {file_len}-byte file")]
    BodyPastEnd { body_size: u32, start: usize, end: u64, file_len: usize },
    #[error(
        "flatbuffer body at file offsets {start}..{end} fails verification (positions below are relative to the body): {source}"
    )]
    Flatbuffer {
        start: usize,
        end: usize,
        #[source]
        source: flatbuffers::InvalidFlatbuffer,
    },
    #[error("model version {major}.{minor}.{sub_minor} is newer than the supported 1.4 (the runtime rejects minor > 4 unless major < 1)")]
    UnsupportedVersion { major: u8, minor: u8, sub_minor: u8 },
    #[error("file offset {at}: {what} has unknown value {value}")]
    UnknownEnum { at: usize, what: &'static str, value: u32 },
    #[error("section #{index} {name:?} (table at file offset {at}): stored bytes at file offsets {start}..{end} lie outside the {file_len}-byte file")]
    SectionOutside { index: usize, name: String, at: usize, start: u64, end: u64, file_len: usize },
    #[error("section {name:?}: stored bytes {start}..{end} are not within the {len}-byte buffer given")]
    SectionNotInBuffer { name: String, start: u64, end: u64, len: usize },
    #[error(
        "section {name:?} (stored at file offset {file_offset}, {size} bytes): declared decompressed size {declared} is {why}"
    )]
    SectionTooLarge { name: String, file_offset: u64, size: u32, declared: u32, why: &'static str },
    #[error(
        "section {name:?} at file offset {file_offset}: LZ4 block does not decompress to its declared {declared} bytes: {why}"
    )]
    Decompress { name: String, file_offset: u64, declared: u32, why: String },
    #[error("section {name:?} at file offset {file_offset} is encrypted; encrypted sections are not supported")]
    Encrypted { name: String, file_offset: u64 },
    #[error("no section named {name:?}")]
    NoSuchSection { name: String },
    #[error("program #{program} routine #{routine} (table at file offset {at}): {why}")]
    BadRoutine { program: usize, routine: usize, at: usize, why: String },
    #[error("program #{program} routine #{routine} (table at file offset {at}): CPU function arguments: {why}")]
    CpuArgs { program: usize, routine: usize, at: usize, why: String },
    #[error("program #{program} tensor #{index} {name:?} (table at file offset {at}): {why}")]
    BadTensor { program: usize, index: usize, name: String, at: usize, why: String },
    #[error("weight #{index} {name:?} (table at file offset {at}): {why}")]
    BadWeight { index: usize, name: String, at: usize, why: String },
    #[error("program #{program} (table at file offset {at}): {why}")]
    BadProgram { program: usize, at: usize, why: String },
    #[error("section {name:?} at file offset {file_offset}: {source}")]
    Stream {
        name: String,
        file_offset: u64,
        #[source]
        source: StreamError,
    },
    #[error("no program #{index} (the model has {count})")]
    NoSuchProgram { index: usize, count: usize },
}
