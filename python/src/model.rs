//! `cvsim.Model`: one program of a loaded `.cvimodel`, run from NumPy arrays. Instances (device
//! memory and an emulated TPU each) are kept in a pool, so threads calling `run` on one model
//! each get their own and emulate in parallel with the GIL released.

use crate::arrays;
use crate::{EmulationError, ModelError};
use cvsim::commands::tensors;
use cvsim::npz::{Array, ElemType};
use cvsim_runtime::cvimodel::DType;
use cvsim_runtime::info;
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_sim::par::Workers;
use numpy::PyArrayDescr;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An input or output tensor of a program, as the runtime reports it (`CVI_TENSOR`).
#[pyclass(module = "cvsim", frozen)]
#[derive(Clone)]
pub struct TensorInfo {
    /// The tensor's name: the key of its array in `run`'s dicts.
    #[pyo3(get)]
    name: String,
    /// The model's element type (`fp32`, `bf16`, `int8`, ...), as `cvsim info` prints it.
    #[pyo3(get)]
    tensor_dtype: String,
    /// The 4-D shape the runtime reports (lower-rank tensors padded with trailing 1s).
    #[pyo3(get)]
    shape: (i64, i64, i64, i64),
    /// For int8 inputs the factor that quantises a float (x * qscale); for int8 outputs the one
    /// that dequantises; 1 or 0 for float tensors.
    #[pyo3(get)]
    qscale: f32,
    #[pyo3(get)]
    zero_point: i32,
    elem: ElemType,
}

#[pymethods]
impl TensorInfo {
    /// The NumPy dtype of the tensor's arrays (bf16 as uint16 bit patterns).
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDescr> {
        arrays::descr(py, self.elem)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TensorInfo(name={}, dtype={}, tensor_dtype={}, shape={:?}, qscale={}, zero_point={})",
            PyString::new(py, &self.name).repr()?,
            self.dtype(py),
            PyString::new(py, &self.tensor_dtype).repr()?,
            self.shape,
            self.qscale,
            self.zero_point
        ))
    }
}

/// One program of a `.cvimodel`, loaded once and run on NumPy arrays.
#[pyclass(module = "cvsim", frozen)]
pub struct Model {
    path: PathBuf,
    pub(crate) loaded: Arc<LoadedModel>,
    pub(crate) program: usize,
    /// Host threads one descriptor may be split across, in every instance.
    threads: usize,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    /// Instances not running now; `run` takes one (or makes one) and puts it back.
    idle: Mutex<Vec<Instance>>,
}

/// Which tensors a forward pass returns.
#[derive(Clone, Copy)]
enum Returned {
    Outputs,
    All,
}

impl Model {
    /// The CLI's error text: the model's path, then the error.
    pub(crate) fn err(&self, e: impl std::fmt::Display) -> String {
        format!("{}: {e}", self.path.display())
    }

    fn instance(&self) -> PyResult<Instance> {
        if let Some(i) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(i);
        }
        let mut inst =
            Instance::new(self.loaded.clone(), self.program).map_err(|e| ModelError::new_err(self.err(e)))?;
        inst.machine.lmem.workers = Workers::new(self.threads);
        Ok(inst)
    }

    fn put_back(&self, inst: Instance) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(inst);
    }

    fn is_bf16(&self, name: &str) -> bool {
        self.loaded.model.programs[self.program].tensor(name).is_some_and(|t| t.dtype == DType::Bf16)
    }

    /// Check `inputs` against the program's inputs, run one forward pass and return the tensors.
    fn forward<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        bf16: &str,
        returned: Returned,
    ) -> PyResult<Bound<'py, PyDict>> {
        let bf16_as_f32 = match bf16 {
            "uint16" => false,
            "float32" => true,
            other => return Err(PyValueError::new_err(format!("bf16={other:?}: expected \"uint16\" or \"float32\""))),
        };
        let mut given = arrays::from_mapping(inputs, "input")?;
        let names = &self.loaded.model.programs[self.program].input_tensors;
        for a in &given {
            if !names.contains(&a.name) {
                return Err(PyValueError::new_err(format!(
                    "no model input is named `{}` (the model's inputs are: {})",
                    a.name,
                    names.join(", ")
                )));
            }
        }
        if let Some(n) = names.iter().find(|n| !given.iter().any(|a| &a.name == *n)) {
            return Err(PyValueError::new_err(format!(
                "input `{n}` is not given (the model's inputs are: {})",
                names.join(", ")
            )));
        }
        for a in &mut given {
            if a.elem == ElemType::F32 && self.is_bf16(&a.name) {
                arrays::f32_to_bf16("input", a)?;
            }
        }
        let out = py.detach(|| -> PyResult<Vec<Array>> {
            let mut inst = self.instance()?;
            if let Err(e) = tensors::set_inputs(&mut inst, &given) {
                self.put_back(inst);
                return Err(PyValueError::new_err(e));
            }
            // A failed forward leaves its instance half-run: it is dropped, not reused.
            inst.forward().map_err(|e| EmulationError::new_err(self.err(e)))?;
            let out = match returned {
                Returned::Outputs => tensors::outputs(&inst),
                Returned::All => tensors::all(&inst),
            }
            .map_err(|e| EmulationError::new_err(self.err(e)))?;
            self.put_back(inst);
            Ok(out)
        })?;
        let d = PyDict::new(py);
        for a in &out {
            d.set_item(&a.name, arrays::to_py(py, a, bf16_as_f32 && self.is_bf16(&a.name))?)?;
        }
        Ok(d)
    }
}

