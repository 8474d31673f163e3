//! The schedule on hand-made descriptor streams: overlap, alternation, deadlock, segments, and the
//! direction of the model's responses (more DDR load → longer TDMA, same TIU).

use cvsim_isa::{Chip, Command, Desc, Engine, TdmaDesc, TiuDesc};
use cvsim_sim::timing::{schedule, TimingConfig, TimingError};

const CHIP: Chip = Chip::Cv181x;

fn cmd(desc: Desc) -> Command {
    Command { offset: 0, header: None, desc }
}

/// An int8 element-wise add over (1, c, h, w) with the given own id and TDMA wait id.
fn tiu_add(id: u32, wait: u32, c: u32, h: u32, w: u32) -> Command {
    let mut d = TiuDesc::reset(CHIP);
    d.tsk_typ = 3;
    d.tsk_eu_typ = 2;
    d.cmd_id_en = 1;
    d.cmd_id_tpu = id;
    d.cmd_id_gdma = wait;
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, c, h, w);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, c, h, w);
    d.res0_c_str = 16 * h * w;
    cmd(Desc::Tiu(Box::new(d)))
}

/// A dense int8 tensor load of (1, c, h, w) with the given own id and TIU wait id.
fn tdma_load(id: u32, wait: u32, c: u32, h: u32, w: u32) -> Command {
    let mut d = TdmaDesc::reset(CHIP);
    d.vld = 1;
    d.bar_en = 1;
    d.trans_dir = 0;
    d.cmd_id = id;
    d.wait_id_tpu = wait;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (1, c, h, w);
    (d.dst_c, d.dst_h, d.dst_w) = (c, h, w);
    d.src_h_stride = w;
    d.src_c_stride_low = h * w;
    d.src_n_stride = c * h * w;
    d.dst_h_stride = w;
    d.dst_c_stride_low = h * w;
    d.dst_n_stride = h * w;
    d.src_base_addr_low = 0x1000 * id;
    cmd(Desc::Tdma(Box::new(d)))
}

fn no_sync() -> TimingConfig {
    TimingConfig { sync_ns: 0.0, ..TimingConfig::default() }
}

#[test]
fn no_waits_means_full_overlap() {
    let mut cmds = Vec::new();
    for k in 1..=4 {
        cmds.push(tiu_add(k, 0, 8, 16, 64));
        cmds.push(tdma_load(k, 0, 8, 16, 64));
    }
    let s = schedule(CHIP, &cmds, &no_sync()).unwrap();
    let tiu: Vec<_> = s.entries.iter().filter(|e| e.engine == Engine::Tiu).collect();
    let tdma: Vec<_> = s.entries.iter().filter(|e| e.engine == Engine::Tdma).collect();
    // Both engines start at once and each runs back to back.
    assert_eq!(tiu[0].start, 0);
    assert_eq!(tdma[0].start, 0);
    for w in tiu.windows(2).chain(tdma.windows(2)) {
        assert_eq!(w[1].start, w[0].end);
    }
    assert_eq!(s.totals.cycles, s.totals.tiu_cycles.max(s.totals.tdma_cycles));
    assert!(s.totals.cycles < s.totals.tiu_cycles + s.totals.tdma_cycles);
}

#[test]
fn every_descriptor_waiting_means_strict_alternation() {
    // TDMA k waits for TIU k−1, TIU k waits for TDMA k: load, compute, load, compute, …
    let mut cmds = Vec::new();
    for k in 1..=5 {
        cmds.push(tdma_load(k, k - 1, 8, 16, 64));
        cmds.push(tiu_add(k, k, 8, 16, 64));
    }
    for sync_ns in [0.0, 300.0] {
        let cfg = TimingConfig { sync_ns, ..TimingConfig::default() };
        let s = schedule(CHIP, &cmds, &cfg).unwrap();
        let sync = (sync_ns * 500e6 / 1e9).round() as u64;
        for w in s.entries.windows(2) {
            assert_ne!(w[0].engine, w[1].engine);
            assert_eq!(w[1].start, w[0].end + sync, "{:?} then {:?}", w[0], w[1]);
        }
        let n = s.entries.len() as u64;
        assert_eq!(s.totals.cycles, s.totals.tiu_cycles + s.totals.tdma_cycles + (n - 1) * sync);
    }
}

