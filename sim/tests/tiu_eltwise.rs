//! Element-wise TIU ops against a plain per-element reference written from the spec (`isa.md`
//! §1.2 lane mapping, §3.5 byte planes and constants, §3.6.5 semantics, §3.7 arithmetic, §9
//! errata): random shapes, strides (including zero-stride broadcast), start lanes, signedness,
//! widths, shifts and constants, on all four chips.

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;

// ------------------------------------------------------------------------------------------------
// Placement of operands in local memory, by the spec's formula (independent of the simulator's).
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Place {
    lane0: u32,
    off0: u32,
    /// n, c, h, w strides in bytes.
    str: [u32; 4],
    /// Plane distance (16-bit integers).
    b_str: u32,
}

impl Place {
    fn addr(&self) -> u32 {
        self.lane0 << 15 | self.off0
    }
    /// §1.2: channel c lives in lane (L0 + c) % NPU at offset off0 + (L0 + c) / NPU · c_str.
    fn idx(&self, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> usize {
        let l = self.lane0 + c;
        let off = self.off0 + (l / lanes) * self.str[1] + n * self.str[0] + h * self.str[2] + w * self.str[3];
        ((l % lanes) * 0x8000 + off) as usize
    }
}

/// Lays tensors out one after another in every lane; returns None when they do not fit.
struct Alloc {
    lanes: u32,
    next: u32,
}

impl Alloc {
    /// A tensor of `shape` with element size `esz`, w stride `w_mul`·esz (0 = broadcast along w),
    /// h stride 0 when `h_bcast`, and `planes` byte planes.
    fn place(
        &mut self,
        lane0: u32,
        shape: [u32; 4],
        esz: u32,
        w_mul: u32,
        h_bcast: bool,
        planes: u32,
    ) -> Option<Place> {
        let [n, c, h, w] = shape;
        let w_str = w_mul * esz;
        let row = (w - 1) * w_str + esz;
        // Rows end with a gap: an odd one for int8, whole elements for bf16 (whose strides are
        // even byte counts, or the vendor simulator stops).
        let h_str = if h_bcast { 0 } else { row + 3 * esz };
        let chan = (h - 1) * h_str + row;
        let c_str = chan.div_ceil(16) * 16;
        let groups = (lane0 + c).div_ceil(self.lanes);
        let n_str = groups * c_str + 16;
        let plane = n * n_str;
        let off0 = self.next;
        let end = off0 + planes * plane;
        if end > 0x8000 - 64 || (lane0 > 0 && off0 + plane > 0x8000) {
            return None;
        }
        self.next = end.div_ceil(64) * 64;
        Some(Place { lane0, off0, str: [n_str, c_str, h_str, w_str], b_str: plane })
    }
}

fn lanes(chip: Chip) -> u32 {
    chip.lanes()
}

/// A fresh local memory filled with pseudo-random bytes from `seed`.
fn random_lmem(chip: Chip, seed: u64) -> Lmem {
    let mut l = Lmem::new(chip.params());
    let mut x = seed | 1;
    for b in l.data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    l
}

// ------------------------------------------------------------------------------------------------
// Reference arithmetic (§3.7), written out plainly.
// ------------------------------------------------------------------------------------------------

fn rshr(x: i32, r: u32, round: bool, arith: bool) -> i32 {
    if r == 0 {
        return x;
    }
    if arith {
        let x = x as i64;
        (if round { ((x >> (r - 1)) + 1) >> 1 } else { x >> r }) as i32
    } else {
        let x = x as u32 as u64;
        (if round { ((x >> (r - 1)) + 1) >> 1 } else { x >> r }) as u32 as i32
    }
}

fn qm(x: i32, m: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 { (0, shift as u32) } else { ((-shift) as u32, 0) };
    // §9.2: the left shift wraps to 32 bits.
    let x = ((x as i64) << (left % 32)) as i32 as i64;
    let p = x * m as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    let y = ((p + nudge) / (1i64 << 31)) as i32 as i64;
    if right == 0 {
        return y as i32;
    }
    let mask = (1i64 << right) - 1;
    let rem = y & mask;
    let threshold = (mask >> 1) + (y < 0) as i64;
    ((y >> right) + (rem > threshold) as i64) as i32
}

fn sat(x: i32, wide: bool, signed: bool) -> i32 {
    match (wide, signed) {
        (false, true) => x.clamp(-128, 127),
        (false, false) => x.clamp(0, 255),
        (true, true) => x.clamp(-32768, 32767),
        (true, false) => x.clamp(0, 65535),
    }
}

// ------------------------------------------------------------------------------------------------
// int8 path
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Mul,
    MulQm,
    Mac,
    Add,
    Sub,
    Max,
    Min,
    Shift,
    And,
    Or,
    Xor,
    Copy,
    Ge,
}

