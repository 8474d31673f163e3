//! Matrix multiply against a plain reference written from the spec (`isa.md` §1.3 matrix layout,
//! §3.6.4): int8 with 8/16-bit results, add-result with left shift, 16-bit bias, QM with a 32-bit
//! bias, partial sums (modes 2, 3, 1), and bf16 with an fp32 bias; random shapes, chunkings and
//! signedness on all four chips. The bf16 reference accumulates with adds rounded toward zero.

use cvsim_isa::{Chip, LayoutFamily, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;

/// A matrix in the LMEM matrix layout, starting at lane 0: row r, column col is in lane
/// (col / w) % NPU at `off0 + (col / w) / NPU · c_str + r · n_str + (col % w) · esz`.
#[derive(Clone, Copy, Debug)]
struct Mat {
    off0: u32,
    rows: u32,
    cols: u32,
    w: u32,
    esz: u32,
}

impl Mat {
    fn c(&self) -> u32 {
        self.cols.div_ceil(self.w)
    }
    fn c_str(&self) -> u32 {
        (self.w * self.esz).div_ceil(16) * 16
    }
    fn n_str(&self, lanes: u32) -> u32 {
        self.c_str() * self.c().div_ceil(lanes)
    }
    fn idx(&self, lanes: u32, r: u32, col: u32) -> usize {
        let chunk = col / self.w;
        let off = self.off0 + (chunk / lanes) * self.c_str() + r * self.n_str(lanes) + (col % self.w) * self.esz;
        ((chunk % lanes) * 0x8000 + off) as usize
    }
    /// Bytes per lane of `planes` copies of the matrix.
    fn bytes(&self, lanes: u32, planes: u32) -> u32 {
        planes * self.rows * self.n_str(lanes)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int8Out,
    Int16Out,
    Qm,
    Ps32(u32),
    Bf16,
    Bf16Ps32(u32),
}

#[derive(Clone, Debug)]
struct Case {
    chip: Chip,
    kind: Kind,
    m: u32,
    k: u32,
    n: u32,
    lw: u32,
    rw: u32,
    signs: [bool; 4],
    bias: bool,
    relu: bool,
    res_add: bool,
    rs: i32,
    ls: u32,
    quan_m: u32,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    let kinds = prop::sample::select(vec![
        Kind::Int8Out,
        Kind::Int16Out,
        Kind::Qm,
        Kind::Ps32(2),
        Kind::Ps32(3),
        Kind::Ps32(1),
        Kind::Bf16,
        Kind::Bf16Ps32(2),
        Kind::Bf16Ps32(3),
        Kind::Bf16Ps32(1),
    ]);
    (
        prop::sample::select(Chip::ALL.to_vec()),
        kinds,
        (1u32..=12, 1u32..=60, 1u32..=45, 1u32..=20, 1u32..=20),
        any::<[bool; 7]>(),
        (0u32..=15, 0u32..=8, any::<u32>(), any::<u64>()),
    )
        .prop_map(|(chip, kind, (m, k, n, lw, rw), f, (rs, ls, q, seed))| {
            let bf16 = matches!(kind, Kind::Bf16 | Kind::Bf16Ps32(_));
            let mut c = Case {
                chip,
                kind,
                m,
                k,
                n,
                lw: lw.min(k),
                rw: rw.min(n),
                signs: [f[0], f[1], f[2], f[3]],
                bias: f[4],
                relu: f[5],
                res_add: f[6] && kind == Kind::Int16Out,
                rs: rs as i32,
                ls,
                quan_m: q >> 1 | 1 << 30,
                seed,
            };
            match kind {
                // cvikernel forbids ReLU with add-result; the result of QM is signed int8.
                Kind::Int16Out if c.res_add => c.relu = false,
                Kind::Qm => {
                    c.rs = if chip.layout().signed_shifts() { rs as i32 - 5 } else { rs as i32 * 2 };
                }
                Kind::Ps32(m) | Kind::Bf16Ps32(m) if m != 1 => {
                    c.bias = false;
                    c.relu = false;
                    c.rs = 0;
                }
                _ => {}
            }
            if bf16 {
                c.signs = [true; 4];
            } else {
                // The vendor simulator's rules (every chip): the sum is signed when an operand
                // (or the bias) is, and written signed unless ReLU is on; ReLU on unsigned
                // operands needs a bias. QM's result is signed int8, so one operand is signed.
                if kind == Kind::Qm && !c.signs[0] && !c.signs[1] {
                    c.signs[1] = true;
                }
                if !signed_sum(&c) && !c.bias {
                    c.relu = false;
                }
                c.signs[3] = kind == Kind::Qm || signed_sum(&c) && (!c.relu || f[3]);
            }
            c
        })
}

/// Whether the int8 sum is signed: an operand is, or the bias is.
fn signed_sum(t: &Case) -> bool {
    t.signs[0] || t.signs[1] || (t.bias && t.signs[2])
}

fn rshr(x: i32, r: u32) -> i32 {
    if r == 0 {
        x
    } else {
        ((((x as i64) >> (r - 1)) + 1) >> 1) as i32
    }
}

fn qm(x: i32, m: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 { (0, shift as u32) } else { ((-shift) as u32, 0) };
    let x = ((x as i64) << (left % 32)) as i32 as i64;
    let p = x * m as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    let y = ((p + nudge) / (1i64 << 31)) as i32 as i64;
    if right == 0 {
        return y as i32;
    }
    let mask = (1i64 << right) - 1;
    let threshold = (mask >> 1) + (y < 0) as i64;
    ((y >> right) + ((y & mask) > threshold) as i64) as i32
}

fn bf16_read(v: u16) -> f32 {
    match v & 0x7F80 {
        0 => 0.0,
        0x7F80 => f32::NAN,
        _ => f32::from_bits((v as u32) << 16),
    }
}

fn bf16_write(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7F7F;
    }
    let u = x.to_bits();
    let r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) as u16;
    match r & 0x7F80 {
        0x7F80 => 0x7F7F,
        0 => 0,
        _ => r,
    }
}

