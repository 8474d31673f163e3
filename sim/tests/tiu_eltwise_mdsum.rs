//! CV183x mdsum against the host reference's rules (`isa.md` §3.6.5 "mdsum"; no conformance
//! vector covers it): per channel Σ over n, h, w, rounding shift (arithmetic for a signed result,
//! logical otherwise), saturation to 8 or 16 bits, the 16-bit result's high bytes ceil(C/NPU)
//! bytes after the low bytes in each lane.

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;

fn desc(shape: [u32; 4], signed: bool, wide: bool, rs: u32, in_addr: u32, res_addr: u32) -> TiuDesc {
    let [n, c, h, w] = shape;
    let mut d = TiuDesc { tsk_typ: 3, tens_mdsum: 1, tsk_opd_num: 1, cmd_en: 1, ..Default::default() };
    (d.opt_opd0_sign, d.opt_res0_sign) = (signed as u32, signed as u32);
    (d.opt_opd0_seg, d.opt_res0_seg) = (1, (!wide) as u32);
    (d.opt_shift_typ, d.opt_rshift_typ, d.opt_res_shift) = (signed as u32, 1, rs);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w, d.opd0_addr) = (n, c, h, w, in_addr);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w, d.res0_addr) = (1, c, 1, 1, res_addr);
    d.short_res0_str = 1;
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mdsum_matches_reference(n in 1u32..=3, c in 1u32..=70, h in 1u32..=4, w in 1u32..=40,
                               signed: bool, wide: bool, rs in 0u32..=12, seed: u64) {
        let chip = Chip::Cv183x;
        let lanes = chip.lanes();
        let d = desc([n, c, h, w], signed, wide, rs, 0, 0x6000);
        let mut before = Lmem::new(chip.params());
        let mut x = seed | 1;
        for b in before.data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 24) as u8;
        }
        let mut lmem = before.clone();
        tiu::exec(chip, &mut lmem, &d).unwrap();

        // Input: derived EU-aligned strides from lane 0.
        let c_str = (h * w).div_ceil(16) * 16;
        let n_str = c_str * c.div_ceil(lanes);
        let mut want = before.data.clone();
        let groups = c.div_ceil(lanes);
        for ci in 0..c {
            let (lane, grp) = (ci % lanes, ci / lanes);
            let mut s: i64 = 0;
            for ni in 0..n {
                for hi in 0..h {
                    for wi in 0..w {
                        let i = (lane * 0x8000 + grp * c_str + ni * n_str + hi * w + wi) as usize;
                        s += if signed { before.data[i] as i8 as i64 } else { before.data[i] as i64 };
                    }
                }
            }
            let r = if rs == 0 { s } else { ((s >> (rs - 1)) + 1) >> 1 };
            let v = match (wide, signed) {
                (false, true) => r.clamp(-128, 127),
                (false, false) => r.clamp(0, 255),
                (true, true) => r.clamp(-32768, 32767),
                (true, false) => r.clamp(0, 65535),
            };
            let o = (lane * 0x8000 + 0x6000 + grp) as usize;
            want[o] = v as u8;
            if wide {
                want[o + groups as usize] = (v >> 8) as u8;
            }
        }
        prop_assert!(want == lmem.data, "mdsum result differs");
    }
}

#[test]
fn mdsum_only_where_the_chip_has_it() {
    let chip = Chip::Cv181x;
    let mut d = desc([1, 4, 1, 4], true, false, 0, 0, 0x100);
    // On CV18[0-2]x there is no flag; classify it as the op anyway and check the refusal.
    d.tens_mdsum = 0;
    let mut l = Lmem::new(chip.params());
    let e = tiu::mdsum::exec(chip, &mut l, &d).unwrap_err();
    assert!(matches!(e, ExecErrorKind::Unsupported { .. }), "{e}");
}
