//! `.npz` input and output: arrays keyed by tensor name, held as raw little-endian bytes so that
//! comparisons are byte for byte.

use npyz::npz::{array_name_from_file_name, file_name_from_array_name};
use npyz::WriterBuilder;
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

    /// Array names in the archive's order (zip's `file_names` iterates a hash map, whose order
    /// changes from process to process).
    fn names(&mut self, path: &Path) -> Result<Vec<String>, String> {
        let mut out = Vec::with_capacity(self.0.len());
        for i in 0..self.0.len() {
            let member = self.0.by_index_raw(i).map_err(|e| io_err(path, e))?;
            out.extend(array_name_from_file_name(member.name()).map(str::to_string));
        }
        Ok(out)
    }

    fn by_name(&mut self, path: &Path, name: &str) -> Result<npyz::NpyFile<zip::read::ZipFile<'_>>, String> {
        let member = match self.0.by_name(&file_name_from_array_name(name)) {
            Ok(m) => m,
            Err(zip::result::ZipError::FileNotFound) => return Err(io_err(path, format!("array `{name}` vanished"))),
            Err(e) => return Err(io_err(path, e)),
        };
        npyz::NpyFile::new(member).map_err(|e| io_err(path, format!("array `{name}`: {e}")))
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

macro_rules! read_as {
    ($npy:expr, $t:ty, $path:expr, $name:expr) => {{
        // Straight into the byte vector: a `Vec<$t>` first (grown by doubling, as `into_vec`
        // collects without a size hint) would put up to three copies of an input at the peak.
        // The declared length is only a capacity hint, bounded so that a bad header cannot
        // allocate hugely.
        let size = std::mem::size_of::<$t>();
        let mut bytes = Vec::with_capacity(($npy.len() as usize).saturating_mul(size).min(MAX_PREALLOC));
        let items = $npy.data::<$t>().map_err(|e| io_err($path, format!("array `{}`: {e}", $name)))?;
        for x in items {
            let x = x.map_err(|e| io_err($path, format!("array `{}`: {e}", $name)))?;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes
    }};
}

/// Read every array of an npz file, in the archive's order.
pub fn read(path: &Path) -> Result<Vec<Array>, String> {
    let mut ar = Npz::open(path)?;
    let mut out = Vec::new();
    for name in ar.names(path)? {
        let npy = ar.by_name(path, &name)?;
        if npy.order() != npyz::Order::C {
            return Err(io_err(path, format!("array `{name}` is in Fortran order; cvsim needs C order")));
        }
        let descr = npy.dtype().descr();
        let elem = ElemType::from_descr(descr.trim_matches('\''))
            .ok_or_else(|| io_err(path, format!("array `{name}` has unsupported dtype {descr}")))?;
        let shape = npy.shape().to_vec();
        let data = match elem {
            ElemType::F32 => read_as!(npy, f32, path, name),
            ElemType::I32 => read_as!(npy, i32, path, name),
            ElemType::U32 => read_as!(npy, u32, path, name),
            ElemType::I16 => read_as!(npy, i16, path, name),
            ElemType::U16 => read_as!(npy, u16, path, name),
            ElemType::I8 => read_as!(npy, i8, path, name),
            ElemType::U8 => read_as!(npy, u8, path, name),
        };
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

fn open_array<'a>(
    ar: &'a mut Npz,
    path: &Path,
    name: &str,
) -> Result<(npyz::NpyFile<impl std::io::Read + 'a>, ElemType), String> {
    let npy = ar.by_name(path, name)?;
    if npy.order() != npyz::Order::C {
        return Err(io_err(path, format!("array `{name}` is in Fortran order; cvsim needs C order")));
    }
    let descr = npy.dtype().descr();
    let elem = ElemType::from_descr(descr.trim_matches('\''))
        .ok_or_else(|| io_err(path, format!("array `{name}` has unsupported dtype {descr}")))?;
    Ok((npy, elem))
}

/// The headers of every array of an npz file, in the archive's order; no data is read.
pub fn headers(path: &Path) -> Result<Vec<Header>, String> {
    let mut ar = Npz::open(path)?;
    let mut out = Vec::new();
    for name in ar.names(path)? {
        let (npy, elem) = open_array(&mut ar, path, &name)?;
        let shape = npy.shape().to_vec();
        out.push(Header { name, elem, shape });
    }
    Ok(out)
}

macro_rules! read_into_as {
    ($npy:expr, $t:ty, $out:expr, $path:expr, $name:expr) => {{
        let err = |e: &dyn std::fmt::Display| io_err($path, format!("array `{}`: {e}", $name));
        let size = std::mem::size_of::<$t>();
        let mut items = $npy.data::<$t>().map_err(|e| err(&e))?;
        for dst in $out.chunks_exact_mut(size) {
            let x = items.next().ok_or_else(|| err(&"fewer elements than its shape"))?.map_err(|e| err(&e))?;
            dst.copy_from_slice(&x.to_le_bytes());
        }
    }};
}

/// Read array `name` straight into `out`, which must be exactly [`Header::bytes`] long (the
/// caller sized it from [`headers`]).
pub fn read_into(path: &Path, name: &str, out: &mut [u8]) -> Result<(), String> {
    let mut ar = Npz::open(path)?;
    let (npy, elem) = open_array(&mut ar, path, name)?;
    let want = Header { name: name.to_string(), elem, shape: npy.shape().to_vec() }.bytes();
    if want != out.len() as u64 {
        return Err(io_err(path, format!("array `{name}` holds {want} bytes, {} expected", out.len())));
    }
    match elem {
        ElemType::F32 => read_into_as!(npy, f32, out, path, name),
        ElemType::I32 => read_into_as!(npy, i32, out, path, name),
        ElemType::U32 => read_into_as!(npy, u32, out, path, name),
        ElemType::I16 => read_into_as!(npy, i16, out, path, name),
        ElemType::U16 => read_into_as!(npy, u16, out, path, name),
        ElemType::I8 => read_into_as!(npy, i8, out, path, name),
        ElemType::U8 => read_into_as!(npy, u8, out, path, name),
    }
    Ok(())
}

macro_rules! write_as {
    ($w:expr, $a:expr, $t:ty, $opts:expr) => {{
        $w.start_file(file_name_from_array_name(&$a.name), $opts)?;
        let mut aw = npyz::WriteOptions::<$t>::new().default_dtype().shape(&$a.shape).writer(&mut $w).begin_nd()?;
        let n = std::mem::size_of::<$t>();
        aw.extend($a.data.chunks_exact(n).map(|c| <$t>::from_le_bytes(c.try_into().expect("element size"))))?;
        aw.finish()?;
    }};
}

/// Write arrays to a deflate-compressed npz file.
pub fn write(path: &Path, arrays: &[Array]) -> Result<(), String> {
    let go = || -> std::io::Result<()> {
        let mut w = zip::ZipWriter::new(BufWriter::new(File::create(path)?));
        for a in arrays {
            let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            match a.elem {
                ElemType::F32 => write_as!(w, a, f32, opts),
                ElemType::I32 => write_as!(w, a, i32, opts),
                ElemType::U32 => write_as!(w, a, u32, opts),
                ElemType::I16 => write_as!(w, a, i16, opts),
                ElemType::U16 => write_as!(w, a, u16, opts),
                ElemType::I8 => write_as!(w, a, i8, opts),
                ElemType::U8 => write_as!(w, a, u8, opts),
            }
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

    #[test]
    fn arrays_come_back_in_archive_order() {
        let names = ["z", "input", "b_f32", "a", "out_1", "9", "m", "conv/weight"];
        let arrays: Vec<Array> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Array { name: n.to_string(), elem: ElemType::U8, shape: vec![1], data: vec![i as u8] })
            .collect();
        let path = std::env::temp_dir().join(format!("cvsim-npz-order-{}.npz", std::process::id()));
        write(&path, &arrays).unwrap();
        let back = read(&path);
        let heads = headers(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back.unwrap(), arrays);
        assert_eq!(heads.unwrap().iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), names);
    }
}
