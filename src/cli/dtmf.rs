//! `ivr dtmf detect FILE.wav` and `ivr dtmf generate DIGITS OUT.wav`: the DTMF detector and
//! generator of [`crate::media::dtmf`] as ops and test tools.
//!
//! `detect` reads any WAV the media core reads (any rate, resampled to 8 kHz; stereo mixed
//! down; μ-law and A-law WAVs decoded), feeds it to one detector in 20 ms frames as a call
//! would, and prints one line per digit: `<ms> <digit>`, where `<ms>` is the end of the 20 ms
//! frame in which the detector reported the digit, counted from the start of the file (a
//! last partial frame is padded with silence, as the prompt store pads prompts). `generate`
//! writes digits as an 8 kHz mono WAV in linear PCM, μ-law or A-law.
//!
//! This file only parses, reads, writes and prints; the signal processing lives in the media
//! core. Bad input (an unknown key, an unreadable or non-WAV file, a parameter out of range)
//! is reported on stderr with exit code 2, never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use crate::ids::{Digit, SampleCount};
use crate::media::dtmf::{DtmfDetector, DtmfEvent, ToneSpec, push_digits};
use crate::media::g711::Law;
use crate::media::wav::{self, WavError};

/// Samples per frame fed to the detector: 20 ms at 8 kHz, as calls deliver audio.
pub const FRAME_SAMPLES: usize = 160;
/// Milliseconds per frame.
pub const FRAME_MS: u64 = 20;

/// Longest tone or gap `generate` accepts (ms): a minute is far beyond any real key press.
pub const MAX_DURATION_MS: u32 = 60_000;
/// Highest level per tone `generate` accepts (dBm0): G.711 overloads at +3.17 dBm0.
pub const MAX_LEVEL_DBM0: f32 = 3.0;
/// Lowest level per tone `generate` accepts (dBm0): below this a tone is lost in 16-bit
/// rounding.
pub const MIN_LEVEL_DBM0: f32 = -90.0;
/// Largest twist magnitude `generate` accepts (dB).
pub const MAX_TWIST_DB: f32 = 30.0;
/// Largest frequency offset magnitude `generate` accepts (percent); keeps every tone well
/// inside the 4 kHz band.
pub const MAX_OFFSET_PCT: f32 = 50.0;

/// The `ivr dtmf` subcommands.
#[derive(Subcommand, Debug)]
pub enum DtmfCommand {
    /// Print the digits heard in a WAV file, one `<ms> <digit>` line each.
    Detect {
        /// The WAV file (any rate, mono or stereo, PCM, float, μ-law or A-law).
        file: PathBuf,
    },
    /// Write digits as tones to an 8 kHz mono WAV file.
    Generate {
        /// The keys, e.g. `0123456789*#ABCD` (letters in either case).
        digits: String,
        /// The WAV file to write.
        out: PathBuf,
        /// Length of each tone (ms).
        #[arg(long, default_value_t = 80)]
        tone_ms: u32,
        /// Silence after each tone (ms).
        #[arg(long, default_value_t = 80)]
        gap_ms: u32,
        /// Level of the low-group tone (dBm0).
        #[arg(long, default_value_t = -10.0, allow_negative_numbers = true)]
        level_dbm0: f32,
        /// High-group level minus low-group level (dB).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        twist_db: f32,
        /// Frequency error of both tones, percent of nominal.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        offset_pct: f32,
        /// How the file stores its samples.
        #[arg(long, value_enum, default_value_t = Codec::Linear)]
        codec: Codec,
    },
}

/// Sample encodings `ivr dtmf generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// 16-bit linear PCM.
    Linear,
    /// G.711 μ-law (WAV format tag 7).
    Mulaw,
    /// G.711 A-law (WAV format tag 6).
    Alaw,
}

/// How `generate` shapes each digit (the CLI options, checked by [`GenerateOptions::spec`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Tone length (ms).
    pub tone_ms: u32,
    /// Silence after each tone (ms).
    pub gap_ms: u32,
    /// Low-group level (dBm0).
    pub level_dbm0: f32,
    /// High minus low group level (dB).
    pub twist_db: f32,
    /// Frequency error of both tones (percent).
    pub offset_pct: f32,
    /// File encoding.
    pub codec: Codec,
}

impl Default for GenerateOptions {
    /// The CLI defaults: 80 ms tones, 80 ms gaps, −10 dBm0, no twist, exact frequencies,
    /// linear PCM.
    fn default() -> Self {
        Self {
            tone_ms: 80,
            gap_ms: 80,
            level_dbm0: -10.0,
            twist_db: 0.0,
            offset_pct: 0.0,
            codec: Codec::Linear,
        }
    }
}

