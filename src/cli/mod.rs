//! Command-line tools around the engine: the logic behind `ivr` subcommands, kept out of
//! `main.rs` so it can be tested. Each tool prints to the writers it is given or returns the
//! process exit code; none holds engine logic.

pub mod agents;
pub mod cdr;
pub mod dial;
pub mod dtmf;
pub mod healthcheck;
pub mod load;
pub mod prompts;
pub mod serve;
pub mod test;
pub mod validate;
