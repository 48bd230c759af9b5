//! Call-machine inputs per second: one call on the shipped 95017 flow fed facts in a loop,
//! draining its actions after each as the session does. Run with `cargo bench --bench call`.
//!
//! - `call_menu_repeat_key`: `*` in the main menu (barge-in: stop, re-enter, play) — one
//!   digit input and its actions.
//! - `call_repeat_key_then_playback_finished`: the prompt ends, then the no-input timer fires
//!   and the menu re-prompts — two inputs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ivr::call::{Action, Call, CallInfo, Input};
use ivr::flow::{LoadOptions, load};
use ivr::ids::{CallId, Digit};

fn flows() -> Arc<ivr::flow::model::FlowSet> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/flows");
    let report = load(&LoadOptions::new([dir]));
    Arc::new(report.set.expect("the shipped flows compile"))
}

/// A 95017 call waiting in the main menu (language chosen by key 1), and the clock.
fn call_in_main_menu() -> (Call, Instant) {
    let set = flows();
    let flow = Arc::clone(set.route("95017").expect("95017 is routed"));
    let mut now = Instant::now();
    let info = CallInfo {
        caller: None,
        dialled: "95017".into(),
        started_at: chrono::Utc::now(),
        flags: Default::default(),
    };
    let mut call = Call::new(CallId::new("CAbench"), set, flow, info, now);
    let one = Digit::new('1').expect("digit");
    // Welcome ends; in the language menu press 1.
    for _ in 0..2 {
        let playing = drain_playing(&mut call);
        now += Duration::from_secs(1);
        if let Some(p) = playing.or(call.playing()) {
            call.handle_input(now, Input::PlaybackFinished(p));
        }
    }
    call.handle_input(now, Input::DigitReceived(one));
    drain_playing(&mut call);
    (call, now)
}

fn drain_playing(call: &mut Call) -> Option<ivr::call::PlaybackId> {
    let mut last = None;
    while let Some(a) = call.poll_action() {
        if let Action::Play { playback, .. } = &a {
            last = Some(*playback);
        }
        black_box(a);
    }
    last
}

fn inputs(c: &mut Criterion) {
    let star = Digit::new('*').expect("digit");
    let (mut call, mut now) = call_in_main_menu();
    c.bench_function("call_menu_repeat_key", |b| {
        b.iter(|| {
            now += Duration::from_millis(100);
            call.handle_input(now, Input::DigitReceived(black_box(star)));
            drain_playing(&mut call);
            black_box(call.poll_timeout());
        })
    });
    assert!(
        !call.is_ended(),
        "the repeat key keeps the call in the menu"
    );

    let (mut call, mut now) = call_in_main_menu();
    c.bench_function("call_repeat_key_then_playback_finished", |b| {
        b.iter(|| {
            now += Duration::from_millis(100);
            call.handle_input(now, Input::DigitReceived(star));
            drain_playing(&mut call);
            if let Some(p) = call.playing() {
                now += Duration::from_secs(1);
                call.handle_input(now, Input::PlaybackFinished(p));
                drain_playing(&mut call);
            }
        })
    });
    assert!(!call.is_ended());
}

criterion_group!(benches, inputs);
criterion_main!(benches);
