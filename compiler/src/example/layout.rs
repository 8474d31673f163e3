//! Where everything of the example lives: the network's dimensions, the global-memory regions and
//! offsets, and the local-memory plan with each tensor's strides (isa.md §1.2, §1.3).

pub use crate::codegen::local::Local;
use cvsim_isa::Region;

/// Input (1, IC, IH, IW).
pub const IC: usize = 8;
pub const IH: usize = 12;
pub const IW: usize = 12;
/// Conv 3×3, pad 1, stride 1: (1, OC, IH, IW).
pub const OC: usize = 16;
pub const KH: usize = 3;
pub const KW: usize = 3;
/// Max pool 2×2 stride 2: (1, OC, PH, PW).
pub const PH: usize = IH / 2;
pub const PW: usize = IW / 2;
/// FC: K inputs (the flattened pool/add output), N outputs.
pub const FC_K: usize = OC * PH * PW;
pub const FC_N: usize = 10;

/// Bytes of one QM record: int32 bias, uint32 multiplier, shift byte (isa.md §3.6.1).
pub const QM_RECORD: usize = 9;

/// The IO regions of the network's input and output.
pub const REGION_INPUT: Region = Region::IO_FIRST;
pub const REGION_OUTPUT: Region = Region::io(1).expect("there are five IO regions");

/// Offsets inside the WEIGHT section (= region 1), each 16-byte aligned.
pub const W_CONV_FILTER: u64 = 0;
pub const W_CONV_FILTER_BYTES: usize = OC * KH * KW * IC;
pub const W_CONV_QUANT: u64 = align16(W_CONV_FILTER + W_CONV_FILTER_BYTES as u64);
pub const W_CONV_QUANT_BYTES: usize = OC * QM_RECORD;
pub const W_FC_FILTER: u64 = align16(W_CONV_QUANT + W_CONV_QUANT_BYTES as u64);
pub const W_FC_FILTER_BYTES: usize = FC_K * FC_N;
pub const W_FC_BIAS: u64 = align16(W_FC_FILTER + W_FC_FILTER_BYTES as u64);
/// Two rows of FC_N bytes: the low bytes of the 16-bit biases, then the high bytes.
pub const W_FC_BIAS_BYTES: usize = 2 * FC_N;
pub const WEIGHT_BYTES: usize = (W_FC_BIAS + W_FC_BIAS_BYTES as u64) as usize;

/// Offset of the input in region 3, of the spilled add output in region 0, of the output in region 4.
pub const G_INPUT: u64 = 0;
pub const G_SPILL: u64 = 0;
pub const G_OUTPUT: u64 = 0;
pub const SHARED_BYTES: usize = FC_K;

const fn align16(v: u64) -> u64 {
    v.div_ceil(16) * 16
}

/// The local-memory plan. Everything starts in lane 0: the TIU's opd1/opd2 address fields are
/// only 16 bits wide (isa.md §1.2).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub input: Local,
    /// Conv weights as (1, OC, KH·KW, IC) compact: each output channel's [kh][kw][ic] block.
    pub conv_filter: Local,
    /// QM records as (1, OC, 1, 9) compact bytes.
    pub conv_quant: Local,
    pub conv_out: Local,
    pub pool_out: Local,
    /// The add's 16-bit accumulator: low bytes here (and the int8 add result afterwards) ...
    pub add_lo: Local,
    /// ... high bytes here.
    pub add_hi: Local,
    pub fc_left: Local,
    pub fc_right: Local,
    /// The 16-bit bias as a 2-row matrix (low bytes, high bytes).
    pub fc_bias: Local,
    pub fc_out: Local,
}

impl Plan {
    pub const fn new(lanes: u32) -> Plan {
        let (ic, oc, ih, iw, ph, pw) = (IC as u32, OC as u32, IH as u32, IW as u32, PH as u32, PW as u32);
        Plan {
            input: Local::eu_aligned(0x0000, lanes, 1, ic, ih, iw),
            conv_filter: Local::compact(0x0100, lanes, 1, oc, (KH * KW) as u32, ic),
            conv_quant: Local::compact(0x0200, lanes, 1, oc, 1, QM_RECORD as u32),
            conv_out: Local::eu_aligned(0x0300, lanes, 1, oc, ih, iw),
            pool_out: Local::eu_aligned(0x0480, lanes, 1, oc, ph, pw),
            add_lo: Local::eu_aligned(0x0500, lanes, 1, oc, ph, pw),
            add_hi: Local::eu_aligned(0x0580, lanes, 1, oc, ph, pw),
            fc_left: Local::matrix(0x0600, lanes, 1, FC_K as u32),
            fc_right: Local::matrix(0x0680, lanes, FC_K as u32, FC_N as u32),
            fc_bias: Local::matrix(0x2a80, lanes, 2, FC_N as u32),
            fc_out: Local::matrix(0x2ac0, lanes, 1, FC_N as u32),
        }
    }

    fn all(&self) -> [(&'static str, Local); 11] {
        [
            ("input", self.input),
            ("conv_filter", self.conv_filter),
            ("conv_quant", self.conv_quant),
            ("conv_out", self.conv_out),
            ("pool_out", self.pool_out),
            ("add_lo", self.add_lo),
            ("add_hi", self.add_hi),
            ("fc_left", self.fc_left),
            ("fc_right", self.fc_right),
            ("fc_bias", self.fc_bias),
            ("fc_out", self.fc_out),
        ]
    }

    /// Per-lane byte ranges used by each tensor, for the overlap check.
    pub fn extents(&self) -> Vec<(&'static str, u32, u32)> {
        self.all()
            .iter()
            .map(|&(name, t)| {
                let per_lane = t.n_str * t.n; // n_str already covers ceil(C / lanes) channels
                (name, t.addr, t.addr + per_lane)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_fits_and_does_not_overlap() {
        let p = Plan::new(8);
        let ext = p.extents();
        for (i, a) in ext.iter().enumerate() {
            assert!(a.2 <= 32 * 1024, "{} ends at {:#x}", a.0, a.2);
            assert_eq!(a.1 % 16, 0, "{} must start 16-byte aligned", a.0);
            for b in &ext[i + 1..] {
                assert!(a.2 <= b.1 || b.2 <= a.1, "{} {:x?} overlaps {} {:x?}", a.0, a, b.0, b);
            }
        }
    }

    #[test]
    fn matrix_chunking_follows_cvikernel() {
        // 576 columns on 8 lanes: w = 16 · ceil(576 / 128) = 80, c = ceil(576 / 80) = 8.
        let m = Local::matrix(0, 8, 1, 576);
        assert_eq!((m.c, m.w, m.c_str, m.n_str), (8, 80, 80, 80));
        let r = Local::matrix(0, 8, 576, 10);
        assert_eq!((r.c, r.w, r.c_str, r.n_str), (1, 10, 16, 16));
        let t = Local::eu_aligned(0, 8, 1, 16, 6, 6);
        assert_eq!((t.c_str, t.n_str), (48, 96));
        assert_eq!(t.locate(8, 0, 9, 1, 2), (1, 48 + 6 + 2));
    }
}
