//! Lookup table against a plain reference from the spec (`isa.md` §1.3 "LUT tables", §3.6.5): a
//! different 256-entry table in every lane, indices from the low byte of each element, int8 and
//! bf16, random shapes and start lanes, all four chips.

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    chip: Chip,
    bf16: bool,
    shape: [u32; 4],
    lane_res: u32,
    lane_idx: u32,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(Chip::ALL.to_vec()),
        any::<bool>(),
        (1u32..=2, 1u32..=70, 1u32..=4, 1u32..=40),
        0u32..32,
        0u32..32,
        any::<u64>(),
    )
        .prop_map(|(chip, bf16, (n, c, h, w), lr, li, seed)| Case {
            chip,
            bf16,
            shape: [n, c.min(2 * chip.lanes() + 3), h, w],
            lane_res: lr % chip.lanes(),
            lane_idx: li % chip.lanes(),
            seed,
        })
}

/// Derived (stride code 0) strides: w = esz, h = W·esz, c = align16(H·W·esz), n = c·ceil(C/NPU).
fn derived(lanes: u32, [_, c, h, w]: [u32; 4], esz: u32) -> [u32; 4] {
    let c_str = (h * w * esz).div_ceil(16) * 16;
    [c_str * c.div_ceil(lanes), c_str, w * esz, esz]
}

fn idx(lanes: u32, lane0: u32, off0: u32, s: [u32; 4], [n, c, h, w]: [u32; 4]) -> usize {
    let l = lane0 + c;
    ((l % lanes) * 0x8000 + off0 + (l / lanes) * s[1] + n * s[0] + h * s[2] + w * s[3]) as usize
}

fn check(t: &Case) -> Result<(), TestCaseError> {
    let chip = t.chip;
    let nl = chip.lanes();
    let esz = if t.bf16 { 2 } else { 1 };
    let [n, c, h, w] = t.shape;
    let s = derived(nl, t.shape, esz);
    let span = |lane0: u32| (n - 1) * s[0] + (lane0 + c - 1) / nl * s[1] + (h - 1) * s[2] + w * esz;
    let table_off = 0u32;
    let idx_off = 0x400;
    let res_off = (idx_off + span(t.lane_idx)).div_ceil(16) * 16;
    if res_off + span(t.lane_res) > 0x8000 {
        return Ok(());
    }
    let mut d = TiuDesc { tsk_typ: 3, cmd_en: 1, tsk_opd_num: 2, opd_typ: t.bf16 as u32, ..Default::default() };
    if chip.layout().tiu_ops_by_flag() {
        d.tens_lookup = 1;
        d.tsk_eu_typ = if t.bf16 { 12 } else { 0 };
    } else {
        d.tsk_eu_typ = 12;
    }
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (n, c, h, w);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (n, c, h, w);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = if t.bf16 { (1, nl, 32, 8) } else { (1, nl, 16, 16) };
    d.res0_addr = t.lane_res << 15 | res_off;
    d.opd0_addr = t.lane_idx << 15 | idx_off;
    d.opd1_addr = table_off;

    let mut before = Lmem::new(chip.params());
    let mut x = t.seed | 1;
    for b in before.data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    let mut lmem = before.clone();
    tiu::exec(chip, &mut lmem, &d).map_err(|e| TestCaseError::fail(format!("exec: {e}")))?;

    let mut want = before.data.clone();
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    // The index is the low byte of the element; the table is the one in the lane
                    // of the result element.
                    let k = before.data[idx(nl, t.lane_idx, idx_off, s, [ni, ci, hi, wi])] as usize;
                    let lane = (t.lane_res + ci) % nl;
                    let e = (lane * 0x8000 + table_off) as usize + k * esz as usize;
                    let ri = idx(nl, t.lane_res, res_off, s, [ni, ci, hi, wi]);
                    want[ri..ri + esz as usize].copy_from_slice(&before.data[e..e + esz as usize]);
                }
            }
        }
    }
    if let Some(i) = (0..want.len()).find(|&i| want[i] != lmem.data[i]) {
        return Err(TestCaseError::fail(format!(
            "first difference at lane {} offset {:#x}: expected {:#04x}, got {:#04x}",
            i / 0x8000,
            i % 0x8000,
            want[i],
            lmem.data[i]
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn lut_matches_reference(t in case()) {
        check(&t)?;
    }
}
