//! The `ivr` command line: serve calls, and the ops tools around flows, media and records.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ivr::cli::test::{TestFormat, TestOptions, parse_percent};

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
    /// Run the flow tests (`kind: test` files) on a virtual clock and print node and edge
    /// coverage per flow (exit 0 all pass, 1 on a failure or too little coverage).
    Test {
        /// Flow directories or files (default: flows/).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TestFormat::Text)]
        format: TestFormat,
        /// Node coverage in percent every flow must reach (0-100).
        #[arg(long, default_value = "0", value_parser = parse_percent)]
        min_coverage: f64,
        /// The prompt catalogue (default: <flows>/../audio-prompts/prompts.yaml).
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// Show every case with its path and a transcript of inputs and actions.
        #[arg(long, short)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Version => writeln!(out, "ivr {}", env!("CARGO_PKG_VERSION")).map(|()| 0),
        Command::Test {
            paths,
            format,
            min_coverage,
            prompts,
            verbose,
        } => {
            let opts = TestOptions {
                paths,
                prompts,
                format,
                min_coverage,
                verbose,
            };
            ivr::cli::test::test(&opts, &mut out, &mut std::io::stderr().lock())
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ivr: {e}");
            ExitCode::from(2)
        }
    }
}
