//! Building and querying a graph: adding tensors, who produces and who reads a tensor, removing
//! what no output needs.

use super::{DType, Graph, Node, Tensor, TensorId, Value};
use std::collections::HashMap;

impl Tensor {
    pub fn is_const(&self) -> bool {
        self.value.is_some()
    }
}

impl Graph {
    pub fn add_tensor(&mut self, name: impl Into<String>, shape: Vec<usize>, dtype: DType) -> TensorId {
        self.tensors.push(Tensor { name: name.into(), shape, dtype, value: None, calibration: None });
        self.tensors.len() - 1
    }

    pub fn add_const(&mut self, name: impl Into<String>, value: Value) -> TensorId {
        let (shape, dtype) = (value.shape().to_vec(), value.dtype());
        self.tensors.push(Tensor { name: name.into(), shape, dtype, value: Some(value), calibration: None });
        self.tensors.len() - 1
    }

    pub fn value(&self, id: TensorId) -> Option<&Value> {
        self.tensors[id].value.as_ref()
    }

    pub fn tensor_by_name(&self, name: &str) -> Option<TensorId> {
        self.tensors.iter().position(|t| t.name == name)
    }

    /// For each tensor, the index of the node that writes it.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.tensors.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                p[o] = Some(i);
            }
        }
        p
    }

    /// For each tensor, the indices of the nodes that read it (a node reading it twice is listed
    /// twice).
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.tensors.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &t in &n.inputs {
                c[t].push(i);
            }
        }
        c
    }

    /// How many readers each tensor has, counting being a graph output as one.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.tensors.len()];
        for n in &self.nodes {
            for &t in &n.inputs {
                c[t] += 1;
            }
        }
        for &o in &self.outputs {
            c[o] += 1;
        }
        c
    }

    /// Removes nodes whose outputs nothing reads, then every tensor no node, input or output
    /// names, and renumbers the rest in their old order.
    pub fn remove_dead(&mut self) {
        loop {
            let uses = self.use_counts();
            let before = self.nodes.len();
            self.nodes.retain(|n| n.outputs.iter().any(|&o| uses[o] > 0));
            if self.nodes.len() == before {
                break;
            }
        }
        let mut live = vec![false; self.tensors.len()];
        for n in &self.nodes {
            for &t in n.inputs.iter().chain(&n.outputs) {
                live[t] = true;
            }
        }
        for &t in self.inputs.iter().chain(&self.outputs) {
            live[t] = true;
        }
        let mut map = vec![usize::MAX; self.tensors.len()];
        let mut kept = Vec::with_capacity(self.tensors.len());
        for (i, t) in std::mem::take(&mut self.tensors).into_iter().enumerate() {
            if live[i] {
                map[i] = kept.len();
                kept.push(t);
            }
        }
        self.tensors = kept;
        let remap = |v: &mut Vec<TensorId>| v.iter_mut().for_each(|t| *t = map[*t]);
        for n in &mut self.nodes {
            remap(&mut n.inputs);
            remap(&mut n.outputs);
        }
        remap(&mut self.inputs);
        remap(&mut self.outputs);
    }

    /// Makes every reader of `from` (and the graph outputs) read `to` instead.
    pub fn replace_uses(&mut self, from: TensorId, to: TensorId) {
        for n in &mut self.nodes {
            for t in &mut n.inputs {
                if *t == from {
                    *t = to;
                }
            }
        }
        for t in &mut self.outputs {
            if *t == from {
                *t = to;
            }
        }
    }

    /// A tensor name not yet used, from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        let names: HashMap<&str, ()> = self.tensors.iter().map(|t| (t.name.as_str(), ())).collect();
        if !names.contains_key(base) {
            return base.to_string();
        }
        (1..).map(|i| format!("{base}_{i}")).find(|n| !names.contains_key(n.as_str())).unwrap_or_default()
    }

    pub fn node_inputs_const(&self, node: &Node) -> bool {
        node.inputs.iter().all(|&t| self.tensors[t].is_const())
    }
}
