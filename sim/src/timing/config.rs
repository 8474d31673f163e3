//! Every constant of the timing model, named, with where its value comes from, and overridable from
//! JSON.
//!
//! Sources are cited as in `timing.md`: "estimator" is tpu-mlir's static CV18xx cost model
//! (`timing.md` §4), "FAQ" the vendor TPU FAQ, board configurations the Milk-V defconfigs
//! (`timing.md` §1.2). Values marked *measured* come from a board PMU trace the vendor published (its
//! CV183x ResNet-50 per-descriptor CSV, `sophgo/tpu_compiler:python/cvi_toolkit/performance/
//! performance_viewer/example/resnet50_des.csv`). Values marked *fitted* were calibrated against the vendor's board latencies
//! (`traces/timing-calibration-*.md`); values marked *assumed* have no public source and are
//! physical guesses that the corpus does not constrain.
//!
//! A config file may give any subset of the fields: missing fields keep their defaults
//! ([`TimingConfig::from_json`]); unknown fields are rejected so that a misspelt override is
//! reported rather than ignored.

use super::TimingError;
use cvsim_isa::Chip;
use serde::{Deserialize, Serialize};

/// One value per chip of [`Chip::ALL`]; in JSON an object keyed by chip name (every chip once).
#[derive(Clone, Debug, PartialEq)]
pub struct PerChip<T>([T; Chip::ALL.len()]);

impl<T> PerChip<T> {
    /// Each chip's value from its description.
    pub fn from_fn(f: impl FnMut(Chip) -> T) -> PerChip<T> {
        PerChip(Chip::ALL.map(f))
    }
    pub fn get(&self, chip: Chip) -> &T {
        &self.0[chip.index()]
    }
    pub fn get_mut(&mut self, chip: Chip) -> &mut T {
        &mut self.0[chip.index()]
    }
    /// This table with one chip's value replaced.
    pub fn with(mut self, chip: Chip, v: T) -> PerChip<T> {
        self.0[chip.index()] = v;
        self
    }
}

impl<T> std::ops::Index<Chip> for PerChip<T> {
    type Output = T;
    fn index(&self, chip: Chip) -> &T {
        self.get(chip)
    }
}

impl<T> std::ops::IndexMut<Chip> for PerChip<T> {
    fn index_mut(&mut self, chip: Chip) -> &mut T {
        self.get_mut(chip)
    }
}

impl<T: Serialize> Serialize for PerChip<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for c in Chip::ALL {
            m.serialize_entry(c.name(), self.get(c))?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for PerChip<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut m: std::collections::BTreeMap<String, T> = Deserialize::deserialize(d)?;
        if let Some(k) = m.keys().find(|k| k.parse::<Chip>().map_or(true, |c| c.name() != k.as_str())) {
            return Err(D::Error::custom(format!("unknown chip `{k}` in a per-chip table")));
        }
        let mut missing = Vec::new();
        let vals: Vec<T> = Chip::ALL
            .into_iter()
            .filter_map(|c| {
                let v = m.remove(c.name());
                if v.is_none() {
                    missing.push(c.name());
                }
                v
            })
            .collect();
        let arr: [T; Chip::ALL.len()] =
            vals.try_into().map_err(|_| D::Error::custom(format!("a per-chip table misses {}", missing.join(", "))))?;
        Ok(PerChip(arr))
    }
}

/// The whole timing model's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimingConfig {
    /// Share of DDR bandwidth taken by other bus masters (VPSS, VENC, the CPUs), 0 ≤ x < 1. It
    /// stretches the DRAM part of every TDMA transfer by 1 / (1 − x) and leaves TIU time alone:
    /// the FAQ (§3.7) reports exactly that split on boards running video pipelines.
    pub ddr_load: f64,
    /// TPU clock per chip in Hz. Default: `Chip::params().tpu_clock_hz` (650/750/500/500 MHz, the
    /// board CSV headers and the estimator).
    pub tpu_clock_hz: PerChip<u64>,
    /// The DDR behind each chip.
    pub ddr: PerChip<DdrConfig>,
    pub tiu: TiuConfig,
    pub tdma: TdmaConfig,
    /// Host time between two segments of one routine: the driver resets both id counters, re-arms
    /// the engines and waits for the TDMA interrupt (`isa.md` §2.5). *Assumed* (an interrupt round
    /// trip plus a few register writes on a Linux host); none of the corpus routines has more than
    /// one segment, so the calibration does not constrain it.
    pub segment_gap_ns: f64,
    /// Delay from a descriptor's completion to the start of a descriptor of the other engine that
    /// waits for it: the completed-id counter is updated, the waiting engine sees it and issues
    /// (fetching its descriptor only then). *Fitted*: 250 ns.
    pub sync_ns: f64,
}

