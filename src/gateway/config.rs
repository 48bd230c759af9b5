//! `ivr serve` configuration: documented defaults, overlaid by a YAML file, then environment
//! variables and flags (the command line applies those two through clap).
//!
//! With no file at all, the engine serves `flows/` and `audio-prompts/` of the working copy on
//! loopback: media on `127.0.0.1:8080`, admin on `127.0.0.1:9091`. The YAML file uses the field
//! names below; durations are strings such as `"500ms"`, `"5s"`, `"2m"`, `"1h"`.
//!
//! ```yaml
//! media_listen: 0.0.0.0:8080
//! admin_listen: 127.0.0.1:9091
//! flows_dir: /etc/ivr/flows
//! prompts_dir: /etc/ivr/audio-prompts
//! public_base_url: wss://ivr.example.com   # what Twilio dials; signatures are checked on it
//! twilio_auth_token_env: TWILIO_AUTH_TOKEN # secrets come from the environment, not the file
//! path_token_env: IVR_PATH_TOKEN
//! max_calls: 200
//! drain_grace: 30s
//! ```
//!
//! Secrets are never read from the YAML file itself (files get committed and copied): the
//! file names the environment variables that hold them.
//!
//! This module only describes and checks settings; it must not open sockets or files other
//! than the config file it is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::gateway::auth::{AuthConfig, Secret};

/// Every setting of the media and admin listeners.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Where gateways connect (`/twilio`, `/twilio/{number}`, `/asterisk`). Default
    /// `127.0.0.1:8080`.
    pub media_listen: SocketAddr,
    /// Health, metrics and the admin API; never expose it to the internet. Default
    /// `127.0.0.1:9091`.
    pub admin_listen: SocketAddr,
    /// The flows directory. Default `flows`.
    pub flows_dir: PathBuf,
    /// The prompts directory (`<locale>/<prompt>.wav`). Default `audio-prompts`.
    pub prompts_dir: PathBuf,
    /// The prompt catalogue. Default `<prompts_dir>/prompts.yaml`.
    pub catalogue: Option<PathBuf>,
    /// The public `wss://` base URL gateways dial (for `X-Twilio-Signature`).
    pub public_base_url: Option<String>,
    /// The public `https://` base URL of the `<Connect action>` webhook (for its signature).
    pub public_webhook_base_url: Option<String>,
    /// Environment variable holding the Twilio auth token. Default `TWILIO_AUTH_TOKEN`.
    pub twilio_auth_token_env: String,
    /// Environment variable holding the path token. Default `IVR_PATH_TOKEN`.
    pub path_token_env: String,
    /// The flow for numbers no flow claims; without it such callers hear `not_in_service`.
    pub default_flow: Option<String>,
    /// Language of the `not_in_service` prompt. Default `zh-CN`.
    pub default_language: String,
    /// Most calls at once; more are refused before the upgrade. Default 200.
    pub max_calls: usize,
    /// Largest WebSocket message accepted. Default 64 KiB.
    pub max_message_bytes: usize,
    /// Most bytes queued for a gateway that does not read; past it the call ends. Default
    /// 256 KiB.
    pub max_outbound_bytes: usize,
    /// Kernel send buffer (`SO_SNDBUF`) of each accepted media socket; `0` leaves the
    /// kernel's autotuning, which grows it to megabytes. Together with the gateway's receive
    /// window it bounds how much prompt audio a gateway that stops reading can absorb before
    /// our writes block and [`ServeConfig::write_timeout`] ends the call: at the ~11 KB/s of a
    /// Twilio stream, against a gateway with a 128 KiB receive buffer, the default ends such a
    /// call in about 30 s instead of minutes. Linux doubles the value for its own bookkeeping.
    /// Default 64 KiB.
    pub send_buffer_bytes: usize,
    /// Time for the WebSocket handshake. Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub handshake_timeout: Duration,
    /// Time from upgrade to the stream's `start`. Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub start_timeout: Duration,
    /// A call with no message from its gateway for this long is ended. Default 10 s.
    #[serde(deserialize_with = "de_duration")]
    pub media_idle_timeout: Duration,
    /// A write to a gateway blocked this long ends the call. Default 2 s.
    #[serde(deserialize_with = "de_duration")]
    pub write_timeout: Duration,
    /// Prompt audio is sent at most this far ahead of real time. Default 200 ms.
    #[serde(deserialize_with = "de_duration")]
    pub playout_lead: Duration,
    /// Once a prompt plays, the lead is topped up in messages of about this much audio (when it
    /// has fallen this far below `playout_lead`). `20ms` sends one message per frame. Default
    /// 100 ms.
    #[serde(deserialize_with = "de_duration")]
    pub playout_refill: Duration,
    /// A mark not echoed this long after its audio should have ended counts as played.
    /// Default 2 s.
    #[serde(deserialize_with = "de_duration")]
    pub mark_grace: Duration,
    /// A gateway digit event this close to an in-band detection of the same key (either
    /// order) is the same press. Default 150 ms.
    #[serde(deserialize_with = "de_duration")]
    pub dtmf_dedupe_window: Duration,
    /// On SIGTERM, calls in progress get this long to finish. Default 30 s.
    #[serde(deserialize_with = "de_duration")]
    pub drain_grace: Duration,
    /// Watch the flows and prompts directories and reload on change. Default true.
    pub watch: bool,
    /// How often the watcher looks. Default 1 s.
    #[serde(deserialize_with = "de_duration")]
    pub watch_interval: Duration,
    /// A change must be quiet this long before it is loaded. Default 500 ms.
    #[serde(deserialize_with = "de_duration")]
    pub reload_debounce: Duration,
    /// TwiML `<Redirect>` target for Twilio calls ended by a drain (e.g. the voice webhook
    /// that reconnects them to a healthy instance); without it they hear nothing more.
    pub drain_redirect_url: Option<String>,
    /// SIP address of an agent the queue assigned, `{agent}` replaced by the agent id. The
    /// queue's agents file may give each agent its own address. Default
    /// `sip:{agent}@agents.invalid`.
    pub agent_uri_template: String,
    /// Environment variable holding the agents API bearer token. Default `IVR_AGENT_TOKEN`.
    /// Without a token the agents API answers loopback peers only.
    pub agent_token_env: String,
    /// The agents API token, resolved from [`ServeConfig::agent_token_env`].
    #[serde(skip)]
    pub agent_token: Option<Secret>,
    /// The call-record database (SQLite). `None`: no records (`ivr serve` defaults it to
    /// `var/calls.sqlite`).
    pub cdr_path: Option<PathBuf>,
    /// Resolved secrets (from the environment, never the file).
    #[serde(skip)]
    pub auth: AuthConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            media_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            flows_dir: PathBuf::from("flows"),
            prompts_dir: PathBuf::from("audio-prompts"),
            catalogue: None,
            public_base_url: None,
            public_webhook_base_url: None,
            twilio_auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            path_token_env: "IVR_PATH_TOKEN".into(),
            default_flow: None,
            default_language: "zh-CN".into(),
            max_calls: 200,
            max_message_bytes: 64 * 1024,
            max_outbound_bytes: 256 * 1024,
            send_buffer_bytes: 64 * 1024,
            handshake_timeout: Duration::from_secs(5),
            start_timeout: Duration::from_secs(5),
            media_idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(2),
            playout_lead: Duration::from_millis(200),
            playout_refill: Duration::from_millis(100),
            mark_grace: Duration::from_secs(2),
            dtmf_dedupe_window: Duration::from_millis(150),
            drain_grace: Duration::from_secs(30),
            watch: true,
            watch_interval: Duration::from_secs(1),
            reload_debounce: Duration::from_millis(500),
            drain_redirect_url: None,
            agent_uri_template: "sip:{agent}@agents.invalid".into(),
            agent_token_env: "IVR_AGENT_TOKEN".into(),
            agent_token: None,
            cdr_path: None,
            auth: AuthConfig::default(),
        }
    }
}

