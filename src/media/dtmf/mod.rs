//! DTMF: the Q.23 frequency plan, a detector for caller audio and a generator for tests and
//! the caller simulator.
//!
//! - [`DtmfDetector`] turns 8 kHz linear audio (any frame length) into [`DtmfEvent`]s with
//!   start and end in samples. Its design, and how it meets ITU-T Q.24, is in
//!   [`detect`].
//! - [`ToneSpec`] / [`push_digits`] write digits as samples with a chosen level, twist,
//!   frequency offset, duration and gap.
//!
//! Levels are in dBm0 as G.711 defines them: a sine wave whose peak is 3.17 dB below the
//! μ-law overload point (T_max = 8159 in 14-bit units, 32636 at 16 bits) is at 0 dBm0, so a
//! 0 dBm0 tone has a peak of [`DBM0_PEAK`] ≈ 22657 in 16-bit samples (ITU-T G.711 §3.3 and
//! Table 2a note; the A-law figure, 3.14 dB below 32768, differs by 0.03 dB).
//!
//! Nothing here reads a clock or allocates per frame in the detector; the generator appends
//! to a caller's `Vec`.

pub mod detect;
pub mod generate;

pub use detect::{DtmfDetector, DtmfEvent};
pub use generate::{ToneSpec, millis, push_digits, push_silence};

use crate::ids::Digit;

/// Low-group (row) frequencies in Hz, ITU-T Q.23 §2.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz, ITU-T Q.23 §2.
pub const COLUMN_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Peak amplitude, in 16-bit samples, of a sine wave at 0 dBm0: 32636 × 10^(−3.17/20).
pub const DBM0_PEAK: f32 = 22_657.0;

/// Sample rate of all audio in this module (Hz).
pub const RATE_HZ: f32 = 8000.0;

/// Peak amplitude (16-bit samples) of a sine wave at `dbm0`.
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// Row and column index (0..4 each) of a key on the 4×4 keypad (Q.23 Figure 1).
pub fn keypad_position(digit: Digit) -> (usize, usize) {
    let index = Digit::ALL.iter().position(|&d| d == digit).unwrap_or(0);
    (index / 4, index % 4)
}

/// The key at a row and column of the keypad; `None` outside 0..4.
pub fn key_at(row: usize, column: usize) -> Option<Digit> {
    (row < 4 && column < 4).then(|| Digit::ALL[row * 4 + column])
}
