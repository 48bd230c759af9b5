//! Shared fixtures of the end-to-end tests: an `ivr serve` engine on loopback ports (the
//! shipped flows and prompts, or a small synthetic line with short prompts), a copy of the
//! shipped flows with calendars swapped so time-of-day routes are reachable at any hour, and
//! a minimal HTTP client for the admin listener.

// Test fixtures: a failed setup step should stop the test loudly. Not every test file uses
// every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ivr::gateway::config::ServeConfig;
use ivr::gateway::server::{Server, Shared};
use ivr::media::prompts::SPOKEN_NUMBER_PROMPTS;
use ivr::sim::{self, DialOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running engine.
pub struct Engine {
    /// `ws://127.0.0.1:PORT` of the media listener.
    pub url: String,
    /// The admin listener.
    pub admin: SocketAddr,
    /// The server's shared state (metrics, registry).
    pub shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

/// A loopback config serving `flows` and `prompts`, no watcher, no secrets.
pub fn config(flows: &Path, prompts: &Path) -> ServeConfig {
    let mut cfg = ServeConfig {
        media_listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        flows_dir: flows.to_owned(),
        prompts_dir: prompts.to_owned(),
        watch: false,
        ..ServeConfig::default()
    };
    cfg.resolve_secrets(|_| None);
    cfg
}

/// Binds and runs an engine; `dir` (if any) lives as long as it.
pub async fn start(cfg: ServeConfig, dir: Option<tempfile::TempDir>) -> Engine {
    let server = Server::bind(cfg).await.expect("server binds");
    let url = format!("ws://{}", server.media_addr());
    let admin = server.admin_addr();
    let shared = server.shared();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
    });
    Engine {
        url,
        admin,
        shared,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

/// The shipped flows and prompts, as they are in the repository.
pub async fn shipped() -> Engine {
    let root = repo();
    start(
        config(&root.join("flows"), &root.join("audio-prompts")),
        None,
    )
    .await
}

/// A calendar open around the clock every day.
pub fn calendar_open(id: &str) -> String {
    let days: String = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!("  {d}: [\"00:00-24:00\"]\n"))
        .collect();
    format!(
        "kind: calendar\nid: \"{id}\"\ntimezone: Asia/Shanghai\nweekly:\n{days}emergency_flags: [platform_outage, service_incident]\n"
    )
}

/// A calendar never open.
pub fn calendar_closed(id: &str) -> String {
    let days: String = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!("  {d}: []\n"))
        .collect();
    format!(
        "kind: calendar\nid: \"{id}\"\ntimezone: Asia/Shanghai\nweekly:\n{days}emergency_flags: [platform_outage]\n"
    )
}

/// A calendar open around the clock except that today (and tomorrow, for a run across
/// midnight) are public holidays.
pub fn calendar_holiday(id: &str) -> String {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let open = calendar_open(id);
    format!("{open}holidays: [\"{today}\", \"{tomorrow}\"]\n")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The shipped flows copied to a temporary directory with some files replaced (calendars:
/// the hours of a line are data, not what these tests are about), served with the shipped
/// prompts.
pub async fn shipped_with(replace: &[(&str, String)]) -> Engine {
    shipped_configured(replace, |_, _| {}).await
}

/// As [`shipped_with`], with the config adjusted by `tweak` (given the temporary directory,
/// e.g. for a call-record file that lives as long as the engine).
pub async fn shipped_configured(
    replace: &[(&str, String)],
    tweak: impl FnOnce(&mut ServeConfig, &Path),
) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    copy_dir(&repo().join("flows"), &flows);
    for (file, text) in replace {
        std::fs::write(flows.join(file), text).unwrap();
    }
    let mut cfg = config(&flows, &repo().join("audio-prompts"));
    tweak(&mut cfg, dir.path());
    start(cfg, Some(dir)).await
}

impl Engine {
    /// Dial options for `number` as Twilio, hanging up 5 s after the script.
    pub fn dial(&self, number: &str, script: &str) -> DialOptions {
        let mut o = DialOptions::new(self.url.clone(), number);
        o.steps = sim::parse_keys(script).unwrap();
        o.linger = Duration::from_secs(5);
        o.max_duration = Duration::from_secs(90);
        o
    }

    /// A series of the engine's metrics, read back from its text exposition (0 when absent).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let text = self.shared.metrics.render();
        let parsed = ivr::telemetry::exposition::Exposition::parse(&text).unwrap();
        parsed.get(name, labels).unwrap_or(0.0) as u64
    }

    /// An admin request; returns the status and body.
    pub async fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http(self.admin, method, path, body).await
    }

    /// Stops the engine (drain) and waits for it to exit.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        self.finished(Duration::from_secs(20)).await;
    }

    /// Starts the drain (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server to exit; panics after `limit`.
    pub async fn finished(self, limit: Duration) {
        tokio::time::timeout(limit, self.task)
            .await
            .expect("the server exits")
            .expect("the server task ends without a panic");
    }
}

