//! `ivr test` on a temporary directory of flow files: passing and failing cases, coverage,
//! JSON output and flows that do not load.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::fs;
use std::path::Path;
use std::process::Command;

const FLOW: &str = r#"
kind: flow
id: hotline-95017
name: 95017 general hotline
numbers: ["95017"]
languages: [zh-CN, en-US]
defaults:
  timeout: 5s
  attempts: 3
  invalid_prompt: invalid_choice
  no_input_prompt: no_input
entry: welcome
vars:
  reason: none
nodes:
  welcome:
    type: play
    prompt: welcome_95017
    on: { done: main_menu }
  main_menu:
    type: menu
    prompt: menu_main
    on:
      "1": fraud
      "0": agent
      invalid_exhausted: agent
      timeout_exhausted: agent
  fraud:
    type: set
    vars: { reason: "'fraud'" }
    on: { done: fraud_queue }
  fraud_queue:
    type: enqueue
    queue: general
    priority: emergency
    prompt: please_hold
    on: { timeout: goodbye, no_agents: goodbye, full: goodbye }
  agent:
    type: enqueue
    queue: general
    priority: normal
    on: { timeout: goodbye, no_agents: goodbye, full: goodbye }
  goodbye:
    type: hangup
    prompt: goodbye
"#;

const QUEUE: &str = r#"
kind: queue
id: general
classes:
  - { name: emergency, strict: true, max_agent_share: 0.5 }
  - { name: normal, aging_per_second: 0.1 }
max_wait: 10m
hold_music: hold_music
"#;

const PROMPTS: &str = r#"
welcome_95017: {zh-CN: 欢迎致电, en-US: Welcome}
menu_main: {zh-CN: 请选择, en-US: Please choose}
invalid_choice: {zh-CN: 输入有误, en-US: Invalid choice}
no_input: {zh-CN: 没有听到, en-US: We did not hear you}
please_hold: {zh-CN: 请稍候, en-US: Please hold}
hold_music: {zh-CN: (音乐), en-US: (music)}
goodbye: {zh-CN: 再见, en-US: Goodbye}
"#;

const PASSING: &str = r#"
kind: test
flow: hotline-95017
cases:
  - name: fraud caller reaches the emergency lane
    caller: "+8613800000000"
    at: "2026-11-26T10:00:00+08:00"
    steps:
      - press: "1"
    expect:
      prompts: [welcome_95017, menu_main, please_hold, hold_music]
      node: fraud_queue
      queue: general
      priority: emergency
      vars: { reason: fraud }
      ended: false
  - name: no agents means goodbye
    steps:
      - press: "0"
      - queue: no_agents
    expect:
      prompts: [welcome_95017, menu_main, hold_music, goodbye]
      node: goodbye
      ended: true
"#;

const FAILING: &str = r#"
kind: test
flow: hotline-95017
cases:
  - name: zero is wrongly expected in the emergency lane
    steps:
      - press: "0"
    expect:
      priority: emergency
      prompts: [welcome_95017, menu_main, please_hold]
"#;

/// A flows directory with its catalogue next to it; `tests` are the test files to add.
fn workspace(tests: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    fs::create_dir_all(flows.join("tests")).unwrap();
    fs::create_dir_all(dir.path().join("audio-prompts")).unwrap();
    fs::write(flows.join("hotline-95017.yaml"), FLOW).unwrap();
    fs::write(flows.join("queue-general.yaml"), QUEUE).unwrap();
    fs::write(dir.path().join("audio-prompts/prompts.yaml"), PROMPTS).unwrap();
    for (name, text) in tests {
        fs::write(flows.join("tests").join(name), text).unwrap();
    }
    dir
}

