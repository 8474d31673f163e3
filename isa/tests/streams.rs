//! cmdbuf and dmabuf codecs: round trips and every kind of bad input.

use cvsim_isa::cmdbuf::{encode_descs, parse_cmdbuf, Desc};
use cvsim_isa::dmabuf::{build_dmabuf, dmabuf_size, parse_dmabuf, segments};
use cvsim_isa::{Chip, LayoutFamily, StreamError, TdmaDesc, TiuDesc};
use proptest::prelude::*;

/// A little load → compute → store stream with emitter-style sync ids.
fn sample(chip: Chip, n: usize) -> Vec<Desc> {
    let mut out = Vec::new();
    for i in 1..=n as u32 {
        let mut load = TdmaDesc::reset(chip);
        load.vld = 1;
        load.bar_en = 1;
        load.cmd_id = 2 * i - 1;
        load.wait_id_tpu = i - 1;
        out.push(Desc::Tdma(Box::new(load)));
        let mut t = TiuDesc::reset(chip);
        t.cmd_en = 1;
        t.cmd_id_en = 1;
        t.tsk_typ = 3;
        t.tsk_eu_typ = 2;
        t.cmd_id_tpu = i;
        t.cmd_id_gdma = 2 * i - 1;
        out.push(Desc::Tiu(Box::new(t)));
        let mut store = TdmaDesc::reset(chip);
        store.vld = 1;
        store.bar_en = 1;
        store.trans_dir = 1;
        store.cmd_id = 2 * i;
        store.wait_id_tpu = i;
        out.push(Desc::Tdma(Box::new(store)));
    }
    out
}

#[test]
fn cmdbuf_roundtrip_all_chips() {
    for chip in Chip::ALL {
        let bytes = encode_descs(chip, &sample(chip, 4)).unwrap();
        let (c, cmds) = parse_cmdbuf(&bytes, None).unwrap();
        assert_eq!(c, chip);
        assert_eq!(cmds.len(), 12);
        assert_eq!(cvsim_isa::cmdbuf::encode_cmdbuf(chip, &cmds).unwrap(), bytes);
    }
}

#[test]
fn dmabuf_build_parse_merge_gives_back_the_stream() {
    for chip in Chip::ALL {
        let bytes = encode_descs(chip, &sample(chip, 5)).unwrap();
        let (_, cmds) = parse_cmdbuf(&bytes, Some(chip)).unwrap();
        let dma = build_dmabuf(chip, &cmds).unwrap();
        assert_eq!(dma.len(), dmabuf_size(&cmds));
        let parsed = parse_dmabuf(&dma, chip).unwrap();
        assert_eq!(parsed.segments.len(), segments(&cmds).len());
        let merged = parsed.merged().unwrap();
        assert_eq!(merged.len(), cmds.len());
        for (a, b) in merged.iter().zip(&cmds) {
            match (&a.desc, &b.desc) {
                (Desc::Tiu(x), Desc::Tiu(y)) => {
                    let mut x = (**x).clone();
                    // The builder marks the segment's last TIU descriptor.
                    x.cmd_end = y.cmd_end;
                    x.cmd_intr_en = y.cmd_intr_en;
                    if chip.layout() == LayoutFamily::Cv183x {
                        // CV183x keeps the chunk tags in reserved bits.
                        x.rsvd1 = y.rsvd1;
                        x.rsvd2 = y.rsvd2;
                        x.rsvd3 = y.rsvd3;
                        x.rsvd4 = y.rsvd4;
                        x.rsvd5 = y.rsvd5;
                        x.rsvd6 = y.rsvd6;
                    }
                    assert_eq!(&x, &**y);
                }
                (Desc::Tdma(x), Desc::Tdma(y)) => {
                    assert_eq!(x.cmd_id, y.cmd_id);
                    assert_eq!(x.trans_dir, y.trans_dir);
                }
                _ => panic!("engine order differs"),
            }
        }
    }
}

