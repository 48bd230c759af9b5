//! DTMF generation: digits as 8 kHz 16-bit samples with a chosen level, twist, frequency
//! offset, tone duration and gap. Used by the tests, the benchmarks, `ivr dtmf generate` and
//! the caller simulator; not a hot path (it appends to a `Vec`).

use std::f32::consts::TAU;

use super::{COLUMN_HZ, RATE_HZ, ROW_HZ, dbm0_to_peak, keypad_position};
use crate::ids::{Digit, SampleCount};

/// How each digit sounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneSpec {
    /// Level of the low-group (row) tone, dBm0.
    pub level_dbm0: f32,
    /// High-group level minus low-group level, dB (Q.24 twist: −8 dB is "normal", +4 dB
    /// "reverse"). The high tone sits at `level_dbm0 + twist_db`.
    pub twist_db: f32,
    /// Frequency error of the low-group tone, percent of nominal (+1.5 → 707.5 Hz for 697).
    pub row_offset_pct: f32,
    /// Frequency error of the high-group tone, percent of nominal.
    pub column_offset_pct: f32,
    /// How long each tone sounds.
    pub tone: SampleCount,
    /// Silence after each tone.
    pub gap: SampleCount,
}

impl Default for ToneSpec {
    /// −10 dBm0 per tone, no twist, exact frequencies, 60 ms tone, 60 ms gap.
    fn default() -> Self {
        Self {
            level_dbm0: -10.0,
            twist_db: 0.0,
            row_offset_pct: 0.0,
            column_offset_pct: 0.0,
            tone: millis(60),
            gap: millis(60),
        }
    }
}

/// A duration in milliseconds as a sample count at 8 kHz.
pub const fn millis(ms: u64) -> SampleCount {
    SampleCount(ms * SampleCount::RATE_HZ / 1000)
}

/// Appends `n` samples of digital silence.
pub fn push_silence(n: SampleCount, out: &mut Vec<i16>) {
    out.extend(std::iter::repeat_n(0i16, sample_len(n)));
}

/// Appends each digit as a tone of `spec.tone` followed by `spec.gap` of silence. Both tones
/// start at phase zero; samples beyond the 16-bit range saturate (two tones at 0 dBm0 each
/// overload G.711 by about 3 dB, as they would on a real line).
pub fn push_digits(digits: &[Digit], spec: &ToneSpec, out: &mut Vec<i16>) {
    for &digit in digits {
        push_tone(digit, spec, out);
        push_silence(spec.gap, out);
    }
}

/// Appends one digit's tone (no gap).
pub fn push_tone(digit: Digit, spec: &ToneSpec, out: &mut Vec<i16>) {
    let (row, column) = keypad_position(digit);
    let f_low = ROW_HZ[row] * (1.0 + spec.row_offset_pct / 100.0);
    let f_high = COLUMN_HZ[column] * (1.0 + spec.column_offset_pct / 100.0);
    let a_low = f64::from(dbm0_to_peak(spec.level_dbm0));
    let a_high = f64::from(dbm0_to_peak(spec.level_dbm0 + spec.twist_db));
    let w_low = f64::from(TAU * f_low / RATE_HZ);
    let w_high = f64::from(TAU * f_high / RATE_HZ);
    out.extend((0..sample_len(spec.tone)).map(|n| {
        let t = n as f64;
        let v = a_low * (w_low * t).sin() + a_high * (w_high * t).sin();
        v.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
    }));
}

fn sample_len(n: SampleCount) -> usize {
    usize::try_from(n.0).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_at_minus_ten_dbm0_has_the_expected_power() {
        let spec = ToneSpec {
            twist_db: 0.0,
            ..ToneSpec::default()
        };
        let mut out = Vec::new();
        push_tone(Digit::ALL[0], &spec, &mut out);
        assert_eq!(out.len(), 480);
        let power: f64 = out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 480.0;
        // Two tones, each with mean power peak²/2.
        let expected = 2.0 * f64::from(dbm0_to_peak(-10.0)).powi(2) / 2.0;
        assert!(
            (power / expected - 1.0).abs() < 0.02,
            "{power} vs {expected}"
        );
    }

    #[test]
    fn silence_and_gaps_have_the_requested_length() {
        let mut out = Vec::new();
        let spec = ToneSpec {
            tone: millis(40),
            gap: millis(50),
            ..ToneSpec::default()
        };
        push_digits(&Digit::ALL[..3], &spec, &mut out);
        assert_eq!(out.len(), 3 * (320 + 400));
        assert!(out[320..720].iter().all(|&s| s == 0));
    }
}
