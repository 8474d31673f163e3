//! Properties of the VLC codec: round trips for every data kind and parameter set, stream shape,
//! hand-checked small streams, and typed errors (never a panic) for corrupt or short input.

use cvsim_sim::vlc::{
    block_count, check_store_params, compress, decompress, decompress_into, kmap_len, max_stream_len, stream_len,
    StoreParamError, StreamPart, VlcError, VlcHeader, HEADER_BYTES, RAW_KMAP,
};
use proptest::prelude::*;

/// `cases` cases, and no regression files written beside the tests.
fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// What a round trip must give back: bf16 elements with exponent 0 become +0 under the zero guard.
fn expected_round_trip(data: &[u8], bf16: bool, zero_guard: bool) -> Vec<u8> {
    let mut out = data.to_vec();
    if bf16 && zero_guard {
        for pair in out.chunks_exact_mut(2) {
            if u16::from_le_bytes([pair[0], pair[1]]) & 0x7F80 == 0 {
                pair.fill(0);
            }
        }
    }
    out
}

/// Bytes biased toward what compresses (zeros, small magnitudes, edge values) plus uniform noise.
fn int8_data() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => Just(0u8),
        3 => (-4i8..=4).prop_map(|v| v as u8),
        1 => prop::sample::select(vec![0x7F, 0x80, 0xFF, 0x01]),
        2 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..700)
}

/// bf16 elements: normal weights, zeros of both signs, subnormals, specials, random bits.
fn bf16_data() -> impl Strategy<Value = Vec<u8>> {
    let elem = prop_oneof![
        4 => (115u16..135, any::<u8>(), any::<bool>())
            .prop_map(|(e, m, s)| (s as u16) << 15 | e << 7 | (m as u16 & 0x7F)),
        2 => prop::sample::select(vec![0x0000u16, 0x8000, 0x0001, 0x8005, 0x007F, 0x7F80, 0xFF80, 0x7FC0, 0x7F7F]),
        2 => any::<u16>(),
    ];
    prop::collection::vec(elem, 0..400).prop_map(|v| v.iter().flat_map(|e| e.to_le_bytes()).collect())
}

fn check_round_trip(data: &[u8], signed: bool, bf16: bool, bias0: u8, bias1: u8, zero_guard: bool) {
    let stream = compress(data, signed, bf16, bias0, bias1, zero_guard);
    assert_eq!(stream.len() % 16, 0);
    assert!(stream.len() <= max_stream_len(data.len(), bf16));
    assert_eq!(stream_len(&stream, data.len()), Ok(stream.len()));
    let h = VlcHeader::parse(&stream).unwrap();
    assert_eq!((h.signed, h.bf16, h.bias0, h.bias1, h.zero_guard), (signed, bf16, bias0, bias1 & 0x7F, zero_guard));
    assert!(!h.has_reserved_bits());
    let back = decompress(&stream, data.len()).unwrap();
    assert_eq!(back, expected_round_trip(data, bf16, zero_guard));
    // Trailing bytes after the stream (the rest of global memory) change nothing.
    let mut longer = stream.clone();
    longer.extend_from_slice(&[0xA5; 40]);
    let mut buf = vec![0u8; data.len()];
    assert_eq!(decompress_into(&longer, &mut buf), Ok(stream.len()));
    assert_eq!(buf, back);
}

