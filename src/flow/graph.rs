//! Drawing a compiled flow: Mermaid (for docs and review) and Graphviz dot.
//!
//! Pure text output from the model; nothing here reads files or changes a flow.

use std::fmt::Write as _;

use crate::flow::model::{Flow, NodeIndex, NodeKind};

/// The node type's word as written in YAML (`language` for [`NodeKind::SetLanguage`]).
pub fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Play(_) => "play",
        NodeKind::Menu(_) => "menu",
        NodeKind::Collect(_) => "collect",
        NodeKind::Set(_) => "set",
        NodeKind::Branch(_) => "branch",
        NodeKind::Schedule(_) => "schedule",
        NodeKind::SetLanguage(_) => "language",
        NodeKind::Lookup(_) => "lookup",
        NodeKind::Enqueue(_) => "enqueue",
        NodeKind::Transfer(_) => "transfer",
        NodeKind::Hangup(_) => "hangup",
    }
}

/// Every outgoing edge of a node as (outcome, target), in a fixed order. Defaulted outcomes
/// (a schedule's `holiday` falling back to `closed`) appear with their resolved target.
pub fn edges(kind: &NodeKind) -> Vec<(String, NodeIndex)> {
    let mut out: Vec<(String, NodeIndex)> = Vec::new();
    let mut add = |name: &str, to: NodeIndex| out.push((name.to_owned(), to));
    match kind {
        NodeKind::Play(p) => add("done", p.next),
        NodeKind::Menu(m) => {
            for (key, to) in &m.options {
                add(key, *to);
            }
            add("invalid_exhausted", m.invalid_exhausted);
            add("timeout_exhausted", m.timeout_exhausted);
        }
        NodeKind::Collect(c) => {
            add("ok", c.ok);
            add("invalid_exhausted", c.invalid_exhausted);
            add("timeout_exhausted", c.timeout_exhausted);
            if let Some(t) = c.cancelled {
                add("cancelled", t);
            }
        }
        NodeKind::Set(s) => add("done", s.next),
        NodeKind::Branch(b) => {
            for (name, _, to) in &b.cases {
                add(name, *to);
            }
            add("default", b.default);
        }
        NodeKind::Schedule(s) => {
            add("open", s.open);
            add("closed", s.closed);
            add("holiday", s.holiday);
            add("emergency", s.emergency);
        }
        NodeKind::SetLanguage(l) => add("done", l.next),
        NodeKind::Lookup(l) => {
            add("ok", l.ok);
            add("not_found", l.not_found);
            add("error", l.error);
            add("timeout", l.timeout);
        }
        NodeKind::Enqueue(e) => {
            if let Some(t) = e.answered {
                add("answered", t);
            }
            add("timeout", e.timeout);
            add("no_agents", e.no_agents);
            add("full", e.full);
            if let Some(t) = e.exit {
                add("exit", t);
            }
            if let Some(t) = e.callback_registered {
                add("callback_registered", t);
            }
        }
        NodeKind::Transfer(t) => {
            if let Some(c) = t.connected {
                add("connected", c);
            }
            add("failed", t.failed);
        }
        NodeKind::Hangup(_) => {}
    }
    out
}

/// Edges of a node grouped by target: one arrow per target, labels joined with ", ".
fn grouped(kind: &NodeKind) -> Vec<(String, NodeIndex)> {
    let mut out: Vec<(String, NodeIndex)> = Vec::new();
    for (label, to) in edges(kind) {
        match out.iter_mut().find(|(_, t)| *t == to) {
            Some((l, _)) => {
                l.push_str(", ");
                l.push_str(&label);
            }
            None => out.push((label, to)),
        }
    }
    out
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;").replace('|', "#124;")
}

/// A Mermaid `flowchart` of the flow; the entry node is marked with a double border.
pub fn mermaid(flow: &Flow) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, n) in flow.nodes.iter().enumerate() {
        let label = format!(
            "{}<br/><i>{}</i>",
            mermaid_text(n.id.as_str()),
            kind_name(&n.kind)
        );
        let shape = match (&n.kind, i == flow.entry.0) {
            (_, true) => format!("[[\"{label}\"]]"),
            (
                NodeKind::Menu(_)
                | NodeKind::Collect(_)
                | NodeKind::Branch(_)
                | NodeKind::Schedule(_),
                _,
            ) => {
                format!("{{\"{label}\"}}")
            }
            (NodeKind::Hangup(_), _) => format!("([\"{label}\"])"),
            _ => format!("[\"{label}\"]"),
        };
        let _ = writeln!(out, "    n{i}{shape}");
    }
    for (i, n) in flow.nodes.iter().enumerate() {
        for (label, to) in grouped(&n.kind) {
            let _ = writeln!(out, "    n{i} -->|\"{}\"| n{}", mermaid_text(&label), to.0);
        }
    }
    out
}

fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A Graphviz `digraph` of the flow; the entry node is drawn bold.
pub fn dot(flow: &Flow) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n    rankdir=TB;\n    node [fontname=\"sans-serif\"];\n",
        dot_text(flow.id.as_str())
    );
    for (i, n) in flow.nodes.iter().enumerate() {
        let shape = match n.kind {
            NodeKind::Menu(_)
            | NodeKind::Collect(_)
            | NodeKind::Branch(_)
            | NodeKind::Schedule(_) => "diamond",
            NodeKind::Hangup(_) => "doublecircle",
            NodeKind::Enqueue(_) | NodeKind::Transfer(_) => "hexagon",
            _ => "box",
        };
        let style = if i == flow.entry.0 {
            ", style=bold"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    n{i} [label=\"{}\\n{}\", shape={shape}{style}];",
            dot_text(n.id.as_str()),
            kind_name(&n.kind)
        );
    }
    for (i, n) in flow.nodes.iter().enumerate() {
        for (label, to) in grouped(&n.kind) {
            let _ = writeln!(
                out,
                "    n{i} -> n{} [label=\"{}\"];",
                to.0,
                dot_text(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}
