//! Tests of the flow-test runner on small flows built in code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, TimeZone, Timelike, Weekday};

use super::*;
use crate::call::testing::{FlowBuilder, flow_set, queue};
use crate::flow::model::{Calendar, Confirm, Utterance};
use crate::flow::test_model::{Expect, QueueFact, TestStep, TransferFact};
use crate::ids::{CalendarId, Digit, PriorityClass, PromptId, QueueId};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn press(keys: &str) -> TestStep {
    TestStep::Press(keys.chars().map(|c| Digit::new(c).unwrap()).collect())
}

fn ids(list: &[&str]) -> Vec<PromptId> {
    list.iter().map(|p| PromptId::new(*p)).collect()
}

fn case(name: &str, steps: Vec<TestStep>, expect: Expect) -> TestCase {
    TestCase {
        name: name.to_owned(),
        line: 7,
        caller: Some("+8613800001234".to_owned()),
        number: None,
        at: None,
        flags: Vec::new(),
        steps,
        expect,
    }
}

fn suite(flow: &str, cases: Vec<TestCase>) -> TestSuite {
    TestSuite {
        file: PathBuf::from("tests/line.yaml"),
        name: "line tests".to_owned(),
        flow: FlowId::new(flow),
        cases,
    }
}

fn set_of(b: FlowBuilder) -> Arc<FlowSet> {
    set_with(b, Vec::new())
}

fn set_with(b: FlowBuilder, calendars: Vec<Calendar>) -> Arc<FlowSet> {
    let flow = Arc::new(b.build().unwrap());
    Arc::new(flow_set(
        vec![flow],
        vec![queue("general")],
        calendars,
        Vec::new(),
    ))
}

fn run_one(set: &Arc<FlowSet>, c: TestCase) -> CaseResult {
    let s = suite(set.flows[0].id.as_str(), vec![c]);
    let report = run(set, &[s], &Nominal::default(), Instant::now());
    report.cases.into_iter().next().unwrap()
}

fn messages(result: &CaseResult) -> Vec<String> {
    result.mismatches.iter().map(ToString::to_string).collect()
}

/// welcome (no barge-in) → main menu: 1 fraud lane, 2 payments sub-menu, 0 agent; failures
/// → agent.
fn hotline() -> FlowBuilder {
    let mut b = FlowBuilder::new("hotline");
    b.play("welcome", &["welcome"], false, "main_menu");
    b.menu(
        "main_menu",
        &["menu_main"],
        &["menu_short"],
        &[("1", "fraud"), ("2", "payments"), ("0", "agent")],
        "agent",
        "agent",
    );
    b.set("fraud", &[("reason", "'fraud'")], "fraud_queue");
    b.enqueue(
        "fraud_queue",
        "general",
        "emergency",
        &["please_hold"],
        ["goodbye", "goodbye", "goodbye"],
    );
    b.menu(
        "payments",
        &["menu_payments"],
        &[],
        &[("1", "agent")],
        "agent",
        "agent",
    );
    b.enqueue(
        "agent",
        "general",
        "normal",
        &[],
        ["goodbye", "goodbye", "goodbye"],
    );
    b.hangup("goodbye", &["goodbye"], "normal");
    b
}

#[test]
fn fraud_caller_reaches_the_emergency_lane() {
    let set = set_of(hotline());
    let expect = Expect {
        prompts: Some(ids(&["welcome", "menu_main", "please_hold", "hold_music"])),
        node: Some(NodeId::new("fraud_queue")),
        queue: Some(QueueId::new("general")),
        priority: Some(PriorityClass::new("emergency")),
        vars: BTreeMap::from([("reason".to_owned(), "fraud".to_owned())]),
        ended: Some(false),
    };
    let r = run_one(&set, case("fraud", vec![press("1")], expect));
    assert_eq!(messages(&r), Vec::<String>::new());
    assert!(r.passed());
    assert_eq!(r.ended, None);
    let path: Vec<&str> = r.path.iter().map(|n| n.as_str()).collect();
    assert_eq!(path, ["welcome", "main_menu", "fraud", "fraud_queue"]);
}

