//! TIU mdsum (CV183x only, `tens_mdsum`): per channel, the sum over N, H and W of an int8 tensor,
//! shifted and saturated to 8 or 16 bits (spec `isa.md` §3.6.5 "mdsum").
//!
//! No conformance vector covers this op; the rules come from the emitter (`tiu_mdsum.c`: result
//! shape (1, C, 1, 1) with stride code 1, `opt_shift_typ` = result signedness) and its host test
//! (`test_1880v2_tensor_mdsum.cpp`: a 16-bit result is a compact (2, C, 1, 1) tensor, so each lane
//! holds the low bytes of its channels followed by their high bytes).

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use crate::tiu::eltwise::access::{for_chunks, is_wide as is_wide_field, IntOpd, Mem, CHUNK};
use crate::tiu::eltwise::num::rshift;
use crate::tiu::eltwise::{check_common, relu_enabled, unsupported};
use crate::tiu::operand::{view, Opd};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc};

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    check_common(d)?;
    if !chip.quirks().mdsum {
        return Err(unsupported(format!("mdsum on {chip} (a CV183x-only operation)")));
    }
    if d.is_bf16() {
        return Err(unsupported("bf16 mdsum (the emitter is int8 only)".into()));
    }
    if relu_enabled(chip, d)? || d.ps32_md != 0 || d.opt_chl_quan != 0 {
        return Err(unsupported("ReLU, ps32_md or opt_chl_quan on mdsum".into()));
    }
    if is_wide_field("opt_opd0_seg", d.opt_opd0_seg)? {
        return Err(unsupported("mdsum of a 16-bit input".into()));
    }
    // The vendor simulator asserts `short_opd1_str == 0` (mdsum has one operand).
    if d.short_opd1_str != 0 {
        return Err(ExecErrorKind::Illegal {
            field: "short_opd1_str",
            value: d.short_opd1_str as i64,
            why: "mdsum has no second operand",
        });
    }
    let res_wide = is_wide_field("opt_res0_seg", d.opt_res0_seg)?;
    let (c, lanes) = (d.opd0_c, lmem.lanes);
    if d.res0_c != c || d.res0_n != 1 || d.res0_h != 1 || d.res0_w != 1 {
        return Err(ExecErrorKind::Illegal {
            field: "res0_c",
            value: d.res0_c as i64,
            why: "the mdsum result is (1, C, 1, 1) with the input's C",
        });
    }
    let input = view(chip, d, Opd::Opd0, 1);
    let a = IntOpd::Mem {
        m: Mem::new(&input, 1, 0, lmem, Label::new(Operand::Opd0, "opd0"))?,
        wide: false,
        signed: d.opt_opd0_sign != 0,
    };
    // The high bytes follow the low bytes of every channel of the lane: ceil(C / NPU) bytes on.
    let res_t: LTensor = view(chip, d, Opd::Res0, 1);
    let plane = c.div_ceil(lanes);
    let res = Mem::new(&res_t, if res_wide { 2 } else { 1 }, plane, lmem, Label::new(Operand::Res0, "res0"))?;

    let mut sums = vec![0i32; c as usize];
    let mut v = [0i32; CHUNK];
    let data = &mut lmem.data;
    for_chunks([input.n, input.c, input.h, input.w], |p, len| {
        a.gather(data, p, &mut v[..len]);
        sums[p.c] = v[..len].iter().fold(sums[p.c], |s, &x| s.wrapping_add(x));
    });
    let rs = d.plain_res_shift();
    let (round, arith_shift) = (d.opt_rshift_typ != 0, d.opt_shift_typ != 0);
    let signed = d.opt_res0_sign != 0;
    let (lo, hi) = match (res_wide, signed) {
        (false, true) => (i8::MIN as i32, i8::MAX as i32),
        (false, false) => (0, u8::MAX as i32),
        (true, true) => (i16::MIN as i32, i16::MAX as i32),
        (true, false) => (0, u16::MAX as i32),
    };
    for (ci, &s) in sums.iter().enumerate() {
        let r = rshift(s, rs, round, arith_shift).clamp(lo, hi);
        let i = res.at(0, ci, 0, 0);
        data[i] = r as u8;
        if res_wide {
            data[i + res.b_str()] = (r >> 8) as u8;
        }
    }
    Ok(())
}
