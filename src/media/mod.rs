//! Media: audio files, resampling, prompt frames (and, from another branch, G.711 and DTMF).
//!
//! This module is a core: it reads prompt files once at start and otherwise never touches
//! sockets, the clock or the runtime. Media time is a sample count at 8 kHz
//! ([`crate::ids::SampleCount`]). Only [`wav`] imports `hound` and only [`resample`] imports
//! `rubato`.

pub mod check;
pub mod prompts;
pub mod resample;
pub mod wav;