/// A DDR interface: peak = transfer rate × bus width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DdrConfig {
    /// Mega-transfers per second.
    pub rate_mts: f64,
    /// Data bus width in bits.
    pub bus_bits: u32,
    /// Share of the peak that long sequential TDMA streams achieve (refresh, bank/page changes,
    /// read/write turnarounds, controller scheduling). *Fitted*, one value for every chip (see
    /// [`DDR_EFFICIENCY`]); the TDMA may stream slower ([`TdmaConfig::stream_bytes_per_ns`]).
    pub efficiency: f64,
}

impl Default for DdrConfig {
    fn default() -> Self {
        DdrConfig { rate_mts: 1866.0, bus_bits: 16, efficiency: DDR_EFFICIENCY }
    }
}

impl DdrConfig {
    /// Peak bandwidth in bytes per second (MB = 10⁶ bytes, as the FAQ computes it).
    pub fn peak_bytes_per_s(&self) -> f64 {
        self.rate_mts * 1e6 * self.bus_bits as f64 / 8.0
    }
}

/// *Fitted* cross-engine sync latency in ns (see [`TimingConfig::sync_ns`]).
pub const SYNC_NS: f64 = 250.0;
/// DDR efficiency of the DRAM side, *fitted*: 0.96 over the validation set
/// (`traces/timing-validation-*.md`; grid 0.88–0.96, flat within 3% of the objective above 0.92),
/// which leaves room for refresh (about 3% on DDR3). It decides the 16-bit boards only: on the
/// 32-bit CV183x board the TDMA's own limit ([`TDMA_STREAM_BYTES_PER_NS`]) binds first.
pub const DDR_EFFICIENCY: f64 = 0.96;
/// *Fitted* TIU per-descriptor overhead in ns (see [`TiuConfig::descriptor_ns`]).
pub const TIU_DESCRIPTOR_NS: f64 = 0.0;
/// *Fitted* minimum convolution pass with per-channel quantisation (see
/// [`TiuConfig::min_loop_qm_cycles`]; grids 16..64 and 44/48/52, `traces/timing-validation-*.md`).
pub const MIN_LOOP_QM_CYCLES: u32 = 52;
/// Input channels per cycle of CV180x 1×1 convolutions, *fitted*. On the board CV180x runs the
/// 1×1-dominated networks (MobileNet v1 at 15.1 GMAC/s, DenseNet-121 at 14.5) faster than one
/// input channel per cycle allows once their other work is counted (16 GMAC/s at 2 lanes × 16 EUs
/// × 500 MHz), while ResNet-18, all 3×3, runs at 84% of it: so the second input-channel path works
/// on 1×1 kernels, at part rate (`traces/timing-validation-*.md`).
pub const CV180X_POINTWISE_CHANNELS_PER_CYCLE: f64 = 1.25;
/// Minimum depthwise pass with per-channel quantisation: the estimator's 16, which the fit keeps
/// (grid 16, 24, 32; see [`TiuConfig::min_loop_qm_depthwise_cycles`]).
pub const MIN_LOOP_QM_DEPTHWISE_CYCLES: u32 = 16;
/// TDMA per-descriptor latency in ns, *measured*: on the vendor's CV183x board trace a plain
/// load's fixed part is about 220 ns and a plain store's about 155 ns (see
/// [`TdmaConfig::descriptor_ns`]).
pub const TDMA_DESCRIPTOR_NS: f64 = 200.0;
/// *Measured* start-up of a decompressing load beyond a plain load's (see
/// [`TdmaConfig::vlc_start_ns`]).
pub const TDMA_VLC_START_NS: f64 = 500.0;
/// TDMA streaming limit in bytes per ns, *measured*: beyond their fixed latency, plain loads of the
/// vendor's CV183x board trace stream at 6.6 GB/s and stores at 6.8 GB/s, 0.89–0.92 of the 32-bit
/// DDR3-1866 peak (7.46 GB/s). The loads' rate is taken as the engine's limit (see
/// [`TdmaConfig::stream_bytes_per_ns`]).
pub const TDMA_STREAM_BYTES_PER_NS: f64 = 6.6;
/// TDMA per-descriptor work in TPU cycles (see [`TdmaConfig::descriptor_cycles`]): 0, as the
/// board trace's fixed latency is accounted for by `descriptor_ns`; kept so that a fit can
/// split the fixed cost between the DRAM and the TPU clock.
pub const TDMA_DESCRIPTOR_CYCLES: f64 = 0.0;

