//! A small int8 network that cvsim builds itself, with no vendor file involved: a complete CV181x
//! `.cvimodel` whose command buffer is made descriptor by descriptor, plus a plain reference
//! implementation of the same arithmetic to check an emulator against.
//!
//! The network, on a (1, 8, 12, 12) int8 input in region 3:
//!
//! 1. conv 3×3, pad 1, 8 → 16 channels, per-channel (QM) requantisation with bias, ReLU;
//! 2. max pool 2×2 stride 2 → (1, 16, 6, 6);
//! 3. x + x as real models lower an int8 add: a `mul` by a constant into a 16-bit accumulator,
//!    then a `mac` by a constant with a rounding right shift to int8 (isa.md §7);
//! 4. FC 576 → 10, int8 with a 16-bit bias and a per-tensor right shift, output (1, 10, 1, 1)
//!    int8 in region 4.
//!
//! Weights live in the WEIGHT section (region 1); the add result goes through shared memory
//! (region 0) because the FC reads its input in the matrix layout. Weights and quantisation
//! parameters come from a seeded PRNG; the shifts are calibrated on the example input.

mod emit;
pub mod layout;
pub mod network;
mod params;
pub mod reference;

pub use params::{Params, SplitMix64};
pub use reference::Activations;

use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::{Chip, Desc, Region};
use cvsim_runtime::cvimodel::{DType, SectionType};
use cvsim_runtime::writer::{ModelSpec, ProgramSpec, RoutineSpec, SectionSpec, TaggedAddr, TensorSpec, WeightSpec};
use layout::*;

/// The chip the example is built for.
pub const CHIP: Chip = Chip::Cv181x;
pub const INPUT_NAME: &str = "input";
pub const OUTPUT_NAME: &str = "output";
/// The add output spilled to shared memory; listed in the tensor map as real models do.
pub const SPILL_NAME: &str = "add_out";
pub const CMDBUF_SECTION: &str = "subfunc_0";
pub const WEIGHT_SECTION: &str = "weight";
pub const INPUT_SHAPE: [usize; 4] = [1, IC, IH, IW];
pub const OUTPUT_SHAPE: [usize; 4] = [1, FC_N, 1, 1];

/// Which layer a descriptor belongs to (its loads and stores included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Conv,
    Pool,
    Add,
    Fc,
}

impl Layer {
    pub const ALL: [Layer; 4] = [Layer::Conv, Layer::Pool, Layer::Add, Layer::Fc];

    pub const fn name(self) -> &'static str {
        match self {
            Layer::Conv => "conv",
            Layer::Pool => "pool",
            Layer::Add => "add",
            Layer::Fc => "fc",
        }
    }

    /// The layer id written into the descriptors (`layer_info` / `layer_ID`, profiling only).
    pub const fn id(self) -> u32 {
        match self {
            Layer::Conv => 1,
            Layer::Pool => 2,
            Layer::Add => 3,
            Layer::Fc => 4,
        }
    }
}

/// One descriptor of the command buffer and the layer it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub layer: Layer,
    pub desc: Desc,
}

/// The built example.
#[derive(Clone, Debug)]
pub struct Example {
    pub seed: u64,
    /// The whole `.cvimodel` file.
    pub model_bytes: Vec<u8>,
    pub input_name: String,
    pub output_name: String,
    /// A deterministic input (what the shifts were calibrated on), (1, 8, 12, 12) NCHW.
    pub input: Vec<i8>,
    /// `reference(self, &self.input)`.
    pub expected: Vec<i8>,
    pub params: Params,
    /// The command buffer's descriptors, in order.
    pub steps: Vec<Step>,
}

/// Build the example for a seed: parameters, descriptors, cmdbuf, weights and the model file.
pub fn build(seed: u64) -> Example {
    let mut rng = SplitMix64::new(seed);
    let input = rng.i8s(IC * IH * IW, i8::MIN, i8::MAX);
    let params = params::generate(&mut rng, &input);
    let steps = descriptors(&params);
    let descs: Vec<Desc> = steps.iter().map(|s| s.desc.clone()).collect();
    // Every field was set within its width, so encoding cannot fail.
    let cmdbuf = encode_descs(CHIP, &descs).expect("example descriptors encode");
    let model_bytes = model_spec(seed, &params, cmdbuf).to_bytes().expect("example model is well formed");
    let expected = reference::run(&params, &input).fc;
    Example {
        seed,
        model_bytes,
        input_name: INPUT_NAME.into(),
        output_name: OUTPUT_NAME.into(),
        input,
        expected,
        params,
        steps,
    }
}

