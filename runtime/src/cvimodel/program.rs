//! Programs and their routines.

use super::cpu_args::{AttrValue, CpuAttr};
use super::tensor::Tensor;
use serde::Serialize;

/// What a routine runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RoutineKind {
    /// A TPU command stream: a CMDBUF section, or a pre-built DMABUF section. At least one is set;
    /// when both are, the CMDBUF is used.
    Tpu { cmdbuf_section: Option<String>, dmabuf_section: Option<String> },
    /// A built-in (or plug-in) CPU function and its decoded `function_args`.
    Cpu { function: String, args: Vec<CpuAttr> },
}

/// One step of a program, run in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Routine {
    pub in_tensors: Vec<String>,
    pub out_tensors: Vec<String>,
    #[serde(flatten)]
    pub kind: RoutineKind,
    /// File offset of the routine's flatbuffer table.
    pub table_at: usize,
}

impl Routine {
    /// The section a TPU routine executes (CMDBUF preferred).
    pub fn tpu_section(&self) -> Option<&str> {
        match &self.kind {
            RoutineKind::Tpu { cmdbuf_section, dmabuf_section } => cmdbuf_section.as_deref().or(dmabuf_section.as_deref()),
            RoutineKind::Cpu { .. } => None,
        }
    }

    pub fn cpu_function(&self) -> Option<&str> {
        match &self.kind {
            RoutineKind::Cpu { function, .. } => Some(function),
            RoutineKind::Tpu { .. } => None,
        }
    }

    /// A CPU routine's attribute by key.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        match &self.kind {
            RoutineKind::Cpu { args, .. } => args.iter().find(|a| a.key == key).map(|a| &a.value),
            RoutineKind::Tpu { .. } => None,
        }
    }
}

/// One program (a batch size / shape variant) of a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Program {
    pub batch_num: u32,
    /// Legacy single activation area (old mlir-tpu models): regions 0 and 2 both use it.
    pub neuron_size: u32,
    pub input_tensors: Vec<String>,
    pub output_tensors: Vec<String>,
    pub tensor_map: Vec<Tensor>,
    pub routines: Vec<Routine>,
    pub shared_gmem: u32,
    pub private_gmem: u32,
}

impl Program {
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensor_map.iter().find(|t| t.name == name)
    }

    /// The input tensors in input order (names were checked at load time).
    pub fn inputs(&self) -> impl Iterator<Item = &Tensor> {
        self.input_tensors.iter().filter_map(|n| self.tensor(n))
    }

    pub fn outputs(&self) -> impl Iterator<Item = &Tensor> {
        self.output_tensors.iter().filter_map(|n| self.tensor(n))
    }

    /// The qscale the runtime reports for a tensor (`CVI_TENSOR.qscale`): the tensor map's, except
    /// for the output of a `quant` routine converting `from` = NONE `to` = INT8, which gets
    /// 128/threshold, or `scale` (default 1) without a threshold (spec runtime.md §2.3.1).
    pub fn reported_qscale(&self, t: &Tensor) -> f32 {
        for r in self.routines.iter().filter(|r| r.cpu_function() == Some("quant")) {
            let is = |k: &str, v: &str| matches!(r.attr(k), Some(AttrValue::Str(s)) if s == v);
            if is("from", "NONE") && is("to", "INT8") && r.out_tensors.first() == Some(&t.name) {
                return match (r.attr("threshold"), r.attr("scale")) {
                    (Some(AttrValue::Float(th)), _) => 128.0 / th,
                    (_, Some(AttrValue::Float(s))) => *s,
                    _ => 1.0,
                };
            }
        }
        t.qscale
    }

    /// Old mlir-tpu layout: one private buffer of `neuron_size` serves regions 0 and 2.
    pub fn is_legacy_neuron(&self) -> bool {
        self.neuron_size != 0
    }
}
