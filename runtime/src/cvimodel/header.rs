//! The fixed header in front of the flatbuffer body (spec runtime.md §1.2).

use super::ModelError;
use cvsim_isa::Chip;
use md5::{Digest, Md5};
use serde::{Serialize, Serializer};

pub const MAGIC: &[u8; 8] = b"CviModel";
/// Current header: magic, body_size, major, minor, md5, chip (16 bytes), padding (2 bytes).
pub const HEADER_BYTES: usize = 48;
/// Version 1.0 header: the same without the chip field.
pub const HEADER_V1_0_BYTES: usize = 32;

/// The decoded file header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    pub major: u8,
    pub minor: u8,
    /// MD5 of everything after the header, as written by tpu-mlir (the runtime does not check it).
    #[serde(serialize_with = "hex_md5")]
    pub md5: [u8; 16],
    /// From the chip field; a 1.0 header has none and means cv183x, as in the runtime.
    pub chip: Chip,
    pub body_size: u32,
    /// 48, or 32 for a version 1.0 header.
    pub len: usize,
    /// The last two bytes: tpu-mlir writes `Cv`, `cvimodel_tool` (merge) writes `AA` and leaves the
    /// MD5 unset. Ignored by the runtime.
    #[serde(serialize_with = "lossy_str")]
    pub padding: [u8; 2],
}

impl Header {
    pub fn parse(file: &[u8]) -> Result<Header, ModelError> {
        // The magic is checked first so that a non-cvimodel gets the more useful message.
        if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
            if file.len() < HEADER_V1_0_BYTES {
                return Err(ModelError::TooShort { len: file.len(), need: HEADER_V1_0_BYTES });
            }
            return Err(ModelError::BadMagic { found: String::from_utf8_lossy(&file[..MAGIC.len()]).into_owned() });
        }
        if file.len() < HEADER_V1_0_BYTES {
            return Err(ModelError::TooShort { len: file.len(), need: HEADER_V1_0_BYTES });
        }
        let body_size = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
        let (major, minor) = (file[12], file[13]);
        let md5: [u8; 16] = file[14..30].try_into().expect("16 bytes");
        let (chip, len) = if (major, minor) == (1, 0) {
            (Chip::of_v1_0_header(), HEADER_V1_0_BYTES)
        } else {
            if file.len() < HEADER_BYTES {
                return Err(ModelError::TooShort { len: file.len(), need: HEADER_BYTES });
            }
            let raw = &file[30..46];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            let found = String::from_utf8_lossy(&raw[..end]).into_owned();
            let chip = found.parse::<Chip>().map_err(|_| ModelError::UnknownChip { found })?;
            (chip, HEADER_BYTES)
        };
        let end = len as u64 + body_size as u64;
        if end > file.len() as u64 {
            return Err(ModelError::BodyPastEnd { body_size, start: len, end, file_len: file.len() });
        }
        let padding = [file[len - 2], file[len - 1]];
        Ok(Header { major, minor, md5, chip, body_size, len, padding })
    }

    /// Where the binary payload (the sections) starts.
    pub fn payload_start(&self) -> usize {
        self.len + self.body_size as usize
    }

    /// The MD5 of everything after the header.
    pub fn computed_md5(&self, file: &[u8]) -> [u8; 16] {
        Md5::digest(file.get(self.len..).unwrap_or(&[])).into()
    }

    pub fn md5_matches(&self, file: &[u8]) -> bool {
        self.computed_md5(file) == self.md5
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn lossy_str<S: Serializer>(b: &[u8; 2], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

fn hex_md5<S: Serializer>(md5: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(md5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(chip: &[u8], major: u8, minor: u8, body: u32, total: usize) -> Vec<u8> {
        let mut f = vec![0u8; total];
        f[..8].copy_from_slice(MAGIC);
        f[8..12].copy_from_slice(&body.to_le_bytes());
        f[12] = major;
        f[13] = minor;
        f[30..30 + chip.len()].copy_from_slice(chip);
        f
    }

    #[test]
    fn parses_48_byte_header() {
        let f = header(b"cv181x", 1, 4, 10, 58);
        let h = Header::parse(&f).unwrap();
        assert_eq!((h.chip, h.len, h.body_size, h.payload_start()), (Chip::Cv181x, 48, 10, 58));
    }

    #[test]
    fn v1_0_header_is_32_bytes_and_cv183x() {
        let mut f = header(b"", 1, 0, 4, 36);
        f[30] = b'x'; // would be the chip field in a 1.4 header: must be ignored
        let h = Header::parse(&f).unwrap();
        assert_eq!((h.chip, h.len), (Chip::Cv183x, 32));
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(Header::parse(b"CviMo"), Err(ModelError::TooShort { .. })));
        assert!(matches!(Header::parse(&header(b"cv181x", 1, 4, 0, 40)), Err(ModelError::TooShort { need: 48, .. })));
        let mut f = header(b"cv181x", 1, 4, 0, 48);
        f[0] = b'X';
        assert!(matches!(Header::parse(&f), Err(ModelError::BadMagic { .. })));
        assert!(matches!(Header::parse(&header(b"cv999x", 1, 4, 0, 48)), Err(ModelError::UnknownChip { .. })));
        let e = Header::parse(&header(b"cv181x", 1, 4, 11, 58)).unwrap_err();
        assert!(matches!(e, ModelError::BodyPastEnd { end: 59, .. }), "{e}");
        // A huge body_size must not overflow.
        assert!(matches!(Header::parse(&header(b"cv181x", 1, 4, u32::MAX, 48)), Err(ModelError::BodyPastEnd { .. })));
    }
}