fn tensor_infos(loaded: &LoadedModel, program: usize) -> (Vec<TensorInfo>, Vec<TensorInfo>) {
    let p = &loaded.model.programs[program];
    let (ins, outs) = info::io_tensors(&loaded.model, p);
    let conv = |v: Vec<info::IoTensor>| {
        v.into_iter()
            .map(|t| TensorInfo {
                elem: tensors::elem_of(p.tensor(&t.name).map_or(DType::U8, |x| x.dtype)),
                name: t.name,
                tensor_dtype: t.dtype,
                shape: (t.shape[0], t.shape[1], t.shape[2], t.shape[3]),
                qscale: t.qscale,
                zero_point: t.zero_point,
            })
            .collect()
    };
    (conv(ins), conv(outs))
}

#[pymethods]
impl Model {
    /// Load program `program` of the `.cvimodel` at `path` and place its device memory.
    /// `threads` host threads may share one descriptor's work (as `cvsim run --threads`; the
    /// bytes are the same whatever the count); 1, the default, leaves the other cores to other
    /// Python threads running models.
    ///
    /// Raises `cvsim.ModelError` with the message `cvsim` prints when the file cannot be read,
    /// is not a valid model, or has no such program.
    #[new]
    #[pyo3(signature = (path, program = 0, *, threads = 1))]
    fn new(py: Python<'_>, path: PathBuf, program: usize, threads: usize) -> PyResult<Model> {
        if threads == 0 {
            return Err(PyValueError::new_err("threads=0: at least 1 thread runs a descriptor"));
        }
        let err = |e: &dyn std::fmt::Display| ModelError::new_err(format!("{}: {e}", path.display()));
        let (loaded, inst) = py.detach(|| {
            let loaded = LoadedModel::from_file(&path).map_err(|e| err(&e))?;
            // The first instance checks the program and its memory plan now, not at the first run.
            let mut inst = Instance::new(loaded.clone(), program).map_err(|e| err(&e))?;
            inst.machine.lmem.workers = Workers::new(threads);
            Ok::<_, PyErr>((loaded, inst))
        })?;
        let (inputs, outputs) = tensor_infos(&loaded, program);
        Ok(Model { path, loaded, program, threads, inputs, outputs, idle: Mutex::new(vec![inst]) })
    }

    /// The model file's path.
    #[getter]
    fn path(&self) -> &PathBuf {
        &self.path
    }

    /// Host threads one descriptor may be split across.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// The program this model runs.
    #[getter]
    fn program(&self) -> usize {
        self.program
    }

    /// The chip the model was compiled for (`cv180x`, `cv181x`, `cv182x` or `cv183x`).
    #[getter]
    fn chip(&self) -> String {
        self.loaded.model.chip().to_string()
    }

    /// The program's inputs, in input order.
    #[getter]
    fn inputs(&self) -> Vec<TensorInfo> {
        self.inputs.clone()
    }

    /// The program's outputs, in output order.
    #[getter]
    fn outputs(&self) -> Vec<TensorInfo> {
        self.outputs.clone()
    }

    /// Run one forward pass: `inputs` maps every input name to an array of its dtype and shape
    /// (see `inputs`; a bf16 input may also be float32 holding bf16 values). Returns the outputs
    /// by name, in output order, as `cvsim run --output` writes them. `bf16="float32"` returns
    /// bf16 outputs widened to float32 instead of their uint16 bit patterns.
    ///
    /// Raises ValueError for missing or extra inputs and wrong dtypes or shapes, and
    /// `cvsim.EmulationError` when the emulator stops. The GIL is released while emulating.
    #[pyo3(signature = (inputs, *, bf16 = "uint16"))]
    fn run<'py>(&self, py: Python<'py>, inputs: &Bound<'py, PyAny>, bf16: &str) -> PyResult<Bound<'py, PyDict>> {
        self.forward(py, inputs, bf16, Returned::Outputs)
    }

    /// As `run`, returning every tensor of the program that lives in device memory (inputs,
    /// intermediate activations, outputs), as `cvsim run --dump-all` writes them.
    #[pyo3(signature = (inputs, *, bf16 = "uint16"))]
    fn run_all<'py>(&self, py: Python<'py>, inputs: &Bound<'py, PyAny>, bf16: &str) -> PyResult<Bound<'py, PyDict>> {
        self.forward(py, inputs, bf16, Returned::All)
    }

    /// The PMU figures the vendor runtime prints with `TPU_ENABLE_PMU=1`, from the timing model
    /// (as `cvsim run --pmu`); `ddr_load` is the share (0 <= x < 1) of DDR bandwidth other bus
    /// masters take. See the stubs for the dict's keys.
    #[pyo3(signature = (ddr_load = 0.0))]
    fn timing<'py>(&self, py: Python<'py>, ddr_load: f64) -> PyResult<Bound<'py, PyDict>> {
        crate::timing::timing(self, py, ddr_load)
    }

    /// What `cvsim info MODEL --json` prints, as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = serde_json::to_string(&info::info_json(&self.loaded.model))
            .map_err(|e| ModelError::new_err(self.err(e)))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let path = PyString::new(py, &self.path.display().to_string()).repr()?;
        Ok(format!("Model({path}, program={})", self.program))
    }
}
