//! The media core: G.711 companding, DTMF detection and generation, audio files, resampling
//! and prompt frames.
//!
//! Everything here works on sample buffers handed in by the caller; media time is a
//! [`crate::ids::SampleCount`] at 8 kHz. Nothing here reads a clock, touches a socket or the
//! runtime, or allocates per frame; prompt files are read once at start. Only [`wav`] imports
//! `hound` and only [`resample`] imports `rubato`.

pub mod check;
pub mod dtmf;
pub mod g711;
pub mod prompts;
pub mod resample;
pub mod wav;
