//! TDMA data movement without format change, each kind against an element-by-element reference
//! written from spec `isa.md` §1.2, §4.1–4.3: tensor copies in all directions (strides, start
//! lanes, reshape, zero strides), N↔C transpose, matrix copies and row/column transpose, C↔W
//! transpose, HWC → CHW, general copies and constant fill.

mod tdma_support;

use cvsim_isa::Chip;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;
use tdma_support::*;

fn cfg() -> ProptestConfig {
    ProptestConfig { cases: 48, ..ProptestConfig::default() }
}

/// A tensor copy case: chip, element size, shapes and both layouts.
#[derive(Debug, Clone)]
struct Case {
    chip: Chip,
    esz: u32,
    src_shape: [u32; 4],
    dst_shape: [u32; 4],
    seed: u64,
}

/// Source shape and a destination shape with the same N and C·H·W (a reshape, or the same).
fn cases() -> impl Strategy<Value = Case> {
    (chips(), prop::sample::select(vec![1u32, 2]), shapes(40), 0u32..3, any::<u64>()).prop_map(
        |(chip, esz, s, reshape, seed)| {
            let [n, c, h, w] = s;
            let d = match reshape {
                0 => s,
                1 => [n, c * h, 1, w],
                _ => [n, 1, h, c * w],
            };
            Case { chip, esz, src_shape: s, dst_shape: d, seed }
        },
    )
}

/// Flat position within one n → (c, h, w) of `shape`.
fn unflat([_, c, h, w]: [u32; 4], i: u32) -> (u32, u32, u32) {
    let _ = c;
    (i / (h * w), i / w % h, i % w)
}

