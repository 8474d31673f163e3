//! A command buffer that reads or writes outside local memory or outside its allocated
//! global regions stops with an error naming the descriptor index, the address and the region, and
//! leaves every byte it was not allowed to touch alone. The command buffers are made with the
//! isa crate's encoder and parsed back, as a model's would be.

mod tdma_support;

use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::{Chip, CommandStream, Desc, Region, TdmaDesc, TiuDesc};
use cvsim_sim::{ExecError, ExecErrorKind, Machine};
use tdma_support::{desc, set_dst, set_src};

const CHIP: Chip = Chip::Cv181x;
/// Two regions with an unallocated gap between them, reached through base registers 1 and 3.
const WEIGHT_BASE: u64 = 0x0100_0000;
const WEIGHT_LEN: usize = 0x1000;
const IO_BASE: u64 = 0x0120_0000;
const IO_LEN: usize = 0x100;

fn machine() -> Machine {
    let mut m = Machine::new(CHIP);
    m.gmem.add_region(Region::WEIGHT.name(), WEIGHT_BASE, WEIGHT_LEN);
    m.gmem.add_region(Region::IO_FIRST.name(), IO_BASE, IO_LEN);
    m.gmem.base_regs[1] = WEIGHT_BASE;
    m.gmem.base_regs[3] = IO_BASE;
    for (i, b) in m.gmem.regions[0].data.iter_mut().enumerate() {
        *b = i as u8;
    }
    m.lmem.fill(0x5A);
    m
}

/// A 16-byte int8 load from (base register `sel` + `offset`) to local address `lmem`.
fn load(id: u32, sel: u32, offset: u64, lmem: u32, bytes: u32) -> TdmaDesc {
    let mut d = desc(0);
    set_src(&mut d, offset, [1, 1, 1, bytes], [bytes, bytes, bytes]);
    set_dst(&mut d, lmem as u64, [1, 1, bytes], [bytes, bytes, bytes]);
    d.src_base_reg_sel = sel;
    d.cmd_id = id;
    d
}

/// An int8 store of `bytes` from local address `lmem` to (base register `sel` + `offset`).
fn store(id: u32, lmem: u32, sel: u32, offset: u64, bytes: u32) -> TdmaDesc {
    let mut d = desc(1);
    set_src(&mut d, lmem as u64, [1, 1, 1, bytes], [bytes, bytes, bytes]);
    set_dst(&mut d, offset, [1, 1, bytes], [bytes, bytes, bytes]);
    d.dst_base_reg_sel = sel;
    d.cmd_id = id;
    d
}

/// An int8 add `res0 = opd0 + opd1` of (1, 1, 1, w) tensors with explicit strides.
fn add(id: u32, wait_tdma: u32, res0: u32, opd0: u32, opd1: u32, w: u32) -> TiuDesc {
    let mut d = TiuDesc { tsk_typ: 3, tsk_eu_typ: 2, tsk_opd_num: 2, cmd_en: 1, ..Default::default() };
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, 1, 1, w);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, 1, 1, w);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, 1, 1, w);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str) = (3, 3, 3);
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = [w, w, w, 1];
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = [w, w, w, 1];
    [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str] = [w, w, w, 1];
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (res0, opd0, opd1);
    d.cmd_id_tpu = id;
    d.cmd_id_gdma = wait_tdma;
    d
}

/// Encode, parse back and run; the run must fail. Returns the error and the machine afterwards.
fn run_failing(descs: Vec<Desc>) -> (ExecError, Machine, Machine) {
    let buf = encode_descs(CHIP, &descs).expect("descriptors encode");
    let cmds = CommandStream::from_vec(buf, Some(CHIP)).expect("cmdbuf parses");
    assert_eq!(cmds.chip(), CHIP);
    let mut m = machine();
    let before = m.clone();
    let e = m.run(&cmds).expect_err("the run must stop with an error");
    (e, before, m)
}

fn tdma(d: TdmaDesc) -> Desc {
    Desc::Tdma(Box::new(d))
}

fn tiu(d: TiuDesc) -> Desc {
    Desc::Tiu(Box::new(d))
}

