//! Reference checks between files: what a graph names elsewhere (calendars, tables and
//! their columns, queues and their priority classes, subflows with their parameters and
//! outcomes, declared `return` outcomes), and numbers claimed by two flows.
//!
//! It only reports: it must not change the graphs or stop at the first problem.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::flow::diagnostic::Diagnostic;
use crate::flow::kinds::{ReadQueue, ReadTable};
use crate::flow::model::Calendar;
use crate::flow::raw::{Body, RawGraph, RawNode, on_path};
use crate::flow::read::Sp;
use crate::flow::route::canonical_number;

pub(super) struct Refs<'a> {
    pub(super) queues: &'a BTreeMap<String, &'a ReadQueue>,
    pub(super) calendars: &'a BTreeMap<String, &'a Calendar>,
    pub(super) tables: &'a BTreeMap<String, &'a ReadTable>,
    pub(super) subflows: &'a BTreeMap<String, &'a RawGraph>,
}

pub(super) fn unknown<T>(
    code: &'static str,
    what: &str,
    at: &Sp<String>,
    known: &BTreeMap<String, T>,
    file: &Path,
    node: Option<&str>,
    field: &str,
) -> Diagnostic {
    let d = Diagnostic::error(
        code,
        file,
        at.line,
        at.column,
        format!("no {what} named \"{}\"", at.v),
    );
    let d = match node {
        Some(n) => d.node(n),
        None => d,
    };
    d.field(field)
        .suggest(&at.v, known.keys().map(String::as_str))
}

/// References from one graph file to other files.
pub(super) fn check_references(g: &RawGraph, r: &Refs<'_>, d: &mut Vec<Diagnostic>) {
    let file = g.file.as_path();
    for n in &g.nodes {
        let node = n.id.as_str();
        match &n.body {
            Body::Schedule { calendar } if !r.calendars.contains_key(&calendar.v) => {
                d.push(unknown(
                    "unknown-calendar",
                    "calendar",
                    calendar,
                    r.calendars,
                    file,
                    Some(node),
                    "calendar",
                ));
            }
            Body::Lookup { table, fields, .. } => match r.tables.get(&table.v) {
                None => d.push(unknown(
                    "unknown-table",
                    "table",
                    table,
                    r.tables,
                    file,
                    Some(node),
                    "table",
                )),
                Some(t) => {
                    for (var, col) in fields {
                        if !t.columns.contains(&col.v) {
                            d.push(
                                Diagnostic::error(
                                    "unknown-column",
                                    file,
                                    col.line,
                                    col.column,
                                    format!("table \"{}\" has no column \"{}\"", table.v, col.v),
                                )
                                .node(node)
                                .field(format!("fields.{var}"))
                                .suggest(&col.v, t.columns.iter().map(String::as_str)),
                            );
                        }
                    }
                }
            },
            Body::Enqueue {
                queue, priority, ..
            } => match r.queues.get(&queue.v) {
                None => d.push(unknown(
                    "unknown-queue",
                    "queue",
                    queue,
                    r.queues,
                    file,
                    Some(node),
                    "queue",
                )),
                Some(q) => {
                    if let Some(p) = priority
                        && !q.queue.classes.iter().any(|c| c.name.as_str() == p.v)
                    {
                        d.push(
                            Diagnostic::error(
                                "unknown-priority-class",
                                file,
                                p.line,
                                p.column,
                                format!("queue \"{}\" has no priority class \"{}\"", queue.v, p.v),
                            )
                            .node(node)
                            .field("priority")
                            .suggest(&p.v, q.queue.classes.iter().map(|c| c.name.as_str())),
                        );
                    }
                }
            },
            Body::Subflow { flow, params } => match r.subflows.get(&flow.v) {
                None => d.push(unknown(
                    "unknown-subflow",
                    "subflow",
                    flow,
                    r.subflows,
                    file,
                    Some(node),
                    "flow",
                )),
                Some(sub) => check_subflow_use(g, n, sub, params, d),
            },
            Body::Return { outcome }
                if g.is_subflow && !g.outcomes.iter().any(|o| o.v == outcome.v) =>
            {
                d.push(
                    Diagnostic::error(
                        "unknown-outcome",
                        file,
                        outcome.line,
                        outcome.column,
                        format!(
                            "subflow \"{}\" declares no outcome \"{}\"",
                            g.id.v, outcome.v
                        ),
                    )
                    .node(node)
                    .field("outcome")
                    .suggest(&outcome.v, g.outcomes.iter().map(|o| o.v.as_str())),
                );
            }
            _ => {}
        }
    }
}

