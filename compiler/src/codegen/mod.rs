//! Lowering a [`crate::lower::Network`] to TIU/TDMA descriptors: tiles that fit local memory,
//! weights in the layouts the TIU reads, device memory for activations, sync ids.
//!
//! A TPU layer runs on its own: it loads its inputs from device memory, computes tile by tile in
//! local memory and stores its output; a convolution may apply the table of the `Lut` after it
//! before the store, and chains of convolutions run as layer groups ([`group`]) that keep their
//! intermediate tensors in local memory. Consecutive TPU
//! layers form one TPU routine (one cmdbuf section); `Quantize` and `Dequantize` are CPU
//! routines between them, as tpu-mlir emits them.

pub mod conv;
mod eltwise;
mod eltwise_bf16;
pub mod emitter;
pub mod group;
pub mod local;
pub mod memory;
mod movement;
mod pool;
pub mod softmax;
mod table_bf16;
pub mod tdma;
pub mod tiu;
pub mod weights;

use crate::lower::{Layer, Network, NetworkError, PoolKind, TensorRef};
use cvsim_isa::cmdbuf::Command;
use cvsim_isa::{Chip, TdmaDesc, TiuDesc};
use cvsim_sim::timing::TimingConfig;
use emitter::{Emitter, Span, Step};
use local::Local;
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

    /// A TIU descriptor reading and writing these local tensors.
    pub fn tiu(&mut self, d: TiuDesc, reads: &[&Local], writes: &[&Local]) {
        let id = self.id();
        let (r, w): (Vec<Span>, Vec<Span>) =
            (reads.iter().map(|l| l.span()).collect(), writes.iter().map(|l| l.span()).collect());
        self.e.tiu_deps(id, d, &r, &w);
    }

    /// A TDMA load into `dst`.
    pub fn load(&mut self, d: TdmaDesc, dst: &Local) {
        let id = self.id();
        self.e.tdma_deps(id, d, &[], &[dst.span()]);
    }

    /// A TDMA store from `src`.
    pub fn store(&mut self, d: TdmaDesc, src: &Local) {
        let id = self.id();
        self.e.tdma_deps(id, d, &[src.span()], &[]);
    }

    /// A TDMA local-to-local move.
    pub fn l2l(&mut self, d: TdmaDesc, src: &Local, dst: &Local) {
        let id = self.id();
        self.e.tdma_deps(id, d, &[src.span()], &[dst.span()]);
    }

    pub fn shape(&self, t: TensorRef) -> [u32; 4] {
        self.net.tensors[t].shape.map(|d| d as u32)
    }

    pub fn tensor_name(&self, t: TensorRef) -> String {
        self.net.tensors[t].name.clone()
    }

    /// The tensor in device memory, NCHW, dense but for the channel step of a concat input
    /// stored into a shuffle's output; strides in bytes.
    pub fn global(&self, t: TensorRef) -> Global {
        let p = self.mem.places[t].expect("every tensor a layer touches is placed");
        let [_, c, h, w] = self.shape(t);
        let esz = self.net.tensors[t].dtype.size() as u32;
        let step = self.mem.channel_steps[t];
        let g = Global::dense(p.region, p.offset, c * step, h, w * esz);
        Global { h_str: w * esz, c_str: step * h * w * esz, ..g }
    }

    pub fn error(&self, what: String) -> CompileError {
        CompileError::Layer { index: self.index, kind: self.kind, what }
    }
}

