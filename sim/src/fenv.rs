//! The host's SSE floating-point environment set to the TIU's fp32 adder: results rounded toward
//! zero and subnormal results flushed to a signed zero (MXCSR rounding control = toward zero, FTZ
//! on, DAZ off so that a subnormal partial sum read back is still added exactly).
//!
//! [`crate::arith::f32_add_toward_zero`] and [`crate::arith::f32_mac`] compute the same values in
//! software, a dozen operations per element; under this environment a host `+` and `*` give them
//! directly (IEEE round-toward-zero also saturates a finite overflow to ±`f32::MAX`, as the TIU
//! adder does). The one difference is the product: the TIU multiplies in round-to-nearest, so a
//! product beyond the fp32 range is ±inf, where the host under this environment gives ±`f32::MAX`.
//! A product of two bf16 operands (8 significant bits each) never equals `f32::MAX` exactly (24
//! significant bits), so [`Truncating::mac`] maps that value back to infinity.
//!
//! Rust and LLVM assume the default environment, so the environment is changed only around a
//! call to a function that is never inlined: no floating-point operation of the caller can move
//! into it or out of it, and none of its operands is a compile-time constant.

/// Proof that the calling thread's environment is the truncating one; only [`truncating`]
/// makes one.
#[derive(Clone, Copy)]
pub struct Truncating {
    _private: (),
}

impl Truncating {
    /// `acc + a·b` as the bf16 MAC computes it, for `a` and `b` that are bf16 operands (no
    /// subnormal or infinite values; see [`crate::bf16::bf16_operand`]). Same bits as
    /// [`crate::arith::f32_mac`].
    #[inline(always)]
    pub fn mac(self, acc: f32, a: f32, b: f32) -> f32 {
        let p = a * b;
        // Written as a select so the callers' loops over outputs vectorise.
        let p = if p.abs() == f32::MAX { f32::INFINITY.copysign(p) } else { p };
        acc + p
    }
}

/// Runs `f` with the truncating environment on this thread and restores the previous one.
/// Where the host has no such environment, returns `None` without calling `f` (the caller then
/// computes with the software rules).
#[inline]
pub fn truncating<R>(f: impl FnOnce(Truncating) -> R) -> Option<R> {
    #[cfg(target_arch = "x86_64")]
    {
        let saved = mxcsr::get();
        mxcsr::set((saved & !mxcsr::ROUNDING & !mxcsr::DAZ) | mxcsr::TOWARD_ZERO | mxcsr::FTZ);
        let r = call(f);
        mxcsr::set(saved);
        Some(r)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = f;
        None
    }
}

#[inline(never)]
fn call<R>(f: impl FnOnce(Truncating) -> R) -> R {
    f(Truncating { _private: () })
}

#[cfg(target_arch = "x86_64")]
mod mxcsr {
    pub const ROUNDING: u32 = 0x6000;
    pub const TOWARD_ZERO: u32 = 0x6000;
    pub const FTZ: u32 = 0x8000;
    pub const DAZ: u32 = 0x0040;

    #[inline(always)]
    pub fn get() -> u32 {
        let mut v = 0u32;
        // SAFETY: stmxcsr stores the 32-bit register to the given address, which is `v`.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
        v
    }

    #[inline(always)]
    pub fn set(v: u32) {
        // SAFETY: only the rounding, FTZ and DAZ bits differ from a value read from the register;
        // every exception stays masked as it was.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith;

    /// Values that reach every case: zeros, subnormal and near-subnormal sums, overflowing
    /// products, NaN, and ordinary magnitudes of both signs.
    fn operand(r: u32, bf16: bool) -> f32 {
        let exp = match r % 16 {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => 0xFE,
            4 => 0xFD,
            5 => 0xFF,
            _ => 1 + (r >> 8) % 0xFE,
        };
        let man = r.rotate_left(7) & 0x7F_FFFF;
        let bits = (r & 0x8000_0000) | exp << 23 | if bf16 { man & 0x7F_0000 } else { man };
        let v = f32::from_bits(bits);
        if bf16 {
            crate::bf16::bf16_operand((bits >> 16) as u16)
        } else {
            v
        }
    }

    #[test]
    fn mac_matches_the_software_rules() {
        let mut next = arith::xorshift32(0x9E37_79B9);
        let cases: Vec<(f32, f32, f32)> = (0..400_000)
            .map(|_| (operand(next(), false), operand(next(), true), operand(next(), true)))
            .chain([
                (0.0, f32::MIN_POSITIVE, 0.5),
                (-0.0, -f32::MIN_POSITIVE, 0.5),
                (f32::MIN_POSITIVE, -1.5 * f32::MIN_POSITIVE, 1.0),
                (f32::from_bits(1), 0.0, 0.0),
                (f32::MAX, 2.0, 2f32.powi(127)),
                (-f32::MAX, 2.0, -2f32.powi(127)),
                (f32::MAX, -2.0, 2f32.powi(127)),
                (1.0, 1.0, -1.0),
                (-0.0, 0.0, 1.0),
            ])
            .collect();
        let hw = truncating(|t| cases.iter().map(|&(a, b, c)| t.mac(a, b, c)).collect::<Vec<_>>());
        let Some(hw) = hw else { return };
        for (&(a, b, c), h) in cases.iter().zip(hw) {
            let sw = arith::f32_mac(a, b, c);
            assert!(
                sw.to_bits() == h.to_bits() || (sw.is_nan() && h.is_nan()),
                "{a:e} + {b:e}·{c:e}: software {sw:e} ({:08x}), host {h:e} ({:08x})",
                sw.to_bits(),
                h.to_bits()
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn environment_is_restored() {
        use std::hint::black_box;
        // 1 + 1.5 ulp: round to nearest even gives 1 + 2 ulp, toward zero 1 + 1 ulp.
        let sum = || black_box(1.0f32) + black_box(3.0 * 2f32.powi(-24));
        let before = mxcsr::get();
        assert_eq!(truncating(|_| sum()), Some(1.0 + 2f32.powi(-23)));
        assert_eq!(mxcsr::get(), before);
        assert_eq!(sum(), 1.0 + 2f32.powi(-22));
    }
}
