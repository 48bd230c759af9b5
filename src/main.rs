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
    /// Check the prompt audio against the catalogue, or export the catalogue's texts.
    Prompts {
        #[command(subcommand)]
        action: PromptsCommand,
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
}

#[derive(Subcommand, Debug)]
enum PromptsCommand {
    /// Report missing, extra, clipped, silent or too-short prompt files, with durations.
    Check {
        /// The prompt folder.
        #[arg(long, default_value = "audio-prompts")]
        dir: PathBuf,
        /// The catalogue (default: <dir>/prompts.yaml).
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// List only files with problems.
        #[arg(long)]
        problems_only: bool,
    },
    /// Print the catalogue as `id<TAB>language<TAB>text` lines (for the synthesis script).
    ExportText {
        /// The catalogue.
        #[arg(long, default_value = "audio-prompts/prompts.yaml")]
        catalogue: PathBuf,
    },
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
        Command::Cdr { action } => return ivr::cli::cdr::run(action),
        Command::Serve(args) => return ivr::cli::serve::run(&args),
        Command::Dial(args) => return ivr::cli::dial::run(&args),
        Command::Prompts { action } => {
            return match action {
                PromptsCommand::Check {
                    dir,
                    catalogue,
                    problems_only,
                } => {
                    let catalogue = catalogue.unwrap_or_else(|| dir.join("prompts.yaml"));
                    ivr::cli::prompts::check(&dir, &catalogue, problems_only)
                }
                PromptsCommand::ExportText { catalogue } => {
                    ivr::cli::prompts::export_text(&catalogue)
                }
            };
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