#[test]
fn mutual_wait_is_a_deadlock_naming_both_descriptors() {
    // TIU 1 waits for TDMA 1, which waits for TIU 1.
    let cmds = vec![tiu_add(1, 1, 8, 4, 16), tdma_load(1, 1, 8, 4, 16)];
    match schedule(CHIP, &cmds, &no_sync()) {
        Err(TimingError::Deadlock { segment: 0, tiu: Some(t), tdma: Some(d) }) => {
            assert_eq!((t.index, t.waits_for), (0, 1));
            assert_eq!((d.index, d.waits_for), (1, 1));
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
    let msg = schedule(CHIP, &cmds, &no_sync()).unwrap_err().to_string();
    assert!(msg.contains("TIU descriptor 0") && msg.contains("TDMA descriptor 1"), "{msg}");
}

#[test]
fn wait_for_an_id_never_reached_is_reported() {
    // TDMA 1 runs; TIU 1 waits for TDMA id 7, which does not exist.
    let cmds = vec![tdma_load(1, 0, 8, 4, 16), tiu_add(1, 7, 8, 4, 16)];
    match schedule(CHIP, &cmds, &no_sync()) {
        Err(TimingError::Deadlock { tiu: Some(t), tdma: None, .. }) => assert_eq!((t.index, t.waits_for), (1, 7)),
        other => panic!("expected an unsatisfiable wait, got {other:?}"),
    }
}

#[test]
fn waits_use_the_completed_id_counter() {
    // TIU waits for TDMA id 2: it starts after the second load, not the first.
    let cmds = vec![tdma_load(1, 0, 8, 16, 64), tdma_load(2, 0, 8, 16, 64), tiu_add(1, 2, 8, 4, 16)];
    let s = schedule(CHIP, &cmds, &no_sync()).unwrap();
    assert_eq!(s.entries[2].start, s.entries[1].end);
    // A TDMA descriptor without its barrier bit ignores its wait id.
    let mut free = tdma_load(1, 5, 8, 4, 16);
    if let Desc::Tdma(d) = &mut free.desc {
        d.bar_en = 0;
    }
    let s = schedule(CHIP, &[free], &no_sync()).unwrap();
    assert_eq!(s.entries[0].start, 0);
}

#[test]
fn segments_run_one_after_another() {
    // Id 0xFFFF closes a segment; ids restart at 1 in the next one.
    let mut cmds = vec![tdma_load(0xFFFF, 0, 8, 16, 64), tdma_load(1, 0, 8, 16, 64), tiu_add(1, 1, 8, 4, 16)];
    cmds.insert(1, tiu_add(1, 0, 8, 4, 16));
    let cfg = no_sync();
    let s = schedule(CHIP, &cmds, &cfg).unwrap();
    assert_eq!(s.segments.len(), 2);
    let gap = (cfg.segment_gap_ns * 500e6 / 1e9).round() as u64;
    assert_eq!(s.segments[1].start, s.segments[0].end + gap);
    for e in &s.entries[s.segments[1].entries.clone()] {
        assert!(e.start >= s.segments[1].start);
    }
    assert_eq!(s.totals.cycles, s.segments[1].end);
}

#[test]
fn ddr_load_stretches_tdma_not_tiu() {
    let mut cmds = Vec::new();
    for k in 1..=6 {
        cmds.push(tdma_load(k, k - 1, 16, 32, 64));
        cmds.push(tiu_add(k, k, 8, 16, 64));
    }
    let mut prev: Option<cvsim_sim::timing::Schedule> = None;
    for load in [0.0, 0.2, 0.5, 0.8] {
        let cfg = TimingConfig { ddr_load: load, ..TimingConfig::default() };
        let s = schedule(CHIP, &cmds, &cfg).unwrap();
        if let Some(p) = &prev {
            assert!(s.totals.tdma_cycles > p.totals.tdma_cycles, "ddr_load {load}");
            assert_eq!(s.totals.tiu_cycles, p.totals.tiu_cycles);
            assert!(s.totals.cycles > p.totals.cycles);
        }
        prev = Some(s);
    }
}

#[test]
fn ddr_load_of_one_is_rejected() {
    let cfg = TimingConfig { ddr_load: 1.0, ..TimingConfig::default() };
    let err = schedule(CHIP, &[tiu_add(1, 0, 8, 4, 16)], &cfg).unwrap_err();
    assert!(matches!(err, TimingError::Config(ref m) if m.contains("ddr_load")), "{err}");
}

#[test]
fn empty_and_cpu_only_streams_take_no_time() {
    let s = schedule(CHIP, &[], &TimingConfig::default()).unwrap();
    assert_eq!(s.totals.cycles, 0);
    assert!(s.entries.is_empty());
}
