//! Writing a `.cvimodel`: the inverse of [`Model::from_bytes`] (spec runtime.md §1).
//!
//! A [`ModelSpec`] is the whole model as owned values: names, tensor maps with tagged addresses,
//! routines, the weight map and the sections' contents. [`ModelSpec::to_bytes`] lays it out as the
//! 48-byte header (magic, body size, version 1.4, MD5 of everything after the header, chip,
//! padding), the flatbuffer body and the payload of sections back to back, in the given order.
//! [`ModelSpec::from_model`] goes the other way, so a loaded model can be edited and re-written.
//!
//! The writer refuses what the reader ([`Model::from_bytes`]) would reject, so every file it
//! writes loads; the errors name the program, tensor, routine or section concerned.

mod body;
mod from_model;

use crate::cvimodel::{
    CpuAttr, DType, Model, QuantInfo, RoutineKind, SectionType, Version, HEADER_BYTES, MAGIC, MAX_DECOMPRESSED,
};
use cvsim_isa::{Chip, Region};
use md5::{Digest, Md5};

/// The header version every current file has; the body's `Version` table is separate.
pub const HEADER_VERSION: (u8, u8) = (1, 4);
/// What tpu-mlir writes in the last two header bytes.
pub const TPU_MLIR_PADDING: [u8; 2] = *b"Cv";
/// The runtime reads exactly four dims of every tensor shape and of every weight shape present.
const MAX_DIMS: usize = 4;

/// Where a tensor or weight lives: a memory region (= base register) and an offset inside it, or
/// nowhere (stored as −1, "no memory reserved").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaggedAddr {
    None,
    At { region: Region, offset: u64 },
}

impl TaggedAddr {
    pub const fn at(region: Region, offset: u64) -> TaggedAddr {
        TaggedAddr::At { region, offset }
    }

    /// The stored form: region in bits 40..42, offset in bits 0..39; −1 for [`TaggedAddr::None`].
    pub fn encode(self) -> Result<i64, String> {
        match self {
            TaggedAddr::None => Ok(-1),
            TaggedAddr::At { region, offset } => match region.tag(offset) {
                Some(raw) => Ok(raw as i64),
                None => Err(format!("offset {offset:#x} does not fit the 40-bit region offset")),
            },
        }
    }

    /// From a stored tagged address (what [`crate::cvimodel::split_tagged`] accepts).
    pub fn decode(raw: i64) -> Result<TaggedAddr, String> {
        Ok(match crate::cvimodel::split_tagged(raw)? {
            None => TaggedAddr::None,
            Some((region, offset)) => TaggedAddr::At { region, offset },
        })
    }
}

/// `cvi.model.PreProcessHints` (kept by the writer; the loaded [`Model`] does not expose it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreprocessHints {
    pub color: Option<String>,
    pub raw_scale: f32,
    pub mean: Option<String>,
    pub std: Option<String>,
    pub input_scale: f32,
    /// Legacy; absent in tpu-mlir output.
    pub data_format: Option<String>,
}

/// One entry of the weight map (informational: the command buffers address weights directly).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSpec {
    pub name: String,
    pub addr: TaggedAddr,
    pub size: u32,
    /// None, or exactly 4 dims (the runtime reads four, and maps that many bytes of the weight
    /// buffer); written only when non-empty.
    pub shape: Vec<i64>,
    pub dtype: DType,
}

/// One entry of a program's tensor map.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub id: u32,
    pub name: String,
    /// Never region 1 (the runtime rejects tensors in the weight region).
    pub addr: TaggedAddr,
    pub dtype: DType,
    /// Exactly 4 dims (the runtime reads four); −1 = dynamic.
    pub shape: Vec<i64>,
    pub stride: Option<Vec<i64>>,
    /// Written as a `QuantInfo` table when present; the runtime's qscale and zero point come from it.
    pub quant: Option<QuantInfo>,
    pub overwrote: bool,
    pub scale: Vec<f32>,
    pub mean: Vec<f32>,
    pub pixel_format: Option<String>,
    pub aligned: bool,
    /// Byte size (0 = let the runtime compute it).
    pub size: u32,
}

