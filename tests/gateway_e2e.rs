//! End-to-end tests of `ivr serve` over real loopback sockets, driven by the caller
//! simulator. A small flow set with short synthetic prompts keeps every call to a few
//! seconds of real time; the tests run in parallel.

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use ivr::gateway::config::ServeConfig;
use ivr::gateway::server::Server;
use ivr::media::prompts::SPOKEN_NUMBER_PROMPTS;
use ivr::sim::{self, DialOptions, DtmfMode, Left};
use tokio::sync::oneshot;

const FLOW: &str = r#"kind: flow
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
    prompt: welcome
    on: { done: menu }
  menu:
    type: menu
    prompt: menu_main
    on: { "1": fraud, "2": bye, "0": agent, invalid_exhausted: bye, timeout_exhausted: bye }
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

/// Prompt ids and lengths in ms (menu_main long enough to barge into).
const PROMPTS: &[(&str, u64)] = &[
    ("welcome", 300),
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
];

fn tone(ms: u64, hz: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * 3000.0) as i16)
        .collect()
}

fn write_fixture(root: &Path, flow: &str) {
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

struct Engine {
    _dir: tempfile::TempDir,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn engine_with(tweak: impl FnOnce(&mut ServeConfig)) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    write_fixture(&root, FLOW);
    let mut cfg = ServeConfig {
        media_listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        flows_dir: root.join("flows"),
        prompts_dir: root.join("audio-prompts"),
        watch: false,
        ..ServeConfig::default()
    };
    cfg.resolve_secrets(|_| None);
    tweak(&mut cfg);
    let server = Server::bind(cfg).await.expect("server binds");
    let url = format!("ws://{}", server.media_addr());
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
        _dir: dir,
        url,
        stop: Some(tx),
        task,
    }
}

async fn engine() -> Engine {
    engine_with(|_| {}).await
}

impl Engine {
    fn dial(&self, script: &str) -> DialOptions {
        let mut o = DialOptions::new(self.url.clone(), "95017");
        o.steps = sim::parse_keys(script).unwrap();
        o.linger = Duration::from_secs(8);
        o.max_duration = Duration::from_secs(30);
        o
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("drain finishes")
            .expect("server task ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_key_in_band_reaches_the_emergency_lane() {
    let e = engine().await;
    let mut o = e.dial("wait:1500ms quiet 1 wait:1s hangup");
    o.dtmf = DtmfMode::InBand;
    let t = sim::dial(o).await.unwrap();
    println!("{t}");
    assert_eq!(t.prompts().first().copied(), Some("welcome"));
    assert_eq!(t.queued(), Some(("general", "emergency")));
    assert_eq!(t.left.1, Left::CallerHungUp);
    e.shutdown().await;
}
