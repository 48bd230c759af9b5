//! Scenario tests: calls driven on a virtual clock, checked against exact action transcripts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::testing::{FlowBuilder, flow_set, queue, render, table};
use super::*;
use crate::flow::model::{Calendar, Confirm, QueueConfig, Table, Validation};
use crate::ids::{AgentId, CalendarId, Digit};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn digit(c: char) -> Digit {
    Digit::new(c).unwrap()
}

/// A call on a virtual clock.
struct Sim {
    call: Call,
    now: Instant,
}

struct Setup {
    queues: Vec<QueueConfig>,
    calendars: Vec<Calendar>,
    tables: Vec<Table>,
    caller: Option<String>,
    started_at: DateTime<Utc>,
    flags: BTreeSet<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            queues: vec![queue("general")],
            calendars: Vec::new(),
            tables: Vec::new(),
            caller: Some("+8613800001234".into()),
            started_at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap(),
            flags: BTreeSet::new(),
        }
    }
}

impl Sim {
    fn start(flow: FlowBuilder) -> (Sim, Vec<String>) {
        Sim::start_with(flow, Setup::default())
    }

    fn start_with(flow: FlowBuilder, setup: Setup) -> (Sim, Vec<String>) {
        let flow = Arc::new(flow.build().unwrap());
        let set = Arc::new(flow_set(
            vec![flow.clone()],
            setup.queues,
            setup.calendars,
            setup.tables,
        ));
        let info = CallInfo {
            caller: setup.caller,
            dialled: "95017".into(),
            started_at: setup.started_at,
            flags: setup.flags,
        };
        let now = Instant::now();
        let call = Call::new(CallId::new("c1"), set, flow, info, now);
        let mut sim = Sim { call, now };
        let out = sim.drain();
        (sim, out)
    }

    fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(a) = self.call.poll_action() {
            out.push(render(&a));
        }
        if let Some(t) = self.call.poll_timeout() {
            assert!(t > self.now, "deadline not in the future");
        }
        out
    }

    fn input(&mut self, input: Input) -> Vec<String> {
        self.call.handle_input(self.now, input);
        self.drain()
    }

    fn key(&mut self, c: char) -> Vec<String> {
        self.input(Input::DigitReceived(digit(c)))
    }

    /// Keys 200 ms apart (the first now).
    fn keys(&mut self, s: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 {
                out.extend(self.wait(Duration::from_millis(200)));
            }
            out.extend(self.key(c));
        }
        out
    }

    fn finished(&mut self, playback: u64) -> Vec<String> {
        self.input(Input::PlaybackFinished(PlaybackId(playback)))
    }

    /// Lets `d` pass, firing every deadline on the way at its own instant.
    fn wait(&mut self, d: Duration) -> Vec<String> {
        let target = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.call.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t;
            self.call.handle_timeout(t);
            out.extend(self.drain());
        }
        self.now = target;
        self.call.handle_timeout(target);
        out.extend(self.drain());
        out
    }
}

/// welcome (no barge-in) → main menu: 1 fraud → emergency lane, 21/22 payments, 0 agent,
/// failures → agent.
fn hotline() -> FlowBuilder {
    let mut b = FlowBuilder::new("hotline");
    b.play("welcome", &["welcome"], false, "main");
    b.menu(
        "main",
        &["menu_long"],
        &["menu_short"],
        &[
            ("1", "fraud"),
            ("21", "cards"),
            ("22", "transfers"),
            ("0", "agent"),
        ],
        "agent",
        "agent",
    );
    b.set("fraud", &[("reason", "'fraud'")], "fraud_queue");
    b.enqueue(
        "fraud_queue",
        "general",
        "emergency",
        &["please_hold"],
        ["sorry", "sorry", "sorry"],
    );
    b.enqueue(
        "agent",
        "general",
        "normal",
        &["please_hold"],
        ["sorry", "sorry", "sorry"],
    );
    b.play("cards", &["cards_info"], true, "bye");
    b.play("transfers", &["transfers_info"], true, "bye");
    b.hangup("bye", &["goodbye"], "normal");
    b.hangup("sorry", &["sorry_busy"], "busy");
    b
}

