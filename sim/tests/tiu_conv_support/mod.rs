//! Shared by the conv, depthwise and pooling tests: operand placement by the spec's lane formula,
//! the window geometry written directly from the spec's formulas, and plain reference arithmetic.
//! Nothing here calls the simulator's own geometry or layout code.
#![allow(dead_code)]

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use proptest::prelude::*;

pub const LANE_BYTES: u32 = 0x8000;

/// A tensor in local memory: start lane and offset, n/c/h/w byte strides.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub lane0: u32,
    pub off0: u32,
    pub str: [u32; 4],
}

impl Place {
    pub fn addr(&self) -> u32 {
        self.lane0 << 15 | self.off0
    }
    /// §1.2: channel c lives in lane (L0 + c) % NPU at offset off0 + (L0 + c) / NPU · c_str.
    pub fn idx(&self, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> usize {
        let l = self.lane0 + c;
        let off = self.off0 + (l / lanes) * self.str[1] + n * self.str[0] + h * self.str[2] + w * self.str[3];
        ((l % lanes) * LANE_BYTES + off) as usize
    }
}

/// Hands out per-lane offsets, 16-byte aligned, the same in every lane.
pub struct Alloc {
    pub next: u32,
}

impl Alloc {
    pub fn new() -> Alloc {
        Alloc { next: 0 }
    }
    /// Reserve `bytes` per lane; None when local memory is full.
    pub fn take(&mut self, bytes: u32) -> Option<u32> {
        let off = self.next;
        let end = off.checked_add(bytes)?;
        if end > LANE_BYTES {
            return None;
        }
        self.next = end.div_ceil(16) * 16;
        Some(off)
    }
    /// The EU-aligned default layout of §1.3 (stride code 0) at lane 0.
    pub fn aligned(&mut self, lanes: u32, [n, c, h, w]: [u32; 4], esz: u32) -> Option<Place> {
        let c_str = (h * w * esz).div_ceil(16) * 16;
        let n_str = c_str * c.div_ceil(lanes);
        let off0 = self.take(n * n_str)?;
        Some(Place { lane0: 0, off0, str: [n_str, c_str, w * esz, esz] })
    }
    /// A per-output-channel operand (weights, biases, QM records) of `c` channels, `step` bytes per
    /// channel slot: the lane computing result channel c holds that channel's values, so channels
    /// are counted from the result's start lane (lane `(res_lane + c) % NPU`, slot
    /// `(res_lane + c) / NPU`). The descriptor names only the per-lane offset (`off0`).
    pub fn per_result_channel(&mut self, lanes: u32, res_lane: u32, c: u32, step: u32) -> Option<Place> {
        let off0 = self.take(step * (res_lane + c).div_ceil(lanes))?;
        Some(Place { lane0: res_lane, off0, str: [0, step, 0, 0] })
    }
    /// Explicit strides (stride code 3) with `gap` spare bytes after each row, starting at `lane0`.
    pub fn strided(&mut self, lanes: u32, lane0: u32, [n, c, h, w]: [u32; 4], esz: u32, gap: u32) -> Option<Place> {
        let h_str = w * esz + gap;
        let c_str = h * h_str + gap;
        let n_str = c_str * (lane0 + c).div_ceil(lanes) + gap;
        let off0 = self.take(n * n_str)?;
        Some(Place { lane0, off0, str: [n_str, c_str, h_str, esz] })
    }
}

/// A fresh local memory filled with pseudo-random bytes.
pub fn random_lmem(chip: Chip, seed: u64) -> Lmem {
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

pub fn put16(l: &mut Lmem, i: usize, v: u16) {
    l.data[i..i + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn get16(l: &Lmem, i: usize) -> u16 {
    u16::from_le_bytes([l.data[i], l.data[i + 1]])
}

/// cvikernel's reset descriptor with the fields every conv-family test sets overwritten.
pub fn base_desc(chip: Chip) -> TiuDesc {
    let mut d = TiuDesc::reset(chip);
    d.opt_relu_typ = 0; // CV183x resets `opt_relu` to 1
    d.opt_res_shift = 0;
    d.opt_shift_typ = 1;
    d.opt_rshift_typ = 1;
    d.opt_res0_seg = 1;
    d.opt_opd0_seg = 1;
    d.opt_opd1_seg = 1;
    d.opt_opd2_seg = 0;
    d.conv_op_x_str = 1;
    d.conv_op_y_str = 1;
    d
}

// ------------------------------------------------------------------------------------------------
// Window geometry, straight from §3.6.1 "Geometry"
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub struct Geom {
    pub n: u32,
    pub c: u32,
    pub ih: u32,
    pub iw: u32,
    pub kh: u32,
    pub kw: u32,
    pub st_h: u32,
    pub st_w: u32,
    pub dil_h: u32,
    pub dil_w: u32,
    /// top, bottom, left, right
    pub pad: [u32; 4],
    pub ins_h: u32,
    pub ins_w: u32,
    pub ins_h_last: u32,
    pub ins_w_last: u32,
    pub oh: u32,
    pub ow: u32,
}

impl Geom {
    /// IH' = (IH−1)·(y_ins0+1) + y_ins0_last + 1 + up_pad + dn_pad.
    pub fn padded_h(&self) -> u32 {
        (self.ih - 1) * (self.ins_h + 1) + self.ins_h_last + 1 + self.pad[0] + self.pad[1]
    }
    pub fn padded_w(&self) -> u32 {
        (self.iw - 1) * (self.ins_w + 1) + self.ins_w_last + 1 + self.pad[2] + self.pad[3]
    }
    /// OH = (IH' − KH') / y_str + 1 with KH' = (KH−1)·dil + 1; None if the kernel does not fit.
    pub fn max_out(&self) -> Option<(u32, u32)> {
        let ekh = (self.kh - 1) * self.dil_h + 1;
        let ekw = (self.kw - 1) * self.dil_w + 1;
        let (ph, pw) = (self.padded_h(), self.padded_w());
        (ekh <= ph && ekw <= pw).then(|| ((ph - ekh) / self.st_h + 1, (pw - ekw) / self.st_w + 1))
    }
    /// "Input pixel (h, w) lands at row h·(y_ins0+1) + up_pad": the input row at padded row `y`.
    pub fn src_row(&self, y: u32) -> Option<u32> {
        (0..self.ih).find(|h| h * (self.ins_h + 1) + self.pad[0] == y)
    }
    pub fn src_col(&self, x: u32) -> Option<u32> {
        (0..self.iw).find(|w| w * (self.ins_w + 1) + self.pad[2] == x)
    }
    /// Input element (h, w) under kernel tap (ky, kx) of output (oh, ow), or None for pad/insert.
    pub fn tap(&self, oh: u32, ow: u32, ky: u32, kx: u32) -> Option<(u32, u32)> {
        Some((self.src_row(oh * self.st_h + ky * self.dil_h)?, self.src_col(ow * self.st_w + kx * self.dil_w)?))
    }
    /// Write the geometry fields of a descriptor (kernel in opd1_h/w).
    pub fn fill(&self, d: &mut TiuDesc, dilation: bool) {
        d.opd1_h = self.kh;
        d.opd1_w = self.kw;
        d.conv_op_y_str = self.st_h;
        d.conv_op_x_str = self.st_w;
        if dilation {
            d.conv_opd1_y_ins0 = self.dil_h - 1;
            d.conv_opd1_x_ins0 = self.dil_w - 1;
        }
        d.conv_opd0_up_pad = self.pad[0];
        d.conv_opd0_dn_pad = self.pad[1];
        d.conv_opd0_lf_pad = self.pad[2];
        d.conv_opd0_rt_pad = self.pad[3];
        d.conv_opd0_y_ins0 = self.ins_h;
        d.conv_opd0_x_ins0 = self.ins_w;
        d.conv_opd0_y_ins0_last = self.ins_h_last;
        d.conv_opd0_x_ins0_last = self.ins_w_last;
        d.res0_h = self.oh;
        d.res0_w = self.ow;
    }
}

/// Random window geometry: kernel up to `kmax`, strides up to 3, dilation up to 2 when `dilate`,
/// pads up to 2, insertion up to 1 when `insert`; the output is the full size the geometry gives
/// or, with `prefix`, now and then smaller (the vendor simulator lets depthwise convolution and
/// pooling ask for a prefix of the outputs, a convolution must ask for all of them).
pub fn geom(c_max: u32, kmax: u32, dilate: bool, insert: bool, prefix: bool) -> impl Strategy<Value = Geom> {
    (
        (1u32..=2, 1u32..=c_max, 1u32..=7, 1u32..=7, 1u32..=kmax, 1u32..=kmax),
        (1u32..=3, 1u32..=3, 1u32..=if dilate { 2 } else { 1 }, 1u32..=if dilate { 2 } else { 1 }),
        prop::array::uniform4(0u32..=2),
        (
            0u32..=if insert { 1 } else { 0 },
            0u32..=if insert { 1 } else { 0 },
            0u32..=if insert { 1 } else { 0 },
            0u32..=if insert { 1 } else { 0 },
        ),
        (0u32..4, 0u32..4),
    )
        .prop_filter_map(
            "kernel does not fit",
            move |(
                (n, c, ih, iw, kh, kw),
                (st_h, st_w, dil_h, dil_w),
                pad,
                (ins_h, ins_w, ins_h_last, ins_w_last),
                (sh, sw),
            )| {
                let mut g = Geom {
                    n,
                    c,
                    ih,
                    iw,
                    kh,
                    kw,
                    st_h,
                    st_w,
                    dil_h,
                    dil_w,
                    pad,
                    ins_h,
                    ins_w,
                    ins_h_last,
                    ins_w_last,
                    oh: 0,
                    ow: 0,
                };
                let (oh, ow) = g.max_out()?;
                // Mostly the full output; sometimes a prefix (a tile of a larger output).
                g.oh = if prefix && sh == 0 { (oh + 1) / 2 } else { oh };
                g.ow = if prefix && sw == 0 { (ow + 1) / 2 } else { ow };
                Some(g)
            },
        )
}

pub fn chip() -> impl Strategy<Value = Chip> {
    prop::sample::select(Chip::ALL.to_vec())
}

// ------------------------------------------------------------------------------------------------
// Reference arithmetic (§3.7 with the §9 errata), written independently of `cvsim_sim::arith`
// ------------------------------------------------------------------------------------------------

/// floor(x / 2^r + 1/2), r = 0 leaves x.
pub fn rshr(x: i64, r: u32) -> i64 {
    if r == 0 {
        x
    } else {
        (x + (1i64 << (r - 1))) >> r
    }
}

pub fn sat8(x: i64, signed: bool) -> u8 {
    if signed {
        x.clamp(-128, 127) as i8 as u8
    } else {
        x.clamp(0, 255) as u8
    }
}

/// 32-bit two's-complement wrap.
pub fn wrap32(x: i64) -> i32 {
    x as i32
}

/// Per-channel requantisation: acc + bias (wrapping, §9.1), x·2^left (wrapping, §9.2, the count
/// modulo 32 as the vendor simulator's 32-bit shift takes it), the rounding doubling high
/// multiply, the round-half-away divide, clamp to int8; relu on the result.
/// [`qm_ref`] for a CV183x record whose shift byte has bit 5 set (32–63, 96–127): the SRDHM
/// result shifted right by the byte's low five bits toward −∞, plus one when it is not negative.
pub fn qm_ref_adding_one(acc: i64, bias: i32, mult: i32, byte: u8, relu: bool) -> u8 {
    let x = wrap32(wrap32(acc) as i64 + bias as i64);
    let p = x as i64 * mult as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    let y = wrap32((p + nudge) / (1i64 << 31)) as i64;
    let z = ((y >> (byte & 31)) + (y >= 0) as i64).clamp(-128, 127);
    (if relu { z.max(0) } else { z }) as i8 as u8
}

/// Whether a record's shift byte takes [`qm_ref_adding_one`] on `chip`.
pub fn record_shift_adds_one(chip: Chip, byte: u8) -> bool {
    !chip.layout().signed_shifts() && (byte as i8) > 0 && byte & 0x20 != 0
}

pub fn qm_ref(acc: i64, bias: i32, mult: i32, shift: i32, relu: bool) -> u8 {
    let x = wrap32(wrap32(acc) as i64 + bias as i64);
    let (left, right) = if shift > 0 { (0u32, shift as u32) } else { ((-shift) as u32, 0u32) };
    let x = wrap32((x as i64) << (left % 32));
    let p = x as i64 * mult as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    let y = wrap32((p + nudge) / (1i64 << 31)) as i64; // C division: toward zero
    let mask = (1i64 << right) - 1;
    let rem = y & mask;
    let threshold = (mask >> 1) + (y < 0) as i64;
    let z = (y >> right) + (rem > threshold) as i64;
    let z = z.clamp(-128, 127);
    (if relu { z.max(0) } else { z }) as i8 as u8
}

/// Per-tensor epilogue: acc + bias16 (wrapping), relu, rounding arithmetic shift, saturate.
pub fn per_tensor_ref(acc: i64, bias: i64, relu: bool, rs: u32, signed: bool) -> u8 {
    let mut v = wrap32(wrap32(acc) as i64 + bias) as i64;
    if relu {
        v = v.max(0);
    }
    if signed || rs == 0 {
        return sat8(rshr(v, rs), signed);
    }
    // An unsigned result takes a logical shift (the vendor refuses an arithmetic one): the 32-bit
    // sum as an unsigned number, rounded half up.
    let u = v as u32 as u64;
    sat8(((u >> rs) + ((u >> (rs - 1)) & 1)) as i64, false)
}

/// A per-channel record: int32 bias (with bias only), uint32 multiplier, shift byte (the low
/// byte of `shift`'s two's complement; [`record_shift`] says what the chip reads from it).
pub fn record(bias: Option<i32>, mult: i32, shift: i32) -> Vec<u8> {
    let mut r = Vec::new();
    if let Some(b) = bias {
        r.extend_from_slice(&b.to_le_bytes());
    }
    r.extend_from_slice(&(mult as u32).to_le_bytes());
    r.push(shift as u8);
    r
}

/// The shift (positive: right, negative: left) a chip reads from a record's shift byte.
/// CV18[0-2]x: bits 5:0 as 6-bit two's complement, bits 7:6 ignored. CV183x: the byte as a
/// signed byte, a right shift taken modulo 32 (the vendor simulator's 32-bit shift).
pub fn record_shift(chip: Chip, byte: u8) -> i32 {
    if chip.layout().signed_shifts() {
        let six = (byte & 0x3F) as i32;
        if six >= 32 {
            six - 64
        } else {
            six
        }
    } else {
        let s = byte as i8 as i32;
        if s > 0 {
            s % 32
        } else {
            s
        }
    }
}

/// bf16 → f32 for test data (normal values only).
pub fn bf(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// The value a bf16 convolution pads with: the 16-bit pad field as an unsigned integer (every
/// chip; CV183x holds it in its own field).
pub fn pad_ref(pad: u16) -> f32 {
    pad as f32
}

/// Random bf16 normals in ±[2^-8, 2^8): products span enough binades that fp32 sums round (so
/// truncation differs from round-to-nearest), yet every sum of a few hundred products is exact
/// in f64, which `trunc_add` relies on.
pub fn bf16_val() -> impl Strategy<Value = u16> {
    (any::<bool>(), 119u16..=134, 0u16..128).prop_map(|(s, e, m)| (s as u16) << 15 | e << 7 | m)
}

/// fp32 accumulation with truncating adds, in the given order, from the exact sums.
pub fn trunc_add(a: f32, b: f32) -> f32 {
    let exact = a as f64 + b as f64;
    let mut t = exact as f32;
    if (t as f64).abs() > exact.abs() {
        t = f32::from_bits(t.to_bits() - 1);
    }
    t
}

/// f32 → bf16 result: round to nearest even; NaN, inf, overflow → 0x7F7F; zero exponent → 0.
pub fn bf16_out(x: f32) -> u16 {
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

pub fn bf16_relu(r: u16, relu: bool) -> u16 {
    if relu && r & 0x8000 != 0 {
        0
    } else {
        r
    }
}