/// TIU cost constants. All cycle counts are TPU cycles; the defaults are the estimator's
/// (`timing.md` §4.2–4.3) unless a field says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TiuConfig {
    /// Execution units per lane (`EU_NUM`, the chip headers), the pixel width of one pass.
    pub eu_per_lane: u32,
    /// EUs active for int8 data (estimator: 16).
    pub eu_active_int8: u32,
    /// EUs active for bf16 data (estimator: 8, i.e. half the int8 rate).
    pub eu_active_bf16: u32,
    /// Input channels consumed per cycle by a `double_conv` int8 convolution with a kernel larger
    /// than 1×1, per chip. The estimator says 2 for every chip. *Fitted* for CV180x: its board
    /// figures of 3×3-dominated networks (ResNet-18) are matched only with 1, so the 2-lane TPU's
    /// second input-channel path is inferred not to serve spatial kernels (`traces/`); 1×1
    /// kernels have their own rate, [`TiuConfig::pointwise_double_conv_channels`].
    pub double_conv_channels: PerChip<u32>,
    /// Input channels consumed per cycle by a `double_conv` int8 convolution with a 1×1 kernel,
    /// per chip: as `double_conv_channels` except where a chip's board figures show otherwise.
    /// *Fitted* for CV180x (see [`CV180X_POINTWISE_CHANNELS_PER_CYCLE`]).
    pub pointwise_double_conv_channels: PerChip<f64>,
    /// Convolution/matrix start-up: sync and R0/R1 path (estimator: 37 + 2 + 2).
    pub sync_cycles: u32,
    /// Element-wise command latency: init and lane broadcast (estimator: 15 + 8 + 1 + 2).
    pub eltwise_cmd_cycles: u32,
    /// Write-back / post-processing (estimator: 12).
    pub post_cycles: u32,
    /// Post-processing with per-channel quantisation (estimator: 31).
    pub post_qm_cycles: u32,
    /// 16-bit per-tensor bias load (estimator: 2).
    pub bias_cycles: u32,
    /// Shift/round per pass, int8 (estimator: 4).
    pub shift_int8_cycles: u32,
    /// Shift/round per pass with per-channel quantisation (estimator: 1).
    pub shift_qm_cycles: u32,
    /// Shift/round per pass, bf16 (estimator: 2).
    pub shift_bf16_cycles: u32,
    /// Depthwise shift/round for int8 and unquantised 1×1 kernels (estimator: 3).
    pub shift_depthwise_cycles: u32,
    /// Partial-sum read/write per pass by `ps32_md` 0..3 (estimator: 0, 4, 4, 8).
    pub ps32_cycles: [u32; 4],
    /// Minimum inner loop of a convolution pass with per-channel quantisation: the requantising
    /// unit takes this long for a pass's 16 pixels however short the multiply loop is. The
    /// estimator says 16, "to confirm". *Fitted* (see [`MIN_LOOP_QM_CYCLES`]): the networks whose
    /// convolutions have few input channels per pass (MobileNet, the tdl_models hand-gesture
    /// classifier) are too fast with 16 while those with many (ResNet, Inception) do not care.
    pub min_loop_qm_cycles: u32,
    /// The same minimum for depthwise convolutions and average pooling. *Fitted* (see
    /// [`MIN_LOOP_QM_DEPTHWISE_CYCLES`]).
    pub min_loop_qm_depthwise_cycles: u32,
    /// Element-wise issue rate per pixel group, in cycles (estimator `eu_lat`); see [`EltwiseLatency`].
    pub eltwise: EltwiseLatency,
    /// Factor on the per-pixel-group term when the result's C stride is not a multiple of 16
    /// (estimator: 30/16).
    pub unaligned_write_factor: f64,
    /// Per-descriptor overhead beyond the estimator's start-up cycles: the TIU fetches each 112-byte
    /// descriptor from DDR and the drivers disable pre-execution (`isa.md` §2.5), so a descriptor
    /// could pay a DRAM round trip before it runs. In ns because it would be DRAM latency.
    /// *Fitted*: 0, i.e. the board figures show no such cost beyond the estimator's fixed cycles
    /// (the fetch is inferred to overlap the previous descriptor's execution).
    pub descriptor_ns: f64,
}

