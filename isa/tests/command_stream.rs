//! The encoded command stream against the decoded list `parse_cmdbuf` gives: the same commands,
//! sync ids, segments and errors.

use cvsim_isa::cmdbuf::{encode_descs, parse_cmdbuf, Desc};
use cvsim_isa::cpu::CpuDesc;
use cvsim_isa::dmabuf::segments;
use cvsim_isa::layout::FieldSpec;
use cvsim_isa::tdma::tdma_layout;
use cvsim_isa::tiu::tiu_layout;
use cvsim_isa::{Chip, CommandStream, TdmaDesc, TiuDesc};
use proptest::prelude::*;
use std::sync::Arc;

/// A field value that fits `f`, picked by `seed`.
fn fit<F: Copy>(f: &FieldSpec<F>, seed: u64) -> u32 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) as u32 & f.mask()
}

/// Descriptors of every engine with arbitrary field values, some ids 0xFFFF (segment ends), a CPU
/// record, and TDMA barriers on and off.
fn descs(chip: Chip, seeds: &[u64]) -> Vec<Desc> {
    let mut out = Vec::new();
    for (k, &s) in seeds.iter().enumerate() {
        match s % 7 {
            0 => out.push(Desc::Cpu(Box::new(CpuDesc::sync(1, 2, 3, 4)))),
            1..=3 => {
                let mut d = TiuDesc::reset(chip);
                for (j, f) in tiu_layout(chip).fields.iter().enumerate() {
                    d.set(f.id, fit(f, s ^ j as u64));
                }
                if s % 5 == 0 {
                    d.cmd_id_tpu = 0xFFFF;
                }
                out.push(Desc::Tiu(Box::new(d)));
            }
            _ => {
                let mut d = TdmaDesc::reset(chip);
                for (j, f) in tdma_layout(chip).fields.iter().enumerate() {
                    d.set(f.id, fit(f, s ^ (j as u64) << 8));
                }
                d.bar_en = (k % 2) as u32;
                if s % 5 == 0 {
                    d.cmd_id = 0xFFFF;
                }
                out.push(Desc::Tdma(Box::new(d)));
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn a_stream_decodes_to_what_parse_cmdbuf_gives(seeds in prop::collection::vec(any::<u64>(), 1..40), chip_i in 0usize..4, pad in 0usize..9) {
        let chip = Chip::ALL[chip_i];
        let bytes = encode_descs(chip, &descs(chip, &seeds)).unwrap();
        let (_, want) = parse_cmdbuf(&bytes, None).unwrap();
        // The stream inside a larger buffer, as a section inside a model file.
        let mut file = vec![0xEE; pad];
        file.extend_from_slice(&bytes);
        file.extend_from_slice(&[0xEE; 3]);
        let s = CommandStream::parse(Arc::new(file), pad..pad + bytes.len(), None).unwrap();
        prop_assert_eq!(s.chip(), chip);
        prop_assert_eq!(s.len(), want.len());
        prop_assert_eq!(s.bytes(), &bytes[..]);
        prop_assert_eq!(s.commands().to_vec(), want.clone());
        prop_assert_eq!(s.segments(), &segments(&want)[..]);
        // The slot holds the previous descriptor: of the other engine or of the same.
        let mut slot = None;
        for (i, c) in want.iter().enumerate() {
            prop_assert_eq!(s.engine(i), Some(c.desc.engine()));
            prop_assert_eq!(s.own_id(i), c.desc.own_id());
            prop_assert_eq!(s.wait_id(i), c.desc.wait_id());
            prop_assert_eq!(s.decode_into(i, &mut slot), Some(&c.desc));
        }
        prop_assert!(s.get(want.len()).is_none());
        prop_assert!(s.decode_into(want.len(), &mut slot).is_none());
        let back = CommandStream::from_commands(chip, &want).unwrap();
        prop_assert_eq!(back.bytes(), &bytes[..]);
    }

    /// Any damage to a stream is the error `parse_cmdbuf` reports, at the same offset.
    #[test]
    fn a_damaged_stream_fails_as_parse_cmdbuf_does(seeds in prop::collection::vec(any::<u64>(), 1..8), chip_i in 0usize..4,
                                                   at in any::<prop::sample::Index>(), v in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let chip = Chip::ALL[chip_i];
        let mut bytes = encode_descs(chip, &descs(chip, &seeds)).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = v;
        bytes.truncate(cut.index(bytes.len() + 1));
        let want = parse_cmdbuf(&bytes, Some(chip)).map(|(_, c)| c);
        prop_assert_eq!(CommandStream::from_vec(bytes, Some(chip)).map(|s| s.commands().to_vec()), want);
    }
}

#[test]
fn a_range_past_the_buffer_is_an_error() {
    let e = CommandStream::parse(Arc::new(vec![0; 10]), 4..20, None).unwrap_err();
    assert!(e.to_string().contains("need 16 bytes, 6 left"), "{e}");
}

#[test]
fn a_stored_header_that_does_not_fit_its_descriptor_is_an_error() {
    let chip = Chip::Cv181x;
    let (_, mut cmds) = parse_cmdbuf(&encode_descs(chip, &descs(chip, &[1, 4])).unwrap(), None).unwrap();
    cmds[1].header.as_mut().unwrap()[1] = 112; // a TDMA record claiming a TIU length
    let e = CommandStream::from_commands(chip, &cmds).unwrap_err();
    assert!(e.to_string().contains("offset 120: TDMA record has length 112, expected 64"), "{e}");
}
