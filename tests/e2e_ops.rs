//! Operations end to end: flows edited while calls run (old calls finish on the version they
//! started with, new calls get the new one), a broken edit (the old flows keep serving and the
//! reload API says why), the directory watcher, and a SIGTERM-style drain with calls in
//! progress. A small synthetic line with short prompts keeps each call to a few seconds.

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ivr::sim::{self, Left};

/// Replaces the test line's flow file the way editors do: write aside, then rename.
fn write_flow(flows: &std::path::Path, text: &str) {
    let tmp = flows.join(".test-line.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, flows.join("test-line.yaml")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_progress_finish_on_their_flow_version_and_new_calls_get_the_edit() {
    let e = common::test_line(|_| {}).await;
    // Old version: key 1 queues. The caller presses it well after the edit is live.
    let old_call = sim::dial(e.dial("95017", "wait:2s 1 after:queued hangup"));
    let edit_then_new_call = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // New version: another greeting, and key 1 says goodbye.
        write_flow(&e.flows_dir(), &common::line_with("welcome_v2", "bye"));
        let (status, body) = e.http("POST", "/api/flows/reload", "").await;
        assert_eq!(status, 200, "{body}");
        sim::dial(e.dial("95017", "1")).await.unwrap()
    };
    let (old_call, new_call) = tokio::join!(old_call, edit_then_new_call);
    let old_call = old_call.unwrap();
    assert_eq!(
        old_call.started().first().copied(),
        Some("welcome"),
        "{old_call}"
    );
    assert_eq!(
        old_call.queued(),
        Some(("general", "emergency")),
        "{old_call}"
    );
    assert_eq!(
        new_call.started().first().copied(),
        Some("welcome_v2"),
        "{new_call}"
    );
    assert_eq!(new_call.queued(), None, "{new_call}");
    assert_eq!(
        new_call.prompts().last().copied(),
        Some("goodbye"),
        "{new_call}"
    );
    assert!(
        matches!(new_call.left.1, Left::EngineClosed { code: 1000, .. }),
        "{new_call}"
    );
    assert_eq!(e.counter("ivr_flow_reloads_total", &[("result", "ok")]), 1);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_keeps_the_old_flows_serving_and_the_reload_api_says_why() {
    let e = common::test_line(|_| {}).await;
    // Key 1 leads to a node that does not exist.
    write_flow(&e.flows_dir(), &common::line_with("welcome_v2", "nowhere"));
    let (status, body) = e.http("POST", "/api/flows/reload", "").await;
    assert_eq!(status, 422, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("test-line.yaml")
                && e.as_str().unwrap().contains("nowhere")),
        "the reason names the file and the bad target: {body}"
    );
    let (_, status_body) = e.http("GET", "/api/flows", "").await;
    assert!(status_body.contains("nowhere"), "{status_body}");
    let (ready, _) = e.http("GET", "/readyz", "").await;
    assert_eq!(ready, 200, "still ready on the old flows");
    assert_eq!(
        e.counter("ivr_flow_reloads_total", &[("result", "failed")]),
        1
    );
    // New calls still run the old version.
    let t = sim::dial(e.dial("95017", "1 after:queued hangup"))
        .await
        .unwrap();
    assert_eq!(t.started().first().copied(), Some("welcome"), "{t}");
    assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_saved_by_rename_is_picked_up_by_the_watcher_once() {
    let e = common::test_line(|c| {
        c.watch = true;
        c.watch_interval = Duration::from_millis(100);
        c.reload_debounce = Duration::from_millis(300);
    })
    .await;
    write_flow(&e.flows_dir(), &common::line_with("welcome_v2", "fraud"));
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if e.counter("ivr_flow_reloads_total", &[("result", "ok")]) > 0 {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the watcher reloaded the edit");
    let t = sim::dial(e.dial("95017", "1 after:queued hangup"))
        .await
        .unwrap();
    assert_eq!(t.started().first().copied(), Some("welcome_v2"), "{t}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        e.counter("ivr_flow_reloads_total", &[("result", "ok")]),
        1,
        "one save, one reload"
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_fails_readiness_refuses_new_calls_lets_running_calls_finish_and_exits() {
    let mut e = common::test_line(|c| c.drain_grace = Duration::from_secs(20)).await;
    let admin = e.admin;
    let url = e.url.clone();
    // Two calls in progress: each queues, listens to music for a while, then hangs up.
    let running: Vec<_> = (0..2)
        .map(|_| tokio::spawn(sim::dial(e.dial("95017", "1 after:queued wait:2s hangup"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(e.shared.registry.len(), 2);
    e.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (ready, body) = common::http(admin, "GET", "/readyz", "").await;
    assert_eq!((ready, body.as_str()), (503, "draining"));
    let mut late = sim::DialOptions::new(url, "95017");
    late.max_duration = Duration::from_secs(5);
    let late = sim::dial(late).await.unwrap();
    assert_eq!(late.left.1, Left::Refused(503), "{late}");
    for call in running {
        let t = call.await.unwrap().unwrap();
        assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
        assert_eq!(t.left.1, Left::CallerHungUp, "finished on its own: {t}");
    }
    assert_eq!(
        e.counter("ivr_handshakes_rejected_total", &[("reason", "draining")]),
        1
    );
    // Every task ended and `run` returned.
    e.finished(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_grace_over_ends_the_calls_still_running_and_tells_the_gateway() {
    let mut e = common::test_line(|c| c.drain_grace = Duration::from_millis(500)).await;
    let mut o = e.dial("95017", "1");
    o.linger = Duration::from_secs(30);
    let call = tokio::spawn(sim::dial(o));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.begin_shutdown();
    let t = call.await.unwrap().unwrap();
    assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
    assert!(
        matches!(&t.left.1, Left::EngineClosed { code: 1001, reason } if reason == "engine shutting down"),
        "{t}"
    );
    e.finished(Duration::from_secs(10)).await;
}
