//! The flow compiler: source texts → checked [`FlowSet`] plus every diagnostic at once.
//!
//! Steps: parse every file into a position-keeping tree; read each by its `kind`; check
//! references between files (queues, calendars, tables, subflows, priority classes, numbers);
//! inline subflows into each flow (`outer/inner` ids); check what depends on the flow
//! (languages, prompts in the catalogue, loops that can spin without caller input); build the
//! immutable model with resolved node indices. The model is built only when no error was
//! found. This module reads no files (see [`crate::flow::load()`]) and never panics on input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::flow::catalogue;
use crate::flow::diagnostic::{self, Diagnostic};
use crate::flow::kinds::{self, ReadQueue, ReadTable};
use crate::flow::model::{
    Branch, Calendar, Collect, Confirm, Enqueue, Flow, FlowSet, Hangup, Lookup, Menu, Node,
    NodeIndex, NodeKind, Play, PromptEntry, Prompts, Reading, Schedule, Set, SetLanguage,
    SourceSpan, Transfer, Utterance, Validation,
};
use crate::flow::raw::{self, Body, Edge, RawGraph, RawNode, RawReading, RawValidation, on_path};
use crate::flow::read::{Cx, Sp};
use crate::flow::route::canonical_number;
use crate::flow::spec;
use crate::flow::test_model::{self, TestRefs, TestSuite};
use crate::flow::yaml;
use crate::ids::{FlowId, Language, NodeId, PromptId, QueueId};

/// Engine defaults for nodes that read keys, used when neither node nor flow sets them.
pub mod engine_defaults {
    use std::time::Duration;
    /// First-key timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(5);
    /// Inter-digit timeout.
    pub const INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Consecutive failures before `*_exhausted` (the hand-over rule).
    pub const ATTEMPTS: u32 = 3;
    /// Longest call.
    pub const MAX_CALL_DURATION: Duration = Duration::from_secs(3600);
}

/// The prompt catalogue as the compiler sees it.
pub enum CatalogueInput {
    /// Loaded.
    Loaded(BTreeMap<PromptId, PromptEntry>),
    /// Could not be loaded (already reported): prompt checks are skipped.
    Missing,
}

/// "Does audio exist for this prompt in this language?"
pub type AudioCheck<'a> = &'a dyn Fn(&PromptId, &Language) -> bool;

/// What compiling produced.
#[derive(Debug, Default)]
pub struct Compiled {
    /// The flow set, when there was no error.
    pub set: Option<FlowSet>,
    /// Flow test suites read.
    pub tests: Vec<TestSuite>,
    /// Every problem, sorted by file and line.
    pub diagnostics: Vec<Diagnostic>,
}

