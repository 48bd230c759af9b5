//! The media core: G.711 companding, DTMF detection and generation.
//!
//! Everything here works on sample buffers handed in by the caller; media time is a
//! [`crate::ids::SampleCount`] at 8 kHz. Nothing here reads a clock, touches a socket or a
//! file, or allocates per frame.

pub mod dtmf;
pub mod g711;
