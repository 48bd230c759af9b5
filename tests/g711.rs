//! G.711 against sox: every code decodes and every 16-bit sample encodes exactly as sox's
//! independent implementation does (fixtures made by `tests/data/g711/make.sh`).

// Test helpers may panic on broken fixtures; that is the failure report.
#![allow(clippy::unwrap_used)]

use ivr::media::g711::{Law, alaw_decode, alaw_encode, mulaw_decode, mulaw_encode};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/g711/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn s16le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn all_samples() -> impl Iterator<Item = i16> {
    i16::MIN..=i16::MAX
}

#[test]
fn every_mulaw_code_decodes_like_sox() {
    let expected = s16le(&fixture("codes_ulaw.s16le"));
    assert_eq!(expected.len(), 256);
    for code in 0..=255u8 {
        assert_eq!(
            mulaw_decode(code),
            expected[usize::from(code)],
            "code {code:#04x}"
        );
    }
}

#[test]
fn every_alaw_code_decodes_like_sox() {
    let expected = s16le(&fixture("codes_alaw.s16le"));
    assert_eq!(expected.len(), 256);
    for code in 0..=255u8 {
        assert_eq!(
            alaw_decode(code),
            expected[usize::from(code)],
            "code {code:#04x}"
        );
    }
}

#[test]
fn every_sample_encodes_to_mulaw_like_sox() {
    let expected = fixture("ramp.ulaw");
    assert_eq!(expected.len(), 65536);
    for (s, &want) in all_samples().zip(&expected) {
        assert_eq!(mulaw_encode(s), want, "sample {s}");
    }
}

#[test]
fn every_sample_encodes_to_alaw_like_sox() {
    let expected = fixture("ramp.alaw");
    assert_eq!(expected.len(), 65536);
    for (s, &want) in all_samples().zip(&expected) {
        assert_eq!(alaw_encode(s), want, "sample {s}");
    }
}

#[test]
fn decoding_then_encoding_returns_every_code() {
    for law in [Law::Mulaw, Law::Alaw] {
        for code in 0..=255u8 {
            let back = law.encode(law.decode(code));
            // μ-law has two codes for zero (0x7F and 0xFF); both decode to 0, which encodes
            // as 0xFF. Every other code must survive the round trip.
            if law == Law::Mulaw && code == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "{law:?} code {code:#04x}");
            }
        }
    }
}

#[test]
fn frame_helpers_match_the_sample_functions() {
    let samples: Vec<i16> = (0..160)
        .map(|i| ((i * 409) % 65536 - 32768) as i16)
        .collect();
    for law in [Law::Mulaw, Law::Alaw] {
        let mut codes = [0u8; 160];
        law.encode_frame(&samples, &mut codes).unwrap();
        let mut decoded = [0i16; 160];
        law.decode_frame(&codes, &mut decoded).unwrap();
        for i in 0..160 {
            assert_eq!(codes[i], law.encode(samples[i]));
            assert_eq!(decoded[i], law.decode(codes[i]));
        }
        let mut in_place = samples.clone();
        law.compand_in_place(&mut in_place);
        assert_eq!(&in_place[..], &decoded[..]);
    }
}
