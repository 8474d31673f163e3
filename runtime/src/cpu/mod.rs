//! CPU routines a .cvimodel names, run on the host with the vendor runtime's exact arithmetic
//! (spec `runtime.md` §2.3). "f32" operations round to f32 after each step, as the x86-64 build
//! of the vendor runtime does (no fused multiply-add), because the corpus was produced there.
//!
//! Each function is one module implementing [`CpuFunction`], listed once in [`FUNCTIONS`]; the
//! session looks a routine's function up by name and hands it a [`CpuContext`].

pub mod argmax;
pub mod interp;
pub mod quant;

use crate::cvimodel::{AttrValue, Routine, Tensor};
use std::borrow::Cow;

/// A CPU function's failure in words; the session adds the routine index and the function name.
pub type CpuResult<T = ()> = Result<T, String>;

/// A function a CPU routine can name.
pub trait CpuFunction: Sync {
    /// The name a routine gives it (`function` in the file).
    fn name(&self) -> &'static str;
    /// Read the routine's attributes and inputs and write its outputs.
    fn run(&self, cx: &mut CpuContext<'_>) -> CpuResult;
}

/// Every CPU function the runtime implements.
pub static FUNCTIONS: &[&dyn CpuFunction] = &[&quant::Quant, &argmax::ArgmaxV3, &interp::Interp];

/// The function a routine names, if implemented.
pub fn lookup(name: &str) -> Option<&'static dyn CpuFunction> {
    FUNCTIONS.iter().copied().find(|f| f.name() == name)
}

/// The tensors of the instance running a routine, as the session stores them: in device memory,
/// or on the host for tensors without device memory.
pub trait TensorStore {
    /// A tensor's description.
    fn desc(&self, name: &str) -> CpuResult<Tensor>;
    /// The byte size the runtime gives a tensor.
    fn mem_size(&self, t: &Tensor) -> CpuResult<usize>;
    /// A tensor's current bytes (a host tensor never written reads as zeros).
    fn bytes(&self, name: &str) -> CpuResult<Cow<'_, [u8]>>;
    /// A tensor's bytes, to be written.
    fn bytes_mut(&mut self, name: &str) -> CpuResult<&mut [u8]>;
    /// Give a host tensor never written its zero bytes, so that repeated reads borrow them
    /// instead of making them anew.
    fn materialise(&mut self, name: &str) -> CpuResult;
}

/// What a function sees of the routine it runs: the routine's attributes and tensor names, and
/// the instance's tensors.
pub struct CpuContext<'a> {
    pub routine: &'a Routine,
    pub tensors: &'a mut dyn TensorStore,
}

impl<'a> CpuContext<'a> {
    /// The name of input `i`.
    pub fn input(&self, i: usize) -> CpuResult<&'a str> {
        self.routine.in_tensors.get(i).map(String::as_str).ok_or_else(|| format!("needs input {i}"))
    }

    /// The name of output `i`.
    pub fn output(&self, i: usize) -> CpuResult<&'a str> {
        self.routine.out_tensors.get(i).map(String::as_str).ok_or_else(|| format!("needs output {i}"))
    }

    /// The name of output `i`, when the routine has one.
    pub fn optional_output(&self, i: usize) -> Option<&'a str> {
        self.routine.out_tensors.get(i).map(String::as_str)
    }

    /// An optional float attribute.
    pub fn float_attr(&self, k: &str) -> CpuResult<Option<f32>> {
        match self.routine.attr(k) {
            Some(AttrValue::Float(v)) => Ok(Some(*v)),
            Some(other) => Err(format!("attribute `{k}` is {other}, not a float")),
            None => Ok(None),
        }
    }

    /// A mandatory string attribute.
    pub fn str_attr(&self, k: &str) -> CpuResult<String> {
        match self.routine.attr(k) {
            Some(AttrValue::Str(v)) => Ok(v.clone()),
            Some(other) => Err(format!("attribute `{k}` is {other}, not a string")),
            None => Err(format!("missing mandatory attribute `{k}`")),
        }
    }

    /// An int attribute; absent reads as 0, because a zero int is left out of the buffer.
    pub fn int_attr(&self, k: &str) -> CpuResult<i32> {
        match self.routine.attr(k) {
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(other) => Err(format!("attribute `{k}` is {other}, not an int")),
            None => Ok(0),
        }
    }
}

/// Little-endian fp32 values into `out`, as many as both hold.
pub(crate) fn write_f32(out: &mut [u8], v: &[f32]) {
    for (o, x) in out.chunks_exact_mut(4).zip(v) {
        o.copy_from_slice(&x.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for f in FUNCTIONS {
            assert_eq!(FUNCTIONS.iter().filter(|g| g.name() == f.name()).count(), 1, "{}", f.name());
            assert_eq!(lookup(f.name()).map(|g| g.name()), Some(f.name()));
        }
        assert!(lookup("no_such_function").is_none());
    }
}
