//! End to end over loopback: simulated callers on the three hotlines wait in the queues,
//! simulated agents log in over the agents API and take them in priority order, and the
//! call-record file and the `/metrics` exposition tell exactly what happened.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Engine;
use ivr::cdr::{self, CallRecord};
use ivr::sim::agents::{self, AgentsOptions, Answered};
use ivr::sim::{self, Left, Transcript};
use ivr::telemetry::exposition::Exposition;
use ivr::telemetry::redact::mask_number;
use tokio::sync::{mpsc, oneshot};

/// `/metrics` fetched over HTTP and parsed.
async fn scrape(e: &Engine) -> Exposition {
    let (status, body) = e.http("GET", "/metrics", "").await;
    assert_eq!(status, 200);
    Exposition::parse(&body).unwrap()
}

fn depth(m: &Exposition, queue: &str, class: &str) -> f64 {
    m.get("ivr_queue_depth", &[("queue", queue), ("class", class)])
        .unwrap_or(-1.0)
}

/// Polls `/metrics` until the queue holds `n` callers of the class.
async fn wait_depth(e: &Engine, queue: &str, class: &str, n: f64) {
    let mut m = Exposition::default();
    for _ in 0..1200 {
        m = scrape(e).await;
        if depth(&m, queue, class) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: Vec<_> = m.matching("ivr_queue_depth", &[]).collect();
    panic!("{queue}/{class} never held {n} callers: {seen:?}");
}

/// A caller who keys `keys`, waits in the queue (up to five minutes) and is handed to an agent.
fn waiting_caller(e: &Engine, id: &str, number: &str, keys: &str) -> sim::DialOptions {
    let mut o = e.dial(number, &format!("{keys} after:queued wait:300s hangup"));
    o.call_id = id.to_owned();
    o.max_duration = Duration::from_secs(400);
    o
}

/// One simulated agent `<prefix>1` on `queues`, answering quickly; stop it with the sender.
fn agent(
    admin: &str,
    prefix: &str,
    queues: &[&str],
    answered: &mpsc::UnboundedSender<Answered>,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), agents::AgentsError>>,
) {
    let mut o = AgentsOptions::new(admin.to_owned(), 1);
    o.prefix = prefix.into();
    o.queues = queues.iter().map(|q| (*q).to_owned()).collect();
    o.answer_after = Duration::from_millis(300);
    o.talk = Duration::from_millis(300);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(agents::run(o, answered.clone(), async move {
        let _ = stop_rx.await;
    }));
    (stop_tx, task)
}