/// A configuration that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Reads a YAML config file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        crate::flow::yaml::parse::<ServeConfig>(path, &text)
            .map_err(|d| ConfigError::Invalid(d.to_string()))
    }

    /// Fills [`ServeConfig::auth`] from the environment variables the config names.
    pub fn resolve_secrets(&mut self, env: impl Fn(&str) -> Option<String>) {
        let nonempty = |name: &str| env(name).filter(|v| !v.is_empty()).map(Secret::new);
        self.auth = AuthConfig {
            twilio_auth_token: nonempty(&self.twilio_auth_token_env),
            public_base_url: self.public_base_url.clone(),
            path_token: nonempty(&self.path_token_env),
        };
        self.agent_token = nonempty(&self.agent_token_env);
    }

    /// The catalogue path in effect.
    pub fn catalogue_path(&self) -> PathBuf {
        self.catalogue
            .clone()
            .unwrap_or_else(|| self.prompts_dir.join("prompts.yaml"))
    }

    /// Checks settings that would make the server unsafe or useless.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::gateway::auth::check_bind(self.media_listen, &self.auth)
            .map_err(ConfigError::Invalid)?;
        if self.auth.twilio_auth_token.is_some() && self.public_base_url.is_none() {
            return Err(ConfigError::Invalid(
                "a Twilio auth token needs public_base_url (the wss:// URL Twilio dials) to \
                 check signatures"
                    .into(),
            ));
        }
        if self.max_calls == 0 {
            return Err(ConfigError::Invalid("max_calls must be at least 1".into()));
        }
        if self.playout_refill > self.playout_lead {
            return Err(ConfigError::Invalid(format!(
                "playout_refill ({} ms) cannot exceed playout_lead ({} ms)",
                self.playout_refill.as_millis(),
                self.playout_lead.as_millis()
            )));
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_message_bytes below 1 KiB cannot carry a 20 ms frame".into(),
            ));
        }
        Ok(())
    }
}

/// Parses `"500ms"`, `"5s"`, `"2m"`, `"1h"` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {text:?}: expected e.g. \"500ms\", \"5s\""))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("bad duration unit in {text:?}: use ms, s, m or h")),
    };
    Ok(d)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_refuse_nonsense() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fives").is_err());
        assert!(parse_duration("5 days").is_err());
    }

    #[test]
    fn defaults_serve_loopback_without_secrets() {
        let mut c = ServeConfig::default();
        c.resolve_secrets(|_| None);
        assert!(c.validate().is_ok());
        assert_eq!(c.media_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9091");
    }

    #[test]
    fn public_bind_without_a_secret_is_refused() {
        let mut c = ServeConfig {
            media_listen: "0.0.0.0:8080".parse().unwrap(),
            ..ServeConfig::default()
        };
        c.resolve_secrets(|_| None);
        assert!(c.validate().is_err());
        c.resolve_secrets(|name| (name == "IVR_PATH_TOKEN").then(|| "tok".to_owned()));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn twilio_token_without_public_url_is_refused() {
        let mut c = ServeConfig::default();
        c.resolve_secrets(|name| (name == "TWILIO_AUTH_TOKEN").then(|| "t".to_owned()));
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_refill_larger_than_the_lead_is_refused() {
        let mut c = ServeConfig {
            playout_refill: Duration::from_millis(300),
            ..ServeConfig::default()
        };
        c.resolve_secrets(|_| None);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("playout_refill"), "{err}");
    }
}
