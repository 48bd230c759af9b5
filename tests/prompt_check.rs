//! `ivr prompts check` logic over temporary prompt folders.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ivr::flow::model::PromptEntry;
use ivr::ids::{Language, PromptId};
use ivr::media::check::{CheckLimits, CheckReport, Problem, check_prompts};
use ivr::media::prompts::SPOKEN_NUMBER_PROMPTS;
use ivr::media::wav::{self, Encoding, WavFormat};

const LANGS: [&str; 2] = ["zh-CN", "en-US"];

fn tone(seconds: f32, amplitude: f32) -> Vec<f32> {
    let n = (16_000.0 * seconds) as usize;
    (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 16_000.0).sin())
        .collect()
}

fn write(path: &Path, samples: &[f32]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let format = WavFormat {
        sample_rate: 16_000,
        channels: 1,
        encoding: Encoding::Int { bits: 16 },
    };
    wav::write_wav(path, format, samples).unwrap();
}

fn entry() -> PromptEntry {
    PromptEntry {
        text: LANGS
            .iter()
            .map(|l| (Language::new(*l), "words".to_owned()))
            .collect(),
    }
}

/// A catalogue of `welcome`, `goodbye` and `hold_music` plus the number prompts, and a folder
/// where every file is fine (music in `shared/`).
fn setup() -> (tempfile::TempDir, BTreeMap<PromptId, PromptEntry>) {
    let dir = tempfile::tempdir().unwrap();
    let mut catalogue = BTreeMap::new();
    for id in ["welcome", "goodbye", "hold_music"]
        .iter()
        .map(|s| PromptId::new(*s))
        .chain(SPOKEN_NUMBER_PROMPTS.iter().cloned())
    {
        catalogue.insert(id.clone(), entry());
        for lang in LANGS {
            if id.as_str() != "hold_music" {
                write(
                    &dir.path().join(lang).join(format!("{id}.wav")),
                    &tone(0.4, 0.7),
                );
            }
        }
    }
    write(&dir.path().join("shared/hold_music.wav"), &tone(2.0, 0.5));
    (dir, catalogue)
}

fn row<'a>(report: &'a CheckReport, lang: &str, prompt: &str) -> &'a ivr::media::check::FileCheck {
    report
        .files
        .iter()
        .find(|f| f.language.as_str() == lang && f.prompt.as_str() == prompt)
        .unwrap_or_else(|| panic!("no row for {lang}/{prompt}"))
}

#[test]
fn a_complete_folder_is_clean_and_every_duration_is_reported() {
    let (dir, catalogue) = setup();
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());
    assert!(
        report.is_clean(),
        "{:#?}",
        report
            .files
            .iter()
            .filter(|f| !f.problems.is_empty())
            .collect::<Vec<_>>()
    );
    // Two languages of (welcome, goodbye, numbers) plus one shared music file.
    assert_eq!(
        report.files.len(),
        2 * (2 + SPOKEN_NUMBER_PROMPTS.len()) + 1
    );
    let welcome = row(&report, "en-US", "welcome").levels.as_ref().unwrap();
    assert_eq!(welcome.duration, Duration::from_millis(400));
    assert!((welcome.peak_dbfs - 20.0 * 0.7f64.log10()).abs() < 0.1);
    let music = row(&report, "shared", "hold_music")
        .levels
        .as_ref()
        .unwrap();
    assert_eq!(music.duration, Duration::from_secs(2));
    assert!(report.total_bytes > 0);
}

#[test]
fn missing_and_extra_files_are_reported() {
    let (dir, catalogue) = setup();
    fs::remove_file(dir.path().join("en-US/goodbye.wav")).unwrap();
    write(&dir.path().join("zh-CN/old_promo.wav"), &tone(1.0, 0.5));
    write(&dir.path().join("fr-FR/welcome.wav"), &tone(1.0, 0.5));
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());
    assert_eq!(report.problem_count(), 3);
    let missing = row(&report, "en-US", "goodbye");
    assert_eq!(missing.problems, vec![Problem::Missing]);
    assert!(missing.path.ends_with("en-US/goodbye.wav"));
    assert_eq!(
        row(&report, "zh-CN", "old_promo").problems,
        vec![Problem::Extra]
    );
    assert_eq!(
        row(&report, "fr-FR", "welcome").problems,
        vec![Problem::Extra]
    );
}

#[test]
fn number_prompts_are_required_even_when_not_catalogued() {
    let (dir, mut catalogue) = setup();
    catalogue.remove(&PromptId::new("digit_star"));
    fs::remove_file(dir.path().join("zh-CN/digit_star.wav")).unwrap();
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());
    assert_eq!(
        row(&report, "zh-CN", "digit_star").problems,
        vec![Problem::Missing]
    );
    // The en-US file is still there and is not "extra".
    assert!(row(&report, "en-US", "digit_star").problems.is_empty());
    assert_eq!(report.problem_count(), 1);
}

#[test]
fn clipped_silent_short_and_unreadable_files_are_reported() {
    let (dir, catalogue) = setup();
    let square: Vec<f32> = (0..8000)
        .map(|i| if (i / 20) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    write(&dir.path().join("zh-CN/welcome.wav"), &square);
    write(&dir.path().join("en-US/welcome.wav"), &vec![0.0; 8000]);
    write(&dir.path().join("zh-CN/goodbye.wav"), &tone(0.05, 0.5));
    fs::write(dir.path().join("en-US/goodbye.wav"), b"RIFF....WAVE").unwrap();
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());

    let clipped = &row(&report, "zh-CN", "welcome").problems;
    assert!(
        matches!(clipped.as_slice(), [Problem::Clipped { samples }] if *samples >= 7900),
        "{clipped:?}"
    );
    let silent = &row(&report, "en-US", "welcome").problems;
    assert!(
        matches!(silent.as_slice(), [Problem::Silent { rms_dbfs }] if *rms_dbfs < -100.0),
        "{silent:?}"
    );
    assert_eq!(
        row(&report, "zh-CN", "goodbye").problems,
        vec![Problem::TooShort]
    );
    let unreadable = &row(&report, "en-US", "goodbye").problems;
    assert!(
        matches!(unreadable.as_slice(), [Problem::Unreadable(r)] if r.contains("goodbye.wav")),
        "{unreadable:?}"
    );
    assert_eq!(report.problem_count(), 4);
}

#[test]
fn a_lone_full_scale_peak_is_not_clipping() {
    let (dir, catalogue) = setup();
    let mut samples = tone(0.5, 0.5);
    samples[100] = 1.0;
    samples[200] = -1.0;
    write(&dir.path().join("zh-CN/welcome.wav"), &samples);
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());
    assert!(report.is_clean());
    assert_eq!(
        row(&report, "zh-CN", "welcome")
            .levels
            .as_ref()
            .unwrap()
            .clipped,
        2
    );
}

#[test]
fn a_language_file_wins_over_the_shared_one() {
    let (dir, catalogue) = setup();
    write(&dir.path().join("zh-CN/hold_music.wav"), &tone(3.0, 0.5));
    let report = check_prompts(dir.path(), &catalogue, &CheckLimits::default());
    assert!(report.is_clean());
    let zh = row(&report, "zh-CN", "hold_music").levels.as_ref().unwrap();
    assert_eq!(zh.duration, Duration::from_secs(3));
    // en-US still uses the shared file.
    assert!(row(&report, "shared", "hold_music").problems.is_empty());
}
