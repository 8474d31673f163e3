//! Device-memory accounting: what the vendor runtime allocates on the board for a model
//! (spec runtime.md §2.5), and `cvimodel_tool`'s cruder estimate.
//!
//! A [`MemoryPlan`] covers one model and one selected program. Its parts are split by lifetime so
//! that several models (and clones) can be combined: `per_model` (weight + command buffers, shared
//! by clones), `per_instance` (private gmem + IO buffers) and the shared-gmem request, which goes
//! through the process-wide [`SharedPool`]. [`combine`] does that.

mod pool;
#[cfg(test)]
mod tests;
mod vpss;

pub use pool::SharedPool;
pub use vpss::{vpss_align, vpss_frame_size, VpssAlign};

use crate::cvimodel::{Model, ModelError, Program, SectionType, Tensor};
use cvsim_isa::dmabuf::{dmabuf_size_of, pmubuf_size_of};
use cvsim_isa::{Chip, CommandStream, Region};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

pub const PAGE: u64 = 4096;

fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Runtime settings that change the allocations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryOptions {
    /// `OPTION_PROGRAM_INDEX`.
    pub program: usize,
    /// `TPU_ENABLE_PMU` > 0 in a runtime built with PMU support: a PMU buffer follows each dmabuf.
    pub pmu: bool,
    /// `TPU_ENABLE_PROTECT`: the weight buffer and cmdbuf-built dmabufs are page-rounded.
    pub protect: bool,
    /// Largest size given to `CVI_NN_Global_SetSharedMemorySize` (0 = never called).
    pub shared_preset: u64,
}

/// The device buffer behind one CMDBUF or DMABUF section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CmdbufMem {
    pub section: String,
    pub kind: SectionType,
    /// Bytes of the section's contents in the file (decompressed).
    pub section_size: u64,
    /// The dmabuf: built from the cmdbuf, or the DMABUF section itself.
    pub dmabuf: u64,
    /// PMU buffer appended when the PMU is on.
    pub pmubuf: u64,
    /// The allocation: dmabuf + pmubuf (page-rounded under protect for a built dmabuf).
    pub total: u64,
    pub tiu_descriptors: u64,
    pub tdma_descriptors: u64,
}

/// How an IO buffer's size was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoSizeRule {
    /// count × element size.
    Elements,
    /// An aligned input whose `Tensor.size` is set.
    ModelSize,
    /// An aligned input sized by the VPSS frame rules.
    VpssFrame,
}

/// One IO buffer (`CVI_ALLOC_NEURON`): the first tensor of the tensor map found in the region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IoMem {
    pub region: Region,
    pub tensor: String,
    pub size: u64,
    pub rule: IoSizeRule,
}

/// Device memory of one model with one selected program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryPlan {
    pub model: String,
    pub chip: Chip,
    pub options: MemoryOptions,
    /// The WEIGHT section (`CVI_ALLOC_WEIGHT`), allocated once per model.
    pub weight: u64,
    /// One per CMDBUF / DMABUF section of the file (all are loaded at registration).
    pub cmdbufs: Vec<CmdbufMem>,
    pub cmdbuf_total: u64,
    /// `CVI_ALLOC_PROGRAM`, per instance (`neuron_size` for a legacy program).
    pub private_gmem: u64,
    /// The `CVI_ALLOC_SHARED` request: largest `shared_gmem` over all programs (or the preset),
    /// page-rounded; 0 when the selected program needs none.
    pub shared_gmem: u64,
    pub io: Vec<IoMem>,
    pub io_total: u64,
    /// weight + cmdbufs: allocated by `RegisterModel`, shared by clones.
    pub per_model: u64,
    /// private gmem + IO: allocated by each instance's `GetInputOutputTensors`.
    pub per_instance: u64,
    /// per_model + per_instance + shared gmem, for this model alone in the process.
    pub total: u64,
    /// `cvimodel_tool -a dump`'s "CviModel Need ION Memory Size", in bytes.
    pub vendor_estimate: u64,
}

impl MemoryPlan {
    pub fn new(model: &Model, options: MemoryOptions) -> Result<MemoryPlan, ModelError> {
        MemoryPlan::with_streams(model, options, &HashMap::new())
    }

