//! `.npz` input and output: arrays keyed by tensor name, held as raw little-endian bytes so that
//! comparisons are byte for byte.

use npyz::npz::{array_name_from_file_name, file_name_from_array_name};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

/// An npz file: a zip archive of `NAME.npy` members, stored or deflated (what NumPy writes).
struct Npz(zip::ZipArchive<BufReader<File>>);

impl Npz {
    fn open(path: &Path) -> Result<Npz, String> {
        let f = File::open(path).map_err(|e| io_err(path, e))?;
        zip::ZipArchive::new(BufReader::new(f)).map(Npz).map_err(|e| io_err(path, e))
    }

    /// Array names in the archive's order (`file_names` iterates a hash map, so ask by index).
    fn names(&mut self) -> Vec<String> {
        (0..self.0.len())
            .filter_map(|i| self.0.by_index_raw(i).ok().map(|m| m.name().to_string()))
            .filter_map(|n| array_name_from_file_name(&n).map(str::to_string))
            .collect()
    }

    /// Member `NAME.npy`: its parsed header, and the member positioned at the first data byte.
    fn by_name(&mut self, path: &Path, name: &str) -> Result<(npyz::NpyHeader, zip::read::ZipFile<'_>), String> {
        let mut member = match self.0.by_name(&file_name_from_array_name(name)) {
            Ok(m) => m,
            Err(zip::result::ZipError::FileNotFound) => return Err(io_err(path, format!("array `{name}` vanished"))),
            Err(e) => return Err(io_err(path, e)),
        };
        let header =
            npyz::NpyHeader::from_reader(&mut member).map_err(|e| io_err(path, format!("array `{name}`: {e}")))?;
        Ok((header, member))
    }
}

/// Element types cvsim reads and writes (the runtime's tensor formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    F32,
    I32,
    U32,
    I16,
    U16,
    I8,
    U8,
}

impl ElemType {
    pub fn size(self) -> usize {
        match self {
            ElemType::F32 | ElemType::I32 | ElemType::U32 => 4,
            ElemType::I16 | ElemType::U16 => 2,
            ElemType::I8 | ElemType::U8 => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "float32",
            ElemType::I32 => "int32",
            ElemType::U32 => "uint32",
            ElemType::I16 => "int16",
            ElemType::U16 => "uint16",
            ElemType::I8 => "int8",
            ElemType::U8 => "uint8",
        }
    }
    fn from_descr(d: &str) -> Option<ElemType> {
        Some(match d {
            "<f4" => ElemType::F32,
            "<i4" => ElemType::I32,
            "<u4" => ElemType::U32,
            "<i2" => ElemType::I16,
            "<u2" => ElemType::U16,
            "|i1" | "<i1" => ElemType::I8,
            "|u1" | "<u1" => ElemType::U8,
            _ => return None,
        })
    }
}

/// One array of an npz file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<u64>,
    /// Little-endian element bytes in C order.
    pub data: Vec<u8>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Most bytes reserved up front for one array, whatever its header declares.
const MAX_PREALLOC: usize = 64 << 20;

/// The element type and shape of a member whose header was just parsed, or why cvsim cannot take it.
fn describe(path: &Path, name: &str, h: &npyz::NpyHeader) -> Result<(ElemType, Vec<u64>), String> {
    if h.order() != npyz::Order::C {
        return Err(io_err(path, format!("array `{name}` is in Fortran order; cvsim needs C order")));
    }
    let descr = h.dtype().descr();
    let elem = ElemType::from_descr(descr.trim_matches('\''))
        .ok_or_else(|| io_err(path, format!("array `{name}` has unsupported dtype {descr}")))?;
    Ok((elem, h.shape().to_vec()))
}

/// Every accepted dtype is little-endian or single-byte, which is also how [`Array::data`] holds
/// elements: the member's data bytes are the array's bytes, read in one go, never element by element.
fn short(path: &Path, name: &str, want: u64, got: u64) -> String {
    io_err(path, format!("array `{name}`: its data ends after {got} of {want} bytes"))
}

/// Read every array of an npz file, in the archive's order.
pub fn read(path: &Path) -> Result<Vec<Array>, String> {
    use std::io::Read;
    let mut ar = Npz::open(path)?;
    let mut out = Vec::new();
    for name in ar.names() {
        let (h, member) = ar.by_name(path, &name)?;
        let (elem, shape) = describe(path, &name, &h)?;
        let want = Header { name: name.clone(), elem, shape: shape.clone() }.bytes();
        // The declared length is only a capacity hint, bounded so that a bad header cannot
        // allocate hugely; the data must then hold it all.
        let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(usize::MAX).min(MAX_PREALLOC));
        member.take(want).read_to_end(&mut data).map_err(|e| io_err(path, format!("array `{name}`: {e}")))?;
        if data.len() as u64 != want {
            return Err(short(path, &name, want, data.len() as u64));
        }
        out.push(Array { name, elem, shape, data });
    }
    Ok(out)
}

/// An array's name, element type and shape, without its data.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<u64>,
}

impl Header {
    /// Bytes of its data (saturating: a header may declare anything).
    pub fn bytes(&self) -> u64 {
        self.shape.iter().fold(self.elem.size() as u64, |a, &d| a.saturating_mul(d))
    }
}