impl Op {
    fn eu(self) -> u32 {
        match self {
            Op::Mul | Op::MulQm => 0,
            Op::Mac => 1,
            Op::Add => 2,
            Op::Sub => 3,
            Op::Max => 4,
            Op::Min => 5,
            Op::Shift => 6,
            Op::And => 7,
            Op::Or => 8,
            Op::Xor => 9,
            Op::Copy => 10,
            Op::Ge => 11,
        }
    }
}

#[derive(Clone, Debug)]
struct IntCase {
    chip: Chip,
    op: Op,
    shape: [u32; 4],
    a_wide: bool,
    a_signed: bool,
    b_wide: bool,
    b_signed: bool,
    b_const: Option<u32>,
    res_wide: bool,
    res_signed: bool,
    relu: bool,
    rs: i32,
    ls: u32,
    quan_m: u32,
    round: bool,
    arith_shift: bool,
    lane_res: u32,
    lane_a: u32,
    w_mul: [u32; 3],
    b_h_bcast: bool,
    seed: u64,
}

fn chip_strategy() -> impl Strategy<Value = Chip> {
    prop::sample::select(Chip::ALL.to_vec())
}

fn int_case() -> impl Strategy<Value = IntCase> {
    let ops = prop::sample::select(vec![
        Op::Mul,
        Op::MulQm,
        Op::Mac,
        Op::Add,
        Op::Sub,
        Op::Max,
        Op::Min,
        Op::Shift,
        Op::And,
        Op::Or,
        Op::Xor,
        Op::Copy,
        Op::Ge,
    ]);
    (
        chip_strategy(),
        ops,
        (1u32..=2, 1u32..=4, 1u32..=70),
        any::<[bool; 8]>(),
        (0u32..=15, 0u32..=15, any::<u32>(), any::<u16>()),
        (0u32..32, 0u32..32, [1u32..=2, 0u32..=2, 1u32..=2]),
        any::<u64>(),
    )
        .prop_map(|(chip, op, (n, h, w), f, (rs, ls, m, k), (la, lb, w_mul), seed)| {
            let lanes = chip.lanes();
            let c = 1 + (seed % (2 * lanes as u64 + 3)) as u32;
            let op = if !chip.layout().has_ge_and_min_pool() && op == Op::Ge { Op::Max } else { op };
            let mut k = IntCase {
                chip,
                op,
                shape: [n, c, h, w],
                a_wide: false,
                a_signed: f[0],
                b_wide: false,
                b_signed: f[1],
                b_const: if f[2] { Some(k as u32) } else { None },
                res_wide: f[3],
                res_signed: f[4],
                relu: f[5],
                rs: rs as i32,
                ls,
                quan_m: m >> 1 | 1 << 30,
                round: true,
                arith_shift: f[6],
                lane_res: la % lanes,
                lane_a: lb % lanes,
                w_mul,
                b_h_bcast: f[7],
                seed,
            };
            // Shape the case into what the op defines (§3.6.5).
            match op {
                Op::Add | Op::Sub => {
                    k.a_wide = f[7] || f[0];
                    k.b_wide = true;
                    // The vendor refuses a sum whose sign differs from its operands' and an
                    // unsigned difference.
                    if op == Op::Sub && !k.a_signed && !k.b_signed {
                        k.a_signed = true;
                    }
                    k.res_signed = k.a_signed || k.b_signed;
                }
                Op::Mul | Op::Mac => {
                    // The vendor simulator (every chip) refuses a product, mul and mac alike,
                    // whose sign differs from its operands' (ReLU aside).
                    k.res_signed = k.a_signed || k.b_signed;
                }
                Op::MulQm => {
                    k.res_wide = false;
                    k.res_signed = true;
                    k.rs = if chip.layout().signed_shifts() { rs as i32 - 6 } else { rs as i32 * 2 };
                }
                Op::Max | Op::Min | Op::Ge => {
                    k.b_signed = k.a_signed;
                    k.res_signed = k.a_signed;
                    k.res_wide = false;
                }
                Op::Shift => {
                    k.a_wide = true;
                    k.a_signed = true;
                    k.b_signed = true;
                    k.b_const = None;
                    k.res_wide = true;
                    k.res_signed = true;
                    k.round = false;
                }
                Op::And | Op::Or | Op::Xor => {
                    k.a_wide = f[3];
                    k.b_wide = f[3];
                    k.res_wide = f[3];
                    k.b_const = None;
                }
                Op::Copy => {
                    k.res_wide = false;
                    k.b_const = None;
                }
            }
            if matches!(op, Op::Mul | Op::Mac | Op::Add | Op::Sub) && k.rs != 0 {
                // The vendor refuses a shift flavour that disagrees with the result sign; CV183x
                // also an arithmetic shift of unsigned operands.
                k.arith_shift = k.res_signed;
                if !k.chip.layout().signed_shifts() && k.arith_shift && !k.a_signed && !k.b_signed {
                    (k.arith_shift, k.res_signed) = (false, false);
                }
            }
            // ReLU needs a signed, 8-bit result (the vendor simulator stops on the others).
            let relu_ok = matches!(op, Op::Mul | Op::MulQm | Op::Mac | Op::Add | Op::Max | Op::Min)
                && k.res_signed
                && !k.res_wide;
            k.relu = k.relu && relu_ok;
            k
        })
}

