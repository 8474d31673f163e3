//! The layout tables themselves: each tiles its descriptor exactly, and the codecs built on them
//! round-trip every field.

use cvsim_isa::codec::{decode_with, encode_with, Fields};
use cvsim_isa::layout::Layout;
use cvsim_isa::tdma::{tdma_layout, TDMA_CV183X, TDMA_CV18X};
use cvsim_isa::tiu::{tiu_layout, TIU_CV183X, TIU_CV18X};
use cvsim_isa::{Chip, TdmaDesc, TiuDesc};
use proptest::prelude::*;

#[test]
fn every_layout_tiles_its_descriptor() {
    TIU_CV18X.validate().unwrap();
    TIU_CV183X.validate().unwrap();
    TDMA_CV18X.validate().unwrap();
    TDMA_CV183X.validate().unwrap();
}

#[test]
fn reserved_reset_values_match_the_emitter() {
    // On CV18[0-2]x the top nibble of 16-byte chunk k holds k after reset (and after the dmabuf tag).
    let d = TiuDesc::reset(Chip::Cv181x);
    let bytes = d.encode(Chip::Cv181x).unwrap();
    for k in 0..7 {
        assert_eq!(bytes[16 * k + 15] >> 4, k as u8, "chunk {k}");
    }
}

fn random_desc<D: Fields>(layout: &'static Layout<D::Id>, seeds: &[u32]) -> D {
    let mut d = D::default();
    for (f, s) in layout.fields.iter().zip(seeds.iter().cycle()) {
        d.set(f.id, s & f.mask());
    }
    d
}

fn check_roundtrip<D: Fields + PartialEq + std::fmt::Debug>(layout: &'static Layout<D::Id>, seeds: &[u32]) {
    let d: D = random_desc(layout, seeds);
    let bytes = encode_with(layout, &d).unwrap();
    let back: D = decode_with(layout, &bytes);
    assert_eq!(back, d);
    assert_eq!(encode_with(layout, &back).unwrap(), bytes);
}

proptest! {
    #[test]
    fn tiu_encode_decode_every_chip(seeds in prop::collection::vec(any::<u32>(), 128)) {
        for chip in Chip::ALL {
            check_roundtrip::<TiuDesc>(tiu_layout(chip), &seeds);
        }
    }

    #[test]
    fn tdma_encode_decode_every_chip(seeds in prop::collection::vec(any::<u32>(), 64)) {
        for chip in Chip::ALL {
            check_roundtrip::<TdmaDesc>(tdma_layout(chip), &seeds);
        }
    }

    #[test]
    fn decode_encode_is_identity_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 112)) {
        for chip in Chip::ALL {
            let b: [u8; 112] = bytes.clone().try_into().unwrap();
            prop_assert_eq!(TiuDesc::decode(chip, &b).encode(chip).unwrap(), b);
            let t: [u8; 64] = bytes[..64].try_into().unwrap();
            prop_assert_eq!(TdmaDesc::decode(chip, &t).encode(chip).unwrap(), t);
        }
    }
}

#[test]
fn encoder_rejects_values_that_do_not_fit_or_do_not_exist() {
    let mut d = TiuDesc::reset(Chip::Cv181x);
    d.res0_n = 1 << 12;
    assert!(d.encode(Chip::Cv181x).unwrap_err().to_string().contains("res0_n"));
    let mut d = TiuDesc::reset(Chip::Cv181x);
    d.tens_lookup = 1; // a CV183x-only flag
    assert!(d.encode(Chip::Cv181x).unwrap_err().to_string().contains("tens_lookup"));
    // CV18[0-2]x's pre-execute field does not exist on CV183x.
    let mut d = TiuDesc::reset(Chip::Cv183x);
    d.cmd_pre_exe = 1;
    assert!(d.encode(Chip::Cv183x).unwrap_err().to_string().contains("cmd_pre_exe"));
}
