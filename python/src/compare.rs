//! `cvsim.compare`: `cvsim compare` on arrays or npz files, its report as a dict (and as the text
//! the command prints).

use crate::arrays;
use cvsim::commands::compare::{self as cmp, Options, U16As};
use cvsim::npz::{self, Array};
use cvsim::similarity::{Similarity, Tolerance};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::path::PathBuf;

/// Arrays from an npz path or a mapping of names to arrays.
fn arrays_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Array>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return npz::read(&path).map_err(PyValueError::new_err);
    }
    arrays::from_mapping(obj, what)
}

fn tolerance_of(obj: &Bound<'_, PyAny>) -> PyResult<Tolerance> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Tolerance::parse(s.to_str()?).map_err(PyValueError::new_err);
    }
    let (cosine, euclidean): (f64, f64) = obj.extract().map_err(|_| {
        PyValueError::new_err(format!("tolerance {obj}: expected (cosine, euclidean) or \"COSINE,EUCLIDEAN\""))
    })?;
    Ok(Tolerance { cosine, euclidean })
}

fn figures_dict<'py>(py: Python<'py>, s: &Similarity) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("cosine", s.cosine)?;
    d.set_item("correlation", s.correlation)?;
    d.set_item("euclidean", s.euclidean)?;
    d.set_item("sqnr", s.sqnr)?;
    Ok(d)
}

/// Compare `target` with `reference` tensor by tensor, as `cvsim compare TARGET REFERENCE`.
///
/// Each is a path to an npz file or a mapping of names to NumPy arrays (uint16 arrays are bf16
/// bit patterns unless `uint16="int"`). `tolerance` is `(cosine, euclidean)` or
/// `"COSINE,EUCLIDEAN"`; a tensor passes when both are exceeded. `int8_similar` judges int8
/// tensors by similarity (the default requires them equal).
#[pyfunction]
#[pyo3(signature = (target, reference, *, tolerance = None, int8_similar = false, uint16 = "bf16"))]
pub fn compare<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    reference: &Bound<'py, PyAny>,
    tolerance: Option<&Bound<'py, PyAny>>,
    int8_similar: bool,
    uint16: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let u16_as = match uint16 {
        "bf16" => U16As::Bf16,
        "int" => U16As::Int,
        other => return Err(PyValueError::new_err(format!("uint16={other:?}: expected \"bf16\" or \"int\""))),
    };
    let tolerance = tolerance.map(tolerance_of).transpose()?.unwrap_or(Tolerance::DEFAULT);
    let opts = Options { tolerance, int8_similar, u16_as };
    let t = arrays_of(target, "target")?;
    let r = arrays_of(reference, "reference")?;
    let (report, text) = py.detach(|| {
        let report = cmp::compare(&t, &r, &opts);
        let text = cmp::render(&report, &opts);
        (report, text)
    });
    let rows = PyList::empty(py);
    for row in &report.rows {
        let d = PyDict::new(py);
        d.set_item("name", &row.name)?;
        d.set_item("result", row.verdict.name())?;
        d.set_item("passed", row.verdict.passed())?;
        if let cvsim::similarity::Verdict::Close { order } = row.verdict {
            d.set_item("close_rtol", 10f64.powi(-(order as i32)))?;
        }
        match cmp::figures(&row.verdict) {
            Some(s) => {
                for (k, v) in figures_dict(py, &s)?.iter() {
                    d.set_item(k, v)?;
                }
            }
            None => {
                for k in ["cosine", "correlation", "euclidean", "sqnr"] {
                    d.set_item(k, py.None())?;
                }
            }
        }
        rows.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("passed", report.passed())?;
    out.set_item("tensors", rows)?;
    out.set_item("only_target", &report.only_target)?;
    out.set_item("only_reference", &report.only_reference)?;
    let min = report.minimum();
    out.set_item("minimum", min.as_ref().map(|m| figures_dict(py, m)).transpose()?)?;
    let would_pass = match (&min, report.passed()) {
        (Some(m), false) if !report.rows.iter().any(|r| matches!(r.verdict, cvsim::similarity::Verdict::NotMatch)) => {
            let p = Tolerance::that_passes(m);
            Some((p.cosine, p.euclidean))
        }
        _ => None,
    };
    out.set_item("would_pass_with", would_pass)?;
    out.set_item("tolerance", (tolerance.cosine, tolerance.euclidean))?;
    out.set_item("report", text)?;
    Ok(out)
}