/// Build the descriptor, run it, and compare all of local memory with the reference.
fn check_int(k: &IntCase) -> Result<(), TestCaseError> {
    let chip = k.chip;
    let nl = lanes(chip);
    let [n, c, h, w] = k.shape;
    let mut al = Alloc { lanes: nl, next: 0 };
    let planes = |wide: bool| if wide { 2 } else { 1 };
    let res_planes = if k.op == Op::Mac { 2 } else { planes(k.res_wide) };
    let Some(res) = al.place(k.lane_res, k.shape, 1, k.w_mul[0], false, res_planes) else { return Ok(()) };
    let Some(a) = al.place(k.lane_a, k.shape, 1, k.w_mul[1].max(1), false, planes(k.a_wide)) else { return Ok(()) };
    // opd1_addr has 16 bits: lane 0 or 1.
    let Some(b) = al.place(0, k.shape, 1, k.w_mul[2], k.b_h_bcast, planes(k.b_wide)) else { return Ok(()) };

    let mut d = TiuDesc {
        tsk_typ: 3,
        tsk_eu_typ: k.op.eu(),
        tsk_opd_num: if k.op == Op::Copy { 1 } else { 2 },
        ..Default::default()
    };
    d.cmd_en = 1;
    d.opt_chl_quan = (k.op == Op::MulQm) as u32;
    d.quan_m = k.quan_m;
    d.opt_res_shift = if k.rs < 0 { (64 + k.rs) as u32 } else { k.rs as u32 };
    d.opt_left_shift = k.ls;
    d.opt_rshift_typ = k.round as u32;
    d.opt_shift_typ = k.arith_shift as u32;
    d.opt_relu_typ = k.relu as u32;
    d.opt_res_add = (k.op == Op::Mac) as u32;
    d.opt_res0_sign = k.res_signed as u32;
    d.opt_opd0_sign = k.a_signed as u32;
    d.opt_opd1_sign = k.b_signed as u32;
    d.opt_res0_seg = (!k.res_wide) as u32;
    d.opt_opd0_seg = (!k.a_wide) as u32;
    d.opt_opd1_seg = (!k.b_wide) as u32;
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (n, c, h, w);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (n, c, h, w);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (n, c, h, w);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str) = (3, 3, 3);
    d.res0_addr = res.addr();
    d.opd0_addr = a.addr();
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = a.str;
    [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str] = b.str;
    (d.res0_b_str, d.opd0_b_str, d.opd1_b_str) = (res.b_str, a.b_str, b.b_str);
    let b_const = k.b_const.map(|v| if k.b_wide { v & 0xFFFF } else { v & 0xFF });
    if let Some(v) = b_const {
        d.opt_opd1_const = 1;
        d.opd1_addr = v;
    } else {
        d.opd1_addr = b.addr();
    }

    let before = random_lmem(chip, k.seed);
    let mut lmem = before.clone();
    tiu::exec(chip, &mut lmem, &d).map_err(|e| TestCaseError::fail(format!("exec: {e}")))?;

    let mut want = before.data.clone();
    let m = &before.data;
    let read = |p: &Place, wide: bool, signed: bool, i: usize| -> i32 {
        match (wide, signed) {
            (false, true) => m[i] as i8 as i32,
            (false, false) => m[i] as i32,
            (true, true) => (m[i + p.b_str as usize] as i8 as i32) * 256 + m[i] as i32,
            (true, false) => (m[i + p.b_str as usize] as i32) * 256 + m[i] as i32,
        }
    };
    let rs = k.rs.max(0) as u32;
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    let ri = res.idx(nl, ni, ci, hi, wi);
                    let av = read(&a, k.a_wide, k.a_signed, a.idx(nl, ni, ci, hi, wi));
                    let bv = match b_const {
                        Some(v) if k.b_wide => {
                            if k.b_signed {
                                v as u16 as i16 as i32
                            } else {
                                v as i32
                            }
                        }
                        Some(v) => {
                            if k.b_signed {
                                v as u8 as i8 as i32
                            } else {
                                v as i32
                            }
                        }
                        None => read(&b, k.b_wide, k.b_signed, b.idx(nl, ni, ci, hi, wi)),
                    };
                    let relu = |x: i32| if k.relu { x.max(0) } else { x };
                    let v = match k.op {
                        Op::Mul => {
                            relu(sat(rshr(av.wrapping_mul(bv), rs, k.round, k.arith_shift), k.res_wide, k.res_signed))
                        }
                        Op::MulQm => relu(qm(av * bv, k.quan_m as i32, k.rs).clamp(-128, 127)),
                        Op::Mac => {
                            let old = read(&res, true, k.res_signed, ri);
                            let t = av.wrapping_mul(bv).wrapping_add(((old as i64) << k.ls) as i32);
                            relu(sat(rshr(t, rs, k.round, k.arith_shift), k.res_wide, k.res_signed))
                        }
                        Op::Add => relu(sat(rshr(av + bv, rs, k.round, k.arith_shift), k.res_wide, k.res_signed)),
                        Op::Sub => sat(rshr(av - bv, rs, k.round, k.arith_shift), k.res_wide, k.res_signed),
                        // The vendor simulator takes ReLU on max and min and leaves the result
                        // as it is (as cvsim does; no recorded vector pins it).
                        Op::Max => av.max(bv),
                        Op::Min => av.min(bv),
                        Op::Ge => (av >= bv) as i32,
                        Op::And => av & bv,
                        Op::Or => av | bv,
                        Op::Xor => av ^ bv,
                        Op::Copy => av,
                        // The vectors pin shift counts in [-16, 16]; beyond that the simulator keeps
                        // the 32-bit arithmetic total (all bits shifted out, or the sign).
                        Op::Shift => {
                            if bv >= 0 {
                                ((av as i64) << bv.min(63)) as i32
                            } else {
                                av >> (-bv).min(31)
                            }
                        }
                    };
                    want[ri] = v as u8;
                    if k.res_wide {
                        want[ri + res.b_str as usize] = (v >> 8) as u8;
                    }
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
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn int8_ops_match_reference(k in int_case()) {
        check_int(&k)?;
    }
}