/// Starts the hotline and gets to the point where the main menu's long prompt plays (#2).
fn at_main_menu() -> Sim {
    let (mut sim, out) = Sim::start(hotline());
    assert_eq!(out, ["> welcome", "play#1 welcome"]);
    assert_eq!(sim.finished(1), ["> main", "play#2 menu_long barge"]);
    sim
}

#[test]
fn greeting_then_long_menu_prompt_then_first_key_timeout_starts() {
    let mut sim = at_main_menu();
    assert_eq!(
        sim.call.poll_timeout(),
        Some(sim.now + secs(3600)),
        "only the call's maximum duration while the prompt plays"
    );
    assert_eq!(sim.finished(2), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(sim.now + secs(5)));
    assert_eq!(sim.call.state_name(), "choosing");
}

#[test]
fn key_during_greeting_without_barge_in_is_dropped() {
    let (mut sim, _) = Sim::start(hotline());
    assert_eq!(sim.key('1'), ["dropped key-during-prompt"]);
    assert_eq!(sim.call.counters().dropped, 1);
    assert_eq!(sim.call.node().as_str(), "welcome");
}

#[test]
fn key_during_menu_prompt_barges_in_and_is_the_choice() {
    let mut sim = at_main_menu();
    assert_eq!(
        sim.key('1'),
        [
            "stop#2",
            "chose 1",
            "> fraud",
            "> fraud_queue",
            "play#3 please_hold",
            "enqueue general/emergency",
        ]
    );
    assert_eq!(sim.call.var("reason"), Some(&Value::Str("fraud".into())));
    assert_eq!(sim.call.path().len(), 4);
}

#[test]
fn three_invalid_keys_hand_over_to_agent() {
    let mut sim = at_main_menu();
    sim.finished(2);
    assert_eq!(
        sim.key('7'),
        [
            "menu-invalid 1 (1 in a row)",
            "play#3 invalid_choice,menu_short barge"
        ]
    );
    sim.finished(3);
    assert_eq!(
        sim.key('8'),
        [
            "menu-invalid 2 (2 in a row)",
            "play#4 invalid_choice,menu_short barge"
        ]
    );
    // The third bad key cuts the repeat short and exhausts the attempts.
    assert_eq!(
        sim.key('9'),
        [
            "stop#4",
            "menu-invalid 3 (3 in a row)",
            "> agent",
            "play#5 please_hold",
            "enqueue general/normal",
        ]
    );
    assert_eq!(sim.call.counters().invalid, 3);
}

#[test]
fn no_input_three_times_routes_to_agent() {
    let mut sim = at_main_menu();
    sim.finished(2);
    assert_eq!(
        sim.wait(secs(5)),
        [
            "menu-no-input 1 (1 in a row)",
            "play#3 no_input,menu_short barge"
        ]
    );
    sim.finished(3);
    assert_eq!(
        sim.wait(secs(5)),
        [
            "menu-no-input 2 (2 in a row)",
            "play#4 no_input,menu_short barge"
        ]
    );
    sim.finished(4);
    assert_eq!(sim.wait(Duration::from_millis(4999)), Vec::<String>::new());
    assert_eq!(
        sim.wait(Duration::from_millis(1)),
        [
            "menu-no-input 3 (3 in a row)",
            "> agent",
            "play#5 please_hold",
            "enqueue general/normal",
        ]
    );
    assert_eq!(sim.call.counters().no_input, 3);
}

#[test]
fn failures_are_counted_apart_and_exhaustion_is_named_by_the_last() {
    let mut b = hotline();
    b.hangup("gave_up_keys", &[], "invalid");
    b.hangup("gave_up_silent", &[], "silent");
    b.menu(
        "main",
        &["menu_long"],
        &["menu_short"],
        &[("1", "fraud")],
        "gave_up_keys",
        "gave_up_silent",
    );
    let (mut sim, _) = Sim::start(b);
    sim.finished(1);
    sim.finished(2);
    assert_eq!(sim.key('5')[0], "menu-invalid 1 (1 in a row)");
    sim.finished(3);
    assert_eq!(sim.wait(secs(5))[0], "menu-no-input 1 (2 in a row)");
    sim.finished(4);
    assert_eq!(
        sim.wait(secs(5)),
        [
            "menu-no-input 2 (3 in a row)",
            "> gave_up_silent",
            "hangup silent",
            "ended silent by engine",
        ]
    );
}

