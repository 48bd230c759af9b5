//! How long the caller takes to hear each utterance, so the test runner knows when a
//! playback would end on its virtual clock.
//!
//! The runner only asks this trait; it never opens audio itself. [`Nominal`] gives a fixed
//! length per utterance (the default, so results do not depend on recorded audio); the media
//! module's prompt store can answer with the real lengths of the WAV files.

use std::time::Duration;

use crate::flow::model::Utterance;
use crate::ids::Language;

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