// ------------------------------------------------------------------------------------------------
// bf16 path
// ------------------------------------------------------------------------------------------------

/// bf16 values biased towards the special ones of the conformance corpus.
fn bf16_value() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => any::<u16>().prop_map(|v| (v & 0x83FF) | 0x3C00),
        2 => any::<u16>(),
        2 => prop::sample::select(vec![0x0000u16, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0x0001, 0x8005, 0x007F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80, 0x3F81]),
    ]
}

/// What the vendor simulator writes for an f32 result (§9.3, §9.4, §9.7; results with a zero
/// exponent become +0).
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

/// How an operand is read: subnormals are zero (§9.6), ±inf and NaN poison the result.
fn bf16_read(v: u16) -> f32 {
    match v & 0x7F80 {
        0 => 0.0,
        0x7F80 => f32::NAN,
        _ => f32::from_bits((v as u32) << 16),
    }
}

/// An f32 as `m · 2^e` with an integer significand.
fn f32_parts(x: f32) -> (i64, i32) {
    let b = x.to_bits();
    let (exp, frac) = (((b >> 23) & 0xFF) as i32, (b & 0x7F_FFFF) as i64);
    let m = if exp == 0 { frac } else { frac | 1 << 23 };
    (if b >> 31 != 0 { -m } else { m }, exp.max(1) - 150)
}

