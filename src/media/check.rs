//! The logic of `ivr prompts check`: compares the prompt folder with the catalogue and
//! measures every file.
//!
//! For every catalogue entry and each language it has words in, the file
//! `<dir>/<language>/<id>.wav` (or the shared `<dir>/shared/<id>.wav`) must exist and be
//! usable: readable, not clipped (many samples at full scale), not silent (RMS below a floor)
//! and not too short. The prompts that spoken numbers are built from must exist in every
//! language, catalogued or not. Any other WAV in the folder is reported as extra. Each file's
//! duration and levels are reported too.
//!
//! This reads files and returns a report; it prints nothing and never exits the process.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::flow::model::PromptEntry;
use crate::ids::{Language, PromptId};
use crate::media::prompts::{SHARED_FOLDER, SPOKEN_NUMBER_PROMPTS, is_wav};
use crate::media::wav;

/// Thresholds of the checks.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckLimits {
    /// Shorter files are reported (one spoken Mandarin syllable lasts about 160 ms or more).
    pub min_duration: Duration,
    /// Files whose RMS level is below this (dBFS) are reported as silent.
    pub silence_floor_dbfs: f64,
    /// A sample at or above this magnitude (full scale 1.0) counts as clipped.
    pub clip_level: f32,
    /// Files with more than this share of clipped samples are reported ...
    pub max_clipped_share: f64,
    /// ... and at least this many clipped samples (a lone full-scale peak is fine).
    pub min_clipped_samples: usize,
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits {
            min_duration: Duration::from_millis(120),
            silence_floor_dbfs: -45.0,
            clip_level: 0.999,
            max_clipped_share: 0.0005,
            min_clipped_samples: 5,
        }
    }
}

/// What is wrong with one file (or the lack of it).
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// No file for a catalogue entry in a language.
    Missing,
    /// A WAV file that no catalogue entry names.
    Extra,
    /// The file cannot be read.
    Unreadable(String),
    /// Too many samples at full scale.
    Clipped {
        /// Samples at full scale.
        samples: usize,
    },
    /// The RMS level is below the floor.
    Silent {
        /// The file's RMS level in dBFS.
        rms_dbfs: f64,
    },
    /// Shorter than the minimum.
    TooShort,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::Extra => f.write_str("extra: no catalogue entry uses it"),
            Problem::Unreadable(reason) => write!(f, "unreadable: {reason}"),
            Problem::Clipped { samples } => write!(f, "clipped: {samples} samples at full scale"),
            Problem::Silent { rms_dbfs } => write!(f, "silent: RMS {rms_dbfs:.1} dBFS"),
            Problem::TooShort => f.write_str("too short"),
        }
    }
}

/// Measurements of a readable file.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    /// How long it lasts.
    pub duration: Duration,
    /// Peak level in dBFS.
    pub peak_dbfs: f64,
    /// RMS level in dBFS.
    pub rms_dbfs: f64,
    /// Samples at full scale.
    pub clipped: usize,
    /// Sample rate of the file.
    pub sample_rate: u32,
}

/// One row of the report: a prompt in a language (or `shared`), its file and its problems.
#[derive(Clone, Debug, PartialEq)]
pub struct FileCheck {
    /// The prompt id (the file stem for extra files).
    pub prompt: PromptId,
    /// The language folder the file is (or should be) in; `shared` for shared files.
    pub language: Language,
    /// The file, or where it should be.
    pub path: PathBuf,
    /// Measurements, when the file could be read.
    pub levels: Option<Levels>,
    /// Problems found; empty when the file is fine.
    pub problems: Vec<Problem>,
}

/// The result of [`check_prompts`]: one row per expected or found file, sorted by language
/// then prompt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Every row.
    pub files: Vec<FileCheck>,
    /// Total size of the WAV files checked, in bytes.
    pub total_bytes: u64,
}

impl CheckReport {
    /// Number of problems over all rows.
    pub fn problem_count(&self) -> usize {
        self.files.iter().map(|f| f.problems.len()).sum()
    }

    /// Whether no row has a problem.
    pub fn is_clean(&self) -> bool {
        self.problem_count() == 0
    }
}

