//! `ivr serve`: run the engine. Settings come from the documented defaults, then the YAML
//! file given with `--config`, then environment variables, then flags (clap reads each flag's
//! variable when the flag is absent). With nothing given it serves `flows/` and
//! `audio-prompts/` on loopback: media `127.0.0.1:8080`, admin `127.0.0.1:9091`.
//!
//! Signals: SIGTERM or Ctrl-C drains (readiness fails, new calls refused, calls in progress
//! get `drain_grace`, every call task awaited, exit 0); SIGHUP reloads flows and prompts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::config::{ServeConfig, parse_duration};
use crate::gateway::server::Server;

/// Flags of `ivr serve`.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// YAML config file (see the gateway config docs for fields).
    #[arg(long, env = "IVR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Media WebSocket listener [default: 127.0.0.1:8080].
    #[arg(long, env = "IVR_MEDIA_LISTEN")]
    pub media_listen: Option<SocketAddr>,
    /// Admin listener: health, metrics, reload, decisions [default: 127.0.0.1:9091].
    #[arg(long, env = "IVR_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Flows directory [default: flows].
    #[arg(long, env = "IVR_FLOWS")]
    pub flows: Option<PathBuf>,
    /// Prompts directory [default: audio-prompts].
    #[arg(long, env = "IVR_PROMPTS")]
    pub prompts: Option<PathBuf>,
    /// Public wss:// base URL gateways dial (needed to check Twilio signatures).
    #[arg(long, env = "IVR_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Most concurrent calls [default: 200].
    #[arg(long, env = "IVR_MAX_CALLS")]
    pub max_calls: Option<usize>,
    /// Grace period for calls in progress on SIGTERM, e.g. 30s [default: 30s].
    #[arg(long, env = "IVR_DRAIN_GRACE", value_parser = parse_duration)]
    pub drain_grace: Option<Duration>,
    /// Flow for numbers no flow claims (else callers hear `not_in_service`).
    #[arg(long, env = "IVR_DEFAULT_FLOW")]
    pub default_flow: Option<String>,
    /// Call-record file (SQLite), one row per call [default: the config file's `cdr_path`,
    /// else var/calls.sqlite].
    #[arg(long, env = "IVR_CDR")]
    pub cdr: Option<PathBuf>,
    /// Do not write call records.
    #[arg(long, conflicts_with = "cdr")]
    pub no_cdr: bool,
    /// Do not watch the flows and prompts directories for edits.
    #[arg(long)]
    pub no_watch: bool,
}

impl ServeArgs {
    /// The configuration these flags select (file, then flags/env over it).
    pub fn config(&self) -> Result<ServeConfig, String> {
        let mut c = match &self.config {
            Some(path) => ServeConfig::from_file(path).map_err(|e| e.to_string())?,
            None => ServeConfig::default(),
        };
        if let Some(a) = self.media_listen {
            c.media_listen = a;
        }
        if let Some(a) = self.admin_listen {
            c.admin_listen = a;
        }
        if let Some(p) = &self.flows {
            c.flows_dir = p.clone();
        }
        if let Some(p) = &self.prompts {
            c.prompts_dir = p.clone();
        }
        if let Some(u) = &self.public_base_url {
            c.public_base_url = Some(u.clone());
        }
        if let Some(n) = self.max_calls {
            c.max_calls = n;
        }
        if let Some(d) = self.drain_grace {
            c.drain_grace = d;
        }
        if let Some(f) = &self.default_flow {
            c.default_flow = Some(f.clone());
        }
        if self.no_watch {
            c.watch = false;
        }
        if self.no_cdr {
            c.cdr_path = None;
        } else if let Some(p) = &self.cdr {
            c.cdr_path = Some(p.clone());
        } else if c.cdr_path.is_none() {
            c.cdr_path = Some(PathBuf::from(crate::cli::cdr::DEFAULT_CDR_FILE));
        }
        c.resolve_secrets(|name| std::env::var(name).ok());
        Ok(c)
    }
}

async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `ivr serve` to completion; exit 0 after a clean drain.
pub fn run(args: &ServeArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ivr serve: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ivr serve: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ivr serve: {e}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(media = %server.media_addr(), admin = %server.admin_addr(), "serving");
        #[cfg(unix)]
        {
            let shared = server.shared();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading flows and prompts");
                    shared.reload().await;
                }
            });
        }
        match server.run(terminate()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ivr serve: {e}");
                ExitCode::from(1)
            }
        }
    })
}
