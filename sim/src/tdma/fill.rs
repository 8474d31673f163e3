//! Constant fill (`spec_func = 4`, spec `isa.md` §4.2): `trans_dir = 0` fills a local tensor,
//! `trans_dir = 1` a global one; shape (src_n, dst_c, dst_h, dst_w) with the destination strides.

use super::convert::formats;
use super::side::Side;
use super::walk::buf_mut;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Direction, Fmt, TdmaDesc};

pub(crate) fn exec(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    // The int8 emitters leave src_fmt at its reset value; only the destination format counts.
    let (_, fmt) = formats(d)?;
    let dst_side = match dir {
        Direction::G2L | Direction::L2G => Side::dst(d, dir),
        _ => {
            return Err(ExecErrorKind::Unsupported {
                what: format!("TDMA {} constant fill (only trans_dir 0 and 1 are defined)", dir.name()),
            })
        }
    };
    let esz = fmt.size();
    let walk = dst_side.walk(lmem, gmem, [d.src_n, d.dst_c, d.dst_h, d.dst_w], esz)?;
    let buf = buf_mut(lmem, gmem, walk.loc);
    // int8 takes the low byte of const_val (spec §8 item 10); bf16 the whole 16-bit pattern.
    let v = d.const_val as u16;
    if fmt == Fmt::Bf16 {
        let p = v.to_le_bytes();
        for (pos, n) in walk.rows() {
            for e in buf[pos..pos + 2 * n].chunks_exact_mut(2) {
                e.copy_from_slice(&p);
            }
        }
    } else {
        for (pos, n) in walk.rows() {
            buf[pos..pos + n].fill(v as u8);
        }
    }
    Ok(())
}