#[test]
fn tdma_load_from_unallocated_global_address() {
    // Offset 0x8000 from the weight base lies in the gap between the two regions.
    let (e, before, after) = run_failing(vec![
        tdma(load(1, 1, 0x40, 0, 16)),
        tdma(load(2, 1, 0x8000, 0x100, 16)),
        tdma(store(3, 0, 3, 0, 16)),
    ]);
    assert_eq!(e.index, 1);
    assert_eq!(e.engine, "TDMA");
    match &e.kind {
        ExecErrorKind::GmemOutOfRange { sel, offset, start, end, region } => {
            assert_eq!((*sel, *offset, *start, *end), (1, 0x8000, WEIGHT_BASE + 0x8000, WEIGHT_BASE + 0x8010));
            assert!(region.contains("outside every allocated region"), "{region}");
        }
        k => panic!("wrong error: {k}"),
    }
    let msg = e.to_string();
    assert!(msg.starts_with("descriptor 1 (TDMA "), "{msg}");
    assert!(msg.contains("0x1008000..0x1008010"), "{msg}");
    assert!(msg.contains("`weight` (0x1000000..0x1001000)"), "{msg}");
    // The first load ran; nothing after the failing descriptor did, and global memory is untouched.
    assert_eq!(&after.lmem.data[..16], &before.gmem.regions[0].data[0x40..0x50]);
    assert!(after.lmem.data[0x100..0x110].iter().all(|&b| b == 0x5A));
    assert_eq!(after.gmem.regions[1].data, before.gmem.regions[1].data);
}

#[test]
fn tdma_store_past_region_end() {
    // 32 bytes at offset 0xF0 of the 0x100-byte io3 region: the last 0x10 fall outside it.
    let (e, before, after) = run_failing(vec![tdma(load(1, 1, 0, 0, 32)), tdma(store(2, 0, 3, 0xF0, 32))]);
    assert_eq!(e.index, 1);
    match &e.kind {
        ExecErrorKind::GmemOutOfRange { sel: 3, offset: 0xF0, start, end, region } => {
            assert_eq!((*start, *end), (IO_BASE + 0xF0, IO_BASE + 0x110));
            assert!(region.contains("past the end of region `io3`"), "{region}");
        }
        k => panic!("wrong error: {k}"),
    }
    let msg = e.to_string();
    assert!(msg.starts_with("descriptor 1 (TDMA "), "{msg}");
    assert!(msg.contains("0x12000f0..0x1200110"), "{msg}");
    assert!(msg.contains("`io3` (0x1200000..0x1200100) by 0x10 bytes"), "{msg}");
    // Not even the part that fits was written.
    assert_eq!(after.gmem.regions[1].data, before.gmem.regions[1].data);
}

#[test]
fn tiu_operand_past_local_memory() {
    // Lane 0 at 0x7FF0: a 64-byte result runs 0x30 bytes past the 32 KiB lane.
    let lane_end = CHIP.params().lmem_per_lane;
    assert_eq!(lane_end, 0x8000);
    let (e, before, after) = run_failing(vec![
        tdma(load(1, 1, 0, 0, 64)),
        tdma(load(2, 1, 0x40, 0x40, 64)),
        tiu(add(1, 2, 0x100, 0, 0x40, 64)),
        tiu(add(2, 2, 0x7FF0, 0, 0x40, 64)),
    ]);
    assert_eq!(e.index, 3);
    assert_eq!(e.engine, "TIU");
    match &e.kind {
        ExecErrorKind::LmemOutOfRange { what: "res0", lane: 0, start: 0x7FF0, end: 0x8030, limit: 0x8000 } => {}
        k => panic!("wrong error: {k}"),
    }
    let msg = e.to_string();
    assert!(msg.starts_with("descriptor 3 (TIU "), "{msg}");
    assert!(msg.contains("local address 0x7ff0"), "{msg}");
    assert!(msg.contains("lane 0, bytes 0x7ff0..0x8030"), "{msg}");
    assert!(msg.contains("0x8000-byte lane (res0)"), "{msg}");
    // The first add ran; the failing one wrote nothing (lane 0's tail and lane 1's head unchanged).
    let sum: Vec<u8> = (0..64).map(|i| (i as u8).wrapping_add(0x40 + i as u8)).collect();
    assert_eq!(&after.lmem.data[0x100..0x140], &sum[..]);
    assert_eq!(&after.lmem.data[0x7FF0..0x8030], &before.lmem.data[0x7FF0..0x8030]);
}

#[test]
fn tiu_operand_in_a_lane_the_chip_lacks() {
    // CV181x has 8 lanes: lane 9 is outside local memory however small the operand.
    let lanes = CHIP.lanes();
    let (e, _, _) = run_failing(vec![tdma(load(1, 1, 0, 0, 16)), tiu(add(1, 1, (lanes + 1) << 15, 0, 0, 16))]);
    assert_eq!(e.index, 1);
    assert!(matches!(e.kind, ExecErrorKind::LmemOutOfRange { what: "res0", .. }), "{e}");
    assert!(e.to_string().contains(&format!("lane {}", lanes + 1)), "{e}");
}