/// `a + b` rounded toward zero to f32, from the exact sum in integers: the vendor's mac adds the
/// (f32) product and the accumulator that way before rounding the sum to bf16. Non-finite
/// operands give the f32 sum.
fn sum_toward_zero(a: f32, b: f32) -> f32 {
    if !a.is_finite() || !b.is_finite() {
        return a + b;
    }
    let ((ma, ea), (mb, eb)) = (f32_parts(a), f32_parts(b));
    let (big, small, (mbig, ebig), (msmall, esmall)) =
        if ea >= eb { (a, b, (ma, ea), (mb, eb)) } else { (b, a, (mb, eb), (ma, ea)) };
    if msmall == 0 {
        return big;
    }
    if mbig != 0 && ebig - esmall > 64 {
        // The small addend is far below one ulp of the big one: it only decides whether the
        // truncation steps back one ulp toward zero.
        return if (small > 0.0) == (big > 0.0) { big } else { f32::from_bits(big.to_bits() - 1) };
    }
    // The exact sum `s · 2^esmall`, then its top 24 bits (fewer below the normal range).
    let s = ((mbig as i128) << (ebig - esmall)) + msmall as i128;
    if s == 0 {
        return 0.0;
    }
    let bits = 128 - s.unsigned_abs().leading_zeros() as i32;
    // Keep 24 bits, but never go below the quantum of subnormals (2^-149).
    let drop = (bits - 24).max(-149 - esmall).max(0);
    let kept = (s.unsigned_abs() >> drop) as f64 * 2f64.powi(esmall + drop);
    let v = if kept > f32::MAX as f64 { f32::MAX } else { kept as f32 };
    if s < 0 {
        -v
    } else {
        v
    }
}

#[derive(Clone, Debug)]
struct HalfCase {
    chip: Chip,
    op: Op,
    shape: [u32; 4],
    b_const: Option<u16>,
    relu: bool,
    lane_res: u32,
    lane_a: u32,
    w_mul: [u32; 3],
    b_h_bcast: bool,
    seed: u64,
    special: Vec<u16>,
}

fn half_case() -> impl Strategy<Value = HalfCase> {
    let ops = prop::sample::select(vec![Op::Add, Op::Sub, Op::Mul, Op::Mac, Op::Max, Op::Min, Op::Ge, Op::Copy]);
    (
        chip_strategy(),
        ops,
        (1u32..=2, 1u32..=20, 1u32..=3, 1u32..=40),
        (any::<bool>(), bf16_value(), any::<bool>()),
        (0u32..32, 0u32..32, [1u32..=2, 0u32..=2, 1u32..=2], any::<bool>()),
        any::<u64>(),
        prop::collection::vec(bf16_value(), 64),
    )
        .prop_map(|(chip, op, (n, c, h, w), (konst, kv, relu), (la, lb, w_mul, hb), seed, special)| {
            let lanes = chip.lanes();
            let op = if !chip.layout().has_ge_and_min_pool() && op == Op::Ge { Op::Min } else { op };
            HalfCase {
                chip,
                op,
                shape: [n, c, h, w],
                b_const: (konst && op != Op::Copy).then_some(kv),
                // The vendor simulator takes ReLU on sub, max and min too, and ignores it there.
                relu: relu && matches!(op, Op::Add | Op::Sub | Op::Mul | Op::Mac | Op::Max | Op::Min),
                lane_res: la % lanes,
                lane_a: lb % lanes,
                w_mul,
                b_h_bcast: hb,
                seed,
                special,
            }
        })
}

