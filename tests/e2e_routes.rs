//! Every route of the three shipped lines, reached by a simulated caller over real loopback
//! sockets: the shipped flows and prompts, the caller simulator as the gateway. Each route is
//! dialled once with in-band tones and once with gateway digit events, all calls at once.
//! Lines whose hours matter are served from a copy of the shipped flows whose calendar is
//! swapped for one that is open, closed or on holiday at any hour of the test run.
//!
//! Real-time audio: the longest route (fraud, with its 24 s notice nobody may cut short) sets
//! the pace; the calls run concurrently. Menu timeouts of the long menus are left to the flow
//! tests (`ivr test flows/`), which run them on a virtual clock.

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Engine;
use futures_util::future::join_all;
use ivr::gateway::dialect::DialectKind;
use ivr::sim::{self, DialOptions, DtmfMode, Heard, Left, Transcript};

/// How a route must end.
#[derive(Clone, Copy, Debug)]
enum Ends {
    /// In this queue and priority class.
    Queued(&'static str, &'static str),
    /// Hung up by the engine after these prompts, in this order, at the end of what was heard.
    HungUp(&'static [&'static str]),
}

struct Route {
    name: &'static str,
    number: &'static str,
    welcome: &'static str,
    script: &'static str,
    ends: Ends,
    /// Prompts that must have started along the way.
    via: &'static [&'static str],
}

const fn route(
    name: &'static str,
    number: &'static str,
    script: &'static str,
    ends: Ends,
    via: &'static [&'static str],
) -> Route {
    let welcome = match number.as_bytes()[0] {
        b'9' => "welcome_95017",
        b'0' => "welcome_merchant",
        _ => "welcome_wealth",
    };
    Route {
        name,
        number,
        welcome,
        script,
        ends,
        via,
    }
}

const L95017: &str = "95017";
const MERCHANT: &str = "0755-83765566";
const WEALTH: &str = "400-670-0700";

fn script_of(r: &Route) -> String {
    match r.ends {
        // Hang up as soon as the queue took the call: what follows is music on hold.
        Ends::Queued(..) => format!("{} after:queued hangup", r.script),
        Ends::HungUp(_) => r.script.to_owned(),
    }
}

async fn call(engine: &Engine, r: &Route, dtmf: DtmfMode) -> (String, Transcript) {
    let mut o = engine.dial(r.number, &script_of(r));
    o.dtmf = dtmf;
    let t = sim::dial(o).await.unwrap();
    (format!("{} ({dtmf:?})", r.name), t)
}

fn check(r: &Route, what: &str, t: &Transcript) {
    let ctx = format!("route {what}:\n{t}");
    assert_eq!(
        t.started().first().copied(),
        Some(r.welcome),
        "greeting, {ctx}"
    );
    for p in r.via {
        let played = t
            .started()
            .iter()
            .any(|l| *l == *p || l.split('+').any(|x| x == *p));
        assert!(played, "{p} not played, {ctx}");
    }
    match r.ends {
        Ends::Queued(queue, class) => {
            assert_eq!(t.queued(), Some((queue, class)), "queue, {ctx}");
            assert_eq!(t.left.1, Left::CallerHungUp, "{ctx}");
        }
        Ends::HungUp(last) => {
            assert_eq!(t.queued(), None, "{ctx}");
            let heard = t.prompts();
            assert!(
                heard.ends_with(last) || heard.last().copied() == Some(&last.join("+")),
                "last prompts {last:?}, {ctx}"
            );
            assert!(
                matches!(t.left.1, Left::EngineClosed { code: 1000, .. }),
                "the engine hangs up, {ctx}"
            );
        }
    }
}

