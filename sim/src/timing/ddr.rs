//! What one strided DRAM access costs the bus: beats, bursts and page switches.
//!
//! A TDMA transfer touches DRAM as `n × c × h` rows of contiguous bytes (W is always contiguous,
//! `isa.md` §4.1). Bandwidth is wasted where a row does not fill its beats (rows are rounded out to
//! 16-byte beats at both ends), and time is lost where consecutive rows lie in different DRAM pages. Dense dimensions are folded into longer rows first, so a dense
//! tensor costs one row however it is shaped.

use super::config::TdmaConfig;

/// A strided access: `counts[0] × counts[1] × counts[2]` rows of `row_bytes` bytes; row `(i, j, k)`
/// starts at `addr + i·strides[0] + j·strides[1] + k·strides[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub addr: u64,
    pub row_bytes: u64,
    pub counts: [u64; 3],
    pub strides: [u64; 3],
}

impl Pattern {
    /// One contiguous run.
    pub fn contiguous(addr: u64, bytes: u64) -> Pattern {
        Pattern { addr, row_bytes: bytes, counts: [1, 1, 1], strides: [0, 0, 0] }
    }

    /// Fold dense inner dimensions into the row (a dimension whose stride equals the current row
    /// length continues the row), and drop dimensions of count 1.
    pub fn normalized(mut self) -> Pattern {
        for k in (0..3).rev() {
            if self.counts[k] <= 1 {
                self.counts[k] = 1;
                continue;
            }
            // Only the innermost remaining dimension can extend the row.
            let inner_done = self.counts[k + 1..].iter().all(|&c| c == 1);
            if inner_done && self.strides[k] == self.row_bytes {
                self.row_bytes *= self.counts[k];
                self.counts[k] = 1;
            }
        }
        self
    }

    pub fn rows(&self) -> u64 {
        self.counts.iter().product()
    }

    pub fn bytes(&self) -> u64 {
        self.rows() * self.row_bytes
    }
}

/// Bus traffic of an access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Contiguous rows after folding.
    pub rows: u64,
    /// Useful bytes.
    pub bytes: u64,
    /// AXI beats (16 bytes each by default), counting partial beats at row ends.
    pub beats: u64,
    /// AXI bursts.
    pub bursts: u64,
    /// Rows after the first that start in another DRAM page than the previous row ended in.
    pub page_switches: u64,
}

impl Traffic {
    pub fn add(&mut self, o: &Traffic) {
        self.rows += o.rows;
        self.bytes += o.bytes;
        self.beats += o.beats;
        self.bursts += o.bursts;
        self.page_switches += o.page_switches;
    }
}

#[inline]
fn down(a: u64, g: u64) -> u64 {
    a - a % g
}
#[inline]
fn up(a: u64, g: u64) -> u64 {
    a.div_ceil(g) * g
}

/// Beats and bursts of one contiguous row.
#[inline]
fn row_traffic(a: u64, len: u64, beat: u64, burst: u64, boundary: u64, t: &mut Traffic) {
    if len == 0 {
        return;
    }
    let b0 = down(a, beat);
    let b1 = up(a + len, beat);
    t.beats += (b1 - b0) / beat;
    // TDMA's 64-byte alignment mode (enabled by the driver) is taken to start bursts on burst-size
    // boundaries, so a burst never crosses a 4 KiB boundary (burst ≤ boundary, both powers of two)
    // and the bursts touched are those of the row's span.
    let blk = burst.min(boundary);
    t.bursts += (up(b1, blk) - down(b0, blk)) / blk;
}

/// The traffic of a pattern under the configured burst rules; `max_burst_beats` overrides the
/// config's limit (C↔W-transpose stores use shorter bursts).
pub fn traffic(p: &Pattern, cfg: &TdmaConfig, max_burst_beats: u32) -> Traffic {
    let p = p.normalized();
    let beat = cfg.beat_bytes as u64;
    let burst = (max_burst_beats as u64 * beat).max(beat);
    let boundary = cfg.boundary_bytes as u64;
    let page = cfg.dram_page_bytes as u64;
    let mut t = Traffic { rows: p.rows(), bytes: p.bytes(), ..Traffic::default() };
    if p.row_bytes == 0 {
        return t;
    }
    let mut prev_end: Option<u64> = None;
    for i in 0..p.counts[0] {
        let ai = p.addr + i * p.strides[0];
        for j in 0..p.counts[1] {
            let aj = ai + j * p.strides[1];
            for k in 0..p.counts[2] {
                let a = aj + k * p.strides[2];
                row_traffic(a, p.row_bytes, beat, burst, boundary, &mut t);
                if let Some(e) = prev_end {
                    if a / page != (e - 1) / page {
                        t.page_switches += 1;
                    }
                }
                prev_end = Some(a + p.row_bytes);
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TdmaConfig {
        TdmaConfig::default()
    }

    #[test]
    fn dense_tensor_folds_to_one_row() {
        // (c=8, h=28, w=112) with dense strides.
        let p = Pattern { addr: 0, row_bytes: 112, counts: [1, 8, 28], strides: [0, 3136, 112] };
        let t = traffic(&p, &cfg(), 16);
        assert_eq!(t.rows, 1);
        assert_eq!(t.bytes, 8 * 28 * 112);
        assert_eq!(t.beats, 8 * 28 * 112 / 16);
        assert_eq!(t.bursts, (8 * 28 * 112usize).div_ceil(256) as u64);
        assert_eq!(t.page_switches, 0);
    }

    #[test]
    fn short_rows_waste_beats() {
        // 4 rows of 7 bytes, 1000 bytes apart.
        let p = Pattern { addr: 0, row_bytes: 7, counts: [1, 1, 4], strides: [0, 0, 1000] };
        let t = traffic(&p, &cfg(), 16);
        assert_eq!(t.rows, 4);
        assert_eq!(t.bytes, 28);
        // Row starts 0, 1000, 2000, 3000: 1000 = 0x3E8 (ends 0x3EF, one beat), 2000 = 0x7D0, 3000 = 0xBB8
        // (0xBB8..0xBBF, one beat).
        assert_eq!(t.beats, 4);
        assert_eq!(t.bursts, 4);
        // Rows at 0 and 1000 share page 0; 2000 is page 0 too; 3000 is page 1.
        assert_eq!(t.page_switches, 1);
    }

    #[test]
    fn unaligned_row_crossing_4k_splits_bursts() {
        // 512 bytes from 4096 − 200: crosses the 4 KiB boundary.
        let p = Pattern::contiguous(4096 - 200, 512);
        let t = traffic(&p, &cfg(), 16);
        // Beats: from 0xF30 (aligned down 0xF38 → 0xF30) to 0x1138 → 0x1140: 0x210 / 16 = 33.
        assert_eq!(t.beats, 33);
        // 256-byte blocks touched: 0xF00, 0x1000, 0x1100.
        assert_eq!(t.bursts, 3);
    }
}
