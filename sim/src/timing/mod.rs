//! The timing model: how long a TPU routine takes, from its decoded descriptors alone (never data).
//!
//! - [`config`]: every constant, named and sourced, overridable from JSON ([`TimingConfig`]).
//! - [`tiu_cost`]: TIU cycles per descriptor (lanes, EUs, int8/bf16 rate, kernel, stride, latencies).
//! - [`ddr`] and [`tdma_cost`]: DRAM access patterns (beats, bursts, 4 KiB splits, page
//!   switches), the local-memory port, compression, and other bus masters' share (`ddr_load`).
//! - [`schedule`]: the two in-order engine queues per segment, gated by sync ids ([`schedule()`]).
//! - [`pmu`]: the board PMU's records, summary lines and CSV files, computed from a schedule.
//! - [`trace`]: a Chrome/Perfetto trace of a schedule.
//! - [`breakdown`]: where a schedule's time goes (by kind, by layer, bus efficiency per TDMA class).

pub mod breakdown;
pub mod chrome;
pub mod config;
pub mod ddr;
pub mod pmu;
pub mod queue;
pub mod schedule;
pub mod tdma_cost;
pub mod tiu_cost;
pub mod trace;

pub use breakdown::{breakdown, Breakdown};
pub use config::{DdrConfig, PerChip, TdmaConfig, TimingConfig, TiuConfig};
pub use pmu::{PmuRecord, PmuSummary};
pub use schedule::{schedule, schedule_with, Entry, Schedule, SegmentSpan, Totals};
pub use tdma_cost::TdmaClass;
pub use trace::{chrome_trace, chrome_trace_parts, TracePart};

use std::fmt;

/// A descriptor that cannot start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// Index in the command list.
    pub index: usize,
    /// Its own sync id.
    pub id: u16,
    /// The other engine's id it waits for.
    pub waits_for: u16,
}

/// Why a schedule could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimingError {
    /// Some descriptor's wait can never be satisfied: either both engines' next descriptors wait
    /// for each other (or for ids the other never reaches), or one engine waits for an id the other
    /// engine, having finished its queue, never reached.
    #[error("{}", deadlock_message(*segment, tiu, tdma))]
    Deadlock { segment: usize, tiu: Option<Blocked>, tdma: Option<Blocked> },
    /// A config value the model cannot use.
    #[error("timing config: {0}")]
    Config(String),
}

fn deadlock_message(segment: usize, tiu: &Option<Blocked>, tdma: &Option<Blocked>) -> String {
    let one = |b: &Blocked, engine: &str, other: &str| {
        format!("{engine} descriptor {} (id {}) waits for {other} id {}", b.index, b.id, b.waits_for)
    };
    match (tiu, tdma) {
        (Some(a), Some(b)) => format!(
            "segment {segment}: deadlock: {} and {}; neither can complete",
            one(a, "TIU", "TDMA"),
            one(b, "TDMA", "TIU")
        ),
        (Some(a), None) => {
            format!("segment {segment}: {}, which no TDMA descriptor of the segment reaches", one(a, "TIU", "TDMA"))
        }
        (None, Some(b)) => {
            format!("segment {segment}: {}, which no TIU descriptor of the segment reaches", one(b, "TDMA", "TIU"))
        }
        (None, None) => format!("segment {segment}: deadlock"),
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "descriptor {} (id {}) waiting for id {}", self.index, self.id, self.waits_for)
    }
}