fn check_half(k: &HalfCase) -> Result<(), TestCaseError> {
    let chip = k.chip;
    let nl = lanes(chip);
    let [n, c, h, w] = k.shape;
    let mut al = Alloc { lanes: nl, next: 0 };
    let Some(res) = al.place(k.lane_res, k.shape, 2, k.w_mul[0], false, 1) else { return Ok(()) };
    let Some(a) = al.place(k.lane_a, k.shape, 2, k.w_mul[1].max(1), false, 1) else { return Ok(()) };
    let Some(b) = al.place(0, k.shape, 2, k.w_mul[2], k.b_h_bcast, 1) else { return Ok(()) };

    let mut d =
        TiuDesc { tsk_typ: 3, tsk_eu_typ: k.op.eu(), tsk_opd_num: 2, opd_typ: 1, cmd_en: 1, ..Default::default() };
    d.opt_relu_typ = k.relu as u32;
    d.opt_res_add = (k.op == Op::Mac) as u32;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (1, 1, 1);
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (n, c, h, w);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (n, c, h, w);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (n, c, h, w);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str) = (3, 3, 3);
    d.res0_addr = res.addr();
    d.opd0_addr = a.addr();
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = a.str;
    [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str] = b.str;
    match k.b_const {
        Some(v) => {
            d.opt_opd1_const = 1;
            d.opd1_addr = v as u32;
        }
        None => d.opd1_addr = b.addr(),
    }

    // Random memory, with the special values sprinkled over the 16-bit words.
    let mut before = random_lmem(chip, k.seed);
    for (i, word) in before.data.chunks_exact_mut(2).enumerate() {
        if i % 3 == 0 {
            word.copy_from_slice(&k.special[i % k.special.len()].to_le_bytes());
        }
    }
    let mut lmem = before.clone();
    tiu::exec(chip, &mut lmem, &d).map_err(|e| TestCaseError::fail(format!("exec: {e}")))?;

    let mut want = before.data.clone();
    let m = &before.data;
    let rd = |i: usize| u16::from_le_bytes([m[i], m[i + 1]]);
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    let ri = res.idx(nl, ni, ci, hi, wi);
                    let x = rd(a.idx(nl, ni, ci, hi, wi));
                    let y = k.b_const.unwrap_or_else(|| rd(b.idx(nl, ni, ci, hi, wi)));
                    let (fx, fy) = (bf16_read(x), bf16_read(y));
                    let either_nan = fx.is_nan() || fy.is_nan();
                    let mut v = match k.op {
                        Op::Add => bf16_write(fx + fy),
                        Op::Sub => bf16_write(fx - fy),
                        Op::Mul if k.chip.quirks().bf16_mul_flushes_subnormal_product && (fx * fy).is_subnormal() => {
                            bf16_write(0.0)
                        }
                        Op::Mul => bf16_write(fx * fy),
                        Op::Mac => {
                            // The accumulator is read exactly (subnormals kept); a subnormal
                            // product counts as zero.
                            let old = rd(ri);
                            let fo = if old & 0x7F80 == 0x7F80 { f32::NAN } else { f32::from_bits((old as u32) << 16) };
                            let p = fx * fy;
                            let p = if p.is_subnormal() { f32::from_bits(p.to_bits() & 0x8000_0000) } else { p };
                            bf16_write(sum_toward_zero(p, fo))
                        }
                        Op::Max if either_nan => 0x7F7F,
                        Op::Max => bf16_write(fx.max(fy)),
                        Op::Min if either_nan => 0x7F7F,
                        Op::Min => bf16_write(fx.min(fy)),
                        Op::Ge if either_nan => 0x7F7F,
                        Op::Ge => {
                            if fx >= fy {
                                0x3F80
                            } else {
                                0
                            }
                        }
                        Op::Copy => bf16_write(fx),
                        _ => unreachable!(),
                    };
                    if k.relu && matches!(k.op, Op::Add | Op::Mul | Op::Mac) && v & 0x8000 != 0 {
                        v = 0;
                    }
                    want[ri] = v as u8;
                    // CV182x's bf16 ge writes only the low byte (§9.8).
                    if !(chip.quirks().bf16_ge_writes_low_byte && k.op == Op::Ge) {
                        want[ri + 1] = (v >> 8) as u8;
                    }
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
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn bf16_ops_match_reference(k in half_case()) {
        check_half(&k)?;
    }
}

