//! Arithmetic glue for the TIU executors over `crate::arith` (spec `isa.md` §3.7).

use crate::arith;

/// Right shift by `r` as selected by `opt_shift_typ` (arithmetic, or logical on the value as u32)
/// and `opt_rshift_typ` (round half up, or truncate).
#[inline]
pub(crate) fn rshift(x: i32, r: u32, round: bool, arith_shift: bool) -> i32 {
    match (arith_shift, round) {
        (true, true) => arith::rshr_i32(x, r),
        (true, false) => arith::shr_floor_i32(x, r),
        (false, true) => arith::rshr_u32(x as u32, r) as i32,
        (false, false) => arith::shr_u32(x as u32, r) as i32,
    }
}
