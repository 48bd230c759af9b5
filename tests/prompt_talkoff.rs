//! Echo talk-off: the engine's own prompts, heard back through the line echo, must never be
//! taken for a key press.
//!
//! Every WAV under `audio-prompts/` (both languages and the shared music on hold) is loaded
//! through the prompt store, played out frame by frame with [`Playback`] exactly as a call
//! plays it, and fed to the DTMF detector in 20 ms frames: as stored, after a pass through
//! μ-law and through A-law, and as a quieter, delayed echo (12 dB of echo return loss)
//! through each law. The whole of each language is also played as one continuous stream (prompt after
//! prompt, as a call strings them together), and the music on hold looped twice, so the
//! joins between prompts and across the loop are heard too. Any digit fails the test, with
//! the file, the variant and the time.
//!
//! The other side of the same coin, and a check that this harness hears digits at all: a
//! caller pressing every key over the echo of a menu is still heard, key for key.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::path::{Path, PathBuf};

use ivr::flow::model::Utterance;
use ivr::ids::{Digit, Language, PromptId};
use ivr::media::dtmf::{DtmfDetector, DtmfEvent, ToneSpec, millis, push_digits};
use ivr::media::g711::Law;
use ivr::media::prompts::{FRAME_SAMPLES, Playback, PromptStore, SHARED_FOLDER};

fn prompt_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-prompts")
}

/// The language folders under `audio-prompts/` (every folder but `shared`).
fn languages(dir: &Path) -> Vec<Language> {
    let mut languages: Vec<Language> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .filter(|name| name != SHARED_FOLDER)
        .map(|name| Language::new(&name))
        .collect();
    languages.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    languages
}

/// The prompt ids with a WAV file in `folder`, sorted.
fn prompt_ids(folder: &Path) -> Vec<PromptId> {
    let mut ids: Vec<PromptId> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        })
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(PromptId::new))
        .collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

/// Every 8 kHz sample a call would send when playing `utterances`, `passes` times over.
fn played(
    store: &PromptStore,
    utterances: &[Utterance],
    language: &Language,
    passes: usize,
) -> Vec<i16> {
    let mut playback = Playback::new(store, utterances, language).unwrap();
    let mut samples = Vec::new();
    let mut frame = [0i16; FRAME_SAMPLES];
    for _ in 0..passes {
        playback.rewind();
        while playback.next_frame(&mut frame) {
            samples.extend_from_slice(&frame);
        }
    }
    samples
}

/// Echo return loss of a typical hybrid (dB): how much quieter the echo is than the prompt.
const ECHO_RETURN_LOSS_DB: f32 = 12.0;

/// The ways the played audio can come back: as sent, through each law, and as a quieter
/// echo through each law, delayed so the detector's 10 ms blocks fall at other points of
/// the prompt than in the undelayed variants (20 and 60 samples into a block).
fn variants(samples: &[i16]) -> Vec<(&'static str, Vec<i16>)> {
    let through = |law: Law, gain: f32| {
        let mut s: Vec<i16> = samples
            .iter()
            .map(|&x| (f32::from(x) * gain).round() as i16)
            .collect();
        law.compand_in_place(&mut s);
        s
    };
    let delayed = |samples: Vec<i16>, delay: usize| {
        let mut out = vec![0i16; delay];
        out.extend(samples);
        out
    };
    let echo = 10f32.powf(-ECHO_RETURN_LOSS_DB / 20.0);
    vec![
        ("linear", samples.to_vec()),
        ("mu-law", through(Law::Mulaw, 1.0)),
        ("A-law", through(Law::Alaw, 1.0)),
        (
            "mu-law echo -12 dB, 12.5 ms late",
            delayed(through(Law::Mulaw, echo), 100),
        ),
        (
            "A-law echo -12 dB, 37.5 ms late",
            delayed(through(Law::Alaw, echo), 300),
        ),
    ]
}

/// Every digit the detector reports, fed in 20 ms frames, as (seconds, key).
fn digits(samples: &[i16]) -> Vec<(f64, char)> {
    let mut detector = DtmfDetector::new();
    let mut found = Vec::new();
    for frame in samples.chunks(FRAME_SAMPLES) {
        detector.process(frame, |e| {
            if let DtmfEvent::Started { digit, at } = e {
                found.push((at.0 as f64 / 8000.0, digit.as_char()));
            }
        });
    }
    found
}