#[test]
fn multi_key_option_waits_for_the_next_key() {
    let mut sim = at_main_menu();
    sim.finished(2);
    assert_eq!(sim.key('2'), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(sim.now + secs(3)));
    assert_eq!(
        sim.wait(Duration::from_millis(200))
            .into_iter()
            .chain(sim.key('2'))
            .collect::<Vec<_>>(),
        ["chose 22", "> transfers", "play#3 transfers_info barge"]
    );
}

#[test]
fn inter_digit_timeout_on_a_partial_option_is_invalid() {
    let mut sim = at_main_menu();
    sim.finished(2);
    sim.key('2');
    assert_eq!(
        sim.wait(secs(3)),
        [
            "menu-invalid 1 (1 in a row)",
            "play#3 invalid_choice,menu_short barge"
        ]
    );
}

#[test]
fn barge_in_play_skips_to_next_and_hangup_prompt_ignores_keys() {
    let mut sim = at_main_menu();
    sim.keys("21");
    assert_eq!(
        sim.key('5'),
        ["stop#3", "> bye", "play#4 goodbye"],
        "the key cuts the info prompt and is not kept"
    );
    assert_eq!(sim.key('5'), ["dropped key-during-prompt"]);
    assert_eq!(sim.finished(4), ["hangup normal", "ended normal by engine"]);
    assert!(sim.call.is_ended());
    assert_eq!(sim.call.outcome(), Some(&EndReason::Flow("normal".into())));
}

/// An account-number collect: 4..=8 keys, `#` ends, `*` cancels, digits only.
fn collecting(tweak: impl FnOnce(&mut crate::flow::model::Collect)) -> (Sim, Vec<String>) {
    let mut b = FlowBuilder::new("collect");
    let cancelled = b.at("cancelled");
    let c = b.collect(
        "account",
        "account",
        &["enter_account"],
        8,
        ["done", "failed", "silent"],
    );
    c.min_length = 4;
    c.cancel = Some(digit('*'));
    c.cancelled = Some(cancelled);
    c.validate = vec![Validation::Pattern(
        regex::Regex::new("^(?:[0-9]+)$").unwrap(),
    )];
    tweak(c);
    b.entry("account");
    b.hangup("done", &["thanks"], "normal");
    b.hangup("failed", &[], "invalid");
    b.hangup("silent", &[], "silent");
    b.hangup("cancelled", &[], "cancelled");
    Sim::start(b)
}

#[test]
fn inter_digit_timeout_completes_collect_after_min_length() {
    let (mut sim, out) = collecting(|_| {});
    assert_eq!(out, ["> account", "play#1 enter_account barge"]);
    assert_eq!(sim.keys("12345"), ["stop#1"]);
    assert_eq!(sim.call.poll_timeout(), Some(sim.now + secs(3)));
    assert_eq!(
        sim.wait(secs(3)),
        ["collected account=12345", "> done", "play#2 thanks"]
    );
    assert_eq!(sim.call.var("account"), Some(&Value::Str("12345".into())));
}

#[test]
fn inter_digit_timeout_before_min_length_is_invalid() {
    let (mut sim, _) = collecting(|_| {});
    sim.finished(1);
    sim.keys("123");
    assert_eq!(
        sim.wait(secs(3)),
        [
            "collect-invalid 1 (1 in a row)",
            "play#2 invalid_choice,enter_account barge"
        ]
    );
}

#[test]
fn terminator_ends_entry_and_max_length_ends_it_without_one() {
    let (mut sim, _) = collecting(|_| {});
    sim.finished(1);
    let out = sim.keys("4321#");
    assert_eq!(out, ["collected account=4321", "> done", "play#2 thanks"]);

    let (mut sim, _) = collecting(|_| {});
    sim.finished(1);
    let out = sim.keys("87654321");
    assert_eq!(
        out,
        ["collected account=87654321", "> done", "play#2 thanks"]
    );
}

