//! Gateway protocol behaviour end to end over loopback sockets, on a small synthetic line with
//! short prompts (see `common::LINE`): barge-in, hang-up in mid-prompt, a second socket for a
//! running call, every kind of malformed input, upgrade authentication, and a gateway that
//! stops reading. Each malformed or hostile call ends alone while a normal call on the same
//! server carries on.

// Test fixtures: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use futures_util::future::join_all;
use futures_util::{SinkExt as _, StreamExt as _};
use ivr::gateway::auth::twilio_signature;
use ivr::gateway::dialect::DialectKind;
use ivr::sim::{self, DialOptions, Heard, Left, Step, Transcript};
use ivr::telemetry::ProtocolErrorKind;
use tokio_tungstenite::tungstenite::Message;

/// The script of a normal caller: the emergency key during the menu, hang up once queued.
const GOOD: &str = "1 after:queued hangup";

fn assert_good(t: &Transcript) {
    assert_eq!(t.started().first().copied(), Some("welcome"), "{t}");
    assert_eq!(t.queued(), Some(("general", "emergency")), "{t}");
    assert_eq!(t.left.1, Left::CallerHungUp, "{t}");
}

fn start_json(call_sid: &str) -> String {
    serde_json::json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": call_sid,
                  "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                  "customParameters": {"To": "95017", "From": "+8613800000000"}}
    })
    .to_string()
}

