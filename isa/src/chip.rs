//! Every chip as data: one [`ChipParams`] entry per chip (spec `isa.md` §1.1, `timing.md` §1.1)
//! holds its sizes, magics, clock, descriptor layout family and each behaviour in which it differs
//! from the others, as a named field. Code elsewhere asks for a property, never for a chip: adding
//! a chip is one `Chip` variant and one entry of [`CHIPS`] (plus layout tables if its layouts are
//! new).

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One of the CV18xx TPU generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chip {
    Cv180x,
    Cv181x,
    Cv182x,
    Cv183x,
}

/// Which TIU and TDMA descriptor layouts a chip uses (`isa.md` §3.3, §4.1). The layout decides
/// more than bit positions: see the methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutFamily {
    /// CV180x, CV181x and CV182x share one TIU and one TDMA layout.
    Cv18x,
    /// CV183x has its own.
    Cv183x,
}

impl LayoutFamily {
    /// The TIU selects lookup-table and mdsum tasks by the `tens_lookup` / `tens_mdsum` flags of an
    /// element-wise task; otherwise lookup, `ge` and min pooling are `tsk_eu_typ` values.
    pub const fn tiu_ops_by_flag(self) -> bool {
        matches!(self, LayoutFamily::Cv183x)
    }

    /// Shift fields (`opt_res_shift`, the per-channel quantisation shift byte) are 6-bit two's
    /// complement, negative meaning a left shift; otherwise plain unsigned right shifts.
    pub const fn signed_shifts(self) -> bool {
        matches!(self, LayoutFamily::Cv18x)
    }

    /// The TIU has `ge` and min pooling (`tsk_eu_typ` values).
    pub const fn has_ge_and_min_pool(self) -> bool {
        matches!(self, LayoutFamily::Cv18x)
    }

    /// bf16 padding values have their own field (`opd0_ins_fp`) beside the int8 one.
    pub const fn bf16_pad_field(self) -> bool {
        matches!(self, LayoutFamily::Cv183x)
    }
}

/// The fixed parameters of a chip that the emulator, the runtime and the disassembler need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChipParams {
    pub chip: Chip,
    /// Lower-case name, as in `.cvimodel` headers and on the command line.
    pub name: &'static str,
    /// NPU lanes (`NPU_NUM`).
    pub lanes: u32,
    /// Execution units per lane (`EU_NUM`); also the 16-byte alignment unit of every layout rule.
    pub eu_num: u32,
    /// Local memory bytes per lane.
    pub lmem_per_lane: u32,
    /// Local memory banks per lane.
    pub lmem_banks: u32,
    /// Bytes per local memory bank.
    pub lmem_bank_size: u32,
    /// Byte 0 of every cmdbuf record header.
    pub cmdbuf_magic: u8,
    /// `dmabuf_magic_s` of the dmabuf header.
    pub dmabuf_magic_s: u16,
    /// TPU clock in Hz used by the vendor estimator and the board PMU tables.
    pub tpu_clock_hz: u64,
    /// `GLOBAL_MEM_START_ADDR`: CV183x emitters add 4 GiB to every global address.
    pub gmem_start: u64,
    /// The DDR of the chip's usual board, the timing model's default: mega-transfers per second
    /// and data bus width in bits (`timing.md` §1.2).
    pub ddr_rate_mts: u32,
    pub ddr_bus_bits: u32,
    pub layout: LayoutFamily,
    /// Version 1.0 `.cvimodel` headers have no chip name; they are this chip's.
    pub v1_0_header: bool,
    /// VPSS frame rows (and Y-plane rows) start at multiples of this many bytes.
    pub vpss_row_align: u64,
    /// VPSS planes start at multiples of this many bytes.
    pub vpss_plane_align: u64,
    pub quirks: Quirks,
}

