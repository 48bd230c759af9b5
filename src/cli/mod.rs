//! Command-line tools around the engine: the logic behind `ivr` subcommands, kept out of
//! `main.rs` so it can be tested. Each tool prints to the writers it is given and returns the
//! process exit code.

pub mod cdr;
pub mod healthcheck;
pub mod test;
pub mod validate;
