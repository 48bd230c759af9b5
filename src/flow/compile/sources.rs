//! The first pass: parse each file into a position-keeping tree and read it by its `kind`
//! (flow, subflow, queue, calendar, table, test), keeping ids unique per kind.
//!
//! It must not look across files beyond the id table (that is `references`), read from disk
//! (texts are handed in) or panic on input: every problem becomes a diagnostic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::flow::diagnostic::{self, Diagnostic};
use crate::flow::kinds::{self, ReadQueue, ReadTable};
use crate::flow::model::Calendar;
use crate::flow::raw::{self, RawGraph};
use crate::flow::read::Cx;
use crate::flow::spec;
use crate::flow::test_model::{self, TestRefs, TestSuite};
use crate::flow::yaml;

pub(super) struct Source<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    fn cx(&self) -> Cx<'_> {
        Cx {
            file: self.file,
            text: self.text,
            node: None,
        }
    }
}

#[derive(Default)]
pub(super) struct Read {
    pub(super) graphs: Vec<RawGraph>,
    pub(super) queues: Vec<(PathBuf, ReadQueue)>,
    pub(super) calendars: Vec<Calendar>,
    pub(super) tables: Vec<ReadTable>,
    pub(super) tests: Vec<(PathBuf, TestSuite, TestRefs)>,
    pub(super) ids: HashMap<(&'static str, String), (PathBuf, usize)>,
}

pub(super) fn read_file(src: &Source<'_>, read: &mut Read, d: &mut Vec<Diagnostic>) {
    let (tree, diags) = yaml::parse_tree(src.file, src.text);
    let Some(root) = tree else {
        d.extend(diags);
        return;
    };
    d.extend(diags.into_iter().map(|x| attach_node(&root, x)));
    let cx = src.cx();
    if root.value == yaml::YamlValue::Null {
        d.push(Diagnostic::warning(
            "empty-file",
            src.file,
            1,
            1,
            "the file is empty",
        ));
        return;
    }
    let Some(kind_y) = root.get("kind") else {
        d.push(cx.err("missing-field", &root, "kind", "the file does not say what it is: add `kind: flow` (or subflow, queue, calendar, table, test)"));
        return;
    };
    let kind = kind_y.scalar_text().unwrap_or_default();
    if kind == "agents" {
        // Static agents: loaded and checked by the server (`gateway::acd_actor`), not here.
        return;
    }
    let known = spec::KINDS.iter().map(|(k, _)| *k);
    let Some((kind, _)) = spec::KINDS.iter().find(|(k, _)| *k == kind) else {
        let close = diagnostic::did_you_mean(&kind, known.clone());
        let diag = if close.is_some() {
            Diagnostic::error(
                "unknown-kind",
                src.file,
                kind_y.line,
                kind_y.column,
                format!("unknown kind \"{kind}\""),
            )
        } else {
            Diagnostic::warning(
                "unknown-kind",
                src.file,
                kind_y.line,
                kind_y.column,
                format!("kind \"{kind}\" is not compiled by the flow loader; file skipped"),
            )
        };
        d.push(diag.field("kind").suggest(&kind, known));
        return;
    };
    // Ids are unique per kind.
    let id_key = if *kind == "test" {
        None
    } else {
        root.get("id")
    };
    if let Some(idy) = id_key
        && let Some(id) = idy.scalar_text()
    {
        let group = if *kind == "subflow" { "flow" } else { kind };
        match read.ids.get(&(group, id.clone())) {
            Some((f, line)) => d.push(cx.err(
                "duplicate-id",
                idy,
                "id",
                format!("{kind} id \"{id}\" is also used by {}:{line}", f.display()),
            )),
            None => {
                read.ids
                    .insert((group, id), (src.file.to_path_buf(), idy.line));
            }
        }
    }
    match *kind {
        "flow" | "subflow" => {
            if let Some(g) = raw::read_graph(cx, &root, *kind == "subflow", d) {
                read.graphs.push(g);
            }
        }
        "queue" => {
            if let Some(q) = kinds::read_queue(cx, &root, d) {
                read.queues.push((src.file.to_path_buf(), q));
            }
        }
        "calendar" => read.calendars.extend(kinds::read_calendar(cx, &root, d)),
        "table" => read.tables.extend(kinds::read_table(cx, &root, d)),
        _ => {
            if let Some((s, r)) = test_model::read_test(cx, &root, d) {
                read.tests.push((src.file.to_path_buf(), s, r));
            }
        }
    }
}

/// Names the node a tree-level diagnostic (duplicate key, unquoted `#`) falls in, and makes
/// its field relative to that node: `nodes.menu.on."1"` → node `menu`, field `on."1"`.
fn attach_node(root: &yaml::Yaml, mut d: Diagnostic) -> Diagnostic {
    let Some(nodes) = root.get("nodes").and_then(yaml::Yaml::as_map) else {
        return d;
    };
    let node = nodes
        .iter()
        .rev()
        .find(|(k, _)| k.line <= d.line)
        .and_then(|(k, _)| k.scalar_text());
    let Some(node) = node else {
        return d;
    };
    match d.field.as_deref().and_then(|f| f.strip_prefix("nodes.")) {
        Some(rest) => {
            let (first, after) = rest.split_once('.').unwrap_or((rest, ""));
            if first.trim_matches('"') != node {
                return d;
            }
            d.field = (!after.is_empty()).then(|| after.to_owned());
        }
        None if d.field.is_some() => return d,
        None => {}
    }
    d.node = Some(node);
    d
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{codes, run};

    #[test]
    fn misspelt_kind_is_an_error_but_a_foreign_kind_only_a_warning() {
        let c = run(
            &[
                ("a.yaml", "kind: flwo\n"),
                ("b.yaml", "kind: dashboard\n"),
                ("c.yaml", "kind: agents\n"),
            ],
            None,
        );
        let sev: Vec<(&str, bool)> = c
            .diagnostics
            .iter()
            .map(|d| (d.code, d.is_error()))
            .collect();
        assert_eq!(sev, [("unknown-kind", true), ("unknown-kind", false)]);
        assert_eq!(
            c.diagnostics[0].help.as_deref(),
            Some("did you mean \"flow\"?")
        );
    }

    #[test]
    fn duplicate_ids_and_table_keys_are_reported() {
        let t = "kind: table\nid: m\nkey: id\nrows:\n  - {id: \"1\", tier: a}\n  - {id: \"1\", tier: b}\n";
        let c = run(&[("a.yaml", t), ("b.yaml", t)], None);
        let mut got = codes(&c);
        got.sort_unstable();
        assert_eq!(got, ["duplicate-id", "duplicate-key", "duplicate-key"]);
    }
}
