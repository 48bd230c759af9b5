//! CPU cost per 20 ms frame (160 samples) of the DTMF detector on speech and on a stream of
//! digits, and of G.711 decoding. Run with `cargo bench --bench dtmf`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ivr::ids::Digit;
use ivr::media::dtmf::{DtmfDetector, ToneSpec, millis, push_digits};
use ivr::media::g711::Law;

const FRAME: usize = 160;

fn speech() -> Vec<i16> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/talkoff");
    let mut samples = Vec::new();
    for name in [
        "speech_en-us_base_p50_s160.ulaw",
        "speech_cmn_f2_p85_s130.ulaw",
    ] {
        let codes = std::fs::read(format!("{dir}/{name}")).unwrap_or_default();
        samples.extend(codes.iter().map(|&c| Law::Mulaw.decode(c)));
    }
    assert!(samples.len() > 8000, "talk-off speech files missing");
    samples
}

fn digit_stream() -> Vec<i16> {
    let spec = ToneSpec {
        tone: millis(50),
        gap: millis(50),
        ..ToneSpec::default()
    };
    let mut samples = Vec::new();
    let digits: Vec<Digit> = "123A456B789C*0#D".chars().filter_map(Digit::new).collect();
    for _ in 0..20 {
        push_digits(&digits, &spec, &mut samples);
    }
    samples
}

/// Feeds one frame per iteration, cycling through the audio with one long-lived detector.
fn bench_frames(c: &mut Criterion, name: &str, audio: &[i16]) {
    let frames: Vec<&[i16]> = audio.chunks_exact(FRAME).collect();
    let mut detector = DtmfDetector::new();
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            detector.process(black_box(frames[i]), |e| {
                black_box(e);
            });
            i += 1;
            if i == frames.len() {
                i = 0;
            }
        })
    });
}

fn detector(c: &mut Criterion) {
    bench_frames(c, "dtmf_detect_speech_per_frame", &speech());
    bench_frames(c, "dtmf_detect_digits_per_frame", &digit_stream());
}

fn g711(c: &mut Criterion) {
    let codes: Vec<u8> = (0..FRAME).map(|i| (i * 37 % 256) as u8).collect();
    let mut out = [0i16; FRAME];
    c.bench_function("g711_mulaw_decode_per_frame", |b| {
        b.iter(|| Law::Mulaw.decode_frame(black_box(&codes), &mut out))
    });
    let samples: Vec<i16> = (0..FRAME).map(|i| (i as i16 - 80) * 401).collect();
    let mut encoded = [0u8; FRAME];
    c.bench_function("g711_alaw_encode_per_frame", |b| {
        b.iter(|| Law::Alaw.encode_frame(black_box(&samples), &mut encoded))
    });
}

criterion_group!(benches, detector, g711);
criterion_main!(benches);
