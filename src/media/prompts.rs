//! The prompt store: every prompt WAV loaded once at start as ready 8 kHz 20 ms frames, and
//! [`Playback`], a cursor that hands a call one frame at a time.
//!
//! Layout on disk: `<dir>/<language>/<prompt-id>.wav` (for example
//! `audio-prompts/zh-CN/welcome_95017.wav`). A file in `<dir>/shared/<prompt-id>.wav` serves
//! every language that has no file of its own under that id; music on hold (`hold_music`)
//! lives there, since music needs no translation.
//!
//! Loading reads each file with [`crate::media::wav`] (any PCM/float/G.711 layout, any rate,
//! stereo mixed down), resamples it once to 8 kHz and keeps it as 16-bit PCM frames of 160
//! samples (the last one padded with silence) behind an `Arc`, so every call playing a prompt
//! shares one copy. Encoding to μ-law or A-law for a call's codec happens in the gateway.
//!
//! Spoken numbers and digit strings are built from prompts:
//! - [`Utterance::Number`]`(n)` for `n` in 0..=99 plays `number_<n>` (one recording per
//!   number, so each language says it naturally: "forty-two", "四十二"). Above 99 it plays the
//!   prompt `number_many` ("more than ninety-nine", "九十九以上": all a queue announcement
//!   needs) when that language has it, else it reads the number digit by digit ("one five
//!   zero"), so a large number is never silent and never wrong.
//! - [`Utterance::Digits`]`(s)` plays `digit_0`…`digit_9`, `digit_star`, `digit_hash`,
//!   `digit_a`…`digit_d` per key; characters that are not DTMF keys (spaces, dashes) are
//!   skipped.
//!
//! These [`SPOKEN_NUMBER_PROMPTS`] (all but the optional `number_many`) must exist in every
//! loaded language: a missing one is a load error, like any unreadable file. Loading reports
//! every problem at once.
//!
//! After loading nothing here touches files, the clock or the runtime, and
//! [`Playback::next_frame`] never allocates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::flow::model::Utterance;
use crate::ids::{Digit, Language, PromptId, SampleCount};
use crate::media::wav::{self, WavError};

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// One 20 ms frame of 16-bit PCM at 8 kHz.
pub type Frame = [i16; FRAME_SAMPLES];

/// The folder under the prompt directory whose files serve every language.
pub const SHARED_FOLDER: &str = "shared";

/// The prompt played for numbers above 99, when a language has it (optional).
pub const NUMBER_MANY: &str = "number_many";

/// Highest number with a prompt of its own (`number_99`).
pub const LARGEST_SPOKEN_NUMBER: u64 = 99;

/// The prompts that numbers and digit strings are built from and that every language must
/// have, in a fixed order: `number_0`…`number_99`, then the sixteen `digit_*` prompts.
/// (`number_many` is optional; see the module docs.)
pub static SPOKEN_NUMBER_PROMPTS: std::sync::LazyLock<Vec<PromptId>> =
    std::sync::LazyLock::new(|| {
        let mut ids: Vec<PromptId> = (0..=LARGEST_SPOKEN_NUMBER)
            .map(|n| PromptId(format!("number_{n}")))
            .collect();
        ids.extend(Digit::ALL.iter().map(|&d| digit_prompt(d)));
        ids
    });

/// The prompt that says one key.
pub fn digit_prompt(digit: Digit) -> PromptId {
    let name = match digit.as_char() {
        '*' => "star".to_owned(),
        '#' => "hash".to_owned(),
        c => c.to_ascii_lowercase().to_string(),
    };
    PromptId(format!("digit_{name}"))
}

/// The prompts that read a digit string key by key; characters that are not keys are skipped.
pub fn digit_prompts(digits: &str) -> Vec<PromptId> {
    digits
        .chars()
        .filter_map(Digit::new)
        .map(digit_prompt)
        .collect()
}

/// A problem loading prompts or starting a playback. Each names the file or the prompt and
/// language concerned.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A prompt file exists but cannot be used (unreadable, malformed, unsupported layout).
    #[error(transparent)]
    BadFile(#[from] WavError),
    /// A language folder is missing or cannot be listed.
    #[error("{}: cannot list prompt folder for {language}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Its language.
        language: Language,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A prompt the engine needs has no file in a language.
    #[error("prompt `{prompt}` has no audio for {language}: expected {}", path.display())]
    Missing {
        /// The prompt.
        prompt: PromptId,
        /// The language.
        language: Language,
        /// Where the file should be.
        path: PathBuf,
    },
    /// A playback asked for a prompt that is not loaded in its language.
    #[error("prompt `{prompt}` is not loaded for {language}")]
    NotLoaded {
        /// The prompt.
        prompt: PromptId,
        /// The language.
        language: Language,
    },
}

