//! Element types and quantisation kinds of the schema, as plain Rust enums.

use serde::Serialize;

/// A tensor element type (`cvi.model.DType`, numbered like `CVI_FMT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    #[serde(rename = "fp32")]
    F32,
    #[serde(rename = "int32")]
    I32,
    #[serde(rename = "uint32")]
    U32,
    #[serde(rename = "bf16")]
    Bf16,
    #[serde(rename = "int16")]
    I16,
    #[serde(rename = "uint16")]
    U16,
    #[serde(rename = "int8")]
    I8,
    #[serde(rename = "uint8")]
    U8,
}

impl DType {
    pub const ALL: [DType; 8] = [DType::F32, DType::I32, DType::U32, DType::Bf16, DType::I16, DType::U16, DType::I8, DType::U8];

    /// The schema / `CVI_FMT` number.
    pub fn from_code(v: u8) -> Option<DType> {
        DType::ALL.get(v as usize).copied()
    }

    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::Bf16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 => 1,
        }
    }

    /// The name `cvimodel_tool` prints.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "fp32",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::Bf16 => "bf16",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `cvi.model.QuantType`. Real files leave it NONE and carry the factor in `qscale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuantType {
    None,
    Bf16,
    Int8Sym,
    Int8Asym,
}

impl QuantType {
    pub fn from_code(v: u8) -> Option<QuantType> {
        [QuantType::None, QuantType::Bf16, QuantType::Int8Sym, QuantType::Int8Asym].get(v as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_sizes() {
        for d in DType::ALL {
            assert_eq!(DType::from_code(d.code()), Some(d));
        }
        assert_eq!(DType::from_code(8), None);
        assert_eq!(DType::Bf16.size(), 2);
        assert_eq!(DType::U32.size(), 4);
        assert_eq!(DType::I8.name(), "int8");
        assert_eq!(serde_json::to_string(&DType::Bf16).unwrap(), "\"bf16\"");
    }
}
