//! `ivr dtmf generate` and `ivr dtmf detect` as ops run them: the built binary, real files,
//! exit codes and the exact `<ms> <digit>` lines.
//!
//! Expected times follow from the detector's design (`media::dtmf::detect`): a digit is
//! reported at the end of the third whole 10 ms block of its tone, and the CLI prints the end
//! of the 20 ms frame in which that happened.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::path::Path;
use std::process::Command;

const ALL_KEYS: &str = "123A456B789C*0#D";

fn ivr(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// When the CLI reports a tone that starts at `start_ms`: the first block edge at or after
/// the start, plus three 10 ms blocks, rounded up to the end of its 20 ms frame.
fn reported_ms(start_ms: u64) -> u64 {
    let first_block = start_ms.div_ceil(10) * 10;
    (first_block + 30).div_ceil(20) * 20
}

/// The lines `ivr dtmf detect` should print for `digits` whose tones start at `first_ms` and
/// then every `period_ms`.
fn expected_lines(digits: &str, first_ms: u64, period_ms: u64) -> String {
    digits
        .chars()
        .enumerate()
        .map(|(k, c)| format!("{} {c}\n", reported_ms(first_ms + k as u64 * period_ms)))
        .collect()
}

/// The WAV format tag of a file (1 PCM, 6 A-law, 7 μ-law), from its `fmt ` chunk.
fn format_tag(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[12..16], b"fmt ", "{}", path.display());
    u16::from_le_bytes([bytes[20], bytes[21]])
}

#[test]
fn generated_keys_are_detected_at_exact_times_in_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    for (codec, tag) in [("linear", 1), ("mulaw", 7), ("alaw", 6)] {
        let file = dir.path().join(format!("keys_{codec}.wav"));
        let (code, out, err) = ivr(&[
            "dtmf",
            "generate",
            ALL_KEYS,
            path_str(&file),
            "--codec",
            codec,
        ]);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""), "{codec}");
        assert_eq!(format_tag(&file), tag, "{codec}");
        let (code, out, err) = ivr(&["dtmf", "detect", path_str(&file)]);
        assert_eq!(code, 0, "{codec}: {err}");
        // Defaults: 80 ms tone + 80 ms gap, the first tone at 0 ms.
        assert_eq!(out, expected_lines(ALL_KEYS, 0, 160), "{codec}");
    }
}

#[test]
fn short_quiet_twisted_off_frequency_keys_round_trip_in_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    for codec in ["linear", "mulaw", "alaw"] {
        let file = dir.path().join(format!("hard_{codec}.wav"));
        let (code, _, err) = ivr(&[
            "dtmf",
            "generate",
            "*#0abcd9",
            path_str(&file),
            "--tone-ms",
            "45",
            "--gap-ms",
            "55",
            "--level-dbm0",
            "-30",
            "--twist-db",
            "-6",
            "--offset-pct",
            "-1.2",
            "--codec",
            codec,
        ]);
        assert_eq!(code, 0, "{codec}: {err}");
        let (code, out, err) = ivr(&["dtmf", "detect", path_str(&file)]);
        assert_eq!(code, 0, "{codec}: {err}");
        assert_eq!(out, expected_lines("*#0ABCD9", 0, 100), "{codec}");
    }
}

#[test]
fn keys_far_off_frequency_are_generated_but_not_detected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("off.wav");
    let (code, _, err) = ivr(&[
        "dtmf",
        "generate",
        ALL_KEYS,
        path_str(&file),
        "--offset-pct",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ivr(&["dtmf", "detect", path_str(&file)]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}

#[test]
fn a_stereo_44_1_khz_file_made_by_sox_is_mixed_down_resampled_and_read() {
    // tests/data/dtmf/make.sh: 100 ms of silence, then 60 ms tone + 60 ms gap per key, the
    // low tone on the left channel and the high tone on the right.
    let (code, out, err) = ivr(&["dtmf", "detect", "tests/data/dtmf/sox_44k1_stereo.wav"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, expected_lines("159D*0#A", 100, 120));
}

#[test]
fn a_spoken_prompt_yields_no_digit_and_exit_zero() {
    let (code, out, err) = ivr(&["dtmf", "detect", "audio-prompts/en-US/goodbye.wav"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn a_file_that_is_not_a_wav_is_refused_with_a_clear_error_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.wav");
    std::fs::write(&file, "these are meeting notes, not audio\n").unwrap();
    let (code, out, err) = ivr(&["dtmf", "detect", path_str(&file)]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.contains(path_str(&file)), "{err}");
    assert!(err.contains("not a valid WAV file"), "{err}");
}

#[test]
fn a_missing_file_is_refused_with_exit_2() {
    let (code, out, err) = ivr(&["dtmf", "detect", "no/such/file.wav"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.contains("no/such/file.wav: cannot read"), "{err}");
}

#[test]
fn a_bad_digit_is_named_exits_2_and_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.wav");
    let (code, _, err) = ivr(&["dtmf", "generate", "12E4", path_str(&file)]);
    assert_eq!(code, 2);
    assert!(err.contains("'E' at position 3 is not a DTMF key"), "{err}");
    assert!(!file.exists());
}

#[test]
fn options_out_of_range_exit_2_and_write_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.wav");
    for (option, value) in [
        ("--tone-ms", "0"),
        ("--level-dbm0", "6"),
        ("--offset-pct", "-70"),
    ] {
        let (code, _, err) = ivr(&["dtmf", "generate", "1", path_str(&file), option, value]);
        assert_eq!(code, 2, "{option} {value}");
        assert!(err.contains(option), "{option}: {err}");
        assert!(!file.exists(), "{option}");
    }
}