#[test]
fn cancel_key_leaves_by_cancelled() {
    let (mut sim, _) = collecting(|_| {});
    sim.finished(1);
    assert_eq!(
        sim.keys("12*"),
        [
            "> cancelled",
            "hangup cancelled",
            "ended cancelled by engine"
        ]
    );
    assert_eq!(sim.call.var("account"), None);
}

#[test]
fn failed_validation_replays_the_prompt_then_exhausts() {
    let (mut sim, _) = collecting(|c| c.validate.push(Validation::Luhn));
    sim.finished(1);
    assert_eq!(
        sim.keys("1234#"),
        [
            "collect-invalid 1 (1 in a row)",
            "play#2 invalid_choice,enter_account barge"
        ]
    );
    sim.finished(2);
    assert_eq!(
        sim.keys("1235#"),
        [
            "collect-invalid 2 (2 in a row)",
            "play#3 invalid_choice,enter_account barge"
        ]
    );
    sim.finished(3);
    assert_eq!(
        sim.keys("79927390#"),
        [
            "collect-invalid 3 (3 in a row)",
            "> failed",
            "hangup invalid",
            "ended invalid by engine"
        ]
    );
}

#[test]
fn confirmation_reads_back_and_accepts_or_re_enters() {
    let confirm = |c: &mut crate::flow::model::Collect| {
        c.confirm = Some(Confirm {
            prefix: super::testing::prompts(&["you_entered"]),
            question: super::testing::prompts(&["confirm_question"]),
            yes: digit('1'),
            no: digit('2'),
        });
    };
    let (mut sim, _) = collecting(confirm);
    sim.finished(1);
    assert_eq!(
        sim.keys("5555#"),
        ["play#2 you_entered,digits:5555,confirm_question barge"]
    );
    assert_eq!(sim.key('2'), ["stop#2", "play#3 enter_account barge"]);
    sim.finished(3);
    sim.keys("6666#");
    sim.finished(4);
    assert_eq!(
        sim.key('1'),
        ["collected account=6666", "> done", "play#5 thanks"]
    );
}

#[test]
fn secure_digits_never_emitted() {
    let mut b = FlowBuilder::new("secure");
    let c = b.collect("pin", "pin", &["enter_pin"], 6, ["check", "bye", "bye"]);
    c.secure = true;
    c.confirm = Some(Confirm {
        prefix: super::testing::prompts(&["you_entered"]),
        question: super::testing::prompts(&["confirm_question"]),
        yes: digit('1'),
        no: digit('2'),
    });
    b.entry("pin");
    b.set(
        "check",
        &[("copy", "vars.pin"), ("tier", "'gold'")],
        "route",
    );
    b.branch(
        "route",
        &[("right", "vars.pin == '924613'", "agent")],
        "bye",
    );
    b.enqueue("agent", "general", "normal", &[], ["bye", "bye", "bye"]);
    b.hangup("bye", &[], "normal");
    let (mut sim, _) = Sim::start(b);
    sim.finished(1);
    let mut actions = Vec::new();
    for c in "924613".chars() {
        sim.call
            .handle_input(sim.now, Input::DigitReceived(digit(c)));
        while let Some(a) = sim.call.poll_action() {
            actions.push(a);
        }
    }
    let text: Vec<String> = actions.iter().map(render).collect();
    assert_eq!(
        text,
        [
            "collected pin=***",
            "> check",
            "> route",
            "> agent",
            "enqueue general/normal",
            "play#2 hold_music loop",
        ],
        "no read-back for secure values; the branch still sees the value"
    );
    let all = format!("{actions:?} {:?}", sim.call);
    assert!(!all.contains("924613"), "secure digits leaked: {all}");
    assert!(!all.contains("13800001234"), "caller number leaked: {all}");
    let Some(Action::Enqueue { context, .. }) =
        actions.iter().find(|a| matches!(a, Action::Enqueue { .. }))
    else {
        panic!("no enqueue");
    };
    assert_eq!(
        context.vars.keys().collect::<Vec<_>>(),
        ["tier"],
        "the secure value and its copy stay out of the queue context"
    );
    assert_eq!(sim.call.var("copy"), Some(&Value::Str("924613".into())));
}

