//! `cvsim diff`: run a model and compare every tensor a reference dump holds (the vendor's
//! all-tensors output or `cvsim run --dump-all`), in the order the run finished writing them, naming
//! the first that differs and the descriptors that wrote it.

use super::compare::{self, Options, U16As};
use super::tensors;
use crate::npz::{self, Array};
use crate::similarity::{Tolerance, Verdict};
use cvsim_isa::{CommandStream, Desc};
use cvsim_runtime::cvimodel::{DType, RoutineKind};
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_sim::machine::Observer;
use cvsim_sim::{ExecError, ExecResult, Machine};
use std::cell::RefCell;
use std::fmt::Write;
use std::path::PathBuf;

/// `cvsim diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    pub model: PathBuf,
    /// Inputs keyed by tensor name.
    #[arg(long)]
    pub input: PathBuf,
    /// Every tensor of a reference run, keyed by tensor name.
    #[arg(long)]
    pub reference: PathBuf,
    /// Program (shape variant) to run.
    #[arg(long, default_value_t = 0)]
    pub program: usize,
    /// Similarity thresholds of the table, `COSINE,EUCLIDEAN`.
    #[arg(long, default_value = "0.99,0.90", value_parser = Tolerance::parse)]
    pub tolerance: Tolerance,
}

/// A TDMA descriptor that wrote global memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    pub routine: usize,
    pub index: usize,
    pub layer: u32,
    /// Device address range written (the span the transfer's bounds check covered).
    pub start: u64,
    pub end: u64,
}

/// Records every global write of the TPU routines.
#[derive(Default)]
struct StoreLog {
    routine: usize,
    stores: Vec<Store>,
    /// First descriptor index of each (routine, layer id).
    layer_start: std::collections::HashMap<(usize, u32), usize>,
}

impl Observer for StoreLog {
    fn before(
        &mut self,
        m: &mut Machine,
        _: &CommandStream,
        _: usize,
        _: &Desc,
    ) -> Result<cvsim_sim::machine::Step, ExecError> {
        if let Some(t) = &m.gmem.trace {
            t.borrow_mut().clear();
        }
        Ok(cvsim_sim::machine::Step::Run)
    }