proptest! {
    #![proptest_config(cfg(400))]

    #[test]
    fn uint8_round_trip(data in int8_data(), bias0 in any::<u8>(), bias1 in 0u8..128) {
        check_round_trip(&data, false, false, bias0, bias1, false);
    }

    #[test]
    fn int8_round_trip(data in int8_data(), bias0 in any::<u8>(), bias1 in any::<u8>()) {
        check_round_trip(&data, true, false, bias0, bias1, false);
    }

    #[test]
    fn bf16_round_trip(data in bf16_data(), bias0 in any::<u8>(), zero_guard in any::<bool>(), signed in any::<bool>()) {
        check_round_trip(&data, signed, true, bias0, 0, zero_guard);
    }

    #[test]
    fn store_legal_round_trip(i8data in int8_data(), bfdata in bf16_data(), signed in any::<bool>(), zero_guard in any::<bool>()) {
        prop_assert!(check_store_params(signed, false, 0, 0, false).is_ok());
        check_round_trip(&i8data, signed, false, 0, 0, false);
        prop_assert!(check_store_params(false, true, 127, 0, zero_guard).is_ok());
        check_round_trip(&bfdata, false, true, 127, 0, zero_guard);
    }

    /// Arbitrary bytes and lengths: a result of the right length or a typed error, never a panic.
    #[test]
    fn garbage_never_panics(stream in prop::collection::vec(any::<u8>(), 0..400), out_len in 0usize..3000) {
        if let Ok(out) = decompress(&stream, out_len) {
            prop_assert_eq!(out.len(), out_len);
        }
    }

    /// A valid stream with one byte changed anywhere after the header.
    #[test]
    fn corrupted_stream_never_panics(data in int8_data(), bf in bf16_data(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), use_bf16 in any::<bool>()) {
        let (data, bf16) = if use_bf16 { (bf, true) } else { (data, false) };
        let mut stream = compress(&data, !bf16, bf16, 127, 3, bf16);
        if stream.len() > HEADER_BYTES {
            let i = HEADER_BYTES + pos.index(stream.len() - HEADER_BYTES);
            stream[i] = byte;
        }
        if let Ok(out) = decompress(&stream, data.len()) {
            prop_assert_eq!(out.len(), data.len());
        }
    }

    /// Every cut of a valid stream before its end is reported as truncated.
    #[test]
    fn truncation_is_reported(data in int8_data(), cut in any::<prop::sample::Index>()) {
        let stream = compress(&data, true, false, 0, 0, false);
        let cut = cut.index(stream.len());
        let err = decompress(&stream[..cut], data.len()).unwrap_err();
        prop_assert!(matches!(err, VlcError::Truncated { .. }), "{err:?}");
    }
}

#[test]
fn sixteen_zero_bytes() {
    // One block of 16 zero symbols: k = 0 with 16 one-bits (ulen 16 → kmap 0x00).
    let s = compress(&[0u8; 16], false, false, 0, 0, false);
    let mut want = vec![0u8; 48];
    want[0] = 16; // data section: 2 bytes padded to 16
    want[32] = 0xFF;
    want[33] = 0xFF;
    assert_eq!(s, want);
}

#[test]
fn small_symbols_pick_rice_order() {
    // Symbols 0..=15 (unsigned): the unary part is 136 bits for k=0 and 72 for k=1 (both over 47);
    // k=2: 32 + 40 = 72 bits; k=3: 48 + 24 = 72 (tie → smaller k); k=4: 64 + 16 = 80. So k = 2, ulen 40.
    let data: Vec<u8> = (0..16).collect();
    let s = compress(&data, false, false, 0, 0, false);
    assert_eq!(s[16], 2 << 5 | (40 - 16));
    assert_eq!(u32::from_le_bytes([s[0], s[1], s[2], 0]), 16);
    // Plane 0 holds bit 0 of symbols 0..15: 0b1010_1010_1010_1010 LSB first.
    assert_eq!(&s[32..34], &[0xAA, 0xAA]);
    assert_eq!(&s[34..36], &[0xCC, 0xCC]);
    assert_eq!(decompress(&s, 16).unwrap(), data);
}

#[test]
fn uniform_block_is_raw() {
    let data: Vec<u8> = (0..16).map(|i| 255 - i * 7).collect();
    let s = compress(&data, false, false, 0, 0, false);
    assert_eq!(s[16], RAW_KMAP);
    assert_eq!(&s[32..48], &data[..]);
}

#[test]
fn bf16_padding_and_zero_guard() {
    // Three elements: 1.0, -0.0, 2.0; zero guard on → the -0.0 has no fraction byte and comes back +0.
    let data = [0x80, 0x3F, 0x00, 0x80, 0x00, 0x40];
    let s = compress(&data, false, true, 127, 0, true);
    assert_eq!(block_count(6, true), 1);
    assert_eq!(kmap_len(6, true), 16);
    assert_eq!(decompress(&s, 6).unwrap(), [0x80, 0x3F, 0, 0, 0x00, 0x40]);
    // Without the zero guard the padded exponent 0 is symbol 253 (§9.15) and -0 survives.
    let s = compress(&data, false, true, 127, 0, false);
    assert_eq!(decompress(&s, 6).unwrap(), data);
}

