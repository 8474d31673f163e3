//! Partial-sum mode of convolution and matrix multiplication (`ps32_md`, spec `isa.md` §3.6.1
//! "Partial sums").

use cvsim_isa::TiuDesc;

/// `ps32_md`: 0 off, 2 first pass, 3 middle pass, 1 last pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ps32 {
    Off,
    /// Write the raw 32-bit sum.
    First,
    /// Read the 32-bit partial sum, add, write it back.
    Middle,
    /// Read the 32-bit partial sum, add, then finish (bias, ReLU, shift, saturate) as mode Off.
    Last,
}

impl Ps32 {
    /// The mode a descriptor names; the field is two bits wide.
    pub fn of(d: &TiuDesc) -> Ps32 {
        match d.ps32_md & 3 {
            0 => Ps32::Off,
            1 => Ps32::Last,
            2 => Ps32::First,
            _ => Ps32::Middle,
        }
    }
    /// Reads the previous partial sum.
    pub fn reads(self) -> bool {
        matches!(self, Ps32::Middle | Ps32::Last)
    }
    /// Writes a raw partial sum instead of the final result.
    pub fn writes_partial(self) -> bool {
        matches!(self, Ps32::First | Ps32::Middle)
    }
    /// Finishes the result (the complement of [`Ps32::writes_partial`]).
    pub fn finishes(self) -> bool {
        !self.writes_partial()
    }
}
