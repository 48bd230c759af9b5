//! Loading the minimal good flow set: it compiles cleanly and the model holds what the files say.

use std::path::Path;
use std::time::Duration;

use ivr::flow::model::{NodeKind, Utterance};
use ivr::flow::test_model::{QueueFact, TestStep};
use ivr::flow::{LoadOptions, load};
use ivr::ids::{Digit, PromptId};

fn good() -> ivr::flow::LoadReport {
    load(&LoadOptions::new([Path::new("tests/fixtures/good/flows")]))
}

fn rendered(r: &ivr::flow::LoadReport) -> String {
    r.diagnostics.iter().map(|d| format!("{d}\n")).collect()
}

#[test]
fn good_flow_set_loads_without_diagnostics() {
    let r = good();
    assert!(r.diagnostics.is_empty(), "{}", rendered(&r));
    let set = r.set.expect("a flow set");
    assert_eq!(set.flows.len(), 1);
    assert_eq!(set.queues.len(), 1);
    assert_eq!(set.calendars.len(), 1);
    assert_eq!(set.tables.len(), 1);
    assert_eq!(set.version.len(), 16);
    assert_eq!(set.flows[0].version.len(), 16);
}

#[test]
fn subflow_nodes_are_inlined_with_prefixed_ids() {
    let set = good().set.expect("a flow set");
    let flow = &set.flows[0];
    let ids: Vec<&str> = flow.nodes.iter().map(|n| n.id.as_str()).collect();
    assert!(ids.contains(&"lang/ask"), "{ids:?}");
    assert!(ids.contains(&"lang/zh"));
    assert!(
        !ids.contains(&"lang/out"),
        "return nodes disappear into edges"
    );
    let lang = flow.find("lang").expect("lang");
    let NodeKind::Set(set_params) = &flow.node(lang).kind else {
        panic!("subflow node becomes a set of its params");
    };
    assert_eq!(set_params.assignments[0].0, "greeting");
    assert_eq!(flow.node(set_params.next).id.as_str(), "lang/ask");
    let zh = flow.find("lang/zh").expect("zh");
    let NodeKind::SetLanguage(l) = &flow.node(zh).kind else {
        panic!("language node");
    };
    assert_eq!(
        flow.node(l.next).id.as_str(),
        "hours",
        "return leads to the caller's done target"
    );
}

#[test]
fn menu_reading_takes_node_then_flow_then_engine_defaults() {
    let set = good().set.expect("a flow set");
    let flow = &set.flows[0];
    let NodeKind::Menu(m) = &flow.node(flow.find("main_menu").expect("menu")).kind else {
        panic!("menu");
    };
    assert_eq!(m.reading.attempts, 2, "node");
    assert_eq!(m.reading.timeout, Duration::from_secs(4), "flow defaults");
    assert_eq!(
        m.reading.inter_digit_timeout,
        Duration::from_secs(3),
        "engine default"
    );
    assert_eq!(
        m.reading.invalid_prompt,
        vec![Utterance::Prompt(PromptId::new("invalid_choice"))]
    );
    let keys: Vec<&str> = m.options.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["1", "2", "0", "#"]);
    assert_eq!(flow.max_call_duration, Duration::from_secs(1800));
}

#[test]
fn enqueue_without_priority_takes_the_queues_last_class() {
    let set = good().set.expect("a flow set");
    let flow = &set.flows[0];
    let NodeKind::Enqueue(e) = &flow.node(flow.find("agent").expect("agent")).kind else {
        panic!("enqueue");
    };
    assert_eq!(e.priority.as_str(), "normal");
    let NodeKind::Enqueue(v) = &flow.node(flow.find("vip").expect("vip")).kind else {
        panic!("enqueue");
    };
    assert_eq!(v.priority.as_str(), "vip");
    assert_eq!(v.exit_key, Digit::new('*'));
    assert!(v.exit.is_some());
}

#[test]
fn numbers_route_in_national_and_international_form() {
    let set = good().set.expect("a flow set");
    for dialled in [
        "0755-83765566",
        "075583765566",
        "+86 755 83765566",
        "95017",
        "+8695017",
    ] {
        assert_eq!(
            set.route(dialled).map(|f| f.id.as_str()),
            Some("line-1"),
            "{dialled}"
        );
    }
    assert!(set.route("12345").is_none());
    assert!(set.route("").is_none());
}

#[test]
fn flow_tests_are_read_into_suites() {
    let r = good();
    assert_eq!(r.tests.len(), 1);
    let suite = &r.tests[0];
    assert_eq!(suite.flow.as_str(), "line-1");
    assert_eq!(suite.cases.len(), 2);
    let c = &suite.cases[0];
    assert_eq!(c.steps.len(), 6);
    assert_eq!(
        c.steps[0],
        TestStep::Press(vec![Digit::new('1').expect("key")])
    );
    assert_eq!(c.steps[2], TestStep::Silence(Duration::from_secs(6)));
    assert_eq!(c.steps[3], TestStep::Queue(QueueFact::Answered));
    assert_eq!(c.steps[5], TestStep::Hangup);
    assert_eq!(c.expect.priority.as_ref().map(|p| p.as_str()), Some("vip"));
    assert_eq!(c.expect.vars.get("tier").map(String::as_str), Some("chain"));
    assert_eq!(
        c.at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-26T10:00:00+08:00")
    );
}

#[test]
fn version_changes_when_a_source_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("audio-prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(&prompts).expect("mkdir");
    std::fs::write(prompts.join("prompts.yaml"), "bye: {en-US: Bye}\n").expect("write");
    let flow = "kind: flow\nid: f\nnumbers: [\"1\"]\nlanguages: [en-US]\nentry: end\nnodes:\n  end: {type: hangup, prompt: bye}\n";
    std::fs::write(flows.join("f.yaml"), flow).expect("write");
    let v1 = load(&LoadOptions::new([&flows]))
        .set
        .expect("loads")
        .version;
    std::fs::write(
        flows.join("f.yaml"),
        flow.replace("hangup,", "hangup, reason: done,"),
    )
    .expect("write");
    let v2 = load(&LoadOptions::new([&flows]))
        .set
        .expect("loads")
        .version;
    assert_ne!(v1, v2);
}
