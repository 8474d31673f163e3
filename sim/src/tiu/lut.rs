//! TIU lookup table (CV18[0-2]x: tsk_typ 3, eu 12; CV183x: `tens_lookup`): every lane holds its
//! own 256-entry table, and each element of opd0 picks an entry of the table in its result's lane
//! (spec `isa.md` §1.3 "LUT tables", §3.6.5, errata §9.12).

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use crate::tiu::eltwise::access::{for_chunks, Mem, CHUNK};
use crate::tiu::eltwise::{check_common, relu_enabled, unsupported};
use crate::tiu::operand::{raw, view, Opd};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc};

const ENTRIES: u32 = 256;

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    check_common(d)?;
    if relu_enabled(chip, d)? {
        return Err(unsupported("ReLU on a lookup table (no emitter sets it)".into()));
    }
    if d.ps32_md != 0 || d.opt_chl_quan != 0 || d.opt_opd1_const != 0 {
        return Err(unsupported("ps32_md, opt_chl_quan or opt_opd1_const on a lookup table".into()));
    }
    let shape = [d.res0_n, d.res0_c, d.res0_h, d.res0_w];
    let (_, in_shape, _, _) = raw(d, Opd::Opd0);
    if in_shape != shape {
        return Err(unsupported(format!(
            "lookup-table index shape {in_shape:?} differing from the result shape {shape:?}"
        )));
    }
    // int8 and bf16 differ only in the entry size: a bf16 index is a 16-bit word of which only the
    // low byte selects the entry (§3.6.5; the vectors' arbitrary 16-bit indices confirm it). The
    // entry is written as it is: unlike the element-wise bf16 copy, a NaN, infinite or subnormal
    // table entry is not canonicalised (canonicalising fails most bf16 LUT vectors).
    let esz = if d.is_bf16() { 2 } else { 1 };
    let res_t = view(chip, d, Opd::Res0, esz);
    let res = Mem::new(&res_t, 1, 0, lmem, Label::new(Operand::Res0, "res0"))?;
    let idx_t = view(chip, d, Opd::Opd0, esz);
    let idx = Mem::new(&idx_t, 1, 0, lmem, Label::new(Operand::Opd0, "opd0"))?;
    if esz == 2 {
        // The high byte of a bf16 index is never read (compilers leave it unwritten after an
        // int8 copy into the low bytes), so the access record holds the low bytes only.
        lmem.retrace_planes(1, &LTensor { esz: 1, ..idx_t }, 1, 0, Label::new(Operand::Opd0, "opd0"));
    }
    let tables = lane_tables(chip, d, esz, lmem)?;
    // The table used for channel c is the one in the lane that holds result channel c.
    let lanes = lmem.lanes as usize;
    let res_lane0 = Lmem::split(res_t.addr).0 as usize;
    let data = &mut lmem.data;
    let mut iv = [0u8; CHUNK];
    for_chunks(shape, |p, len| {
        let table = &tables[(res_lane0 + p.c) % lanes];
        let (mut i, ws) = (idx.start(p), idx.w_str());
        for v in &mut iv[..len] {
            *v = data[i];
            i += ws;
        }
        let (mut o, ws) = (res.start(p), res.w_str());
        for &k in &iv[..len] {
            let t = table[k as usize];
            data.copy_within(t..t + esz as usize, o);
            o += ws;
        }
    });
    Ok(())
}

/// For every lane, the data index of each of its 256 table entries. The table operand is
/// (1, NPU, 16, 16) int8 or (1, NPU, 32, 8) bf16 with derived strides; entry k is element
/// (k / W, k % W) of the lane's channel.
fn lane_tables(chip: Chip, d: &TiuDesc, esz: u32, lmem: &Lmem) -> ExecResult<Vec<[usize; ENTRIES as usize]>> {
    let t: LTensor = view(chip, d, Opd::Opd1, esz);
    if t.n != 1 || t.c < lmem.lanes || t.h * t.w < ENTRIES {
        return Err(ExecErrorKind::Illegal {
            field: "opd1_c",
            value: t.c as i64,
            why: "a lookup table needs one channel of at least 256 entries in every lane",
        });
    }
    let bases = Mem::new(&t, 1, 0, lmem, Label::new(Operand::Opd1, "opd1 (table)"))?;
    let lane0 = Lmem::split(t.addr).0;
    let mut tables = vec![[0usize; ENTRIES as usize]; lmem.lanes as usize];
    // Channels beyond the first NPU would be a second table per lane, which no emitter writes.
    for c in 0..lmem.lanes {
        let lane = ((lane0 + c) % lmem.lanes) as usize;
        for (k, e) in tables[lane].iter_mut().enumerate() {
            let k = k as u32;
            *e = bases.at(0, c as usize, (k / t.w) as usize, (k % t.w) as usize);
        }
    }
    Ok(tables)
}