/// A caller in the emergency lane of `general` (prompt #3 playing), with exit key `#`,
/// callback key `*` and an `answered` outcome.
fn in_queue(tweak: impl FnOnce(&mut QueueConfig)) -> Sim {
    let mut b = hotline();
    let exit = b.at("bye");
    let after = b.at("survey");
    let called_back = b.at("callback_ok");
    let e = b.enqueue(
        "fraud_queue",
        "general",
        "emergency",
        &["please_hold"],
        ["sorry", "sorry", "sorry"],
    );
    e.exit_key = Some(digit('#'));
    e.exit = Some(exit);
    e.callback_key = Some(digit('*'));
    e.callback_registered = Some(called_back);
    e.answered = Some(after);
    b.play("survey", &["survey"], false, "bye");
    b.hangup("callback_ok", &["callback_registered"], "callback");
    let mut general = queue("general");
    tweak(&mut general);
    let setup = Setup {
        queues: vec![general],
        ..Setup::default()
    };
    let (mut sim, _) = Sim::start_with(b, setup);
    sim.finished(1);
    sim.key('1');
    sim
}

#[test]
fn enqueue_plays_its_prompt_then_music_until_an_agent_answers() {
    let mut sim = in_queue(|_| {});
    assert_eq!(sim.call.state_name(), "queued");
    assert_eq!(sim.finished(3), ["play#4 hold_music loop"]);
    assert_eq!(
        sim.input(Input::AgentAssigned {
            agent: AgentId::new("a7")
        }),
        ["stop#4", "agent a7"]
    );
    assert_eq!(sim.call.state_name(), "bridged");
    assert_eq!(sim.key('5'), ["dropped key-ignored"]);
    assert_eq!(
        sim.wait(secs(120)),
        Vec::<String>::new(),
        "no announcements once bridged"
    );
    assert_eq!(
        sim.input(Input::AgentCallEnded),
        ["> survey", "play#5 survey"]
    );
}

#[test]
fn announcements_say_position_and_wait_between_music() {
    let mut sim = in_queue(|_| {});
    sim.finished(3);
    sim.input(Input::QueueStatus {
        position: 4,
        estimated_wait: Some(secs(150)),
    });
    assert_eq!(
        sim.wait(Duration::from_millis(19_999)),
        Vec::<String>::new()
    );
    assert_eq!(
        sim.wait(Duration::from_millis(1)),
        [
            "stop#4",
            "play#5 queue_position,num:4,queue_wait_minutes,num:3,minutes"
        ]
    );
    assert_eq!(sim.finished(5), ["play#6 hold_music loop"]);
    sim.input(Input::QueueStatus {
        position: 2,
        estimated_wait: None,
    });
    assert_eq!(
        sim.wait(secs(45)),
        ["stop#6", "play#7 queue_position,num:2,queue_wait_unknown"]
    );
}

#[test]
fn no_announcement_before_the_queue_has_said_anything() {
    let mut sim = in_queue(|_| {});
    sim.finished(3);
    assert_eq!(sim.wait(secs(65)), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(sim.now + secs(45)));
}

#[test]
fn queue_position_never_goes_up() {
    let mut sim = in_queue(|q| q.announce.wait_time = false);
    sim.finished(3);
    sim.input(Input::QueueStatus {
        position: 3,
        estimated_wait: None,
    });
    assert_eq!(
        sim.wait(secs(20)),
        ["stop#4", "play#5 queue_position,num:3"]
    );
    sim.finished(5);
    // A strict-lane caller arrived: the queue now says 5 ahead.
    sim.input(Input::QueueStatus {
        position: 5,
        estimated_wait: None,
    });
    assert_eq!(
        sim.wait(secs(45)),
        ["stop#6", "play#7 queue_position,num:3"]
    );
    sim.finished(7);
    sim.input(Input::QueueStatus {
        position: 1,
        estimated_wait: None,
    });
    assert_eq!(
        sim.wait(secs(45)),
        ["stop#8", "play#9 queue_position,num:1"]
    );
}