struct Source<'a> {
    file: &'a Path,
    text: &'a str,
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
struct Read {
    graphs: Vec<RawGraph>,
    queues: Vec<(PathBuf, ReadQueue)>,
    calendars: Vec<Calendar>,
    tables: Vec<ReadTable>,
    tests: Vec<(PathBuf, TestSuite, TestRefs)>,
    ids: HashMap<(&'static str, String), (PathBuf, usize)>,
}

/// FNV-1a, 64 bit: a small stable digest for version strings (not for security).
pub fn fnv1a(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Compiles source texts (file → text) against a catalogue. Files are processed in path
/// order; every problem in every file is reported.
pub fn compile(
    sources: &[(PathBuf, String)],
    catalogue: &CatalogueInput,
    audio: Option<AudioCheck<'_>>,
) -> Compiled {
    let mut d = Vec::new();
    let mut sources: Vec<&(PathBuf, String)> = sources.iter().collect();
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut read = Read::default();
    for (file, text) in &sources {
        let src = Source { file, text };
        read_file(&src, &mut read, &mut d);
    }
    let queues: BTreeMap<String, &ReadQueue> = read
        .queues
        .iter()
        .map(|(_, q)| (q.queue.id.0.clone(), q))
        .collect();
    let calendars: BTreeMap<String, &Calendar> =
        read.calendars.iter().map(|c| (c.id.0.clone(), c)).collect();
    let tables: BTreeMap<String, &ReadTable> = read
        .tables
        .iter()
        .map(|t| (t.table.id.0.clone(), t))
        .collect();
    let subflows: BTreeMap<String, &RawGraph> = read
        .graphs
        .iter()
        .filter(|g| g.is_subflow)
        .map(|g| (g.id.v.clone(), g))
        .collect();
    let refs = Refs {
        queues: &queues,
        calendars: &calendars,
        tables: &tables,
        subflows: &subflows,
    };
    for g in &read.graphs {
        check_references(g, &refs, &mut d);
    }
    for (file, q) in &read.queues {
        if let Some(ov) = &q.overflow_at
            && !queues.contains_key(&ov.v)
        {
            d.push(
                Diagnostic::error(
                    "unknown-queue",
                    file,
                    ov.line,
                    ov.column,
                    format!("no queue named \"{}\"", ov.v),
                )
                .field("overflow")
                .suggest(&ov.v, queues.keys().map(String::as_str)),
            );
        }
        if let CatalogueInput::Loaded(cat) = catalogue {
            for p in &q.prompts {
                if !cat.contains_key(&p.v) {
                    d.push(
                        Diagnostic::error(
                            "missing-prompt",
                            file,
                            p.line,
                            p.column,
                            format!("prompt \"{}\" is not in the catalogue", p.v),
                        )
                        .suggest(p.v.as_str(), cat.keys().map(PromptId::as_str)),
                    );
                }
            }
        }
    }
    check_numbers(&read.graphs, &mut d);

    // Per flow: inline, check, build.
    let mut flows = Vec::new();
    for g in read.graphs.iter().filter(|g| !g.is_subflow) {
        let mut exp = Vec::new();
        let mut aliases = HashMap::new();
        let mut used = BTreeSet::new();
        expand(
            g,
            "",
            &subflows,
            &mut vec![g.id.v.clone()],
            &BTreeMap::new(),
            &mut exp,
            &mut aliases,
            &mut used,
            &mut d,
        );
        for n in &mut exp {
            for e in &mut n.edges {
                e.target = resolve_alias(&aliases, &e.target);
            }
        }
        let entry = g.entry.as_ref().map(|e| resolve_alias(&aliases, &e.v));
        check_flow(g, &exp, catalogue, audio, &mut d);
        check_loops(&exp, &mut d);
        let mut parts: Vec<&[u8]> = vec![g.file.as_os_str().as_encoded_bytes(), g.text.as_bytes()];
        for s in &used {
            if let Some(sg) = subflows.get(s) {
                parts.push(sg.file.as_os_str().as_encoded_bytes());
                parts.push(sg.text.as_bytes());
            }
        }
        let version = fnv1a(&parts);
        flows.push((g, exp, entry, version));
    }

    // Flow tests.
    let graph_ids: BTreeMap<&str, Vec<&str>> = flows
        .iter()
        .map(|(g, exp, _, _)| (g.id.v.as_str(), exp.iter().map(|n| n.id.as_str()).collect()))
        .collect();
    let flow_numbers: BTreeMap<&str, Vec<String>> = flows
        .iter()
        .map(|(g, ..)| {
            (
                g.id.v.as_str(),
                g.numbers.iter().map(|n| canonical_number(&n.v)).collect(),
            )
        })
        .collect();
    let flags: BTreeSet<&str> = read
        .calendars
        .iter()
        .flat_map(|c| c.emergency_flags.iter().map(String::as_str))
        .collect();
    for (file, _, r) in &read.tests {
        let targets = TestTargets {
            flows: &graph_ids,
            numbers: &flow_numbers,
            flags: &flags,
        };
        check_test_refs(file, r, &targets, &refs, catalogue, &mut d);
    }

    diagnostic::sort(&mut d);
    let tests = read.tests.into_iter().map(|(_, s, _)| s).collect();
    if d.iter().any(Diagnostic::is_error) {
        return Compiled {
            set: None,
            tests,
            diagnostics: d,
        };
    }
    let mut set = FlowSet::default();
    for (g, exp, entry, version) in &flows {
        match build_flow(g, exp, entry.as_deref(), version, &queues) {
            Some(f) => set.flows.push(Arc::new(f)),
            None => d.push(Diagnostic::error(
                "internal",
                &g.file,
                g.id.line,
                g.id.column,
                "the flow passed every check but could not be built; please report this",
            )),
        }
    }
    set.flows.sort_by(|a, b| a.id.cmp(&b.id));
    for (i, f) in set.flows.iter().enumerate() {
        for n in &f.numbers {
            set.by_number
                .insert(n.chars().filter(char::is_ascii_digit).collect(), i);
        }
    }
    for (_, q) in read.queues {
        set.queues.insert(q.queue.id.clone(), Arc::new(q.queue));
    }
    for c in read.calendars {
        set.calendars.insert(c.id.clone(), Arc::new(c));
    }
    for t in read.tables {
        set.tables.insert(t.table.id.clone(), Arc::new(t.table));
    }
    if let CatalogueInput::Loaded(cat) = catalogue {
        set.prompts = cat.clone();
    }
    let parts: Vec<&[u8]> = sources
        .iter()
        .flat_map(|(f, t)| [f.as_os_str().as_encoded_bytes(), t.as_bytes()])
        .collect();
    set.version = fnv1a(&parts);
    let ok = !d.iter().any(Diagnostic::is_error);
    Compiled {
        set: ok.then_some(set),
        tests,
        diagnostics: d,
    }
}

fn read_file(src: &Source<'_>, read: &mut Read, d: &mut Vec<Diagnostic>) {
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

struct Refs<'a> {
    queues: &'a BTreeMap<String, &'a ReadQueue>,
    calendars: &'a BTreeMap<String, &'a Calendar>,
    tables: &'a BTreeMap<String, &'a ReadTable>,
    subflows: &'a BTreeMap<String, &'a RawGraph>,
}

fn unknown<T>(
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
fn check_references(g: &RawGraph, r: &Refs<'_>, d: &mut Vec<Diagnostic>) {
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
fn check_numbers(graphs: &[RawGraph], d: &mut Vec<Diagnostic>) {
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

fn resolve_alias(aliases: &HashMap<String, String>, name: &str) -> String {
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
fn expand(
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

/// Checks that depend on the flow a node ends up in: languages and prompts.
fn check_flow(
    g: &RawGraph,
    exp: &[RawNode],
    catalogue: &CatalogueInput,
    audio: Option<AudioCheck<'_>>,
    d: &mut Vec<Diagnostic>,
) {
    let langs: Vec<&str> = g.languages.iter().map(|l| l.v.as_str()).collect();
    let mut prompt_refs: Vec<(&Path, Option<&str>, &str, &Sp<PromptId>)> = Vec::new();
    for p in g.defaults.reading.invalid_prompt.iter().flatten() {
        prompt_refs.push((&g.file, None, "defaults.invalid_prompt", p));
    }
    for p in g.defaults.reading.no_input_prompt.iter().flatten() {
        prompt_refs.push((&g.file, None, "defaults.no_input_prompt", p));
    }
    for n in exp {
        if let Body::Language { language } = &n.body
            && !langs.contains(&language.v.as_str())
        {
            d.push(
                Diagnostic::error(
                    "unknown-language",
                    &n.file,
                    language.line,
                    language.column,
                    format!(
                        "flow \"{}\" does not declare language \"{}\" (it has {})",
                        g.id.v,
                        language.v,
                        langs.join(", ")
                    ),
                )
                .node(n.id.clone())
                .field("language")
                .suggest(&language.v, langs.iter().copied()),
            );
        }
        for p in n.body.prompts() {
            prompt_refs.push((&n.file, Some(n.id.as_str()), "prompt", p));
        }
    }
    let CatalogueInput::Loaded(cat) = catalogue else {
        return;
    };
    for (file, node, field, p) in prompt_refs {
        let with_node = |diag: Diagnostic| match node {
            Some(n) => diag.node(n),
            None => diag,
        };
        match cat.get(&p.v) {
            None => d.push(with_node(
                Diagnostic::error(
                    "missing-prompt",
                    file,
                    p.line,
                    p.column,
                    format!("prompt \"{}\" is not in the catalogue", p.v),
                )
                .field(field)
                .suggest(p.v.as_str(), cat.keys().map(PromptId::as_str)),
            )),
            Some(entry) => {
                for l in &langs {
                    let lang = Language::new(*l);
                    if !entry.text.contains_key(&lang) {
                        d.push(with_node(
                            Diagnostic::error(
                                "missing-prompt",
                                file,
                                p.line,
                                p.column,
                                format!("prompt \"{}\" has no {l} text in the catalogue", p.v),
                            )
                            .field(field),
                        ));
                    } else if let Some(exists) = audio
                        && !exists(&p.v, &lang)
                    {
                        d.push(with_node(
                            Diagnostic::error(
                                "missing-audio",
                                file,
                                p.line,
                                p.column,
                                format!("prompt \"{}\" has no {l} audio file", p.v),
                            )
                            .field(field),
                        ));
                    }
                }
            }
        }
    }
}

/// A cycle made only of nodes that neither wait for the caller nor end the call can spin
/// forever. A cycle is allowed when a `branch` in it reads a variable a `set` in it assigns
/// (a counter that lets it out).
fn check_loops(exp: &[RawNode], d: &mut Vec<Diagnostic>) {
    let index: HashMap<&str, usize> = exp
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let spins: Vec<bool> = exp.iter().map(|n| !n.body.waits()).collect();
    let succ: Vec<Vec<usize>> = exp
        .iter()
        .map(|n| {
            n.edges
                .iter()
                .filter_map(|e| index.get(e.target.as_str()).copied())
                .filter(|&j| spins[j])
                .collect()
        })
        .collect();
    let reach = |from: usize| -> Vec<bool> {
        let mut seen = vec![false; exp.len()];
        let mut todo: Vec<usize> = succ[from].clone();
        while let Some(i) = todo.pop() {
            if !seen[i] {
                seen[i] = true;
                todo.extend(&succ[i]);
            }
        }
        seen
    };
    let reaches: Vec<Vec<bool>> = (0..exp.len())
        .map(|i| {
            if spins[i] {
                reach(i)
            } else {
                vec![false; exp.len()]
            }
        })
        .collect();
    let mut done = vec![false; exp.len()];
    for i in 0..exp.len() {
        if done[i] || !spins[i] || !reaches[i][i] {
            continue;
        }
        let members: Vec<usize> = (0..exp.len())
            .filter(|&j| reaches[i][j] && reaches[j][i])
            .collect();
        for &j in &members {
            done[j] = true;
        }
        let assigned: BTreeSet<String> = members
            .iter()
            .flat_map(|&j| match &exp[j].body {
                Body::Set { assignments } => assignments
                    .iter()
                    .map(|(v, _)| format!("vars.{v}"))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let counted = members.iter().any(|&j| match &exp[j].body {
            Body::Branch { cases } => cases
                .iter()
                .any(|(_, e)| e.paths().iter().any(|p| assigned.contains(*p))),
            _ => false,
        });
        if !counted {
            let n = &exp[i];
            let names: Vec<&str> = members.iter().map(|&j| exp[j].id.as_str()).collect();
            d.push(
                Diagnostic::error("loop-without-input", &n.file, n.line, n.column, format!("nodes {} form a loop that never waits for the caller and has no counter", names.join(" → ")))
                    .node(n.id.clone())
                    .help("put a menu or collect in the loop, or count passes with a set and a branch on that variable"),
            );
        }
    }
}

/// What flow tests may name: flows with their node ids and numbers, and emergency flags.
struct TestTargets<'a> {
    flows: &'a BTreeMap<&'a str, Vec<&'a str>>,
    numbers: &'a BTreeMap<&'a str, Vec<String>>,
    flags: &'a BTreeSet<&'a str>,
}

fn check_test_refs(
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

fn utterances(p: &[Sp<PromptId>]) -> Prompts {
    p.iter().map(|s| Utterance::Prompt(s.v.clone())).collect()
}

fn build_reading(r: &RawReading, defaults: &RawReading) -> Reading {
    use engine_defaults as e;
    Reading {
        timeout: r.timeout.or(defaults.timeout).unwrap_or(e::TIMEOUT),
        inter_digit_timeout: r
            .inter_digit_timeout
            .or(defaults.inter_digit_timeout)
            .unwrap_or(e::INTER_DIGIT_TIMEOUT),
        attempts: r.attempts.or(defaults.attempts).unwrap_or(e::ATTEMPTS),
        invalid_prompt: utterances(
            r.invalid_prompt
                .as_ref()
                .or(defaults.invalid_prompt.as_ref())
                .map_or(&[], Vec::as_slice),
        ),
        no_input_prompt: utterances(
            r.no_input_prompt
                .as_ref()
                .or(defaults.no_input_prompt.as_ref())
                .map_or(&[], Vec::as_slice),
        ),
    }
}

/// Builds the model of a flow that passed every check. `None` only if a check missed
/// something (a bug), never a panic.
fn build_flow(
    g: &RawGraph,
    exp: &[RawNode],
    entry: Option<&str>,
    version: &str,
    queues: &BTreeMap<String, &ReadQueue>,
) -> Option<Flow> {
    let index: HashMap<&str, NodeIndex> = exp
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), NodeIndex(i)))
        .collect();
    let mut nodes = Vec::with_capacity(exp.len());
    for n in exp {
        let to = |outcome: &str| -> Option<NodeIndex> {
            n.edge(outcome)
                .and_then(|e| index.get(e.target.as_str()).copied())
        };
        let reading = |r: &RawReading| build_reading(r, &g.defaults.reading);
        let kind = match &n.body {
            Body::Play { prompts, barge_in } => NodeKind::Play(Play {
                prompts: utterances(prompts),
                barge_in: *barge_in,
                next: to("done")?,
            }),
            Body::Menu {
                prompt,
                repeat_prompt,
                reading: r,
            } => {
                let mut options = Vec::new();
                for e in &n.edges {
                    if e.outcome
                        .chars()
                        .all(|c| crate::ids::Digit::new(c).is_some())
                        && !e.outcome.is_empty()
                    {
                        options.push((
                            e.outcome
                                .chars()
                                .filter_map(crate::ids::Digit::new)
                                .map(|d| d.as_char())
                                .collect(),
                            *index.get(e.target.as_str())?,
                        ));
                    }
                }
                NodeKind::Menu(Menu {
                    prompt: utterances(prompt),
                    repeat_prompt: utterances(repeat_prompt.as_ref().unwrap_or(prompt)),
                    reading: reading(r),
                    options,
                    invalid_exhausted: to("invalid_exhausted")?,
                    timeout_exhausted: to("timeout_exhausted")?,
                })
            }
            Body::Collect {
                var,
                prompt,
                min_length,
                max_length,
                terminator,
                cancel,
                reading: r,
                validate,
                confirm,
                secure,
            } => NodeKind::Collect(Collect {
                var: var.clone(),
                prompt: utterances(prompt),
                min_length: *min_length,
                max_length: *max_length,
                terminator: *terminator,
                cancel: *cancel,
                reading: reading(r),
                validate: validate
                    .iter()
                    .map(|v| match v {
                        RawValidation::Pattern(re) => Validation::Pattern(re.clone()),
                        RawValidation::Luhn => Validation::Luhn,
                        RawValidation::Range(min, max) => Validation::Range {
                            min: *min,
                            max: *max,
                        },
                    })
                    .collect(),
                confirm: confirm.as_ref().map(|c| Confirm {
                    prefix: utterances(&c.prefix),
                    question: utterances(&c.question),
                    yes: c.yes,
                    no: c.no,
                }),
                secure: *secure,
                ok: to("ok")?,
                invalid_exhausted: to("invalid_exhausted")?,
                timeout_exhausted: to("timeout_exhausted")?,
                cancelled: to("cancelled"),
            }),
            Body::Set { assignments } => NodeKind::Set(Set {
                assignments: assignments.clone(),
                next: to("done")?,
            }),
            Body::Branch { cases } => {
                let mut out = Vec::new();
                for (name, e) in cases {
                    out.push((name.v.clone(), e.clone(), to(&name.v)?));
                }
                NodeKind::Branch(Branch {
                    cases: out,
                    default: to("default")?,
                })
            }
            Body::Schedule { calendar } => {
                let closed = to("closed")?;
                NodeKind::Schedule(Schedule {
                    calendar: calendar.v.as_str().into(),
                    open: to("open")?,
                    closed,
                    holiday: to("holiday").unwrap_or(closed),
                    emergency: to("emergency").unwrap_or(closed),
                })
            }
            Body::Language { language } => NodeKind::SetLanguage(SetLanguage {
                language: Language::new(language.v.clone()),
                next: to("done")?,
            }),
            Body::Lookup { table, key, fields } => {
                let not_found = to("not_found")?;
                let error = to("error").unwrap_or(not_found);
                NodeKind::Lookup(Lookup {
                    table: table.v.as_str().into(),
                    key: key.clone(),
                    fields: fields
                        .iter()
                        .map(|(v, c)| (v.clone(), c.v.clone()))
                        .collect(),
                    ok: to("ok")?,
                    not_found,
                    error,
                    timeout: to("timeout").unwrap_or(error),
                })
            }
            Body::Enqueue {
                queue,
                priority,
                skills,
                prompt,
                exit_key,
                callback_key,
            } => NodeKind::Enqueue(Enqueue {
                queue: QueueId::new(queue.v.clone()),
                // No class named: the queue's last (lowest) class.
                priority: match priority {
                    Some(p) => p.v.as_str().into(),
                    None => queues.get(&queue.v)?.queue.classes.last()?.name.clone(),
                },
                skills: skills.clone(),
                prompt: utterances(prompt),
                exit_key: *exit_key,
                callback_key: *callback_key,
                answered: to("answered"),
                timeout: to("timeout")?,
                no_agents: to("no_agents")?,
                full: to("full")?,
                exit: to("exit"),
                callback_registered: to("callback_registered"),
            }),
            Body::Transfer { to: target } => NodeKind::Transfer(Transfer {
                target: target.clone(),
                connected: to("connected"),
                failed: to("failed")?,
            }),
            Body::Hangup { prompts, reason } => NodeKind::Hangup(Hangup {
                prompts: utterances(prompts),
                reason: reason.clone(),
            }),
            Body::Subflow { .. } | Body::Return { .. } | Body::Broken => return None,
        };
        nodes.push(Node {
            id: NodeId::new(n.id.clone()),
            span: SourceSpan {
                file: n.file.clone(),
                line: n.line,
                column: n.column,
            },
            kind,
        });
    }
    Some(Flow {
        id: FlowId::new(g.id.v.clone()),
        name: g.name.clone(),
        numbers: g.numbers.iter().map(|n| n.v.clone()).collect(),
        languages: g
            .languages
            .iter()
            .map(|l| Language::new(l.v.clone()))
            .collect(),
        vars: g.vars.clone(),
        entry: *index.get(entry?)?,
        nodes,
        max_call_duration: g
            .defaults
            .max_call_duration
            .unwrap_or(engine_defaults::MAX_CALL_DURATION),
        file: g.file.clone(),
        version: version.to_owned(),
    })
}

/// Catalogue text already read, for callers that compile from memory.
pub fn catalogue_from_text(path: &Path, text: &str) -> (CatalogueInput, Vec<Diagnostic>) {
    let (entries, diags) = catalogue::parse_catalogue(path, text);
    (CatalogueInput::Loaded(entries), diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAT: &str = "hi: {en-US: Hi}\nbye: {en-US: Bye}\nhold_music: {en-US: music}\n";

    fn run(files: &[(&str, &str)], audio: Option<AudioCheck<'_>>) -> Compiled {
        let (cat, diags) = catalogue_from_text(Path::new("prompts.yaml"), CAT);
        assert!(diags.is_empty());
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
            .collect();
        compile(&sources, &cat, audio)
    }

    fn codes(c: &Compiled) -> Vec<&'static str> {
        c.diagnostics.iter().map(|d| d.code).collect()
    }

    const HEAD: &str =
        "kind: flow\nid: f\nnumbers: [\"1\"]\nlanguages: [en-US]\nentry: a\nnodes:\n";

    #[test]
    fn loop_with_a_counter_is_allowed() {
        let flow = format!(
            "{HEAD}  a: {{type: set, vars: {{n: \"vars.seen\", seen: \"true\"}}, on: {{done: b}}}}\n  \
             b: {{type: branch, cases: [{{out: \"vars.n\"}}], on: {{out: end, default: a}}}}\n  \
             end: {{type: hangup, prompt: bye}}\n"
        );
        let c = run(&[("f.yaml", &flow)], None);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert!(c.set.is_some());
    }

    #[test]
    fn loop_through_a_menu_is_allowed() {
        let flow = format!(
            "{HEAD}  a: {{type: play, prompt: hi, on: {{done: m}}}}\n  \
             m: {{type: menu, prompt: hi, on: {{\"1\": a, invalid_exhausted: a, timeout_exhausted: end}}}}\n  \
             end: {{type: hangup}}\n"
        );
        assert!(run(&[("f.yaml", &flow)], None).diagnostics.is_empty());
    }

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
    fn missing_audio_is_reported_through_the_hook() {
        let flow = format!("{HEAD}  a: {{type: hangup, prompt: bye}}\n");
        let no_audio = |p: &PromptId, _: &Language| p.as_str() != "bye";
        let c = run(&[("f.yaml", &flow)], Some(&no_audio));
        assert_eq!(codes(&c), ["missing-audio"]);
        assert!(c.set.is_none());
    }

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
    fn duplicate_ids_and_table_keys_are_reported() {
        let t = "kind: table\nid: m\nkey: id\nrows:\n  - {id: \"1\", tier: a}\n  - {id: \"1\", tier: b}\n";
        let c = run(&[("a.yaml", t), ("b.yaml", t)], None);
        let mut got = codes(&c);
        got.sort_unstable();
        assert_eq!(got, ["duplicate-id", "duplicate-key", "duplicate-key"]);
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

    #[test]
    fn exit_outcome_without_exit_key_is_refused() {
        let q = "kind: queue\nid: q\nclasses: [{name: normal}]\n";
        let flow = format!(
            "{HEAD}  a: {{type: enqueue, queue: q, on: {{timeout: end, no_agents: end, full: end, exit: end}}}}\n  end: {{type: hangup}}\n"
        );
        let c = run(&[("f.yaml", &flow), ("q.yaml", q)], None);
        assert_eq!(codes(&c), ["unknown-outcome"]);
        assert_eq!(c.diagnostics[0].field.as_deref(), Some("on.exit"));
    }

    #[test]
    fn fnv_digest_is_stable_and_separates_parts() {
        assert_eq!(fnv1a(&[b"a"]), fnv1a(&[b"a"]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[]), "cbf29ce484222325");
    }
}