// ------------------------------------------------------------------------------------------------
// Single cases: errata values and refused descriptors.
// ------------------------------------------------------------------------------------------------

/// A 1×1×1×1 element-wise descriptor on lane 0: res at 0x100, opd0 at 0, opd1 at 0x80.
fn one(eu: u32, bf16: bool) -> TiuDesc {
    let mut d =
        TiuDesc { tsk_typ: 3, tsk_eu_typ: eu, tsk_opd_num: 2, opd_typ: bf16 as u32, cmd_en: 1, ..Default::default() };
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, 1, 1, 1);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, 1, 1, 1);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, 1, 1, 1);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str) = (3, 3, 3);
    let e = if bf16 { 2 } else { 1 };
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = [16, 16, 16, e];
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = [16, 16, 16, e];
    [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str] = [16, 16, 16, e];
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (0x100, 0, 0x80);
    d.opt_res_add = (eu == 1) as u32;
    d
}

fn run_bf16(eu: u32, a: u16, b: u16, old: u16, relu: bool) -> u16 {
    let chip = Chip::Cv181x;
    let mut d = one(eu, true);
    d.opt_relu_typ = relu as u32;
    let mut l = Lmem::new(chip.params());
    l.data[0..2].copy_from_slice(&a.to_le_bytes());
    l.data[0x80..0x82].copy_from_slice(&b.to_le_bytes());
    l.data[0x100..0x102].copy_from_slice(&old.to_le_bytes());
    tiu::exec(chip, &mut l, &d).unwrap();
    u16::from_le_bytes([l.data[0x100], l.data[0x101]])
}

#[test]
fn bf16_errata_values() {
    // §9.6: subnormal operands are zero: 0x007F × 0xFF2E = 0.
    assert_eq!(run_bf16(0, 0x007F, 0xFF2E, 0, false), 0x0000);
    // §9.3, §9.4: NaN, ±inf and overflow are written as +0x7F7F.
    assert_eq!(run_bf16(2, 0x7FC0, 0x3F80, 0, false), 0x7F7F);
    assert_eq!(run_bf16(2, 0xFF80, 0x3F80, 0, false), 0x7F7F);
    assert_eq!(run_bf16(0, 0xFF7F, 0x4000, 0, false), 0x7F7F);
    // §9.5: relu of -inf / negative overflow gives 0x7F7F, of a negative number 0.
    assert_eq!(run_bf16(0, 0xFF7F, 0x4000, 0, true), 0x7F7F);
    assert_eq!(run_bf16(0, 0xBF80, 0x4000, 0, true), 0x0000);
    // §9.7: never -0.
    assert_eq!(run_bf16(0, 0x0000, 0xBF80, 0, false), 0x0000);
    // max and min with an infinite operand give 0x7F7F (vectors).
    assert_eq!(run_bf16(4, 0xFF80, 0x4000, 0, false), 0x7F7F);
    assert_eq!(run_bf16(5, 0x7F80, 0xC040, 0, false), 0x7F7F);
    // mac reads its accumulator exactly: 0x0080 × 1.0 + 0x8005 is subnormal → 0 (vectors, CV182x).
    assert_eq!(run_bf16(1, 0x0080, 0x3F80, 0x8005, false), 0x0000);
    // copy goes through the datapath: -0 → 0, NaN → 0x7F7F.
    assert_eq!(run_bf16(10, 0x8000, 0, 0, false), 0x0000);
    assert_eq!(run_bf16(10, 0x7FC1, 0, 0, false), 0x7F7F);
}

