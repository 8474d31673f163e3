//! General copy (`trans_fmt = 1`, spec `isa.md` §4.2): a flat copy of `src_n_stride` bytes; shapes
//! and the other strides are ignored.

use super::convert::formats;
use super::walk::two_regions;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{Gmem, Lmem};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, Direction, TdmaDesc};

pub(crate) fn exec(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    let (s, t) = formats(d)?;
    if s != t {
        return Err(ExecErrorKind::Unsupported {
            what: format!("TDMA general copy {} → {} (only same-format copies)", s.name(), t.name()),
        });
    }
    if d.spec_func != 0 || d.sys_dtype != 0 {
        let (field, value) = if d.spec_func != 0 { ("spec_func", d.spec_func) } else { ("sys_dtype", d.sys_dtype) };
        return Err(ExecErrorKind::Illegal {
            field,
            value: value as i64,
            why: "a general copy (trans_fmt = 1) has no special function or matrix mode",
        });
    }
    let len = d.src_n_stride as usize;
    if len == 0 {
        return Ok(());
    }
    match dir {
        Direction::G2G => {
            let (rs, os) = gmem.resolve(d.src_base_reg_sel, d.src_addr(), len as u64)?;
            let (rd, od) = gmem.resolve(d.dst_base_reg_sel, d.dst_addr(), len as u64)?;
            if rs == rd {
                gmem.regions[rs].data.copy_within(os..os + len, od);
            } else {
                let (a, b) = two_regions(gmem, rs, rd);
                b[od..od + len].copy_from_slice(&a[os..os + len]);
            }
            Ok(())
        }
        // cv180x/cv181x vectors (e.g. cv181x-tdma-017: load 3456 bytes at L0:0, store 1729 bytes
        // from L0:0x360) show local memory addressed flat, byte i at address + i: the local
        // address `lane << 15 | offset` is the index into lanes stored one after another.
        Direction::G2L | Direction::L2G if chip.quirks().tdma_general_flat_lmem => {
            let (laddr, field) = if dir == Direction::G2L {
                (d.dst_addr(), "dst_base_addr_high")
            } else {
                (d.src_addr(), "src_base_addr_high")
            };
            if laddr >> 32 != 0 {
                return Err(ExecErrorKind::Illegal {
                    field,
                    value: (laddr >> 32) as i64,
                    why: "a local-memory address has no bits above 31",
                });
            }
            let (lane, off) = Lmem::split(laddr as u32);
            let start = lmem.index(lane, off);
            if lane >= lmem.lanes || start + len > lmem.data.len() {
                return Err(ExecErrorKind::LmemOutOfRange {
                    what: "TDMA general copy (flat across lanes)",
                    lane,
                    start: off as u64,
                    end: off as u64 + len as u64,
                    limit: lmem.per_lane * lmem.lanes.saturating_sub(lane),
                });
            }
            let what = if dir == Direction::G2L {
                Label::new(Operand::Dst, "TDMA destination (flat)")
            } else {
                Label::new(Operand::Src, "TDMA source (flat)")
            };
            lmem.note_flat(start, len, what);
            if dir == Direction::G2L {
                let (r, o) = gmem.resolve(d.src_base_reg_sel, d.src_addr(), len as u64)?;
                lmem.data[start..start + len].copy_from_slice(&gmem.regions[r].data[o..o + len]);
            } else {
                let (r, o) = gmem.resolve(d.dst_base_reg_sel, d.dst_addr(), len as u64)?;
                gmem.regions[r].data[o..o + len].copy_from_slice(&lmem.data[start..start + len]);
            }
            Ok(())
        }
        // The cv182x and cv183x vendor simulator's general load and store do not round-trip
        // through one local address (conformance vectors README, "Drops"), so their local layout
        // is unknown: refuse rather than guess.
        Direction::G2L | Direction::L2G => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} general copy on {chip} (its local-memory byte layout is not known)", dir.name()),
        }),
        Direction::L2L => {
            Err(ExecErrorKind::Unsupported { what: "TDMA l2l general copy (never emitted; layout unknown)".into() })
        }
    }
}