#[test]
fn agent_assigned_during_an_announcement_stops_it_and_all_later_ones() {
    let mut sim = in_queue(|_| {});
    sim.finished(3);
    sim.input(Input::QueueStatus {
        position: 0,
        estimated_wait: None,
    });
    sim.wait(secs(20));
    assert_eq!(
        sim.input(Input::AgentAssigned {
            agent: AgentId::new("a1")
        }),
        ["stop#5", "agent a1"]
    );
    assert_eq!(
        sim.call.poll_timeout(),
        Some(sim.call.ctx.started + secs(3600))
    );
    assert_eq!(sim.finished(5), ["dropped stale-playback"]);
}

#[test]
fn exit_key_leaves_the_queue() {
    let mut sim = in_queue(|_| {});
    assert_eq!(
        sim.key('#'),
        ["stop#3", "leave general Exited", "> bye", "play#4 goodbye"]
    );
}

#[test]
fn callback_key_keeps_the_place_and_the_caller_may_hang_up() {
    let mut sim = in_queue(|_| {});
    sim.finished(3);
    assert_eq!(sim.key('*'), ["callback general"]);
    assert_eq!(sim.key('*'), ["dropped key-ignored"]);
    assert_eq!(
        sim.input(Input::CallbackRegistered),
        ["stop#4", "> callback_ok", "play#5 callback_registered"]
    );
}

#[test]
fn hanging_up_while_queued_leaves_the_queue_and_ends_once() {
    let mut sim = in_queue(|_| {});
    sim.finished(3);
    assert_eq!(
        sim.input(Input::CallerHungUp),
        ["leave general Abandoned", "ended caller_hung_up by caller"]
    );
    assert_eq!(sim.input(Input::CallerHungUp), Vec::<String>::new());
    assert_eq!(sim.key('1'), Vec::<String>::new());
    assert_eq!(sim.wait(secs(7200)), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), None);
    assert_eq!(sim.call.counters().dropped, 2);
}

#[test]
fn queue_refusals_and_timeouts_take_their_outcomes() {
    for fact in [Input::QueueTimedOut, Input::QueueNoAgents, Input::QueueFull] {
        let mut sim = in_queue(|_| {});
        assert_eq!(sim.input(fact), ["stop#3", "> sorry", "play#4 sorry_busy"]);
    }
}

#[test]
fn queue_facts_out_of_place_are_dropped() {
    let mut sim = at_main_menu();
    assert_eq!(
        sim.input(Input::AgentAssigned {
            agent: AgentId::new("a1")
        }),
        ["dropped unexpected-fact"]
    );
    assert_eq!(
        sim.input(Input::TransferConnected),
        ["dropped unexpected-fact"]
    );
    assert_eq!(sim.call.state_name(), "choosing");
}

fn transferring(connected: Option<&str>) -> Sim {
    let mut b = FlowBuilder::new("transfer");
    b.transfer("out", "tel:+8675583765566", connected, "sorry");
    b.play("after", &["welcome_back"], false, "sorry");
    b.hangup("sorry", &["sorry_busy"], "busy");
    let (sim, out) = Sim::start(b);
    assert_eq!(out, ["> out", "transfer tel:+8675583765566"]);
    sim
}

#[test]
fn failed_transfer_takes_the_failed_outcome() {
    let mut sim = transferring(None);
    assert_eq!(sim.key('1'), ["dropped key-ignored"]);
    assert_eq!(
        sim.input(Input::TransferFailed {
            reason: "busy".into()
        }),
        ["transfer-failed busy", "> sorry", "play#1 sorry_busy"]
    );
}

#[test]
fn connected_transfer_leaves_the_engine_without_a_hangup() {
    let mut sim = transferring(None);
    assert_eq!(
        sim.input(Input::TransferConnected),
        ["ended transferred by remote"]
    );
    let mut sim = transferring(Some("after"));
    assert_eq!(
        sim.input(Input::TransferConnected),
        ["> after", "play#1 welcome_back"]
    );
}