/// The reference output for any input: (1, 10, 1, 1) int8.
pub fn reference(ex: &Example, input: &[i8]) -> Vec<i8> {
    reference::run(&ex.params, input).fc
}

/// Every layer's reference output, to find which op an emulator gets wrong.
pub fn reference_layers(ex: &Example, input: &[i8]) -> Activations {
    reference::run(&ex.params, input)
}

/// The example's descriptors for these parameters, each with its layer.
pub fn descriptors(params: &Params) -> Vec<Step> {
    emit::descriptors(CHIP, params)
}

/// The local-memory plan the descriptors use (for reading intermediate results back).
pub fn plan() -> Plan {
    Plan::new(CHIP.lanes())
}

fn model_spec(seed: u64, p: &Params, cmdbuf: Vec<u8>) -> ModelSpec {
    let mut spec = ModelSpec::new(CHIP, "cvsim_example");
    spec.build_time = Some("1970-01-01 00:00:00".into());
    spec.mlir_version = Some(format!("cvsim-example-{} seed {seed}", env!("CARGO_PKG_VERSION")));
    let weight = |name: &str, at: u64, size: usize, shape: &[i64], dtype| WeightSpec {
        name: name.into(),
        addr: TaggedAddr::at(Region::WEIGHT, at),
        size: size as u32,
        shape: shape.to_vec(),
        dtype,
    };
    let (ic, oc, k, n) = (IC as i64, OC as i64, FC_K as i64, FC_N as i64);
    spec.weight_map = vec![
        weight("conv1_filter_reordered", W_CONV_FILTER, W_CONV_FILTER_BYTES, &[1, oc, (KH * KW) as i64, ic], DType::I8),
        weight("conv1_bias_packed", W_CONV_QUANT, W_CONV_QUANT_BYTES, &[1, oc, 1, QM_RECORD as i64], DType::I8),
        weight("fc_filter_i8", W_FC_FILTER, W_FC_FILTER_BYTES, &[1, 1, k, n], DType::I8),
        weight("fc_bias_int16", W_FC_BIAS, W_FC_BIAS_BYTES, &[1, 1, 1, n], DType::I16),
    ];
    spec.sections = vec![
        SectionSpec::new(SectionType::Weight, WEIGHT_SECTION, p.weight_bytes()),
        SectionSpec::new(SectionType::Cmdbuf, CMDBUF_SECTION, cmdbuf),
    ];
    // The quantisation factors are nominal: the example has no float model behind it.
    let input =
        TensorSpec::new(INPUT_NAME, TaggedAddr::at(REGION_INPUT, G_INPUT), DType::I8, &[1, ic, IH as i64, IW as i64])
            .with_qscale(32.0, 0.0);
    let mut spill =
        TensorSpec::new(SPILL_NAME, TaggedAddr::at(Region::SHARED, G_SPILL), DType::I8, &[1, oc, PH as i64, PW as i64])
            .with_qscale(0.05, 0.0);
    spill.overwrote = true;
    let output = TensorSpec::new(OUTPUT_NAME, TaggedAddr::at(REGION_OUTPUT, G_OUTPUT), DType::I8, &[1, n, 1, 1])
        .with_qscale(0.1, 0.0);
    spec.programs = vec![ProgramSpec {
        batch_num: 1,
        neuron_size: 0,
        input_tensors: vec![INPUT_NAME.into()],
        output_tensors: vec![OUTPUT_NAME.into()],
        tensor_map: vec![input, spill, output],
        routines: vec![RoutineSpec::tpu_cmdbuf(CMDBUF_SECTION, &[INPUT_NAME], &[OUTPUT_NAME])],
        shared_gmem: SHARED_BYTES as u32,
        private_gmem: 0,
    }];
    spec
}
