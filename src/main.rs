//! The `ivr` command line: serve calls, and the ops tools around flows, media and records.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// A telephony IVR engine: YAML call flows, media-stream WebSockets, DTMF and agent queues.
#[derive(Parser, Debug)]
#[command(name = "ivr", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the engine's version.
    Version,
    /// Read the call-record file.
    Cdr {
        #[command(subcommand)]
        action: cli::cdr::CdrCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("ivr {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Cdr { action } => cli::cdr::run(action),
    }
}
