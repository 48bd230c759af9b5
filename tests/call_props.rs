//! Property test of the call core: random inputs and time jumps against a flow built in code
//! with every node type. Whatever arrives, the call never panics, never has two playbacks at
//! once, keeps its deadlines in the future, and ends exactly once.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use proptest::prelude::*;

use ivr::call::testing::{FlowBuilder, flow_set, prompts, queue, table};
use ivr::call::{Action, Call, CallEvent, CallInfo, Input, PlaybackId};
use ivr::flow::model::{Calendar, Confirm, Validation};
use ivr::ids::{AgentId, CalendarId, CallId, Digit};

const SECRET_PIN: &str = "7314";

fn calendar() -> Calendar {
    let hours = vec![(
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
    )];
    Calendar {
        id: CalendarId::new("hours"),
        timezone: chrono_tz::Asia::Shanghai,
        weekly: std::array::from_fn(|_| hours.clone()),
        holidays: Vec::new(),
        workdays: Vec::new(),
        workday_hours: Vec::new(),
        overrides: Vec::new(),
        emergency_flags: vec!["outage".into()],
    }
}

/// Every node type, looping back to the menu so a call can run long.
fn call(now: Instant) -> Call {
    let d = |c| Digit::new(c).unwrap();
    let mut b = FlowBuilder::new("everything");
    b.max_call_duration(Duration::from_secs(1800));
    b.play("welcome", &["welcome"], false, "hours");
    b.schedule("hours", "hours", ["menu", "closed", "closed", "closed"]);
    b.menu(
        "menu",
        &["menu_long"],
        &["menu_short"],
        &[
            ("1", "account"),
            ("2", "pin"),
            ("31", "english"),
            ("32", "info"),
            ("0", "queue"),
            ("8", "hours"),
            ("9", "out"),
        ],
        "queue",
        "bye",
    );
    let cancelled = b.at("menu");
    let c = b.collect(
        "account",
        "account",
        &["enter_account"],
        8,
        ["find", "menu", "menu"],
    );
    c.min_length = 4;
    c.cancel = Some(d('*'));
    c.cancelled = Some(cancelled);
    c.validate = vec![Validation::Range {
        min: 1000,
        max: 99_999_999,
    }];
    c.confirm = Some(Confirm {
        prefix: prompts(&["you_entered"]),
        question: prompts(&["confirm"]),
        yes: d('1'),
        no: d('2'),
    });
    let c = b.collect(
        "pin",
        "pin",
        &["enter_pin"],
        4,
        ["check_pin", "menu", "menu"],
    );
    c.secure = true;
    c.validate = vec![Validation::Luhn];
    b.set(
        "check_pin",
        &[("pin_copy", "vars.pin"), ("seen", "true")],
        "pin_ok",
    );
    b.branch("pin_ok", &[("good", "vars.pin == '7314'", "queue")], "menu");
    b.lookup(
        "find",
        "accounts",
        "len(vars.account)",
        &[("tier", "tier")],
        ["tiered", "menu"],
    );
    b.branch("tiered", &[("vip", "vars.tier == 'vip'", "queue")], "info");
    b.language("english", "en-US", "menu");
    b.play("info", &["info"], true, "menu");
    let exit = b.at("menu");
    let answered = b.at("menu");
    let callback = b.at("bye");
    let e = b.enqueue(
        "queue",
        "general",
        "normal",
        &["please_hold"],
        ["out", "bye", "bye"],
    );
    e.exit_key = Some(d('#'));
    e.exit = Some(exit);
    e.callback_key = Some(d('*'));
    e.callback_registered = Some(callback);
    e.answered = Some(answered);
    b.transfer("out", "tel:+8610000000", Some("menu"), "bye");
    b.hangup("closed", &["closed"], "after_hours");
    b.hangup("bye", &["goodbye"], "normal");
    let flow = Arc::new(b.build().unwrap());
    let mut general = queue("general");
    general.announce.first_after = Duration::from_secs(5);
    general.announce.every = Duration::from_secs(7);
    let set = Arc::new(flow_set(
        vec![flow.clone()],
        vec![general],
        vec![calendar()],
        vec![table(
            "accounts",
            &[
                ("4", &[("tier", "vip")]),
                ("5", &[("tier", "basic")]),
                ("6", &[("tier", "basic")]),
            ],
        )],
    ));
    let info = CallInfo {
        caller: Some("+8613912345678".into()),
        dialled: "95017".into(),
        // 20:45 Beijing: open at first, closed a quarter of an hour later.
        started_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, 45, 0).unwrap(),
        flags: BTreeSet::new(),
    };
    Call::new(CallId::new("prop"), set, flow, info, now)
}