#[test]
fn max_call_duration_hangs_up_and_ends_once() {
    let mut b = hotline();
    b.max_call_duration(secs(600));
    let (mut sim, _) = Sim::start(b);
    sim.finished(1);
    sim.key('0');
    sim.finished(3);
    assert_eq!(sim.wait(secs(599)), Vec::<String>::new());
    assert_eq!(
        sim.wait(secs(1)),
        [
            "leave general MaxDuration",
            "stop#4",
            "hangup max_duration",
            "ended max_duration by engine"
        ]
    );
    assert_eq!(sim.call.poll_timeout(), None);
    assert_eq!(sim.wait(secs(600)), Vec::<String>::new());
}

#[test]
fn a_loop_without_input_ends_with_an_error_at_the_step_cap() {
    let mut b = FlowBuilder::new("loop");
    b.set("count", &[("n", "1")], "check");
    b.branch("check", &[("again", "vars.n == 1", "count")], "bye");
    b.hangup("bye", &[], "normal");
    let (sim, out) = Sim::start(b);
    assert_eq!(out.len(), STEP_LIMIT + 2);
    assert_eq!(out[STEP_LIMIT], "hangup error");
    assert_eq!(out[STEP_LIMIT + 1], "ended error by engine");
    assert!(matches!(
        sim.call.outcome(),
        Some(EndReason::Error(CallError::StepLimit { .. }))
    ));
}

fn merchant_calendar() -> Calendar {
    use chrono::NaiveTime;
    let day = vec![(
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
    )];
    Calendar {
        id: CalendarId::new("merchant"),
        timezone: chrono_tz::Asia::Shanghai,
        weekly: std::array::from_fn(|_| day.clone()),
        holidays: vec![chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()],
        workdays: Vec::new(),
        workday_hours: Vec::new(),
        overrides: Vec::new(),
        emergency_flags: vec!["system_outage".into()],
    }
}

fn scheduled(started_at: DateTime<Utc>, flags: &[&str]) -> Sim {
    let mut b = FlowBuilder::new("hours");
    b.play("welcome", &["welcome"], false, "hours");
    b.schedule("hours", "merchant", ["open", "closed", "holiday", "outage"]);
    b.hangup("open", &["open"], "normal");
    b.hangup("closed", &["closed"], "after_hours");
    b.hangup("holiday", &["holiday"], "holiday");
    b.hangup("outage", &["outage"], "outage");
    let setup = Setup {
        calendars: vec![merchant_calendar()],
        started_at,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ..Setup::default()
    };
    Sim::start_with(b, setup).0
}

#[test]
fn schedule_reads_the_wall_clock_at_the_moment_the_node_runs() {
    // 20:59:30 Beijing; the welcome lasts a minute, so the schedule runs at 21:00:30.
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 12, 59, 30).unwrap();
    let mut sim = scheduled(start, &[]);
    sim.wait(secs(60));
    assert_eq!(
        sim.finished(1),
        [
            "> hours",
            "schedule merchant closed",
            "> closed",
            "play#2 closed"
        ]
    );
    let mut sim = scheduled(start, &[]);
    assert_eq!(sim.finished(1)[1], "schedule merchant open");
}

#[test]
fn schedule_takes_holiday_and_emergency_outcomes() {
    let national_day = Utc.with_ymd_and_hms(2026, 10, 1, 3, 0, 0).unwrap();
    let mut sim = scheduled(national_day, &[]);
    assert_eq!(sim.finished(1)[1], "schedule merchant holiday");
    let mut sim = scheduled(national_day, &["system_outage"]);
    assert_eq!(sim.finished(1)[1], "schedule merchant emergency");
}

#[test]
fn language_switch_changes_the_language_of_later_prompts() {
    let mut b = FlowBuilder::new("lang");
    b.language("english", "en-US", "hello");
    b.play("hello", &["hello"], false, "bye");
    b.hangup("bye", &[], "normal");
    let (mut sim, out) = Sim::start(b);
    assert_eq!(
        out,
        ["> english", "language en-US", "> hello", "play#1 hello"]
    );
    assert_eq!(sim.call.language().as_str(), "en-US");
    assert_eq!(
        sim.finished(1),
        ["> bye", "hangup normal", "ended normal by engine"]
    );
}