fn set_fmt(d: &mut cvsim_isa::TdmaDesc, esz: u32) {
    d.src_fmt = esz;
    d.dst_fmt = esz;
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn g2l_tensor(case in cases(), gp in 0u32..1000, lsel in any::<u64>()) {
        let mut env = Env::new(case.chip, case.seed);
        let g = pick_global(case.src_shape, case.esz, 64 + gp as u64, lsel >> 7);
        let l = pick_local(env.lanes(), case.dst_shape, case.esz, 0, lsel);
        let mut d = desc(0);
        set_fmt(&mut d, case.esz);
        set_src(&mut d, g.addr(), g.shape, g.str);
        set_dst(&mut d, l.addr as u64, [l.shape[1], l.shape[2], l.shape[3]], l.str);
        let mut want = env.lmem.data.clone();
        for (n, c, h, w) in each(g.shape) {
            let i = (c * g.shape[2] + h) * g.shape[3] + w;
            let (c2, h2, w2) = unflat(l.shape, i);
            let (s, t) = (g.idx(n, c, h, w), l.idx(&env.lmem, n, c2, h2, w2));
            want[t..t + case.esz as usize].copy_from_slice(&env.g()[s..s + case.esz as usize]);
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want, "local memory differs");
    }

    /// Zero source strides broadcast (tpu-mlir replicates tables and scalars this way, §7): any
    /// of the N, C and H strides may be 0, so the same source bytes land in many places.
    #[test]
    fn g2l_zero_source_strides(chip in chips(), esz in prop::sample::select(vec![1u32, 2]), s in shapes(40), zero in 1u32..8, gp in 0u32..1000, lsel in any::<u64>(), seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let dense_str = dense(s, esz);
        let str: [u32; 3] = std::array::from_fn(|k| if zero >> k & 1 == 1 { 0 } else { dense_str[k] });
        let g = Global { off: 64 + gp as u64, shape: s, str, esz };
        let l = pick_local(env.lanes(), s, esz, 0, lsel);
        let mut d = desc(0);
        set_fmt(&mut d, esz);
        set_src(&mut d, g.addr(), g.shape, g.str);
        set_dst(&mut d, l.addr as u64, [s[1], s[2], s[3]], l.str);
        let mut want = env.lmem.data.clone();
        for (n, c, h, w) in each(s) {
            let (src, dst) = (g.idx(n, c, h, w), l.idx(&env.lmem, n, c, h, w));
            want[dst..dst + esz as usize].copy_from_slice(&env.g()[src..src + esz as usize]);
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want, "local memory differs");
    }

    #[test]
    fn l2g_tensor(case in cases(), lsel in any::<u64>(), gsel in any::<u64>()) {
        let mut env = Env::new(case.chip, case.seed);
        let l = pick_local(env.lanes(), case.src_shape, case.esz, 0, lsel);
        let g = pick_global(case.dst_shape, case.esz, 32, gsel);
        let mut d = desc(1);
        set_fmt(&mut d, case.esz);
        set_src(&mut d, l.addr as u64, l.shape, l.str);
        set_dst(&mut d, g.addr(), [g.shape[1], g.shape[2], g.shape[3]], g.str);
        let mut want = env.g().to_vec();
        for (n, c, h, w) in each(l.shape) {
            let i = (c * l.shape[2] + h) * l.shape[3] + w;
            let (c2, h2, w2) = unflat(g.shape, i);
            let (s, t) = (l.idx(&env.lmem, n, c, h, w), g.idx(n, c2, h2, w2));
            want[t..t + case.esz as usize].copy_from_slice(&env.lmem.data[s..s + case.esz as usize]);
        }
        env.run(&d).unwrap();
        prop_assert!(env.g() == &want[..], "global memory differs");
    }

    #[test]
    fn l2l_tensor(case in cases(), ssel in any::<u64>(), dsel in any::<u64>()) {
        let mut env = Env::new(case.chip, case.seed);
        let lanes = env.lanes();
        let s = pick_local(lanes, case.src_shape, case.esz, 0, ssel);
        let t = pick_local(lanes, case.dst_shape, case.esz, 16 * 1024, dsel);
        let mut d = desc(3);
        set_fmt(&mut d, case.esz);
        set_src(&mut d, s.addr as u64, s.shape, s.str);
        set_dst(&mut d, t.addr as u64, [t.shape[1], t.shape[2], t.shape[3]], t.str);
        let mut want = env.lmem.data.clone();
        for (n, c, h, w) in each(s.shape) {
            let i = (c * s.shape[2] + h) * s.shape[3] + w;
            let (c2, h2, w2) = unflat(t.shape, i);
            let (a, b) = (s.idx(&env.lmem, n, c, h, w), t.idx(&env.lmem, n, c2, h2, w2));
            want[b..b + case.esz as usize].copy_from_slice(&env.lmem.data[a..a + case.esz as usize]);
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want, "local memory differs");
    }

    #[test]
    fn g2g_tensor(case in cases(), ssel in any::<u64>(), dsel in any::<u64>()) {
        let mut env = Env::new(case.chip, case.seed);
        let s = pick_global(case.src_shape, case.esz, 0, ssel);
        let t = pick_global(case.dst_shape, case.esz, 100_000, dsel);
        let mut d = desc(2);
        set_fmt(&mut d, case.esz);
        set_src(&mut d, s.addr(), s.shape, s.str);
        set_dst(&mut d, t.addr(), [t.shape[1], t.shape[2], t.shape[3]], t.str);
        let mut want = env.g().to_vec();
        for (n, c, h, w) in each(s.shape) {
            let i = (c * s.shape[2] + h) * s.shape[3] + w;
            let (c2, h2, w2) = unflat(t.shape, i);
            let (a, b) = (s.idx(n, c, h, w), t.idx(n, c2, h2, w2));
            want[b..b + case.esz as usize].copy_from_slice(&env.g()[a..a + case.esz as usize]);
        }
        env.run(&d).unwrap();
        prop_assert!(env.g() == &want[..], "global memory differs");
    }

    /// N↔C transpose, both directions: element (n, c, hw) ↔ (c, n, hw) (spec §4.2).
    #[test]
    fn nc_transpose(chip in chips(), esz in prop::sample::select(vec![1u32, 2]), s in shapes(12), load in any::<bool>(),
                    lsel in any::<u64>(), seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let [n, c, h, w] = s;
        // Global (n, c, h, w) dense; local (c, n, h, w) (its channels are the global N).
        let g = Global { off: 0, shape: s, str: dense(s, esz), esz };
        let l = pick_local(env.lanes(), [c, n, h, w], esz, 0, lsel);
        let mut d = desc(if load { 0 } else { 1 });
        set_fmt(&mut d, esz);
        d.spec_func = 1;
        if load {
            set_src(&mut d, g.addr(), s, g.str);
            set_dst(&mut d, l.addr as u64, [n, h, w], l.str);
        } else {
            // Local (c, n, h, w) → global (n, c, h, w): dst_c = src_n, N count = src_c.
            set_src(&mut d, l.addr as u64, [c, n, h, w], l.str);
            set_dst(&mut d, g.addr(), [c, h, w], g.str);
        }
        let mut want_l = env.lmem.data.clone();
        let mut want_g = env.g().to_vec();
        for (ni, ci, hi, wi) in each(s) {
            let e = esz as usize;
            // Global (n, c, h, w) ↔ local (n' = c, c' = n, h, w).
            let (gi, li) = (g.idx(ni, ci, hi, wi), l.idx(&env.lmem, ci, ni, hi, wi));
            if load {
                want_l[li..li + e].copy_from_slice(&env.g()[gi..gi + e]);
            } else {
                want_g[gi..gi + e].copy_from_slice(&env.lmem.data[li..li + e]);
            }
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want_l && env.g() == &want_g[..]);
    }

    /// Matrix G2L then L2G: global rows × cols (padded row stride) ↔ local (rows, c, 1, w) chunks.
    #[test]
    fn matrix(chip in chips(), esz in prop::sample::select(vec![1u32, 2]), rows in 1u32..8, cols in 1u32..70,
              wsel in 1u32..=20, pad in 0u32..5, lane0 in 0u32..32, seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let lanes = env.lanes();
        let lane0 = lane0 % lanes;
        let w = wsel.min(cols);
        let c = cols.div_ceil(w);
        let row_str = (cols + pad) * esz;
        let c_str = (w * esz).div_ceil(16) * 16;
        let n_str = c_str * (lane0 + c).div_ceil(lanes);
        let l = Local { addr: lane0 << 15 | 256, shape: [rows, c, 1, w], str: [n_str, c_str, w * esz], esz };
        let lidx = |lm: &cvsim_sim::memory::Lmem, r: u32, k: u32| l.idx(lm, r, k / w, 0, k % w);
        // Load.
        let mut d = desc(0);
        set_fmt(&mut d, esz);
        d.sys_dtype = 1;
        set_src(&mut d, GBASE, [rows, rows, 1, cols], [0, row_str, 0]);
        set_dst(&mut d, l.addr as u64, [c, 1, w], l.str);
        let mut want = env.lmem.data.clone();
        for r in 0..rows {
            for k in 0..cols {
                let (a, b) = ((r * row_str + k * esz) as usize, lidx(&env.lmem, r, k));
                want[b..b + esz as usize].copy_from_slice(&env.g()[a..a + esz as usize]);
            }
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want, "matrix load");
        // Store to another place with another row stride.
        let out = 50_000u32;
        let row_str2 = cols * esz + pad;
        let mut d = desc(1);
        set_fmt(&mut d, esz);
        d.sys_dtype = 1;
        set_src(&mut d, l.addr as u64, [rows, c, 1, w], l.str);
        set_dst(&mut d, GBASE + out as u64, [rows, 1, cols], [0, row_str2, 0]);
        let mut want = env.g().to_vec();
        for r in 0..rows {
            for k in 0..cols {
                let (a, b) = (lidx(&env.lmem, r, k), (out + r * row_str2 + k * esz) as usize);
                want[b..b + esz as usize].copy_from_slice(&env.lmem.data[a..a + esz as usize]);
            }
        }
        env.run(&d).unwrap();
        prop_assert!(env.g() == &want[..], "matrix store");
    }

    /// Matrix row/column transpose G2L: global (r, k) → local matrix row k, column r.
    #[test]
    fn matrix_row_col_transpose(chip in chips(), rows in 1u32..40, cols in 1u32..12, wsel in 1u32..=16, pad in 0u32..4, seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let lanes = env.lanes();
        let w = wsel.min(rows);
        let c = rows.div_ceil(w);
        let c_str = w.div_ceil(16) * 16;
        let l = Local { addr: 0, shape: [cols, c, 1, w], str: [c_str * c.div_ceil(lanes), c_str, w], esz: 1 };
        let mut d = desc(0);
        d.sys_dtype = 1;
        d.spec_func = 1;
        set_src(&mut d, GBASE, [rows, rows, 1, cols], [0, cols + pad, 0]);
        set_dst(&mut d, 0, [c, 1, w], l.str);
        let mut want = env.lmem.data.clone();
        for r in 0..rows {
            for k in 0..cols {
                want[l.idx(&env.lmem, k, r / w, 0, r % w)] = env.g()[(r * (cols + pad) + k) as usize];
            }
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want);
    }

    /// C↔W transpose L2G: local (n, c, h, w) → global (n, w, h, c).
    #[test]
    fn cw_transpose(chip in chips(), s in shapes(40), lsel in any::<u64>(), pad in 0u32..3, seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let [n, c, h, w] = s;
        let l = pick_local(env.lanes(), s, 1, 0, lsel);
        let gshape = [n, w, h, c];
        let g = Global { off: 16, shape: gshape, str: [w * h * (c + pad), h * (c + pad), c + pad], esz: 1 };
        let mut d = desc(1);
        d.spec_func = 1;
        d.transpose_md = 3;
        set_src(&mut d, l.addr as u64, s, l.str);
        set_dst(&mut d, g.addr(), [w, h, c], g.str);
        let mut want = env.g().to_vec();
        for (ni, ci, hi, wi) in each(s) {
            want[g.idx(ni, wi, hi, ci)] = env.lmem.data[l.idx(&env.lmem, ni, ci, hi, wi)];
        }
        env.run(&d).unwrap();
        prop_assert!(env.g() == &want[..]);
    }

    /// HWC → CHW G2L (transpose_md 1: C = 3, 2: C = 4): pixel (h, w) channel k at
    /// n·n_str + h·h_str + w·C + k.
    #[test]
    fn hwc_to_chw(chip in chips(), four in any::<bool>(), n in 1u32..3, h in 1u32..6, w in 1u32..20, lane0 in 0u32..32, seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let ch = if four { 4 } else { 3 };
        let lane0 = lane0 % env.lanes();
        let c_str = (h * w).div_ceil(16) * 16;
        let l = Local { addr: lane0 << 15 | 32, shape: [n, ch, h, w], str: [c_str * (lane0 + ch).div_ceil(env.lanes()), c_str, w], esz: 1 };
        let (hs, ns) = (ch * w, ch * w * h + 5);
        let mut d = desc(0);
        d.spec_func = 1;
        d.transpose_md = if four { 2 } else { 1 };
        set_src(&mut d, GBASE + 8, [n, ch, h, w], [ns, 1, hs]);
        set_dst(&mut d, l.addr as u64, [ch, h, w], l.str);
        let mut want = env.lmem.data.clone();
        for (ni, k, hi, wi) in each([n, ch, h, w]) {
            want[l.idx(&env.lmem, ni, k, hi, wi)] = env.g()[(8 + ni * ns + hi * hs + wi * ch + k) as usize];
        }
        env.run(&d).unwrap();
        prop_assert!(env.lmem.data == want);
    }

    /// Constant fill to local (trans_dir 0) and global (trans_dir 1); int8 takes const_val's low byte.
    #[test]
    fn fill(chip in chips(), bf16 in any::<bool>(), s in shapes(40), to_global in any::<bool>(), v in any::<u16>(),
            sel in any::<u64>(), seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let esz = if bf16 { 2 } else { 1 };
        let mut d = desc(if to_global { 1 } else { 0 });
        d.spec_func = 4;
        d.dst_fmt = esz;
        d.const_val = v as u32;
        d.src_n = s[0];
        let pat = if bf16 { v.to_le_bytes().to_vec() } else { vec![v as u8] };
        if to_global {
            let g = pick_global(s, esz, 0, sel);
            set_dst(&mut d, g.addr(), [s[1], s[2], s[3]], g.str);
            let mut want = env.g().to_vec();
            for (n, c, h, w) in each(s) {
                let i = g.idx(n, c, h, w);
                want[i..i + pat.len()].copy_from_slice(&pat);
            }
            env.run(&d).unwrap();
            prop_assert!(env.g() == &want[..]);
        } else {
            let l = pick_local(env.lanes(), s, esz, 0, sel);
            set_dst(&mut d, l.addr as u64, [s[1], s[2], s[3]], l.str);
            let mut want = env.lmem.data.clone();
            for (n, c, h, w) in each(s) {
                let i = l.idx(&env.lmem, n, c, h, w);
                want[i..i + pat.len()].copy_from_slice(&pat);
            }
            env.run(&d).unwrap();
            prop_assert!(env.lmem.data == want);
        }
    }

    /// General copy: flat bytes, length in src_n_stride; G2G everywhere, through local memory
    /// (flat by address) on cv180x/cv181x.
    #[test]
    fn general(chip in chips(), len in 1u32..5000, loff in 0u32..40_000, seed in any::<u64>()) {
        let mut env = Env::new(chip, seed);
        let mut d = desc(2);
        d.trans_fmt = 1;
        d.src_n_stride = len;
        d.src_base_addr_low = GBASE as u32 + 7;
        d.dst_base_addr_low = GBASE as u32 + 100_001;
        let mut want = env.g().to_vec();
        want.copy_within(7..7 + len as usize, 100_001);
        env.run(&d).unwrap();
        prop_assert!(env.g() == &want[..]);

        let total = env.lmem.data.len() as u32;
        let laddr = loff % (total - len);
        let mut d = desc(0);
        d.trans_fmt = 1;
        d.src_n_stride = len;
        d.src_base_addr_low = GBASE as u32 + 3;
        d.dst_base_addr_low = laddr;
        let r = env.run(&d);
        if chip.quirks().tdma_general_flat_lmem {
            r.unwrap();
            prop_assert_eq!(&env.lmem.data[laddr as usize..(laddr + len) as usize], &env.g()[3..3 + len as usize]);
            let mut d = desc(1);
            d.trans_fmt = 1;
            d.src_n_stride = len;
            d.src_base_addr_low = laddr;
            d.dst_base_addr_low = GBASE as u32 + 200_000;
            env.run(&d).unwrap();
            prop_assert_eq!(&env.g()[200_000..200_000 + len as usize], &env.g()[3..3 + len as usize]);
        } else {
            let unsupported = matches!(r, Err(ExecErrorKind::Unsupported { .. }));
            prop_assert!(unsupported, "{:?}", r);
        }
    }
}

