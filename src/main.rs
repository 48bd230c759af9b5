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
    /// Check the engine's health endpoint, for container health checks: exit 0 on HTTP 200,
    /// 1 otherwise.
    Healthcheck {
        /// The URL to GET (plain http, e.g. the admin listener's /livez or /readyz).
        #[arg(long, default_value = "http://127.0.0.1:9091/livez")]
        url: String,
        /// Seconds allowed for connecting, sending and reading, each.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout: u64,
        /// Print nothing; the exit code alone tells.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("ivr {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Healthcheck {
            url,
            timeout,
            quiet,
        } => ExitCode::from(ivr::cli::healthcheck::run(
            &url,
            std::time::Duration::from_secs(timeout),
            quiet,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
    }
}
