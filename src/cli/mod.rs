//! The command line's subcommands: thin wrappers that load files, call the library and print.
//!
//! Nothing here holds engine logic; each subcommand returns the process exit code.

pub mod prompts;
