//! The `ivr` command line: serve calls, and the ops tools around flows, media and records.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Serve calls: media WebSocket listener and admin listener.
    Serve(ivr::cli::serve::ServeArgs),
    /// Call the engine as a gateway would and print what the caller heard.
    Dial(ivr::cli::dial::DialArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("ivr {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => ivr::cli::serve::run(&args),
        Command::Dial(args) => ivr::cli::dial::run(&args),
    }
}
