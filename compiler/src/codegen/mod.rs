//! Lowering a [`crate::lower::Network`] to TIU/TDMA descriptors: tiles that fit local memory,
//! weights in the layouts the TIU reads, device memory for activations, sync ids.
//!
//! Every TPU layer runs on its own: it loads its inputs from device memory, computes tile by
//! tile in local memory and stores its output (no fusion across layers yet). Consecutive TPU
//! layers form one TPU routine (one cmdbuf section); `Quantize` and `Dequantize` are CPU
//! routines between them, as tpu-mlir emits them.

pub mod conv;
mod eltwise;
pub mod emitter;
pub mod local;
pub mod memory;
mod pool;
pub mod tdma;
pub mod tiu;
pub mod weights;

use crate::lower::{Layer, Network, NetworkError, TensorRef};
use cvsim_isa::{Chip, TdmaDesc, TiuDesc};
use emitter::{Emitter, Step};
use memory::{MemoryError, MemoryPlan};
use tdma::Global;
use weights::Weights;

/// Why a network cannot be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("layer {index} ({kind}): {what}")]
    Layer { index: usize, kind: &'static str, what: String },
}

/// One routine of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routine {
    /// A `Quantize` or `Dequantize` layer, run by the CPU.
    Cpu { layer: usize },
    /// Consecutive TPU layers and their descriptors.
    Tpu { layers: Vec<usize>, steps: Vec<Step> },
}

/// The lowered network: what [`crate::package`] writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    pub memory: MemoryPlan,
    pub weights: Weights,
    pub routines: Vec<Routine>,
}

/// What a layer's lowering works with.
pub struct LayerCx<'a> {
    pub chip: Chip,
    pub lanes: u32,
    /// Local memory bytes per lane.
    pub lmem: u32,
    pub index: usize,
    pub kind: &'static str,
    pub net: &'a Network,
    pub mem: &'a MemoryPlan,
    pub e: &'a mut Emitter,
    pub w: &'a mut Weights,
}

impl LayerCx<'_> {
    fn id(&self) -> u32 {
        ((self.index + 1) & 0xFFFF) as u32
    }

    pub fn tiu(&mut self, d: TiuDesc) {
        let id = self.id();
        self.e.tiu(id, d);
    }

    pub fn tdma(&mut self, d: TdmaDesc) {
        let id = self.id();
        self.e.tdma(id, d);
    }

    pub fn shape(&self, t: TensorRef) -> [u32; 4] {
        self.net.tensors[t].shape.map(|d| d as u32)
    }

    pub fn tensor_name(&self, t: TensorRef) -> String {
        self.net.tensors[t].name.clone()
    }

    /// The tensor in device memory, dense NCHW int8.
    pub fn global(&self, t: TensorRef) -> Global {
        let p = self.mem.places[t].expect("every tensor a layer touches is placed");
        let [_, c, h, w] = self.shape(t);
        Global::dense(p.region, p.offset, c, h, w)
    }

    pub fn error(&self, what: String) -> CompileError {
        CompileError::Layer { index: self.index, kind: self.kind, what }
    }
}

fn lower_layer(cx: &mut LayerCx, l: &Layer) -> Result<(), CompileError> {
    match l {
        Layer::Quantize { .. } | Layer::Dequantize { .. } | Layer::Reshape { .. } => Ok(()),
        Layer::Conv(c) => conv::conv(cx, c),
        Layer::FullyConnected(f) => conv::fully_connected(cx, f),
        Layer::Lut { input, output, table } => eltwise::lut(cx, *input, *output, table),
        Layer::Add { a, b, output, ma, mb, rshift, relu } => eltwise::add(cx, *a, *b, *output, *ma, *mb, *rshift, *relu),
        Layer::Mul { a, b, output, multiplier, shift } => eltwise::mul(cx, *a, *b, *output, *multiplier, *shift),
        Layer::Pool(p) => pool::pool(cx, p),
        Layer::Concat { inputs, output, rescale } => eltwise::concat(cx, inputs, *output, rescale),
    }
}

/// Check and lower the network.
pub fn compile(net: &Network) -> Result<Compiled, CompileError> {
    net.check()?;
    let memory = memory::plan(net)?;
    let mut weights = Weights::default();
    let mut routines = Vec::new();
    let params = net.chip.params();
    let mut tpu: Option<(Vec<usize>, Emitter)> = None;
    for (index, l) in net.layers.iter().enumerate() {
        if matches!(l, Layer::Quantize { .. } | Layer::Dequantize { .. }) {
            if let Some((layers, e)) = tpu.take() {
                routines.push(Routine::Tpu { layers, steps: e.steps });
            }
            routines.push(Routine::Cpu { layer: index });
            continue;
        }
        let (layers, e) = tpu.get_or_insert_with(|| (Vec::new(), Emitter::new(net.chip)));
        layers.push(index);
        let mut cx = LayerCx {
            chip: net.chip,
            lanes: params.lanes,
            lmem: params.lmem_per_lane,
            index,
            kind: l.kind(),
            net,
            mem: &memory,
            e,
            w: &mut weights,
        };
        lower_layer(&mut cx, l)?;
    }
    if let Some((layers, e)) = tpu.take() {
        routines.push(Routine::Tpu { layers, steps: e.steps });
    }
    // A routine of reshapes only has nothing to run.
    routines.retain(|r| !matches!(r, Routine::Tpu { steps, .. } if steps.is_empty()));
    Ok(Compiled { memory, weights, routines })
}
