//! Subflow inlining: each `subflow` node becomes a `set` of its parameters followed by the
//! subflow's nodes (ids `outer/inner`), `return` nodes become aliases, and recursion is
//! reported.
//!
//! It must not check references (that pass ran before) and never loops forever: recursion is
//! cut by the stack of subflows being inlined, alias chains by a fixed bound.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::flow::diagnostic::Diagnostic;
use crate::flow::raw::{Body, Edge, RawGraph, RawNode};

pub(super) fn resolve_alias(aliases: &HashMap<String, String>, name: &str) -> String {
    let mut cur = name.to_owned();
    for _ in 0..64 {
        match aliases.get(&cur) {
            Some(next) => cur.clone_from(next),
            None => break,
        }
    }
    cur
}

/// Inlines subflows: a `subflow` node becomes a `set` of its parameters followed by the
/// subflow's nodes with ids `<node>/<inner>`; `return` nodes become aliases for the caller's
/// outcome targets.
#[allow(
    clippy::too_many_arguments,
    reason = "a recursive walk with its accumulators"
)]
pub(super) fn expand(
    g: &RawGraph,
    prefix: &str,
    subflows: &BTreeMap<String, &RawGraph>,
    stack: &mut Vec<String>,
    returns: &BTreeMap<String, String>,
    out: &mut Vec<RawNode>,
    aliases: &mut HashMap<String, String>,
    used: &mut BTreeSet<String>,
    d: &mut Vec<Diagnostic>,
) {
    for n in &g.nodes {
        let id = format!("{prefix}{}", n.id);
        match &n.body {
            Body::Return { outcome } => {
                if let Some(t) = returns.get(&outcome.v) {
                    aliases.insert(id, t.clone());
                }
            }
            Body::Subflow { flow, params } => {
                let Some(sub) = subflows.get(&flow.v) else {
                    out.push(RawNode {
                        id,
                        body: Body::Broken,
                        ..n.clone()
                    });
                    continue;
                };
                if stack.contains(&flow.v) {
                    let mut chain = stack.clone();
                    chain.push(flow.v.clone());
                    d.push(
                        Diagnostic::error(
                            "subflow-recursion",
                            &n.file,
                            flow.line,
                            flow.column,
                            format!(
                                "subflow \"{}\" would run inside itself: {}",
                                flow.v,
                                chain.join(" → ")
                            ),
                        )
                        .node(n.id.clone())
                        .field("flow"),
                    );
                    out.push(RawNode {
                        id,
                        body: Body::Broken,
                        ..n.clone()
                    });
                    continue;
                }
                used.insert(flow.v.clone());
                let inner_prefix = format!("{id}/");
                let entry = sub
                    .entry
                    .as_ref()
                    .map(|e| format!("{inner_prefix}{}", e.v))
                    .unwrap_or_default();
                out.push(RawNode {
                    id: id.clone(),
                    body: Body::Set {
                        assignments: params
                            .iter()
                            .map(|(p, e)| (p.v.clone(), e.clone()))
                            .collect(),
                    },
                    edges: vec![Edge {
                        outcome: "done".into(),
                        target: entry,
                        line: n.line,
                        column: n.column,
                    }],
                    ..n.clone()
                });
                let inner_returns: BTreeMap<String, String> = n
                    .edges
                    .iter()
                    .map(|e| (e.outcome.clone(), format!("{prefix}{}", e.target)))
                    .collect();
                stack.push(flow.v.clone());
                expand(
                    sub,
                    &inner_prefix,
                    subflows,
                    stack,
                    &inner_returns,
                    out,
                    aliases,
                    used,
                    d,
                );
                stack.pop();
            }
            _ => {
                let mut node = n.clone();
                node.id = id;
                for e in &mut node.edges {
                    e.target = format!("{prefix}{}", e.target);
                }
                out.push(node);
            }
        }
    }
}