#[test]
fn header_fields() {
    let s = compress(&[1, 2, 3], true, false, 200, 0xFF, true);
    let h = VlcHeader::parse(&s).unwrap();
    assert_eq!((h.signed, h.bf16, h.bias0, h.bias1, h.zero_guard), (true, false, 200, 0x7F, true));
    assert_eq!(s[3] >> 4, 0b0001);
    let mut bad = s.clone();
    bad[3] |= 0x40; // reserved "bit depth" bit
    bad[9] = 1;
    assert!(VlcHeader::parse(&bad).unwrap().has_reserved_bits());
    assert_eq!(decompress(&bad, 3).unwrap(), [1, 2, 3], "reserved header bits do not change decoding");
}

#[test]
fn typed_errors() {
    let data: Vec<u8> = (0..40).map(|i| (i % 5) as u8).collect();
    let s = compress(&data, false, false, 0, 0, false);
    assert_eq!(decompress(&s[..10], 40), Err(VlcError::Truncated { part: StreamPart::Header, need: 16, len: 10 }));
    assert!(matches!(decompress(&s[..20], 40), Err(VlcError::Truncated { part: StreamPart::Kmap, .. })));
    assert!(matches!(decompress(&s[..33], 40), Err(VlcError::Truncated { part: StreamPart::Data, .. })));

    let mut bad = s.clone();
    bad[16] = 6 << 5;
    assert_eq!(decompress(&bad, 40), Err(VlcError::BadRiceOrder { block: 0, kmap: 0xC0 }));

    // Shrinking ulen by one: the 16th symbol's terminator is missing.
    let mut bad = s.clone();
    bad[16] -= 1;
    assert!(
        matches!(decompress(&bad, 40), Err(VlcError::UnaryOverflow { block: 0, .. })),
        "{:?}",
        decompress(&bad, 40)
    );
    // Growing it: the unary field has bits left over.
    let mut bad = s.clone();
    bad[16] += 1;
    assert!(decompress(&bad, 40).is_err());

    // A header that claims an empty data section.
    let mut bad = s.clone();
    bad[..3].fill(0);
    assert!(matches!(decompress(&bad, 40), Err(VlcError::DataOverrun { block: 0, .. })));

    let bf = compress(&[0x80, 0x3F, 0, 0], false, true, 127, 0, true);
    assert_eq!(decompress(&bf, 3), Err(VlcError::OddBf16Length { out_len: 3 }));

    // A huge output length is refused before anything is allocated.
    assert!(matches!(decompress(&s, usize::MAX / 4), Err(VlcError::Truncated { part: StreamPart::Kmap, .. })));
}

#[test]
fn zero_count_is_checked() {
    // bf16 with zero guard, a block that picks k > 0 (so it carries the 4-bit zero count).
    let elems: Vec<u16> = (0..16).map(|i| if i % 4 == 0 { 0 } else { (120 + i as u16) << 7 }).collect();
    let data: Vec<u8> = elems.iter().flat_map(|e| e.to_le_bytes()).collect();
    let s = compress(&data, false, true, 127, 0, true);
    let k = s[16] >> 5;
    assert!((1..=5).contains(&k), "kmap {:#x}", s[16]);
    let count_bit = 16 * k as usize; // the zero count follows the k bit-planes
    let mut bad = s.clone();
    bad[32 + count_bit / 8] ^= 1 << (count_bit % 8);
    assert!(matches!(decompress(&bad, data.len()), Err(VlcError::ZeroCount { block: 0, count: 5, actual: 4 })));
    assert_eq!(decompress(&s, data.len()).unwrap(), data);
}

#[test]
fn store_params() {
    assert_eq!(check_store_params(true, false, 0, 0, false), Ok(()));
    assert_eq!(check_store_params(false, true, 127, 0, true), Ok(()));
    assert_eq!(
        check_store_params(true, false, 3, 0, false),
        Err(StoreParamError::Int8 { bias0: 3, bias1: 0, zero_guard: false })
    );
    assert!(check_store_params(false, false, 0, 0, true).is_err());
    assert!(check_store_params(false, false, 0, 1, false).is_err());
    assert_eq!(check_store_params(false, true, 126, 0, false), Err(StoreParamError::Bf16 { bias0: 126, bias1: 0 }));
    assert!(check_store_params(false, true, 127, 1, false).is_err());
    let msg = check_store_params(false, true, 0, 0, false).unwrap_err().to_string();
    assert!(msg.contains("bias0 = 127"), "{msg}");
}

#[test]
fn empty_input() {
    let s = compress(&[], true, false, 0, 0, false);
    assert_eq!(s, vec![0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decompress(&s, 0).unwrap(), Vec::<u8>::new());
}
