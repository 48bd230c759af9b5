//! `ivr validate`, `ivr graph` and `ivr schema` as ops run them: exit codes and output.

use std::process::Command;

fn ivr(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_exits_zero_on_good_flows_and_one_with_errors() {
    let (code, out, _) = ivr(&["validate", "tests/fixtures/good/flows"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 1 flows"), "{out}");
    let (code, out, _) = ivr(&["validate", "tests/broken-flows/dangling-edge"]);
    assert_eq!(code, 1);
    assert!(out.contains("error[dangling-edge]"), "{out}");
    assert!(out.contains("did you mean \"fraud\"?"), "{out}");
}

#[test]
fn warnings_alone_do_not_fail_validation() {
    let (code, out, _) = ivr(&["validate", "tests/broken-flows/unreachable-node"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning[unreachable-node]"));
}

#[test]
fn validate_json_lists_diagnostics_with_positions() {
    let (code, out, _) = ivr(&[
        "validate",
        "--format",
        "json",
        "tests/broken-flows/bad-regex",
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["errors"], 1);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "bad-regex");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["node"], "ask");
    assert_eq!(d["field"], "validate.pattern");
    assert_eq!(d["line"], 13);
}

#[test]
fn validate_takes_an_explicit_catalogue() {
    let (code, out, _) = ivr(&[
        "validate",
        "--prompts",
        "tests/broken-flows/audio-prompts/prompts.yaml",
        "tests/fixtures/good/flows",
    ]);
    assert_eq!(code, 1, "the good flows use prompts this catalogue lacks");
    assert!(out.contains("error[missing-prompt]"), "{out}");
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let (code, out, _) = ivr(&[
        "graph",
        "line-1",
        "--flows",
        "tests/fixtures/good/flows",
        "--format",
        "mermaid",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("flowchart TD\n"));
    assert!(out.contains("lang/ask"));
    let (code, out, _) = ivr(&[
        "graph",
        "line-1",
        "--flows",
        "tests/fixtures/good/flows",
        "--format",
        "dot",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("digraph \"line-1\" {"));
    let (code, _, err) = ivr(&["graph", "nope", "--flows", "tests/fixtures/good/flows"]);
    assert_eq!(code, 1);
    assert!(err.contains("line-1"));
}

#[test]
fn schema_prints_json_schema() {
    let (code, out, _) = ivr(&["schema"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["$schema"], "http://json-schema.org/draft-07/schema#");
}