/// Per-pixel-group issue cycles of the element-wise operations: `[8-bit operand, 16-bit operand]`
/// (estimator `eu_lat`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EltwiseLatency {
    pub mul: [f64; 2],
    /// Added to `mul` when the result is 8-bit (the requantising shift).
    pub mul_8bit_result: f64,
    pub mac: [f64; 2],
    pub add_sub: [f64; 2],
    /// Added to `add_sub` for a 16-bit operand with a constant second operand (estimator: −0.5).
    pub add_sub_16bit_const: f64,
    /// max, min, and, or, xor, ge.
    pub logic: [f64; 2],
    pub shift: [f64; 2],
    pub copy: [f64; 2],
    /// Added when the result is 16-bit.
    pub wide_result: f64,
    /// Lookup table: per pixel group `lut_base + opd1_h` (estimator: 1 + h + 2).
    pub lut_base: f64,
    /// Multi-dimensional sum (CV183x `tens_mdsum`) per pixel group (estimator: 3).
    pub mdsum: f64,
    /// Unknown element-wise operations: costed like a copy of 16-bit data. *Assumed*.
    pub unknown: f64,
}

impl Default for EltwiseLatency {
    fn default() -> Self {
        EltwiseLatency {
            mul: [2.5, 4.5],
            mul_8bit_result: 3.0,
            mac: [9.0, 11.0],
            add_sub: [5.0, 7.0],
            add_sub_16bit_const: -0.5,
            logic: [3.0, 5.0],
            shift: [4.0, 4.0],
            copy: [2.0, 4.0],
            wide_result: 1.0,
            lut_base: 3.0,
            mdsum: 3.0,
            unknown: 4.0,
        }
    }
}

impl Default for TiuConfig {
    fn default() -> Self {
        TiuConfig {
            eu_per_lane: 16,
            eu_active_int8: 16,
            eu_active_bf16: 8,
            double_conv_channels: PerChip::from_fn(|_| 2).with(Chip::Cv180x, 1),
            pointwise_double_conv_channels: PerChip::from_fn(|_| 2.0)
                .with(Chip::Cv180x, CV180X_POINTWISE_CHANNELS_PER_CYCLE),
            sync_cycles: 41,
            eltwise_cmd_cycles: 26,
            post_cycles: 12,
            post_qm_cycles: 31,
            bias_cycles: 2,
            shift_int8_cycles: 4,
            shift_qm_cycles: 1,
            shift_bf16_cycles: 2,
            shift_depthwise_cycles: 3,
            ps32_cycles: [0, 4, 4, 8],
            min_loop_qm_cycles: MIN_LOOP_QM_CYCLES,
            min_loop_qm_depthwise_cycles: MIN_LOOP_QM_DEPTHWISE_CYCLES,
            eltwise: EltwiseLatency::default(),
            unaligned_write_factor: 30.0 / 16.0,
            descriptor_ns: TIU_DESCRIPTOR_NS,
        }
    }
}

