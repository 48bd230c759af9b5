//! What flow tests name: a compiled flow and its nodes, its numbers, queues and priority
//! classes, catalogue prompts and calendars' emergency flags.
//!
//! It only reports; it must not run the tests (that is `flowtest`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::CatalogueInput;
use super::references::{Refs, unknown};
use crate::flow::diagnostic::Diagnostic;
use crate::flow::kinds::ReadQueue;
use crate::flow::route::canonical_number;
use crate::flow::test_model::TestRefs;
use crate::ids::PromptId;

/// What flow tests may name: flows with their node ids and numbers, and emergency flags.
pub(super) struct TestTargets<'a> {
    pub(super) flows: &'a BTreeMap<&'a str, Vec<&'a str>>,
    pub(super) numbers: &'a BTreeMap<&'a str, Vec<String>>,
    pub(super) flags: &'a BTreeSet<&'a str>,
}

pub(super) fn check_test_refs(
    file: &Path,
    r: &TestRefs,
    t: &TestTargets<'_>,
    refs: &Refs<'_>,
    catalogue: &CatalogueInput,
    d: &mut Vec<Diagnostic>,
) {
    let (flows, numbers, flags) = (t.flows, t.numbers, t.flags);
    let Some(flow) = &r.flow else {
        return;
    };
    let Some(nodes) = flows.get(flow.v.as_str()) else {
        d.push(
            Diagnostic::error(
                "unknown-flow",
                file,
                flow.line,
                flow.column,
                format!("no flow named \"{}\"", flow.v),
            )
            .field("flow")
            .suggest(&flow.v, flows.keys().copied()),
        );
        return;
    };
    for n in &r.nodes {
        if !nodes.contains(&n.v.as_str()) {
            d.push(
                Diagnostic::error(
                    "unknown-node",
                    file,
                    n.line,
                    n.column,
                    format!("flow \"{}\" has no node \"{}\"", flow.v, n.v),
                )
                .field("expect.node")
                .suggest(&n.v, nodes.iter().copied()),
            );
        }
    }
    let own = numbers.get(flow.v.as_str());
    for n in &r.numbers {
        if !own.is_some_and(|o| o.contains(&canonical_number(&n.v))) {
            d.push(
                Diagnostic::error(
                    "test-number-elsewhere",
                    file,
                    n.line,
                    n.column,
                    format!("number \"{}\" does not reach flow \"{}\"", n.v, flow.v),
                )
                .field("number"),
            );
        }
    }
    let class_known = |q: &ReadQueue, p: &str| q.queue.classes.iter().any(|c| c.name.as_str() == p);
    for (q, p) in &r.queues {
        match refs.queues.get(&q.v) {
            None => d.push(unknown(
                "unknown-queue",
                "queue",
                q,
                refs.queues,
                file,
                None,
                "expect.queue",
            )),
            Some(queue) => {
                if let Some(p) = p
                    && !class_known(queue, &p.v)
                {
                    d.push(
                        Diagnostic::error(
                            "unknown-priority-class",
                            file,
                            p.line,
                            p.column,
                            format!("queue \"{}\" has no priority class \"{}\"", q.v, p.v),
                        )
                        .field("expect.priority")
                        .suggest(&p.v, queue.queue.classes.iter().map(|c| c.name.as_str())),
                    );
                }
            }
        }
    }
    for p in &r.priorities {
        if !refs.queues.values().any(|q| class_known(q, &p.v)) {
            d.push(
                Diagnostic::error(
                    "unknown-priority-class",
                    file,
                    p.line,
                    p.column,
                    format!("no queue has a priority class \"{}\"", p.v),
                )
                .field("expect.priority"),
            );
        }
    }
    if let CatalogueInput::Loaded(cat) = catalogue {
        for p in &r.prompts {
            // `number:42` and `digits:123` name spoken values, not catalogue prompts.
            let spoken =
                p.v.strip_prefix("number:")
                    .is_some_and(|n| n.parse::<u64>().is_ok())
                    || p.v.strip_prefix("digits:").is_some_and(|d| !d.is_empty());
            if !spoken && !cat.contains_key(&PromptId::new(p.v.clone())) {
                d.push(
                    Diagnostic::error(
                        "missing-prompt",
                        file,
                        p.line,
                        p.column,
                        format!("prompt \"{}\" is not in the catalogue", p.v),
                    )
                    .field("expect.prompts")
                    .suggest(&p.v, cat.keys().map(PromptId::as_str)),
                );
            }
        }
    }
    for f in &r.flags {
        if !flags.contains(f.v.as_str()) {
            d.push(
                Diagnostic::error(
                    "unknown-flag",
                    file,
                    f.line,
                    f.column,
                    format!("no calendar has an emergency flag \"{}\"", f.v),
                )
                .field("flags")
                .suggest(&f.v, flags.iter().copied()),
            );
        }
    }
}