/// `a + b` rounded toward zero, from the exact sum. The sums of these tests span fewer than 53
/// bits (tame exponents), so the f64 sum is exact.
fn add_toward_zero(a: f32, b: f32) -> f32 {
    let exact = a as f64 + b as f64;
    let t = exact as f32;
    if (t as f64).abs() > exact.abs() {
        f32::from_bits(t.to_bits() - 1)
    } else {
        t
    }
}

fn check(t: &Case) -> Result<(), TestCaseError> {
    let chip = t.chip;
    let nl = chip.lanes();
    let bf16 = matches!(t.kind, Kind::Bf16 | Kind::Bf16Ps32(_));
    let esz = if bf16 { 2 } else { 1 };
    let (m, k, n) = (t.m, t.k, t.n);
    let left = Mat { off0: 0, rows: m, cols: k, w: t.lw, esz };
    let right_off = left.bytes(nl, 1).div_ceil(16) * 16;
    // The right matrix has the result's chunking; the result covers whole chunks.
    let ncols = n.div_ceil(t.rw) * t.rw;
    let right = Mat { off0: right_off, rows: k, cols: ncols, w: t.rw, esz };
    let res_planes = match t.kind {
        Kind::Int16Out => 2,
        Kind::Ps32(_) => 4,
        Kind::Bf16Ps32(_) => 2,
        _ => 1,
    };
    let res = Mat { off0: (right_off + right.bytes(nl, 1)).div_ceil(16) * 16, rows: m, cols: ncols, w: t.rw, esz };
    let bias_rows = match t.kind {
        Kind::Qm => 4,
        _ => 2,
    };
    let bias = Mat {
        off0: (res.off0 + res.bytes(nl, res_planes)).div_ceil(16) * 16,
        rows: bias_rows,
        cols: ncols,
        w: t.rw,
        esz,
    };
    let end = bias.off0 + bias.bytes(nl, 1);
    if end > 0x8000 || bias.off0 > 0xFFFF || right.off0 > 0xFFFF {
        return Ok(());
    }
    let plane = m * res.n_str(nl);

    let mut d = TiuDesc { tsk_typ: 2, cmd_en: 1, opd_typ: bf16 as u32, ..Default::default() };
    d.tsk_opd_num = if t.bias { 3 } else { 2 };
    (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign, d.opt_res0_sign) =
        (t.signs[0] as u32, t.signs[1] as u32, t.signs[2] as u32, t.signs[3] as u32);
    (d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1);
    d.opt_res0_seg = (t.kind != Kind::Int16Out) as u32;
    d.opt_relu_typ = t.relu as u32;
    d.opt_res_add = t.res_add as u32;
    d.opt_left_shift = t.ls;
    // A shift is arithmetic exactly when the sum is signed (the vendor refuses the other pairings).
    (d.opt_shift_typ, d.opt_rshift_typ) = ((t.kind == Kind::Qm || signed_sum(t)) as u32, 1);
    d.opt_res_shift = if t.rs < 0 { (64 + t.rs) as u32 } else { t.rs as u32 };
    d.opt_chl_quan = (t.kind == Kind::Qm) as u32;
    d.quan_m = t.quan_m;
    d.ps32_md = match t.kind {
        Kind::Ps32(v) | Kind::Bf16Ps32(v) => v,
        _ => 0,
    };
    d.res0_b_str = plane;
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (left.off0, m, left.c(), 1, left.w);
    (d.opd1_addr, d.opd1_n, d.opd1_c, d.opd1_h) = (right.off0, k, right.c(), 1);
    d.opd1_w = k - left.w * (left.c() - 1);
    (d.res0_addr, d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (res.off0, m, res.c(), 1, res.w);
    (d.opd2_addr, d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (bias.off0, 1, bias.c(), 1, bias.w);

    let mut before = Lmem::new(chip.params());
    let mut x = t.seed | 1;
    for b in before.data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    if bf16 {
        // Keep the bf16 values tame (finite, moderate exponents) so the sums mean something; the
        // special values are covered by the element-wise tests.
        for w in before.data.chunks_exact_mut(2) {
            let v = u16::from_le_bytes([w[0], w[1]]);
            let v = (v & 0x807F) | (0x3C00 + ((v >> 7) & 0x0F) * 0x80);
            w.copy_from_slice(&v.to_le_bytes());
        }
        // Partial sums as fp32 halves: keep them finite and moderate too.
        for r in 0..m {
            for col in 0..ncols {
                let i = res.idx(nl, r, col);
                let hi = u16::from_le_bytes([before.data[i], before.data[i + 1]]);
                let hi = (hi & 0x807F) | 0x3F00;
                before.data[i..i + 2].copy_from_slice(&hi.to_le_bytes());
            }
        }
    }
    let mut lmem = before.clone();
    tiu::exec(chip, &mut lmem, &d).map_err(|e| TestCaseError::fail(format!("exec: {e}")))?;

    let mb = &before.data;
    let mut want = before.data.clone();
    let b8 = |i: usize, s: bool| if s { mb[i] as i8 as i32 } else { mb[i] as i32 };
    let b16 = |i: usize| u16::from_le_bytes([mb[i], mb[i + 1]]);
    for r in 0..m {
        for col in 0..ncols {
            let ri = res.idx(nl, r, col);
            let ps = |p: u32| ri + (p * plane) as usize;
            if bf16 {
                // fp32 accumulation in the reference order (wi outer, ci inner), each add rounded
                // toward zero like the conv MAC (`isa.md` §3.6.4 says nothing about the rounding).
                let mut acc = 0f32;
                if matches!(t.kind, Kind::Bf16Ps32(3) | Kind::Bf16Ps32(1)) {
                    acc = f32::from_bits((b16(ps(0)) as u32) << 16 | b16(ps(1)) as u32);
                }
                for wi in 0..left.w {
                    for ci in 0..left.c() {
                        let kk = ci * left.w + wi;
                        if kk < k {
                            let p = bf16_read(b16(left.idx(nl, r, kk))) * bf16_read(b16(right.idx(nl, kk, col)));
                            acc = add_toward_zero(acc, p);
                        }
                    }
                }
                if matches!(t.kind, Kind::Bf16Ps32(2) | Kind::Bf16Ps32(3)) {
                    let bits = acc.to_bits();
                    want[ps(0)..ps(0) + 2].copy_from_slice(&((bits >> 16) as u16).to_le_bytes());
                    want[ps(1)..ps(1) + 2].copy_from_slice(&(bits as u16).to_le_bytes());
                    continue;
                }
                if t.bias {
                    let bi = bias.idx(nl, 0, col);
                    let bj = bias.idx(nl, 1, col);
                    acc = add_toward_zero(acc, f32::from_bits((b16(bi) as u32) << 16 | b16(bj) as u32));
                }
                let mut v = bf16_write(acc);
                if t.relu && v & 0x8000 != 0 {
                    v = 0;
                }
                want[ri..ri + 2].copy_from_slice(&v.to_le_bytes());
                continue;
            }
            let mut acc: i32 = 0;
            for kk in 0..k {
                acc = acc.wrapping_add(b8(left.idx(nl, r, kk), t.signs[0]) * b8(right.idx(nl, kk, col), t.signs[1]));
            }
            if matches!(t.kind, Kind::Ps32(3) | Kind::Ps32(1)) {
                let old = i32::from_le_bytes([mb[ps(0)], mb[ps(1)], mb[ps(2)], mb[ps(3)]]);
                acc = acc.wrapping_add(old);
            }
            if matches!(t.kind, Kind::Ps32(2) | Kind::Ps32(3)) {
                for (p, byte) in acc.to_le_bytes().into_iter().enumerate() {
                    want[ps(p as u32)] = byte;
                }
                continue;
            }
            if t.res_add {
                let old = if t.signs[3] { mb[ps(1)] as i8 as i32 } else { mb[ps(1)] as i32 } * 256 + mb[ps(0)] as i32;
                acc = acc.wrapping_add(old << t.ls);
            }
            if t.bias {
                let bv = |row: u32| mb[bias.idx(nl, row, col)];
                acc = acc.wrapping_add(if t.kind == Kind::Qm {
                    i32::from_le_bytes([bv(0), bv(1), bv(2), bv(3)])
                } else if t.signs[2] {
                    bv(1) as i8 as i32 * 256 + bv(0) as i32
                } else {
                    bv(1) as i32 * 256 + bv(0) as i32
                });
            }
            let wide = t.kind == Kind::Int16Out;
            let v = if t.kind == Kind::Qm {
                let y = qm(acc, t.quan_m as i32, t.rs).clamp(-128, 127);
                if t.relu {
                    y.max(0)
                } else {
                    y
                }
            } else {
                let x = if t.relu { acc.max(0) } else { acc };
                let y = if t.signs[3] || t.rs == 0 {
                    rshr(x, t.rs as u32)
                } else {
                    let u = x as u32 as u64;
                    ((u >> (t.rs - 1)) + 1 >> 1).min(i32::MAX as u64) as i32
                };
                match (wide, t.signs[3]) {
                    (false, true) => y.clamp(-128, 127),
                    (false, false) => y.clamp(0, 255),
                    (true, true) => y.clamp(-32768, 32767),
                    (true, false) => y.clamp(0, 65535),
                }
            };
            want[ri] = v as u8;
            if wide {
                want[ps(1)] = (v >> 8) as u8;
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
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn matmul_matches_reference(t in case()) {
        check(&t)?;
    }
}

#[test]
fn inconsistent_k_is_illegal() {
    let chip = Chip::Cv181x;
    let mut d = TiuDesc { tsk_typ: 2, cmd_en: 1, tsk_opd_num: 2, ..Default::default() };
    (d.opt_opd0_seg, d.opt_opd1_seg, d.opt_res0_seg) = (1, 1, 1);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (2, 2, 1, 16);
    // K = 16 + 4 = 20, but opd1_n says 21.
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (21, 1, 1, 4);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (2, 1, 1, 8);
    (d.opd1_addr, d.res0_addr) = (0x100, 0x400);
    let mut l = Lmem::new(chip.params());
    let e = tiu::exec(chip, &mut l, &d).unwrap_err();
    assert!(matches!(e, ExecErrorKind::Illegal { field: "opd1_n", .. }), "{e}");
}

/// One bf16 row · column product, M = N = 1, K = `terms.len()` ≤ 16, in a single chunk (so the
/// reference's k order is plain k order).
fn bf16_dot(chip: Chip, terms: &[(u16, u16)]) -> u16 {
    let k = terms.len() as u32;
    let nl = chip.lanes();
    let left = Mat { off0: 0, rows: 1, cols: k, w: k, esz: 2 };
    let right = Mat { off0: 0x100, rows: k, cols: 1, w: 1, esz: 2 };
    let res = Mat { off0: 0x400, rows: 1, cols: 1, w: 1, esz: 2 };
    let mut d = TiuDesc { tsk_typ: 2, cmd_en: 1, opd_typ: 1, tsk_opd_num: 2, ..Default::default() };
    (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign, d.opt_res0_sign) = (1, 1, 1, 1);
    (d.opt_opd0_seg, d.opt_opd1_seg, d.opt_res0_seg) = (1, 1, 1);
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (left.off0, 1, 1, 1, k);
    (d.opd1_addr, d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (right.off0, k, 1, 1, k);
    (d.res0_addr, d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (res.off0, 1, 1, 1, 1);
    let mut l = Lmem::new(chip.params());
    for (kk, &(a, b)) in terms.iter().enumerate() {
        let (i, j) = (left.idx(nl, 0, kk as u32), right.idx(nl, kk as u32, 0));
        l.data[i..i + 2].copy_from_slice(&a.to_le_bytes());
        l.data[j..j + 2].copy_from_slice(&b.to_le_bytes());
    }
    tiu::exec(chip, &mut l, &d).unwrap();
    let i = res.idx(nl, 0, 0);
    u16::from_le_bytes([l.data[i], l.data[i + 1]])
}

/// The bf16 matrix multiply accumulates in fp32 with adds rounded toward zero, like the bf16 conv.
/// 1 + 3·2^-8 is the bf16 midpoint between 0x3F81 and 0x3F82. Adding -2^-25 to it rounds back
/// to the midpoint under round-to-nearest (then ties-to-even gives 0x3F82), but truncates to one
/// fp32 ulp below it (then 0x3F81). The vendor simulator shows the truncation: with
/// round-to-nearest adds, the attention and FC layers of
/// `models/lstr_det_lane_360_640_MIX_cv181x` end one bf16 ulp off in 28 + 11 output bytes. No
/// per-instruction vector separates the two roundings.
#[test]
fn bf16_matmul_adds_round_toward_zero() {
    const ONE: u16 = 0x3F80;
    let three_2_8 = 0x3C40; // 1.5·2^-7
    let minus_2_25 = 0xB300; // -2^-25
    for chip in Chip::ALL {
        assert_eq!(bf16_dot(chip, &[(ONE, ONE), (three_2_8, ONE), (minus_2_25, ONE)]), 0x3F81, "{chip:?}");
        // Exact sums are unaffected: 1 + 3·2^-8 alone is the tie, which goes to even.
        assert_eq!(bf16_dot(chip, &[(ONE, ONE), (three_2_8, ONE)]), 0x3F82, "{chip:?}");
        // Negative sums truncate toward zero too: -(1 + 3·2^-8) + 2^-25.
        assert_eq!(
            bf16_dot(chip, &[(ONE | 0x8000, ONE), (three_2_8 | 0x8000, ONE), (minus_2_25 & 0x7FFF, ONE)]),
            0xBF81
        );
    }
}

/// An int8 matrix multiply: left 2 × 20 in chunks of 16, right 20 × 8, result 2 × 8.
fn small_int8() -> TiuDesc {
    let mut d = TiuDesc { tsk_typ: 2, cmd_en: 1, tsk_opd_num: 2, ..Default::default() };
    (d.opt_opd0_seg, d.opt_opd1_seg, d.opt_res0_seg) = (1, 1, 1);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (2, 2, 1, 16);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (20, 1, 1, 4);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (2, 1, 1, 8);
    (d.opd1_addr, d.res0_addr) = (0x100, 0x400);
    d.res0_b_str = 0x40;
    d
}

/// Settings the CV18[0-2]x vendor simulator stops on (differential fuzzing), each an error naming
/// its field; the same descriptor without the setting runs.
#[test]
fn settings_the_vendor_stops_on_name_their_field() {
    let signed = TiuDesc { opt_opd1_sign: 1, opt_res0_sign: 1, opt_shift_typ: 1, ..small_int8() };
    let cases: [(TiuDesc, fn(&mut TiuDesc), &str); 5] = [
        // the product's sign differs from its operands'
        (signed.clone(), |d| d.opt_res0_sign = 0, "opt_res0_sign"),
        (small_int8(), |d| d.opt_res0_sign = 1, "opt_res0_sign"),
        // partial sums written for a later descriptor take no ReLU and no shift
        (TiuDesc { ps32_md: 2, ..signed.clone() }, |d| d.opt_relu_typ = 1, "opt_relu_typ"),
        (TiuDesc { ps32_md: 3, ..signed.clone() }, |d| d.opt_res_shift = 4, "opt_res_shift"),
        (TiuDesc { ps32_md: 2, ..signed.clone() }, |d| d.opt_res_shift = 4, "opt_res_shift"),
    ];
    for chip in Chip::ALL.into_iter().filter(|c| c.layout() == LayoutFamily::Cv18x) {
        let mut l = Lmem::new(chip.params());
        for (fine, set, field) in &cases {
            tiu::exec(chip, &mut l, fine).unwrap_or_else(|e| panic!("{chip} {field}: {e}"));
            let mut d = fine.clone();
            set(&mut d);
            let e = tiu::exec(chip, &mut l, &d).unwrap_err();
            assert!(matches!(e, ExecErrorKind::Illegal { field: f, .. } if f == *field), "{chip} {field}: {e}");
        }
    }
    // The last pass of a chain finishes the sum: ReLU and the shift are fine there.
    let mut l = Lmem::new(Chip::Cv181x.params());
    let last = TiuDesc { ps32_md: 1, opt_relu_typ: 1, opt_res_shift: 4, ..signed };
    tiu::exec(Chip::Cv181x, &mut l, &last).unwrap();
}