/// A one-shot HTTP/1.1 request over a fresh connection.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("admin answers")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

// ---------------------------------------------------------------------------------------
// A small synthetic line with short prompts, for protocol and operations tests.
// ---------------------------------------------------------------------------------------

/// A test line on 95017: welcome (300 ms, no barge-in) → menu (3 s): 1 emergency queue,
/// 2 goodbye, 0 transfer to a number. `{WELCOME}` and `{ONE}` (where key 1 leads) are
/// replaced, so reload tests can tell flow versions apart.
pub const LINE: &str = r#"kind: flow
id: test-line
name: Test line
numbers: ["95017"]
languages: [zh-CN]
defaults:
  timeout: 2s
  inter_digit_timeout: 1s
  attempts: 2
  invalid_prompt: invalid_choice
  no_input_prompt: no_input
  max_call_duration: 1m
entry: welcome
nodes:
  welcome:
    type: play
    prompt: {WELCOME}
    on: { done: menu }
  menu:
    type: menu
    prompt: menu_main
    on: { "1": {ONE}, "2": bye, "0": agent, invalid_exhausted: bye, timeout_exhausted: bye }
  fraud:
    type: enqueue
    queue: general
    priority: emergency
    on: { timeout: bye, no_agents: bye, full: bye }
  agent:
    type: transfer
    to: "tel:+862100000000"
    on: { failed: bye }
  bye:
    type: hangup
    prompt: goodbye
"#;

const QUEUE: &str = r#"kind: queue
id: general
name: General
classes:
  - { name: emergency, strict: true, max_agent_share: 0.5 }
  - { name: normal, base_priority: 0, aging_per_second: 0.1 }
max_wait: 15m
max_size: 500
service_level: 20s
hold_music: hold_music
announce: { first_after: 20s, every: 45s, position: true, wait_time: true }
wrap_up: 10s
offer_timeout: 15s
join_without_agents: true
"#;

/// Prompt ids and lengths in ms (menu_main long enough to barge into, long_prompt to hang up
/// in the middle of).
const PROMPTS: &[(&str, u64)] = &[
    ("welcome", 300),
    ("welcome_v2", 300),
    ("menu_main", 3000),
    ("goodbye", 300),
    ("invalid_choice", 200),
    ("no_input", 200),
    ("hold_music", 1000),
    ("not_in_service", 400),
    ("queue_position", 200),
    ("queue_wait_minutes", 200),
    ("queue_wait_unknown", 200),
    ("minutes", 200),
    ("please_hold", 200),
    ("number_many", 200),
];

fn tone(ms: u64, hz: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * 3000.0) as i16)
        .collect()
}

/// The test line's flow text with `welcome` as its greeting prompt.
pub fn line(welcome: &str) -> String {
    line_with(welcome, "fraud")
}

/// The test line with `welcome` as its greeting and key 1 leading to node `one`.
pub fn line_with(welcome: &str, one: &str) -> String {
    LINE.replace("{WELCOME}", welcome).replace("{ONE}", one)
}

/// Writes the test line (flow text `flow`), its queue and its prompts under `root`.
pub fn write_line(root: &Path, flow: &str) {
    let flows = root.join("flows");
    let audio = root.join("audio-prompts");
    let zh = audio.join("zh-CN");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&zh).unwrap();
    std::fs::write(flows.join("test-line.yaml"), flow).unwrap();
    std::fs::write(flows.join("queue-general.yaml"), QUEUE).unwrap();
    let mut catalogue = String::new();
    let mut all: Vec<(String, u64)> = PROMPTS
        .iter()
        .map(|(p, ms)| ((*p).to_owned(), *ms))
        .collect();
    all.extend(
        SPOKEN_NUMBER_PROMPTS
            .iter()
            .map(|p| (p.as_str().to_owned(), 60)),
    );
    for (id, ms) in &all {
        catalogue.push_str(&format!("{id}:\n  zh-CN: \"{id}\"\n"));
        // A quiet 440 Hz tone: never mistaken for DTMF.
        ivr::media::wav::write_wav_8k(&zh.join(format!("{id}.wav")), &tone(*ms, 440.0)).unwrap();
    }
    std::fs::write(audio.join("prompts.yaml"), catalogue).unwrap();
}

/// The test line on an engine, with `tweak` applied to its config. The line's files live in
/// the returned engine's temporary directory (see [`Engine::flows_dir`]).
pub async fn test_line(tweak: impl FnOnce(&mut ServeConfig)) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    write_line(dir.path(), &line("welcome"));
    let mut cfg = config(&dir.path().join("flows"), &dir.path().join("audio-prompts"));
    tweak(&mut cfg);
    start(cfg, Some(dir)).await
}

impl Engine {
    /// The flows directory of an engine started by [`test_line`] or [`shipped_with`].
    pub fn flows_dir(&self) -> PathBuf {
        self._dir
            .as_ref()
            .map(|d| d.path().join("flows"))
            .expect("an engine with its own files")
    }
}
