//! Table-driven decode and encode of single descriptors.

use crate::chip::Chip;
use crate::layout::{bytes_of, extract, insert, words_of, Layout};
use crate::tdma::{tdma_layout, TdmaDesc, TdmaField, TDMA_BYTES};
use crate::tiu::{tiu_layout, TiuDesc, TiuField, TIU_BYTES};

/// Why a descriptor could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("field `{field}` = {value:#x} does not fit its {width} bits")]
    Overflow { field: &'static str, value: u32, width: u8 },
    #[error("field `{field}` = {value:#x} does not exist in the {layout} layout")]
    NotInLayout { field: &'static str, value: u32, layout: &'static str },
}

/// Access to a typed descriptor's fields by id, shared by the TIU and TDMA forms.
pub trait Fields: Default {
    type Id: Copy + PartialEq + 'static;
    fn get(&self, id: Self::Id) -> u32;
    fn set(&mut self, id: Self::Id, v: u32);
    fn all_ids() -> &'static [Self::Id];
    fn id_name(id: Self::Id) -> &'static str;
}

impl Fields for TiuDesc {
    type Id = TiuField;
    fn get(&self, id: TiuField) -> u32 {
        TiuDesc::get(self, id)
    }
    fn set(&mut self, id: TiuField, v: u32) {
        TiuDesc::set(self, id, v)
    }
    fn all_ids() -> &'static [TiuField] {
        TiuField::ALL
    }
    fn id_name(id: TiuField) -> &'static str {
        id.name()
    }
}

impl Fields for TdmaDesc {
    type Id = TdmaField;
    fn get(&self, id: TdmaField) -> u32 {
        TdmaDesc::get(self, id)
    }
    fn set(&mut self, id: TdmaField, v: u32) {
        TdmaDesc::set(self, id, v)
    }
    fn all_ids() -> &'static [TdmaField] {
        TdmaField::ALL
    }
    fn id_name(id: TdmaField) -> &'static str {
        id.name()
    }
}

/// Decode with a layout; `bytes` must be exactly the layout's size.
pub fn decode_with<D: Fields>(layout: &Layout<D::Id>, bytes: &[u8]) -> D {
    debug_assert_eq!(bytes.len(), layout.bytes);
    let words = words_of(bytes);
    let mut d = D::default();
    for f in layout.fields {
        d.set(f.id, extract(&words, f.bit, f.width));
    }
    d
}

/// Encode with a layout. Every field must fit its width, and a field the layout lacks must be 0.
pub fn encode_with<D: Fields>(layout: &Layout<D::Id>, d: &D) -> Result<Vec<u8>, EncodeError> {
    let mut words = vec![0u32; layout.bytes / 4];
    for f in layout.fields {
        let v = d.get(f.id);
        if v & !f.mask() != 0 {
            return Err(EncodeError::Overflow { field: f.name, value: v, width: f.width });
        }
        insert(&mut words, f.bit, f.width, v);
    }
    for &id in D::all_ids() {
        let v = d.get(id);
        if v != 0 && !layout.fields.iter().any(|f| f.id == id) {
            return Err(EncodeError::NotInLayout { field: D::id_name(id), value: v, layout: layout.name });
        }
    }
    Ok(bytes_of(&words))
}

/// A descriptor with every field at the emitter's reset value.
pub fn reset_with<D: Fields>(layout: &Layout<D::Id>) -> D {
    let mut d = D::default();
    for f in layout.fields {
        d.set(f.id, f.reset);
    }
    d
}

impl TiuDesc {
    pub fn decode(chip: Chip, bytes: &[u8; TIU_BYTES]) -> TiuDesc {
        decode_with(tiu_layout(chip), bytes)
    }
    pub fn encode(&self, chip: Chip) -> Result<[u8; TIU_BYTES], EncodeError> {
        let v = encode_with(tiu_layout(chip), self)?;
        Ok(v.try_into().expect("layout size"))
    }
    /// The descriptor cvikernel's reset routine produces before an op fills it in.
    pub fn reset(chip: Chip) -> TiuDesc {
        reset_with(tiu_layout(chip))
    }
}

impl TdmaDesc {
    pub fn decode(chip: Chip, bytes: &[u8; TDMA_BYTES]) -> TdmaDesc {
        decode_with(tdma_layout(chip), bytes)
    }
    pub fn encode(&self, chip: Chip) -> Result<[u8; TDMA_BYTES], EncodeError> {
        let v = encode_with(tdma_layout(chip), self)?;
        Ok(v.try_into().expect("layout size"))
    }
    pub fn reset(chip: Chip) -> TdmaDesc {
        reset_with(tdma_layout(chip))
    }
}