#[test]
fn a_step_starts_once_the_call_has_finished_talking() {
    let set = set_of(hotline());
    let r = run_one(&set, case("key", vec![press("1")], Expect::default()));
    // The welcome and the menu greeting last 1 s each (nominal): the key goes in at 2 s.
    assert!(r.transcript.iter().any(|l| l == "+2.000s <- key 1"));
    assert!(!r.transcript.iter().any(|l| l.contains("dropped")));
    assert_eq!(r.node.as_str(), "fraud_queue");
}

#[test]
fn keys_of_one_press_are_200_ms_apart() {
    let set = set_of(hotline());
    let r = run_one(&set, case("two keys", vec![press("21")], Expect::default()));
    let keys: Vec<&str> = r
        .transcript
        .iter()
        .filter(|l| l.contains("<- key"))
        .map(String::as_str)
        .collect();
    // The second key cuts the payments greeting short.
    assert_eq!(keys, ["+2.000s <- key 2", "+2.200s <- key 1"]);
    assert_eq!(
        r.heard,
        ["welcome", "menu_main", "menu_payments", "hold_music"]
    );
    assert_eq!(r.node.as_str(), "agent");
}

/// first menu → (1) second menu with a two-part greeting → (2) bye; first menu (3) → a
/// notice that cannot be cut short → the second menu.
fn two_menus() -> FlowBuilder {
    let mut b = FlowBuilder::new("menus");
    b.menu(
        "first",
        &["menu_main"],
        &[],
        &[("1", "second"), ("3", "notice")],
        "bye",
        "bye",
    );
    b.menu(
        "second",
        &["menu_a", "menu_b"],
        &[],
        &[("2", "bye")],
        "bye",
        "bye",
    );
    b.play("notice", &["notice"], false, "second");
    b.hangup("bye", &[], "normal");
    b
}

#[test]
fn a_barged_in_prompt_counts_only_the_utterances_that_started() {
    let set = set_of(two_menus());
    let barged = run_one(&set, case("barges", vec![press("12")], Expect::default()));
    assert_eq!(barged.heard, ["menu_main", "menu_a"]);
    assert_eq!(barged.ended.as_deref(), Some("normal"));
    let listened = run_one(
        &set,
        case("listens", vec![press("1"), press("2")], Expect::default()),
    );
    assert_eq!(listened.heard, ["menu_main", "menu_a", "menu_b"]);
}

#[test]
fn later_keys_of_a_press_wait_out_a_prompt_that_cannot_be_cut_short() {
    let set = set_of(two_menus());
    let r = run_one(&set, case("notice", vec![press("32")], Expect::default()));
    let keys: Vec<&str> = r
        .transcript
        .iter()
        .filter(|l| l.contains("<- key"))
        .map(String::as_str)
        .collect();
    // Key 3 at 1 s; the notice plays from 1 s to 2 s and key 2 waits for its end.
    assert_eq!(keys, ["+1.000s <- key 3", "+2.000s <- key 2"]);
    assert_eq!(r.heard, ["menu_main", "notice", "menu_a"]);
    assert!(!r.transcript.iter().any(|l| l.contains("dropped")));
}

#[test]
fn silence_three_times_hands_over_to_an_agent() {
    let set = set_of(hotline());
    // Each silence starts once the prompt has been heard and outlasts the 5 s time-out.
    let expect = Expect {
        prompts: Some(ids(&[
            "welcome",
            "menu_main",
            "no_input",
            "menu_short",
            "no_input",
            "menu_short",
            "hold_music",
        ])),
        node: Some(NodeId::new("agent")),
        priority: Some(PriorityClass::new("normal")),
        ..Expect::default()
    };
    let silence = || TestStep::Silence(secs(6));
    let twice = run_one(
        &set,
        case("twice", vec![silence(), silence()], expect.clone()),
    );
    assert_eq!(
        messages(&twice),
        [
            "prompts differ at index 6: expected hold_music, heard nothing more",
            "node: expected agent, the call is at main_menu",
            "priority: expected normal, joined none",
        ]
    );
    let r = run_one(
        &set,
        case("three times", vec![silence(), silence(), silence()], expect),
    );
    assert_eq!(messages(&r), Vec::<String>::new());
}

