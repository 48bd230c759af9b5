//! CPU cost per 20 ms frame (160 samples) of the DTMF detector on speech and on a stream of
//! digits, against the G.711 μ-law decoding of the same speech frames as a baseline.
//!
//! - `cargo bench --bench dtmf`: criterion medians per frame.
//! - `cargo bench --bench dtmf -- --cost`: no criterion; runs the detector and the decoder
//!   over every speech frame in alternating rounds, timing each round, and prints the median
//!   nanoseconds per frame of each and the median of the per-round ratios. The two share
//!   every moment of machine load, so the ratio holds on a busy machine where the absolute
//!   figures do not.
//! - CPU time rather than wall time, for a loaded machine: add `--only detect` or
//!   `--only decode` to time one side alone, and run the binary under
//!   `perf stat -e task-clock` with `--rounds 1` and `--rounds 41`; the difference over 40
//!   rounds of the printed frame count is the CPU time per frame, start-up excluded.
//! - Instruction counts, independent of load: build with `cargo bench --bench dtmf --no-run`
//!   and run the binary it names under
//!   `valgrind --tool=callgrind --toggle-collect='dtmf::detect_frame' --toggle-collect='dtmf::decode_frame'
//!   BINARY --cost --rounds 1`; `callgrind_annotate --inclusive=yes` then gives the
//!   instructions of each function, and the printed frame count divides them.
//!
//! Speech is the committed talk-off corpus (`tests/data/talkoff/speech_*.ulaw`, espeak-ng in
//! Mandarin and English at several pitches and speeds), the same frames for both.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use ivr::ids::Digit;
use ivr::media::dtmf::{DtmfDetector, ToneSpec, millis, push_digits};
use ivr::media::g711::Law;

const FRAME: usize = 160;

/// The μ-law codes of every speech file of the talk-off corpus, whole frames only.
fn speech_codes() -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/talkoff");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("speech_") && n.ends_with(".ulaw"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut codes = Vec::new();
    for name in names {
        let mut file = std::fs::read(format!("{dir}/{name}")).unwrap_or_default();
        file.truncate(file.len() / FRAME * FRAME);
        codes.extend(file);
    }
    assert!(codes.len() >= 8000 * 60, "talk-off speech files missing");
    codes
}

fn decoded(codes: &[u8]) -> Vec<i16> {
    codes.iter().map(|&c| Law::Mulaw.decode(c)).collect()
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

/// One frame through the detector; the number of events, so nothing is optimised away. Out
/// of line so profilers see it as one function.
#[inline(never)]
fn detect_frame(detector: &mut DtmfDetector, frame: &[i16]) -> u32 {
    let mut events = 0;
    detector.process(frame, |e| {
        black_box(e);
        events += 1;
    });
    events
}

/// One frame of μ-law codes decoded into `out`. Out of line, like [`detect_frame`].
#[inline(never)]
fn decode_frame(codes: &[u8], out: &mut [i16; FRAME]) {
    // Both slices are FRAME long, so the lengths always match.
    let _ = Law::Mulaw.decode_frame(codes, out);
}

/// Feeds one frame per iteration, cycling through the audio with one long-lived detector.
fn bench_frames(c: &mut Criterion, name: &str, audio: &[i16]) {
    let frames: Vec<&[i16]> = audio.chunks_exact(FRAME).collect();
    let mut detector = DtmfDetector::new();
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            black_box(detect_frame(&mut detector, black_box(frames[i])));
            i += 1;
            if i == frames.len() {
                i = 0;
            }
        })
    });
}

fn criterion_benches(c: &mut Criterion) {
    let codes = speech_codes();
    bench_frames(c, "dtmf_detect_speech_per_frame", &decoded(&codes));
    bench_frames(c, "dtmf_detect_digits_per_frame", &digit_stream());

    let frames: Vec<&[u8]> = codes.chunks_exact(FRAME).collect();
    let mut out = [0i16; FRAME];
    let mut i = 0;
    c.bench_function("g711_mulaw_decode_speech_per_frame", |b| {
        b.iter(|| {
            decode_frame(black_box(frames[i]), &mut out);
            black_box(&out);
            i += 1;
            if i == frames.len() {
                i = 0;
            }
        })
    });
    let samples: Vec<i16> = (0..FRAME).map(|i| (i as i16 - 80) * 401).collect();
    let mut encoded = [0u8; FRAME];
    c.bench_function("g711_alaw_encode_per_frame", |b| {
        b.iter(|| Law::Alaw.encode_frame(black_box(&samples), &mut encoded))
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `--cost [--rounds N] [--only detect|decode]`: alternating timed rounds of detector and
/// decoder over the same speech frames.
fn cost(rounds: usize, only: Option<&str>) {
    let (run_detect, run_decode) = (only != Some("decode"), only != Some("detect"));
    let codes = speech_codes();
    let samples = decoded(&codes);
    let n = samples.len() / FRAME;
    let mut detector = DtmfDetector::new();
    let mut out = [0i16; FRAME];
    let (mut detect_ns, mut decode_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut events = 0u32;
    for _ in 0..rounds {
        let start = Instant::now();
        for frame in samples.chunks_exact(FRAME).filter(|_| run_detect) {
            events += detect_frame(&mut detector, black_box(frame));
        }
        let detect = start.elapsed().as_nanos() as f64 / n as f64;
        let start = Instant::now();
        for frame in codes.chunks_exact(FRAME).filter(|_| run_decode) {
            decode_frame(black_box(frame), &mut out);
            black_box(&out);
        }
        let decode = start.elapsed().as_nanos() as f64 / n as f64;
        detect_ns.push(detect);
        decode_ns.push(decode);
        ratios.push(detect / decode);
    }
    println!("frames per round: {n} ({:.0} s of speech)", n as f64 / 50.0);
    println!(
        "rounds: {rounds}; detector events per round: {}",
        events as usize / rounds
    );
    println!(
        "detector, ns per frame (median): {:.0}",
        median(&mut detect_ns)
    );
    println!(
        "G.711 decode, ns per frame (median): {:.0}",
        median(&mut decode_ns)
    );
    println!(
        "detector / decode (median of rounds): {:.2}",
        median(&mut ratios)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--cost") {
        let rounds = args
            .iter()
            .position(|a| a == "--rounds")
            .and_then(|i| args.get(i + 1))
            .and_then(|r| r.parse().ok())
            .unwrap_or(31)
            .max(1);
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(String::as_str);
        cost(rounds, only);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
}