    /// As [`MemoryPlan::new`], using the command streams already indexed (by section name) where
    /// given, as a loaded model holds them.
    pub fn with_streams(
        model: &Model,
        options: MemoryOptions,
        streams: &HashMap<String, Arc<CommandStream>>,
    ) -> Result<MemoryPlan, ModelError> {
        let program = model.program(options.program)?;
        let page = |v: u64| if options.protect { align(v, PAGE) } else { v };

        let weight = page(model.sections.iter().filter(|s| s.kind == SectionType::Weight).map(|s| s.content_size() as u64).sum());
        let cmdbufs = model
            .sections
            .iter()
            .filter(|s| matches!(s.kind, SectionType::Cmdbuf | SectionType::Dmabuf))
            .map(|s| cmdbuf_mem(model, s, options, streams.get(&s.name).map(|c| c.as_ref())))
            .collect::<Result<Vec<_>, _>>()?;
        let cmdbuf_total = cmdbufs.iter().map(|c| c.total).sum();

        let (private_gmem, shared_gmem) = if program.is_legacy_neuron() {
            (program.neuron_size as u64, 0)
        } else if program.shared_gmem == 0 {
            (program.private_gmem as u64, 0)
        } else {
            let largest = model.programs.iter().map(|p| p.shared_gmem as u64).max().unwrap_or(0);
            (program.private_gmem as u64, align(largest, PAGE).max(align(options.shared_preset, PAGE)))
        };

        let io = io_buffers(model.chip(), options.program, program)?;
        let io_total = io.iter().map(|m| m.size).sum();
        let per_model = weight + cmdbuf_total;
        let per_instance = private_gmem + io_total;
        Ok(MemoryPlan {
            model: model.name.clone(),
            chip: model.chip(),
            options,
            weight,
            cmdbufs,
            cmdbuf_total,
            private_gmem,
            shared_gmem,
            io,
            io_total,
            per_model,
            per_instance,
            total: per_model + per_instance + shared_gmem,
            vendor_estimate: vendor_estimate(model),
        })
    }
}

fn cmdbuf_mem(
    model: &Model,
    s: &crate::cvimodel::Section,
    options: MemoryOptions,
    stream: Option<&CommandStream>,
) -> Result<CmdbufMem, ModelError> {
    let stream_err = |source| ModelError::Stream { name: s.name.clone(), file_offset: s.file_offset, source };
    let section_size = s.content_size() as u64;
    if s.kind == SectionType::Cmdbuf {
        let own;
        let segs = match stream {
            Some(c) => c.segments(),
            None => {
                own = model.cmdbuf_stream(s)?;
                own.segments()
            }
        };
        let tiu = segs.iter().map(|g| g.tiu as u64).sum();
        let tdma = segs.iter().map(|g| g.tdma as u64).sum();
        let dmabuf = dmabuf_size_of(segs) as u64;
        let pmubuf = if options.pmu { pmubuf_size_of(segs) as u64 } else { 0 };
        let total = if options.protect { align(dmabuf + pmubuf, PAGE) } else { dmabuf + pmubuf };
        Ok(CmdbufMem {
            section: s.name.clone(),
            kind: s.kind,
            section_size,
            dmabuf,
            pmubuf,
            total,
            tiu_descriptors: tiu,
            tdma_descriptors: tdma,
        })
    } else {
        // A DMABUF section is used as is; with the PMU on the runtime copies it into a buffer
        // grown by a PMU area sized from the header's descriptor counts.
        let bytes = model.section_bytes(s)?;
        let hdr = cvsim_isa::dmabuf::parse_dmabuf(&bytes, model.chip()).map_err(stream_err)?.header;
        let (tiu, tdma) = (hdr.bd_desc_count as u64, hdr.tdma_desc_count as u64);
        let pmubuf = if options.pmu { align(16 * (tiu + tdma) + (1 << 20), PAGE) } else { 0 };
        Ok(CmdbufMem {
            section: s.name.clone(),
            kind: s.kind,
            section_size,
            dmabuf: section_size,
            pmubuf,
            total: section_size + pmubuf,
            tiu_descriptors: tiu,
            tdma_descriptors: tdma,
        })
    }
}