#[test]
fn a_wrong_prompt_list_names_the_first_difference() {
    let set = set_of(hotline());
    let expect = Expect {
        prompts: Some(ids(&["welcome", "menu_payments", "please_hold"])),
        ..Expect::default()
    };
    let r = run_one(&set, case("wrong", vec![press("1")], expect));
    assert_eq!(
        messages(&r),
        ["prompts differ at index 1: expected menu_payments, heard menu_main"]
    );
    assert_eq!(
        r.mismatches[0],
        Mismatch::Prompts {
            index: 1,
            expected: vec![
                "welcome".into(),
                "menu_payments".into(),
                "please_hold".into()
            ],
            heard: vec![
                "welcome".into(),
                "menu_main".into(),
                "please_hold".into(),
                "hold_music".into()
            ],
        }
    );
    let short = Expect {
        prompts: Some(ids(&["welcome", "menu_main"])),
        ..Expect::default()
    };
    let r = run_one(&set, case("short", vec![press("1")], short));
    assert_eq!(
        messages(&r),
        ["prompts differ at index 2: expected nothing more, heard please_hold"]
    );
}

#[test]
fn every_unmet_expectation_is_reported() {
    let set = set_of(hotline());
    let expect = Expect {
        prompts: None,
        node: Some(NodeId::new("payments")),
        queue: Some(QueueId::new("vip")),
        priority: Some(PriorityClass::new("normal")),
        vars: BTreeMap::from([
            ("reason".to_owned(), "payments".to_owned()),
            ("product".to_owned(), "wealth".to_owned()),
        ]),
        ended: Some(true),
    };
    let r = run_one(&set, case("all wrong", vec![press("1")], expect));
    assert_eq!(
        messages(&r),
        [
            "node: expected payments, the call is at fraud_queue",
            "queue: expected vip, joined general",
            "priority: expected normal, joined emergency",
            "vars.product: expected \"wealth\", the variable is not set",
            "vars.reason: expected \"payments\", found \"fraud\"",
            "ended: expected true, the call is still running (queued at fraud_queue)",
        ]
    );
    assert!(!r.passed());
}

#[test]
fn secure_digits_appear_in_no_message_and_no_transcript() {
    let mut b = FlowBuilder::new("pin");
    b.collect("pin", "pin", &["ask_pin"], 4, ["copy", "bye", "bye"])
        .secure = true;
    b.set("copy", &[("pin_copy", "vars.pin")], "bye");
    b.hangup("bye", &["goodbye"], "normal");
    let set = set_of(b);
    let expect = Expect {
        vars: BTreeMap::from([
            ("pin".to_owned(), "9999".to_owned()),
            ("pin_copy".to_owned(), "9999".to_owned()),
        ]),
        ..Expect::default()
    };
    let r = run_one(&set, case("pin", vec![press("4721")], expect));
    assert_eq!(
        messages(&r),
        [
            "vars.pin: the secure value differs from the one expected (values not shown)",
            "vars.pin_copy: the secure value differs from the one expected (values not shown)",
        ]
    );
    let all = format!("{:?} {}", r.mismatches, r.transcript.join("\n"));
    assert!(!all.contains("4721"), "{all}");
    assert!(!all.contains("key 4"), "{all}");
    assert_eq!(
        r.transcript
            .iter()
            .filter(|l| l.contains("<- key *"))
            .count(),
        4
    );
    // The right value passes.
    let good = Expect {
        vars: BTreeMap::from([("pin".to_owned(), "4721".to_owned())]),
        ..Expect::default()
    };
    assert!(run_one(&set, case("pin ok", vec![press("4721")], good)).passed());
}

#[test]
fn read_back_digits_and_numbers_are_named_readably() {
    let mut b = FlowBuilder::new("confirm");
    b.collect("id", "merchant_id", &["ask_id"], 4, ["bye", "bye", "bye"])
        .confirm = Some(Confirm {
        prefix: vec![Utterance::Prompt(PromptId::new("you_entered"))],
        question: vec![Utterance::Prompt(PromptId::new("confirm_question"))],
        yes: Digit::new('1').unwrap(),
        no: Digit::new('2').unwrap(),
    });
    b.hangup("bye", &["goodbye"], "normal");
    let set = set_of(b);
    let expect = Expect {
        prompts: Some(ids(&[
            "ask_id",
            "you_entered",
            "digits:1234",
            "confirm_question",
            "goodbye",
        ])),
        vars: BTreeMap::from([("merchant_id".to_owned(), "1234".to_owned())]),
        ended: Some(true),
        ..Expect::default()
    };
    let r = run_one(
        &set,
        case("confirmed", vec![press("1234"), press("1")], expect),
    );
    assert_eq!(messages(&r), Vec::<String>::new());
    assert_eq!(utterance_name(&Utterance::Number(3)), "number:3");
}

