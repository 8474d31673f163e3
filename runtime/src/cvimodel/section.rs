//! Sections: named blobs in the payload after the flatbuffer body (spec runtime.md §1.4).

use super::ModelError;
use serde::Serialize;
use std::borrow::Cow;

/// Never inflate a section beyond this, whatever the file declares.
pub const MAX_DECOMPRESSED: u32 = 1 << 30;

/// `cvi.model.SectionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SectionType {
    Weight,
    Cmdbuf,
    FuncX86,
    FuncAarch64,
    Dmabuf,
}

impl SectionType {
    pub fn from_code(v: u8) -> Option<SectionType> {
        use SectionType::*;
        [Weight, Cmdbuf, FuncX86, FuncAarch64, Dmabuf].get(v as usize).copied()
    }

    /// The name `cvimodel_tool -a dump` prints.
    pub const fn tool_name(self) -> &'static str {
        match self {
            SectionType::Weight => "weight",
            SectionType::Cmdbuf => "cmdbuf",
            SectionType::FuncX86 => "x86_64",
            SectionType::FuncAarch64 => "aarch64",
            SectionType::Dmabuf => "dmabuf",
        }
    }
}

/// One section as declared in the flatbuffer, with its position in the file resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Section {
    pub kind: SectionType,
    pub name: String,
    /// Bytes stored in the file (the compressed size when `compress`).
    pub size: u32,
    /// Offset into the payload, as declared.
    pub offset: u32,
    pub encrypt: bool,
    /// LZ4 block compression.
    pub compress: bool,
    pub decompressed_size: u32,
    /// `header length + body_size + offset`: where the stored bytes start in the file.
    pub file_offset: u64,
}

impl Section {
    /// Size of the contents once decompressed.
    pub fn content_size(&self) -> u32 {
        if self.compress {
            self.decompressed_size
        } else {
            self.size
        }
    }

    /// The stored bytes (still compressed if `compress`). The range was checked at load time; this
    /// checks again so that it cannot panic on a `Section` built by hand.
    pub fn stored<'a>(&self, file: &'a [u8]) -> Result<&'a [u8], ModelError> {
        let end = self.file_offset.saturating_add(self.size as u64);
        let range = usize::try_from(self.file_offset).ok().zip(usize::try_from(end).ok());
        range.and_then(|(s, e)| file.get(s..e)).ok_or_else(|| ModelError::SectionNotInBuffer {
            name: self.name.clone(),
            start: self.file_offset,
            end,
            len: file.len(),
        })
    }

    /// The section's contents, LZ4-decompressed when needed. Never allocates more than
    /// `decompressed_size`, which is itself bounded by [`Section::check_declared_size`].
    pub fn read<'a>(&self, file: &'a [u8]) -> Result<Cow<'a, [u8]>, ModelError> {
        if self.encrypt {
            return Err(ModelError::Encrypted { name: self.name.clone(), file_offset: self.file_offset });
        }
        let stored = self.stored(file)?;
        if !self.compress {
            return Ok(Cow::Borrowed(stored));
        }
        self.check_declared_size()?;
        let declared = self.decompressed_size;
        let out = lz4_flex::block::decompress(stored, declared as usize).map_err(|e| ModelError::Decompress {
            name: self.name.clone(),
            file_offset: self.file_offset,
            declared,
            why: e.to_string(),
        })?;
        if out.len() != declared as usize {
            return Err(ModelError::Decompress {
                name: self.name.clone(),
                file_offset: self.file_offset,
                declared,
                why: format!("got {} bytes", out.len()),
            });
        }
        Ok(Cow::Owned(out))
    }

    /// Reject a declared decompressed size that no LZ4 block of this size can produce, so that a
    /// corrupt file cannot make us allocate gigabytes.
    pub fn check_declared_size(&self) -> Result<(), ModelError> {
        if !self.compress {
            return Ok(());
        }
        // An LZ4 block expands at most about 255:1 (each extra length byte adds 255).
        let max_ratio = (self.size as u64) * 256 + 64;
        let why = if self.decompressed_size > MAX_DECOMPRESSED {
            "above the 1 GiB limit"
        } else if self.decompressed_size as u64 > max_ratio {
            "more than an LZ4 block of the stored size can produce"
        } else {
            return Ok(());
        };
        Err(ModelError::SectionTooLarge {
            name: self.name.clone(),
            file_offset: self.file_offset,
            size: self.size,
            declared: self.decompressed_size,
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(size: u32, compress: bool, decompressed_size: u32) -> Section {
        Section {
            kind: SectionType::Cmdbuf,
            name: "s".into(),
            size,
            offset: 0,
            encrypt: false,
            compress,
            decompressed_size,
            file_offset: 4,
        }
    }

    #[test]
    fn plain_and_compressed_reads() {
        let data = b"abcdabcdabcdabcdabcdabcdabcd".repeat(4);
        let packed = lz4_flex::block::compress(&data);
        let mut file = vec![0u8; 4];
        file.extend_from_slice(&packed);
        let s = sec(packed.len() as u32, true, data.len() as u32);
        assert_eq!(&*s.read(&file).unwrap(), &data[..]);
        let plain = sec(3, false, 0);
        assert_eq!(&*plain.read(&file).unwrap(), &file[4..7]);
        // Declared size too small or too large: an error, not a panic or a short read.
        assert!(matches!(sec(packed.len() as u32, true, 10).read(&file), Err(ModelError::Decompress { .. })));
        assert!(matches!(sec(packed.len() as u32, true, data.len() as u32 + 1).read(&file), Err(ModelError::Decompress { .. })));
    }

    #[test]
    fn absurd_sizes_rejected_before_allocating() {
        let file = vec![0u8; 16];
        assert!(matches!(sec(8, true, u32::MAX).read(&file), Err(ModelError::SectionTooLarge { .. })));
        assert!(matches!(sec(8, true, 100_000).read(&file), Err(ModelError::SectionTooLarge { .. })));
        assert!(matches!(sec(100, false, 0).read(&file), Err(ModelError::SectionNotInBuffer { .. })));
        let mut enc = sec(4, false, 0);
        enc.encrypt = true;
        assert!(matches!(enc.read(&file), Err(ModelError::Encrypted { .. })));
    }
}
