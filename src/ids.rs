//! Newtypes for the identifiers and units that cross module boundaries.
//!
//! Nothing here does I/O or reads a clock; these are plain values that make it impossible to
//! pass a queue id where a node id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A call, as the engine names it (the gateway's call SID or channel id, or a generated one).
    CallId
);
string_id!(
    /// A flow file's `id`.
    FlowId
);
string_id!(
    /// A node id inside a flow (after subflow inlining: `caller_node/subflow_node`).
    NodeId
);
string_id!(
    /// A queue's id.
    QueueId
);
string_id!(
    /// A priority class name inside a queue (`emergency`, `vip`, `normal`, ...).
    PriorityClass
);
string_id!(
    /// A calendar's id.
    CalendarId
);
string_id!(
    /// A lookup table's id.
    TableId
);
string_id!(
    /// A prompt id from the catalogue (`audio-prompts/prompts.yaml`).
    PromptId
);
string_id!(
    /// An agent's id.
    AgentId
);
string_id!(
    /// A BCP 47 language tag as used for prompt folders (`zh-CN`, `en-US`).
    Language
);

/// One DTMF key: `0`-`9`, `*`, `#`, `A`-`D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "char", into = "char")]
pub struct Digit(char);

impl Digit {
    /// All sixteen keys in keypad order (row by row).
    pub const ALL: [Digit; 16] = [
        Digit('1'),
        Digit('2'),
        Digit('3'),
        Digit('A'),
        Digit('4'),
        Digit('5'),
        Digit('6'),
        Digit('B'),
        Digit('7'),
        Digit('8'),
        Digit('9'),
        Digit('C'),
        Digit('*'),
        Digit('0'),
        Digit('#'),
        Digit('D'),
    ];

    /// Parses a key; lower-case `a`-`d` are accepted and normalised.
    pub fn new(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Digit(c))
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }
}

impl TryFrom<char> for Digit {
    type Error = String;
    fn try_from(c: char) -> Result<Self, Self::Error> {
        Digit::new(c).ok_or_else(|| format!("{c:?} is not a DTMF key"))
    }
}

impl From<Digit> for char {
    fn from(d: Digit) -> char {
        d.0
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A count of audio samples at the engine's media rate (8 kHz). Media time is measured in
/// these, never in `Instant`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleCount(pub u64);

impl SampleCount {
    /// The engine's media sample rate (G.711, ITU-T G.711 §1: 8000 samples per second).
    pub const RATE_HZ: u64 = 8000;

    /// Milliseconds of audio this many samples last, rounded down.
    pub fn as_millis(self) -> u64 {
        self.0 * 1000 / Self::RATE_HZ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_parse_and_normalise() {
        assert_eq!(Digit::new('a'), Some(Digit('A')));
        assert_eq!(Digit::new('#').map(Digit::as_char), Some('#'));
        assert_eq!(Digit::new('e'), None);
        assert_eq!(Digit::ALL.len(), 16);
    }

    #[test]
    fn sample_count_converts_to_millis() {
        assert_eq!(SampleCount(160).as_millis(), 20);
    }
}
