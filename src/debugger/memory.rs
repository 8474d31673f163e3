//! Printing local and global memory for the debugger, with the bounds checks a typed-in address
//! needs.

use super::command::{Addr, Format};
use cvsim_isa::chip::LMEM_SHIFT;
use cvsim_isa::Operand;
use cvsim_isa::Region;
use cvsim_sim::memory::{LTensor, Label};
use cvsim_sim::Machine;
use std::fmt::Write;

/// More than a screenful is a typo, not a request.
const MAX_ELEMS: u64 = 1 << 16;
const MAX_BYTES: usize = 1 << 20;

/// Whether an address a write breakpoint names exists.
pub fn check_addr(m: &Machine, a: Addr) -> Result<(), String> {
    match a {
        Addr::Global { region, offset } => {
            let d = m.gmem.device_addr(region.number() as u32, offset);
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
    // Printing only reads; as an input operand no descriptor writes it.
    let bases = t.channel_bases(&m.lmem, Label::new(Operand::Opd0, "printed tensor")).map_err(|e| e.to_string())?;
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
pub fn global(m: &Machine, region: Region, offset: u64, len: usize, format: Format) -> Result<String, String> {
    let a = Addr::Global { region, offset };
    if len > MAX_BYTES {
        return Err(format!("{len} bytes is more than {MAX_BYTES}: print less"));
    }
    if len % format.size() != 0 {
        return Err(format!("{len} bytes is not a whole number of bf16 values"));
    }
    let d = m.gmem.device_addr(region.number() as u32, offset);
    let (r, start) = m
        .gmem
        .locate(d, len.max(1) as u64)
        .ok_or_else(|| format!("{a}: {len} bytes from device address {d:#x} are not inside one allocated region"))?;
    let bytes = &m.gmem.regions[r].data[start..start + len];
    let mut o = String::new();
    let per_line = 16 / format.size();
    for (k, row) in bytes.chunks(16).enumerate() {
        let _ = write!(o, "{}+{:#06x}:", region.name(), offset + 16 * k as u64);
        for v in row.chunks(format.size()).take(per_line) {
            let _ = write!(o, " {}", value(v, format));
        }
        o.push('\n');
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvsim_isa::Chip;

    #[test]
    fn local_tensor_follows_the_lane_layout() {
        let mut m = Machine::new(Chip::Cv181x);
        // bf16 1.5 and -2.0 in channel 0 (lane 1), 0.25 and 3.0 in channel 1 (lane 2).
        let (a, b) = (m.lmem.index(1, 0x10), m.lmem.index(2, 0x10));
        m.lmem.data[a..a + 4].copy_from_slice(&[0xC0, 0x3F, 0x00, 0xC0]);
        m.lmem.data[b..b + 4].copy_from_slice(&[0x80, 0x3E, 0x40, 0x40]);
        let s = local(&m, 1, 0x10, [1, 2, 1, 2], None, Format::Bf16).unwrap();
        assert_eq!(
            s,
            "L1:0x0010 (1,2,1,2) stride (4,4,4,2) bf16\n[0,0,0]       1.5        -2\n[0,1,0]      0.25         3\n"
        );
        let s = local(&m, 1, 0x10, [1, 1, 1, 4], None, Format::U8).unwrap();
        assert_eq!(s, "L1:0x0010 (1,1,1,4) stride (4,4,4,1) u8\n[0,0,0] 192  63   0 192\n");
        let s = local(&m, 1, 0x10, [1, 1, 1, 4], None, Format::I8).unwrap();
        assert_eq!(s, "L1:0x0010 (1,1,1,4) stride (4,4,4,1) i8\n[0,0,0]  -64   63    0  -64\n");
        assert!(local(&m, 8, 0, [1, 1, 1, 1], None, Format::I8).is_err());
        assert!(local(&m, 0, 0, [1, 1, 256, 256], None, Format::I8).is_err());
    }

    #[test]
    fn global_bytes_through_a_base_register() {
        let mut m = Machine::new(Chip::Cv181x);
        let r = m.gmem.add_region(Region::IO_FIRST.name(), 0x1000, 20);
        m.gmem.base_regs[3] = 0x1000;
        m.gmem.regions[r].data[16..20].copy_from_slice(&[0x80, 0x3F, 0x00, 0xC0]);
        assert_eq!(
            global(&m, Region::IO_FIRST, 0, 20, Format::Hex).unwrap(),
            "io3+0x0000: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\nio3+0x0010: 80 3f 00 c0\n"
        );
        assert_eq!(global(&m, Region::IO_FIRST, 16, 4, Format::Bf16).unwrap(), "io3+0x0010:         1        -2\n");
        assert!(global(&m, Region::IO_FIRST, 16, 5, Format::Hex).is_err());
        assert!(global(&m, Region::IO_FIRST, 17, 4, Format::Hex).is_err());
        assert!(global(&m, Region::io(1).unwrap(), 0, 1, Format::Hex).is_err());
    }
}
