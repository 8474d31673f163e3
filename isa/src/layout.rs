//! Descriptor layouts as data: one table of fields per chip and engine.
//!
//! Every decoder, encoder, disassembler column and debugger "which bits mean what" view is derived
//! from these tables, so a new chip is a new table.

use serde::Serialize;

/// What a field is for, as far as checking goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FieldKind {
    /// A field with a meaning.
    Value,
    /// Reserved or unused bits: any value other than `expected` is reported by `disasm --verbose`.
    Reserved { expected: u32 },
}

/// One field of a descriptor layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FieldSpec<F: 'static> {
    #[serde(skip)]
    pub id: F,
    /// The name the vendor register header gives the field.
    pub name: &'static str,
    /// Absolute bit offset from the start of the descriptor (word * 32 + bit).
    pub bit: u16,
    pub width: u8,
    /// The value the emitter's reset routine puts in the field.
    pub reset: u32,
    /// Whether the raw bits are a two's-complement number.
    pub signed: bool,
    pub kind: FieldKind,
}

impl<F: Copy> FieldSpec<F> {
    pub const fn word(&self) -> usize {
        self.bit as usize / 32
    }
    /// Bit range within the first word, written `wN[hi:lo]` when the field stays in one word.
    pub fn bit_range(&self) -> String {
        let lo = self.bit as u32 % 32;
        let w = self.word();
        let hi = lo + self.width as u32 - 1;
        if hi < 32 {
            if self.width == 1 {
                format!("w{w}[{lo}]")
            } else {
                format!("w{w}[{hi}:{lo}]")
            }
        } else {
            format!("w{w}[31:{lo}]+w{}[{}:0]", w + 1, hi - 32)
        }
    }
    pub const fn mask(&self) -> u32 {
        if self.width >= 32 {
            u32::MAX
        } else {
            (1u32 << self.width) - 1
        }
    }
    pub const fn is_reserved(&self) -> bool {
        matches!(self.kind, FieldKind::Reserved { .. })
    }
    /// The raw value as a number: sign-extended for signed fields.
    pub fn interpret(&self, raw: u32) -> i64 {
        if self.signed && self.width < 32 && raw >> (self.width - 1) & 1 == 1 {
            raw as i64 - (1i64 << self.width)
        } else if self.signed && self.width == 32 {
            raw as i32 as i64
        } else {
            raw as i64
        }
    }
}

/// A whole descriptor layout.
#[derive(Debug)]
pub struct Layout<F: 'static> {
    pub name: &'static str,
    pub bytes: usize,
    pub fields: &'static [FieldSpec<F>],
}

/// Read `width` bits at absolute bit `bit` from little-endian 32-bit words.
#[inline]
pub fn extract(words: &[u32], bit: u16, width: u8) -> u32 {
    let w = bit as usize / 32;
    let sh = bit as u32 % 32;
    let mut v = (words[w] as u64) >> sh;
    if sh + width as u32 > 32 {
        v |= (words[w + 1] as u64) << (32 - sh);
    }
    let mask = if width >= 32 { u32::MAX as u64 } else { (1u64 << width) - 1 };
    (v & mask) as u32
}

/// Write `width` bits at absolute bit `bit`; `value` must already fit.
#[inline]
pub fn insert(words: &mut [u32], bit: u16, width: u8, value: u32) {
    let w = bit as usize / 32;
    let sh = bit as u32 % 32;
    let mask = if width >= 32 { u32::MAX as u64 } else { (1u64 << width) - 1 };
    let v = (value as u64) & mask;
    let wide = (words[w] as u64) | ((*words.get(w + 1).unwrap_or(&0) as u64) << 32);
    let wide = (wide & !(mask << sh)) | (v << sh);
    words[w] = wide as u32;
    if sh + width as u32 > 32 {
        words[w + 1] = (wide >> 32) as u32;
    }
}

