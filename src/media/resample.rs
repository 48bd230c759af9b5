//! Sample-rate conversion to the engine's 8 kHz media rate, done once when audio is loaded.
//!
//! This is the only file that imports `rubato`. It resamples whole clips (prompts, test
//! files) with rubato's FFT resampler, whose anti-aliasing filter keeps everything above the
//! 4 kHz Nyquist limit out of the result. It is never used per call or per frame: nothing here
//! belongs on a hot path, and it reads no clock and does no I/O.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The engine's media rate in Hz (ITU-T G.711: 8000 samples per second).
pub const MEDIA_RATE_HZ: u32 = 8000;

/// Input frames handed to the FFT resampler per chunk. Large enough for a sharp filter on
/// every common rate pair (44.1 kHz → 8 kHz needs blocks of 441 input frames).
const CHUNK_FRAMES: usize = 2048;

/// Resamples a mono clip at `rate` Hz to 8 kHz.
///
/// The output has `ceil(len * 8000 / rate)` samples, aligned with the input (the resampler's
/// delay is removed). A clip already at 8 kHz is copied unchanged; an empty clip or a rate of
/// 0 gives an empty result. Should rubato ever refuse the rate pair, the clip is resampled by
/// linear interpolation instead, so a load never fails here (rubato accepts every pair of
/// non-zero rates, so that path is not expected to run).
pub fn to_8k(samples: &[f32], rate: u32) -> Vec<f32> {
    if rate == MEDIA_RATE_HZ {
        return samples.to_vec();
    }
    if samples.is_empty() || rate == 0 {
        return Vec::new();
    }
    match fft_resample(samples, rate) {
        Ok(out) => out,
        Err(_) => linear_resample(samples, rate),
    }
}

/// Resamples with rubato's synchronous FFT resampler.
fn fft_resample(samples: &[f32], rate: u32) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let mut resampler = Fft::<f32>::new(
        rate as usize,
        MEDIA_RATE_HZ as usize,
        CHUNK_FRAMES,
        1,
        FixedSync::Input,
    )?;
    let input = InterleavedSlice::new(samples, 1, samples.len())?;
    let output = resampler.process_all(&input, samples.len(), None)?;
    Ok(output.take_data())
}

/// A plain linear-interpolation fallback (no anti-aliasing); see [`to_8k`].
fn linear_resample(samples: &[f32], rate: u32) -> Vec<f32> {
    let out_len = (samples.len() as u64 * u64::from(MEDIA_RATE_HZ)).div_ceil(u64::from(rate));
    let step = f64::from(rate) / f64::from(MEDIA_RATE_HZ);
    let last = samples.len() - 1;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let idx = (pos.floor() as usize).min(last);
            let next = (idx + 1).min(last);
            let frac = (pos - idx as f64) as f32;
            samples[idx] * (1.0 - frac) + samples[next] * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f32) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                amplitude
                    * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32
            })
            .collect()
    }

    /// Magnitude of the DFT of `x` at `freq` (8 kHz), normalised so a sine of amplitude A gives A.
    fn tone_level(x: &[f32], freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(MEDIA_RATE_HZ);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * i as f64).cos();
            im += f64::from(s) * (w * i as f64).sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Counts upward zero crossings: a sine of f Hz over t seconds has about f*t.
    fn upward_crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
    }

    #[test]
    fn a_1khz_sine_at_44100_keeps_its_frequency_and_level() {
        let input = sine(1000.0, 44_100, 1.0, 0.5);
        let out = to_8k(&input, 44_100);
        assert_eq!(out.len(), 8000);
        // Skip the edges where the filter sees the clip start and end.
        let middle = &out[400..7600];
        assert!((tone_level(middle, 1000.0) - 0.5).abs() < 0.01);
        assert!((rms(middle) - 0.5 / 2f64.sqrt()).abs() < 0.01);
        // 7200 samples = 0.9 s of a 1 kHz tone.
        let crossings = upward_crossings(middle);
        assert!((899..=901).contains(&crossings), "{crossings} crossings");
    }

    #[test]
    fn output_is_aligned_with_input() {
        // A 1 kHz tone that starts at 0.5 s must start at sample 4000 after resampling.
        let mut input = vec![0.0f32; 24_000];
        input.extend(sine(1000.0, 48_000, 0.5, 0.5));
        let out = to_8k(&input, 48_000);
        assert_eq!(out.len(), 8000);
        assert!(rms(&out[..3950]) < 0.01);
        assert!(rms(&out[4050..]) > 0.3);
    }

    #[test]
    fn tones_above_4khz_are_removed_not_folded() {
        // 5 kHz at 16 kHz would alias to 3 kHz without a filter.
        let input = sine(5000.0, 16_000, 1.0, 0.5);
        let out = to_8k(&input, 16_000);
        assert!(tone_level(&out[400..7600], 3000.0) < 0.005);
        assert!(rms(&out[400..7600]) < 0.005);
    }

    #[test]
    fn upsampling_from_a_low_rate_works() {
        let input = sine(1000.0, 6000, 1.0, 0.5);
        let out = to_8k(&input, 6000);
        assert_eq!(out.len(), 8000);
        assert!((tone_level(&out[400..7600], 1000.0) - 0.5).abs() < 0.01);
    }

    #[test]
    fn eight_khz_input_is_copied_and_empty_input_stays_empty() {
        let input = sine(440.0, 8000, 0.1, 0.3);
        assert_eq!(to_8k(&input, 8000), input);
        assert!(to_8k(&[], 44_100).is_empty());
        assert!(to_8k(&input, 0).is_empty());
    }

    #[test]
    fn a_clip_shorter_than_one_chunk_is_resampled() {
        let input = sine(1000.0, 16_000, 0.01, 0.5);
        let out = to_8k(&input, 16_000);
        assert_eq!(out.len(), 80);
    }

    #[test]
    fn linear_fallback_has_the_right_length() {
        let input = sine(1000.0, 16_000, 0.5, 0.5);
        assert_eq!(linear_resample(&input, 16_000).len(), 4000);
    }
}
