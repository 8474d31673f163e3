//! The vendor's calibration table, as text: `#` header lines, then one `name threshold min max`
//! line per tensor, optionally followed by sections the vendor adds for other modes (`#int4_th`
//! with the same four fields, `#weight_scale` with `name count v1 .. vcount`, `#asym_op` with
//! names). Names are the vendor's value names: the ONNX output tensor's name, `_`, and the ONNX
//! op type of the node producing it (`p2o.pd_op.conv2d.0.0_Conv`); a graph input is its bare name.
//!
//! Values are kept as f64 exactly as parsed, so a table read and written again is the same text
//! (the vendor prints `{:.7f}`).

use crate::ir::{Calibration, Graph, Op, TensorId};
use std::collections::HashMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub threshold: f64,
    pub min: f64,
    pub max: f64,
}

/// A section after the main entries that cvsim keeps but does not interpret.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraSection {
    /// The marker line, e.g. `#int4_th`.
    pub marker: String,
    pub lines: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Table {
    /// The `#` lines before the entries, verbatim (with their `#`).
    pub header: Vec<String>,
    pub entries: Vec<Entry>,
    pub extra: Vec<ExtraSection>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TableError {
    #[error("calibration table line {line}: expected `name threshold min max`, found {fields} field(s): {text:?}")]
    FieldCount { line: usize, fields: usize, text: String },
    #[error("calibration table line {line}: {field} {value:?} is not a number")]
    Number { line: usize, field: &'static str, value: String },
    #[error("calibration table line {line}: tensor {name:?} is listed twice (first on line {first})")]
    Duplicate { line: usize, name: String, first: usize },
}

/// Section markers the vendor writes after the entries. A `#` line that starts with one of these
/// (after the first entry) opens an uninterpreted section; any other `#` line is a comment.
const SECTION_MARKERS: [&str; 3] = ["#int4_th", "#weight_scale", "#asym_op"];

impl Table {
    /// Parse the vendor's text. Blank lines are skipped; a `\r` before a newline is dropped.
    pub fn parse(text: &str) -> Result<Table, TableError> {
        let mut table = Table::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut section: Option<ExtraSection> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            if SECTION_MARKERS.iter().any(|m| line.starts_with(m)) {
                if let Some(s) = section.take() {
                    table.extra.push(s);
                }
                section = Some(ExtraSection { marker: line.to_string(), lines: Vec::new() });
                continue;
            }
            if let Some(s) = section.as_mut() {
                s.lines.push(line.to_string());
                continue;
            }
            if line.starts_with('#') {
                // Comments between entries are not the vendor's, but harmless: keep header
                // lines only from before the first entry.
                if table.entries.is_empty() {
                    table.header.push(line.to_string());
                }
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != 4 {
                return Err(TableError::FieldCount { line: line_no, fields: fields.len(), text: line.to_string() });
            }
            let num = |k: usize, field: &'static str| -> Result<f64, TableError> {
                fields[k].parse::<f64>().map_err(|_| TableError::Number {
                    line: line_no,
                    field,
                    value: fields[k].to_string(),
                })
            };
            let entry = Entry {
                name: fields[0].to_string(),
                threshold: num(1, "threshold")?,
                min: num(2, "min")?,
                max: num(3, "max")?,
            };
            if let Some(&first) = seen.get(&entry.name) {
                return Err(TableError::Duplicate { line: line_no, name: entry.name, first });
            }
            seen.insert(entry.name.clone(), line_no);
            table.entries.push(entry);
        }
        if let Some(s) = section.take() {
            table.extra.push(s);
        }
        Ok(table)
    }

    /// The text, in the vendor's layout: header lines, entries as `{name} {:.7} {:.7} {:.7}`, then
    /// any extra sections after a blank line each.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            out.push_str(h);
            out.push('\n');
        }
        for e in &self.entries {
            let _ = writeln!(out, "{} {} {} {}", e.name, fmt7(e.threshold), fmt7(e.min), fmt7(e.max));
        }
        for s in &self.extra {
            out.push('\n');
            out.push_str(&s.marker);
            out.push('\n');
            for l in &s.lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The header cvsim writes: the vendor's lines, so the vendor's tools accept the table, with
    /// cvsim named as the producer.
    pub fn vendor_header(model: &str, histogram_bins: usize, samples: usize, tune_samples: usize) -> Vec<String> {
        vec![
            format!("# mlir version: cvsim {} cali version 1.0", env!("CARGO_PKG_VERSION")),
            format!("# mlir: {model}"),
            "# genetated time: -".to_string(),
            "# quantization threshold calculation method: ['kl']".to_string(),
            format!("# histogram number: {histogram_bins}"),
            format!("# sample number: {samples}"),
            "###".to_string(),
            format!("# tune number: {tune_samples}"),
            "###".to_string(),
            "# op_name    threshold    min    max".to_string(),
        ]
    }

    /// Attach the entries to the graph's tensors (see [`match_tensor`]). Returns what matched and
    /// what did not, so the caller can report both.
    pub fn apply(&self, graph: &mut Graph) -> ApplyReport {
        let by_name: HashMap<String, TensorId> =
            activation_names(graph).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let borrowed: HashMap<&str, TensorId> = by_name.iter().map(|(k, &v)| (k.as_str(), v)).collect();
        let mut report = ApplyReport::default();
        for e in &self.entries {
            match match_tensor(&borrowed, &e.name) {
                Some(id) => {
                    graph.tensors[id].calibration =
                        Some(Calibration { threshold: e.threshold as f32, min: e.min as f32, max: e.max as f32 });
                    report.matched.push((e.name.clone(), id));
                }
                None => report.unmatched_entries.push(e.name.clone()),
            }
        }
        for (name, &id) in by_name.iter() {
            if graph.tensors[id].calibration.is_none() {
                report.uncalibrated.push(name.clone());
            }
        }
        report.uncalibrated.sort();
        report
    }

    /// [`Table::apply`], then a second chance for the tensors left without an entry, using the
    /// graph as imported (before the passes): the vendor's importer folds a BatchNormalization
    /// into the convolution before it in most models and names the result by the convolution's
    /// output (`conv2d_213.tmp_0_Conv` is the normalised value), while cvsim's fold keeps the
    /// BatchNormalization's output tensor; likewise for a bias added by a separate Add. A tensor
    /// that the imported graph produces by a BatchNormalization, or an Add of a constant, reading
    /// a Conv, ConvTranspose or FullyConnected output takes that output's entry when it has none
    /// of its own.
    pub fn apply_with_import(&self, graph: &mut Graph, imported: &Graph) -> ApplyReport {
        let mut report = self.apply(graph);
        if report.uncalibrated.is_empty() {
            return report;
        }
        let entries: HashMap<&str, &Entry> = self.entries.iter().map(|e| (e.name.as_str(), e)).collect();
        let producers = imported.producers();
        let entry_for = |tensor: &str| -> Option<&Entry> {
            entries.get(tensor).copied().or_else(|| {
                self.entries.iter().find(|e| {
                    e.name
                        .rsplit_once('_')
                        .is_some_and(|(p, s)| p == tensor && s.chars().all(|c| c.is_ascii_alphanumeric()))
                })
            })
        };
        let mut still = Vec::new();
        for name in std::mem::take(&mut report.uncalibrated) {
            let found = imported.tensor_by_name(&name).and_then(|t| producers[t]).and_then(|bn| {
                let bn = &imported.nodes[bn];
                let folds = match bn.op {
                    Op::BatchNormalization { .. } => true,
                    Op::Add => bn.inputs.len() == 2 && imported.tensors[bn.inputs[1]].value.is_some(),
                    _ => false,
                };
                if !folds {
                    return None;
                }
                let x = *bn.inputs.first()?;
                let p = producers[x]?;
                if !matches!(
                    imported.nodes[p].op,
                    Op::Conv { .. } | Op::ConvTranspose { .. } | Op::FullyConnected { .. }
                ) {
                    return None;
                }
                entry_for(&imported.tensors[x].name)
            });
            match (found, graph.tensor_by_name(&name)) {
                (Some(e), Some(id)) => {
                    graph.tensors[id].calibration =
                        Some(Calibration { threshold: e.threshold as f32, min: e.min as f32, max: e.max as f32 });
                    report.unmatched_entries.retain(|n| n != &e.name);
                    report.matched.push((e.name.clone(), id));
                }
                _ => still.push(name),
            }
        }
        report.uncalibrated = still;
        report
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    pub matched: Vec<(String, TensorId)>,
    /// Entries naming no tensor of the graph (the vendor calibrates tensors cvsim's passes fold
    /// away, e.g. a convolution's output before its batch normalisation).
    pub unmatched_entries: Vec<String>,
    /// Activation tensors (graph inputs and node outputs that are not constants) left without one.
    pub uncalibrated: Vec<String>,
}

/// The activation tensors of a graph by name: inputs and node outputs that hold no constant.
fn activation_names(graph: &Graph) -> HashMap<&str, TensorId> {
    let mut m = HashMap::new();
    let ids = graph.inputs.iter().copied().chain(graph.nodes.iter().flat_map(|n| n.outputs.iter().copied()));
    for id in ids {
        let t = &graph.tensors[id];
        if t.value.is_none() {
            m.insert(t.name.as_str(), id);
        }
    }
    m
}

/// The tensor a table name refers to: the tensor of that exact name, else, for `<tensor>_<OpType>`
/// (an op type is letters and digits only), the tensor named by what precedes the last `_`.
pub fn match_tensor(by_name: &HashMap<&str, TensorId>, entry: &str) -> Option<TensorId> {
    if let Some(&id) = by_name.get(entry) {
        return Some(id);
    }
    let (prefix, suffix) = entry.rsplit_once('_')?;
    if suffix.is_empty() || !suffix.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    by_name.get(prefix).copied()
}

/// The name the vendor gives a tensor: `<tensor>_<onnx op type>`, or the bare name for a graph
/// input (no producer).
pub fn vendor_name(tensor: &str, onnx_op_type: Option<&str>) -> String {
    match onnx_op_type {
        Some(op) => format!("{tensor}_{op}"),
        None => tensor.to_string(),
    }
}

/// Every activation tensor's vendor name: graph inputs bare, node outputs `<tensor>_<op type>`
/// with the op type from [`onnx_op_type`].
pub fn vendor_names(graph: &Graph) -> HashMap<TensorId, String> {
    let mut names = HashMap::new();
    for &i in &graph.inputs {
        names.insert(i, graph.tensors[i].name.clone());
    }
    for n in &graph.nodes {
        for &o in &n.outputs {
            names.entry(o).or_insert_with(|| vendor_name(&graph.tensors[o].name, Some(onnx_op_type(&n.op))));
        }
    }
    names
}

/// The ONNX op type an IR op most likely came from, for naming table entries when the importer
/// did not record it. Ops the IR normalises from several ONNX ops name the usual one
/// (`FullyConnected` → `Gemm`).
pub fn onnx_op_type(op: &Op) -> &'static str {
    match op {
        Op::Conv { .. } => "Conv",
        Op::ConvTranspose { .. } => "ConvTranspose",
        Op::FullyConnected { .. } => "Gemm",
        Op::MatMul => "MatMul",
        Op::Add => "Add",
        Op::Sub => "Sub",
        Op::Mul => "Mul",
        Op::Div => "Div",
        Op::Pow => "Pow",
        Op::Sqrt => "Sqrt",
        Op::Exp => "Exp",
        Op::Relu => "Relu",
        Op::Clip { .. } => "Clip",
        Op::LeakyRelu { .. } => "LeakyRelu",
        Op::Sigmoid => "Sigmoid",
        Op::Tanh => "Tanh",
        Op::HardSigmoid { .. } => "HardSigmoid",
        Op::HardSwish => "HardSwish",
        Op::Softmax { .. } => "Softmax",
        Op::GlobalAveragePool => "GlobalAveragePool",
        Op::GlobalMaxPool => "GlobalMaxPool",
        Op::AveragePool { .. } => "AveragePool",
        Op::MaxPool { .. } => "MaxPool",
        Op::ReduceMean { .. } => "ReduceMean",
        Op::Concat { .. } => "Concat",
        Op::Split { .. } => "Split",
        Op::Slice { .. } => "Slice",
        Op::Reshape { .. } => "Reshape",
        Op::Transpose { .. } => "Transpose",
        Op::Pad { .. } => "Pad",
        Op::Resize { .. } => "Resize",
        Op::BatchNormalization { .. } => "BatchNormalization",
        Op::Shape => "Shape",
        Op::Gather { .. } => "Gather",
        Op::Unsqueeze { .. } => "Unsqueeze",
        Op::Squeeze { .. } => "Squeeze",
        Op::Cast { .. } => "Cast",
        Op::Identity => "Identity",
        Op::Scale => "Mul",
        Op::ChannelShuffle { .. } => "Reshape",
    }
}

/// Python's `'{:.7f}'.format(x)`: fixed, 7 decimals, the exact binary value rounded half to even.
/// Rust's `{:.7}` rounds the exact value half to even too; only `-0.0000000` differs in sign
/// handling, which both print with the minus sign.
fn fmt7(x: f64) -> String {
    format!("{x:.7}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# mlir version: v1 cali version 1.0\n# op_name    threshold    min    max\nx 2.6400001 -2.1179039 2.6400001\na.b_Conv 14.6786022 -16.2625275 16.7984085\n";

    #[test]
    fn parses_and_writes_back_identically() {
        let t = Table::parse(SAMPLE).unwrap();
        assert_eq!(t.entries.len(), 2);
        assert_eq!(t.entries[1].threshold, 14.6786022);
        assert_eq!(t.to_text(), SAMPLE);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Table::parse("# h\nx 1.0 2.0\n").unwrap_err();
        assert_eq!(e, TableError::FieldCount { line: 2, fields: 3, text: "x 1.0 2.0".into() });
        let e = Table::parse("x 1.0 abc 2.0\n").unwrap_err();
        assert_eq!(e, TableError::Number { line: 1, field: "min", value: "abc".into() });
        let e = Table::parse("x 1 1 1\ny 1 1 1\nx 2 2 2\n").unwrap_err();
        assert_eq!(e, TableError::Duplicate { line: 3, name: "x".into(), first: 1 });
    }

    #[test]
    fn extra_sections_are_kept_not_interpreted() {
        let text = "# h\nx 1.0000000 -1.0000000 1.0000000\n\n#int4_th\nx 0.5000000 -0.5714286 0.5000000\n\n#weight_scale\nw_weight 2 0.1 0.2\n";
        let t = Table::parse(text).unwrap();
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.extra.len(), 2);
        assert_eq!(t.extra[1].lines, vec!["w_weight 2 0.1 0.2".to_string()]);
        assert_eq!(Table::parse(&t.to_text()).unwrap(), t);
    }

    #[test]
    fn names_map_to_tensors_by_op_type_suffix() {
        let mut m = HashMap::new();
        m.insert("fetch_name_0", 3usize);
        m.insert("x", 0usize);
        m.insert("p2o.pd_op.batch_norm_.0.0", 1usize);
        assert_eq!(match_tensor(&m, "fetch_name_0_Softmax"), Some(3));
        assert_eq!(match_tensor(&m, "x"), Some(0));
        assert_eq!(match_tensor(&m, "p2o.pd_op.batch_norm_.0.0_BatchNormalization"), Some(1));
        assert_eq!(match_tensor(&m, "p2o.pd_op.conv2d.0.0_Conv"), None);
    }

    #[test]
    fn apply_matches_names_and_reports_the_rest() {
        use crate::ir::{DType, Node, Tensor};
        let t = |name: &str| Tensor {
            name: name.into(),
            shape: vec![1, 4],
            dtype: DType::F32,
            value: None,
            calibration: None,
        };
        let mut g = Graph {
            tensors: vec![t("x"), t("conv_out"), t("y")],
            nodes: vec![
                Node { name: "c".into(), op: Op::Relu, inputs: vec![0], outputs: vec![1] },
                Node { name: "h".into(), op: Op::HardSwish, inputs: vec![1], outputs: vec![2] },
            ],
            inputs: vec![0],
            outputs: vec![2],
        };
        let names = vendor_names(&g);
        assert_eq!(names[&1], "conv_out_Relu");
        assert_eq!(names[&0], "x");
        let table = Table::parse("x 2.0 -1.0 2.0\nconv_out_Relu 3.0 0.0 4.0\ngone_Conv 1.0 -1.0 1.0\n").unwrap();
        let report = table.apply(&mut g);
        assert_eq!(report.matched, vec![("x".to_string(), 0), ("conv_out_Relu".to_string(), 1)]);
        assert_eq!(report.unmatched_entries, vec!["gone_Conv".to_string()]);
        assert_eq!(report.uncalibrated, vec!["y".to_string()]);
        assert_eq!(g.tensors[1].calibration, Some(Calibration { threshold: 3.0, min: 0.0, max: 4.0 }));
    }

    #[test]
    fn seven_decimals_round_like_python() {
        // 2^-8 = 0.00390625 is an exact tie at the eighth decimal: Python gives 0.0039062.
        assert_eq!(fmt7(0.00390625), "0.0039062");
        assert_eq!(fmt7(-0.375), "-0.3750000");
        assert_eq!(fmt7(16.7016202), "16.7016202");
    }
}