#[test]
fn segments_split_at_id_ffff() {
    let chip = Chip::Cv181x;
    let mut descs = sample(chip, 2);
    if let Desc::Tiu(t) = &mut descs[1] {
        t.cmd_id_tpu = 0xFFFF;
    }
    let bytes = encode_descs(chip, &descs).unwrap();
    let (_, cmds) = parse_cmdbuf(&bytes, None).unwrap();
    let segs = segments(&cmds);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].range, 0..2);
}

#[test]
fn bad_cmdbufs_name_the_offset() {
    let chip = Chip::Cv181x;
    let good = encode_descs(chip, &sample(chip, 1)).unwrap();
    assert!(matches!(parse_cmdbuf(&[], None), Err(StreamError::Empty { .. })));
    // Truncated header, truncated payload.
    assert!(matches!(parse_cmdbuf(&good[..5], None), Err(StreamError::Truncated { offset: 0, .. })));
    let cut = 8 + 64 + 8 + 50;
    assert!(matches!(parse_cmdbuf(&good[..cut], None), Err(StreamError::PastEnd { offset: 72, .. })));
    // Unknown magic.
    let mut b = good.clone();
    b[72] = 0x11;
    assert!(matches!(parse_cmdbuf(&b, None), Err(StreamError::BadMagic { offset: 72, found: 0x11 })));
    // A record of another chip in the middle.
    let mut b = good.clone();
    b[72] = 0xA5;
    assert!(matches!(parse_cmdbuf(&b, None), Err(StreamError::MixedMagic { offset: 72, .. })));
    // Unknown engine.
    let mut b = good.clone();
    b[74] = 7;
    let e = parse_cmdbuf(&b, None).unwrap_err();
    assert!(matches!(e, StreamError::UnknownEngine { offset: 72, engine: 7 }));
    assert!(e.to_string().contains("offset 72"));
    // Wrong length, and a length-in-mask record whose mask is huge.
    let mut b = good.clone();
    b[73] = 0x40;
    assert!(matches!(parse_cmdbuf(&b, None), Err(StreamError::BadLength { offset: 72, .. })));
    let mut b = good.clone();
    b[73] = 0;
    b[76..80].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(parse_cmdbuf(&b, None), Err(StreamError::BadLength { offset: 72, .. })));
    // The chip the caller insists on.
    assert!(matches!(parse_cmdbuf(&good, Some(Chip::Cv183x)), Err(StreamError::MixedMagic { offset: 0, .. })));
}

#[test]
fn bad_dmabufs_are_errors() {
    let chip = Chip::Cv181x;
    let bytes = encode_descs(chip, &sample(chip, 2)).unwrap();
    let (_, cmds) = parse_cmdbuf(&bytes, None).unwrap();
    let dma = build_dmabuf(chip, &cmds).unwrap();
    assert!(parse_dmabuf(&dma[..100], chip).is_err());
    let mut b = dma.clone();
    b[0] = 0;
    assert!(matches!(parse_dmabuf(&b, chip), Err(StreamError::BadDmabufMagic { .. })));
    assert!(matches!(parse_dmabuf(&dma, Chip::Cv183x), Err(StreamError::DmabufChip { .. })));
    let mut b = dma.clone();
    b[8..12].copy_from_slice(&100000u32.to_le_bytes());
    assert!(parse_dmabuf(&b, chip).is_err());
    let mut b = dma.clone();
    b[128 + 4..128 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse_dmabuf(&b, chip).is_err());
}

#[test]
fn dmabuf_merge_reports_deadlock() {
    let chip = Chip::Cv181x;
    let mut descs = sample(chip, 1);
    if let Desc::Tdma(t) = &mut descs[0] {
        t.wait_id_tpu = 1; // the load waits for the TIU op that waits for the load
    }
    let bytes = encode_descs(chip, &descs).unwrap();
    let (_, cmds) = parse_cmdbuf(&bytes, None).unwrap();
    let dma = build_dmabuf(chip, &cmds).unwrap();
    let err = parse_dmabuf(&dma, chip).unwrap().merged().unwrap_err();
    assert!(err.to_string().contains("deadlock"));
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), chip_i in 0usize..4) {
        let chip = Chip::ALL[chip_i];
        let _ = parse_cmdbuf(&bytes, None);
        let _ = parse_dmabuf(&bytes, chip).map(|d| d.merged());
    }
}