#[derive(Clone, Debug)]
enum Step {
    Key(char),
    FinishCurrent,
    FinishStale(u64),
    HangUp,
    Status(u32, Option<u64>),
    Agent,
    AgentEnded,
    QueueTimedOut,
    QueueNoAgents,
    QueueFull,
    CallbackRegistered,
    TransferConnected,
    TransferFailed,
    Advance(u64),
    ToDeadline,
    Backwards(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::sample::select(vec![
            '0', '1', '2', '3', '4', '7', '8', '9', '*', '#', 'A'
        ]).prop_map(Step::Key),
        4 => Just(Step::FinishCurrent),
        1 => (0u64..20).prop_map(Step::FinishStale),
        1 => Just(Step::HangUp),
        1 => (0u32..30, prop::option::of(0u64..2000)).prop_map(|(p, w)| Step::Status(p, w)),
        1 => Just(Step::Agent),
        1 => Just(Step::AgentEnded),
        1 => Just(Step::QueueTimedOut),
        1 => Just(Step::QueueNoAgents),
        1 => Just(Step::QueueFull),
        1 => Just(Step::CallbackRegistered),
        1 => Just(Step::TransferConnected),
        1 => Just(Step::TransferFailed),
        3 => (0u64..20_000).prop_map(Step::Advance),
        3 => Just(Step::ToDeadline),
        1 => (0u64..5_000).prop_map(Step::Backwards),
    ]
}

/// Fixed openings that take a walk deep before the random steps: none, the secure PIN, an
/// account entry with read-back and lookup, and a long wait in the queue followed by a
/// schedule check after closing time.
fn opening(which: usize) -> Vec<Step> {
    let keys = |s: &str| s.chars().map(Step::Key).collect::<Vec<_>>();
    let mut out = vec![Step::FinishCurrent];
    match which % 4 {
        1 => {
            out.extend([Step::Key('2'), Step::FinishCurrent]);
            out.extend(keys(SECRET_PIN));
        }
        2 => {
            out.extend([Step::Key('1'), Step::FinishCurrent]);
            out.extend(keys("1234#"));
            out.extend([Step::FinishCurrent, Step::Key('1')]);
        }
        3 => {
            out.extend([
                Step::Key('0'),
                Step::Advance(16 * 60 * 1000),
                Step::Key('#'),
            ]);
            out.extend([Step::FinishCurrent, Step::Key('8')]);
        }
        _ => out.clear(),
    }
    out
}

/// What the test knows from the actions: the playback that is active and the ends seen.
#[derive(Default)]
struct Model {
    playing: Option<PlaybackId>,
    ended: usize,
    after_end: usize,
}

impl Model {
    fn drain(&mut self, call: &mut Call) -> Result<(), TestCaseError> {
        while let Some(action) = call.poll_action() {
            if self.ended > 0 {
                self.after_end += 1;
            }
            let text = format!("{action:?}");
            prop_assert!(!text.contains(SECRET_PIN), "secure value in {text}");
            prop_assert!(!text.contains("13912345678"), "caller number in {text}");
            match action {
                Action::Play { playback, .. } => {
                    prop_assert_eq!(self.playing, None, "a second playback started");
                    self.playing = Some(playback);
                }
                Action::StopPlayback { playback } => {
                    prop_assert_eq!(self.playing, Some(playback), "stopped what is not playing");
                    self.playing = None;
                }
                Action::Emit(CallEvent::Ended { .. }) => {
                    self.ended += 1;
                    self.playing = None;
                }
                _ => {}
            }
        }
        prop_assert_eq!(self.playing, call.playing());
        Ok(())
    }
}

