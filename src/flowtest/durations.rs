//! How long the caller takes to hear each utterance, so the test runner knows when a
//! playback would end on its virtual clock.
//!
//! The runner only asks this trait; it never opens audio itself. [`Nominal`] gives a fixed
//! length per utterance (the default, so results do not depend on recorded audio); a loaded
//! [`PromptStore`] answers with the lengths the gateway would play.

use std::time::Duration;

use crate::flow::model::Utterance;
use crate::ids::{Language, SampleCount};
use crate::media::prompts::{FRAME_SAMPLES, PromptStore};

/// Length of one utterance when nothing better is known: one second.
pub const NOMINAL_UTTERANCE: Duration = Duration::from_secs(1);

/// Answers "how long does this utterance last in this language".
pub trait PromptDurations {
    /// How long `utterance` plays in `language`. A zero length is allowed (the playback then
    /// ends at the instant it starts).
    fn duration(&self, utterance: &Utterance, language: &Language) -> Duration;
}

/// The same length for every utterance, whatever it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nominal(pub Duration);

impl Default for Nominal {
    fn default() -> Self {
        Nominal(NOMINAL_UTTERANCE)
    }
}

impl PromptDurations for Nominal {
    fn duration(&self, _utterance: &Utterance, _language: &Language) -> Duration {
        self.0
    }
}

impl<F> PromptDurations for F
where
    F: Fn(&Utterance, &Language) -> Duration,
{
    fn duration(&self, utterance: &Utterance, language: &Language) -> Duration {
        self(utterance, language)
    }
}

/// How long a clip of `samples` plays: whole 20 ms frames, the last one padded with silence,
/// as the prompt store hands them out.
fn whole_frames(samples: SampleCount) -> Duration {
    let frames = samples.0.div_ceil(FRAME_SAMPLES as u64);
    let millis = SampleCount(frames * FRAME_SAMPLES as u64).as_millis();
    Duration::from_millis(millis)
}

/// The recorded lengths: every prompt an utterance is spoken with (a number or a digit
/// string may take several), each in whole frames. A prompt with no audio in that language
/// counts [`NOMINAL_UTTERANCE`] (`ivr prompts check` reports the missing file).
impl PromptDurations for PromptStore {
    fn duration(&self, utterance: &Utterance, language: &Language) -> Duration {
        self.utterance_prompts(utterance, language)
            .iter()
            .map(|p| {
                PromptStore::duration(self, p, language).map_or(NOMINAL_UTTERANCE, whole_frames)
            })
            .fold(Duration::ZERO, Duration::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PromptId;

    #[test]
    fn recorded_lengths_count_whole_frames_and_every_spoken_part() {
        let zh = Language::new("zh-CN");
        let mut store = PromptStore::default();
        // 0.5 s exactly, and 161 samples (two frames: 40 ms).
        store.insert_pcm(&zh, &PromptId::new("welcome"), &[100; 4000]);
        store.insert_pcm(&zh, &PromptId::new("digit_1"), &[100; 161]);
        store.insert_pcm(&zh, &PromptId::new("digit_2"), &[100; 160]);
        let welcome = Utterance::Prompt(PromptId::new("welcome"));
        assert_eq!(
            PromptDurations::duration(&store, &welcome, &zh),
            Duration::from_millis(500)
        );
        let digits = Utterance::Digits("121".to_owned());
        assert_eq!(
            PromptDurations::duration(&store, &digits, &zh),
            Duration::from_millis(40 + 20 + 40)
        );
        let missing = Utterance::Prompt(PromptId::new("goodbye"));
        assert_eq!(
            PromptDurations::duration(&store, &missing, &zh),
            NOMINAL_UTTERANCE
        );
    }
}