/// TDMA and DRAM-access constants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TdmaConfig {
    /// AXI data width: one beat moves this many bytes (estimator: 16). Every row is rounded out to
    /// whole beats at both ends, and DRAM time is charged per beat: on a board (the vendor's
    /// CV183x ResNet-50 PMU trace, `traces/timing-validation-*.md`) 1024 rows of 8 bytes 16 bytes
    /// apart take one beat's time each, so neither a wider DRAM access nor a per-row cost shows.
    pub beat_bytes: u32,
    /// Longest burst in beats (estimator: 16; the driver writes burst-length code 3 = 16 beats).
    pub max_burst_beats: u32,
    /// Longest burst of a C↔W-transpose store (estimator: 8).
    pub cw_transpose_burst_beats: u32,
    /// Bursts never cross this boundary (AXI rule; estimator: 4 KiB).
    pub boundary_bytes: u32,
    /// Extra DRAM time for each discontiguous row after the first: a new row of a strided pattern
    /// usually opens another DRAM page. *Assumed*: about half of DDR3-1866 tRP + tRCD (2 × 13.9 ns),
    /// the rest being hidden by bank interleaving.
    pub row_switch_ns: f64,
    /// DRAM page (row buffer) size that decides whether the next row of a pattern opens another
    /// page: DDR2/DDR3 ×16 devices have 1 K columns × 16 bit = 2 KiB pages (JEDEC).
    pub dram_page_bytes: u32,
    /// Local-memory port: bytes per TPU cycle on the TDMA side (estimator `LOCAL_MEM_WIDTH` = 16).
    /// The TDMA time is the slower of the DRAM side and this side (the estimator divides its
    /// 16-byte row count by 16 bytes again, `timing.md` §4.5 item 4; here a row is one cycle).
    pub lmem_bytes_per_cycle: u32,
    /// Fixed latency of every TDMA descriptor: descriptor fetch, the first DRAM access (load) or
    /// the write response (store), and the completion handshake. In ns because it is DRAM
    /// latency. *Measured* (see [`TDMA_DESCRIPTOR_NS`]).
    pub descriptor_ns: f64,
    /// Extra start-up of a decompressing load: the VLC decoder reads the stream header and the
    /// kmap before the first data arrive. *Measured*: on the vendor's CV183x ResNet-50 board trace
    /// the fixed part of a compressed load is about 750 ns against about 220 ns for a plain load.
    pub vlc_start_ns: f64,
    /// Fixed work of every TDMA descriptor in TPU cycles: decoding it and setting up its address
    /// generators, which run on the TPU clock (so this part shrinks on a faster TPU where
    /// `descriptor_ns`, the DRAM part, does not). See [`TDMA_DESCRIPTOR_CYCLES`].
    pub descriptor_cycles: f64,
    /// Compressed size / raw size of VLC data when the caller does not supply the real size
    /// (timing never reads data). *Assumed*: int8 weights code to about 80% with Golomb-Rice.
    pub compression_ratio: f64,
    /// The most a TDMA transfer streams in bytes per ns, whatever the DRAM behind it: the engine
    /// keeps a bounded number of bursts in flight, so its rate is that window over the DRAM round
    /// trip. *Measured* (see [`TDMA_STREAM_BYTES_PER_NS`]); it binds only where the DRAM is faster
    /// (the 32-bit CV183x board), so a 16-bit board streams at its own DRAM efficiency.
    pub stream_bytes_per_ns: f64,
}

impl Default for TdmaConfig {
    fn default() -> Self {
        TdmaConfig {
            beat_bytes: 16,
            max_burst_beats: 16,
            cw_transpose_burst_beats: 8,
            boundary_bytes: 4096,
            row_switch_ns: 14.0,
            lmem_bytes_per_cycle: 16,
            descriptor_ns: TDMA_DESCRIPTOR_NS,
            descriptor_cycles: TDMA_DESCRIPTOR_CYCLES,
            vlc_start_ns: TDMA_VLC_START_NS,
            dram_page_bytes: 2048,
            compression_ratio: 0.8,
            stream_bytes_per_ns: TDMA_STREAM_BYTES_PER_NS,
        }
    }
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            ddr_load: 0.0,
            tpu_clock_hz: PerChip::from_fn(|c| c.params().tpu_clock_hz),
            // The board DDR of each chip's description (`ChipParams::ddr_rate_mts`).
            ddr: PerChip::from_fn(|c| DdrConfig {
                rate_mts: c.params().ddr_rate_mts as f64,
                bus_bits: c.params().ddr_bus_bits,
                efficiency: DDR_EFFICIENCY,
            }),
            tiu: TiuConfig::default(),
            tdma: TdmaConfig::default(),
            segment_gap_ns: 10_000.0,
            sync_ns: SYNC_NS,
        }
    }
}

