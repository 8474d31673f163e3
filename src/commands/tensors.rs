//! Moving tensors between npz arrays and a model instance, with the checks a user needs.

use crate::npz::{self, Array, ElemType, Header};
use cvsim_runtime::cvimodel::{DType, Tensor};
use cvsim_runtime::session::Instance;
use std::path::Path;

/// The npz element type that holds a tensor dtype (bf16 as uint16 bit patterns).
pub fn elem_of(d: DType) -> ElemType {
    match d {
        DType::F32 => ElemType::F32,
        DType::I32 => ElemType::I32,
        DType::U32 => ElemType::U32,
        DType::Bf16 | DType::U16 => ElemType::U16,
        DType::I16 => ElemType::I16,
        DType::I8 => ElemType::I8,
        DType::U8 => ElemType::U8,
    }
}

fn shape_matches(given: &[u64], want: &[i64; 4]) -> bool {
    let w: Vec<u64> = want.iter().map(|&d| d.max(0) as u64).collect();
    if given == w.as_slice() {
        return true;
    }
    // The runtime pads lower-rank tensors with trailing 1s; accept the unpadded shape too.
    let mut trimmed = w.clone();
    while trimmed.len() > given.len() && trimmed.last() == Some(&1) {
        trimmed.pop();
    }
    given == trimmed.as_slice()
}

/// Copy every model input from `arrays`, checking names, dtypes and shapes.
pub fn set_inputs(inst: &mut Instance, arrays: &[Array]) -> Result<(), String> {
    let headers: Vec<Header> =
        arrays.iter().map(|a| Header { name: a.name.clone(), elem: a.elem, shape: a.shape.clone() }).collect();
    let lens: Vec<u64> = arrays.iter().map(|a| a.data.len() as u64).collect();
    set_inputs_with(inst, &headers, &lens, |i, dst| {
        dst.copy_from_slice(&arrays[i].data);
        Ok(())
    })
}

/// As [`set_inputs`], reading each array of the npz file straight into its input's device
/// memory: a whole input array held beside the device copy would add to the peak memory.
/// Errors name the file once: npz errors already carry the path, the checks' errors get it here.
pub fn set_inputs_from_npz(inst: &mut Instance, path: &Path) -> Result<(), String> {
    let headers = npz::headers(path)?;
    let lens: Vec<u64> = headers.iter().map(Header::bytes).collect();
    let mut read_err = None;
    let checked = set_inputs_with(inst, &headers, &lens, |i, dst| {
        npz::read_into(path, &headers[i].name, dst).map_err(|e| {
            read_err = Some(e);
            String::new()
        })
    });
    match (checked, read_err) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(format!("{}: {e}", path.display())),
    }
}

