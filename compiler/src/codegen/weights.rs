//! The weight section (region 1): every constant a layer loads, 16-byte aligned, with its
//! weight-map entry.

use cvsim_runtime::cvimodel::DType;

#[derive(Clone, Debug, PartialEq)]
pub struct WeightEntry {
    pub name: String,
    pub offset: u64,
    pub size: usize,
    pub shape: [i64; 4],
    pub dtype: DType,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    pub bytes: Vec<u8>,
    pub map: Vec<WeightEntry>,
}

impl Weights {
    /// Append `data`; returns its offset in region 1.
    pub fn add(&mut self, name: String, data: &[u8], shape: [i64; 4], dtype: DType) -> u64 {
        let offset = self.bytes.len().div_ceil(16) * 16;
        self.bytes.resize(offset, 0);
        self.bytes.extend_from_slice(data);
        self.map.push(WeightEntry { name, offset: offset as u64, size: data.len(), shape, dtype });
        offset as u64
    }
}