/// Checks the prompt folder `dir` against `catalogue` (see the module docs).
pub fn check_prompts(
    dir: &Path,
    catalogue: &BTreeMap<PromptId, PromptEntry>,
    limits: &CheckLimits,
) -> CheckReport {
    let found = wav_files(dir);
    let shared = Language::new(SHARED_FOLDER);
    let languages: BTreeSet<Language> = catalogue
        .values()
        .flat_map(|e| e.text.keys().cloned())
        .collect();

    // (language folder, prompt) pairs expected, and where each should be when missing.
    let mut expected: BTreeSet<(Language, PromptId)> = BTreeSet::new();
    for (prompt, entry) in catalogue {
        for language in entry.text.keys() {
            expected.insert((language.clone(), prompt.clone()));
        }
    }
    for language in &languages {
        for prompt in SPOKEN_NUMBER_PROMPTS.iter() {
            expected.insert((language.clone(), prompt.clone()));
        }
    }

    let mut rows: BTreeMap<(Language, PromptId), FileCheck> = BTreeMap::new();
    let mut total_bytes = 0;
    let mut measure = |language: &Language, prompt: &PromptId, path: &Path| {
        total_bytes += std::fs::metadata(path).map_or(0, |m| m.len());
        let (levels, problems) = measure_file(path, limits);
        FileCheck {
            prompt: prompt.clone(),
            language: language.clone(),
            path: path.to_owned(),
            levels,
            problems,
        }
    };
    for (language, prompt) in &expected {
        let own = (language.clone(), prompt.clone());
        let in_shared = (shared.clone(), prompt.clone());
        if let Some(path) = found.get(&own) {
            rows.insert(own.clone(), measure(language, prompt, path));
        } else if let Some(path) = found.get(&in_shared) {
            if !rows.contains_key(&in_shared) {
                rows.insert(in_shared.clone(), measure(&shared, prompt, path));
            }
        } else {
            rows.insert(
                own,
                FileCheck {
                    prompt: prompt.clone(),
                    language: language.clone(),
                    path: dir.join(language.as_str()).join(format!("{prompt}.wav")),
                    levels: None,
                    problems: vec![Problem::Missing],
                },
            );
        }
    }
    for (key, path) in &found {
        if !rows.contains_key(key) {
            let mut row = measure(&key.0, &key.1, path);
            row.problems.insert(0, Problem::Extra);
            rows.insert(key.clone(), row);
        }
    }
    CheckReport {
        files: rows.into_values().collect(),
        total_bytes,
    }
}

/// Every `<dir>/<folder>/<id>.wav`, keyed by (folder, id).
fn wav_files(dir: &Path) -> BTreeMap<(Language, PromptId), PathBuf> {
    let mut found = BTreeMap::new();
    let Ok(folders) = std::fs::read_dir(dir) else {
        return found;
    };
    for folder in folders.filter_map(Result::ok).map(|e| e.path()) {
        let (Some(language), Ok(files)) = (
            folder.file_name().and_then(|n| n.to_str()),
            std::fs::read_dir(&folder),
        ) else {
            continue;
        };
        for path in files.filter_map(Result::ok).map(|e| e.path()) {
            if let (true, Some(stem)) = (is_wav(&path), path.file_stem().and_then(|s| s.to_str())) {
                found.insert((Language::new(language), PromptId::new(stem)), path.clone());
            }
        }
    }
    found
}

/// Reads one file and measures it against the limits.
fn measure_file(path: &Path, limits: &CheckLimits) -> (Option<Levels>, Vec<Problem>) {
    let audio = match wav::read_wav(path) {
        Ok(audio) => audio,
        Err(e) => return (None, vec![Problem::Unreadable(e.to_string())]),
    };
    let levels = measure(&audio.samples, audio.sample_rate, limits.clip_level);
    let mut problems = Vec::new();
    let allowed = (audio.samples.len() as f64 * limits.max_clipped_share) as usize;
    if levels.clipped >= limits.min_clipped_samples && levels.clipped > allowed {
        problems.push(Problem::Clipped {
            samples: levels.clipped,
        });
    }
    if levels.rms_dbfs < limits.silence_floor_dbfs {
        problems.push(Problem::Silent {
            rms_dbfs: levels.rms_dbfs,
        });
    }
    if levels.duration < limits.min_duration {
        problems.push(Problem::TooShort);
    }
    (Some(levels), problems)
}

/// Peak, RMS and clipped-sample count of mono samples (full scale 1.0).
pub fn measure(samples: &[f32], sample_rate: u32, clip_level: f32) -> Levels {
    let mut peak = 0.0f32;
    let mut sum_sq = 0.0f64;
    let mut clipped = 0;
    for &s in samples {
        let a = s.abs();
        peak = peak.max(a);
        sum_sq += f64::from(s) * f64::from(s);
        if a >= clip_level {
            clipped += 1;
        }
    }
    let rms = if samples.is_empty() {
        0.0
    } else {
        (sum_sq / samples.len() as f64).sqrt()
    };
    let duration = if sample_rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(samples.len() as f64 / f64::from(sample_rate))
    };
    Levels {
        duration,
        peak_dbfs: dbfs(f64::from(peak)),
        rms_dbfs: dbfs(rms),
        clipped,
        sample_rate,
    }
}

/// A level relative to full scale, floored at -120 dBFS for digital silence.
fn dbfs(level: f64) -> f64 {
    (20.0 * level.max(1e-6).log10()).max(-120.0)
}