fn by_id(records: &[CallRecord]) -> BTreeMap<&str, &CallRecord> {
    records.iter().map(|r| (r.call_id.as_str(), r)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_on_three_lines_reach_agents_in_priority_order_and_each_call_leaves_one_record() {
    let open = [
        ("calendar-merchant.yaml", common::calendar_open("merchant")),
        ("calendar-wealth.yaml", common::calendar_open("wealth")),
    ];
    // The record file outlives the engine (and its temporary flows directory).
    let records_dir = tempfile::tempdir().unwrap();
    let db = records_dir.path().join("var").join("calls.sqlite");
    let e = common::shipped_configured(&open, |c, _| c.cdr_path = Some(db.clone())).await;
    let admin = format!("http://{}", e.admin);

    // The merchant and wealth queues take callers only while an agent is logged in: one
    // agent serves both. Nobody serves the general queue yet, so its callers wait: two
    // general callers first, in this order, then a fraud caller.
    let (tx, mut rx) = mpsc::unbounded_channel::<Answered>();
    let mut agents = vec![agent(&admin, "mw", &["merchant-general", "wealth"], &tx)];
    for _ in 0..100 {
        let (_, body) = e.http("GET", "/api/agents", "").await;
        if body.contains("mw1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut calls = Vec::new();
    let mut spawn = |o: sim::DialOptions| {
        calls.push((o.call_id.clone(), tokio::spawn(sim::dial(o))));
    };
    let began = std::time::Instant::now();
    spawn(waiting_caller(
        &e,
        "CA-merchant",
        "0755-83765566",
        "1 523000011# 3",
    ));
    spawn(waiting_caller(&e, "CA-wealth", "400-670-0700", "1 1"));
    spawn(waiting_caller(&e, "CA-general-1", "95017", "1 2"));
    wait_depth(&e, "general", "normal", 1.0).await;
    spawn(waiting_caller(&e, "CA-general-2", "95017", "1 3"));
    wait_depth(&e, "general", "normal", 2.0).await;
    spawn(waiting_caller(&e, "CA-fraud", "95017", "1 1 1"));
    wait_depth(&e, "general", "emergency", 1.0).await;
    println!("the general callers queued after {:?}", began.elapsed());

    // The live picture while they wait, as Prometheus would scrape it.
    let m = scrape(&e).await;
    assert_eq!(depth(&m, "general", "normal"), 2.0);
    assert_eq!(depth(&m, "general", "vip"), 0.0);
    assert_eq!(
        m.get("ivr_calls_active", &[("line", "hotline-95017")]),
        Some(3.0)
    );
    assert!(
        m.get("ivr_queue_oldest_wait_seconds", &[("queue", "general")])
            .unwrap()
            > 0.0
    );
    assert_eq!(
        m.get(
            "ivr_queue_entered_total",
            &[("queue", "general"), ("class", "emergency")]
        ),
        Some(1.0)
    );

    // Two calls that never reach a queue: one hangs up in the language menu, one dials a
    // number nobody serves.
    let mut quitter = e.dial("95017", "wait:1s hangup");
    quitter.call_id = "CA-quitter".into();
    let mut stranger = e.dial("95999", "");
    stranger.call_id = "CA-stranger".into();
    let (quitter, stranger) = tokio::join!(sim::dial(quitter), sim::dial(stranger));
    assert_eq!(quitter.unwrap().left.1, Left::CallerHungUp);
    assert!(matches!(
        stranger.unwrap().left.1,
        Left::EngineClosed { code: 1000, .. }
    ));

    // Now an agent logs in to the general queue.
    agents.push(agent(&admin, "gen", &["general"], &tx));
    drop(tx);

    let mut transcripts: BTreeMap<String, Transcript> = BTreeMap::new();
    for (id, task) in calls {
        transcripts.insert(id, task.await.unwrap().unwrap());
    }
    let mut answered = Vec::new();
    while answered.len() < 5 {
        let a = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("every waiting caller was offered")
            .expect("agents still running");
        answered.push(a);
    }
    for (stop, task) in agents {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }

    // The general agent took the fraud caller first, then the others in arrival order.
    let general: Vec<(&str, &str)> = answered
        .iter()
        .filter(|a| a.agent == "gen1")
        .map(|a| (a.call.as_str(), a.class.as_str()))
        .collect();
    assert_eq!(
        general,
        [
            ("CA-fraud", "emergency"),
            ("CA-general-1", "normal"),
            ("CA-general-2", "normal"),
        ],
        "{answered:#?}"
    );
    let mut other: Vec<&str> = answered
        .iter()
        .filter(|a| a.agent == "mw1")
        .map(|a| a.call.as_str())
        .collect();
    other.sort_unstable();
    assert_eq!(other, ["CA-merchant", "CA-wealth"], "{answered:#?}");
    for (id, t) in &transcripts {
        let agent = answered.iter().find(|a| a.call == *id).unwrap();
        // The queue accepted each of them, and the gateway heard which queue and class.
        assert_eq!(
            t.queued(),
            Some((agent.queue.as_str(), agent.class.as_str())),
            "{id}: {t}"
        );
        assert_eq!(
            t.transfer(),
            Some(format!("sip:{}@agents.sim.invalid", agent.agent).as_str()),
            "{id}: {t}"
        );
    }

    // Everything is back to zero on /metrics, and the counters add up.
    let m = scrape(&e).await;
    assert_eq!(m.sum("ivr_calls_active", &[]), 0.0);
    assert_eq!(m.sum("ivr_calls_in_node", &[]), 0.0);
    assert_eq!(m.sum("ivr_queue_depth", &[]), 0.0);
    assert_eq!(
        m.get(
            "ivr_calls_total",
            &[("line", "hotline-95017"), ("outcome", "agent")]
        ),
        Some(3.0)
    );
    assert_eq!(
        m.get(
            "ivr_calls_total",
            &[("line", "hotline-95017"), ("outcome", "caller_hung_up")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "ivr_calls_total",
            &[("line", "none"), ("outcome", "not_in_service")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "ivr_queue_left_total",
            &[
                ("queue", "general"),
                ("class", "normal"),
                ("result", "answered")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        m.get(
            "ivr_queue_wait_seconds_count",
            &[("queue", "general"), ("class", "emergency")]
        ),
        Some(1.0)
    );
    assert!(m.sum("ivr_node_entries_total", &[("flow", "hotline-95017")]) >= 10.0);

    let (_, flows) = e.http("GET", "/api/flows", "").await;
    let version: serde_json::Value = serde_json::from_str(&flows).unwrap();
    e.shutdown().await;

    // Exactly one complete record per call, saying what happened.
    let records = cdr::list(&db, 100).unwrap();
    let rows = by_id(&records);
    assert_eq!(records.len(), 7, "{records:#?}");
    assert_eq!(rows.len(), 7, "one row per call id");
    for r in &records {
        assert!(r.ended_at.is_some_and(|end| end >= r.started_at), "{r:?}");
        assert_eq!(
            r.caller.as_deref(),
            Some(mask_number("+8613800000000").as_str())
        );
        assert!(!r.caller.as_deref().unwrap().contains("13800000000"));
    }
    let fraud = rows["CA-fraud"];
    let first = rows["CA-general-1"];
    for (id, line, queue, class) in [
        ("CA-fraud", "hotline-95017", "general", "emergency"),
        ("CA-general-1", "hotline-95017", "general", "normal"),
        ("CA-general-2", "hotline-95017", "general", "normal"),
        (
            "CA-merchant",
            "merchant-0755-83765566",
            "merchant-general",
            "normal",
        ),
        ("CA-wealth", "wealth-400-670-0700", "wealth", "normal"),
    ] {
        let r = rows[id];
        let agent = answered.iter().find(|a| a.call == id).unwrap();
        assert_eq!(r.line, line, "{r:?}");
        assert_eq!(r.queue.as_deref(), Some(queue), "{r:?}");
        assert_eq!(r.priority.as_deref(), Some(class), "{r:?}");
        assert_eq!(r.agent.as_deref(), Some(agent.agent.as_str()), "{r:?}");
        assert_eq!(r.outcome.as_deref(), Some("agent"), "{r:?}");
        assert_eq!(r.ended_by.as_deref(), Some("engine"), "{r:?}");
        assert!(r.wait_ms.is_some_and(|w| w > 0), "{r:?}");
        assert!(!r.path.is_empty(), "{r:?}");
        assert!(!r.flow_version.is_empty());
    }
    assert_eq!(fraud.path.first().map(String::as_str), Some("welcome"));
    assert!(
        fraud.wait_ms < first.wait_ms,
        "the fraud caller came later and waited less: {fraud:?} {first:?}"
    );
    assert_eq!(
        rows["CA-merchant"]
            .inputs
            .get("merchant_id")
            .map(String::as_str),
        Some("523000011"),
        "{:?}",
        rows["CA-merchant"]
    );
    assert_eq!(
        rows["CA-merchant"].inputs.get("tier").map(String::as_str),
        Some("individual"),
        "a value the flow looked up (table-merchants.yaml) is recorded too: {:?}",
        rows["CA-merchant"]
    );
    let quitter = rows["CA-quitter"];
    assert_eq!(quitter.outcome.as_deref(), Some("caller_hung_up"));
    assert_eq!(quitter.ended_by.as_deref(), Some("caller"));
    assert_eq!(quitter.queue, None);
    let stranger = rows["CA-stranger"];
    assert_eq!(stranger.line, "none");
    assert_eq!(stranger.outcome.as_deref(), Some("not_in_service"));
    assert!(version["version"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_api_walks_an_agent_through_its_states_and_refuses_what_it_cannot_do() {
    let e = common::test_line(|_| {}).await;
    let state = |body: &str| -> String {
        let agents: serde_json::Value = serde_json::from_str(body).unwrap();
        let me = agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "a1")
            .cloned()
            .unwrap_or_default();
        me["state"].as_str().unwrap_or("").to_owned()
    };
    let (status, body) = e
        .http(
            "POST",
            "/api/agents/a1/login",
            r#"{"queues": ["general"], "sip": "sip:a1@pbx.invalid"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = e
        .http("POST", "/api/agents/a1/not-ready", r#"{"reason": "lunch"}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        state(&e.http("GET", "/api/agents", "").await.1),
        "not_ready"
    );
    let (status, _) = e.http("POST", "/api/agents/a1/ready", "").await;
    assert_eq!(status, 200);
    assert_eq!(state(&e.http("GET", "/api/agents", "").await.1), "ready");
    // Nothing to wrap up, no such offer, no such action, a body that is not the API's.
    let (status, body) = e.http("POST", "/api/agents/a1/wrap-up-done", "").await;
    assert_eq!(status, 409, "a ready agent has nothing to wrap up: {body}");
    let (status, body) = e
        .http("POST", "/api/agents/a1/offers/CA-none/accept", "")
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = e.http("POST", "/api/agents/a1/dance", "").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = e
        .http("POST", "/api/agents/a1/not-ready", r#"{"why": "x"}"#)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = e.http("POST", "/api/agents/nobody/ready", "").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = e.http("POST", "/api/agents/a1/logout", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        state(&e.http("GET", "/api/agents", "").await.1),
        "logged_out"
    );
    e.shutdown().await;
}