fn closed_with(t: &Transcript, code: u16, reason: &str) {
    match &t.left.1 {
        Left::EngineClosed { code: c, reason: r } => {
            assert_eq!((*c, r.as_str()), (code, reason), "{t}");
        }
        other => panic!("expected a close {code} {reason:?}, got {other:?}\n{t}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_during_a_prompt_clears_the_gateway_and_the_next_prompt_follows_at_once() {
    let e = common::test_line(|_| {}).await;
    let t = sim::dial(e.dial("95017", GOOD)).await.unwrap();
    println!("{t}");
    assert_good(&t);
    let i = t
        .events
        .iter()
        .position(|(_, h)| matches!(h, Heard::Cleared { .. }))
        .expect("a clear");
    let (cleared_at, cleared) = &t.events[i];
    let Heard::Cleared { discarded } = cleared else {
        unreachable!()
    };
    // Audio is sent at most 200 ms ahead, so little is left to discard.
    assert!(*discarded <= Duration::from_millis(220), "{t}");
    // The key came just before; the next prompt (music on hold) follows with nothing of the
    // old prompt in between (only the queue notice).
    assert!(matches!(t.events[i - 1].1, Heard::Pressed(_)), "{t}");
    let (next_at, next) = t.events[i + 1..]
        .iter()
        .find(|(_, h)| !matches!(h, Heard::Queued { .. }))
        .expect("a next prompt");
    assert!(
        matches!(next, Heard::Playing { label, .. } if label == "hold_music"),
        "{t}"
    );
    println!(
        "barge-in: clear {:?} after the key press began, next prompt {:?} after the clear",
        *cleared_at - t.events[i - 1].0,
        *next_at - *cleared_at
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_mid_prompt_ends_the_call_once_and_frees_its_slot() {
    let e = common::test_line(|_| {}).await;
    let t = sim::dial(e.dial("95017", "after:playing:menu_main wait:500ms hangup"))
        .await
        .unwrap();
    assert_eq!(t.left.1, Left::CallerHungUp, "{t}");
    assert!(
        t.prompts().len() == 1,
        "the menu was not heard to its end: {t}"
    );
    // The session notices the hang-up and ends the call exactly once.
    for _ in 0..50 {
        if e.shared.registry.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(e.shared.registry.is_empty());
    assert_eq!(
        e.counter(
            "ivr_calls_total",
            &[("line", "test-line"), ("outcome", "caller_hung_up")]
        ),
        1
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_socket_for_a_running_call_is_refused_and_the_first_carries_on() {
    let e = common::test_line(|_| {}).await;
    let first = e.dial("95017", &format!("wait:1s {GOOD}"));
    let mut second = e.dial("95017", "");
    second.call_id = first.call_id.clone();
    let a = sim::dial(first);
    let b = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim::dial(second).await
    };
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.unwrap(), b.unwrap());
    closed_with(&b, 1008, "duplicate stream for this call");
    assert!(b.started().is_empty(), "the flow never runs twice: {b}");
    assert_good(&a);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_malformed_input_ends_only_its_call_with_a_counted_reason() {
    let e = common::test_line(|c| {
        c.start_timeout = Duration::from_secs(1);
        c.max_message_bytes = 16 * 1024;
    })
    .await;
    let media = |payload: &str| {
        serde_json::json!({"event": "media", "sequenceNumber": "3", "streamSid": "MZ1",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload}})
        .to_string()
    };
    let good_frame = base64::engine::general_purpose::STANDARD.encode([0xffu8; 160]);
    // Asterisk with 16-bit audio: a binary frame of an odd byte count splits a sample.
    let slin_start = serde_json::json!({"event": "MEDIA_START", "connection_id": "conn-slin",
        "channel_id": format!("pbx1-slin.{}", std::process::id()), "format": "slin",
        "optimal_frame_size": 320, "ptime": 20, "channel_variables": {"IVR_TO": "95017"}})
    .to_string();
    // Twilio (or a clone) with 16-bit linear audio: a payload of an odd byte count splits a
    // sample too.
    let l16_start = serde_json::json!({"event": "start", "sequenceNumber": "1",
        "streamSid": "MZl16", "start": {"streamSid": "MZl16",
        "callSid": format!("CA-l16.{}", std::process::id()),
        "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1},
        "customParameters": {"To": "95017"}}})
    .to_string();
    let odd_l16 = base64::engine::general_purpose::STANDARD.encode([0u8; 321]);
    use DialectKind::{Asterisk, Twilio};
    // (what, dialect, steps, send start, expected close reason, counted reason)
    type Case = (
        &'static str,
        DialectKind,
        Vec<Step>,
        bool,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "bad json",
            Twilio,
            vec![Step::SendText("{\"event\": media".into())],
            true,
            "bad_json",
            "bad_json",
        ),
        (
            "bad base64",
            Twilio,
            vec![Step::SendText(media("@@not base64@@"))],
            true,
            "bad_base64",
            "bad_base64",
        ),
        (
            "binary frame",
            Twilio,
            vec![Step::SendBinary(vec![0xff; 160])],
            true,
            "unexpected_binary",
            "unexpected_binary",
        ),
        (
            "oversize",
            Twilio,
            vec![Step::SendText(media(&"A".repeat(20_000)))],
            true,
            "oversize",
            "oversize",
        ),
        (
            "media, never a start",
            Twilio,
            vec![Step::SendText(media(&good_frame))],
            false,
            "no start",
            "start_timeout",
        ),
        (
            "nothing at all",
            Twilio,
            vec![],
            false,
            "no start",
            "start_timeout",
        ),
        (
            "odd-length slin frame",
            Asterisk,
            vec![
                Step::SendText(slin_start),
                Step::Wait(Duration::from_millis(200)),
                Step::SendBinary(vec![0; 321]),
            ],
            false,
            "odd_length",
            "odd_length",
        ),
        (
            "odd-length l16 media payload",
            Twilio,
            vec![
                Step::SendText(l16_start),
                Step::Wait(Duration::from_millis(200)),
                Step::SendText(media(&odd_l16)),
            ],
            false,
            "odd_length",
            "odd_length",
        ),
    ];
    let bad = cases.iter().map(|(what, dialect, steps, start, _, _)| {
        let mut o = e.dial("95017", "");
        o.dialect = *dialect;
        o.steps = steps.clone();
        o.send_start = *start;
        o.linger = Duration::from_secs(4);
        async move { (*what, sim::dial(o).await.unwrap()) }
    });
    let good = sim::dial(e.dial("95017", &format!("wait:1500ms {GOOD}")));
    let (bad, good) = tokio::join!(join_all(bad), good);
    for ((what, t), (_, dialect, _, _, close, counted)) in bad.iter().zip(&cases) {
        closed_with(t, 1008, close);
        assert!(t.queued().is_none(), "{what}: {t}");
        assert!(
            e.counter(
                "ivr_protocol_errors_total",
                &[
                    ("dialect", dialect.name()),
                    ("kind", ProtocolErrorKind::of_reason(counted).label())
                ]
            ) >= 1,
            "{what}: reason {counted} counted"
        );
    }
    assert_good(&good.unwrap());
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_before_start_is_kept_and_the_call_runs_once_start_arrives() {
    let e = common::test_line(|_| {}).await;
    let url = format!("{}/twilio", e.url);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = base64::engine::general_purpose::STANDARD.encode([0xffu8; 160]);
    for n in 0..5 {
        let m = serde_json::json!({"event": "media", "sequenceNumber": (n + 1).to_string(),
            "streamSid": "MZ1", "media": {"track": "inbound", "chunk": (n + 1).to_string(),
            "timestamp": (n * 20).to_string(), "payload": frame}});
        ws.send(Message::text(m.to_string())).await.unwrap();
    }
    ws.send(Message::text(start_json("CAearly"))).await.unwrap();
    // The engine greets: a mark names the prompt it starts.
    let greeted = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m
                && t.contains("ev:play:welcome")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(greeted);
    assert_eq!(
        e.counter("ivr_calls_started_total", &[("dialect", "twilio")]),
        1
    );
    drop(ws);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_with_a_bad_or_missing_twilio_signature_are_refused_before_any_call() {
    let e = common::test_line(|c| {
        c.public_base_url = Some("wss://ivr.example.com".into());
        c.resolve_secrets(|name| (name == "TWILIO_AUTH_TOKEN").then(|| "s3cret".to_owned()));
    })
    .await;
    let with_sig = |sig: Option<String>| {
        let mut o = e.dial("95017", GOOD);
        o.path = Some("/twilio/95017".into());
        if let Some(sig) = sig {
            o.headers.push(("X-Twilio-Signature".into(), sig));
        }
        o
    };
    let right = twilio_signature("s3cret", "wss://ivr.example.com/twilio/95017", &[]);
    let wrong = twilio_signature("guess", "wss://ivr.example.com/twilio/95017", &[]);
    // Signed over https:// instead of the wss:// URL Twilio dialled: refused too.
    let https = twilio_signature("s3cret", "https://ivr.example.com/twilio/95017", &[]);
    let (missing, bad, scheme, good) = tokio::join!(
        sim::dial(with_sig(None)),
        sim::dial(with_sig(Some(wrong))),
        sim::dial(with_sig(Some(https))),
        sim::dial(with_sig(Some(right))),
    );
    assert_eq!(missing.unwrap().left.1, Left::Refused(401));
    assert_eq!(bad.unwrap().left.1, Left::Refused(403));
    assert_eq!(scheme.unwrap().left.1, Left::Refused(403));
    assert_good(&good.unwrap());
    assert_eq!(
        e.counter(
            "ivr_handshakes_rejected_total",
            &[("reason", "bad_signature")]
        ),
        2
    );
    assert_eq!(
        e.counter("ivr_calls_started_total", &[("dialect", "twilio")]),
        1,
        "no call existed for a refused upgrade"
    );
    e.shutdown().await;
}

/// A Twilio client socket with a tiny kernel receive buffer (set before connecting, so the
/// advertised window is small from the first segment).
async fn small_window_client(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let addr: std::net::SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.set_nonblocking(true).unwrap();
    let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("{url}/twilio"), stream)
        .await
        .unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_stops_reading_meets_bounded_buffers_and_its_call_is_ended() {
    // Small kernel buffers on both ends: without the engine's cap its send buffer autotunes
    // to megabytes, minutes of prompt audio at the real-time rate.
    let e = common::test_line(|c| {
        c.send_buffer_bytes = 4 * 1024;
        c.max_outbound_bytes = 16 * 1024;
        c.write_timeout = Duration::from_millis(500);
    })
    .await;
    let stalled_id = ivr::ids::CallId::new("CAstalled");
    let stalled = async {
        let t0 = tokio::time::Instant::now();
        let mut ws = small_window_client(&e.url).await;
        ws.send(Message::text(start_json("CAstalled")))
            .await
            .unwrap();
        // From here on nothing is read. The caller keeps sending 20 ms frames (so the call is
        // never idle) and presses 1 as an event once the menu plays, into the queue, where
        // music on hold never ends: the engine always has audio to send.
        let dtmf = serde_json::json!({"event": "dtmf", "streamSid": "MZ1", "sequenceNumber": "2",
            "dtmf": {"track": "inbound_track", "digit": "1"}})
        .to_string();
        let frame = base64::engine::general_purpose::STANDARD.encode([0xffu8; 160]);
        let media = |n: u64| {
            serde_json::json!({"event": "media", "sequenceNumber": (n + 3).to_string(),
                "streamSid": "MZ1", "media": {"track": "inbound", "chunk": n.to_string(),
                "timestamp": (n * 20).to_string(), "payload": frame}})
            .to_string()
        };
        let mut seen_running = false;
        for n in 1..=3000u64 {
            let running = e.shared.registry.facts(&stalled_id).is_some();
            seen_running |= running;
            if seen_running && !running {
                return Some(t0.elapsed());
            }
            // Marks are never echoed: the greeting counts as played after the mark grace
            // (2 s), then the menu starts.
            let msg = if n == 150 { dtmf.clone() } else { media(n) };
            if ws.send(Message::text(msg)).await.is_err() {
                // The engine dropped the socket: the call is gone or about to be.
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for _ in 0..100 {
            if seen_running && e.shared.registry.facts(&stalled_id).is_none() {
                return Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    };
    let good = async {
        let mut o = e.dial("95017", &format!("wait:1s {GOOD}"));
        o.max_duration = Duration::from_secs(60);
        sim::dial(o).await.unwrap()
    };
    let (ended_after, good) = tokio::join!(stalled, good);
    let ended_after = ended_after.expect("the stalled call was ended");
    println!("a gateway that stopped reading was cut off {ended_after:?} after it connected");
    // Greeting, menu and a few seconds of hold music at most: seconds, not the minutes an
    // autotuned kernel buffer would absorb.
    assert!(
        ended_after < Duration::from_secs(15),
        "ended after {ended_after:?}"
    );
    assert_eq!(
        e.counter(
            "ivr_protocol_errors_total",
            &[("dialect", "twilio"), ("kind", "slow_consumer")]
        ),
        1
    );
    // Its one call record says why; the metric counts it among calls ended in error.
    assert_eq!(
        e.counter(
            "ivr_calls_total",
            &[("line", "test-line"), ("outcome", "error")]
        ),
        1
    );
    assert_good(&good);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_overtake_each_other_still_carry_the_caller_s_tones() {
    let e = common::test_line(|_| {}).await;
    let mut o: DialOptions = e.dial("95017", GOOD);
    o.swap_frames = true;
    let t = sim::dial(o).await.unwrap();
    assert_good(&t);
    e.shutdown().await;
}