/// What went wrong; every variant is the user's input, reported with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum DtmfCliError {
    /// The WAV file could not be read or written (names the file and the reason).
    #[error(transparent)]
    Wav(#[from] WavError),
    /// A character of the digit string is not a DTMF key.
    #[error("{character:?} at position {position} is not a DTMF key (keys: 0-9, *, #, A-D)")]
    BadDigit {
        /// The character.
        character: char,
        /// Its 1-based position in the string.
        position: usize,
    },
    /// The digit string is empty.
    #[error("no digits to generate")]
    NoDigits,
    /// A generation parameter is out of range.
    #[error("--{name} {value} is out of range ({range})")]
    OutOfRange {
        /// The option's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        range: String,
    },
    /// Printing the result failed (for example a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// One digit as `ivr dtmf detect` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectedDigit {
    /// End of the 20 ms frame in which the detector reported the digit, in ms from the
    /// start of the audio.
    pub reported_ms: u64,
    /// First sample of the tone, as the detector measured it (10 ms resolution).
    pub start: SampleCount,
    /// The key.
    pub digit: Digit,
}

/// Runs a `ivr dtmf` subcommand, printing results to `out` and errors to `err`; returns the
/// process exit code (0, or 2 on any error).
pub fn run(command: DtmfCommand, out: &mut impl Write, err: &mut impl Write) -> u8 {
    let result = match command {
        DtmfCommand::Detect { file } => detect_file(&file)
            .and_then(|digits| print_digits(&digits, out).map_err(DtmfCliError::from)),
        DtmfCommand::Generate {
            digits,
            out: path,
            tone_ms,
            gap_ms,
            level_dbm0,
            twist_db,
            offset_pct,
            codec,
        } => generate_file(
            &digits,
            &path,
            &GenerateOptions {
                tone_ms,
                gap_ms,
                level_dbm0,
                twist_db,
                offset_pct,
                codec,
            },
        ),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            // Nothing better to do when stderr itself is gone; the exit code still tells.
            let _ = writeln!(err, "ivr dtmf: {e}");
            2
        }
    }
}

/// Prints `<ms> <digit>` lines.
pub fn print_digits(digits: &[DetectedDigit], out: &mut impl Write) -> std::io::Result<()> {
    for d in digits {
        writeln!(out, "{} {}", d.reported_ms, d.digit)?;
    }
    out.flush()
}

/// Reads a WAV file (any layout the media core reads, resampled to 8 kHz) and returns the
/// digits in it.
pub fn detect_file(path: &Path) -> Result<Vec<DetectedDigit>, DtmfCliError> {
    let samples = wav::read_mono_8k(path)?;
    Ok(detect_samples(&samples))
}

/// Feeds 8 kHz samples to a fresh detector in 20 ms frames (the last one padded with
/// silence) and returns every digit reported, with the end of the frame that reported it.
pub fn detect_samples(samples: &[i16]) -> Vec<DetectedDigit> {
    let mut detector = DtmfDetector::new();
    let mut found = Vec::new();
    let mut frame = [0i16; FRAME_SAMPLES];
    for (index, chunk) in samples.chunks(FRAME_SAMPLES).enumerate() {
        frame[..chunk.len()].copy_from_slice(chunk);
        frame[chunk.len()..].fill(0);
        let reported_ms = (index as u64 + 1) * FRAME_MS;
        detector.process(&frame, |event| {
            if let DtmfEvent::Started { digit, at } = event {
                found.push(DetectedDigit {
                    reported_ms,
                    start: at,
                    digit,
                });
            }
        });
    }
    found
}

