//! Flow tests (`kind: test` files): suites of cases with steps and expectations.
//!
//! This module only reads and checks test files (that the flow, nodes, queues, priority
//! classes, prompts and flags they name exist); running them on a virtual clock is the call
//! core's business. No I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use crate::flow::diagnostic::Diagnostic;
use crate::flow::read::{Cx, Obj, Sp, parse_duration};
use crate::flow::spec;
use crate::flow::yaml::{Yaml, YamlValue};
use crate::ids::{Digit, FlowId, NodeId, PriorityClass, PromptId, QueueId};

/// One `kind: test` file.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSuite {
    /// The file.
    pub file: PathBuf,
    /// A name for reports (the file's `name`, else its path).
    pub name: String,
    /// The flow under test.
    pub flow: FlowId,
    /// The cases, in file order.
    pub cases: Vec<TestCase>,
}

/// One case: a call from start to the expectations.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// What it proves.
    pub name: String,
    /// Line of the case in the file.
    pub line: usize,
    /// Caller number, if given.
    pub caller: Option<String>,
    /// Dialled number; `None` means the flow's first number.
    pub number: Option<String>,
    /// Wall-clock time of the call.
    pub at: Option<DateTime<FixedOffset>>,
    /// Emergency flags switched on.
    pub flags: Vec<String>,
    /// What happens, in order.
    pub steps: Vec<TestStep>,
    /// What must hold at the end.
    pub expect: Expect,
}

/// Time between keys of one `press` step.
pub const KEY_GAP: Duration = Duration::from_millis(200);

/// One step of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestStep {
    /// Keys pressed [`KEY_GAP`] apart.
    Press(Vec<Digit>),
    /// Time passes with no key.
    Silence(Duration),
    /// Time passes (same as silence; reads better between queue facts).
    Advance(Duration),
    /// A queue fact.
    Queue(QueueFact),
    /// A transfer fact.
    Transfer(TransferFact),
    /// The caller hangs up.
    Hangup,
}

/// What the queue reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueFact {
    /// An agent took the call.
    Answered,
    /// Max wait passed.
    Timeout,
    /// Nobody is logged in.
    NoAgents,
    /// The queue is full.
    Full,
}

/// What the transfer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferFact {
    /// The far end answered.
    Connected,
    /// It did not.
    Failed,
}

/// Expectations; `None` / empty means "not checked".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expect {
    /// Every prompt heard, in order.
    pub prompts: Option<Vec<PromptId>>,
    /// The node the call is at or ended in.
    pub node: Option<NodeId>,
    /// The queue joined.
    pub queue: Option<QueueId>,
    /// The priority class joined.
    pub priority: Option<PriorityClass>,
    /// Variable values, as text.
    pub vars: BTreeMap<String, String>,
    /// Whether the call has ended.
    pub ended: Option<bool>,
}

/// Names a test refers to, with where they are written, for the compiler to check.
#[derive(Debug, Default)]
pub struct TestRefs {
    /// The flow id.
    pub flow: Option<Sp<String>>,
    /// Dialled numbers.
    pub numbers: Vec<Sp<String>>,
    /// Nodes.
    pub nodes: Vec<Sp<String>>,
    /// Queues, each with the priority expected alongside (if any).
    pub queues: Vec<(Sp<String>, Option<Sp<String>>)>,
    /// Priority classes expected without a queue.
    pub priorities: Vec<Sp<String>>,
    /// Prompts.
    pub prompts: Vec<Sp<String>>,
    /// Flags.
    pub flags: Vec<Sp<String>>,
}

