//! Smoke test of the load generator: a handful of calls for a few seconds against an
//! in-process engine and an in-process bare baseline, checking that the reports are complete
//! and consistent. Timing figures are printed, never asserted (they belong in benchmarks).

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use ivr::gateway::config::ServeConfig;
use ivr::gateway::server::Server;
use ivr::load::{self, LoadOptions, Report};
use ivr::media::prompts::SPOKEN_NUMBER_PROMPTS;

const FLOW: &str = r#"kind: flow
id: load-line
name: Load line
numbers: ["95017"]
languages: [zh-CN]
defaults:
  timeout: 5s
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
    on: { "1": fraud, invalid_exhausted: bye, timeout_exhausted: bye }
  fraud:
    type: enqueue
    queue: general
    priority: emergency
    on: { timeout: bye, no_agents: bye, full: bye }
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

fn tone(ms: u64) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 3000.0) as i16)
        .collect()
}

fn write_fixture(root: &Path) {
    let flows = root.join("flows");
    let zh = root.join("audio-prompts").join("zh-CN");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&zh).unwrap();
    std::fs::write(flows.join("load-line.yaml"), FLOW).unwrap();
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
        ivr::media::wav::write_wav_8k(&zh.join(format!("{id}.wav")), &tone(*ms)).unwrap();
    }
    std::fs::write(root.join("audio-prompts").join("prompts.yaml"), catalogue).unwrap();
}

const CALLS: usize = 4;

fn options(url: String, metrics: Option<String>) -> LoadOptions {
    let mut o = LoadOptions::new(url, CALLS);
    o.duration = Duration::from_secs(3);
    o.settle = Duration::from_millis(500);
    o.connect_rate = 20.0;
    o.script = load::parse_script("next wait:500ms 1").unwrap();
    o.server_pid = Some(std::process::id());
    o.metrics_url = metrics;
    o
}

/// Checks that hold whatever the machine's speed.
fn assert_sane(r: &Report) {
    println!("{r}");
    assert_eq!(r.calls, CALLS);
    assert_eq!(r.connected, CALLS, "every call connects");
    assert_eq!(r.connect_failures, 0);
    assert_eq!(r.errors, 0);
    assert_eq!(r.early_hangups, 0, "nothing in the script ends the call");
    assert!(r.frames > 0);
    assert!(r.late_frames <= r.frames);
    assert_eq!(r.lateness.count(), r.frames);
    assert_eq!(r.presses, CALLS as u64, "one key per call");
    assert_eq!(r.answered + r.unanswered, r.presses);
    assert_eq!(r.key_to_prompt.count(), r.answered);
    assert!(r.call_seconds > 0.0);
    let server = r
        .server
        .as_ref()
        .expect("the in-process server is measured");
    assert!(server.cpu_ms_per_call_second >= 0.0);
    assert!(server.rss_loaded > 0);
    assert!(r.generator_cpu_ms_per_call_second.is_some());
    let text = r.to_string();
    assert!(text.contains("validity"));
    assert!(text.contains("key→prompt"));
}

#[test]
fn a_short_run_against_the_engine_and_the_baseline_gives_complete_reports() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (engine_url, metrics_url, baseline_url) = rt.block_on(async {
        let mut cfg = ServeConfig {
            media_listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            flows_dir: dir.path().join("flows"),
            prompts_dir: dir.path().join("audio-prompts"),
            watch: false,
            ..ServeConfig::default()
        };
        cfg.resolve_secrets(|_| None);
        let server = Server::bind(cfg).await.expect("server binds");
        let engine_url = format!("ws://{}/twilio", server.media_addr());
        let metrics_url = format!("http://{}/metrics", server.admin_addr());
        tokio::spawn(async move {
            let _ = server.run(std::future::pending::<()>()).await;
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let baseline_url = format!("ws://{}/twilio", listener.local_addr().unwrap());
        tokio::spawn(load::baseline::serve(listener, Duration::from_millis(20)));
        (engine_url, metrics_url, baseline_url)
    });

    let engine = load::run(&options(engine_url, Some(metrics_url))).unwrap();
    assert_sane(&engine);
    assert_eq!(engine.queued, CALLS as u64, "key 1 queues every call");
    assert_eq!(
        engine.answered, CALLS as u64,
        "every key is answered by the next prompt"
    );

    let baseline = load::run(&options(baseline_url, None)).unwrap();
    assert_sane(&baseline);
    assert_eq!(
        baseline.answered, CALLS as u64,
        "the baseline answers every key"
    );
    assert!(baseline.frame_handling.is_none());
    rt.shutdown_timeout(Duration::from_secs(1));
}
