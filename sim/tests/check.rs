//! The command-buffer checker on hand-made command buffers (built with the isa encoder and decoded
//! back, as a model's would be): a correct one gives no finding; a race, an uninitialised read, an
//! out-of-region write and a wrong operand are each reported naming the descriptors, bytes and layer.

use cvsim_isa::{Chip, Command, CommandStream, Desc, Engine, Region, TdmaDesc, TiuDesc};
use cvsim_sim::check::{Checker, Finding};
use cvsim_sim::{ExecErrorKind, Machine};

const CHIP: Chip = Chip::Cv181x;
const IO: u64 = 0x10_0000;
const WEIGHT: u64 = 0x20_0000;
/// Lanes 8, 64 bytes per lane per tensor: (1, 8, 1, 32) bf16.
const C: u32 = 8;
const W: u32 = 32;

fn cmd(desc: Desc) -> Command {
    Command { offset: 0, header: None, desc }
}

/// A load of (1, 8, 1, 64) bytes from `io + src` (base register 0) to local `dst`.
fn load(id: u32, wait: u32, src: u32, dst: u32, layer: u32) -> Command {
    let mut d = TdmaDesc::reset(CHIP);
    d.vld = 1;
    d.bar_en = (wait != 0) as u32;
    d.wait_id_tpu = wait;
    d.trans_dir = 0;
    d.cmd_id = id;
    d.layer_id = layer;
    let bytes = 2 * W;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (1, C, 1, bytes);
    (d.dst_c, d.dst_h, d.dst_w) = (C, 1, bytes);
    (d.src_h_stride, d.src_c_stride_low, d.src_n_stride) = (bytes, bytes, C * bytes);
    (d.dst_h_stride, d.dst_c_stride_low, d.dst_n_stride) = (bytes, bytes, bytes);
    d.src_base_addr_low = src;
    d.dst_base_addr_low = dst;
    cmd(Desc::Tdma(Box::new(d)))
}

/// A store of (1, 8, 1, 64) bytes from local `src` to `base register sel + dst`.
fn store(id: u32, wait: u32, src: u32, sel: u32, dst: u32, layer: u32) -> Command {
    let Desc::Tdma(mut d) = load(id, wait, 0, 0, layer).desc else { unreachable!() };
    d.trans_dir = 1;
    d.src_base_addr_low = src;
    d.dst_base_addr_low = dst;
    d.dst_base_reg_sel = sel;
    let bytes = 2 * W;
    (d.src_h_stride, d.src_c_stride_low, d.src_n_stride) = (bytes, bytes, bytes);
    (d.dst_h_stride, d.dst_c_stride_low, d.dst_n_stride) = (bytes, bytes, C * bytes);
    cmd(Desc::Tdma(d))
}

/// bf16 res = a + b over (1, 8, 1, 32).
fn add(id: u32, wait: u32, res: u32, a: u32, b: u32, layer: u32) -> Command {
    let mut d = TiuDesc::reset(CHIP);
    (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num, d.opd_typ) = (3, 2, 2, 1);
    d.cmd_en = 1;
    d.cmd_id_en = 1;
    d.cmd_id_tpu = id;
    d.cmd_id_gdma = wait;
    d.layer_info = layer;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (1, 1, 1);
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.opt_res_shift, d.opt_left_shift) = (0, 0);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, C, 1, W);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, C, 1, W);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, C, 1, W);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str) = (3, 3, 3);
    let s = [2 * W, 2 * W, 2 * W, 2];
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = s;
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = s;
    [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str] = s;
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (res, a, b);
    cmd(Desc::Tiu(Box::new(d)))
}

/// Through the encoder and the cmdbuf decoder, as the runtime would see the stream.
fn roundtrip(cmds: &[Command]) -> CommandStream {
    CommandStream::from_commands(CHIP, cmds).expect("encodes")
}

fn machine() -> Machine {
    let mut m = Machine::new(CHIP);
    m.gmem.add_region("io", IO, 0x1000);
    m.gmem.add_region(Region::WEIGHT.name(), WEIGHT, 0x1000);
    m.gmem.base_regs[0] = IO;
    m.gmem.base_regs[1] = WEIGHT;
    m
}

fn check(cmds: &[Command]) -> Vec<Finding> {
    let mut m = machine();
    let mut c = Checker::new(&m);
    c.run(&mut m, &roundtrip(cmds), 0, &|_| None).expect("runs");
    c.findings
}