/// One loaded prompt: whole frames shared by every call, and its true length.
#[derive(Clone, Debug)]
struct Clip {
    frames: Arc<[Frame]>,
    samples: usize,
}

impl Clip {
    fn from_pcm(pcm: &[i16]) -> Clip {
        let mut frames = vec![[0i16; FRAME_SAMPLES]; pcm.len().div_ceil(FRAME_SAMPLES)];
        for (frame, chunk) in frames.iter_mut().zip(pcm.chunks(FRAME_SAMPLES)) {
            frame[..chunk.len()].copy_from_slice(chunk);
        }
        Clip {
            frames: frames.into(),
            samples: pcm.len(),
        }
    }
}

/// Every prompt of every language, as ready 8 kHz frames. Cheap to share (`Arc` it); loaded
/// once at start and never changed while calls use it.
#[derive(Debug, Default)]
pub struct PromptStore {
    clips: HashMap<Language, HashMap<PromptId, Clip>>,
    languages: Vec<Language>,
}

impl PromptStore {
    /// Loads `<dir>/<language>/*.wav` for each language (and `<dir>/shared/*.wav` as a
    /// fallback for all), resampled to 8 kHz. Returns every problem found: unreadable files,
    /// missing language folders, and missing [`SPOKEN_NUMBER_PROMPTS`].
    pub fn load(dir: &Path, languages: &[Language]) -> Result<PromptStore, Vec<PromptError>> {
        let mut errors = Vec::new();
        let shared_dir = dir.join(SHARED_FOLDER);
        let shared = if shared_dir.is_dir() {
            load_folder(&shared_dir, &Language::new(SHARED_FOLDER), &mut errors)
        } else {
            HashMap::new()
        };
        let mut store = PromptStore::default();
        for language in languages {
            let folder = dir.join(language.as_str());
            let mut clips = load_folder(&folder, language, &mut errors);
            for (id, clip) in &shared {
                clips.entry(id.clone()).or_insert_with(|| clip.clone());
            }
            for prompt in SPOKEN_NUMBER_PROMPTS.iter() {
                if !clips.contains_key(prompt) {
                    errors.push(PromptError::Missing {
                        prompt: prompt.clone(),
                        language: language.clone(),
                        path: folder.join(format!("{prompt}.wav")),
                    });
                }
            }
            store.languages.push(language.clone());
            store.clips.insert(language.clone(), clips);
        }
        if errors.is_empty() {
            Ok(store)
        } else {
            Err(errors)
        }
    }

    /// Adds (or replaces) a prompt from 8 kHz samples: for tests and generated audio.
    pub fn insert_pcm(&mut self, language: &Language, prompt: &PromptId, samples: &[i16]) {
        if !self.languages.contains(language) {
            self.languages.push(language.clone());
        }
        self.clips
            .entry(language.clone())
            .or_default()
            .insert(prompt.clone(), Clip::from_pcm(samples));
    }

    /// The languages loaded, in the order given.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// Whether `prompt` has audio in `language`.
    pub fn has(&self, prompt: &PromptId, language: &Language) -> bool {
        self.clip(prompt, language).is_some()
    }

    /// How long `prompt` lasts in `language` (without the padding of its last frame).
    pub fn duration(&self, prompt: &PromptId, language: &Language) -> Option<SampleCount> {
        self.clip(prompt, language)
            .map(|c| SampleCount(c.samples as u64))
    }

    /// Number of prompts loaded in `language`.
    pub fn len(&self, language: &Language) -> usize {
        self.clips.get(language).map_or(0, HashMap::len)
    }

    /// Whether no prompt at all is loaded.
    pub fn is_empty(&self) -> bool {
        self.clips.values().all(HashMap::is_empty)
    }

    /// The prompts `utterance` is spoken with in `language`, in order (see the module docs
    /// for numbers and digit strings).
    pub fn utterance_prompts(&self, utterance: &Utterance, language: &Language) -> Vec<PromptId> {
        match utterance {
            Utterance::Prompt(id) => vec![id.clone()],
            Utterance::Number(n) if *n <= LARGEST_SPOKEN_NUMBER => {
                vec![PromptId(format!("number_{n}"))]
            }
            Utterance::Number(n) => {
                let many = PromptId::new(NUMBER_MANY);
                if self.has(&many, language) {
                    vec![many]
                } else {
                    digit_prompts(&n.to_string())
                }
            }
            Utterance::Digits(s) => digit_prompts(s),
        }
    }

    fn clip(&self, prompt: &PromptId, language: &Language) -> Option<&Clip> {
        self.clips.get(language)?.get(prompt)
    }
}