impl TimingConfig {
    /// Parse a (possibly partial) JSON config over the defaults: objects are merged key by key, so
    /// `{"ddr": {"cv183x": {"bus_bits": 16}}}` changes one field of one chip. Unknown keys and
    /// values the model cannot use are errors naming the field.
    pub fn from_json(text: &str) -> Result<TimingConfig, TimingError> {
        TimingConfig::default().with_overrides(text)
    }

    /// This config with the overrides of a (possibly partial) JSON document applied.
    pub fn with_overrides(&self, text: &str) -> Result<TimingConfig, TimingError> {
        let user: serde_json::Value = serde_json::from_str(text).map_err(|e| TimingError::Config(e.to_string()))?;
        if !user.is_object() {
            return Err(TimingError::Config("the config must be a JSON object".into()));
        }
        let mut base = serde_json::to_value(self).expect("a config always serialises");
        merge(&mut base, user, "")?;
        let cfg: TimingConfig = serde_json::from_value(base).map_err(|e| TimingError::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as pretty JSON, every field present: what `cvsim timing-config` prints and
    /// `--timing-config` reads back.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config always serialises")
    }

    /// Like [`TimingConfig::to_json`] with the per-chip tables cut down to one chip (still a
    /// valid override file).
    pub fn to_json_for(&self, chip: Chip) -> String {
        let mut v = serde_json::to_value(self).expect("a config always serialises");
        keep_chip(&mut v, chip.name());
        serde_json::to_string_pretty(&v).expect("a config always serialises")
    }

    pub fn clock_hz(&self, chip: Chip) -> u64 {
        *self.tpu_clock_hz.get(chip)
    }

    /// Reject values the model cannot use, naming the field.
    pub fn validate(&self) -> Result<(), TimingError> {
        let bad = |field: &str, why: &str| Err(TimingError::Config(format!("`{field}`: {why}")));
        if !(0.0..1.0).contains(&self.ddr_load) {
            return bad("ddr_load", "must be at least 0 and below 1");
        }
        for chip in Chip::ALL {
            let d = self.ddr.get(chip);
            if !(d.rate_mts > 0.0) || d.bus_bits == 0 {
                return bad(&format!("ddr.{chip}"), "rate_mts and bus_bits must be positive");
            }
            if !(d.efficiency > 0.0 && d.efficiency <= 1.0) {
                return bad(&format!("ddr.{chip}.efficiency"), "must be in (0, 1]");
            }
            if self.clock_hz(chip) == 0 {
                return bad(&format!("tpu_clock_hz.{chip}"), "must be positive");
            }
        }
        let t = &self.tiu;
        if t.eu_per_lane == 0
            || t.eu_active_int8 == 0
            || t.eu_active_bf16 == 0
            || Chip::ALL.iter().any(|&c| *t.double_conv_channels.get(c) == 0)
            || Chip::ALL.iter().any(|&c| !(*t.pointwise_double_conv_channels.get(c) >= 1.0))
        {
            return bad("tiu", "EU counts and double_conv_channels must be positive");
        }
        let m = &self.tdma;
        if m.beat_bytes == 0 || !m.beat_bytes.is_power_of_two() {
            return bad("tdma.beat_bytes", "must be a power of two");
        }
        if m.dram_page_bytes == 0 {
            return bad("tdma.dram_page_bytes", "must be positive");
        }
        if m.boundary_bytes == 0 || !m.boundary_bytes.is_power_of_two() {
            return bad("tdma.boundary_bytes", "must be a power of two");
        }
        if m.max_burst_beats == 0 || m.cw_transpose_burst_beats == 0 || m.lmem_bytes_per_cycle == 0 {
            return bad("tdma", "burst lengths and lmem_bytes_per_cycle must be positive");
        }
        if !(m.stream_bytes_per_ns > 0.0 && m.stream_bytes_per_ns.is_finite()) {
            return bad("tdma.stream_bytes_per_ns", "must be a positive number");
        }
        if !(m.compression_ratio > 0.0 && m.compression_ratio <= 2.0) {
            return bad("tdma.compression_ratio", "must be in (0, 2]");
        }
        let non_negative = [
            ("tiu.descriptor_ns", t.descriptor_ns),
            ("tdma.descriptor_ns", m.descriptor_ns),
            ("tdma.descriptor_cycles", m.descriptor_cycles),
            ("tdma.vlc_start_ns", m.vlc_start_ns),
            ("tdma.row_switch_ns", m.row_switch_ns),
            ("segment_gap_ns", self.segment_gap_ns),
            ("sync_ns", self.sync_ns),
        ];
        for (name, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(name, "must be a finite number ≥ 0");
            }
        }
        Ok(())
    }
}