#[test]
fn hold_music_counts_once_each_time_it_starts() {
    let mut general = queue("general");
    general.announce.messages = vec![Utterance::Prompt(PromptId::new("thanks_for_waiting"))];
    let flow = Arc::new(hotline().build().unwrap());
    let set = Arc::new(flow_set(vec![flow], vec![general], Vec::new(), Vec::new()));
    let r = run_one(
        &set,
        case(
            "waits",
            vec![press("0"), TestStep::Advance(secs(70))],
            Expect::default(),
        ),
    );
    // Music from 2 s; the message at 22 s and 67 s (20 s, then every 45 s), music after each.
    assert_eq!(
        r.heard,
        [
            "welcome",
            "menu_main",
            "hold_music",
            "thanks_for_waiting",
            "hold_music",
            "thanks_for_waiting",
            "hold_music",
        ]
    );
    assert_eq!(r.ended, None);
}

#[test]
fn queue_and_transfer_facts_take_their_edges() {
    let mut b = FlowBuilder::new("facts");
    b.enqueue(
        "q",
        "general",
        "normal",
        &["please_hold"],
        ["xfer", "full", "full"],
    );
    b.transfer("xfer", "tel:+8675500000000", None, "failed");
    b.hangup("full", &["full"], "full");
    b.hangup("failed", &["sorry"], "transfer_failed");
    let set = set_of(b);
    let timeout = case(
        "timeout then transfer fails",
        vec![
            TestStep::Queue(QueueFact::Timeout),
            TestStep::Transfer(TransferFact::Failed),
        ],
        Expect {
            prompts: Some(ids(&["please_hold", "hold_music", "sorry"])),
            node: Some(NodeId::new("failed")),
            ended: Some(true),
            ..Expect::default()
        },
    );
    let full = case(
        "full",
        vec![TestStep::Queue(QueueFact::Full)],
        Expect {
            node: Some(NodeId::new("full")),
            ..Expect::default()
        },
    );
    let report = run(
        &set,
        &[suite("facts", vec![timeout, full])],
        &Nominal::default(),
        Instant::now(),
    );
    assert_eq!(report.passed(), 2, "{:#?}", report.cases);
    let c = &report.coverage[0];
    // q: answered, timeout, no_agents, full; xfer: connected, failed.
    assert_eq!((c.edges_taken, c.edges_total), (3, 6));
    assert_eq!(c.untaken, ["xfer.connected", "q.answered", "q.no_agents"]);
}

#[test]
fn an_answered_call_ends_with_the_agent_and_covers_answered() {
    let set = set_of(hotline());
    let s = suite(
        "hotline",
        vec![case(
            "answered",
            vec![press("1"), TestStep::Queue(QueueFact::Answered)],
            Expect {
                ended: Some(true),
                node: Some(NodeId::new("fraud_queue")),
                ..Expect::default()
            },
        )],
    );
    let report = run(&set, &[s], &Nominal::default(), Instant::now());
    assert!(report.cases[0].passed(), "{:?}", report.cases[0].mismatches);
    assert_eq!(report.cases[0].ended.as_deref(), Some("answered"));
    assert!(
        !report.coverage[0]
            .untaken
            .contains(&"fraud_queue.answered".to_owned())
    );
}