/// Behaviours of one chip that its layout family does not imply, each found in the vendor
/// simulator's outputs (the source is at the code that honours it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quirks {
    /// TDMA general copies between global and local memory address local memory flat, lane after
    /// lane (`sim/src/tdma/general.rs`).
    pub tdma_general_flat_lmem: bool,
    /// bf16 → int8 conversion gives 0 for every |x| ≥ 2^127 and ±inf (`sim/src/bf16.rs`).
    pub bf16_to_int8_huge_is_zero: bool,
    /// Per-channel-quantised depthwise convolution ignores kernel dilation
    /// (`sim/src/tiu/depthwise.rs`).
    pub depthwise_qm_ignores_dilation: bool,
    /// bf16 `ge` writes only the low byte of each result (`isa.md` §9.8).
    pub bf16_ge_writes_low_byte: bool,
    /// bf16 min pooling reads outside its window in the vendor simulator, so its output cannot be
    /// reproduced (`isa.md` §9.9).
    pub bf16_min_pool_unreproducible: bool,
    /// The TIU has the mdsum task.
    pub mdsum: bool,
    /// A bf16 convolution's fp32 bias has its low-half plane `ceil((lane0 + C) / lanes) · 2` bytes
    /// after the high halves, C being the result's channels and lane0 the bias's first lane,
    /// whatever `opd2_b_str` says (oracle runs of a
    /// 1×1 depthwise convolution whose bias planes were laid out for more channels than the
    /// descriptor's C; cvikernel always sets the two equal).
    pub bf16_bias_plane_stride_from_channels: bool,
    /// A bf16 element-wise multiply whose fp32 product is subnormal writes zero rather than the
    /// product rounded to bf16 (which can round up to the smallest normal), as the MAC treats it
    /// (differential fuzzing, `cv183x-tiu_eltwise_bf16-016-s20261208-b52-c36`).
    pub bf16_mul_flushes_subnormal_product: bool,
    /// The vendor simulator gives undefined bytes for the tail of a tensor whose per-tensor result
    /// shift is 33..63 (`traces/spec-notes-res-shift-*.md`), so such shifts have no reference
    /// output to compare with.
    pub res_shift_over_32_unreproducible: bool,
    /// A bf16 matrix multiply (not a partial-sum pass) starts its truncating fp32 sum at the bias
    /// and adds the products to it; otherwise the bias is added to the finished sum (differential
    /// fuzzing: `cv180x-tiu_matmul_bf16-025-s20261209-b80-c31` and its kind are one ulp off with
    /// the bias last, CV183x cases with the bias first; `sim/src/tiu/matmul.rs`).
    pub bf16_matmul_bias_starts_sum: bool,
}

/// Bits of a local-memory address below the lane index (`lane << 15 | offset`).
pub const LMEM_SHIFT: u32 = 15;

const fn entry(
    chip: Chip,
    name: &'static str,
    lanes: u32,
    magic: u8,
    magic_s: u16,
    mhz: u64,
    (ddr_rate_mts, ddr_bus_bits): (u32, u32),
) -> ChipParams {
    ChipParams {
        chip,
        name,
        lanes,
        eu_num: 16,
        lmem_per_lane: 32 * 1024,
        lmem_banks: 8,
        lmem_bank_size: 4 * 1024,
        cmdbuf_magic: magic,
        dmabuf_magic_s: magic_s,
        tpu_clock_hz: mhz * 1_000_000,
        gmem_start: 0,
        ddr_rate_mts,
        ddr_bus_bits,
        layout: LayoutFamily::Cv18x,
        v1_0_header: false,
        vpss_row_align: 64,
        vpss_plane_align: 64,
        quirks: Quirks {
            tdma_general_flat_lmem: false,
            bf16_to_int8_huge_is_zero: false,
            depthwise_qm_ignores_dilation: true,
            bf16_ge_writes_low_byte: false,
            bf16_min_pool_unreproducible: false,
            mdsum: false,
            bf16_bias_plane_stride_from_channels: true,
            bf16_mul_flushes_subnormal_product: false,
            res_shift_over_32_unreproducible: false,
            bf16_matmul_bias_starts_sum: true,
        },
    }
}

const fn flat_lmem_general(mut p: ChipParams) -> ChipParams {
    p.quirks.tdma_general_flat_lmem = true;
    p
}

const fn res_shift_over_32_unreproducible(mut p: ChipParams) -> ChipParams {
    p.quirks.res_shift_over_32_unreproducible = true;
    p
}