/// The file that serves `prompt` in `language` under the prompt folder `dir`, if there is one:
/// `<dir>/<language>/<prompt>.wav`, else `<dir>/shared/<prompt>.wav`. It only looks for the
/// file (no decoding), for checks such as "does audio exist" in `ivr validate`.
pub fn prompt_file(dir: &Path, prompt: &PromptId, language: &Language) -> Option<PathBuf> {
    let name = format!("{prompt}.wav");
    [language.as_str(), SHARED_FOLDER]
        .into_iter()
        .map(|folder| dir.join(folder).join(&name))
        .find(|path| path.is_file())
}

/// Loads every `*.wav` of one folder; problems go to `errors`.
fn load_folder(
    folder: &Path,
    language: &Language,
    errors: &mut Vec<PromptError>,
) -> HashMap<PromptId, Clip> {
    let mut clips = HashMap::new();
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(PromptError::Folder {
                path: folder.to_owned(),
                language: language.clone(),
                source,
            });
            return clips;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_wav(p))
        .collect();
    paths.sort();
    for path in paths {
        let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match wav::read_wav(&path) {
            Ok(audio) => {
                let pcm: Vec<i16> = audio.to_8k().into_iter().map(wav::f32_to_i16).collect();
                clips.insert(PromptId::new(id), Clip::from_pcm(&pcm));
            }
            Err(e) => errors.push(e.into()),
        }
    }
    clips
}

/// Whether a path names a `.wav` file (any case).
pub(crate) fn is_wav(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

/// A cursor over a list of utterances in one language, handing out 20 ms frames.
///
/// Built once when a play starts (that allocates a small list of shared clips); after that
/// [`next_frame`](Playback::next_frame) copies one ready frame per call and never allocates.
/// Each prompt starts on a frame boundary, so its last frame carries up to 20 ms of silence.
#[derive(Clone, Debug)]
pub struct Playback {
    clips: Vec<Arc<[Frame]>>,
    clip: usize,
    frame: usize,
    looping: bool,
    total_frames: usize,
    played_frames: usize,
}

impl Playback {
    /// A playback of `utterances` in `language`; fails on the first prompt not loaded.
    pub fn new(
        store: &PromptStore,
        utterances: &[Utterance],
        language: &Language,
    ) -> Result<Playback, PromptError> {
        let mut clips = Vec::new();
        for utterance in utterances {
            for prompt in store.utterance_prompts(utterance, language) {
                let clip = store
                    .clip(&prompt, language)
                    .ok_or_else(|| PromptError::NotLoaded {
                        prompt: prompt.clone(),
                        language: language.clone(),
                    })?;
                if !clip.frames.is_empty() {
                    clips.push(Arc::clone(&clip.frames));
                }
            }
        }
        let total_frames = clips.iter().map(|c| c.len()).sum();
        Ok(Playback {
            clips,
            clip: 0,
            frame: 0,
            looping: false,
            total_frames,
            played_frames: 0,
        })
    }

    /// Makes the playback start again from the top when it ends, for ever (music on hold).
    /// An empty playback still ends at once.
    #[must_use]
    pub fn looping(mut self) -> Playback {
        self.looping = true;
        self
    }

    /// Copies the next 20 ms frame into `out`; `false` (and `out` untouched) when the
    /// playback has ended.
    pub fn next_frame(&mut self, out: &mut Frame) -> bool {
        if self.clip >= self.clips.len() {
            if !self.looping || self.total_frames == 0 {
                return false;
            }
            self.rewind();
        }
        // `clip < clips.len()` and `frame < clips[clip].len()` hold here: clips are never
        // empty, and both indices are advanced together below.
        let clip = &self.clips[self.clip];
        out.copy_from_slice(&clip[self.frame]);
        self.frame += 1;
        self.played_frames += 1;
        if self.frame == clip.len() {
            self.frame = 0;
            self.clip += 1;
        }
        true
    }

    /// Audio left before the end (of this pass, when looping).
    pub fn remaining(&self) -> SampleCount {
        SampleCount(((self.total_frames - self.played_frames) * FRAME_SAMPLES) as u64)
    }

    /// The length of one pass, in whole frames.
    pub fn total(&self) -> SampleCount {
        SampleCount((self.total_frames * FRAME_SAMPLES) as u64)
    }

    /// [`total`](Playback::total) as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.total().as_millis())
    }

    /// Whether the last frame has been handed out (never, for a looping non-empty playback).
    pub fn is_finished(&self) -> bool {
        self.clip >= self.clips.len() && !(self.looping && self.total_frames > 0)
    }

    /// Goes back to the first frame.
    pub fn rewind(&mut self) {
        self.clip = 0;
        self.frame = 0;
        self.played_frames = 0;
    }
}
