//! Command-line tools around the engine: the logic behind `ivr` subcommands, kept out of
//! `main.rs` so it can be tested.

pub mod dial;
pub mod serve;
