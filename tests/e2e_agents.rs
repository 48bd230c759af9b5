//! The queue routes that need agents, end to end over loopback: the shipped 95017 line with a
//! general queue nobody is logged in to (the flow's `no_agents` outcome), and calls answered by
//! simulated agents (the library behind `ivr agents`) logged in over the admin listener, which
//! leave the engine for the agent's SIP address. Both ask the decision endpoint the Asterisk
//! dialplan asks, `GET /api/calls/{id}/next`, where the call went.

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ivr::gateway::dialect::DialectKind;
use ivr::sim::agents::{self, AgentsOptions, Answered};
use ivr::sim::{self, Left, Transcript};
use tokio::sync::{mpsc, oneshot};

/// The shipped general queue, except that callers may not wait while no agent is logged in.
fn general_queue_needing_agents() -> String {
    let text = std::fs::read_to_string(common::repo().join("flows/queue-general.yaml")).unwrap();
    assert!(text.contains("join_without_agents: true"), "{text}");
    text.replace("join_without_agents: true", "join_without_agents: false")
}

/// What the decision endpoint says about `call`.
async fn next_of(e: &common::Engine, call: &str) -> (u16, String) {
    e.http("GET", &format!("/api/calls/{call}/next"), "").await
}

fn engine_hung_up(t: &Transcript) -> bool {
    matches!(
        t.left.1,
        Left::EngineHungUp | Left::EngineClosed { code: 1000, .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_agent_logged_in_callers_take_the_no_agents_route_of_their_lane() {
    let records = tempfile::tempdir().unwrap();
    let db = records.path().join("calls.sqlite");
    let e = common::shipped_configured(
        &[("queue-general.yaml", general_queue_needing_agents())],
        |c, _| c.cdr_path = Some(db.clone()),
    )
    .await;
    // Payments goes through the shared hand-over (normal class): `unavailable`, agents busy.
    // Frozen funds is the emergency lane: its own no-agents message.
    let routes = [
        ("1 2", "agents_busy+goodbye", "transfer_to_agent"),
        (
            "1 1 2",
            "emergency_unserved+goodbye",
            "emergency_connecting",
        ),
    ];
    let calls = routes.map(|(keys, _, _)| {
        let mut o = e.dial("95017", keys);
        o.linger = Duration::from_secs(20);
        let id = o.call_id.clone();
        async move { (id, sim::dial(o).await.unwrap()) }
    });
    let results = futures_util::future::join_all(calls).await;
    for ((id, t), (keys, last, join_prompt)) in results.iter().zip(routes) {
        println!("{keys}:\n{t}");
        assert_eq!(
            t.started().first().copied(),
            Some("welcome_95017"),
            "{keys}: {t}"
        );
        assert!(t.started().contains(&join_prompt), "{keys}: {t}");
        assert_eq!(t.prompts().last().copied(), Some(last), "{keys}: {t}");
        assert!(engine_hung_up(t), "{keys}: the engine hangs up: {t}");
        assert_eq!(t.transfer(), None, "{keys}: {t}");
        // The queue refused them, so the gateway was never told they were queued.
        assert_eq!(t.queued(), None, "{keys}: {t}");
        assert_eq!(t.refused(), Some("no_agents"), "{keys}: {t}");
        assert_eq!(next_of(&e, id).await, (200, "HANGUP".to_owned()), "{keys}");
    }
    e.shutdown().await;
    // The queue refused them: their records name no queue, no class and no wait.
    for (id, _) in &results {
        let r = ivr::cdr::find(&db, id).unwrap().unwrap();
        assert_eq!((r.queue, r.priority, r.wait_ms), (None, None, None), "{id}");
        assert_eq!(r.outcome.as_deref(), Some("self_service"), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_an_agent_answers_is_transferred_to_the_agent_s_sip_address() {
    let e = common::shipped().await;
    let mut opts = AgentsOptions::new(format!("http://{}", e.admin), 2);
    opts.prefix = "desk".into();
    opts.queues = vec!["general".into()];
    opts.answer_after = Duration::from_millis(300);
    opts.talk = Duration::from_secs(60);
    let (answered_tx, mut answered_rx) = mpsc::unbounded_channel::<Answered>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let desk = tokio::spawn(agents::run(opts, answered_tx, async {
        let _ = stop_rx.await;
    }));
    // Both agents are logged in and ready before any caller reaches the queue.
    let ready = async {
        loop {
            let (status, body) = e.http("GET", "/api/agents", "").await;
            if status == 200 && body.matches("\"ready\"").count() >= 2 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let roster = tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("two simulated agents ready");
    assert!(
        roster.contains("desk1") && roster.contains("desk2"),
        "{roster}"
    );

    // One caller through Twilio, one through Asterisk; each presses 1 (Mandarin), 2 (payments).
    let twilio = e.dial("95017", "1 2");
    let mut asterisk = e.dial("95017", "1 2");
    asterisk.dialect = DialectKind::Asterisk;
    asterisk.call_id = format!("pbx1-agent.{}", std::process::id());
    let ids = [twilio.call_id.clone(), asterisk.call_id.clone()];
    let (twilio, asterisk) = tokio::join!(sim::dial(twilio), sim::dial(asterisk));
    let transcripts = [twilio.unwrap(), asterisk.unwrap()];
    let _ = stop_tx.send(());
    desk.await.unwrap().unwrap();

    let mut answered = Vec::new();
    while let Ok(a) = answered_rx.try_recv() {
        answered.push(a);
    }
    assert_eq!(answered.len(), 2, "{answered:?}");
    for (id, t) in ids.iter().zip(&transcripts) {
        println!("{id}:\n{t}");
        let a = answered
            .iter()
            .find(|a| a.call == *id)
            .unwrap_or_else(|| panic!("no agent took {id}: {answered:?}"));
        assert_eq!((a.queue.as_str(), a.class.as_str()), ("general", "normal"));
        assert_eq!(t.queued(), Some(("general", "normal")), "{t}");
        // The simulated agents log in with `sip:<id>@agents.sim.invalid`.
        let target = format!("sip:{}@agents.sim.invalid", a.agent);
        assert_eq!(t.transfer(), Some(target.as_str()), "{t}");
        assert!(engine_hung_up(t), "the engine let go of the call: {t}");
        assert_eq!(next_of(&e, id).await, (200, format!("TRANSFER {target}")));
    }
    // Twilio has no in-band transfer: the engine closes the stream normally (the
    // `<Connect action>` webhook then asks where to go); Asterisk is told to hang up and its
    // dialplan asks `/next`.
    assert!(
        matches!(transcripts[0].left.1, Left::EngineClosed { code: 1000, .. }),
        "{}",
        transcripts[0]
    );
    assert_eq!(
        transcripts[1].left.1,
        Left::EngineHungUp,
        "{}",
        transcripts[1]
    );
    assert_eq!(
        e.counter(
            "ivr_calls_total",
            &[("line", "hotline-95017"), ("outcome", "agent")]
        ),
        2
    );
    e.shutdown().await;
}
