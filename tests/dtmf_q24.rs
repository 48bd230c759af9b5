//! The DTMF detector against every row of the Q.24 table in the brief, each as a sweep
//! generated here, each asserting the exact digit string on linear audio and on the same
//! audio passed through μ-law and A-law.
//!
//! S/N is the power of the weaker tone over the power of white noise across the whole
//! 0–4 kHz band (both tones together are 3 dB above that when there is no twist). Levels are
//! per tone, in dBm0 (see `media::dtmf`).

// Test helpers may panic on broken fixtures; that is the failure report.
#![allow(clippy::unwrap_used)]

use ivr::ids::{Digit, SampleCount};
use ivr::media::dtmf::{
    COLUMN_HZ, DtmfDetector, DtmfEvent, ROW_HZ, ToneSpec, dbm0_to_peak, generate::push_tone,
    millis, push_digits, push_silence,
};
use ivr::media::g711::Law;

const ALL_KEYS: &str = "123A456B789C*0#D";

fn keys(s: &str) -> Vec<Digit> {
    s.chars().map(|c| Digit::new(c).unwrap()).collect()
}

/// Events from feeding `samples` in frames of `frame` samples, then finishing.
fn events_in_frames(samples: &[i16], frame: usize) -> Vec<DtmfEvent> {
    let mut detector = DtmfDetector::new();
    let mut events = Vec::new();
    for chunk in samples.chunks(frame) {
        detector.process(chunk, |e| events.push(e));
    }
    detector.finish(|e| events.push(e));
    events
}

fn digits_of(events: &[DtmfEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            DtmfEvent::Started { digit, .. } => Some(digit.as_char()),
            DtmfEvent::Ended { .. } => None,
        })
        .collect()
}

fn companded(samples: &[i16], law: Law) -> Vec<i16> {
    let mut out = samples.to_vec();
    law.compand_in_place(&mut out);
    out
}

/// The digit string read from `samples` in 20 ms frames; panics (with `what`) unless
/// linear, μ-law and A-law audio all give the same string.
fn read(samples: &[i16], what: &str) -> String {
    let linear = digits_of(&events_in_frames(samples, 160));
    for law in [Law::Mulaw, Law::Alaw] {
        let other = digits_of(&events_in_frames(&companded(samples, law), 160));
        assert_eq!(other, linear, "{what}: {law:?} differs from linear");
    }
    linear
}

fn assert_reads(samples: &[i16], expected: &str, what: &str) {
    assert_eq!(read(samples, what), expected, "{what}");
}

fn sequence(digits: &str, spec: &ToneSpec) -> Vec<i16> {
    let mut out = Vec::new();
    push_silence(millis(30), &mut out);
    push_digits(&keys(digits), spec, &mut out);
    out
}

/// Small seeded PRNG (SplitMix64) with Gaussian samples by Box–Muller.
struct Noise {
    state: u64,
    spare: Option<f64>,
}