    fn after(
        &mut self,
        m: &mut Machine,
        _: &CommandStream,
        i: usize,
        desc: &Desc,
        r: ExecResult,
    ) -> Result<(), ExecError> {
        r.map_err(|kind| ExecError::new(i, desc.engine(), cvsim_sim::machine::op_name(m.chip, desc), kind))?;
        let layer = match desc {
            Desc::Tiu(d) => Some(d.layer_info),
            Desc::Tdma(d) => Some(d.layer_id),
            Desc::Cpu(_) => None,
        };
        if let Some(l) = layer {
            self.layer_start.entry((self.routine, l)).or_insert(i);
        }
        if let Desc::Tdma(d) = desc {
            if d.op().dir.dst_is_global() {
                // A transfer resolves its source before its destination, so the last global
                // access is the one written.
                if let Some(&(start, len)) = m.gmem.trace.as_ref().and_then(|t| t.borrow().last().copied()).as_ref() {
                    self.stores.push(Store {
                        routine: self.routine,
                        index: i,
                        layer: d.layer_id,
                        start,
                        end: start + len,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Who wrote a tensor last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writer {
    /// A model input: written before the run.
    Input,
    /// TPU routine `routine`, layer id `layer` (that of the last store into the tensor): from the
    /// layer's first descriptor `first` to that store, `last`.
    Tpu {
        routine: usize,
        layer: u32,
        first: usize,
        last: usize,
    },
    Cpu {
        routine: usize,
        function: String,
    },
    /// No store of the run touched it.
    Unknown,
}

impl Writer {
    fn order(&self) -> (i64, usize) {
        match self {
            Writer::Input => (-1, 0),
            Writer::Tpu { routine, last, .. } => (*routine as i64, *last),
            Writer::Cpu { routine, .. } => (*routine as i64, usize::MAX),
            Writer::Unknown => (i64::MAX, 0),
        }
    }
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writer::Input => write!(f, "input"),
            Writer::Tpu { routine, layer, first, last } => {
                write!(f, "routine {routine} layer {layer} descriptors {first}..={last}")
            }
            Writer::Cpu { routine, function } => write!(f, "routine {routine} CPU {function}"),
            Writer::Unknown => write!(f, "not written by the run"),
        }
    }
}

/// One compared tensor.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub writer: Writer,
    pub verdict: Verdict,
    /// First differing element: (index, cvsim value, reference value).
    pub first_diff: Option<(usize, String, String)>,
}

/// The result of a diff.
#[derive(Clone, Debug)]
pub struct Report {
    /// In execution order.
    pub entries: Vec<Entry>,
    /// Reference tensors the program does not have.
    pub unknown: Vec<String>,
}

impl Report {
    pub fn first_difference(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.first_diff.is_some())
    }
}

fn show(a: &Array, dtype: DType, i: usize) -> String {
    let raw = tensors::format_elem(a, i);
    if dtype == DType::Bf16 {
        let v = u16::from_le_bytes([a.data[2 * i], a.data[2 * i + 1]]);
        format!("{} ({raw})", f32::from_bits((v as u32) << 16))
    } else {
        raw
    }
}

/// Run the model on `inputs` and compare with `reference`.
pub fn diff(inst: &mut Instance, inputs: &[Array], reference: &[Array], tol: Tolerance) -> Result<Report, String> {
    tensors::set_inputs(inst, inputs)?;
    inst.machine.gmem.trace = Some(RefCell::new(Vec::new()));
    let mut log = StoreLog::default();
    let run = inst.forward_with(&mut |routine, m, cmds| {
        log.routine = routine;
        m.run_observed(cmds, &mut log)
    });
    inst.machine.gmem.trace = None;
    run.map_err(|e| e.to_string())?;

    let program = inst.program().clone();
    let mut entries = Vec::new();
    let mut unknown = Vec::new();
    for r in reference {
        let Some(t) = program.tensor(&r.name) else {
            unknown.push(r.name.clone());
            continue;
        };
        let writer = if program.input_tensors.contains(&t.name) {
            Writer::Input
        } else if let Some((ri, f)) = program.routines.iter().enumerate().find_map(|(ri, rt)| match &rt.kind {
            RoutineKind::Cpu { function, .. } if rt.out_tensors.contains(&t.name) => Some((ri, function.clone())),
            _ => None,
        }) {
            Writer::Cpu { routine: ri, function: f }
        } else {
            match t.region {
                Some(reg) => {
                    let start = inst.machine.gmem.base_regs[reg.index()].wrapping_add(t.region_offset) & 0xFFFF_FFFF;
                    let end = start + inst.mem_size(t).map_err(|e| e.to_string())? as u64;
                    let hits: Vec<&Store> = log.stores.iter().filter(|s| s.start < end && start < s.end).collect();
                    match hits.last() {
                        Some(last) => {
                            let first = log.layer_start.get(&(last.routine, last.layer)).copied().unwrap_or(last.index);
                            Writer::Tpu { routine: last.routine, layer: last.layer, first, last: last.index }
                        }
                        None => Writer::Unknown,
                    }
                }
                None => Writer::Unknown,
            }
        };
        let data = inst.tensor_bytes(&t.name).map_err(|e| e.to_string())?;
        let actual = tensors::to_array(inst, t, data);
        let u16_as = if t.dtype == DType::Bf16 { U16As::Bf16 } else { U16As::Int };
        let opts = Options { tolerance: tol, int8_similar: false, u16_as };
        let verdict = compare::compare_arrays(&actual, r, &opts);
        let first_diff = if actual.elem != r.elem || actual.data.len() != r.data.len() {
            Some((
                0,
                format!("{} x {} bytes", actual.elem.name(), actual.data.len()),
                format!("{} x {} bytes", r.elem.name(), r.data.len()),
            ))
        } else {
            actual.data.iter().zip(&r.data).position(|(a, b)| a != b).map(|p| {
                let i = p / r.elem.size();
                (i, show(&actual, t.dtype, i), show(r, t.dtype, i))
            })
        };
        entries.push(Entry { name: r.name.clone(), writer, verdict, first_diff });
    }
    entries.sort_by_key(|e| e.writer.order());
    Ok(Report { entries, unknown })
}

/// The text report.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    match r.first_difference() {
        Some(e) => {
            let (i, a, b) = e.first_diff.as_ref().expect("a difference");
            let _ = writeln!(o, "first difference: tensor `{}`, written by {}", e.name, e.writer);
            let _ = writeln!(o, "  first differing index {i}: cvsim {a}, reference {b}");
        }
        None => {
            let _ = writeln!(o, "no difference: all {} tensors are byte-identical", r.entries.len());
        }
    }
    let _ = writeln!(o);
    let w = r.entries.iter().map(|e| e.name.len()).max().unwrap_or(6).clamp(6, 48);
    let ww = r.entries.iter().map(|e| e.writer.to_string().len()).max().unwrap_or(9).max(9);
    let mut head = String::new();
    compare::table_header(&mut head, w);
    let _ = write!(o, "{:<ww$}  {head}", "written by");
    for e in &r.entries {
        let mut row = String::new();
        compare::table_row(&mut row, w, &e.name, &e.verdict);
        let _ = write!(o, "{:<ww$}  {row}", e.writer.to_string());
    }
    for n in &r.unknown {
        let _ = writeln!(o, "{n}: not a tensor of the program");
    }
    let differing = r.entries.iter().filter(|e| e.first_diff.is_some()).count();
    let _ = writeln!(o, "{} tensors compared, {differing} differ", r.entries.len());
    o
}

pub fn main(a: Args) -> Result<std::process::ExitCode, String> {
    let loaded = LoadedModel::from_file(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let mut inst = Instance::new(loaded, a.program).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let inputs = npz::read(&a.input)?;
    let reference = npz::read(&a.reference)?;
    let report =
        diff(&mut inst, &inputs, &reference, a.tolerance).map_err(|e| format!("{}: {e}", a.model.display()))?;
    print!("{}", render(&report));
    Ok(if report.first_difference().is_some() {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    })
}