/// `partner`: the layer lowered together with `l` (see [`fusions`]).
fn lower_layer(cx: &mut LayerCx, l: &Layer, partner: Option<&Layer>) -> Result<(), CompileError> {
    let act = match partner {
        Some(Layer::Lut { output, table, .. }) => Some((&**table, *output)),
        _ => None,
    };
    let pool = match partner {
        Some(Layer::Pool(p)) => Some(p),
        _ => None,
    };
    match l {
        Layer::Quantize { .. } | Layer::Dequantize { .. } | Layer::Reshape { .. } => Ok(()),
        Layer::Conv(c) => conv::conv(cx, c, act, pool),
        Layer::FullyConnected(f) => conv::fully_connected(cx, f, act),
        Layer::Lut { input, output, table } => eltwise::lut(cx, *input, *output, table),
        Layer::Add { a, b, output, ma, mb, rshift, relu } => {
            eltwise::add(cx, *a, *b, *output, *ma, *mb, *rshift, *relu)
        }
        Layer::Mul { a, b, output, multiplier, shift } => eltwise::mul(cx, *a, *b, *output, *multiplier, *shift),
        Layer::Pool(p) => pool::pool(cx, p),
        Layer::Concat { inputs, output, rescale } => {
            // Inputs already stored in place by their producers move nothing.
            let aliased = memory::concat_aliases(cx.net);
            let in_place: Vec<bool> =
                inputs.iter().map(|t| aliased.iter().any(|a| a.0 == *t && a.1 == cx.index)).collect();
            // Each input's destination: its channel range of the output, or its strided
            // channels of the shuffle's output when the shuffle is lowered with the concat.
            let mut dests = Vec::with_capacity(inputs.len());
            let mut c0 = 0;
            for (k, &t) in inputs.iter().enumerate() {
                dests.push(match partner {
                    Some(Layer::ChannelShuffle { output: s, groups, .. }) => {
                        let (first, step) = memory::shuffled_place(cx.net, cx.index, k, *groups as u32);
                        (*s, first, step)
                    }
                    _ => (*output, c0, 1),
                });
                c0 += cx.shape(t)[1];
            }
            if cx.net.tensors[*output].dtype == crate::lower::DType::Bf16 {
                for ((&t, &done), &(dst, first, step)) in inputs.iter().zip(&in_place).zip(&dests) {
                    if !done {
                        movement::copy_channels(cx, t, 0, cx.shape(t)[1], dst, first, step)?;
                    }
                }
                Ok(())
            } else {
                eltwise::concat(cx, inputs, &dests, rescale, &in_place)
            }
        }
        Layer::Slice { input, output, c0 } => {
            let c = cx.shape(*output)[1];
            movement::copy_channels(cx, *input, *c0 as u32, c, *output, 0, 1)
        }
        Layer::ChannelShuffle { input, output, groups } => {
            let c = cx.shape(*input)[1];
            let (g, per) = (*groups as u32, c / *groups as u32);
            for i in 0..g {
                movement::copy_channels(cx, *input, i * per, per, *output, i, g)?;
            }
            Ok(())
        }
        Layer::Softmax { input, output, .. } if cx.net.tensors[*input].dtype == crate::lower::DType::Bf16 => {
            softmax::softmax_bf16(cx, *input, *output)
        }
        Layer::Softmax { input, output, scale } => softmax::softmax(cx, *input, *output, *scale),
        Layer::ConvBf16(c) => conv::conv_bf16(cx, c, pool),
        Layer::FullyConnectedBf16 { input, output, weight, bias, relu } => {
            conv::fully_connected_bf16(cx, *input, *output, weight, bias, *relu)
        }
        Layer::AddBf16 { a, b, output, relu } => eltwise_bf16::add(cx, *a, *b, *output, *relu),
        Layer::MulBf16 { a, b, output } => eltwise_bf16::mul(cx, *a, *b, *output),
        Layer::ActBf16 { input, output, act } => eltwise_bf16::act(cx, *input, *output, *act),
        Layer::LutBf16 { input, output, table } => table_bf16::lut_bf16_layer(cx, *input, *output, table),
    }
}

/// Layer pairs lowered as one, so that the first one's output never reaches device memory: a
/// convolution or FC and the `Lut` right after it, or a convolution and the max pooling right
/// after it (same scale: max pooling does not requantise), applied in local memory before the
/// store; a concat and the channel shuffle right after it, its inputs stored to their shuffled
/// channels ([`memory::shuffled_concat`]).
pub fn fusions(net: &Network) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (i, w) in net.layers.windows(2).enumerate() {
        if let Some((s, _, _)) = memory::shuffled_concat(net, i) {
            v.push((i, s));
            continue;
        }
        let (out, conv) = match &w[0] {
            Layer::Conv(c) => (c.output, true),
            Layer::ConvBf16(c) => (c.output, true),
            Layer::FullyConnected(f) => (f.output, false),
            _ => continue,
        };
        let readers = net.layers.iter().filter(|l| l.inputs().contains(&out)).count();
        if readers != 1 || net.outputs.contains(&out) {
            continue;
        }
        let fuses = match &w[1] {
            Layer::Lut { input, .. } => *input == out && !matches!(w[0], Layer::ConvBf16(_)),
            Layer::Pool(p) => {
                conv && p.input == out
                    && matches!(p.kind, PoolKind::Max)
                    && net.tensors[p.input].qscale == net.tensors[p.output].qscale
                    && net.tensors[p.input].shape[0] == 1
                    && pool_fusion_pays(net, i)
            }
            _ => false,
        };
        if fuses {
            v.push((i, i + 1));
        }
    }
    v
}

