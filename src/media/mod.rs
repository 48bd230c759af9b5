//! The media core: G.711 companding, DTMF detection and generation, WAV files, resampling and
//! prompt frames.
//!
//! Everything on the call path works on sample buffers handed in by the caller; media time is
//! a [`crate::ids::SampleCount`] at 8 kHz. Nothing here reads a clock or touches a socket, and
//! nothing allocates per frame. Files are read only when prompts are loaded at start (and by
//! the ops checks); only [`wav`] imports `hound` and only [`resample`] imports `rubato`.

pub mod check;
pub mod dtmf;
pub mod g711;
pub mod prompts;
pub mod resample;
pub mod wav;