/// A source C stride of 0 broadcasts one channel to every lane (tpu-mlir's LUT replication, §7).
#[test]
fn zero_c_stride_broadcasts() {
    for chip in Chip::ALL {
        let mut env = Env::new(chip, 5);
        let lanes = env.lanes();
        let mut d = desc(0);
        set_src(&mut d, GBASE, [1, lanes, 16, 16], [256, 0, 16]);
        set_dst(&mut d, 0x100, [lanes, 16, 16], [256, 256, 16]);
        env.run(&d).unwrap();
        let table = env.g()[..256].to_vec();
        for lane in 0..lanes as usize {
            let at = lane * 32 * 1024 + 0x100;
            assert_eq!(&env.lmem.data[at..at + 256], &table[..], "{chip} lane {lane}");
        }
    }
}

/// Channel c + lanes shares lane with channel c, one C stride further (start lane wraps).
#[test]
fn start_lane_wraps_with_c_stride() {
    let mut env = Env::new(Chip::Cv181x, 9);
    let mut d = desc(0);
    set_src(&mut d, GBASE, [1, 4, 1, 4], [16, 4, 4]);
    set_dst(&mut d, 6 << 15 | 0x40, [4, 1, 4], [64, 32, 4]);
    env.run(&d).unwrap();
    let g = env.g()[..16].to_vec();
    let at = |lane: usize, off: usize| lane * 32 * 1024 + off;
    assert_eq!(&env.lmem.data[at(6, 0x40)..][..4], &g[0..4]);
    assert_eq!(&env.lmem.data[at(7, 0x40)..][..4], &g[4..8]);
    assert_eq!(&env.lmem.data[at(0, 0x60)..][..4], &g[8..12]);
    assert_eq!(&env.lmem.data[at(1, 0x60)..][..4], &g[12..16]);
}