fn check_subflow_use(
    g: &RawGraph,
    n: &RawNode,
    sub: &RawGraph,
    params: &[(Sp<String>, crate::flow::expr::Expr)],
    d: &mut Vec<Diagnostic>,
) {
    let file = g.file.as_path();
    for (p, _) in params {
        if !sub.params.contains(&p.v) {
            d.push(
                Diagnostic::error(
                    "unknown-param",
                    file,
                    p.line,
                    p.column,
                    format!("subflow \"{}\" has no parameter \"{}\"", sub.id.v, p.v),
                )
                .node(n.id.clone())
                .field(format!("params.{}", p.v))
                .suggest(&p.v, sub.params.iter().map(String::as_str)),
            );
        }
    }
    for p in &sub.params {
        if !params.iter().any(|(q, _)| &q.v == p) {
            d.push(
                Diagnostic::error(
                    "missing-param",
                    file,
                    n.line,
                    n.column,
                    format!("subflow \"{}\" needs parameter \"{p}\"", sub.id.v),
                )
                .node(n.id.clone())
                .field(format!("params.{p}")),
            );
        }
    }
    for e in &n.edges {
        if !sub.outcomes.iter().any(|o| o.v == e.outcome) {
            d.push(
                Diagnostic::error(
                    "unknown-outcome",
                    file,
                    e.line,
                    e.column,
                    format!("subflow \"{}\" has no outcome \"{}\"", sub.id.v, e.outcome),
                )
                .node(n.id.clone())
                .field(on_path(&e.outcome))
                .suggest(&e.outcome, sub.outcomes.iter().map(|o| o.v.as_str())),
            );
        }
    }
    for o in &sub.outcomes {
        if n.edge(&o.v).is_none() {
            d.push(
                Diagnostic::error(
                    "missing-outcome",
                    file,
                    n.line,
                    n.column,
                    format!(
                        "required outcome \"{}\" of subflow \"{}\" is not mapped",
                        o.v, sub.id.v
                    ),
                )
                .node(n.id.clone())
                .field(on_path(&o.v)),
            );
        }
    }
}

/// Two flows (or one flow twice) must not answer the same number.
pub(super) fn check_numbers(graphs: &[RawGraph], d: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<String, (&str, &Sp<String>)> = HashMap::new();
    for g in graphs.iter().filter(|g| !g.is_subflow) {
        for n in &g.numbers {
            let key = canonical_number(&n.v);
            match seen.get(&key) {
                Some((other, first)) => d.push(
                    Diagnostic::error(
                        "number-claimed-twice",
                        &g.file,
                        n.line,
                        n.column,
                        format!(
                            "number \"{}\" is already answered by flow \"{other}\" (as \"{}\")",
                            n.v, first.v
                        ),
                    )
                    .field("numbers"),
                ),
                None => {
                    seen.insert(key, (g.id.v.as_str(), n));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{HEAD, codes, run};

    #[test]
    fn subflow_outcomes_must_all_be_mapped_and_exist() {
        let sub = "kind: subflow\nid: s\noutcomes: [done, failed]\nentry: r\nnodes:\n  r: {type: return, outcome: done}\n";
        let flow = format!(
            "{HEAD}  a: {{type: subflow, flow: s, on: {{done: end, fail: end}}}}\n  end: {{type: hangup}}\n"
        );
        let c = run(&[("f.yaml", &flow), ("s.yaml", sub)], None);
        assert_eq!(
            codes(&c),
            ["missing-outcome", "unknown-outcome"],
            "{:?}",
            c.diagnostics
        );
        assert_eq!(
            c.diagnostics[1].help.as_deref(),
            Some("did you mean \"failed\"?")
        );
    }

    #[test]
    fn lookup_fields_must_name_table_columns() {
        let t = "kind: table\nid: m\nkey: id\nrows:\n  - {id: \"1\", tier: a}\n";
        let flow = format!(
            "{HEAD}  a: {{type: lookup, table: m, key: \"vars.x\", fields: {{tier: teir}}, on: {{ok: end, not_found: end}}}}\n  end: {{type: hangup}}\n"
        );
        let c = run(&[("f.yaml", &flow), ("t.yaml", t)], None);
        assert_eq!(codes(&c), ["unknown-column"]);
        assert_eq!(
            c.diagnostics[0].help.as_deref(),
            Some("did you mean \"tier\"?")
        );
    }
}