/// The size the runtime gives a tensor's memory (`CVI_TENSOR.mem_size`): count × element size,
/// or for an aligned frame `Tensor.size` if set, else its VPSS frame size.
pub fn tensor_mem_size(chip: Chip, t: &Tensor) -> Option<(u64, IoSizeRule)> {
    if t.aligned {
        if t.size != 0 {
            return Some((t.size as u64, IoSizeRule::ModelSize));
        }
        if let Some(fmt) = t.pixel_format_kind() {
            return vpss_frame_size(chip, fmt, t.shape).map(|s| (s, IoSizeRule::VpssFrame));
        }
    }
    t.byte_size().map(|s| (s, IoSizeRule::Elements))
}

/// The IO buffers of regions 3..7, walking the tensor map in order as the runtime does.
fn io_buffers(chip: Chip, pi: usize, program: &Program) -> Result<Vec<IoMem>, ModelError> {
    let mut out: Vec<IoMem> = Vec::new();
    for (index, t) in program.tensor_map.iter().enumerate() {
        let Some(region) = t.region.filter(|r| r.is_io()) else { continue };
        if out.iter().any(|m| m.region == region) {
            continue; // a later tensor in the region is a view into the first one's buffer
        }
        let bad = |why: String| ModelError::BadTensor { program: pi, index, name: t.name.clone(), at: t.table_at, why };
        if t.region_offset != 0 {
            return Err(bad(format!(
                "first tensor of IO region {region} is at offset {:#x}; the runtime requires 0",
                t.region_offset
            )));
        }
        let (size, rule) = tensor_mem_size(chip, t).ok_or_else(|| bad("has a dynamic (negative) dim, so no size".into()))?;
        out.push(IoMem { region, tensor: t.name.clone(), size, rule });
    }
    Ok(out)
}

/// `cvimodel_tool -a dump`'s "CviModel Need ION Memory Size" in bytes (spec §2.5 item 2):
/// stored section sizes + Σ programs (neuron_size + private_gmem) + the largest shared_gmem +
/// Σ over all programs of every tensor in regions ≥ 3. No dmabuf expansion, PMU, alignment, VPSS
/// sizes or de-duplication. A dynamic dim counts the tensor as 0 bytes.
pub fn vendor_estimate(model: &Model) -> u64 {
    let sections: u64 = model.sections.iter().map(|s| s.size as u64).sum();
    let programs: u64 = model.programs.iter().map(|p| p.neuron_size as u64 + p.private_gmem as u64).sum();
    let shared = model.programs.iter().map(|p| p.shared_gmem as u64).max().unwrap_or(0);
    let io: u64 = model
        .programs
        .iter()
        .flat_map(|p| &p.tensor_map)
        .filter(|t| t.region.is_some_and(Region::is_io))
        .map(|t| t.byte_size().unwrap_or(0))
        .sum();
    sections + programs + shared + io
}

/// `X.XX` as the tool prints the estimate (bytes / 2²⁰, two decimals).
pub fn format_mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1u64 << 20) as f64)
}

/// Several models (each with a number of instances: the original plus clones) in one process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CombinedMemory {
    /// Σ per_model: weights and command buffers, once per registered model.
    pub per_model: u64,
    /// Σ instances × per_instance.
    pub per_instance: u64,
    /// The shared pool after every instance made its request, in the given order.
    pub shared: SharedPool,
    pub total: u64,
}

/// Combine plans in registration order; `instances` ≥ 1 counts the model and its clones.
pub fn combine(items: &[(&MemoryPlan, u32)]) -> CombinedMemory {
    let mut shared = SharedPool::default();
    let (mut per_model, mut per_instance) = (0, 0);
    for &(plan, instances) in items {
        per_model += plan.per_model;
        per_instance += plan.per_instance * instances as u64;
        shared.acquire(plan.shared_gmem);
    }
    let total = per_model + per_instance + shared.total();
    CombinedMemory { per_model, per_instance, shared, total }
}
