//! Node and edge coverage of flows by test cases.
//!
//! An *edge* is one way out of a node: an outcome and where it leads (a node, or out of the
//! engine for an `answered` enqueue or a `connected` transfer with no target). A few outcomes
//! are folded so that every edge can be told apart from what a call reports:
//!
//! - `branch` cases that lead to the same node are one edge (`route.chain|default`): the call
//!   core does not say which condition matched, only where it went;
//! - a `schedule`'s `holiday` and `emergency` leading where `closed` leads are part of the
//!   `closed` edge (that is what they default to when not written);
//! - a `lookup` has the edges `ok` and `not_found` only: tables are local, so `error` and
//!   `timeout` cannot happen.
//!
//! Which edge a call took is read from its events (option chosen, failure counts, calendar
//! state, lookup result) and from the queue and transfer facts the runner fed. Nothing here
//! does I/O or reads a clock.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::call::{CallEvent, EndReason, FailureKind};
use crate::flow::model::{Flow, NodeIndex, NodeKind, Reading};
use crate::ids::{FlowId, NodeId};

/// One way out of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The node left.
    pub node: NodeIndex,
    /// The outcomes that take it (more than one only when folded, see the module docs).
    pub outcomes: Vec<String>,
    /// Where it leads; `None`: the call leaves the engine.
    pub target: Option<NodeIndex>,
}

impl Edge {
    /// `node.outcome` (folded outcomes joined with `|`), as coverage reports name edges.
    pub fn name(&self, flow: &Flow) -> String {
        let node = flow
            .nodes
            .get(self.node.0)
            .map_or("?", |n| n.id.as_str())
            .to_owned();
        format!("{node}.{}", self.outcomes.join("|"))
    }
}

fn push(edges: &mut Vec<Edge>, node: NodeIndex, outcome: &str, target: Option<NodeIndex>) {
    edges.push(Edge {
        node,
        outcomes: vec![outcome.to_owned()],
        target,
    });
}

/// Adds `outcome` to the edge of `node` already leading to `target`, or a new edge.
fn fold(edges: &mut Vec<Edge>, node: NodeIndex, outcome: &str, target: NodeIndex) {
    match edges
        .iter_mut()
        .find(|e| e.node == node && e.target == Some(target))
    {
        Some(edge) => edge.outcomes.push(outcome.to_owned()),
        None => push(edges, node, outcome, Some(target)),
    }
}

/// Every edge of `flow`, node by node in the flow's order.
pub fn edges(flow: &Flow) -> Vec<Edge> {
    let mut out = Vec::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        let at = NodeIndex(i);
        let e = &mut out;
        match &node.kind {
            NodeKind::Play(p) => push(e, at, "done", Some(p.next)),
            NodeKind::Set(s) => push(e, at, "done", Some(s.next)),
            NodeKind::SetLanguage(l) => push(e, at, "done", Some(l.next)),
            NodeKind::Menu(m) => {
                for (keys, target) in &m.options {
                    push(e, at, keys, Some(*target));
                }
                push(e, at, "invalid_exhausted", Some(m.invalid_exhausted));
                push(e, at, "timeout_exhausted", Some(m.timeout_exhausted));
            }
            NodeKind::Collect(c) => {
                push(e, at, "ok", Some(c.ok));
                push(e, at, "invalid_exhausted", Some(c.invalid_exhausted));
                push(e, at, "timeout_exhausted", Some(c.timeout_exhausted));
                if let Some(cancelled) = c.cancelled {
                    push(e, at, "cancelled", Some(cancelled));
                }
            }
            NodeKind::Branch(b) => {
                for (case, _, target) in &b.cases {
                    fold(e, at, case, *target);
                }
                fold(e, at, "default", b.default);
            }
            NodeKind::Schedule(s) => {
                push(e, at, "open", Some(s.open));
                push(e, at, "closed", Some(s.closed));
                for (outcome, target) in [("holiday", s.holiday), ("emergency", s.emergency)] {
                    if target == s.closed {
                        fold(e, at, outcome, target);
                    } else {
                        push(e, at, outcome, Some(target));
                    }
                }
            }
            NodeKind::Lookup(l) => {
                push(e, at, "ok", Some(l.ok));
                push(e, at, "not_found", Some(l.not_found));
            }
            NodeKind::Enqueue(q) => {
                push(e, at, "answered", q.answered);
                push(e, at, "timeout", Some(q.timeout));
                push(e, at, "no_agents", Some(q.no_agents));
                push(e, at, "full", Some(q.full));
                if let Some(exit) = q.exit {
                    push(e, at, "exit", Some(exit));
                }
                if let Some(callback) = q.callback_registered {
                    push(e, at, "callback_registered", Some(callback));
                }
            }
            NodeKind::Transfer(t) => {
                push(e, at, "connected", t.connected);
                push(e, at, "failed", Some(t.failed));
            }
            NodeKind::Hangup(_) => {}
        }
    }
    out
}

