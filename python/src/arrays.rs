//! NumPy arrays to and from the CLI's npz arrays (`cvsim::npz::Array`: element type, shape and
//! little-endian bytes), and bf16 as float32.

use cvsim::npz::{Array, ElemType};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The NumPy dtype that holds an element type.
pub fn descr<'py>(py: Python<'py>, elem: ElemType) -> Bound<'py, PyArrayDescr> {
    match elem {
        ElemType::F32 => numpy::dtype::<f32>(py),
        ElemType::I32 => numpy::dtype::<i32>(py),
        ElemType::U32 => numpy::dtype::<u32>(py),
        ElemType::I16 => numpy::dtype::<i16>(py),
        ElemType::U16 => numpy::dtype::<u16>(py),
        ElemType::I8 => numpy::dtype::<i8>(py),
        ElemType::U8 => numpy::dtype::<u8>(py),
    }
}

const ELEMS: [ElemType; 7] =
    [ElemType::F32, ElemType::I32, ElemType::U32, ElemType::I16, ElemType::U16, ElemType::I8, ElemType::U8];

fn elem_of(d: &Bound<'_, PyArrayDescr>) -> Option<ElemType> {
    ELEMS.into_iter().find(|&e| d.is_equiv_to(&descr(d.py(), e)))
}

macro_rules! bytes_as {
    ($obj:expr, $t:ty) => {{
        let a = $obj.cast::<PyArrayDyn<$t>>()?;
        let ro = a.try_readonly()?;
        match ro.as_slice() {
            Ok(s) => bytemuck::cast_slice::<$t, u8>(s).to_vec(),
            // Not C-contiguous: element by element, in C order.
            Err(_) => ro.as_array().iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }};
}

/// A NumPy array as an npz array named `name` (`what` names it in errors).
pub fn from_py(name: &str, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyTypeError::new_err(format!("{what} `{name}`: expected a numpy.ndarray, got {ty}"))
    })?;
    let dtype = arr.dtype();
    let elem = elem_of(&dtype).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{what} `{name}`: dtype {dtype} is not one cvsim reads (float32, int32, uint32, int16, uint16, int8, uint8)"
        ))
    })?;
    let shape = arr.shape().iter().map(|&d| d as u64).collect();
    let data = match elem {
        ElemType::F32 => bytes_as!(obj, f32),
        ElemType::I32 => bytes_as!(obj, i32),
        ElemType::U32 => bytes_as!(obj, u32),
        ElemType::I16 => bytes_as!(obj, i16),
        ElemType::U16 => bytes_as!(obj, u16),
        ElemType::I8 => bytes_as!(obj, i8),
        ElemType::U8 => bytes_as!(obj, u8),
    };
    Ok(Array { name: name.to_string(), elem, shape, data })
}

/// The arrays of a mapping from names to NumPy arrays (a dict, or anything with `keys()` and
/// item access such as `numpy.load`'s `NpzFile`), in its order.
pub fn from_mapping(map: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Array>> {
    let mut out = Vec::new();
    if let Ok(d) = map.cast::<PyDict>() {
        for (k, v) in d.iter() {
            let k = key(&k, what)?;
            out.push(from_py(&k, &v, what)?);
        }
        return Ok(out);
    }
    let keys = map.call_method0("keys").map_err(|_| {
        let ty = map.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyTypeError::new_err(format!("expected a mapping of names to numpy arrays, got {ty}"))
    })?;
    for k in keys.try_iter()? {
        let k = k?;
        let v = map.get_item(&k)?;
        out.push(from_py(&key(&k, what)?, &v, what)?);
    }
    Ok(out)
}

fn key(k: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    k.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} names must be strings, got {k}")))?
        .to_str()
        .map(str::to_owned)
}

macro_rules! array_as {
    ($py:expr, $a:expr, $t:ty, $shape:expr) => {{
        let v: Vec<$t> = bytemuck::pod_collect_to_vec(&$a.data);
        numpy::PyArray1::from_vec($py, v).reshape($shape)?.into_any()
    }};
}

/// An npz array as a NumPy array; `bf16_as_f32` widens its uint16 bf16 bit patterns to float32
/// (exact: every bf16 value is a float32 value).
pub fn to_py<'py>(py: Python<'py>, a: &Array, bf16_as_f32: bool) -> PyResult<Bound<'py, PyAny>> {
    let shape: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
    Ok(match a.elem {
        ElemType::U16 if bf16_as_f32 => {
            let v: Vec<f32> = a
                .data
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect();
            numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any()
        }
        ElemType::F32 => array_as!(py, a, f32, shape),
        ElemType::I32 => array_as!(py, a, i32, shape),
        ElemType::U32 => array_as!(py, a, u32, shape),
        ElemType::I16 => array_as!(py, a, i16, shape),
        ElemType::U16 => array_as!(py, a, u16, shape),
        ElemType::I8 => array_as!(py, a, i8, shape),
        ElemType::U8 => array_as!(py, a, u8, shape),
    })
}

/// A float32 array as the bf16 bit patterns it holds; an element with any of the low 16 bits set
/// is not a bf16 value, and rounding it would hide a caller's mistake.
pub fn f32_to_bf16(what: &str, a: &mut Array) -> PyResult<()> {
    let mut bits = Vec::with_capacity(a.data.len() / 2);
    for (i, c) in a.data.chunks_exact(4).enumerate() {
        let x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if x & 0xFFFF != 0 {
            return Err(PyValueError::new_err(format!(
                "{what} `{}`: element {i} ({}) is not a bf16 value; round it to bf16 or give the bit patterns as uint16",
                a.name,
                f32::from_bits(x)
            )));
        }
        bits.extend_from_slice(&((x >> 16) as u16).to_le_bytes());
    }
    a.data = bits;
    a.elem = ElemType::U16;
    Ok(())
}
