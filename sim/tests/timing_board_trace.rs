//! TDMA costs against durations a board measured. The vendor published one per-descriptor PMU
//! dump of a CV183x board running ResNet-50 (`sophgo/tpu_compiler`, file
//! `python/cvi_toolkit/performance/performance_viewer/example/resnet50_des.csv`, 2021-03); the
//! descriptors below are rebuilt from its columns (shapes, strides, direction), and the board's
//! durations (TPU cycles at 650 MHz, the range over the descriptor's repetitions) are recorded
//! here as data. The model must land near each one: long dense transfers (DDR streaming rate),
//! channel-strided rows, 1024 rows of 8 bytes (per-beat cost) and a tiny store (fixed latency).

use cvsim_isa::{Chip, TdmaDesc};
use cvsim_sim::timing::tdma_cost::{tdma_cost, TdmaContext};
use cvsim_sim::timing::TimingConfig;

const CHIP: Chip = Chip::Cv183x;

/// (n, c, h, w) with the global side's (c, h) strides; the local side is dense per lane.
struct Shape {
    c: u32,
    h: u32,
    w: u32,
    g_h_stride: u32,
    g_c_stride: u32,
}

fn desc(load: bool, s: &Shape) -> TdmaDesc {
    let mut d = TdmaDesc::reset(CHIP);
    d.vld = 1;
    d.trans_dir = if load { 0 } else { 1 };
    (d.src_n, d.src_c, d.src_h, d.src_w) = (1, s.c, s.h, s.w);
    (d.dst_c, d.dst_h, d.dst_w) = (s.c, s.h, s.w);
    let (gh, gc, gn) = (s.g_h_stride, s.g_c_stride, s.g_c_stride * s.c);
    let (lh, lc) = (s.w, s.h * s.w);
    if load {
        (d.src_h_stride, d.src_c_stride_low, d.src_n_stride) = (gh, gc, gn);
        (d.dst_h_stride, d.dst_c_stride_low, d.dst_n_stride) = (lh, lc, lc);
    } else {
        (d.src_h_stride, d.src_c_stride_low, d.src_n_stride) = (lh, lc, lc);
        (d.dst_h_stride, d.dst_c_stride_low, d.dst_n_stride) = (gh, gc, gn);
    }
    d
}

fn cycles(load: bool, s: &Shape) -> u64 {
    let cfg = TimingConfig::default();
    tdma_cost(&desc(load, s), &TdmaContext::new(&cfg, CHIP), None).cycles
}

/// The board's range widened by `tol` on both sides.
fn assert_near(what: &str, got: u64, board: (u64, u64), tol: f64) {
    let (lo, hi) = ((board.0 as f64 * (1.0 - tol)) as u64, (board.1 as f64 * (1.0 + tol)) as u64);
    assert!(
        (lo..=hi).contains(&got),
        "{what}: model {got} cycles, board {}..{} (±{:.0}%)",
        board.0,
        board.1,
        tol * 100.0
    );
}

#[test]
fn dense_transfers_stream_at_the_measured_rate() {
    // 2048 × 7 × 7 int8, one contiguous 100352-byte run each way.
    let s = Shape { c: 2048, h: 7, w: 7, g_h_stride: 7, g_c_stride: 49 };
    assert_near("dense load", cycles(true, &s), (9822, 9950), 0.10);
    assert_near("dense store", cycles(false, &s), (9625, 9632), 0.10);
}

#[test]
fn channel_strided_image_rows() {
    // The input image's 80-row band of each of 3 planes: 3 runs of 17920 bytes, 50176 apart.
    let s = Shape { c: 3, h: 80, w: 224, g_h_stride: 224, g_c_stride: 50176 };
    assert_near("image band load", cycles(true, &s), (5524, 5524), 0.10);
}

#[test]
fn short_rows_cost_a_beat_each() {
    // 1024 rows of 8 bytes, 16 bytes apart: each row is one 16-byte beat on the bus.
    let s = Shape { c: 32, h: 32, w: 8, g_h_stride: 16, g_c_stride: 512 };
    assert_near("8-byte rows", cycles(true, &s), (1554, 1826), 0.15);
}

#[test]
fn a_tiny_store_is_its_fixed_latency() {
    // 32 rows of 8 bytes: the board takes 115–117 cycles, almost all of it fixed. The model's
    // fixed latency is the loads' (about 220 ns); a store's is about 155 ns on this board, so
    // the model is up to ~60 cycles slow here.
    let s = Shape { c: 32, h: 1, w: 8, g_h_stride: 16, g_c_stride: 16 };
    let got = cycles(false, &s);
    assert!((100..=190).contains(&got), "tiny store: model {got} cycles, board 115..117");
}