impl Noise {
    fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gaussian(&mut self) -> f64 {
        if let Some(g) = self.spare.take() {
            return g;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
    /// Adds white noise of the given RMS (16-bit units), saturating.
    fn add_to(&mut self, samples: &mut [i16], rms: f64) {
        for s in samples {
            let v = f64::from(*s) + rms * self.gaussian();
            *s = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }
}

fn pct_steps(from_tenths: i32, to_tenths: i32) -> impl Iterator<Item = f32> {
    (from_tenths..=to_tenths).map(|t| t as f32 / 10.0)
}

#[test]
fn all_sixteen_keys_are_read_in_order() {
    assert_reads(
        &sequence(ALL_KEYS, &ToneSpec::default()),
        ALL_KEYS,
        "default",
    );
}

#[test]
fn every_key_is_read_with_row_tone_up_to_1_5_percent_off() {
    for pct in pct_steps(-15, 15) {
        let spec = ToneSpec {
            row_offset_pct: pct,
            ..ToneSpec::default()
        };
        assert_reads(&sequence(ALL_KEYS, &spec), ALL_KEYS, &format!("row {pct}%"));
    }
}

#[test]
fn every_key_is_read_with_column_tone_up_to_1_5_percent_off() {
    for pct in pct_steps(-15, 15) {
        let spec = ToneSpec {
            column_offset_pct: pct,
            ..ToneSpec::default()
        };
        assert_reads(
            &sequence(ALL_KEYS, &spec),
            ALL_KEYS,
            &format!("column {pct}%"),
        );
    }
}

#[test]
fn every_key_is_read_with_both_tones_1_5_percent_off_either_way() {
    for (r, c) in [(1.5, 1.5), (1.5, -1.5), (-1.5, 1.5), (-1.5, -1.5)] {
        let spec = ToneSpec {
            row_offset_pct: r,
            column_offset_pct: c,
            ..ToneSpec::default()
        };
        assert_reads(
            &sequence(ALL_KEYS, &spec),
            ALL_KEYS,
            &format!("row {r}%, column {c}%"),
        );
    }
}

/// Whether `hz` is within 3.5 % of a nominal frequency of its group, so that it could
/// rightly be read as that other key.
fn near_any(hz: f32, group: &[f32; 4]) -> bool {
    group.iter().any(|&f| (hz / f - 1.0).abs() <= 0.035)
}

#[test]
fn no_key_is_read_with_a_tone_more_than_3_5_percent_off() {
    let offsets: Vec<f32> = pct_steps(36, 80).flat_map(|p| [p, -p]).collect();
    for digit in keys(ALL_KEYS) {
        let (row, column) = ivr::media::dtmf::keypad_position(digit);
        for &pct in &offsets {
            for on_row in [true, false] {
                let (hz, group) = if on_row {
                    (ROW_HZ[row] * (1.0 + pct / 100.0), &ROW_HZ)
                } else {
                    (COLUMN_HZ[column] * (1.0 + pct / 100.0), &COLUMN_HZ)
                };
                if near_any(hz, group) {
                    continue;
                }
                let spec = ToneSpec {
                    row_offset_pct: if on_row { pct } else { 0.0 },
                    column_offset_pct: if on_row { 0.0 } else { pct },
                    tone: millis(200),
                    ..ToneSpec::default()
                };
                let what = format!("{digit} {} {pct}%", if on_row { "row" } else { "column" });
                assert_reads(&sequence(&digit.to_string(), &spec), "", &what);
            }
        }
    }
}

#[test]
fn every_key_is_read_at_every_twist_from_minus_8_to_plus_4_db() {
    for half_db in -16..=8 {
        let twist = half_db as f32 / 2.0;
        let spec = ToneSpec {
            level_dbm0: -12.0,
            twist_db: twist,
            ..ToneSpec::default()
        };
        assert_reads(
            &sequence(ALL_KEYS, &spec),
            ALL_KEYS,
            &format!("twist {twist} dB"),
        );
    }
}

#[test]
fn every_key_is_read_at_every_level_from_0_to_minus_40_dbm0() {
    for level in (-40..=0).rev() {
        let spec = ToneSpec {
            level_dbm0: level as f32,
            ..ToneSpec::default()
        };
        assert_reads(
            &sequence(ALL_KEYS, &spec),
            ALL_KEYS,
            &format!("{level} dBm0"),
        );
    }
}

#[test]
fn nothing_is_read_at_minus_55_dbm0_or_below() {
    for level in -70..=-55 {
        let spec = ToneSpec {
            level_dbm0: level as f32,
            tone: millis(200),
            ..ToneSpec::default()
        };
        assert_reads(&sequence(ALL_KEYS, &spec), "", &format!("{level} dBm0"));
    }
}

fn noisy_sequence(digits: &str, spec: &ToneSpec, snr_db: f64, seed: u64) -> Vec<i16> {
    let mut samples = sequence(digits, spec);
    let a_low = f64::from(dbm0_to_peak(spec.level_dbm0));
    let a_high = f64::from(dbm0_to_peak(spec.level_dbm0 + spec.twist_db));
    // S/N of the weaker tone against the noise (the usual receiver-datasheet convention).
    let weaker_tone_power = a_low.min(a_high).powi(2) / 2.0;
    let noise_rms = (weaker_tone_power / 10f64.powf(snr_db / 10.0)).sqrt();
    Noise::new(seed).add_to(&mut samples, noise_rms);
    samples
}

#[test]
fn every_key_is_read_exactly_at_6_db_signal_to_noise() {
    for seed in 1..=20 {
        for level in [-10.0, -20.0, -30.0] {
            let spec = ToneSpec {
                level_dbm0: level,
                tone: millis(50),
                gap: millis(50),
                ..ToneSpec::default()
            };
            let samples = noisy_sequence(ALL_KEYS, &spec, 6.0, seed);
            assert_reads(
                &samples,
                ALL_KEYS,
                &format!("6 dB S/N, seed {seed}, {level} dBm0"),
            );
        }
    }
}

#[test]
fn white_noise_alone_yields_no_digit() {
    for (seed, dbm0) in [
        (7u64, 0.0f32),
        (8, -10.0),
        (9, -20.0),
        (10, -30.0),
        (11, -45.0),
    ] {
        let mut samples = vec![0i16; 8000 * 20];
        let rms = f64::from(dbm0_to_peak(dbm0)) / 2f64.sqrt();
        Noise::new(seed).add_to(&mut samples, rms);
        assert_reads(&samples, "", &format!("noise at {dbm0} dBm0"));
    }
}

/// `lead` of silence, then one key for `tone`, then 100 ms of silence.
fn single(digit: char, lead: SampleCount, tone: SampleCount) -> Vec<i16> {
    let mut out = Vec::new();
    push_silence(lead, &mut out);
    let spec = ToneSpec {
        tone,
        gap: millis(100),
        ..ToneSpec::default()
    };
    push_digits(&keys(&digit.to_string()), &spec, &mut out);
    out
}

#[test]
fn tones_of_40_ms_or_longer_are_read_at_every_alignment() {
    for ms in 40..=60 {
        for lead in 0..80 {
            for digit in ['1', '#', 'D'] {
                assert_reads(
                    &single(digit, SampleCount(lead), millis(ms)),
                    &digit.to_string(),
                    &format!("{ms} ms tone after {lead} samples"),
                );
            }
        }
    }
}

#[test]
fn tones_of_23_ms_or_shorter_are_never_read_at_any_alignment() {
    for samples in (40..=184).step_by(4) {
        for lead in 0..80 {
            for digit in ['1', '#', 'D'] {
                assert_reads(
                    &single(digit, SampleCount(lead), SampleCount(samples)),
                    "",
                    &format!("{samples}-sample tone after {lead} samples"),
                );
            }
        }
    }
}

/// `first` ms of tone, `gap` of silence, `second` ms of the same key (restarting its phase).
fn interrupted(digit: char, lead: u64, first: u64, gap: SampleCount, second: u64) -> Vec<i16> {
    let spec = ToneSpec {
        tone: millis(first),
        ..ToneSpec::default()
    };
    let mut out = Vec::new();
    push_silence(SampleCount(lead), &mut out);
    let d = Digit::new(digit).unwrap();
    push_tone(d, &spec, &mut out);
    push_silence(gap, &mut out);
    push_tone(
        d,
        &ToneSpec {
            tone: millis(second),
            ..spec
        },
        &mut out,
    );
    push_silence(millis(100), &mut out);
    out
}

#[test]
fn interruptions_of_10_ms_or_less_do_not_split_a_digit() {
    for gap in (8..=80).step_by(8) {
        for lead in (0..80).step_by(3) {
            for digit in ['5', '*'] {
                assert_reads(
                    &interrupted(digit, lead, 60, SampleCount(gap), 60),
                    &digit.to_string(),
                    &format!("{gap}-sample break after {lead}"),
                );
            }
        }
    }
}

#[test]
fn pauses_of_40_ms_or_more_separate_two_presses_of_one_key() {
    for pause_ms in 40..=60 {
        for lead in (0..80).step_by(3) {
            for digit in ['5', '*'] {
                assert_reads(
                    &interrupted(digit, lead, 45, millis(pause_ms), 45),
                    &format!("{digit}{digit}"),
                    &format!("{pause_ms} ms pause after {lead}"),
                );
            }
        }
    }
}

#[test]
fn ten_digits_a_second_are_read_exactly() {
    let digits = "0123456789*#ABCD5551234";
    for (tone, gap) in [(50, 50), (40, 53), (53, 40), (45, 48)] {
        let spec = ToneSpec {
            tone: millis(tone),
            gap: millis(gap),
            ..ToneSpec::default()
        };
        for lead in (0..80).step_by(7) {
            let mut samples = Vec::new();
            push_silence(SampleCount(lead), &mut samples);
            push_digits(&keys(digits), &spec, &mut samples);
            assert_reads(&samples, digits, &format!("{tone}/{gap} ms after {lead}"));
        }
    }
}

#[test]
fn a_digit_is_reported_within_40_ms_with_start_and_end_near_the_tone() {
    let tone_start = 1000u64;
    let tone_len = millis(120).0;
    for lead in tone_start..tone_start + 160 {
        let samples = single('7', SampleCount(lead), SampleCount(tone_len));
        let mut detector = DtmfDetector::new();
        let mut started_at_frame_end = None;
        let mut events = Vec::new();
        for (i, frame) in samples.chunks(160).enumerate() {
            detector.process(frame, |e| {
                if matches!(e, DtmfEvent::Started { .. }) {
                    started_at_frame_end = Some((i as u64 + 1) * 160);
                }
                events.push(e);
            });
        }
        let reported = started_at_frame_end.expect("digit reported");
        // Reported within 40 ms of the tone starting, plus up to one 10 ms block of framing.
        assert!(
            reported - lead <= 400,
            "reported {} samples late",
            reported - lead
        );
        match events.as_slice() {
            [
                DtmfEvent::Started { digit, at },
                DtmfEvent::Ended { start, end, .. },
            ] => {
                assert_eq!(digit.as_char(), '7');
                assert_eq!(at, start);
                assert!(at.0.abs_diff(lead) < 80, "start {} vs {lead}", at.0);
                let tone_end = lead + tone_len;
                assert!(end.0.abs_diff(tone_end) < 80, "end {} vs {tone_end}", end.0);
            }
            other => panic!("unexpected events {other:?}"),
        }
    }
}

#[test]
fn any_frame_length_gives_the_same_events() {
    let mut samples = sequence(ALL_KEYS, &ToneSpec::default());
    Noise::new(3).add_to(&mut samples, 300.0);
    let reference = events_in_frames(&samples, 160);
    assert_eq!(digits_of(&reference), ALL_KEYS);
    for frame in [1, 7, 80, 81, 159, 161, 240, 333, 4000] {
        assert_eq!(
            events_in_frames(&samples, frame),
            reference,
            "frame {frame}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_audio_in_arbitrary_frames_gives_well_formed_events(
            audio in proptest::collection::vec(any::<i16>(), 0..4000),
            tone_at in 0usize..4000,
            frame in 1usize..400,
        ) {
            // Mix a real digit into the garbage so the state machine gets exercised.
            let mut samples = audio;
            let mut tone = Vec::new();
            push_digits(&keys("9"), &ToneSpec::default(), &mut tone);
            let at = tone_at.min(samples.len());
            samples.splice(at..at, tone);
            let events = events_in_frames(&samples, frame);
            let mut open: Option<(Digit, SampleCount)> = None;
            for e in events {
                match e {
                    DtmfEvent::Started { digit, at } => {
                        prop_assert!(open.is_none());
                        open = Some((digit, at));
                    }
                    DtmfEvent::Ended { digit, start, end } => {
                        prop_assert_eq!(open.take(), Some((digit, start)));
                        prop_assert!(end > start);
                        prop_assert!(end.0 <= samples.len() as u64);
                    }
                }
            }
            prop_assert!(open.is_none());
        }
    }
}