/// Runs every route on `engine` with tones and with events, concurrently, and checks them.
async fn run_routes(engine: &Engine, routes: &[Route]) {
    let calls = routes.iter().flat_map(|r| {
        [DtmfMode::InBand, DtmfMode::Event]
            .into_iter()
            .map(move |m| async move { (r, call(engine, r, m).await) })
    });
    for (r, (what, t)) in join_all(calls).await {
        check(r, &what, &t);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialling_95017_and_keying_1_1_1_reaches_the_emergency_class_of_the_general_queue() {
    // The headline demo, as `ivr serve` + `ivr dial 95017 --keys "1 1 1"` run it (hanging up
    // once queued rather than after the CLI's linger): 1 Mandarin, 1 account security,
    // 1 fraud.
    let engine = common::shipped().await;
    let mut o = DialOptions::new(engine.url.clone(), "95017");
    o.steps = sim::parse_keys("1 1 1 after:queued hangup").unwrap();
    let t = sim::dial(o).await.unwrap();
    println!("{t}");
    let welcome = t.events.iter().find_map(|(_, h)| match h {
        Heard::Prompt { label, duration } if label == "welcome_95017" => Some(*duration),
        _ => None,
    });
    // The Mandarin recording of the greeting lasts 4.97 s, the English one 3.17 s.
    let welcome = welcome.expect("the greeting played to its end");
    assert!(
        welcome > Duration::from_millis(4700) && welcome < Duration::from_millis(5300),
        "Mandarin greeting heard whole: {welcome:?}"
    );
    assert_eq!(
        t.started(),
        [
            "welcome_95017",
            "choose_language",
            "menu_95017_main",
            "menu_95017_security",
            "fraud_freeze_registered+fraud_evidence_needed",
            "emergency_connecting",
        ][..],
        "{t}"
    );
    assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_95017_route_is_reached_with_tones_with_digit_events_and_through_asterisk() {
    use Ends::Queued;
    let engine = common::shipped().await;
    let routes = [
        route(
            "fraud",
            L95017,
            "1 1 1",
            Queued("general", "emergency"),
            &["fraud_freeze_registered+fraud_evidence_needed"],
        ),
        route(
            "frozen funds",
            L95017,
            "1 1 2",
            Queued("general", "emergency"),
            &["menu_95017_security"],
        ),
        route(
            "account security",
            L95017,
            "1 1 3",
            Queued("general", "emergency"),
            &["emergency_connecting"],
        ),
        route(
            "security by 0",
            L95017,
            "1 1 0",
            Queued("general", "emergency"),
            &[],
        ),
        route(
            "back to main, payments",
            L95017,
            "1 1 # 2",
            Queued("general", "normal"),
            &["transfer_to_agent"],
        ),
        route(
            "payments",
            L95017,
            "1 2",
            Queued("general", "normal"),
            &["transfer_to_agent"],
        ),
        route("complaint", L95017, "1 3", Queued("general", "normal"), &[]),
        route("agent", L95017, "1 0", Queued("general", "normal"), &[]),
        route(
            "repeat, then complaint",
            L95017,
            "1 * 3",
            Queued("general", "normal"),
            &[],
        ),
        route(
            "three wrong keys",
            L95017,
            "1 9 8 7",
            Queued("general", "normal"),
            &["invalid_choice"],
        ),
        route(
            "language by silence",
            L95017,
            "after:playing:menu_95017_main 2",
            Queued("general", "normal"),
            &[],
        ),
        route(
            "english emergency",
            L95017,
            "2 1 2",
            Queued("general", "emergency"),
            &[],
        ),
        route(
            "english agent",
            L95017,
            "2 0",
            Queued("general", "normal"),
            &[],
        ),
    ];
    // The same route through Asterisk chan_websocket, μ-law and A-law.
    let asterisk = [false, true].map(|alaw| {
        let mut o = engine.dial(L95017, "1 1 2 after:queued hangup");
        o.dialect = DialectKind::Asterisk;
        o.alaw = alaw;
        o.call_id = format!("pbx1-{}.{}", u8::from(alaw), std::process::id());
        sim::dial(o)
    });
    let (_, asterisk) = tokio::join!(run_routes(&engine, &routes), join_all(asterisk));
    for t in asterisk {
        let t = t.unwrap();
        assert_eq!(t.started().first().copied(), Some("welcome_95017"), "{t}");
        assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
    }
    engine.shutdown().await;
}

/// A shipped queue file changed to let callers wait while no agent is logged in.
fn waiting_without_agents(file: &str) -> String {
    let text = std::fs::read_to_string(common::repo().join("flows").join(file)).unwrap();
    assert!(
        text.contains("join_without_agents: false"),
        "{file}: {text}"
    );
    text.replace("join_without_agents: false", "join_without_agents: true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_merchant_and_wealth_route_is_reached_with_tones_and_with_digit_events() {
    use Ends::{HungUp, Queued};
    // Open hours, and queues that take callers while no agent is logged in (shipped, they
    // refuse them): these routes end with the caller waiting in the queue.
    let mut open = vec![
        ("calendar-merchant.yaml", common::calendar_open("merchant")),
        ("calendar-wealth.yaml", common::calendar_open("wealth")),
    ];
    for queue in [
        "queue-merchant-chain.yaml",
        "queue-merchant-crossborder.yaml",
        "queue-merchant-general.yaml",
        "queue-wealth.yaml",
    ] {
        open.push((queue, waiting_without_agents(queue)));
    }
    let closed = [
        (
            "calendar-merchant.yaml",
            common::calendar_closed("merchant"),
        ),
        ("calendar-wealth.yaml", common::calendar_closed("wealth")),
    ];
    let holiday = [
        (
            "calendar-merchant.yaml",
            common::calendar_holiday("merchant"),
        ),
        ("calendar-wealth.yaml", common::calendar_holiday("wealth")),
    ];
    let (open, closed, holiday, outage) = tokio::join!(
        common::shipped_with(&open),
        common::shipped_with(&closed),
        common::shipped_with(&holiday),
        common::shipped_with(&open),
    );
    let (status, _) = outage.http("PUT", "/api/flags/platform_outage", "").await;
    assert_eq!(status, 204);

    let open_routes = [
        route(
            "chain, api failure",
            MERCHANT,
            "1 18600001# 1",
            Queued("merchant-chain", "urgent"),
            &["ask_merchant_id"],
        ),
        route(
            "chain, fees",
            MERCHANT,
            "1 18600002# 3",
            Queued("merchant-chain", "normal"),
            &[],
        ),
        route(
            "cross-border, settlement",
            MERCHANT,
            "1 3600000101# 2",
            Queued("merchant-crossborder", "urgent"),
            &[],
        ),
        route(
            "cross-border, other",
            MERCHANT,
            "1 3600000102# 0",
            Queued("merchant-crossborder", "normal"),
            &[],
        ),
        route(
            "individual, api failure",
            MERCHANT,
            "1 523000011# 1",
            Queued("merchant-general", "urgent"),
            &[],
        ),
        route(
            "individual, fees",
            MERCHANT,
            "1 523000011# 3",
            Queued("merchant-general", "normal"),
            &[],
        ),
        route(
            "english chain caller",
            MERCHANT,
            "2 18600001# 3",
            Queued("merchant-crossborder", "normal"),
            &[],
        ),
        route(
            "id not found twice",
            MERCHANT,
            "1 99999999# 99999998# 3",
            Queued("merchant-general", "normal"),
            &["merchant_id_not_found", "merchant_id_unverified"],
        ),
        route(
            "malformed ids",
            MERCHANT,
            "1 0123# 0123# 0123# 1",
            Queued("merchant-general", "urgent"),
            &["merchant_id_unverified"],
        ),
        route(
            "wealth change fund",
            WEALTH,
            "1 1",
            Queued("wealth", "normal"),
            &["menu_wealth"],
        ),
        route(
            "wealth earnings dispute",
            WEALTH,
            "1 2",
            Queued("wealth", "priority"),
            &[],
        ),
        route(
            "wealth redemption",
            WEALTH,
            "1 3",
            Queued("wealth", "priority"),
            &[],
        ),
        route(
            "wealth agent",
            WEALTH,
            "1 0",
            Queued("wealth", "normal"),
            &[],
        ),
        route(
            "wealth three wrong keys",
            WEALTH,
            "1 9 8 7",
            Queued("wealth", "normal"),
            &[],
        ),
        route(
            "wealth english dispute",
            WEALTH,
            "2 2",
            Queued("wealth", "priority"),
            &[],
        ),
        route(
            "wealth english question",
            WEALTH,
            "2 1",
            Queued("wealth", "normal"),
            &[],
        ),
    ];
    let closed_routes = [
        route(
            "individual after hours",
            MERCHANT,
            "1 523000011#",
            HungUp(&["merchant_hours+merchant_ticket_24h+goodbye"]),
            &[],
        ),
        route(
            "chain after hours",
            MERCHANT,
            "1 18600001#",
            HungUp(&["merchant_hours+goodbye"]),
            &[],
        ),
        route(
            "wealth after hours",
            WEALTH,
            "1",
            HungUp(&["wealth_hours+goodbye"]),
            &[],
        ),
    ];
    let holiday_routes = [
        route(
            "merchant holiday",
            MERCHANT,
            "1 18600001#",
            HungUp(&["merchant_holiday", "merchant_hours+goodbye"]),
            &[],
        ),
        route(
            "wealth holiday",
            WEALTH,
            "1",
            HungUp(&["wealth_hours+goodbye"]),
            &[],
        ),
    ];
    let outage_routes = [route(
        "platform outage",
        MERCHANT,
        "1 18600001# 1",
        Queued("merchant-chain", "urgent"),
        &["merchant_outage_notice"],
    )];
    // One press sent both as a tone and as an event counts once: a doubled digit would make
    // the merchant id too long and the caller unverified.
    let both = async {
        let mut o = open.dial(MERCHANT, "1 18600001# 1 after:queued hangup");
        o.dtmf = DtmfMode::Both;
        sim::dial(o).await.unwrap()
    };
    let (_, _, _, _, both) = tokio::join!(
        run_routes(&open, &open_routes),
        run_routes(&closed, &closed_routes),
        run_routes(&holiday, &holiday_routes),
        run_routes(&outage, &outage_routes),
        both,
    );
    assert_eq!(both.queued(), Some(("merchant-chain", "urgent")), "{both}");
    assert!(
        open.counter("ivr_dtmf_duplicates_total", &[]) >= 11,
        "every key of the tone-and-event call was reported twice and counted once"
    );
    for e in [open, closed, holiday, outage] {
        e.shutdown().await;
    }
}