fn check(name: &str, samples: &[i16], false_digits: &mut Vec<String>) {
    for (variant, audio) in variants(samples) {
        for (at, digit) in digits(&audio) {
            false_digits.push(format!("{name} ({variant}) at {at:.2} s: {digit}"));
        }
    }
}

#[test]
fn no_prompt_of_either_language_nor_the_hold_music_is_heard_as_a_digit() {
    let dir = prompt_dir();
    let languages = languages(&dir);
    assert!(
        languages.len() >= 2,
        "expected zh-CN and en-US, found {languages:?}"
    );
    let store = PromptStore::load(&dir, &languages).unwrap();
    let mut false_digits = Vec::new();
    let mut files = 0;
    let mut seconds = 0.0;
    for language in &languages {
        let mut ids = prompt_ids(&dir.join(language.as_str()));
        ids.extend(prompt_ids(&dir.join(SHARED_FOLDER)));
        let mut everything = Vec::new();
        for id in &ids {
            let utterance = [Utterance::Prompt(id.clone())];
            let samples = played(&store, &utterance, language, 1);
            seconds += samples.len() as f64 / 8000.0;
            files += 1;
            check(&format!("{language}/{id}"), &samples, &mut false_digits);
            everything.extend(utterance);
        }
        let stream = played(&store, &everything, language, 1);
        check(
            &format!("{language}: all prompts back to back"),
            &stream,
            &mut false_digits,
        );
    }
    assert!(files >= 2 * 150, "only {files} prompt files played");
    assert!(seconds >= 600.0, "only {seconds:.0} s of prompts played");
    assert!(
        false_digits.is_empty(),
        "{} false digit(s) from our own prompts:\n{}",
        false_digits.len(),
        false_digits.join("\n")
    );
}

#[test]
fn music_on_hold_looped_is_never_heard_as_a_digit() {
    let dir = prompt_dir();
    let shared = prompt_ids(&dir.join(SHARED_FOLDER));
    assert!(
        shared.iter().any(|id| id.as_str() == "hold_music"),
        "no hold_music in {}",
        dir.join(SHARED_FOLDER).display()
    );
    let languages = languages(&dir);
    let store = PromptStore::load(&dir, &languages).unwrap();
    let mut false_digits = Vec::new();
    for id in &shared {
        let samples = played(&store, &[Utterance::Prompt(id.clone())], &languages[0], 2);
        check(&format!("{id} looped twice"), &samples, &mut false_digits);
    }
    assert!(
        false_digits.is_empty(),
        "false digits from the music on hold:\n{}",
        false_digits.join("\n")
    );
}

#[test]
fn every_key_pressed_over_the_echo_of_a_menu_is_still_heard() {
    let dir = prompt_dir();
    let languages = languages(&dir);
    let store = PromptStore::load(&dir, &languages).unwrap();
    let keys: Vec<Digit> = Digit::ALL.to_vec();
    let spec = ToneSpec {
        tone: millis(80),
        gap: millis(120),
        ..ToneSpec::default()
    };
    let mut pressed = Vec::new();
    push_digits(&keys, &spec, &mut pressed);
    let expected: String = keys.iter().map(|d| d.as_char()).collect();
    let echo_gain = 10f32.powf(-ECHO_RETURN_LOSS_DB / 20.0);
    for language in &languages {
        let menu = PromptId::new("menu_95017_main");
        let echo = played(&store, &[Utterance::Prompt(menu)], language, 1);
        assert!(echo.len() > 2 * pressed.len(), "{language}: menu too short");
        for law in [Law::Mulaw, Law::Alaw] {
            // The caller starts pressing 1 s into the menu.
            let mut line: Vec<i16> = echo
                .iter()
                .enumerate()
                .map(|(n, &e)| {
                    let key = n
                        .checked_sub(8000)
                        .and_then(|i| pressed.get(i))
                        .map_or(0.0, |&k| f32::from(k));
                    (f32::from(e) * echo_gain + key).round() as i16
                })
                .collect();
            law.compand_in_place(&mut line);
            let heard: String = digits(&line).iter().map(|&(_, d)| d).collect();
            assert_eq!(heard, expected, "{language}, {law:?}");
        }
    }
}