fn exhausted(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Invalid => "invalid_exhausted",
        FailureKind::NoInput => "timeout_exhausted",
    }
}

/// Follows one call's events and records the nodes it entered and the edges it took.
#[derive(Debug)]
pub struct Tracker {
    flow: Arc<Flow>,
    edges: Vec<Edge>,
    index: HashMap<NodeId, NodeIndex>,
    current: Option<NodeIndex>,
    /// The outcome the events since entering `current` point at.
    hint: Option<String>,
    visited: BTreeSet<NodeIndex>,
    taken: BTreeSet<usize>,
}

impl Tracker {
    /// A tracker for calls on `flow`.
    pub fn new(flow: Arc<Flow>) -> Tracker {
        let index = flow
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), NodeIndex(i)))
            .collect();
        Tracker {
            edges: edges(&flow),
            flow,
            index,
            current: None,
            hint: None,
            visited: BTreeSet::new(),
            taken: BTreeSet::new(),
        }
    }

    /// The node the call is at, as far as the events tell.
    pub fn current(&self) -> Option<NodeIndex> {
        self.current
    }

    /// Notes the outcome a fact fed by the runner leads to (`timeout`, `connected`, ...).
    pub fn hint(&mut self, outcome: &str) {
        self.hint = Some(outcome.to_owned());
    }

    fn reading(&self, node: NodeIndex) -> Option<&Reading> {
        match &self.flow.nodes.get(node.0)?.kind {
            NodeKind::Menu(m) => Some(&m.reading),
            NodeKind::Collect(c) => Some(&c.reading),
            _ => None,
        }
    }

    fn failure(&mut self, kind: FailureKind, consecutive: u32) {
        let attempts = self
            .current
            .and_then(|c| self.reading(c))
            .map_or(1, |r| r.attempts.max(1));
        self.hint = (consecutive >= attempts).then(|| exhausted(kind).to_owned());
    }

    /// Reads one event of the call.
    pub fn observe(&mut self, event: &CallEvent) {
        match event {
            CallEvent::NodeEntered { node, .. } => {
                let next = self.index.get(node).copied();
                if let (Some(from), Some(to)) = (self.current, next) {
                    self.take(from, Some(to));
                }
                if let Some(to) = next {
                    self.visited.insert(to);
                }
                self.current = next;
                self.hint = None;
            }
            CallEvent::OptionChosen { option, .. } => self.hint = Some(option.clone()),
            CallEvent::MenuFailure {
                kind, consecutive, ..
            }
            | CallEvent::CollectFailure {
                kind, consecutive, ..
            } => self.failure(*kind, *consecutive),
            CallEvent::ValueCollected { .. } => self.hint("ok"),
            CallEvent::ScheduleChecked { state, .. } => self.hint(state.as_str()),
            CallEvent::LookedUp { found, .. } => self.hint(if *found { "ok" } else { "not_found" }),
            CallEvent::AgentAssigned { .. } => self.hint("answered"),
            CallEvent::TransferFailed { .. } => self.hint("failed"),
            CallEvent::Ended { outcome, .. } => {
                let leaves = match outcome {
                    EndReason::Answered => Some("answered"),
                    EndReason::Transferred => Some("connected"),
                    _ => None,
                };
                if let (Some(outcome), Some(from)) = (leaves, self.current) {
                    self.hint(outcome);
                    self.take(from, None);
                }
            }
            CallEvent::LanguageChanged { .. }
            | CallEvent::InputDropped { .. }
            | CallEvent::ValueLookedUp { .. } => {}
        }
    }

    /// Records the edge of `from` leading to `to` that the hint names (or the only one).
    fn take(&mut self, from: NodeIndex, to: Option<NodeIndex>) {
        let candidates: Vec<usize> = self
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.node == from && e.target == to)
            .map(|(i, _)| i)
            .collect();
        let named = |outcome: &str| {
            candidates
                .iter()
                .copied()
                .find(|&i| self.edges[i].outcomes.iter().any(|o| o == outcome))
        };
        let chosen = match candidates.as_slice() {
            [] => None,
            [only] => Some(*only),
            [first, ..] => self
                .hint
                .as_deref()
                .and_then(named)
                // A collect left with no value and no exhausting failure was cancelled.
                .or_else(|| named("cancelled"))
                .or(Some(*first)),
        };
        if let Some(i) = chosen {
            self.taken.insert(i);
        }
    }

    /// Nodes entered and edges taken so far.
    pub fn into_seen(self) -> Seen {
        Seen {
            visited: self.visited,
            taken: self.taken,
        }
    }
}

