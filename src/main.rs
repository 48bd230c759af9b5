//! The `ivr` command line: serve calls, and the ops tools around flows, media and records.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ivr::cli::test::{TestFormat, TestOptions, parse_percent};
use ivr::cli::validate::{GraphFormat, ReportFormat};

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
    /// Prompt audio tools: check the folder against the catalogue, export the texts.
    Prompts {
        #[command(subcommand)]
        command: ivr::cli::prompts::PromptsCommand,
    },
    /// Read the call-record file.
    Cdr {
        #[command(subcommand)]
        action: ivr::cli::cdr::CdrCommand,
    },
    /// Check flow files and report every problem (exit 0 clean, 1 with errors).
    Validate {
        /// Flow directories or files (default: flows/).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// The prompt catalogue (default: <flows>/../audio-prompts/prompts.yaml).
        #[arg(long)]
        prompts: Option<PathBuf>,
    },
    /// Draw one flow as a Mermaid or Graphviz graph.
    Graph {
        /// The flow's id.
        flow: String,
        /// The flows directory.
        #[arg(long, default_value = "flows")]
        flows: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print the JSON Schema for flow files (`ivr schema > flows/schema.json`).
    Schema,
    /// Detect DTMF digits in a WAV file, or generate them into one.
    Dtmf {
        #[command(subcommand)]
        action: ivr::cli::dtmf::DtmfCommand,
    },
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
        /// Time playbacks with the recorded prompts in this folder (default: 1 s per
        /// utterance, so results do not depend on the audio).
        #[arg(long)]
        audio: Option<PathBuf>,
    },
    /// Serve calls: media WebSocket listener and admin listener.
    Serve(ivr::cli::serve::ServeArgs),
    /// Call the engine as a gateway would and print what the caller heard.
    Dial(ivr::cli::dial::DialArgs),
    /// Simulated agents: log in over the agents API and take offered calls.
    Agents(ivr::cli::agents::AgentsArgs),
    /// Drive N simulated calls at the engine (and the bare baseline) and report capacity.
    Load(ivr::cli::load::LoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Version => writeln!(out, "ivr {}", env!("CARGO_PKG_VERSION")).map(|()| 0),
        Command::Validate {
            paths,
            format,
            prompts,
        } => ivr::cli::validate::validate(&paths, prompts, format, &mut out),
        Command::Graph {
            flow,
            flows,
            format,
        } => ivr::cli::validate::graph(
            &flow,
            flows,
            format,
            &mut out,
            &mut std::io::stderr().lock(),
        ),
        Command::Schema => ivr::cli::validate::print_schema(&mut out),
        Command::Prompts { command } => {
            ivr::cli::prompts::run(command, &mut out, &mut std::io::stderr().lock())
        }
        Command::Cdr { action } => return ivr::cli::cdr::run(action),
        // These run a multi-thread runtime whose workers log to stdout: this thread must
        // not hold the stdout lock while they run, or the first log line deadlocks.
        Command::Serve(args) => {
            drop(out);
            return ivr::cli::serve::run(&args);
        }
        Command::Dial(args) => {
            drop(out);
            return ivr::cli::dial::run(&args);
        }
        Command::Load(args) => {
            drop(out);
            return ivr::cli::load::run(&args);
        }
        Command::Agents(args) => {
            drop(out);
            return ivr::cli::agents::run(&args);
        }
        Command::Dtmf { action } => {
            return ExitCode::from(ivr::cli::dtmf::run(
                action,
                &mut out,
                &mut std::io::stderr().lock(),
            ));
        }
        Command::Healthcheck {
            url,
            timeout,
            quiet,
        } => {
            return ExitCode::from(ivr::cli::healthcheck::run(
                &url,
                std::time::Duration::from_secs(timeout),
                quiet,
                &mut out,
                &mut std::io::stderr().lock(),
            ));
        }
        Command::Test {
            paths,
            format,
            min_coverage,
            prompts,
            verbose,
            audio,
        } => {
            let opts = TestOptions {
                paths,
                prompts,
                format,
                min_coverage,
                verbose,
                audio,
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