#[test]
fn coverage_counts_nodes_and_edges_exactly() {
    let set = set_of(hotline());
    let s = suite(
        "hotline",
        vec![
            case("fraud", vec![press("1")], Expect::default()),
            case(
                "bad keys",
                vec![press("9"), press("9"), press("9")],
                Expect::default(),
            ),
        ],
    );
    let report = run(&set, &[s], &Nominal::default(), Instant::now());
    let c = &report.coverage[0];
    assert_eq!(c.flow.as_str(), "hotline");
    assert_eq!(c.cases, 2);
    assert_eq!((c.nodes_visited, c.nodes_total), (5, 7));
    let unvisited: Vec<&str> = c.unvisited.iter().map(|n| n.as_str()).collect();
    assert_eq!(unvisited, ["payments", "goodbye"]);
    // In the builder's order (first mention): welcome 1, main_menu 5, fraud 1, payments 3,
    // agent 4, fraud_queue 4, goodbye 0.
    assert_eq!(c.edges_total, 18);
    assert_eq!(c.edges_taken, 4);
    assert_eq!(
        c.untaken,
        [
            "main_menu.2",
            "main_menu.0",
            "main_menu.timeout_exhausted",
            "payments.1",
            "payments.invalid_exhausted",
            "payments.timeout_exhausted",
            "agent.answered",
            "agent.timeout",
            "agent.no_agents",
            "agent.full",
            "fraud_queue.answered",
            "fraud_queue.timeout",
            "fraud_queue.no_agents",
            "fraud_queue.full",
        ]
    );
    assert!((c.node_percent() - 500.0 / 7.0).abs() < 1e-9);
    assert!(!report.ok(100.0));
    assert!(report.ok(70.0));
    assert_eq!(report.below(100.0).len(), 1);
}

#[test]
fn exhausted_outcomes_to_one_node_are_told_apart() {
    let set = set_of(hotline());
    let s = suite(
        "hotline",
        vec![case(
            "silent",
            vec![TestStep::Silence(secs(30))],
            Expect::default(),
        )],
    );
    let report = run(&set, &[s], &Nominal::default(), Instant::now());
    let untaken = &report.coverage[0].untaken;
    assert!(untaken.contains(&"main_menu.invalid_exhausted".to_owned()));
    assert!(!untaken.contains(&"main_menu.timeout_exhausted".to_owned()));
}

#[test]
fn a_cancelled_collect_takes_the_cancelled_edge() {
    let mut b = FlowBuilder::new("cancel");
    let c = b.collect("id", "id", &["ask_id"], 8, ["bye", "bye", "bye"]);
    c.cancel = Digit::new('*');
    let bye = c.ok;
    c.cancelled = Some(bye);
    b.hangup("bye", &[], "normal");
    let set = set_of(b);
    let s = suite(
        "cancel",
        vec![case("cancels", vec![press("12*")], Expect::default())],
    );
    let report = run(&set, &[s], &Nominal::default(), Instant::now());
    assert_eq!(
        report.coverage[0].untaken,
        ["id.ok", "id.invalid_exhausted", "id.timeout_exhausted"]
    );
}

#[test]
fn branch_cases_to_one_node_and_defaulted_calendar_outcomes_are_one_edge() {
    let mut b = FlowBuilder::new("folds");
    b.branch(
        "route",
        &[("chain", "vars.tier == 'chain'"), ("vip", "vars.vip")].map(|(n, e)| (n, e, "hours")),
        "hours",
    );
    b.schedule("hours", "office", ["open", "closed", "closed", "outage"]);
    b.hangup("open", &[], "normal");
    b.hangup("closed", &[], "after_hours");
    b.hangup("outage", &[], "outage");
    let flow = b.build().unwrap();
    let names: Vec<String> = coverage::edges(&flow)
        .iter()
        .map(|e| e.name(&flow))
        .collect();
    assert_eq!(
        names,
        [
            "hours.open",
            "hours.closed|holiday",
            "hours.emergency",
            "route.chain|vip|default",
        ]
    );
}

fn office() -> Calendar {
    use chrono::NaiveTime;
    let day = vec![(
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
    )];
    let mut weekly: [Vec<(NaiveTime, NaiveTime)>; 7] = std::array::from_fn(|_| day.clone());
    weekly[5].clear();
    weekly[6].clear();
    Calendar {
        id: CalendarId::new("office"),
        timezone: chrono_tz::Asia::Shanghai,
        weekly,
        holidays: vec![chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()],
        workdays: Vec::new(),
        workday_hours: Vec::new(),
        overrides: Vec::new(),
        emergency_flags: vec!["system_outage".into()],
    }
}

