//! Execution never panics on input: random element-wise, matrix, lookup-table and mdsum
//! descriptors (valid or not) either run or return an error.

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use proptest::prelude::*;

fn small() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..=4, 3 => 0u32..=40, 1 => 0u32..=4095]
}

prop_compose! {
    fn shape()(n in small(), c in small(), h in small(), w in small()) -> [u32; 4] {
        [n, c, h, w]
    }
}

prop_compose! {
    fn strides()(v in prop::array::uniform5(prop_oneof![3 => 0u32..=64, 1 => 0u32..=65535])) -> [u32; 5] {
        v
    }
}

prop_compose! {
    fn desc()(
        chip in prop::sample::select(Chip::ALL.to_vec()),
        tsk in prop::sample::select(vec![2u32, 3]),
        eu in 0u32..=12,
        flags in any::<[bool; 16]>(),
        rare in prop::array::uniform6(prop::bool::weighted(0.1)),
        segs in prop::array::uniform4(prop_oneof![4 => Just(1u32), 1 => 0u32..=3]),
        shapes in prop::array::uniform4(shape()),
        strs in prop::array::uniform4(strides()),
        codes in prop::array::uniform4(0u32..=3),
        addrs in (0u32..0x40000, 0u32..0x40000, 0u32..0x10000, 0u32..0x10000),
        (rs, ls, ps32, quan_m) in (0u32..64, 0u32..32, prop_oneof![3 => Just(0u32), 1 => 1u32..4], any::<u32>()),
    ) -> (Chip, TiuDesc) {
        let mut d = TiuDesc::reset(chip);
        d.tsk_typ = tsk;
        d.tsk_eu_typ = if tsk == 2 && !rare[5] { 0 } else { eu };
        d.opd_typ = flags[0] as u32;
        d.opt_chl_quan = (rare[0] || (tsk == 2 && flags[1] && !flags[0])) as u32;
        d.opt_relu_typ = rare[1] as u32;
        d.opt_res_add = ((tsk == 3 && eu == 1) || (tsk == 2 && flags[3] && !flags[0])) as u32;
        d.opt_opd1_const = (rare[2] || (tsk == 3 && flags[4])) as u32;
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) =
            (flags[5] as u32, flags[6] as u32, flags[7] as u32, flags[8] as u32);
        d.tsk_opd_num = if flags[9] { 3 } else { 2 };
        d.opt_shift_typ = flags[10] as u32;
        d.opt_rshift_typ = flags[11] as u32;
        if chip.layout().tiu_ops_by_flag() {
            d.tens_lookup = rare[3] as u32;
            d.tens_mdsum = rare[4] as u32;
            d.opt_res_shift = rs & 31;
            d.opt_res0_seg = segs[0] & 1;
            d.opt_opd0_seg = segs[1] & 1;
            d.opt_opd1_seg = segs[2] & 1;
        } else {
            d.opt_res_shift = rs;
            (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (segs[0], segs[1], segs[2]);
        }
        d.opt_opd2_seg = segs[3] & 1;
        d.opt_left_shift = ls;
        d.ps32_md = ps32;
        d.quan_m = quan_m;
        [d.res0_n, d.res0_c, d.res0_h, d.res0_w] = shapes[0];
        // Mostly matching operand shapes, so the runs get past the shape checks.
        let same = |i: usize| if flags[14] { shapes[0] } else { shapes[i] };
        [d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w] = same(1);
        [d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w] = if flags[15] { same(2) } else { shapes[2] };
        [d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w] = shapes[3];
        [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str, d.res0_b_str] = strs[0];
        [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str, d.opd0_b_str] = strs[1];
        [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str, d.opd1_b_str] = strs[2];
        [d.opd2_n_str, d.opd2_c_str, d.opd2_h_str, d.opd2_w_str, d.opd2_b_str] = strs[3];
        [d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str] = codes;
        (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = addrs;
        if tsk == 2 && flags[14] {
            // Mostly consistent matrix geometry, so the runs reach the arithmetic.
            (d.opd0_h, d.res0_h, d.opd2_h) = (1, 1, 1);
            d.opd1_w = d.opd1_w.min(d.opd0_w);
            d.opd1_n = (d.opd0_c.max(1) - 1) * d.opd0_w + d.opd1_w;
            d.opd1_c = d.res0_c;
            (d.opd2_c, d.opd2_w) = (d.res0_c, d.res0_w);
            (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (0, 0, 0, 0);
        }
        (chip, d)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_descriptors_never_panic((chip, d) in desc()) {
        let mut l = Lmem::new(chip.params());
        let _ = tiu::exec(chip, &mut l, &d);
    }

    #[test]
    fn empty_matrices_do_not_panic(chip in prop::sample::select(Chip::ALL.to_vec()), zero in 0usize..4, bf16: bool) {
        let mut d = TiuDesc::reset(chip);
        (d.tsk_typ, d.opd_typ, d.tsk_opd_num) = (2, bf16 as u32, 3);
        (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (2, 1, 1, 4);
        (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (4, 1, 1, 4);
        (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (2, 1, 1, 4);
        (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, 1, 1, 4);
        (d.opd1_addr, d.res0_addr, d.opd2_addr) = (0x100, 0x200, 0x300);
        match zero {
            0 => (d.res0_w, d.opd2_w) = (0, 0),
            1 => (d.res0_c, d.opd1_c, d.opd2_c) = (0, 0, 0),
            2 => (d.res0_n, d.opd0_n) = (0, 0),
            _ => (d.opd0_c, d.opd1_n) = (0, 0),
        }
        let mut l = Lmem::new(chip.params());
        let _ = tiu::exec(chip, &mut l, &d);
    }
}