fn input(call: &Call, model: &Model, step: &Step) -> Option<Input> {
    Some(match step {
        Step::Key(c) => Input::DigitReceived(Digit::new(*c)?),
        Step::FinishCurrent => Input::PlaybackFinished(model.playing.or(call.playing())?),
        Step::FinishStale(n) => Input::PlaybackFinished(PlaybackId(*n)),
        Step::HangUp => Input::CallerHungUp,
        Step::Status(position, wait) => Input::QueueStatus {
            position: *position,
            estimated_wait: wait.map(Duration::from_secs),
        },
        Step::Agent => Input::AgentAssigned {
            agent: AgentId::new("a1"),
        },
        Step::AgentEnded => Input::AgentCallEnded,
        Step::QueueTimedOut => Input::QueueTimedOut,
        Step::QueueNoAgents => Input::QueueNoAgents,
        Step::QueueFull => Input::QueueFull,
        Step::CallbackRegistered => Input::CallbackRegistered,
        Step::TransferConnected => Input::TransferConnected,
        Step::TransferFailed => Input::TransferFailed {
            reason: "busy".into(),
        },
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_break_the_call(
        steps in prop::collection::vec(step(), 0..120),
        which in 0usize..4,
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut latest = t0;
        let mut call = call(t0);
        let mut model = Model::default();
        model.drain(&mut call)?;
        let mut script = opening(which);
        script.extend(steps);
        script.push(Step::HangUp);
        for step in &script {
            match step {
                Step::Advance(ms) => {
                    now += Duration::from_millis(*ms);
                    call.handle_timeout(now);
                }
                Step::ToDeadline => {
                    if let Some(t) = call.poll_timeout() {
                        now = now.max(t);
                        call.handle_timeout(now);
                    }
                }
                Step::Backwards(ms) => {
                    let past = now.checked_sub(Duration::from_millis(*ms)).unwrap_or(now);
                    call.handle_timeout(past);
                }
                other => {
                    let was_ended = call.is_ended();
                    if let Some(i) = input(&call, &model, other) {
                        if let Input::PlaybackFinished(id) = i
                            && model.playing == Some(id)
                        {
                            // The shell reports the end of the active playback.
                            model.playing = None;
                        }
                        call.handle_input(now, i);
                        if matches!(other, Step::HangUp) && !was_ended {
                            prop_assert!(call.is_ended(), "hang-up did not end the call");
                            model.playing = None;
                        }
                    }
                }
            }
            latest = latest.max(now);
            model.drain(&mut call)?;
            if let Some(deadline) = call.poll_timeout() {
                prop_assert!(deadline > latest, "deadline not in the future");
            }
            if call.is_ended() {
                prop_assert_eq!(call.poll_timeout(), None);
            }
        }
        prop_assert!(call.is_ended());
        prop_assert_eq!(model.ended, 1, "exactly one Ended event");
        prop_assert_eq!(model.after_end, 0, "actions after Ended");
    }
}

/// The random walks above are only worth something if they reach every node: drive 3000 walks
/// from a fixed seed with the same step mix and check the union of paths covers the flow.
#[test]
fn random_walks_reach_every_node_and_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = prop::collection::vec(step(), 0..200);
    let mut nodes = BTreeSet::new();
    let mut states = BTreeSet::new();
    let t0 = Instant::now();
    for walk in 0..3000 {
        let mut steps = opening(walk);
        steps.extend(strategy.new_tree(&mut runner).unwrap().current());
        let mut now = t0;
        let mut call = call(t0);
        let mut model = Model::default();
        model.drain(&mut call).unwrap();
        for step in &steps {
            match step {
                Step::Advance(ms) => {
                    now += Duration::from_millis(*ms);
                    call.handle_timeout(now);
                }
                Step::ToDeadline => {
                    if let Some(t) = call.poll_timeout() {
                        now = now.max(t);
                        call.handle_timeout(now);
                    }
                }
                // Walks explore: the caller stays on the line.
                Step::Backwards(_) | Step::HangUp => {}
                other => {
                    if let Some(i) = input(&call, &model, other) {
                        if let Input::PlaybackFinished(id) = i
                            && model.playing == Some(id)
                        {
                            model.playing = None;
                        }
                        call.handle_input(now, i);
                    }
                }
            }
            states.insert(call.state_name());
            model.drain(&mut call).unwrap();
        }
        nodes.extend(call.path().iter().map(|n| n.as_str().to_owned()));
    }
    let all: BTreeSet<String> = call(t0)
        .flow()
        .nodes
        .iter()
        .map(|n| n.id.as_str().to_owned())
        .collect();
    let missed: Vec<&String> = all.difference(&nodes).collect();
    assert!(missed.is_empty(), "never reached: {missed:?}");
    for state in [
        "prompting",
        "choosing",
        "collecting",
        "confirming",
        "queued",
        "bridged",
        "transferring",
        "hanging_up",
        "ended",
    ] {
        assert!(states.contains(state), "never in state {state}");
    }
}