/// Two loads, an add waiting for both, a store waiting for the add.
fn correct() -> Vec<Command> {
    vec![
        load(1, 0, 0, 0x000, 1),
        load(2, 0, 0x200, 0x100, 1),
        add(1, 2, 0x200, 0x000, 0x100, 2),
        store(3, 1, 0x200, 0, 0x400, 3),
    ]
}

#[test]
fn correct_buffer_has_no_finding() {
    assert_eq!(check(&correct()), []);
}

// The store no longer waits for the add: in order the add runs first, but the store starts as soon
// as the TDMA engine is free, while the add is still writing what it reads.
#[test]
fn race_is_reported() {
    let mut cmds = correct();
    cmds[3] = store(3, 0, 0x200, 0, 0x400, 3);
    let f = check(&cmds);
    assert_eq!(f.len(), 1, "{f:#?}");
    let Finding::Race { tiu, tdma, tiu_writes, tdma_writes, bytes, overlap } = &f[0] else { panic!("{f:?}") };
    assert_eq!((tiu.index, tiu.engine, tiu.layer), (2, Engine::Tiu, 2));
    assert_eq!((tdma.index, tdma.engine, tdma.layer), (3, Engine::Tdma, 3));
    assert!(*tiu_writes && !*tdma_writes);
    // All 64 bytes of every lane at 0x200.
    assert_eq!((bytes.lane, bytes.start, bytes.end, bytes.total), (0, 0x200, 0x240, 8 * 64));
    assert!(overlap.0 < overlap.1);
    let text = f[0].to_string();
    assert!(text.starts_with("race: TIU #2 add.bf16 (layer 2) writes and TDMA #3"), "{text}");
}

// The add reads its second operand from 0x300, where nothing was loaded (a wrong operand address):
// an uninitialised read by the add.
#[test]
fn wrong_operand_reads_uninitialised_memory() {
    let mut cmds = correct();
    cmds[2] = add(1, 2, 0x200, 0x000, 0x300, 2);
    let f = check(&cmds);
    assert_eq!(f.len(), 1, "{f:#?}");
    let Finding::UninitRead { desc, bytes } = &f[0] else { panic!("{f:?}") };
    assert_eq!((desc.index, desc.layer), (2, 2));
    assert_eq!((bytes.lane, bytes.start, bytes.end, bytes.total), (0, 0x300, 0x340, 8 * 64));
}

// A store of local memory nothing wrote.
#[test]
fn uninitialised_read_by_a_store() {
    let mut cmds = correct();
    cmds.push(store(4, 1, 0x600, 0, 0x800, 4));
    let f = check(&cmds);
    assert_eq!(f.len(), 1, "{f:#?}");
    let Finding::UninitRead { desc, bytes } = &f[0] else { panic!("{f:?}") };
    assert_eq!((desc.index, desc.engine, desc.layer), (4, Engine::Tdma, 4));
    assert_eq!((bytes.start, bytes.end), (0x600, 0x640));
}

// A store running past the end of the io region, then one into the weight region: both reported,
// and the run goes on to the descriptors after them.
#[test]
fn out_of_region_writes() {
    let mut cmds = correct();
    cmds.push(store(4, 1, 0x200, 0, 0xF00, 5));
    cmds.push(store(5, 1, 0x200, 1, 0x0, 6));
    cmds.push(store(6, 1, 0x600, 0, 0x0, 7));
    let f = check(&cmds);
    assert_eq!(f.len(), 3, "{f:#?}");
    let Finding::OutOfRange { desc, error } = &f[0] else { panic!("{f:?}") };
    assert_eq!((desc.index, desc.layer), (4, 5));
    // 8 rows of 64 bytes from io + 0xF00 end at io + 0x1100, past the 4 KiB region.
    assert!(matches!(error, ExecErrorKind::GmemOutOfRange { start, .. } if *start == IO + 0xF00), "{error:?}");
    let Finding::WeightWrite { desc, start, end } = &f[1] else { panic!("{f:?}") };
    assert_eq!((desc.index, *start, *end), (5, WEIGHT, WEIGHT + 8 * 64));
    assert!(matches!(&f[2], Finding::UninitRead { desc, .. } if desc.index == 6));
}

// An operand that runs past the end of a lane is reported as out of range, naming the TIU
// descriptor, instead of stopping the run.
#[test]
fn operand_past_the_lane_end() {
    let mut cmds = correct();
    cmds[2] = add(1, 2, 0x7fe0, 0x000, 0x100, 2);
    let f = check(&cmds);
    assert!(
        matches!(&f[0], Finding::OutOfRange { desc, error: ExecErrorKind::LmemOutOfRange { .. } } if desc.index == 2),
        "{f:#?}"
    );
}