#[test]
fn case_time_and_flags_reach_the_calendar() {
    let mut b = FlowBuilder::new("hours");
    b.schedule("hours", "office", ["open", "closed", "holiday", "outage"]);
    b.hangup("open", &["open"], "normal");
    b.hangup("closed", &["closed"], "after_hours");
    b.hangup("holiday", &["holiday"], "holiday");
    b.hangup("outage", &["outage"], "outage");
    let set = set_with(b, vec![office()]);
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let at = |y, m, d, h| Some(shanghai.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap());
    let node = |c: &CaseResult| c.node.to_string();
    let mut default = case("default time", vec![], Expect::default());
    assert_eq!(node(&run_one(&set, default.clone())), "open");
    default.at = at(2026, 11, 25, 20);
    assert_eq!(node(&run_one(&set, default.clone())), "closed");
    default.at = at(2026, 10, 1, 10);
    assert_eq!(node(&run_one(&set, default.clone())), "holiday");
    default.flags = vec!["system_outage".to_owned()];
    let r = run_one(&set, default);
    assert_eq!(node(&r), "outage");
    assert_eq!(r.heard, ["outage"]);
    assert_eq!(r.ended.as_deref(), Some("outage"));
}

#[test]
fn the_default_time_is_a_wednesday_morning_in_shanghai() {
    let t = default_start().with_timezone(&chrono_tz::Asia::Shanghai);
    assert_eq!(t.weekday(), Weekday::Wed);
    assert_eq!((t.hour(), t.minute()), (10, 0));
}

#[test]
fn after_the_steps_prompts_play_out_but_no_timer_is_waited_for() {
    let set = set_of(hotline());
    let r = run_one(&set, case("no steps", vec![], Expect::default()));
    assert_eq!(r.heard, ["welcome", "menu_main"]);
    assert_eq!(r.node.as_str(), "main_menu");
    assert!(!r.transcript.iter().any(|l| l.contains("menu-no-input")));
}

#[test]
fn hanging_up_mid_menu_ends_the_call() {
    let set = set_of(hotline());
    let r = run_one(
        &set,
        case(
            "hangs up",
            vec![
                TestStep::Silence(Duration::from_millis(1500)),
                TestStep::Hangup,
            ],
            Expect {
                node: Some(NodeId::new("main_menu")),
                ended: Some(true),
                prompts: Some(ids(&["welcome", "menu_main"])),
                ..Expect::default()
            },
        ),
    );
    assert_eq!(messages(&r), Vec::<String>::new());
    assert_eq!(r.ended.as_deref(), Some("caller_hung_up"));
}

#[test]
fn a_flow_looping_through_prompts_is_stopped() {
    let mut b = FlowBuilder::new("loop");
    b.max_call_duration(secs(100_000));
    b.play("a", &["one"], false, "b");
    b.play("b", &["two"], false, "a");
    let set = set_of(b);
    let r = run_one(&set, case("loops", vec![], Expect::default()));
    assert_eq!(
        messages(&r),
        [format!(
            "the call did not come to rest within {EVENT_LIMIT} events (a flow looping through prompts?)"
        )]
    );
}

#[test]
fn real_durations_move_the_deadlines() {
    let set = set_of(hotline());
    // A 4 s welcome and a 1 s greeting: the key goes in at 5 s.
    let long_welcome = |u: &Utterance, _: &crate::ids::Language| match u {
        Utterance::Prompt(p) if p.as_str() == "welcome" => secs(4),
        _ => secs(1),
    };
    let s = suite(
        "hotline",
        vec![case("key", vec![press("1")], Expect::default())],
    );
    let report = run(&set, &[s], &long_welcome, Instant::now());
    assert!(
        report.cases[0]
            .transcript
            .iter()
            .any(|l| l == "+5.000s <- key 1")
    );
}

#[test]
fn a_suite_for_an_unknown_flow_fails_each_case() {
    let set = set_of(hotline());
    let s = suite("nope", vec![case("x", vec![], Expect::default())]);
    let report = run(&set, &[s], &Nominal::default(), Instant::now());
    assert_eq!(messages(&report.cases[0]), ["no flow named nope"]);
    assert_eq!(report.coverage[0].cases, 0);
    assert_eq!(report.coverage[0].nodes_visited, 0);
}