impl TensorSpec {
    /// A plain tensor: no quantisation info, size = element count × element size.
    pub fn new(name: impl Into<String>, addr: TaggedAddr, dtype: DType, shape: &[i64]) -> TensorSpec {
        let count: i64 = shape.iter().product();
        TensorSpec {
            id: 0,
            name: name.into(),
            addr,
            dtype,
            shape: shape.to_vec(),
            stride: None,
            quant: None,
            overwrote: false,
            scale: Vec::new(),
            mean: Vec::new(),
            pixel_format: None,
            aligned: false,
            size: u32::try_from(count.max(0) as u64 * dtype.size() as u64).unwrap_or(0),
        }
    }

    /// Attach a `QuantInfo` as tpu-mlir writes it: type NONE, the factor in `qscale`.
    pub fn with_qscale(mut self, qscale: f32, zero_point: f32) -> TensorSpec {
        self.quant =
            Some(QuantInfo { kind: crate::cvimodel::QuantType::None, max_value: 0.0, min_value: 0.0, zero_point, qscale });
        self
    }
}

/// One step of a program.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutineSpec {
    pub in_tensors: Vec<String>,
    pub out_tensors: Vec<String>,
    /// A TPU routine names its CMDBUF and/or DMABUF section; a CPU routine its function and
    /// attributes (encoded as a `cvi.cpu_op.Parameter` flatbuffer, one sub-table per attribute).
    pub kind: RoutineKind,
}

impl RoutineSpec {
    pub fn tpu_cmdbuf(section: impl Into<String>, ins: &[&str], outs: &[&str]) -> RoutineSpec {
        RoutineSpec {
            in_tensors: ins.iter().map(|s| s.to_string()).collect(),
            out_tensors: outs.iter().map(|s| s.to_string()).collect(),
            kind: RoutineKind::Tpu { cmdbuf_section: Some(section.into()), dmabuf_section: None },
        }
    }

    pub fn cpu(function: impl Into<String>, args: Vec<CpuAttr>, ins: &[&str], outs: &[&str]) -> RoutineSpec {
        RoutineSpec {
            in_tensors: ins.iter().map(|s| s.to_string()).collect(),
            out_tensors: outs.iter().map(|s| s.to_string()).collect(),
            kind: RoutineKind::Cpu { function: function.into(), args },
        }
    }
}

/// One program (a batch size / shape variant).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramSpec {
    pub batch_num: u32,
    /// Legacy single activation area; 0 in current files.
    pub neuron_size: u32,
    pub input_tensors: Vec<String>,
    pub output_tensors: Vec<String>,
    pub tensor_map: Vec<TensorSpec>,
    pub routines: Vec<RoutineSpec>,
    pub shared_gmem: u32,
    pub private_gmem: u32,
}

/// A section and its contents (uncompressed; the writer LZ4-compresses when `compress` is set).
/// Encrypted sections cannot be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionSpec {
    pub kind: SectionType,
    pub name: String,
    pub data: Vec<u8>,
    pub compress: bool,
}

impl SectionSpec {
    pub fn new(kind: SectionType, name: impl Into<String>, data: Vec<u8>) -> SectionSpec {
        SectionSpec { kind, name: name.into(), data, compress: false }
    }
}

/// A whole model to write.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Written into the header's chip field.
    pub chip: Chip,
    /// The body's `Version` table (the header always says 1.4).
    pub version: Version,
    pub name: String,
    pub build_time: Option<String>,
    pub target: Option<String>,
    pub mlir_version: Option<String>,
    pub preprocess: Option<PreprocessHints>,
    /// `PostProcessHints.done_softmax`; the table is written only when this is set.
    pub done_softmax: Option<bool>,
    pub weight_map: Vec<WeightSpec>,
    pub programs: Vec<ProgramSpec>,
    /// Stored back to back in this order; section offsets follow from it.
    pub sections: Vec<SectionSpec>,
    /// The last two header bytes.
    pub header_padding: [u8; 2],
}

impl ModelSpec {
    /// An empty model for `chip`: version 1.4.0, `target` = the chip name, padding `Cv`.
    pub fn new(chip: Chip, name: impl Into<String>) -> ModelSpec {
        ModelSpec {
            chip,
            version: Version { major: 1, minor: 4, sub_minor: 0 },
            name: name.into(),
            build_time: None,
            target: Some(chip.name().to_string()),
            mlir_version: None,
            preprocess: None,
            done_softmax: None,
            weight_map: Vec::new(),
            programs: Vec::new(),
            sections: Vec::new(),
            header_padding: TPU_MLIR_PADDING,
        }
    }