/// Parses a digit string: every character must be a DTMF key (`a`–`d` are taken as `A`–`D`).
pub fn parse_digits(text: &str) -> Result<Vec<Digit>, DtmfCliError> {
    let digits = text
        .chars()
        .enumerate()
        .map(|(i, character)| {
            Digit::new(character).ok_or(DtmfCliError::BadDigit {
                character,
                position: i + 1,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if digits.is_empty() {
        return Err(DtmfCliError::NoDigits);
    }
    Ok(digits)
}

impl GenerateOptions {
    /// The generator's [`ToneSpec`], or the first option out of range.
    pub fn spec(&self) -> Result<ToneSpec, DtmfCliError> {
        let out_of_range = |name: &'static str, value: String, range: String| {
            Err(DtmfCliError::OutOfRange { name, value, range })
        };
        if !(1..=MAX_DURATION_MS).contains(&self.tone_ms) {
            return out_of_range(
                "tone-ms",
                self.tone_ms.to_string(),
                format!("1 to {MAX_DURATION_MS}"),
            );
        }
        if self.gap_ms > MAX_DURATION_MS {
            return out_of_range(
                "gap-ms",
                self.gap_ms.to_string(),
                format!("0 to {MAX_DURATION_MS}"),
            );
        }
        let level_range = MIN_LEVEL_DBM0..=MAX_LEVEL_DBM0;
        if !level_range.contains(&self.level_dbm0)
            || !level_range.contains(&(self.level_dbm0 + self.twist_db))
        {
            return out_of_range(
                "level-dbm0",
                format!("{} (twist {})", self.level_dbm0, self.twist_db),
                format!("each tone from {MIN_LEVEL_DBM0} to {MAX_LEVEL_DBM0} dBm0"),
            );
        }
        if !(-MAX_TWIST_DB..=MAX_TWIST_DB).contains(&self.twist_db) {
            return out_of_range(
                "twist-db",
                self.twist_db.to_string(),
                format!("-{MAX_TWIST_DB} to {MAX_TWIST_DB}"),
            );
        }
        if !(-MAX_OFFSET_PCT..=MAX_OFFSET_PCT).contains(&self.offset_pct) {
            return out_of_range(
                "offset-pct",
                self.offset_pct.to_string(),
                format!("-{MAX_OFFSET_PCT} to {MAX_OFFSET_PCT}"),
            );
        }
        Ok(ToneSpec {
            level_dbm0: self.level_dbm0,
            twist_db: self.twist_db,
            row_offset_pct: self.offset_pct,
            column_offset_pct: self.offset_pct,
            tone: millis(self.tone_ms),
            gap: millis(self.gap_ms),
        })
    }
}

fn millis(ms: u32) -> SampleCount {
    crate::media::dtmf::millis(u64::from(ms))
}

/// Generates `digits` as 8 kHz samples (each tone followed by its gap, the first tone at
/// sample 0).
pub fn generate_samples(digits: &str, options: &GenerateOptions) -> Result<Vec<i16>, DtmfCliError> {
    let digits = parse_digits(digits)?;
    let spec = options.spec()?;
    let mut samples = Vec::new();
    push_digits(&digits, &spec, &mut samples);
    Ok(samples)
}

/// Generates `digits` and writes them to `path` in the chosen codec. Nothing is written when
/// the digits or options are bad.
pub fn generate_file(
    digits: &str,
    path: &Path,
    options: &GenerateOptions,
) -> Result<(), DtmfCliError> {
    let samples = generate_samples(digits, options)?;
    let g711 = |law: Law| {
        let codes: Vec<u8> = samples.iter().map(|&s| law.encode(s)).collect();
        wav::write_wav_g711(path, law, &codes)
    };
    match options.codec {
        Codec::Linear => wav::write_wav_8k(path, &samples)?,
        Codec::Mulaw => g711(Law::Mulaw)?,
        Codec::Alaw => g711(Law::Alaw)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_strings_accept_every_key_in_either_case() {
        let digits = parse_digits("0123456789*#abcdABCD").map(|d| d.len());
        assert_eq!(digits.ok(), Some(20));
    }

    #[test]
    fn a_character_that_is_not_a_key_is_named_with_its_position() {
        let err = parse_digits("12x4")
            .map(|_| ())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("'x' at position 3 is not a DTMF key (keys: 0-9, *, #, A-D)")
        );
        assert!(matches!(parse_digits(""), Err(DtmfCliError::NoDigits)));
    }

    #[test]
    fn options_out_of_range_are_refused() {
        let bad = [
            GenerateOptions {
                tone_ms: 0,
                ..GenerateOptions::default()
            },
            GenerateOptions {
                level_dbm0: 5.0,
                ..GenerateOptions::default()
            },
            GenerateOptions {
                level_dbm0: f32::NAN,
                ..GenerateOptions::default()
            },
            GenerateOptions {
                twist_db: 12.0,
                level_dbm0: -5.0,
                ..GenerateOptions::default()
            },
            GenerateOptions {
                offset_pct: 80.0,
                ..GenerateOptions::default()
            },
        ];
        for options in bad {
            assert!(
                matches!(options.spec(), Err(DtmfCliError::OutOfRange { .. })),
                "{options:?} accepted"
            );
        }
        assert!(GenerateOptions::default().spec().is_ok());
    }

    #[test]
    fn a_digit_is_reported_at_the_end_of_the_frame_that_completes_30_ms_of_tone() {
        // Tone from 0 ms: three 10 ms blocks end at 30 ms, inside the frame ending at 40 ms.
        // Tone from 100 ms: blocks end at 130 ms, inside the frame ending at 140 ms.
        let mut samples = generate_samples("5", &GenerateOptions::default()).unwrap_or_default();
        samples.resize(800, 0);
        samples.extend(generate_samples("9", &GenerateOptions::default()).unwrap_or_default());
        let found: Vec<(u64, char)> = detect_samples(&samples)
            .iter()
            .map(|d| (d.reported_ms, d.digit.as_char()))
            .collect();
        assert_eq!(found, [(40, '5'), (140, '9')]);
    }
}
