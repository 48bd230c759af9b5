//! Talk-off: speech, hold music, singing-like tones, sweeps, chords and non-DTMF tone pairs
//! (made by `tests/data/talkoff/make.sh`, stored as raw μ-law) must yield no digit at all,
//! as decoded, and again after a further pass through μ-law and through A-law.
//!
//! Set `TALKOFF_DIR` to check another folder of `.ulaw` files (for longer corpora).

// Test helpers may panic on broken fixtures; that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use ivr::media::dtmf::{DtmfDetector, DtmfEvent};
use ivr::media::g711::Law;

fn corpus() -> Vec<(String, Vec<i16>)> {
    let dir = std::env::var_os("TALKOFF_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/talkoff"),
        PathBuf::from,
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ulaw"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let codes = std::fs::read(&path).unwrap();
            let mut samples = vec![0i16; codes.len()];
            Law::Mulaw.decode_frame(&codes, &mut samples).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, samples)
        })
        .collect()
}

/// Every start event, as (seconds into the file, key).
fn digits(samples: &[i16]) -> Vec<(f64, char)> {
    let mut detector = DtmfDetector::new();
    let mut found = Vec::new();
    for frame in samples.chunks(160) {
        detector.process(frame, |e| {
            if let DtmfEvent::Started { digit, at } = e {
                found.push((at.0 as f64 / 8000.0, digit.as_char()));
            }
        });
    }
    found
}

#[test]
fn the_talkoff_corpus_is_long_enough_to_mean_something() {
    let corpus = corpus();
    let seconds: usize = corpus.iter().map(|(_, s)| s.len()).sum::<usize>() / 8000;
    assert!(corpus.len() >= 15, "{} files", corpus.len());
    assert!(seconds >= 300, "{seconds} s of audio");
    assert!(corpus.iter().any(|(n, _)| n.starts_with("speech_cmn")));
    assert!(corpus.iter().any(|(n, _)| n.starts_with("speech_en")));
    assert!(corpus.iter().any(|(n, _)| n.starts_with("music_")));
}

#[test]
fn speech_and_music_yield_no_digit_on_any_law() {
    let mut false_digits = Vec::new();
    for (name, samples) in corpus() {
        for (law, audio) in [
            ("as stored", samples.clone()),
            ("mu-law", {
                let mut s = samples.clone();
                Law::Mulaw.compand_in_place(&mut s);
                s
            }),
            ("A-law", {
                let mut s = samples.clone();
                Law::Alaw.compand_in_place(&mut s);
                s
            }),
        ] {
            for (at, digit) in digits(&audio) {
                false_digits.push(format!("{name} ({law}) at {at:.2} s: {digit}"));
            }
        }
    }
    assert!(
        false_digits.is_empty(),
        "false digits:\n{}",
        false_digits.join("\n")
    );
}
