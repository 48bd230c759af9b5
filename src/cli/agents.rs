//! `ivr agents`: simulated agents over the agents API, for demos, tests and load. Prints one
//! line per call taken; runs until Ctrl-C/SIGTERM or `--for` has passed, then logs out.

use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::config::parse_duration;
use crate::sim::agents::{self, AgentsOptions};

/// Flags of `ivr agents`.
#[derive(clap::Args, Debug)]
pub struct AgentsArgs {
    /// How many agents.
    #[arg(long, default_value_t = 5)]
    pub count: usize,
    /// Ring time before taking an offer, e.g. 2s.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub answer_after: Duration,
    /// Talk time per call, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub talk: Duration,
    /// After-call work before the agent is ready again, e.g. 5s.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub wrap_up: Duration,
    /// Queues served, comma-separated (default: every queue of the engine).
    #[arg(long, value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Agent ids are `<prefix><n>`.
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// The engine's admin listener.
    #[arg(long, default_value = "http://127.0.0.1:9091")]
    pub url: String,
    /// Bearer token of the agents API.
    #[arg(long, env = "IVR_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Stop after this long (default: until interrupted).
    #[arg(long = "for", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
}

async fn stop_signal(run_for: Option<Duration>) {
    let timer = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                () = timer => {}
            }
            return;
        }
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = timer => {}
    }
}

/// Runs `ivr agents` to completion.
pub fn run(args: &AgentsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ivr agents: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = AgentsOptions {
        url: args.url.clone(),
        token: args.token.clone().filter(|t| !t.is_empty()),
        count: args.count,
        prefix: args.prefix.clone(),
        queues: args.queues.clone(),
        answer_after: args.answer_after,
        talk: args.talk,
        wrap_up: args.wrap_up,
    };
    let run_for = args.run_for;
    runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<agents::Answered>();
        let printer = tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                println!(
                    "{} took {} from {} ({}) after {:.1}s: {}",
                    a.agent, a.call, a.queue, a.class, a.waited_secs, a.why
                );
            }
        });
        let result = agents::run(opts, tx, stop_signal(run_for)).await;
        let _ = printer.await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ivr agents: {e}");
                ExitCode::from(1)
            }
        }
    })
}