#[test]
fn relu_on_unsigned_result_is_illegal() {
    // §9.10: the vendor simulator asserts on it.
    let mut d = one(0, false);
    d.opt_relu_typ = 1;
    let mut l = Lmem::new(Chip::Cv181x.params());
    let e = tiu::exec(Chip::Cv181x, &mut l, &d).unwrap_err();
    assert!(matches!(e, ExecErrorKind::Illegal { field: "opt_relu_typ", .. }), "{e}");
}

#[test]
fn undocumented_fields_are_refused() {
    let chip = Chip::Cv181x;
    let mut l = Lmem::new(chip.params());
    for set in [
        (|d: &mut TiuDesc| d.opt_opd0_const = 1) as fn(&mut TiuDesc),
        |d| d.short_nchwstr_same = 1,
        |d| d.opt_relu_value = 3,
        |d| d.opt_relu_typ = 2,
        |d| d.opt_res0_seg = 2,
        |d| d.opd1_w = 7,
    ] {
        let mut d = one(2, false);
        (d.opt_res0_sign, d.opt_opd0_sign) = (1, 1);
        set(&mut d);
        let e = tiu::exec(chip, &mut l, &d).unwrap_err();
        assert!(matches!(e, ExecErrorKind::Unsupported { .. }), "{e}");
    }
}

#[test]
fn out_of_lane_operand_is_reported() {
    let chip = Chip::Cv181x;
    let mut l = Lmem::new(chip.params());
    let mut d = one(2, false);
    d.res0_w = 40;
    d.opd0_w = 40;
    d.opd1_w = 40;
    d.res0_addr = 0x7FF0;
    let e = tiu::exec(chip, &mut l, &d).unwrap_err();
    assert!(matches!(e, ExecErrorKind::LmemOutOfRange { what: "res0", .. }), "{e}");
}

/// Settings the CV18[0-2]x vendor simulator stops on (differential fuzzing), each an error naming
/// its field; the same descriptor without the setting runs.
#[test]
fn settings_the_vendor_stops_on_name_their_field() {
    let chip = Chip::Cv181x;
    let mut l = Lmem::new(chip.params());
    let cases: [(TiuDesc, fn(&mut TiuDesc), &str); 5] = [
        // mac: a signed operand and an unsigned result
        (TiuDesc { opt_opd0_sign: 1, opt_res0_sign: 1, ..one(1, false) }, |d| d.opt_res0_sign = 0, "opt_res0_sign"),
        // mac: unsigned operands and a signed result
        (one(1, false), |d| d.opt_res0_sign = 1, "opt_res0_sign"),
        // mul and mac: ReLU with a 16-bit result
        (
            TiuDesc { opt_opd0_sign: 1, opt_res0_sign: 1, opt_relu_typ: 1, ..one(0, false) },
            |d| d.opt_res0_seg = 0,
            "opt_relu_typ",
        ),
        (
            TiuDesc { opt_opd0_sign: 1, opt_res0_sign: 1, opt_relu_typ: 1, ..one(1, false) },
            |d| d.opt_res0_seg = 0,
            "opt_relu_typ",
        ),
        // bf16: an odd byte stride
        (one(2, true), |d| d.opd0_h_str = 3, "opd0_h_str"),
    ];
    for (fine, set, field) in cases {
        tiu::exec(chip, &mut l, &fine).unwrap_or_else(|e| panic!("{field}: {e}"));
        let mut d = fine.clone();
        set(&mut d);
        let e = tiu::exec(chip, &mut l, &d).unwrap_err();
        assert!(matches!(e, ExecErrorKind::Illegal { field: f, .. } if f == field), "{field}: {e}");
    }
    // Every bf16 operand's strides count, on every chip.
    for c in Chip::ALL {
        let mut l = Lmem::new(c.params());
        for (set, field) in [
            ((|d: &mut TiuDesc| d.res0_w_str = 3) as fn(&mut TiuDesc), "res0_w_str"),
            (|d| d.opd1_c_str = 17, "opd1_c_str"),
            (|d| d.opd0_n_str = 15, "opd0_n_str"),
        ] {
            let mut d = one(0, true);
            set(&mut d);
            let e = tiu::exec(c, &mut l, &d).unwrap_err();
            assert!(matches!(e, ExecErrorKind::Illegal { field: f, .. } if f == field), "{c} {field}: {e}");
        }
    }
}
