//! The `.cvimodel` container (spec runtime.md §1): a header, a flatbuffer body and a payload of
//! sections, parsed into owned types.
//!
//! Loading checks everything the vendor runtime relies on and never panics or allocates more than
//! the file size on corrupt input; see [`ModelError`] for what is rejected.

mod cpu_args;
mod decode;
mod dtype;
mod error;
mod header;
mod program;
mod section;
mod tensor;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use cpu_args::{AttrValue, CpuAttr};
pub use dtype::{DType, QuantType};
pub use error::ModelError;
pub use header::{hex, Header, HEADER_BYTES, HEADER_V1_0_BYTES, MAGIC};
pub use program::{Program, Routine, RoutineKind};
pub use section::{Section, SectionType, MAX_DECOMPRESSED};
pub use tensor::{split_tagged, PixelFormat, QuantInfo, Tensor, Weight};

use cvsim_isa::{Chip, Command, CommandStream};
use serde::Serialize;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

/// The flatbuffer `Version` of the model (what `CVI_NN_GetModelVersion` reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub sub_minor: u8,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.sub_minor)
    }
}

/// A whole `.cvimodel`. Clones share the file bytes, as model clones share weights and cmdbufs in
/// the runtime.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub header: Header,
    pub version: Version,
    pub name: String,
    pub build_time: Option<String>,
    /// The chip the compiler targeted (e.g. `cv181x`), when recorded.
    pub target: Option<String>,
    pub mlir_version: Option<String>,
    /// `PostProcessHints.done_softmax`, when present.
    pub done_softmax: Option<bool>,
    pub weight_map: Vec<Weight>,
    pub programs: Vec<Program>,
    pub sections: Vec<Section>,
    /// A `Vec` rather than `[u8]` so that a file read into memory is kept without a second copy
    /// (`Arc<[u8]>::from(Vec)` copies, which doubled the peak memory of loading a model).
    #[serde(skip)]
    file: Arc<Vec<u8>>,
}

impl Model {
    /// Parse a whole file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        decode::parse(Arc::new(bytes.to_vec()))
    }

    pub fn from_vec(bytes: Vec<u8>) -> Result<Model, ModelError> {
        decode::parse(Arc::new(bytes))
    }

    pub fn from_file(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
        Model::from_vec(bytes)
    }

    pub fn chip(&self) -> Chip {
        self.header.chip
    }

    /// The whole file as loaded.
    pub fn file_bytes(&self) -> &[u8] {
        &self.file
    }

    /// Whether the header's MD5 equals the MD5 of everything after the header.
    pub fn md5_matches(&self) -> bool {
        self.header.md5_matches(&self.file)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's contents, decompressed if needed.
    pub fn section_bytes(&self, section: &Section) -> Result<Cow<'_, [u8]>, ModelError> {
        section.read(&self.file)
    }

    /// A section's contents as the bytes of a device region: the file's own bytes when stored
    /// uncompressed (so instances share one copy of the weights; a write copies), else the
    /// decompressed bytes.
    pub fn section_region_bytes(&self, section: &Section) -> Result<cvsim_sim::memory::RegionBytes, ModelError> {
        match section.read(&self.file)? {
            // `read` borrows exactly `stored`, the range from `file_offset` it has just checked.
            Cow::Borrowed(b) => {
                let start = section.file_offset as usize;
                cvsim_sim::memory::RegionBytes::shared(self.file.clone(), start..start + b.len()).ok_or_else(|| {
                    ModelError::SectionNotInBuffer {
                        name: section.name.clone(),
                        start: section.file_offset,
                        end: section.file_offset + b.len() as u64,
                        len: self.file.len(),
                    }
                })
            }
            Cow::Owned(v) => Ok(v.into()),
        }
    }

    /// The contents of the section with this name.
    pub fn section_data(&self, name: &str) -> Result<Cow<'_, [u8]>, ModelError> {
        let s = self.section(name).ok_or_else(|| ModelError::NoSuchSection { name: name.to_owned() })?;
        self.section_bytes(s)
    }

    pub fn program(&self, index: usize) -> Result<&Program, ModelError> {
        self.programs.get(index).ok_or(ModelError::NoSuchProgram { index, count: self.programs.len() })
    }

    /// The section a TPU routine runs (its CMDBUF, else its DMABUF); `None` for a CPU routine.
    /// Routine section names were checked at load time.
    pub fn routine_section(&self, routine: &Routine) -> Option<&Section> {
        routine.tpu_section().and_then(|n| self.section(n))
    }

    /// Decode a CMDBUF section into commands; the records must carry this model's chip magic.
    /// Errors name the section's file offset (stream offsets are relative to the section).
    pub fn decode_cmdbuf(&self, section: &Section) -> Result<Vec<Command>, ModelError> {
        let bytes = self.section_bytes(section)?;
        cvsim_isa::parse_cmdbuf(&bytes, Some(self.chip())).map(|(_, cmds)| cmds).map_err(|source| ModelError::Stream {
            name: section.name.clone(),
            file_offset: section.file_offset,
            source,
        })
    }

    /// A CMDBUF section as an encoded stream, every record header checked as
    /// [`Model::decode_cmdbuf`] checks it: the file's own bytes when stored uncompressed, else the
    /// decompressed bytes, held once.
    pub fn cmdbuf_stream(&self, section: &Section) -> Result<CommandStream, ModelError> {
        let chip = Some(self.chip());
        let stream = match section.read(&self.file)? {
            // `read` borrows exactly `stored`, the range from `file_offset` it has just checked.
            Cow::Borrowed(b) => {
                let start = section.file_offset as usize;
                CommandStream::parse(self.file.clone(), start..start + b.len(), chip)
            }
            Cow::Owned(v) => CommandStream::from_vec(v, chip),
        };
        stream.map_err(|source| ModelError::Stream { name: section.name.clone(), file_offset: section.file_offset, source })
    }
}
