//! Comparing what a test call did with what its case expects, one precise message per
//! difference.
//!
//! Values of variables a `secure` collect fills (or that are computed from one) are never put
//! in a message: the message says only that they differ.

use std::collections::BTreeSet;

use serde::Serialize;
use thiserror::Error;

use crate::flow::model::{Flow, NodeKind, Utterance};
use crate::flow::test_model::Expect;
use crate::ids::{NodeId, PriorityClass, QueueId};

/// How an utterance is written in `expect.prompts`: the prompt id, `number:42` for a number
/// spoken as a quantity, `digits:123` for a digit string read key by key.
pub fn utterance_name(utterance: &Utterance) -> String {
    match utterance {
        Utterance::Prompt(id) => id.to_string(),
        Utterance::Number(n) => format!("number:{n}"),
        Utterance::Digits(d) => format!("digits:{d}"),
    }
}

fn item(list: &[String], index: usize) -> &str {
    list.get(index).map_or("nothing more", String::as_str)
}

fn or_none<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// One way a case failed.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// The prompts heard are not the ones expected.
    #[error(
        "prompts differ at index {index}: expected {}, heard {}",
        item(.expected, *.index),
        item(.heard, *.index)
    )]
    Prompts {
        /// The first position where the lists differ.
        index: usize,
        /// The expected list.
        expected: Vec<String>,
        /// What the caller heard.
        heard: Vec<String>,
    },
    /// The call is at (or ended in) another node.
    #[error("node: expected {expected}, the call is at {actual}")]
    Node {
        /// The node expected.
        expected: NodeId,
        /// The node the call is at.
        actual: NodeId,
    },
    /// The call joined another queue, or none.
    #[error("queue: expected {expected}, joined {}", or_none(.actual))]
    Queue {
        /// The queue expected.
        expected: QueueId,
        /// The last queue joined, if any.
        actual: Option<QueueId>,
    },
    /// The call joined with another priority class, or joined no queue.
    #[error("priority: expected {expected}, joined {}", or_none(.actual))]
    Priority {
        /// The class expected.
        expected: PriorityClass,
        /// The class of the last queue joined, if any.
        actual: Option<PriorityClass>,
    },
    /// A variable holds another value.
    #[error("vars.{name}: expected {expected:?}, {}", match .actual {
        Some(v) => format!("found {v:?}"),
        None => "the variable is not set".to_owned(),
    })]
    Var {
        /// The variable.
        name: String,
        /// The value expected, as text.
        expected: String,
        /// The value found, as text; `None` when unset.
        actual: Option<String>,
    },
    /// A secure variable holds another value (neither value is shown).
    #[error("vars.{name}: the secure value differs from the one expected (values not shown)")]
    SecureVar {
        /// The variable.
        name: String,
    },
    /// The call has (or has not) ended.
    #[error("ended: expected {expected}, {}", if *.expected {
        format!("the call is still running ({})", .state)
    } else {
        format!("the call ended ({})", .state)
    })]
    Ended {
        /// Whether the call was expected to have ended.
        expected: bool,
        /// What it is doing (`choosing`, ...) or how it ended (`caller_hung_up`, ...).
        state: String,
    },
    /// The flow the test names is not loaded.
    #[error("no flow named {0}")]
    UnknownFlow(String),
    /// The call never came to rest: it kept running without waiting for the caller.
    #[error(
        "the call did not come to rest within {events} events (a flow looping through prompts?)"
    )]
    Runaway {
        /// The event budget spent.
        events: usize,
    },
}

/// What a test call did, as the expectations see it.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// Utterances heard, named as in [`utterance_name`].
    pub heard: &'a [String],
    /// The node the call is at or ended in.
    pub node: &'a NodeId,
    /// The last queue joined and its class.
    pub joined: Option<&'a (QueueId, PriorityClass)>,
    /// Whether the call has ended.
    pub ended: bool,
    /// The state (`choosing`, ...) or, once ended, the end's label.
    pub state: &'a str,
}

/// Variables holding secure values in `flow`: those a `secure` collect fills, and those a
/// `set` computes from one (to a fixed point).
pub fn secure_vars(flow: &Flow) -> BTreeSet<String> {
    let mut secure: BTreeSet<String> = flow
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Collect(c) if c.secure => Some(c.var.clone()),
            _ => None,
        })
        .collect();
    loop {
        let mut grew = false;
        for node in &flow.nodes {
            let NodeKind::Set(set) = &node.kind else {
                continue;
            };
            for (var, expr) in &set.assignments {
                let reads_secure = expr.paths().iter().any(|p| {
                    p.strip_prefix("vars.")
                        .is_some_and(|name| secure.contains(name))
                });
                if reads_secure && !secure.contains(var) {
                    secure.insert(var.clone());
                    grew = true;
                }
            }
        }
        if !grew {
            return secure;
        }
    }
}

/// Every difference between `expect` and what the call did; `var` reads a variable as text
/// (`None`: unset), `secure` names the variables whose values must not be shown.
pub fn check(
    expect: &Expect,
    seen: &Observed<'_>,
    var: &dyn Fn(&str) -> Option<String>,
    secure: &BTreeSet<String>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(expected) = &expect.prompts {
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
        if expected != seen.heard {
            let index = expected
                .iter()
                .zip(seen.heard)
                .position(|(e, h)| e != h)
                .unwrap_or_else(|| expected.len().min(seen.heard.len()));
            out.push(Mismatch::Prompts {
                index,
                expected,
                heard: seen.heard.to_vec(),
            });
        }
    }
    if let Some(expected) = &expect.node
        && expected != seen.node
    {
        out.push(Mismatch::Node {
            expected: expected.clone(),
            actual: seen.node.clone(),
        });
    }
    if let Some(expected) = &expect.queue {
        let actual = seen.joined.map(|(q, _)| q.clone());
        if actual.as_ref() != Some(expected) {
            out.push(Mismatch::Queue {
                expected: expected.clone(),
                actual,
            });
        }
    }
    if let Some(expected) = &expect.priority {
        let actual = seen.joined.map(|(_, p)| p.clone());
        if actual.as_ref() != Some(expected) {
            out.push(Mismatch::Priority {
                expected: expected.clone(),
                actual,
            });
        }
    }
    for (name, expected) in &expect.vars {
        let actual = var(name);
        // An expected empty text (`null` in the file) also matches an unset variable.
        let same = match &actual {
            Some(v) => v == expected,
            None => expected.is_empty(),
        };
        if same {
            continue;
        }
        out.push(if secure.contains(name) {
            Mismatch::SecureVar { name: name.clone() }
        } else {
            Mismatch::Var {
                name: name.clone(),
                expected: expected.clone(),
                actual,
            }
        });
    }
    if let Some(expected) = expect.ended
        && expected != seen.ended
    {
        out.push(Mismatch::Ended {
            expected,
            state: seen.state.to_owned(),
        });
    }
    out
}
