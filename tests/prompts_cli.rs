//! `ivr prompts check` and `ivr prompts export-text`, run as the binary ops run.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use ivr::media::prompts::SPOKEN_NUMBER_PROMPTS;
use ivr::media::wav::{self, Encoding, WavFormat};

const CATALOGUE: &str = "\
welcome:
  zh-CN: \"您好\"
  en-US: \"Hello   there,\\tcaller\"
hold_music:
  zh-CN: \"(music)\"
  en-US: \"(music)\"
";

fn tone(path: &Path, seconds: f32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let n = (8000.0 * seconds) as usize;
    let samples: Vec<f32> = (0..n).map(|i| 0.5 * (i as f32 * 0.3).sin()).collect();
    let format = WavFormat {
        sample_rate: 8000,
        channels: 1,
        encoding: Encoding::Int { bits: 16 },
    };
    wav::write_wav(path, format, &samples).unwrap();
}

/// A prompt folder with a catalogue and every file it needs.
fn prompt_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("prompts.yaml"), CATALOGUE).unwrap();
    for lang in ["zh-CN", "en-US"] {
        tone(&dir.path().join(lang).join("welcome.wav"), 1.0);
        for prompt in SPOKEN_NUMBER_PROMPTS.iter() {
            tone(&dir.path().join(lang).join(format!("{prompt}.wav")), 0.3);
        }
    }
    tone(&dir.path().join("shared/hold_music.wav"), 2.0);
    dir
}

fn ivr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn check_of_a_complete_folder_exits_0_and_lists_durations() {
    let dir = prompt_dir();
    let out = ivr(&["prompts", "check", "--dir", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let welcome = text
        .lines()
        .find(|l| l.starts_with("en-US") && l.contains("welcome"))
        .unwrap();
    assert!(
        welcome.contains("1.00 s") && welcome.ends_with("ok"),
        "{welcome}"
    );
    assert!(text.contains("shared  hold_music"), "{text}");
    assert!(text.trim_end().ends_with("0 problem(s)"), "{text}");
}

#[test]
fn check_reports_a_deleted_prompt_and_exits_1() {
    let dir = prompt_dir();
    fs::remove_file(dir.path().join("en-US/welcome.wav")).unwrap();
    let out = ivr(&[
        "prompts",
        "check",
        "--dir",
        dir.path().to_str().unwrap(),
        "--only-problems",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // Header, the one problem, the summary.
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("en-US") && lines[1].contains("missing"));
    assert!(lines[1].contains("en-US/welcome.wav"), "{text}");
    assert!(lines[2].ends_with("1 problem(s)"), "{text}");
}

#[test]
fn check_with_an_unreadable_catalogue_exits_2() {
    let dir = prompt_dir();
    let out = ivr(&[
        "prompts",
        "check",
        "--dir",
        dir.path().to_str().unwrap(),
        "--catalogue",
        dir.path().join("nope.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

#[test]
fn export_text_prints_one_tab_separated_line_per_entry_and_language() {
    let dir = prompt_dir();
    let catalogue = dir.path().join("prompts.yaml");
    let out = ivr(&[
        "prompts",
        "export-text",
        "--catalogue",
        catalogue.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "hold_music\ten-US\t(music)\n\
         hold_music\tzh-CN\t(music)\n\
         welcome\ten-US\tHello there, caller\n\
         welcome\tzh-CN\t您好\n"
    );
}