#[test]
fn play_actions_carry_the_current_language() {
    let mut b = FlowBuilder::new("lang");
    b.play("hello", &["hello"], false, "english");
    b.language("english", "en-US", "again");
    b.play("again", &["hello"], false, "bye");
    b.hangup("bye", &[], "normal");
    let (mut sim, _) = Sim::start(b);
    assert_eq!(
        sim.call.language().as_str(),
        "zh-CN",
        "the flow's first language"
    );
    sim.call
        .handle_input(sim.now, Input::PlaybackFinished(PlaybackId(1)));
    let languages: Vec<String> = std::iter::from_fn(|| sim.call.poll_action())
        .filter_map(|a| match a {
            Action::Play { language, .. } => Some(language.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(languages, ["en-US"]);
}

#[test]
fn lookup_copies_fields_or_takes_not_found() {
    let build = |key: &str| {
        let mut b = FlowBuilder::new("lookup");
        b.set("id", &[("merchant", key)], "find");
        b.lookup(
            "find",
            "merchants",
            "vars.merchant",
            &[("tier", "tier")],
            ["route", "unknown"],
        );
        b.branch(
            "route",
            &[("chain", "vars.tier == 'chain'", "chain")],
            "unknown",
        );
        b.hangup("chain", &[], "chain");
        b.hangup("unknown", &[], "unknown");
        let setup = Setup {
            tables: vec![table("merchants", &[("10000001", &[("tier", "chain")])])],
            ..Setup::default()
        };
        Sim::start_with(b, setup)
    };
    let (sim, out) = build("'10000001'");
    assert_eq!(
        out,
        [
            "> id",
            "> find",
            "lookup found",
            "looked-up tier=chain",
            "> route",
            "> chain",
            "hangup chain",
            "ended chain by engine"
        ]
    );
    assert_eq!(sim.call.var("tier"), Some(&Value::Str("chain".into())));
    let (_, out) = build("'99999999'");
    assert_eq!(out[2..4], ["lookup not-found", "> unknown"]);
}

#[test]
fn branch_reads_caller_number_dialled_number_and_flags() {
    let mut b = FlowBuilder::new("branch");
    b.branch(
        "route",
        &[
            ("outage", "call.flags.system_outage", "outage"),
            (
                "mobile",
                "caller.number starts_with '+86138' && call.number == '95017'",
                "mobile",
            ),
        ],
        "other",
    );
    b.hangup("outage", &[], "outage");
    b.hangup("mobile", &[], "mobile");
    b.hangup("other", &[], "other");
    let (sim, _) = Sim::start(b);
    assert_eq!(sim.call.outcome(), Some(&EndReason::Flow("mobile".into())));
}

#[test]
fn stale_playback_and_early_timeouts_change_nothing() {
    let mut sim = at_main_menu();
    assert_eq!(sim.finished(1), ["dropped stale-playback"]);
    assert_eq!(sim.finished(99), ["dropped stale-playback"]);
    sim.finished(2);
    let deadline = sim.call.poll_timeout().unwrap();
    sim.call.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(sim.drain(), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(deadline));
}

#[test]
fn time_going_backwards_is_ignored() {
    let mut sim = at_main_menu();
    sim.finished(2);
    let deadline = sim.call.poll_timeout().unwrap();
    sim.call
        .handle_timeout(sim.now.checked_sub(secs(30)).unwrap_or(sim.now));
    assert_eq!(sim.drain(), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(deadline));
    // A key stamped in the past still counts, at the latest time seen.
    let before = sim.now.checked_sub(secs(1)).unwrap_or(sim.now);
    sim.call
        .handle_input(before, Input::DigitReceived(digit('2')));
    assert_eq!(sim.drain(), Vec::<String>::new());
    assert_eq!(sim.call.poll_timeout(), Some(sim.now + secs(3)));
}

#[test]
fn caller_number_is_redacted_in_debug() {
    let sim = at_main_menu();
    let text = format!("{:?}", sim.call);
    assert!(text.contains("***"));
    assert!(!text.contains("13800001234"));
}