/// The checks of [`set_inputs`] on arrays described by `headers` (data `lens` bytes long), then
/// `fill(array index, input bytes)` for every model input.
fn set_inputs_with(
    inst: &mut Instance,
    headers: &[Header],
    lens: &[u64],
    mut fill: impl FnMut(usize, &mut [u8]) -> Result<(), String>,
) -> Result<(), String> {
    let names = inst.program().input_tensors.clone();
    for a in headers {
        if !names.contains(&a.name) {
            return Err(format!("input file has array `{}`, but the model's inputs are: {}", a.name, names.join(", ")));
        }
    }
    for name in &names {
        let i = headers.iter().position(|a| &a.name == name).ok_or_else(|| {
            format!("no array `{name}` in the input file (the model's inputs are: {})", names.join(", "))
        })?;
        let (a, len) = (&headers[i], lens[i]);
        let t =
            inst.program().tensor(name).cloned().ok_or_else(|| format!("input `{name}` is not in the tensor map"))?;
        let size = inst.mem_size(&t).map_err(|e| e.to_string())?;
        let want = elem_of(t.dtype);
        if a.elem != want {
            return Err(format!(
                "input `{name}`: array has dtype {}, the tensor is {} (give it as {})",
                a.elem.name(),
                t.dtype.name(),
                want.name()
            ));
        }
        // An aligned frame is given as its whole buffer, flat.
        let flat_frame = t.aligned && a.shape.len() == 1 && len == size as u64;
        if !flat_frame && !shape_matches(&a.shape, &t.shape) {
            return Err(format!("input `{name}`: array has shape {:?}, the tensor is {:?}", a.shape, t.shape));
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        fill(i, inst.input_mut(name, len).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

/// A tensor's bytes as an npz array with its runtime 4-D shape (or flat, if its memory is not
/// count × element size, as for an aligned frame).
pub fn to_array(inst: &Instance, t: &Tensor, data: Vec<u8>) -> Array {
    let elem = elem_of(t.dtype);
    let count: u64 = t.shape.iter().map(|&d| d.max(0) as u64).product();
    let shape = if count * elem.size() as u64 == data.len() as u64 {
        t.shape.iter().map(|&d| d.max(0) as u64).collect()
    } else {
        vec![(data.len() / elem.size()) as u64]
    };
    let _ = inst;
    Array { name: t.name.clone(), elem, shape, data }
}

/// The program's outputs, in output order.
pub fn outputs(inst: &Instance) -> Result<Vec<Array>, String> {
    let names = inst.program().output_tensors.clone();
    names
        .iter()
        .map(|n| {
            let t =
                inst.program().tensor(n).cloned().ok_or_else(|| format!("output `{n}` is not in the tensor map"))?;
            let data = inst.tensor_bytes(n).map_err(|e| e.to_string())?;
            Ok(to_array(inst, &t, data))
        })
        .collect()
}

/// Every exported tensor (OPTION_OUTPUT_ALL_TENSORS).
pub fn all(inst: &Instance) -> Result<Vec<Array>, String> {
    Ok(inst.all_tensors().map_err(|e| e.to_string())?.into_iter().map(|(t, d)| to_array(inst, &t, d)).collect())
}

/// An element of an array, formatted in its dtype.
pub fn format_elem(a: &Array, i: usize) -> String {
    let s = a.elem.size();
    let b = &a.data[i * s..i * s + s];
    match a.elem {
        ElemType::F32 => format!("{}", f32::from_le_bytes(b.try_into().unwrap())),
        ElemType::I32 => format!("{}", i32::from_le_bytes(b.try_into().unwrap())),
        ElemType::U32 => format!("{}", u32::from_le_bytes(b.try_into().unwrap())),
        ElemType::I16 => format!("{}", i16::from_le_bytes(b.try_into().unwrap())),
        ElemType::U16 => format!("{:#06x}", u16::from_le_bytes(b.try_into().unwrap())),
        ElemType::I8 => format!("{}", b[0] as i8),
        ElemType::U8 => format!("{}", b[0]),
    }
}

/// Byte-for-byte comparison of one expected array with the actual one: `None` when identical,
/// else a description (first differing element, values, count of differing bytes).
pub fn compare(expected: &Array, actual: &Array) -> Option<String> {
    if expected.elem != actual.elem || expected.data.len() != actual.data.len() {
        return Some(format!(
            "tensor `{}`: expected {} x {} bytes, got {} x {} bytes",
            expected.name,
            expected.elem.name(),
            expected.data.len(),
            actual.elem.name(),
            actual.data.len()
        ));
    }
    let diff = expected.data.iter().zip(&actual.data).filter(|(a, b)| a != b).count();
    if diff == 0 {
        return None;
    }
    let first = expected.data.iter().zip(&actual.data).position(|(a, b)| a != b).unwrap_or(0) / expected.elem.size();
    Some(format!(
        "tensor `{}`: first differing index {} (of {}): expected {}, actual {}; {} bytes differ",
        expected.name,
        first,
        expected.data.len() / expected.elem.size(),
        format_elem(expected, first),
        format_elem(actual, first),
        diff
    ))
}