/// What one call covered: indices into the flow's nodes and into [`edges`] of the flow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Nodes entered.
    pub visited: BTreeSet<NodeIndex>,
    /// Edges taken (indices into [`edges`]).
    pub taken: BTreeSet<usize>,
}

impl Seen {
    /// Adds what another call covered.
    pub fn merge(&mut self, other: &Seen) {
        self.visited.extend(other.visited.iter().copied());
        self.taken.extend(other.taken.iter().copied());
    }
}

/// Node and edge coverage of one flow over every case that ran it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowCoverage {
    /// The flow.
    pub flow: FlowId,
    /// Nodes in the flow (subflow nodes inlined).
    pub nodes_total: usize,
    /// Nodes at least one case entered.
    pub nodes_visited: usize,
    /// Nodes no case entered, in the flow's order.
    pub unvisited: Vec<NodeId>,
    /// Edges in the flow (see the module docs).
    pub edges_total: usize,
    /// Edges at least one case took.
    pub edges_taken: usize,
    /// Edges no case took, named `node.outcome`.
    pub untaken: Vec<String>,
    /// Test cases that ran this flow.
    pub cases: usize,
}

fn percent(part: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        // Counts of nodes and edges are far below 2^52, so the conversion is exact.
        part as f64 * 100.0 / total as f64
    }
}

impl FlowCoverage {
    /// Measures `flow` against what its cases covered.
    pub fn measure(flow: &Flow, seen: &Seen, cases: usize) -> FlowCoverage {
        let edges = edges(flow);
        let unvisited = flow
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen.visited.contains(&NodeIndex(*i)))
            .map(|(_, n)| n.id.clone())
            .collect::<Vec<_>>();
        let untaken = edges
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen.taken.contains(i))
            .map(|(_, e)| e.name(flow))
            .collect::<Vec<_>>();
        FlowCoverage {
            flow: flow.id.clone(),
            nodes_total: flow.nodes.len(),
            nodes_visited: flow.nodes.len() - unvisited.len(),
            unvisited,
            edges_total: edges.len(),
            edges_taken: edges.len() - untaken.len(),
            untaken,
            cases,
        }
    }

    /// Share of nodes visited, in percent (100 for a flow without nodes).
    pub fn node_percent(&self) -> f64 {
        percent(self.nodes_visited, self.nodes_total)
    }

    /// Share of edges taken, in percent (100 for a flow without edges).
    pub fn edge_percent(&self) -> f64 {
        percent(self.edges_taken, self.edges_total)
    }

    /// Whether node coverage reaches `min_percent`.
    pub fn meets(&self, min_percent: f64) -> bool {
        self.node_percent() >= min_percent
    }
}
