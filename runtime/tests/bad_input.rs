//! Corrupt and truncated files are rejected with the right error, and no mutation of a real
//! file makes loading (or planning memory, or reporting on what loaded) panic.

mod common;

use cvsim_runtime::info::{info_json, render_info};
use cvsim_runtime::memory::{MemoryOptions, MemoryPlan};
use cvsim_runtime::{Model, ModelError};
use proptest::prelude::*;

/// A 6 KB corpus model with a CPU `quant` routine and a TPU routine.
const SMALL_CASE: &str = "ops/cv181x_int8/TorchHardSwish_0";

fn small() -> Vec<u8> {
    std::fs::read(common::corpus_case(SMALL_CASE)).unwrap()
}

fn body_end(file: &[u8]) -> usize {
    48 + u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize
}

/// Everything a consumer does with a loaded model; none of it may panic.
fn exercise(bytes: &[u8]) {
    if let Ok(m) = Model::from_bytes(bytes) {
        for pi in 0..m.programs.len() {
            let _ = MemoryPlan::new(&m, MemoryOptions { program: pi, pmu: true, ..Default::default() });
        }
        let _ = render_info(&m);
        let _ = info_json(&m);
    }
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn truncation_at_every_stage() {
    let file = small();
    let end = body_end(&file);
    assert!(Model::from_bytes(&file).is_ok());
    for cut in [0, 5, 8, 31, 32, 47] {
        let e = Model::from_bytes(&file[..cut]).unwrap_err();
        assert!(matches!(e, ModelError::TooShort { .. }), "cut {cut}: {e}");
    }
    for cut in [48, 49, end / 2, end - 1] {
        let e = Model::from_bytes(&file[..cut]).unwrap_err();
        assert!(matches!(e, ModelError::BodyPastEnd { .. }), "cut {cut}: {e}");
    }
    for cut in [end, end + 1, file.len() - 1] {
        let e = Model::from_bytes(&file[..cut]).unwrap_err();
        assert!(matches!(e, ModelError::SectionOutside { .. }), "cut {cut}: {e}");
        // The message names the section and the file range it needs.
        let text = e.to_string();
        assert!(text.contains("subfunc") || text.contains("weight"), "{text}");
        assert!(text.contains(&format!("{}-byte file", cut)), "{text}");
    }
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn wrong_magic_and_body_size() {
    let file = small();
    let mut f = file.clone();
    f[..8].copy_from_slice(b"NotModel");
    assert!(matches!(Model::from_bytes(&f), Err(ModelError::BadMagic { .. })));
    let mut f = file.clone();
    f[8..12].copy_from_slice(&(file.len() as u32).to_le_bytes());
    let e = Model::from_bytes(&f).unwrap_err();
    assert!(matches!(e, ModelError::BodyPastEnd { .. }) && e.to_string().starts_with("file offset 8"), "{e}");
    let mut f = file.clone();
    f[30..36].copy_from_slice(b"cv999x");
    assert!(matches!(Model::from_bytes(&f), Err(ModelError::UnknownChip { .. })));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn corrupted_flatbuffer_is_an_error() {
    let file = small();
    // The root table offset pointing past the body.
    let mut f = file.clone();
    f[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Model::from_bytes(&f), Err(ModelError::Flatbuffer { start: 48, .. })));
    // Garbage over the whole body.
    let mut f = file.clone();
    let end = body_end(&f);
    for (i, b) in f[48..end].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    assert!(Model::from_bytes(&f).is_err());
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn every_single_byte_flip_of_header_and_body() {
    let file = small();
    let end = body_end(&file);
    for i in 0..end {
        for x in [0x01, 0x80, 0xFF] {
            let mut f = file.clone();
            f[i] ^= x;
            exercise(&f);
        }
    }
}

proptest! {
    // No failure file: a failing case is printed, minimised, in the test output.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    #[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
    fn random_mutations_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut f = small();
        for (at, v) in edits {
            let i = at.index(f.len());
            f[i] = v;
        }
        if let Some(c) = cut {
            f.truncate(c.index(f.len() + 1));
        }
        exercise(&f);
    }
}