/// The headers of every array of an npz file, in the archive's order; no data is read.
pub fn headers(path: &Path) -> Result<Vec<Header>, String> {
    let mut ar = Npz::open(path)?;
    let mut out = Vec::new();
    for name in ar.names() {
        let (h, _) = ar.by_name(path, &name)?;
        let (elem, shape) = describe(path, &name, &h)?;
        out.push(Header { name, elem, shape });
    }
    Ok(out)
}

/// Read array `name` straight into `out`, which must be exactly [`Header::bytes`] long (the
/// caller sized it from [`headers`]).
pub fn read_into(path: &Path, name: &str, out: &mut [u8]) -> Result<(), String> {
    use std::io::Read;
    let mut ar = Npz::open(path)?;
    let (h, mut member) = ar.by_name(path, name)?;
    let (elem, shape) = describe(path, name, &h)?;
    let want = Header { name: name.to_string(), elem, shape }.bytes();
    if want != out.len() as u64 {
        return Err(io_err(path, format!("array `{name}` holds {want} bytes, {} expected", out.len())));
    }
    let mut got = 0;
    while got < out.len() {
        match member.read(&mut out[got..]) {
            Ok(0) => return Err(short(path, name, want, got as u64)),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path, format!("array `{name}`: {e}"))),
        }
    }
    Ok(())
}

/// How [`write_with`] stores each member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// As NumPy's `np.savez`: the bytes as they are.
    #[default]
    Stored,
    /// As `np.savez_compressed`: deflated.
    Deflated,
}

/// The `.npy` header NumPy writes (format 1.0): magic, version, length, then the dictionary
/// padded with spaces and a newline so that the data starts at a multiple of 64 bytes.
fn npy_header(a: &Array) -> Vec<u8> {
    let descr = match a.elem {
        ElemType::F32 => "<f4",
        ElemType::I32 => "<i4",
        ElemType::U32 => "<u4",
        ElemType::I16 => "<i2",
        ElemType::U16 => "<u2",
        ElemType::I8 => "|i1",
        ElemType::U8 => "|u1",
    };
    let dims: String = match a.shape.as_slice() {
        [d] => format!("{d},"),
        s => s.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}");
    // 10 bytes of magic, version and length come first; the newline ends the header.
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    dict.extend(std::iter::repeat(' ').take(pad));
    dict.push('\n');
    let (len, mut out) = (dict.len(), b"\x93NUMPY\x01\x00".to_vec());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Write arrays to an npz file stored as `np.savez` writes it.
pub fn write(path: &Path, arrays: &[Array]) -> Result<(), String> {
    write_with(path, arrays, Compression::Stored)
}

/// Write arrays to an npz file, each member stored or deflated.
pub fn write_with(path: &Path, arrays: &[Array], how: Compression) -> Result<(), String> {
    use std::io::Write;
    let go = || -> std::io::Result<()> {
        let mut w = zip::ZipWriter::new(BufWriter::new(File::create(path)?));
        let method = match how {
            Compression::Stored => zip::CompressionMethod::Stored,
            Compression::Deflated => zip::CompressionMethod::Deflated,
        };
        for a in arrays {
            let header = npy_header(a);
            let big = (header.len() + a.data.len()) as u64 >= u32::MAX as u64;
            let opts = zip::write::FileOptions::default().compression_method(method).large_file(big);
            w.start_file(file_name_from_array_name(&a.name), opts)?;
            w.write_all(&header)?;
            w.write_all(&a.data)?;
        }
        // Dropping the writer would finish the archive too, but without reporting an error.
        w.finish()?;
        Ok(())
    };
    go().map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays() -> Vec<Array> {
        vec![
            Array { name: "x".into(), elem: ElemType::F32, shape: vec![1, 3, 2, 1], data: (0..24).collect() },
            Array { name: "flat".into(), elem: ElemType::U16, shape: vec![3], data: vec![1, 2, 3, 4, 5, 6] },
            Array { name: "s".into(), elem: ElemType::I8, shape: vec![], data: vec![0x80] },
        ]
    }

    #[test]
    fn stored_and_deflated_read_back_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("cvsim-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for how in [Compression::Stored, Compression::Deflated] {
            let p = dir.join(format!("{how:?}.npz"));
            write_with(&p, &arrays(), how).unwrap();
            assert_eq!(read(&p).unwrap(), arrays());
            let mut x = vec![0u8; 24];
            read_into(&p, "x", &mut x).unwrap();
            assert_eq!(x, arrays()[0].data);
            let raw = std::fs::read(&p).unwrap();
            // Stored members hold the npy bytes verbatim, data 64-byte aligned within the member.
            let npy_at = raw.windows(6).position(|w| w == b"\x93NUMPY");
            assert_eq!(npy_at.is_some(), how == Compression::Stored);
            if let Some(at) = npy_at {
                let hlen = u16::from_le_bytes([raw[at + 8], raw[at + 9]]) as usize;
                assert_eq!((10 + hlen) % 64, 0);
                assert_eq!(&raw[at + 10 + hlen..at + 10 + hlen + 24], &arrays()[0].data[..]);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_member_shorter_than_its_shape_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("cvsim-npz-short-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("short.npz");
        let mut a = arrays();
        a[0].data.truncate(20);
        write(&p, &a[..1]).unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.contains("array `x`: its data ends after 20 of 24 bytes"), "{e}");
        let e = read_into(&p, "x", &mut [0u8; 24]).unwrap_err();
        assert!(e.contains("array `x`: its data ends after 20 of 24 bytes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