fn ivr_test(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .arg("test")
        .arg(dir.join("flows"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn passing_cases_exit_zero_and_print_coverage() {
    let dir = workspace(&[("hotline.yaml", PASSING)]);
    let (code, out) = ivr_test(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PASS hotline-95017 › fraud caller reaches the emergency lane\n"),
        "{out}"
    );
    assert!(
        out.contains("PASS hotline-95017 › no agents means goodbye\n"),
        "{out}"
    );
    assert!(out.contains("\n2 passed, 0 failed\n"), "{out}");
    // All six nodes entered; of the 14 edges, welcome.done, main_menu.1, main_menu.0,
    // fraud.done and agent.no_agents were taken.
    let row = out
        .lines()
        .find(|l| l.starts_with("hotline-95017 "))
        .unwrap_or_default();
    assert!(row.contains("6/6  100.0%"), "{out}");
    assert!(row.contains("5/14   35.7%"), "{out}");
    assert!(
        out.contains("untaken edges: main_menu.invalid_exhausted"),
        "{out}"
    );
}

#[test]
fn a_failing_case_exits_one_with_its_reasons() {
    let dir = workspace(&[("hotline.yaml", PASSING), ("wrong.yaml", FAILING)]);
    let (code, out) = ivr_test(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL hotline-95017 › zero is wrongly expected in the emergency lane\n"));
    assert!(
        out.contains("   - prompts differ at index 2: expected please_hold, heard hold_music\n"),
        "{out}"
    );
    assert!(
        out.contains("   - priority: expected emergency, joined normal\n"),
        "{out}"
    );
    assert!(out.contains("\n2 passed, 1 failed\n"), "{out}");
}

#[test]
fn too_little_coverage_fails_only_with_a_minimum() {
    let only_fraud = r#"
kind: test
flow: hotline-95017
cases:
  - name: fraud
    steps: [{ press: "1" }]
    expect: { node: fraud_queue }
"#;
    let dir = workspace(&[("fraud.yaml", only_fraud)]);
    let (code, out) = ivr_test(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unvisited nodes: agent, goodbye"), "{out}");
    let (code, out) = ivr_test(dir.path(), &["--min-coverage", "100"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL coverage hotline-95017: 66.7% of nodes visited, 100% required"),
        "{out}"
    );
}

#[test]
fn json_output_holds_cases_and_coverage() {
    let dir = workspace(&[("hotline.yaml", PASSING), ("wrong.yaml", FAILING)]);
    let (code, out) = ivr_test(dir.path(), &["--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["passed"], 2);
    assert_eq!(doc["failed"], 1);
    let failed = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["passed"] == false)
        .unwrap();
    assert_eq!(failed["mismatches"][0]["kind"], "prompts");
    assert_eq!(failed["mismatches"][0]["index"], 2);
    assert_eq!(doc["coverage"][0]["flow"], "hotline-95017");
    assert_eq!(doc["coverage"][0]["nodes_total"], 6);
}

#[test]
fn flows_that_do_not_load_run_no_test() {
    let broken = r#"
kind: test
flow: hotline-95017
cases:
  - name: names a node that does not exist
    expect: { node: fraud_lane }
"#;
    let dir = workspace(&[("broken.yaml", broken)]);
    let (code, out) = ivr_test(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown-node"), "{out}");
    assert!(out.contains("no test ran"), "{out}");
    assert!(!out.contains("PASS"), "{out}");
}

#[test]
fn recorded_audio_times_the_playbacks() {
    let dir = workspace(&[("hotline.yaml", PASSING)]);
    let audio = dir.path().join("audio-prompts");
    let (zh, shared) = (audio.join("zh-CN"), audio.join("shared"));
    for folder in [&zh, &audio.join("en-US"), &shared] {
        fs::create_dir_all(folder).unwrap();
    }
    // The store wants the spoken numbers and digits; 20 ms each will do.
    for prompt in ivr::media::prompts::SPOKEN_NUMBER_PROMPTS.iter() {
        let file = shared.join(format!("{prompt}.wav"));
        ivr::media::wav::write_wav_8k(&file, &[1000i16; 160]).unwrap();
    }
    // A 3 s welcome; every other prompt has no audio and counts one second.
    ivr::media::wav::write_wav_8k(&zh.join("welcome_95017.wav"), &vec![1000i16; 24_000]).unwrap();
    let (code, out) = ivr_test(
        dir.path(),
        &["--verbose", "--audio", audio.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    // The key goes in once the welcome (3 s) and the menu greeting (1 s) have been heard.
    assert!(out.contains("+4.000s <- key 1"), "{out}");
    let (_, nominal) = ivr_test(dir.path(), &["--verbose"]);
    assert!(nominal.contains("+2.000s <- key 1"), "{nominal}");
    // Audio that does not load is reported, and no test runs.
    let empty = dir.path().join("no-audio");
    let (code, out) = ivr_test(dir.path(), &["--audio", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not load, so no test ran"), "{out}");
}