    /// The model's own description of a loaded file: every field the loader keeps, the
    /// preprocessing hints, and each section's (decompressed) contents.
    pub fn from_model(model: &Model) -> Result<ModelSpec, crate::ModelError> {
        from_model::spec_of(model)
    }

    /// Check the model, then lay out header, flatbuffer body and payload.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        self.check()?;
        let stored = self.stored_sections()?;
        let body = body::encode(self, &stored)?;
        let body_size = u32::try_from(body.len()).map_err(|_| WriteError::TooLarge { what: "flatbuffer body".into() })?;

        let mut file = Vec::with_capacity(HEADER_BYTES + body.len() + stored.iter().map(|s| s.bytes.len()).sum::<usize>());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&body_size.to_le_bytes());
        file.extend_from_slice(&[HEADER_VERSION.0, HEADER_VERSION.1]);
        file.extend_from_slice(&[0; 16]); // MD5, filled in below
        let mut chip = [0u8; 16];
        chip[..self.chip.name().len()].copy_from_slice(self.chip.name().as_bytes());
        file.extend_from_slice(&chip);
        file.extend_from_slice(&self.header_padding);
        debug_assert_eq!(file.len(), HEADER_BYTES);
        file.extend_from_slice(&body);
        for s in &stored {
            file.extend_from_slice(&s.bytes);
        }
        let md5: [u8; 16] = Md5::digest(&file[HEADER_BYTES..]).into();
        file[14..30].copy_from_slice(&md5);
        Ok(file)
    }

    /// The bytes a section takes in the payload (what the runtime allocates for a WEIGHT section).
    fn stored_len(&self, s: &SectionSpec) -> u64 {
        if s.compress {
            lz4_flex::block::compress(&s.data).len() as u64
        } else {
            s.data.len() as u64
        }
    }

    /// Sections as stored in the payload: compressed where asked, with their payload offsets.
    fn stored_sections(&self) -> Result<Vec<Stored>, WriteError> {
        let mut out = Vec::with_capacity(self.sections.len());
        let mut offset = 0u64;
        for s in &self.sections {
            let bytes = if s.compress { lz4_flex::block::compress(&s.data) } else { s.data.clone() };
            let too_large = || WriteError::TooLarge { what: format!("section {:?}", s.name) };
            let size = u32::try_from(bytes.len()).map_err(|_| too_large())?;
            let at = u32::try_from(offset).map_err(|_| too_large())?;
            offset += bytes.len() as u64;
            out.push(Stored { offset: at, size, decompressed_size: if s.compress { s.data.len() as u32 } else { 0 }, bytes });
        }
        Ok(out)
    }

    /// Everything the reader would reject, and what the format cannot hold.
    fn check(&self) -> Result<(), WriteError> {
        let v = self.version;
        // The runtime rejects a newer minor version unless the major version is older.
        if v.minor > HEADER_VERSION.1 && v.major >= HEADER_VERSION.0 {
            return Err(WriteError::Version { version: v });
        }
        for (i, s) in self.sections.iter().enumerate() {
            if self.sections[..i].iter().any(|o| o.name == s.name) {
                return Err(WriteError::Section { name: s.name.clone(), why: "a section of this name comes earlier".into() });
            }
            if s.compress && s.data.len() as u64 > MAX_DECOMPRESSED as u64 {
                return Err(WriteError::Section {
                    name: s.name.clone(),
                    why: format!(
                        "{} bytes is above the reader's {MAX_DECOMPRESSED}-byte limit for compressed sections",
                        s.data.len()
                    ),
                });
            }
        }
        let weight_buffer: u64 = self.sections.iter().filter(|s| s.kind == SectionType::Weight).map(|s| self.stored_len(s)).sum();
        for (index, w) in self.weight_map.iter().enumerate() {
            let bad = |why: String| WriteError::Weight { index, name: w.name.clone(), why };
            w.addr.encode().map_err(bad)?;
            if w.shape.is_empty() {
                continue;
            }
            if w.shape.len() != MAX_DIMS {
                return Err(bad(format!(
                    "shape has {} dims; the runtime reads exactly {MAX_DIMS} of a weight shape (write none or pad with 1s)",
                    w.shape.len()
                )));
            }
            let bytes = w.shape.iter().try_fold(w.dtype.size() as u64, |acc, &d| u64::try_from(d).ok()?.checked_mul(acc));
            let offset = match w.addr {
                TaggedAddr::At { offset, .. } => offset,
                TaggedAddr::None => 0,
            };
            match bytes {
                Some(b) if offset + b <= weight_buffer => {}
                _ => {
                    return Err(bad(format!(
                    "shape {:?} at offset {offset} does not fit the {weight_buffer}-byte weight buffer the runtime maps it into",
                    w.shape
                )))
                }
            }
        }
        for (pi, p) in self.programs.iter().enumerate() {
            self.check_program(pi, p)?;
        }
        Ok(())
    }

    fn check_program(&self, pi: usize, p: &ProgramSpec) -> Result<(), WriteError> {
        for (index, t) in p.tensor_map.iter().enumerate() {
            let bad = |why: String| WriteError::Tensor { program: pi, index, name: t.name.clone(), why };
            t.addr.encode().map_err(bad)?;
            if let TaggedAddr::At { region: Region::WEIGHT, .. } = t.addr {
                return Err(bad("lives in region 1 (weights); the runtime rejects tensors there".into()));
            }
            if t.shape.len() != MAX_DIMS {
                return Err(bad(format!("has {} dims; the runtime reads exactly {MAX_DIMS}", t.shape.len())));
            }
            match t.pixel_format.as_deref().filter(|f| !f.is_empty()) {
                None if t.aligned => return Err(bad("is aligned without a pixel format; the runtime asserts on that".into())),
                Some(f) if crate::cvimodel::PixelFormat::from_name(f).is_none() => {
                    return Err(bad(format!("pixel format {f:?} is not one the runtime knows")))
                }
                _ => {}
            }
        }
        let known = |n: &String| p.tensor_map.iter().any(|t| &t.name == n);
        for (what, names) in [("input", &p.input_tensors), ("output", &p.output_tensors)] {
            if let Some(n) = names.iter().find(|n| !known(n)) {
                return Err(WriteError::Program { program: pi, why: format!("{what} tensor {n:?} is not in the tensor map") });
            }
        }
        for (ri, r) in p.routines.iter().enumerate() {
            let bad = |why: String| WriteError::Routine { program: pi, routine: ri, why };
            if let Some(n) = r.in_tensors.iter().chain(&r.out_tensors).find(|n| !known(n)) {
                return Err(bad(format!("tensor {n:?} is not in the tensor map")));
            }
            if let RoutineKind::Tpu { cmdbuf_section, dmabuf_section } = &r.kind {
                if cmdbuf_section.is_none() && dmabuf_section.is_none() {
                    return Err(bad("TPU routine names neither a cmdbuf nor a dmabuf section".into()));
                }
                for (name, want) in [(cmdbuf_section, SectionType::Cmdbuf), (dmabuf_section, SectionType::Dmabuf)] {
                    let Some(name) = name else { continue };
                    match self.sections.iter().find(|s| &s.name == name) {
                        None => return Err(bad(format!("names section {name:?}, which does not exist"))),
                        Some(s) if s.kind != want => {
                            return Err(bad(format!("names section {name:?} as {want:?}, but it is {:?}", s.kind)))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// A section's bytes as they go into the payload.
struct Stored {
    offset: u32,
    size: u32,
    decompressed_size: u32,
    bytes: Vec<u8>,
}

/// Why a [`ModelSpec`] cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("model version {version} is newer than the supported 1.4; the runtime would reject it")]
    Version { version: Version },
    #[error("section {name:?}: {why}")]
    Section { name: String, why: String },
    #[error("weight #{index} {name:?}: {why}")]
    Weight { index: usize, name: String, why: String },
    #[error("program #{program} tensor #{index} {name:?}: {why}")]
    Tensor { program: usize, index: usize, name: String, why: String },
    #[error("program #{program}: {why}")]
    Program { program: usize, why: String },
    #[error("program #{program} routine #{routine}: {why}")]
    Routine { program: usize, routine: usize, why: String },
    #[error("{what} does not fit the format's 32-bit sizes and offsets")]
    TooLarge { what: String },
}

/// The attribute list of a CPU routine as a `cvi.cpu_op.Parameter` flatbuffer (what
/// `CpuRoutine.function_args` holds). Scalars equal to their default are left out, as flatbuffers
/// (and the vendor's files) do.
pub fn encode_cpu_args(args: &[CpuAttr]) -> Vec<u8> {
    body::cpu_args(args)
}
