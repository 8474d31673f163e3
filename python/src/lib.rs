//! The `cvsim._cvsim` extension module: the `cvsim` command line's library code (model loading,
//! the input checks, output extraction, PMU timing, `info`, `compare`) behind a Python API that
//! takes and returns NumPy arrays. `python/cvsim/__init__.py` re-exports it.

mod arrays;
mod compare;
mod model;
mod timing;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _cvsim,
    Error,
    PyException,
    "Base class of the errors cvsim raises (other than ValueError for bad arguments)."
);
create_exception!(
    _cvsim,
    ModelError,
    Error,
    "A model file that cannot be read or loaded; the message is the one `cvsim` prints."
);
create_exception!(
    _cvsim,
    EmulationError,
    Error,
    "A forward pass or timing run the emulator stopped (out-of-bounds access, illegal descriptor, \
     CPU routine failure); the message is the one `cvsim run` prints."
);

#[pymodule]
fn _cvsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("EmulationError", py.get_type::<EmulationError>())?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::TensorInfo>()?;
    m.add_function(wrap_pyfunction!(compare::compare, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