/// Choices of the lowering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Lower chains of convolutions as layer groups ([`group`]).
    pub groups: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { groups: true }
    }
}

/// Whether the convolution at layer `i` and the max pooling after it run faster as one, by the
/// timing model's schedule of both lowerings: fused, the convolution rows two pooling tiles
/// share are computed twice, which costs more than the store and load it saves where the
/// convolution is compute-bound (the first layer on the chips with fewer lanes).
fn pool_fusion_pays(net: &Network, i: usize) -> bool {
    let cost = |fused: &[(usize, usize)]| -> Option<u64> {
        let mem = memory::plan(net, fused).ok()?;
        let params = net.chip.params();
        let mut e = Emitter::new(net.chip);
        let mut w = Weights::default();
        for index in [i, i + 1] {
            if fused.iter().any(|f| f.1 == index) {
                continue;
            }
            let l = &net.layers[index];
            let mut cx = LayerCx {
                chip: net.chip,
                lanes: params.lanes,
                lmem: params.lmem_per_lane,
                index,
                kind: l.kind(),
                net,
                mem: &mem,
                e: &mut e,
                w: &mut w,
            };
            let partner = fused.iter().find(|f| f.0 == index).map(|f| &net.layers[f.1]);
            lower_layer(&mut cx, l, partner).ok()?;
        }
        let cmds: Vec<Command> =
            e.steps.into_iter().map(|s| Command { offset: 0, header: None, desc: s.desc }).collect();
        let timed = cvsim_sim::timing::schedule(net.chip, &cmds, &TimingConfig::default()).ok()?;
        Some(timed.totals.cycles)
    };
    matches!((cost(&[]), cost(&[(i, i + 1)])), (Some(apart), Some(fused)) if fused < apart)
}

/// Check and lower the network.
pub fn compile(net: &Network) -> Result<Compiled, CompileError> {
    compile_with(net, Options::default())
}

/// Check and lower the network with these choices.
pub fn compile_with(net: &Network, opts: Options) -> Result<Compiled, CompileError> {
    net.check()?;
    let groups = if opts.groups { group::groups(net) } else { Vec::new() };
    let grouped: Vec<usize> = groups.iter().flat_map(|g| g.layers()).collect();
    let fused: Vec<(usize, usize)> =
        fusions(net).into_iter().filter(|f| !grouped.contains(&f.0) && !grouped.contains(&f.1)).collect();
    // For the memory plan a group is one layer at its first: (first, last) names the tensor it
    // stores, and the layers after the first are skipped.
    let mut units = fused.clone();
    for g in &groups {
        let layers = g.layers();
        units.push((g.first(), g.last()));
        units.extend(layers[1..layers.len() - 1].iter().map(|&l| (g.first(), l)));
    }
    let memory = memory::plan(net, &units)?;
    let views = memory::slice_views(net);
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
        if fused.iter().any(|f| f.1 == index) || views.contains(&index) {
            continue;
        }
        if let Some(g) = groups.iter().find(|g| g.layers().contains(&index)) {
            if g.first() == index {
                group::lower(&mut cx, g)?;
            }
            continue;
        }
        let partner = fused.iter().find(|f| f.0 == index).map(|f| &net.layers[f.1]);
        lower_layer(&mut cx, l, partner)?;
    }
    if let Some((layers, e)) = tpu.take() {
        routines.push(Routine::Tpu { layers, steps: e.steps });
    }
    // A routine of reshapes only has nothing to run.
    routines.retain(|r| !matches!(r, Routine::Tpu { steps, .. } if steps.is_empty()));
    Ok(Compiled { memory, weights, routines })
}
