//! Printing local and global memory for the debugger, with the bounds checks a typed-in address
//! needs.

use super::command::{Addr, Format};
use cvsim_isa::chip::LMEM_SHIFT;
use cvsim_isa::disasm::region_name;
use cvsim_sim::memory::LTensor;
use cvsim_sim::Machine;
use std::fmt::Write;

/// More than a screenful is a typo, not a request.
const MAX_ELEMS: u64 = 1 << 16;
const MAX_BYTES: usize = 1 << 20;

/// Whether an address a write breakpoint names exists.
pub fn check_addr(m: &Machine, a: Addr) -> Result<(), String> {
    match a {
        Addr::Global { region, offset } => {
            let d = m.gmem.device_addr(region, offset);
            m.gmem.locate(d, 1).map(|_| ()).ok_or_else(|| not_allocated(a, d))
        }
        Addr::Local { lane, offset } => check_local(m, lane, offset),
    }
}

fn not_allocated(a: Addr, device: u64) -> String {
    format!("{a} (device address {device:#x}) is not inside an allocated region")
}

fn check_local(m: &Machine, lane: u32, offset: u32) -> Result<(), String> {
    if lane >= m.lmem.lanes {
        return Err(format!("lane {lane} is out of range: the chip has {} lanes", m.lmem.lanes));
    }
    if offset >= m.lmem.per_lane {
        return Err(format!("offset {offset:#x} is out of range: a lane has {:#x} bytes", m.lmem.per_lane));
    }
    Ok(())
}

fn value(bytes: &[u8], format: Format) -> String {
    match format {
        Format::Hex => format!("{:02x}", bytes[0]),
        Format::I8 => format!("{:>4}", bytes[0] as i8),
        Format::U8 => format!("{:>3}", bytes[0]),
        Format::Bf16 => {
            let v = u16::from_le_bytes([bytes[0], bytes[1]]);
            format!("{:>9}", format!("{}", f32::from_bits((v as u32) << 16)))
        }
    }
}

fn name(format: Format) -> &'static str {
    match format {
        Format::Hex => "hex",
        Format::I8 => "i8",
        Format::U8 => "u8",
        Format::Bf16 => "bf16",
    }
}

/// A local tensor, one line per (n, c, h) row; channel `c` is in lane `(lane + c) % lanes` as the
/// TPU lays it out. Without `stride` the tensor is compact (byte strides).
pub fn local(
    m: &Machine,
    lane: u32,
    offset: u32,
    shape: [u32; 4],
    stride: Option<[u32; 4]>,
    format: Format,
) -> Result<String, String> {
    check_local(m, lane, offset)?;
    let esz = format.size() as u32;
    let [n, c, h, w] = shape;
    let stride = stride.unwrap_or_else(|| {
        let c_str = h.saturating_mul(w).saturating_mul(esz);
        [(lane + c).div_ceil(m.lmem.lanes).saturating_mul(c_str), c_str, w.saturating_mul(esz), esz]
    });
    let count = n as u64 * c as u64 * h as u64 * w as u64;
    if count > MAX_ELEMS {
        return Err(format!("{count} elements is more than {MAX_ELEMS}: print a smaller shape"));
    }
    let t = LTensor {
        addr: lane << LMEM_SHIFT | offset,
        n,
        c,
        h,
        w,
        n_str: stride[0],
        c_str: stride[1],
        h_str: stride[2],
        w_str: stride[3],
        esz,
    };
    let bases = t.channel_bases(&m.lmem, "printed tensor").map_err(|e| e.to_string())?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "L{lane}:{offset:#06x} ({n},{c},{h},{w}) stride ({},{},{},{}) {}",
        stride[0],
        stride[1],
        stride[2],
        stride[3],
        name(format)
    );
    for ni in 0..n {
        for (ci, &base) in bases.iter().enumerate() {
            for hi in 0..h {
                let _ = write!(o, "[{ni},{ci},{hi}]");
                for wi in 0..w {
                    let k = base + t.inner(ni, hi, wi);
                    let _ = write!(o, " {}", value(&m.lmem.data[k..k + esz as usize], format));
                }
                o.push('\n');
            }
        }
    }
    Ok(o)
}

/// `len` bytes of global memory from base register `region` + `offset`, 16 bytes a line.
pub fn global(m: &Machine, region: u32, offset: u64, len: usize, format: Format) -> Result<String, String> {
    let a = Addr::Global { region, offset };
    if len > MAX_BYTES {
        return Err(format!("{len} bytes is more than {MAX_BYTES}: print less"));
    }
    if len % format.size() != 0 {
        return Err(format!("{len} bytes is not a whole number of bf16 values"));
    }
    let d = m.gmem.device_addr(region, offset);
    let (r, start) = m
        .gmem
        .locate(d, len.max(1) as u64)
        .ok_or_else(|| format!("{a}: {len} bytes from device address {d:#x} are not inside one allocated region"))?;
    let bytes = &m.gmem.regions[r].data[start..start + len];
    let mut o = String::new();
    let per_line = 16 / format.size();
    for (k, row) in bytes.chunks(16).enumerate() {
        let _ = write!(o, "{}+{:#06x}:", region_name(region), offset + 16 * k as u64);
        for v in row.chunks(format.size()).take(per_line) {
            let _ = write!(o, " {}", value(v, format));
        }
        o.push('\n');
    }
    Ok(o)
}