/// Every chip, in [`Chip`] order.
pub static CHIPS: [ChipParams; 4] = [
    // DDR2-1333 ×16: the Milk-V Duo (CV1800B) board configuration.
    res_shift_over_32_unreproducible(flat_lmem_general(entry(
        Chip::Cv180x,
        "cv180x",
        2,
        0xA8,
        0x1822,
        500,
        (1333, 16),
    ))),
    // DDR3-1866 ×16: the Milk-V Duo 256M / Duo S board configurations.
    flat_lmem_general(entry(Chip::Cv181x, "cv181x", 8, 0xA7, 0x1822, 500, (1866, 16))),
    {
        // 1866 MT/s × 16 bit: FAQ §2.4.
        let mut p = entry(Chip::Cv182x, "cv182x", 8, 0xA6, 0x1822, 750, (1866, 16));
        p.quirks.bf16_ge_writes_low_byte = true;
        p.quirks.bf16_min_pool_unreproducible = true;
        p
    },
    {
        // 1866 MT/s, 16- or 32-bit by board (FAQ §2.4). 32-bit because it fits the vendor's CV183x
        // figures and the 16-bit board does not (`traces/timing-calibration-*.md`); a 16-bit board
        // is `{"ddr": {"cv183x": {"bus_bits": 16}}}` in a timing config.
        let mut p = entry(Chip::Cv183x, "cv183x", 32, 0xA5, 0x1835, 650, (1866, 32));
        p.gmem_start = 0x1_0000_0000;
        p.layout = LayoutFamily::Cv183x;
        p.v1_0_header = true;
        // CV183x's VPSS wants 32-byte rows and 4 KiB planes.
        p.vpss_row_align = 32;
        p.vpss_plane_align = 0x1000;
        p.quirks.bf16_to_int8_huge_is_zero = true;
        p.quirks.depthwise_qm_ignores_dilation = false;
        p.quirks.mdsum = true;
        p.quirks.bf16_bias_plane_stride_from_channels = false;
        p.quirks.bf16_mul_flushes_subnormal_product = true;
        p.quirks.bf16_matmul_bias_starts_sum = false;
        p
    },
];

impl Chip {
    pub const ALL: [Chip; 4] = [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x, Chip::Cv183x];

    /// Position in [`Chip::ALL`] and [`CHIPS`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn params(self) -> &'static ChipParams {
        &CHIPS[self.index()]
    }

    pub fn from_cmdbuf_magic(m: u8) -> Option<Chip> {
        CHIPS.iter().find(|p| p.cmdbuf_magic == m).map(|p| p.chip)
    }

    /// The chip of a version 1.0 `.cvimodel`, whose header does not name one.
    pub fn of_v1_0_header() -> Chip {
        CHIPS.iter().find(|p| p.v1_0_header).map(|p| p.chip).expect("one chip has v1.0 headers")
    }

    pub fn name(self) -> &'static str {
        self.params().name
    }

    pub fn layout(self) -> LayoutFamily {
        self.params().layout
    }

    pub fn quirks(self) -> &'static Quirks {
        &self.params().quirks
    }

    pub fn lanes(self) -> u32 {
        self.params().lanes
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chip `{0}` (expected cv180x, cv181x, cv182x or cv183x)")]
pub struct UnknownChip(pub String);

impl FromStr for Chip {
    type Err = UnknownChip;
    fn from_str(s: &str) -> Result<Chip, UnknownChip> {
        let t = s.trim().to_ascii_lowercase();
        Chip::ALL.into_iter().find(|c| c.name() == t).ok_or(UnknownChip(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_chip_order() {
        for (i, c) in Chip::ALL.into_iter().enumerate() {
            assert_eq!((CHIPS[i].chip, c.index()), (c, i));
            assert_eq!(c.name().parse::<Chip>(), Ok(c));
            assert_eq!(Chip::from_cmdbuf_magic(c.params().cmdbuf_magic), Some(c));
        }
        assert_eq!(CHIPS.iter().filter(|p| p.v1_0_header).count(), 1);
    }
}
