//! Per-chip constants (spec `isa.md` §1.1, `timing.md` §1.1).

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One of the four CV18xx TPU generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chip {
    Cv180x,
    Cv181x,
    Cv182x,
    Cv183x,
}

/// The fixed parameters of a chip that the emulator and the disassembler need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChipParams {
    pub chip: Chip,
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
}

/// Bits of a local-memory address below the lane index (`lane << 15 | offset`).
pub const LMEM_SHIFT: u32 = 15;

const fn params(chip: Chip, lanes: u32, magic: u8, magic_s: u16, mhz: u64, gmem_start: u64) -> ChipParams {
    ChipParams {
        chip,
        lanes,
        eu_num: 16,
        lmem_per_lane: 32 * 1024,
        lmem_banks: 8,
        lmem_bank_size: 4 * 1024,
        cmdbuf_magic: magic,
        dmabuf_magic_s: magic_s,
        tpu_clock_hz: mhz * 1_000_000,
        gmem_start,
    }
}

pub const CV180X: ChipParams = params(Chip::Cv180x, 2, 0xA8, 0x1822, 500, 0);
pub const CV181X: ChipParams = params(Chip::Cv181x, 8, 0xA7, 0x1822, 500, 0);
pub const CV182X: ChipParams = params(Chip::Cv182x, 8, 0xA6, 0x1822, 750, 0);
pub const CV183X: ChipParams = params(Chip::Cv183x, 32, 0xA5, 0x1835, 650, 0x1_0000_0000);

impl Chip {
    pub const ALL: [Chip; 4] = [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x, Chip::Cv183x];

    pub const fn params(self) -> &'static ChipParams {
        match self {
            Chip::Cv180x => &CV180X,
            Chip::Cv181x => &CV181X,
            Chip::Cv182x => &CV182X,
            Chip::Cv183x => &CV183X,
        }
    }

    pub fn from_cmdbuf_magic(m: u8) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.params().cmdbuf_magic == m)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Chip::Cv180x => "cv180x",
            Chip::Cv181x => "cv181x",
            Chip::Cv182x => "cv182x",
            Chip::Cv183x => "cv183x",
        }
    }

    /// CV183x has its own TIU layout; CV180x/181x/182x share one.
    pub const fn is_cv183x(self) -> bool {
        matches!(self, Chip::Cv183x)
    }

    pub const fn lanes(self) -> u32 {
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
