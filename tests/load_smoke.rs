//! Smoke tests of the load generator against in-process engines (the shared fixtures of
//! `tests/common`) over real sockets: a handful of calls on the synthetic test line and at the
//! bare baseline, checking that the reports are complete and consistent; the three shipped
//! hotlines driven into their queues and answered by simulated agents, with redial; and the
//! same scripts against lines whose calendars are closed. Timing figures are printed, never
//! asserted (they belong in benchmarks).

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ivr::load::{self, LineSpec, LoadOptions, Report};
use ivr::sim::agents::AgentsOptions;

const CALLS: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(url: String, metrics: Option<String>) -> LoadOptions {
    let mut o = LoadOptions::new(url, CALLS);
    o.duration = Duration::from_secs(3);
    o.settle = Duration::from_millis(500);
    o.connect_rate = 20.0;
    o.lines = vec![LineSpec::new(
        "95017",
        load::parse_script("next wait:500ms 1").unwrap(),
    )];
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
    assert_eq!(r.dialled, CALLS as u64, "one dial per call, no redial");
    assert_eq!(r.lines.len(), 1);
    assert!(r.agents.is_none());
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
    let rt = runtime();
    let (engine, baseline_url) = rt.block_on(async {
        let engine = common::test_line(|_| {}).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let baseline_url = format!("ws://{}/twilio", listener.local_addr().unwrap());
        tokio::spawn(load::baseline::serve(listener, Duration::from_millis(20)));
        (engine, baseline_url)
    });
    let engine_url = format!("{}/twilio", engine.url);
    let metrics_url = format!("http://{}/metrics", engine.admin);

    let report = load::run(&options(engine_url, Some(metrics_url))).unwrap();
    assert_sane(&report);
    assert_eq!(report.queued, CALLS as u64, "key 1 queues every call");
    assert_eq!(
        report.answered, CALLS as u64,
        "every key is answered by the next prompt"
    );
    assert_eq!(
        (report.transferred, report.refused, report.closed),
        (0, 0, 0),
        "queued calls wait: nobody answers, nobody refuses"
    );

    let baseline = load::run(&options(baseline_url, None)).unwrap();
    assert_sane(&baseline);
    assert_eq!(
        baseline.answered, CALLS as u64,
        "the baseline answers every key"
    );
    assert!(baseline.frame_handling.is_none());
    rt.block_on(engine.shutdown());
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The three hotlines' calls, one per line, for `window` after connecting.
fn hotline_options(engine: &common::Engine, window: Duration) -> LoadOptions {
    let mut o = LoadOptions::new(format!("{}/twilio", engine.url), 3);
    o.lines = load::preset("hotlines").unwrap();
    o.duration = window;
    o.settle = Duration::from_millis(500);
    o.connect_rate = 20.0;
    o.server_pid = Some(std::process::id());
    o.metrics_url = Some(format!("http://{}/metrics", engine.admin));
    o
}

#[test]
fn hotline_calls_reach_their_queues_and_agents_take_them_and_callers_redial() {
    let rt = runtime();
    // Open around the clock, so the run does not depend on the hour.
    let engine = rt.block_on(common::shipped_with(&[
        ("calendar-merchant.yaml", common::calendar_open("merchant")),
        ("calendar-wealth.yaml", common::calendar_open("wealth")),
    ]));
    // Every line reaches its queue 7-9 s after connecting (a welcome of 5-6 s that takes no
    // keys, then a few keys); two agents take the three calls within a second of each other
    // and the callers dial again.
    let mut o = hotline_options(&engine, Duration::from_secs(16));
    let mut agents = AgentsOptions::new(format!("http://{}", engine.admin), 2);
    agents.prefix = "load".into();
    agents.answer_after = Duration::from_millis(200);
    agents.talk = Duration::from_millis(500);
    o.agents = Some(agents);
    o.redial_after = Some(Duration::from_millis(200));

    let r = load::run(&o).unwrap();
    println!("{r}");
    assert_eq!(r.connected, 3);
    assert_eq!((r.errors, r.early_hangups, r.connect_failures), (0, 0, 0));
    let numbers: Vec<&str> = r.lines.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(numbers, ["95017", "075583765566", "4006700700"]);
    for l in &r.lines {
        assert!(l.queued >= 1, "{}: queued {l:?}", l.number);
        assert!(l.transferred >= 1, "{}: transferred {l:?}", l.number);
        assert!(l.redials >= 1, "{}: dialled again {l:?}", l.number);
        assert_eq!(l.dialled, 1 + l.redials, "{}: {l:?}", l.number);
        assert_eq!((l.refused, l.closed), (0, 0), "{}: {l:?}", l.number);
        assert_eq!(
            l.queue_waits.count() as u64,
            l.transferred,
            "{}: a wait per transferred call",
            l.number
        );
    }
    assert_eq!(r.dialled, 3 + r.redials);
    assert_eq!(
        r.transferred,
        r.lines.iter().map(|l| l.transferred).sum::<u64>()
    );
    assert!(r.entry_keys >= 8, "the merchant id was keyed");
    assert_eq!(r.answered + r.unanswered, r.presses);
    let desk = r.agents.as_ref().expect("agents ran");
    assert_eq!(desk.count, 2);
    assert_eq!(desk.error, None);
    assert!(desk.took >= r.transferred, "{desk:?}");
    let text = r.to_string();
    assert!(
        text.contains("queues") && text.contains("075583765566"),
        "{text}"
    );
    // The agents logged out at the end.
    let (_, roster) = rt.block_on(engine.http("GET", "/api/agents", ""));
    let roster: serde_json::Value = serde_json::from_str(&roster).unwrap();
    for a in roster.as_array().unwrap() {
        if a["id"].as_str().is_some_and(|id| id.starts_with("load")) {
            assert_eq!(a["state"], "logged_out", "{a}");
        }
    }
    assert_eq!(
        engine.counter(
            "ivr_calls_total",
            &[("line", "merchant-0755-83765566"), ("outcome", "agent")]
        ),
        r.lines[1].transferred
    );
    rt.block_on(engine.shutdown());
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn hotline_calls_to_closed_lines_count_as_closed_not_as_errors() {
    let rt = runtime();
    let engine = rt.block_on(common::shipped_with(&[
        (
            "calendar-merchant.yaml",
            common::calendar_closed("merchant"),
        ),
        ("calendar-wealth.yaml", common::calendar_closed("wealth")),
    ]));
    let r = load::run(&hotline_options(&engine, Duration::from_secs(14))).unwrap();
    println!("{r}");
    assert_eq!((r.errors, r.early_hangups, r.connect_failures), (0, 0, 0));
    let [hotline, merchant, wealth] = &r.lines[..] else {
        panic!("three lines: {:?}", r.lines);
    };
    assert_eq!((hotline.queued, hotline.closed), (1, 0), "{hotline:?}");
    assert_eq!((merchant.queued, merchant.closed), (0, 1), "{merchant:?}");
    assert_eq!((wealth.queued, wealth.closed), (0, 1), "{wealth:?}");
    assert_eq!(r.closed, 2);
    assert_eq!(
        r.unanswered, 0,
        "a closed line's script stops pressing keys"
    );
    rt.block_on(engine.shutdown());
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn hotline_callers_a_queue_turns_away_count_as_refused_not_as_early_hang_ups() {
    let rt = runtime();
    // Open lines and no agent logged in: the merchant and wealth queues take nobody (their
    // files say `join_without_agents: false`), so those callers hear the busy prompt and are
    // hung up; 95017's general queue keeps its callers waiting.
    let engine = rt.block_on(common::shipped_with(&[
        ("calendar-merchant.yaml", common::calendar_open("merchant")),
        ("calendar-wealth.yaml", common::calendar_open("wealth")),
    ]));
    let r = load::run(&hotline_options(&engine, Duration::from_secs(14))).unwrap();
    println!("{r}");
    assert_eq!((r.errors, r.early_hangups, r.connect_failures), (0, 0, 0));
    let [hotline, merchant, wealth] = &r.lines[..] else {
        panic!("three lines: {:?}", r.lines);
    };
    assert_eq!((hotline.queued, hotline.refused), (1, 0), "{hotline:?}");
    assert_eq!((merchant.queued, merchant.refused), (0, 1), "{merchant:?}");
    assert_eq!((wealth.queued, wealth.refused), (0, 1), "{wealth:?}");
    assert_eq!((r.refused, r.transferred, r.closed), (2, 0, 0));
    rt.block_on(engine.shutdown());
    rt.shutdown_timeout(Duration::from_secs(1));
}
