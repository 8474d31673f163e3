//! The `.cvimodel` of a compiled network, through the runtime's writer: the weight section, one
//! cmdbuf section per TPU routine, CPU `quant` routines for fp32 inputs and outputs, and the
//! tensor map (names and quantisation scales from the network, addresses from the memory plan).

use crate::codegen::{self, CompileError, Compiled, Routine};
use crate::lower::{DType, Layer, Network, TensorRef};
use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::Desc;
use cvsim_runtime::cvimodel::{self, AttrValue, CpuAttr, SectionType};
use cvsim_runtime::writer::{ModelSpec, ProgramSpec, RoutineSpec, SectionSpec, TaggedAddr, TensorSpec, WeightSpec};

/// Why a model file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("encoding routine {routine}'s command buffer: {what}")]
    Encode { routine: usize, what: String },
    #[error("writing the model: {0}")]
    Write(String),
}

pub const WEIGHT_SECTION: &str = "weight";

fn dtype(d: DType) -> cvimodel::DType {
    match d {
        DType::I8 => cvimodel::DType::I8,
        DType::Bf16 => cvimodel::DType::Bf16,
        DType::F32 => cvimodel::DType::F32,
    }
}

fn str_attr(key: &str, v: &str) -> CpuAttr {
    CpuAttr { key: key.into(), value: AttrValue::Str(v.into()) }
}

/// Compile and write the network as a `.cvimodel`.
pub fn build(net: &Network) -> Result<Vec<u8>, PackageError> {
    let compiled = codegen::compile(net)?;
    model_spec(net, &compiled)?.to_bytes().map_err(|e| PackageError::Write(e.to_string()))
}

/// The model description of a compiled network.
pub fn model_spec(net: &Network, c: &Compiled) -> Result<ModelSpec, PackageError> {
    let mut spec = ModelSpec::new(net.chip, net.name.clone());
    spec.build_time = Some("1970-01-01 00:00:00".into());
    spec.mlir_version = Some(format!("cvsim-compiler {}", env!("CARGO_PKG_VERSION")));
    spec.weight_map = c
        .weights
        .map
        .iter()
        .map(|w| WeightSpec {
            name: w.name.clone(),
            addr: TaggedAddr::at(cvsim_isa::Region::WEIGHT, w.offset),
            size: w.size as u32,
            shape: w.shape.to_vec(),
            dtype: w.dtype,
        })
        .collect();
    spec.sections = vec![SectionSpec::new(SectionType::Weight, WEIGHT_SECTION, c.weights.bytes.clone())];

    let names = |ts: &[TensorRef]| ts.iter().map(|&t| net.tensors[t].name.clone()).collect::<Vec<_>>();
    let mut routines = Vec::new();
    for (ri, r) in c.routines.iter().enumerate() {
        match r {
            Routine::Cpu { layer } => {
                let l = &net.layers[*layer];
                let (input, output, scale, from, to) = match l {
                    Layer::Quantize { input, output, scale } => {
                        let to = if net.tensors[*output].dtype == DType::Bf16 { "BF16" } else { "INT8" };
                        (*input, *output, *scale, "FP32", to)
                    }
                    Layer::Dequantize { input, output, scale } => {
                        let from = if net.tensors[*input].dtype == DType::Bf16 { "BF16" } else { "INT8" };
                        (*input, *output, *scale, from, "NONE")
                    }
                    _ => unreachable!("only quantisation layers are CPU routines"),
                };
                let args = vec![
                    str_attr("from", from),
                    CpuAttr { key: "scale".into(), value: AttrValue::Float(scale) },
                    str_attr("to", to),
                ];
                routines.push(RoutineSpec::cpu(
                    "quant",
                    args,
                    &[net.tensors[input].name.as_str()],
                    &[net.tensors[output].name.as_str()],
                ));
            }
            Routine::Tpu { layers, steps } => {
                let descs: Vec<Desc> = steps.iter().map(|s| s.desc.clone()).collect();
                let cmdbuf = encode_descs(net.chip, &descs)
                    .map_err(|e| PackageError::Encode { routine: ri, what: e.to_string() })?;
                let section = format!("subfunc_{ri}");
                spec.sections.push(SectionSpec::new(SectionType::Cmdbuf, section.clone(), cmdbuf));
                let (ins, outs) = routine_io(net, layers);
                let (ins, outs) = (names(&ins), names(&outs));
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                let outs: Vec<&str> = outs.iter().map(String::as_str).collect();
                routines.push(RoutineSpec::tpu_cmdbuf(section, &ins, &outs));
            }
        }
    }

    let tensor_map = net
        .tensors
        .iter()
        .enumerate()
        .filter_map(|(t, d)| {
            let p = c.memory.places[t]?;
            let shape: Vec<i64> = d.shape.iter().map(|&v| v as i64).collect();
            let mut s = TensorSpec::new(d.name.clone(), TaggedAddr::at(p.region, p.offset), dtype(d.dtype), &shape)
                .with_qscale(d.qscale, 0.0);
            s.overwrote = p.overwrote;
            Some(s)
        })
        .collect();
    spec.programs = vec![ProgramSpec {
        batch_num: 0,
        neuron_size: 0,
        input_tensors: names(&net.inputs),
        output_tensors: names(&net.outputs),
        tensor_map,
        routines,
        shared_gmem: c.memory.shared_bytes as u32,
        private_gmem: c.memory.private_bytes as u32,
    }];
    Ok(spec)
}

/// A TPU routine reads the tensors its layers read that were written before it (or are network
/// inputs), and writes those of its outputs that later layers read or that are network outputs.
fn routine_io(net: &Network, layers: &[usize]) -> (Vec<TensorRef>, Vec<TensorRef>) {
    let last = layers[layers.len() - 1];
    let written_inside: Vec<TensorRef> = layers.iter().map(|&i| net.layers[i].output()).collect();
    let mut ins = Vec::new();
    for &i in layers {
        for t in net.layers[i].inputs() {
            if !written_inside.contains(&t) && !ins.contains(&t) {
                ins.push(t);
            }
        }
    }
    let mut outs = Vec::new();
    for &t in &written_inside {
        let read_later = net.layers[last + 1..].iter().any(|l| l.inputs().contains(&t));
        if (read_later || net.outputs.contains(&t)) && !outs.contains(&t) {
            outs.push(t);
        }
    }
    (ins, outs)
}