fn step(cx: Cx<'_>, i: usize, y: &Yaml, d: &mut Vec<Diagnostic>) -> Option<TestStep> {
    let field = format!("steps[{i}]");
    if let YamlValue::Str(s) = &y.value {
        if s == "hangup" {
            return Some(TestStep::Hangup);
        }
        d.push(
            cx.err("bad-step", y, &field, format!("unknown step \"{s}\""))
                .suggest(s, ["hangup"]),
        );
        return None;
    }
    let Some([(k, v)]) = y.as_map() else {
        d.push(cx.err("bad-step", y, &field, "a step is `press: \"1\"`, `silence: 6s`, `advance: 1m`, `queue: answered`, `transfer: failed` or `hangup`"));
        return None;
    };
    let kind = k.scalar_text().unwrap_or_default();
    let val = v.scalar_text().unwrap_or_default();
    let bad = |d: &mut Vec<Diagnostic>, msg: String, words: &[&str]| {
        d.push(
            cx.err("bad-step", v, &format!("{field}.{kind}"), msg)
                .suggest(&val, words.iter().copied()),
        );
        None
    };
    match kind.as_str() {
        "press" => {
            let keys: Option<Vec<Digit>> = val.chars().map(Digit::new).collect();
            match keys {
                Some(k) if !k.is_empty() => Some(TestStep::Press(k)),
                _ => bad(
                    d,
                    format!("\"{val}\" is not DTMF keys (0-9, *, #, A-D); quote them"),
                    &[],
                ),
            }
        }
        "silence" | "advance" => match parse_duration(&val) {
            Some(t) if kind == "silence" => Some(TestStep::Silence(t)),
            Some(t) => Some(TestStep::Advance(t)),
            None => {
                d.push(
                    cx.err(
                        "bad-duration",
                        v,
                        &format!("{field}.{kind}"),
                        format!("\"{val}\" is not a duration"),
                    )
                    .help("write \"500ms\", \"5s\", \"2m\""),
                );
                None
            }
        },
        "queue" => match val.as_str() {
            "answered" => Some(TestStep::Queue(QueueFact::Answered)),
            "timeout" => Some(TestStep::Queue(QueueFact::Timeout)),
            "no_agents" => Some(TestStep::Queue(QueueFact::NoAgents)),
            "full" => Some(TestStep::Queue(QueueFact::Full)),
            _ => bad(
                d,
                format!("\"{val}\" is not a queue fact (answered, timeout, no_agents, full)"),
                &["answered", "timeout", "no_agents", "full"],
            ),
        },
        "transfer" => match val.as_str() {
            "connected" => Some(TestStep::Transfer(TransferFact::Connected)),
            "failed" => Some(TestStep::Transfer(TransferFact::Failed)),
            _ => bad(
                d,
                format!("\"{val}\" is not a transfer fact (connected, failed)"),
                &["connected", "failed"],
            ),
        },
        _ => {
            d.push(
                cx.err("bad-step", k, &field, format!("unknown step \"{kind}\""))
                    .suggest(
                        &kind,
                        ["press", "silence", "advance", "queue", "transfer", "hangup"],
                    ),
            );
            None
        }
    }
}

/// Reads a `kind: test` file into a suite and the names it refers to.
pub fn read_test(
    cx: Cx<'_>,
    root: &Yaml,
    d: &mut Vec<Diagnostic>,
) -> Option<(TestSuite, TestRefs)> {
    let o = Obj::new(cx, root, "", spec::TEST, &[], d)?;
    let mut refs = TestRefs {
        flow: o.text("flow", d),
        ..TestRefs::default()
    };
    let flow = refs.flow.as_ref()?.v.clone();
    let mut cases = Vec::new();
    for (i, c) in o.seq("cases", d).unwrap_or_default().iter().enumerate() {
        let Some(co) = Obj::new(cx, c, &format!("cases[{i}]."), spec::CASE, &[], d) else {
            continue;
        };
        let number = co.text("number", d);
        refs.numbers.extend(number.clone());
        let at = co
            .text("at", d)
            .and_then(|s| match DateTime::parse_from_rfc3339(&s.v) {
                Ok(t) => Some(t),
                Err(_) => {
                    d.push(cx.err_at(
                        "bad-date",
                        s.line,
                        s.column,
                        &co.path("at"),
                        format!(
                            "\"{}\" is not an RFC 3339 time like \"2026-11-26T10:00:00+08:00\"",
                            s.v
                        ),
                    ));
                    None
                }
            });
        let flags = co.texts("flags", false, d).unwrap_or_default();
        refs.flags.extend(flags.iter().cloned());
        let steps = co
            .seq("steps", d)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(j, s)| step(cx, j, s, d))
            .collect();
        let mut expect = Expect::default();
        if let Some(e) = co.obj("expect", spec::EXPECT, d) {
            if let Some(p) = e.texts("prompts", false, d) {
                expect.prompts = Some(p.iter().map(|s| PromptId::new(s.v.clone())).collect());
                refs.prompts.extend(p);
            }
            if let Some(n) = e.text("node", d) {
                expect.node = Some(NodeId::new(n.v.clone()));
                refs.nodes.push(n);
            }
            let queue = e.text("queue", d);
            let priority = e.text("priority", d);
            expect.queue = queue.as_ref().map(|q| QueueId::new(q.v.clone()));
            expect.priority = priority.as_ref().map(|p| PriorityClass::new(p.v.clone()));
            match (queue, priority) {
                (Some(q), p) => refs.queues.push((q, p)),
                (None, Some(p)) => refs.priorities.push(p),
                (None, None) => {}
            }
            for (k, v) in e.map("vars", d).unwrap_or_default() {
                let name = k.scalar_text().unwrap_or_default();
                let value = if v.value == YamlValue::Null {
                    String::new()
                } else {
                    v.scalar_text().unwrap_or_default()
                };
                expect.vars.insert(name, value);
            }
            expect.ended = e.bool("ended", d).map(|b| b.v);
        }
        cases.push(TestCase {
            name: co
                .text("name", d)
                .map_or_else(|| format!("case {}", i + 1), |s| s.v),
            line: c.line,
            caller: co.text("caller", d).map(|s| s.v),
            number: number.map(|s| s.v),
            at,
            flags: flags.into_iter().map(|s| s.v).collect(),
            steps,
            expect,
        });
    }
    let suite = TestSuite {
        file: cx.file.to_path_buf(),
        name: o
            .text("name", d)
            .map_or_else(|| cx.file.display().to_string(), |s| s.v),
        flow: FlowId::new(flow),
        cases,
    };
    Some((suite, refs))
}