/// Bytes to little-endian words (the length must be a multiple of 4).
pub fn words_of(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn bytes_of(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A defect in a layout table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{layout}: field `{field}` (bits {bit}..{end}) runs past the descriptor's {bits} bits")]
    PastEnd { layout: &'static str, field: &'static str, bit: u32, end: u32, bits: u32 },
    #[error("{layout}: fields `{a}` and `{b}` overlap at bit {bit}")]
    Overlap { layout: &'static str, a: &'static str, b: &'static str, bit: u32 },
    #[error("{layout}: bit {bit} belongs to no field")]
    Gap { layout: &'static str, bit: u32 },
    #[error("{layout}: field `{field}` has width {width}, outside 1..=32")]
    BadWidth { layout: &'static str, field: &'static str, width: u8 },
    #[error("{layout}: reset value {reset:#x} of `{field}` does not fit its {width} bits")]
    ResetTooWide { layout: &'static str, field: &'static str, reset: u32, width: u8 },
    #[error("{layout}: field id of `{field}` is used twice")]
    DuplicateId { layout: &'static str, field: &'static str },
}

impl<F: Copy + PartialEq> Layout<F> {
    /// Check that the fields tile the descriptor exactly: no overlap, no gap, nothing past the end.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let bits = (self.bytes * 8) as u32;
        let mut owner: Vec<Option<&'static str>> = vec![None; bits as usize];
        for (i, f) in self.fields.iter().enumerate() {
            if f.width == 0 || f.width > 32 {
                return Err(LayoutError::BadWidth { layout: self.name, field: f.name, width: f.width });
            }
            if f.reset & !f.mask() != 0 {
                return Err(LayoutError::ResetTooWide {
                    layout: self.name,
                    field: f.name,
                    reset: f.reset,
                    width: f.width,
                });
            }
            if self.fields[..i].iter().any(|g| g.id == f.id) {
                return Err(LayoutError::DuplicateId { layout: self.name, field: f.name });
            }
            let end = f.bit as u32 + f.width as u32;
            if end > bits {
                return Err(LayoutError::PastEnd { layout: self.name, field: f.name, bit: f.bit as u32, end, bits });
            }
            for b in f.bit as u32..end {
                if let Some(a) = owner[b as usize] {
                    return Err(LayoutError::Overlap { layout: self.name, a, b: f.name, bit: b });
                }
                owner[b as usize] = Some(f.name);
            }
        }
        if let Some(bit) = owner.iter().position(|o| o.is_none()) {
            return Err(LayoutError::Gap { layout: self.name, bit: bit as u32 });
        }
        Ok(())
    }

    pub fn field(&self, id: F) -> Option<&'static FieldSpec<F>> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_by_name(&self, name: &str) -> Option<&'static FieldSpec<F>> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Shorthand constructors used by the tables.
pub(crate) const fn val<F>(id: F, name: &'static str, bit: u16, width: u8, reset: u32) -> FieldSpec<F> {
    FieldSpec { id, name, bit, width, reset, signed: false, kind: FieldKind::Value }
}
pub(crate) const fn sval<F>(id: F, name: &'static str, bit: u16, width: u8, reset: u32) -> FieldSpec<F> {
    FieldSpec { id, name, bit, width, reset, signed: true, kind: FieldKind::Value }
}
pub(crate) const fn rsv<F>(id: F, name: &'static str, bit: u16, width: u8, expected: u32) -> FieldSpec<F> {
    FieldSpec { id, name, bit, width, reset: expected, signed: false, kind: FieldKind::Reserved { expected } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_insert_cross_word() {
        let mut w = [0u32; 3];
        insert(&mut w, 28, 12, 0xABC);
        assert_eq!(w[0], 0xC000_0000);
        assert_eq!(w[1], 0xAB);
        assert_eq!(extract(&w, 28, 12), 0xABC);
        insert(&mut w, 32, 32, 0xFFFF_FFFF);
        assert_eq!(extract(&w, 32, 32), 0xFFFF_FFFF);
        assert_eq!(extract(&w, 28, 4), 0xC);
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum T {
        A,
        B,
        C,
    }

    #[test]
    fn overlapping_table_is_rejected() {
        static F: [FieldSpec<T>; 2] = [val(T::A, "a", 0, 20, 0), val(T::B, "b", 16, 16, 0)];
        let l = Layout { name: "t", bytes: 4, fields: &F };
        assert!(matches!(l.validate(), Err(LayoutError::Overlap { bit: 16, .. })));
    }

    #[test]
    fn field_past_end_is_rejected() {
        static F: [FieldSpec<T>; 2] = [val(T::A, "a", 0, 16, 0), val(T::B, "b", 16, 20, 0)];
        let l = Layout { name: "t", bytes: 4, fields: &F };
        assert!(matches!(l.validate(), Err(LayoutError::PastEnd { .. })));
    }

    #[test]
    fn gap_is_rejected() {
        static F: [FieldSpec<T>; 2] = [val(T::A, "a", 0, 16, 0), val(T::B, "b", 17, 15, 0)];
        let l = Layout { name: "t", bytes: 4, fields: &F };
        assert!(matches!(l.validate(), Err(LayoutError::Gap { bit: 16, .. })));
    }

    #[test]
    fn wide_reset_and_duplicate_rejected() {
        static F: [FieldSpec<T>; 2] = [val(T::A, "a", 0, 2, 7), val(T::B, "b", 2, 30, 0)];
        let l = Layout { name: "t", bytes: 4, fields: &F };
        assert!(matches!(l.validate(), Err(LayoutError::ResetTooWide { .. })));
        static G: [FieldSpec<T>; 3] = [val(T::A, "a", 0, 2, 0), val(T::C, "c", 2, 2, 0), val(T::A, "a2", 4, 28, 0)];
        let l = Layout { name: "t", bytes: 4, fields: &G };
        assert!(matches!(l.validate(), Err(LayoutError::DuplicateId { .. })));
    }
}