/// Merge `user` into `base`: objects key by key (a key `base` lacks is an unknown field), any
/// other value replaces the default.
fn merge(base: &mut serde_json::Value, user: serde_json::Value, path: &str) -> Result<(), TimingError> {
    match (base, user) {
        (serde_json::Value::Object(b), serde_json::Value::Object(u)) => {
            for (k, v) in u {
                let field = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v, &field)?,
                    None => {
                        let known: Vec<&str> = b.keys().map(|s| s.as_str()).collect();
                        return Err(TimingError::Config(format!(
                            "unknown field `{field}` (known here: {})",
                            known.join(", ")
                        )));
                    }
                }
            }
            Ok(())
        }
        (slot, v) => {
            if kind(slot) != kind(&v) {
                return Err(TimingError::Config(format!("`{path}`: expected {}, got {}", kind(slot), kind(&v))));
            }
            *slot = v;
            Ok(())
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Null => "null",
    }
}

/// Drop the other chips' entries of every per-chip table.
fn keep_chip(v: &mut serde_json::Value, chip: &str) {
    if let serde_json::Value::Object(m) = v {
        let chips = Chip::ALL.len();
        let per_chip = m.len() == chips && Chip::ALL.iter().all(|c| m.contains_key(c.name()));
        if per_chip {
            m.retain(|k, _| k == chip);
        } else {
            for x in m.values_mut() {
                keep_chip(x, chip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_config_reads_back_to_itself() {
        let d = TimingConfig::default();
        assert_eq!(TimingConfig::from_json(&d.to_json()).unwrap(), d);
        for chip in Chip::ALL {
            assert_eq!(TimingConfig::from_json(&d.to_json_for(chip)).unwrap(), d);
        }
    }

    #[test]
    fn partial_override_changes_one_field_of_one_chip() {
        let c = TimingConfig::from_json(r#"{"ddr": {"cv183x": {"bus_bits": 16}}, "ddr_load": 0.25}"#).unwrap();
        let d = TimingConfig::default();
        assert_eq!(c.ddr[Chip::Cv183x].bus_bits, 16);
        assert_eq!(c.ddr[Chip::Cv183x].rate_mts, d.ddr[Chip::Cv183x].rate_mts);
        assert_eq!(c.ddr[Chip::Cv180x], d.ddr[Chip::Cv180x]);
        assert_eq!(c.ddr_load, 0.25);
        assert_eq!(c.tiu, d.tiu);
    }

    #[test]
    fn bad_overrides_name_the_field() {
        let e = TimingConfig::from_json(r#"{"ddr": {"cv183x": {"bus_width": 16}}}"#).unwrap_err().to_string();
        assert!(e.contains("ddr.cv183x.bus_width"), "{e}");
        let e = TimingConfig::from_json(r#"{"ddr_load": 1.5}"#).unwrap_err().to_string();
        assert!(e.contains("ddr_load"), "{e}");
        let e = TimingConfig::from_json(r#"{"tdma": 3}"#).unwrap_err().to_string();
        assert!(e.contains("`tdma`"), "{e}");
        let e = TimingConfig::from_json(r#"{"tdma": {"beat_bytes": "x"}}"#).unwrap_err().to_string();
        assert!(e.contains("tdma.beat_bytes") && e.contains("a string"), "{e}");
        assert!(TimingConfig::from_json("[1]").is_err());
        assert!(TimingConfig::from_json("{").is_err());
    }
}