#[test]
fn the_text_report_has_verdicts_summary_and_coverage() {
    let set = set_of(hotline());
    let good = case(
        "fraud caller reaches the emergency lane",
        vec![press("1")],
        Expect {
            node: Some(NodeId::new("fraud_queue")),
            ..Expect::default()
        },
    );
    let bad = case(
        "zero reaches an agent",
        vec![press("0")],
        Expect {
            node: Some(NodeId::new("payments")),
            ..Expect::default()
        },
    );
    let report = run(
        &set,
        &[suite("hotline", vec![good, bad])],
        &Nominal::default(),
        Instant::now(),
    );
    let mut out = Vec::new();
    write_text(&report, 100.0, false, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "PASS hotline › fraud caller reaches the emergency lane"
    );
    assert_eq!(lines[1], "FAIL hotline › zero reaches an agent");
    assert_eq!(lines[2], "     at tests/line.yaml:7");
    assert_eq!(
        lines[3],
        "   - node: expected payments, the call is at agent"
    );
    assert_eq!(lines[4], "     path: welcome → main_menu → agent");
    assert!(text.contains("\n1 passed, 1 failed\n"), "{text}");
    assert!(
        text.contains("  unvisited nodes: payments, goodbye\n"),
        "{text}"
    );
    assert!(
        text.contains("FAIL coverage hotline: 71.4% of nodes visited, 100% required"),
        "{text}"
    );
    let mut json = Vec::new();
    write_json(&report, 0.0, &mut json).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["passed"], 1);
    assert_eq!(doc["failed"], 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["cases"][1]["messages"][0],
        "node: expected payments, the call is at agent"
    );
    assert_eq!(doc["cases"][1]["mismatches"][0]["kind"], "node");
    assert_eq!(doc["coverage"][0]["nodes_visited"], 5);
}

#[test]
fn an_enormous_silence_does_not_overflow_the_clock() {
    let set = set_of(hotline());
    let r = run_one(
        &set,
        case(
            "forever",
            vec![press("0"), TestStep::Silence(Duration::MAX)],
            Expect::default(),
        ),
    );
    // The caller waits in the queue until the flow's maximum call duration ends the call.
    assert_eq!(r.ended.as_deref(), Some("max_duration"));
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
}

fn any_step() -> impl proptest::strategy::Strategy<Value = TestStep> {
    use proptest::prelude::*;
    prop_oneof![
        "[0-9*#A-D]{1,6}".prop_map(|k| press(&k)),
        (0u64..40_000).prop_map(|ms| TestStep::Silence(Duration::from_millis(ms))),
        (0u64..400).prop_map(|s| TestStep::Advance(secs(s))),
        prop_oneof![
            Just(QueueFact::Answered),
            Just(QueueFact::Timeout),
            Just(QueueFact::NoAgents),
            Just(QueueFact::Full),
        ]
        .prop_map(TestStep::Queue),
        prop_oneof![Just(TransferFact::Connected), Just(TransferFact::Failed)]
            .prop_map(TestStep::Transfer),
        Just(TestStep::Hangup),
    ]
}

proptest::proptest! {
    #[test]
    fn any_steps_run_without_panic_and_coverage_stays_within_the_flow(
        steps in proptest::collection::vec(any_step(), 0..12)
    ) {
        // The hotline, with a transfer reachable from the main menu's option 3.
        let mut b = FlowBuilder::new("hotline");
        b.play("welcome", &["welcome"], false, "main_menu");
        b.menu(
            "main_menu",
            &["menu_main"],
            &["menu_short"],
            &[("1", "fraud_queue"), ("3", "xfer"), ("0", "agent")],
            "agent",
            "agent",
        );
        b.enqueue("fraud_queue", "general", "emergency", &["please_hold"], ["goodbye"; 3]);
        b.transfer("xfer", "tel:+8675500000000", Some("main_menu"), "agent");
        b.enqueue("agent", "general", "normal", &[], ["goodbye"; 3]);
        b.hangup("goodbye", &["goodbye"], "normal");
        let set = set_of(b);
        let s = suite("hotline", vec![case("random", steps, Expect::default())]);
        let report = run(&set, &[s], &Nominal::default(), Instant::now());
        let c = &report.coverage[0];
        proptest::prop_assert!(c.nodes_visited <= c.nodes_total);
        proptest::prop_assert!(c.edges_taken <= c.edges_total);
        proptest::prop_assert!(c.nodes_visited >= 1);
        proptest::prop_assert!(report.cases[0].passed());
        proptest::prop_assert_eq!(&report.cases[0].heard[0], "welcome");
    }
}
