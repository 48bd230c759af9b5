//! Reading flow and subflow files into raw graphs: nodes with typed fields and named edges.
//!
//! Everything a single file can get wrong on its own is reported here (shapes, unknown
//! fields, outcomes a node type lacks or needs, edges to missing nodes, unreachable nodes,
//! digit conflicts, bad regexes and expressions). Cross-file references are checked by the
//! compiler. No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use crate::flow::diagnostic::Diagnostic;
use crate::flow::expr::Expr;
use crate::flow::model::Value;
use crate::flow::read::{Cx, Obj, Sp, expr_at, is_var_name};
use crate::flow::spec::{self, Need, NodeSpec};
use crate::flow::yaml::{Yaml, YamlValue};
use crate::ids::{Digit, PromptId};

/// Settings of nodes that read keys, before defaults are applied.
#[derive(Clone, Debug, Default)]
pub struct RawReading {
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `inter_digit_timeout`.
    pub inter_digit_timeout: Option<Duration>,
    /// `attempts`.
    pub attempts: Option<u32>,
    /// `invalid_prompt`.
    pub invalid_prompt: Option<Vec<Sp<PromptId>>>,
    /// `no_input_prompt`.
    pub no_input_prompt: Option<Vec<Sp<PromptId>>>,
}

/// A `collect.validate` rule.
#[derive(Clone, Debug)]
pub enum RawValidation {
    /// Anchored pattern.
    Pattern(regex::Regex),
    /// Luhn checksum.
    Luhn,
    /// Numeric range.
    Range(u64, u64),
}

/// `collect.confirm` as read.
#[derive(Clone, Debug)]
pub struct RawConfirm {
    /// Played before the read-back.
    pub prefix: Vec<Sp<PromptId>>,
    /// Played after it.
    pub question: Vec<Sp<PromptId>>,
    /// Confirm key.
    pub yes: Digit,
    /// Re-enter key.
    pub no: Digit,
}

/// What a node does, with references still by name.
#[derive(Clone, Debug)]
#[allow(
    missing_docs,
    reason = "fields mirror the flow language table in flows/README.md"
)]
pub enum Body {
    Play {
        prompts: Vec<Sp<PromptId>>,
        barge_in: bool,
    },
    Menu {
        prompt: Vec<Sp<PromptId>>,
        repeat_prompt: Option<Vec<Sp<PromptId>>>,
        reading: RawReading,
    },
    Collect {
        var: String,
        prompt: Vec<Sp<PromptId>>,
        min_length: usize,
        max_length: usize,
        terminator: Option<Digit>,
        cancel: Option<Digit>,
        reading: RawReading,
        validate: Vec<RawValidation>,
        confirm: Option<RawConfirm>,
        secure: bool,
    },
    Set {
        assignments: Vec<(String, Expr)>,
    },
    Branch {
        cases: Vec<(Sp<String>, Expr)>,
    },
    Schedule {
        calendar: Sp<String>,
    },
    Language {
        language: Sp<String>,
    },
    Lookup {
        table: Sp<String>,
        key: Expr,
        fields: Vec<(String, Sp<String>)>,
    },
    Enqueue {
        queue: Sp<String>,
        priority: Option<Sp<String>>,
        skills: Vec<String>,
        prompt: Vec<Sp<PromptId>>,
        exit_key: Option<Digit>,
        callback_key: Option<Digit>,
    },
    Transfer {
        to: String,
    },
    Subflow {
        flow: Sp<String>,
        params: Vec<(Sp<String>, Expr)>,
    },
    Return {
        outcome: Sp<String>,
    },
    Hangup {
        prompts: Vec<Sp<PromptId>>,
        reason: String,
    },
    /// The node could not be read well enough to run (already reported).
    Broken,
}

impl Body {
    /// Every prompt the node plays, for catalogue checks.
    pub fn prompts(&self) -> Vec<&Sp<PromptId>> {
        let mut out: Vec<&Sp<PromptId>> = Vec::new();
        match self {
            Body::Play { prompts, .. } | Body::Hangup { prompts, .. } => out.extend(prompts),
            Body::Menu {
                prompt,
                repeat_prompt,
                reading: r,
            } => {
                out.extend(prompt);
                out.extend(repeat_prompt.iter().flatten());
                out.extend(reading_prompts(r));
            }
            Body::Collect {
                prompt,
                reading: r,
                confirm,
                ..
            } => {
                out.extend(prompt);
                out.extend(reading_prompts(r));
                if let Some(c) = confirm {
                    out.extend(&c.prefix);
                    out.extend(&c.question);
                }
            }
            Body::Enqueue { prompt, .. } => out.extend(prompt),
            _ => {}
        }
        out
    }

    /// Whether the node waits for something from outside (a key, a queue, a transfer) or ends
    /// the call; a cycle through such a node cannot spin on its own.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            Body::Menu { .. }
                | Body::Collect { .. }
                | Body::Enqueue { .. }
                | Body::Transfer { .. }
                | Body::Hangup { .. }
                | Body::Return { .. }
                | Body::Broken
        )
    }
}

fn reading_prompts(r: &RawReading) -> impl Iterator<Item = &Sp<PromptId>> {
    r.invalid_prompt
        .iter()
        .chain(r.no_input_prompt.iter())
        .flatten()
}

/// An outgoing edge: outcome → node name.
#[derive(Clone, Debug)]
pub struct Edge {
    /// The outcome (`done`, `"1"`, a case name...).
    pub outcome: String,
    /// The target node's id.
    pub target: String,
    /// Where the target is written.
    pub line: usize,
    /// Where the target is written.
    pub column: usize,
}

/// A node as read from a file.
#[derive(Clone, Debug)]
pub struct RawNode {
    /// Its id.
    pub id: String,
    /// The file it is written in.
    pub file: PathBuf,
    /// Position of its key.
    pub line: usize,
    /// Position of its key.
    pub column: usize,
    /// What it does.
    pub body: Body,
    /// Where it goes.
    pub edges: Vec<Edge>,
}

impl RawNode {
    /// The target of an outcome.
    pub fn edge(&self, outcome: &str) -> Option<&Edge> {
        self.edges.iter().find(|e| e.outcome == outcome)
    }
}

/// Flow `defaults:` as written.
#[derive(Clone, Debug, Default)]
pub struct RawDefaults {
    /// Key-reading defaults.
    pub reading: RawReading,
    /// `max_call_duration`.
    pub max_call_duration: Option<Duration>,
}

/// A `kind: flow` or `kind: subflow` file.
#[derive(Clone, Debug)]
pub struct RawGraph {
    /// The file.
    pub file: PathBuf,
    /// The source text (for the version digest).
    pub text: String,
    /// `kind: subflow`.
    pub is_subflow: bool,
    /// Its id.
    pub id: Sp<String>,
    /// Human name.
    pub name: String,
    /// Numbers (flows).
    pub numbers: Vec<Sp<String>>,
    /// Languages (flows).
    pub languages: Vec<Sp<String>>,
    /// Where `languages` is written.
    pub languages_at: (usize, usize),
    /// Defaults (flows).
    pub defaults: RawDefaults,
    /// Initial variables (flows).
    pub vars: BTreeMap<String, Value>,
    /// Parameters (subflows).
    pub params: Vec<String>,
    /// Declared outcomes (subflows).
    pub outcomes: Vec<Sp<String>>,
    /// Entry node.
    pub entry: Option<Sp<String>>,
    /// Nodes in file order.
    pub nodes: Vec<RawNode>,
}

impl RawGraph {
    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&RawNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// The field path of an outcome: `on.done`, `on."1"`.
pub fn on_path(outcome: &str) -> String {
    if is_var_name(outcome) {
        format!("on.{outcome}")
    } else {
        format!("on.\"{outcome}\"")
    }
}

fn prompts(o: &Obj<'_>, key: &str, d: &mut Vec<Diagnostic>) -> Option<Vec<Sp<PromptId>>> {
    let list = o.texts(key, true, d)?;
    Some(
        list.into_iter()
            .map(|s| Sp {
                v: PromptId::new(s.v),
                line: s.line,
                column: s.column,
            })
            .collect(),
    )
}

fn attempts(o: &Obj<'_>, d: &mut Vec<Diagnostic>) -> Option<u32> {
    let n = o.count("attempts", d)?;
    match u32::try_from(n.v) {
        Ok(a) if a >= 1 => Some(a),
        _ => {
            let y = o.get("attempts")?;
            d.push(o.cx.err(
                "bad-value",
                y,
                &o.path("attempts"),
                "attempts must be at least 1",
            ));
            None
        }
    }
}

/// Reads the key-reading fields of a node or of `defaults:`.
pub fn reading(o: &Obj<'_>, d: &mut Vec<Diagnostic>) -> RawReading {
    RawReading {
        timeout: o.duration("timeout", d).map(|s| s.v),
        inter_digit_timeout: o.duration("inter_digit_timeout", d).map(|s| s.v),
        attempts: attempts(o, d),
        invalid_prompt: prompts(o, "invalid_prompt", d),
        no_input_prompt: prompts(o, "no_input_prompt", d),
    }
}

fn is_dtmf(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| Digit::new(c).is_some())
}

/// Reads one graph file (`kind: flow` or `kind: subflow`).
pub fn read_graph(
    cx: Cx<'_>,
    root: &Yaml,
    is_subflow: bool,
    d: &mut Vec<Diagnostic>,
) -> Option<RawGraph> {
    let fields = if is_subflow {
        spec::SUBFLOW
    } else {
        spec::FLOW
    };
    let o = Obj::new(cx, root, "", fields, &[], d)?;
    let id = o
        .text("id", d)
        .unwrap_or_else(|| Sp::at(String::new(), root));
    let mut g = RawGraph {
        file: cx.file.to_path_buf(),
        text: cx.text.to_owned(),
        is_subflow,
        name: o.text("name", d).map_or_else(|| id.v.clone(), |s| s.v),
        id,
        numbers: Vec::new(),
        languages: Vec::new(),
        languages_at: (root.line, root.column),
        defaults: RawDefaults::default(),
        vars: BTreeMap::new(),
        params: Vec::new(),
        outcomes: Vec::new(),
        entry: o.text("entry", d),
        nodes: Vec::new(),
    };
    if is_subflow {
        g.params = o
            .texts("params", false, d)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.v)
            .collect();
        g.outcomes = o.texts("outcomes", false, d).unwrap_or_default();
    } else {
        g.numbers = o.texts("numbers", true, d).unwrap_or_default();
        for n in &g.numbers {
            let ok =
                n.v.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+'))
                    && n.v.chars().any(|c| c.is_ascii_digit());
            if !ok {
                d.push(cx.err_at(
                    "bad-number",
                    n.line,
                    n.column,
                    "numbers",
                    format!(
                        "\"{}\" is not a phone number (digits, spaces, '-', '+')",
                        n.v
                    ),
                ));
            }
        }
        if let Some(y) = o.get("languages") {
            g.languages_at = (y.line, y.column);
        }
        g.languages = o.texts("languages", true, d).unwrap_or_default();
        if g.languages.is_empty() && o.get("languages").is_some() {
            d.push(cx.err_at(
                "missing-field",
                g.languages_at.0,
                g.languages_at.1,
                "languages",
                "a flow needs at least one language",
            ));
        }
        if let Some(def) = o.obj("defaults", spec::DEFAULTS, d) {
            g.defaults = RawDefaults {
                reading: reading(&def, d),
                max_call_duration: def.duration("max_call_duration", d).map(|s| s.v),
            };
        }
        for (k, v) in o.map("vars", d).unwrap_or_default() {
            let name = k.scalar_text().unwrap_or_default();
            if !is_var_name(&name) {
                d.push(cx.err(
                    "bad-var-name",
                    k,
                    &format!("vars.{name}"),
                    format!("\"{name}\" is not a variable name (letters, digits, '_')"),
                ));
            }
            let value = match &v.value {
                YamlValue::Null => Value::Null,
                YamlValue::Bool(b) => Value::Bool(*b),
                #[allow(clippy::cast_precision_loss, reason = "config numbers are small")]
                YamlValue::Int(i) => Value::Number(*i as f64),
                YamlValue::Float(x) => Value::Number(*x),
                YamlValue::Str(s) => Value::Str(s.clone()),
                YamlValue::Seq(_) | YamlValue::Map(_) => {
                    d.push(cx.err(
                        "wrong-type",
                        v,
                        &format!("vars.{name}"),
                        format!("expected a plain value, found {}", v.shape()),
                    ));
                    Value::Null
                }
            };
            g.vars.insert(name, value);
        }
    }
    for (k, v) in o.map("nodes", d).unwrap_or_default() {
        g.nodes.push(read_node(cx, k, v, is_subflow, d));
    }
    check_graph(cx, &g, d);
    Some(g)
}

fn read_node(
    cx: Cx<'_>,
    key: &Yaml,
    y: &Yaml,
    in_subflow: bool,
    d: &mut Vec<Diagnostic>,
) -> RawNode {
    let id = key.scalar_text().unwrap_or_default();
    let mut node = RawNode {
        id: id.clone(),
        file: cx.file.to_path_buf(),
        line: key.line,
        column: key.column,
        body: Body::Broken,
        edges: Vec::new(),
    };
    let cx = cx.in_node(&id);
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
        d.push(cx.err(
            "bad-node-id",
            key,
            "",
            format!("\"{id}\" cannot be a node id (no '/', no spaces)"),
        ));
    }
    if y.as_map().is_none() {
        d.push(cx.err(
            "wrong-type",
            y,
            "",
            format!(
                "expected a node (a mapping with type:), found {}",
                y.shape()
            ),
        ));
        return node;
    };
    let ty = match y.get("type") {
        None => {
            d.push(cx.err("missing-field", y, "type", "the node has no type"));
            None
        }
        Some(t) => {
            let name = t.scalar_text().unwrap_or_default();
            match spec::node(&name) {
                Some(s) => Some(s),
                None => {
                    d.push(
                        cx.err(
                            "unknown-node-type",
                            t,
                            "type",
                            format!("unknown node type \"{name}\""),
                        )
                        .suggest(&name, spec::NODES.iter().map(|n| n.name)),
                    );
                    None
                }
            }
        }
    };
    // Edges.
    if let Some(on) = y.get("on") {
        match on.as_map() {
            Some(entries) => {
                for (k, v) in entries {
                    let outcome = k.scalar_text().unwrap_or_default();
                    match v.scalar_text() {
                        Some(target) => node.edges.push(Edge {
                            outcome,
                            target,
                            line: v.line,
                            column: v.column,
                        }),
                        None => d.push(cx.err(
                            "wrong-type",
                            v,
                            &on_path(&outcome),
                            format!("expected a node id, found {}", v.shape()),
                        )),
                    }
                }
            }
            None => d.push(cx.err(
                "wrong-type",
                on,
                "on",
                format!("expected outcome: node mappings, found {}", on.shape()),
            )),
        }
    }
    let Some(spec) = ty else {
        return node;
    };
    let Some(o) = Obj::new(cx, y, "", spec.fields, &["type", "on"], d) else {
        return node;
    };
    let before = d.len();
    let body = read_body(&o, spec, in_subflow, d);
    check_outcomes(&o, spec, &node, body.as_ref(), d);
    // A node with a field error still takes part in graph checks but is not runnable.
    node.body = if d[before..].iter().any(Diagnostic::is_error) {
        Body::Broken
    } else {
        body.unwrap_or(Body::Broken)
    };
    node
}

fn read_body(
    o: &Obj<'_>,
    spec: &NodeSpec,
    in_subflow: bool,
    d: &mut Vec<Diagnostic>,
) -> Option<Body> {
    let cx = o.cx;
    Some(match spec.name {
        "play" => Body::Play {
            prompts: prompts(o, "prompt", d)?,
            barge_in: o.bool("barge_in", d).is_some_and(|b| b.v),
        },
        "menu" => {
            let prompt = prompts(o, "prompt", d);
            let repeat_prompt = prompts(o, "repeat_prompt", d);
            let reading = reading(o, d);
            check_menu_options(o, d);
            Body::Menu {
                prompt: prompt?,
                repeat_prompt,
                reading,
            }
        }
        "collect" => read_collect(o, d)?,
        "set" => {
            let mut assignments = Vec::new();
            for (k, v) in o.map("vars", d)? {
                let name = k.scalar_text().unwrap_or_default();
                if !is_var_name(&name) {
                    d.push(cx.err(
                        "bad-var-name",
                        k,
                        &format!("vars.{name}"),
                        format!("\"{name}\" is not a variable name (letters, digits, '_')"),
                    ));
                }
                if let Some(e) = expr_at(cx, v, &format!("vars.{name}"), d) {
                    assignments.push((name, e.v));
                }
            }
            Body::Set { assignments }
        }
        "branch" => {
            let mut cases = Vec::new();
            for (i, item) in o.seq("cases", d)?.iter().enumerate() {
                match item.as_map() {
                    Some([(k, v)]) => {
                        let name = k.scalar_text().unwrap_or_default();
                        if name == "default" {
                            d.push(cx.err("bad-case", k, &format!("cases[{i}]"), "\"default\" is the outcome when no case matches; it needs no condition"));
                        }
                        if cases.iter().any(|(c, _): &(Sp<String>, Expr)| c.v == name) {
                            d.push(cx.err(
                                "duplicate-key",
                                k,
                                &format!("cases[{i}]"),
                                format!("case \"{name}\" appears twice"),
                            ));
                        }
                        // A case whose condition does not parse still names an outcome.
                        let e = expr_at(cx, v, &format!("cases.{name}"), d)
                            .map_or(Expr::Literal(Value::Null), |e| e.v);
                        cases.push((Sp::at(name, k), e));
                    }
                    _ => d.push(cx.err(
                        "wrong-type",
                        item,
                        &format!("cases[{i}]"),
                        format!(
                            "expected one `name: condition` entry, found {}",
                            item.shape()
                        ),
                    )),
                }
            }
            Body::Branch { cases }
        }
        "schedule" => Body::Schedule {
            calendar: o.text("calendar", d)?,
        },
        "language" => Body::Language {
            language: o.text("language", d)?,
        },
        "lookup" => {
            let table = o.text("table", d);
            let key = o.expr("key", d);
            let mut fields = Vec::new();
            for (k, v) in o.map("fields", d).unwrap_or_default() {
                let var = k.scalar_text().unwrap_or_default();
                if !is_var_name(&var) {
                    d.push(cx.err(
                        "bad-var-name",
                        k,
                        &format!("fields.{var}"),
                        format!("\"{var}\" is not a variable name"),
                    ));
                }
                match v.scalar_text() {
                    Some(col) => fields.push((var, Sp::at(col, v))),
                    None => d.push(cx.err(
                        "wrong-type",
                        v,
                        &format!("fields.{var}"),
                        "expected a column name",
                    )),
                }
            }
            Body::Lookup {
                table: table?,
                key: key?.v,
                fields,
            }
        }
        "enqueue" => {
            let queue = o.text("queue", d);
            let priority = o.text("priority", d);
            let skills = o
                .texts("skills", false, d)
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.v)
                .collect();
            let prompt = prompts(o, "prompt", d).unwrap_or_default();
            let exit_key = o.key("exit_key", d).flatten();
            let callback_key = o.key("callback_key", d).flatten();
            if let (Some(a), Some(b)) = (&exit_key, &callback_key)
                && a.v == b.v
            {
                d.push(cx.err_at(
                    "key-conflict",
                    b.line,
                    b.column,
                    "callback_key",
                    format!("key {} is already the exit_key", b.v),
                ));
            }
            Body::Enqueue {
                queue: queue?,
                priority,
                skills,
                prompt,
                exit_key: exit_key.map(|k| k.v),
                callback_key: callback_key.map(|k| k.v),
            }
        }
        "transfer" => {
            let to = o.text("to", d)?;
            let ok = to.v.strip_prefix("tel:").is_some_and(|n| {
                n.len() > 1
                    && n.trim_start_matches('+')
                        .chars()
                        .all(|c| c.is_ascii_digit())
            }) || to
                .v
                .strip_prefix("sip:")
                .is_some_and(|a| a.contains('@') && !a.contains(char::is_whitespace));
            if !ok {
                d.push(cx.err_at(
                    "bad-transfer-target",
                    to.line,
                    to.column,
                    "to",
                    format!("\"{}\" is neither tel:+<digits> nor sip:user@host", to.v),
                ));
            }
            Body::Transfer { to: to.v }
        }
        "subflow" => {
            let flow = o.text("flow", d);
            let mut params = Vec::new();
            for (k, v) in o.map("params", d).unwrap_or_default() {
                let name = k.scalar_text().unwrap_or_default();
                if let Some(e) = expr_at(cx, v, &format!("params.{name}"), d) {
                    params.push((Sp::at(name, k), e.v));
                }
            }
            Body::Subflow {
                flow: flow?,
                params,
            }
        }
        "return" => {
            let outcome = o.text("outcome", d)?;
            if !in_subflow {
                d.push(cx.err_at(
                    "return-outside-subflow",
                    outcome.line,
                    outcome.column,
                    "outcome",
                    "a return node belongs in a subflow file",
                ));
            }
            Body::Return { outcome }
        }
        "hangup" => Body::Hangup {
            prompts: prompts(o, "prompt", d).unwrap_or_default(),
            reason: o
                .text("reason", d)
                .map_or_else(|| "normal".to_owned(), |s| s.v),
        },
        _ => return None,
    })
}

fn read_collect(o: &Obj<'_>, d: &mut Vec<Diagnostic>) -> Option<Body> {
    let cx = o.cx;
    let var = o.text("var", d);
    if let Some(v) = &var
        && !is_var_name(&v.v)
    {
        d.push(cx.err_at(
            "bad-var-name",
            v.line,
            v.column,
            "var",
            format!("\"{}\" is not a variable name (letters, digits, '_')", v.v),
        ));
    }
    let prompt = prompts(o, "prompt", d);
    let min = o.count("min_length", d);
    let max = o.count("max_length", d);
    let min_length = min.as_ref().map_or(1, |m| m.v);
    if let (Some(mx), Some(y)) = (&max, o.get("max_length")) {
        if mx.v == 0 {
            d.push(cx.err(
                "bad-length",
                y,
                "max_length",
                "max_length must be at least 1",
            ));
        } else if min_length > mx.v {
            let at = o.get("min_length").unwrap_or(y);
            d.push(cx.err(
                "bad-length",
                at,
                "min_length",
                format!("min_length {min_length} is more than max_length {}", mx.v),
            ));
        }
    }
    let terminator = match o.get("terminator") {
        None => Some(Sp {
            v: Digit::new('#'),
            line: 0,
            column: 0,
        }),
        Some(_) => o.key("terminator", d).map(|k| {
            k.map(|s| Sp {
                v: Some(s.v),
                line: s.line,
                column: s.column,
            })
            .unwrap_or(Sp {
                v: None,
                line: 0,
                column: 0,
            })
        }),
    };
    let cancel = o.key("cancel", d).flatten();
    let reading = reading(o, d);
    let mut validate = Vec::new();
    if let Some(v) = o.obj("validate", spec::VALIDATE, d) {
        if let Some(p) = v.text("pattern", d) {
            match regex::Regex::new(&format!("^(?:{})$", p.v)) {
                Ok(re) => validate.push(RawValidation::Pattern(re)),
                Err(e) => {
                    let reason = e.to_string();
                    let reason = reason.lines().last().unwrap_or("invalid").trim().to_owned();
                    d.push(cx.err_at(
                        "bad-regex",
                        p.line,
                        p.column,
                        "validate.pattern",
                        format!(
                            "pattern \"{}\" is not a valid regular expression: {reason}",
                            p.v
                        ),
                    ));
                }
            }
        }
        if v.bool("luhn", d).is_some_and(|b| b.v) {
            validate.push(RawValidation::Luhn);
        }
        if let Some(r) = v.get("range") {
            match r.as_seq() {
                Some([a, b]) => match (&a.value, &b.value) {
                    (YamlValue::Int(x), YamlValue::Int(y)) if *x >= 0 && x <= y => {
                        validate.push(RawValidation::Range(x.unsigned_abs(), y.unsigned_abs()))
                    }
                    _ => d.push(cx.err(
                        "bad-range",
                        r,
                        "validate.range",
                        "range must be [min, max] with 0 ≤ min ≤ max",
                    )),
                },
                _ => d.push(cx.err(
                    "bad-range",
                    r,
                    "validate.range",
                    "range must be a list [min, max]",
                )),
            }
        }
    }
    let secure = o.bool("secure", d).is_some_and(|b| b.v);
    let mut confirm = None;
    if let Some(c) = o.obj("confirm", spec::CONFIRM, d) {
        if secure && let Some(y) = o.get("confirm") {
            d.push(cx.err(
                "confirm-secure",
                y,
                "confirm",
                "a secure value is never read back; remove confirm or secure",
            ));
        }
        let yes = c
            .key("yes", d)
            .flatten()
            .map_or(Digit::new('1'), |k| Some(k.v));
        let no = c
            .key("no", d)
            .flatten()
            .map_or(Digit::new('2'), |k| Some(k.v));
        if yes == no
            && let Some(y) = c.get("no").or(c.get("yes"))
        {
            d.push(cx.err(
                "key-conflict",
                y,
                "confirm.no",
                "the yes and no keys are the same",
            ));
        }
        if let (Some(q), Some(yes), Some(no)) = (prompts(&c, "question", d), yes, no) {
            confirm = Some(RawConfirm {
                prefix: prompts(&c, "prefix", d).unwrap_or_default(),
                question: q,
                yes,
                no,
            });
        }
    }
    // Key conflicts: the terminator and cancel keys must not be keys of the value itself.
    let value_keys: Vec<char> = ('0'..='9').collect();
    if let Some(Sp {
        v: Some(t),
        line,
        column,
    }) = &terminator
    {
        if value_keys.contains(&t.as_char()) && *line > 0 {
            d.push(cx.err_at("key-conflict", *line, *column, "terminator", format!("terminator {t} is also a digit of the value, so a value containing {t} would end early")).help("use \"#\" or \"*\""));
        }
        if let Some(c) = &cancel
            && c.v == *t
        {
            d.push(cx.err_at(
                "key-conflict",
                c.line,
                c.column,
                "cancel",
                format!("cancel key {t} is also the terminator"),
            ));
        }
    }
    let cancel_is_terminator =
        matches!((&cancel, &terminator), (Some(c), Some(Sp { v: Some(t), .. })) if c.v == *t);
    if let Some(c) = &cancel
        && value_keys.contains(&c.v.as_char())
        && !cancel_is_terminator
    {
        d.push(cx.err_at(
            "key-conflict",
            c.line,
            c.column,
            "cancel",
            format!("cancel key {} is also a digit of the value", c.v),
        ));
    }
    let max = max?;
    Some(Body::Collect {
        var: var?.v,
        prompt: prompt?,
        min_length: usize::try_from(min_length).ok()?,
        max_length: usize::try_from(max.v).ok()?,
        terminator: terminator?.v,
        cancel: cancel.map(|c| c.v),
        reading,
        validate,
        confirm,
        secure,
    })
}

fn check_menu_options(o: &Obj<'_>, d: &mut Vec<Diagnostic>) {
    let Some(on) = o.get("on").and_then(Yaml::as_map) else {
        return;
    };
    let options: Vec<(String, &Yaml)> = on
        .iter()
        .filter_map(|(k, _)| k.scalar_text().map(|s| (s, k)))
        .filter(|(s, _)| is_dtmf(s))
        .collect();
    let explicit_inter_digit = o.get("inter_digit_timeout").is_some();
    for (a, ka) in &options {
        for (b, _) in &options {
            if a != b && a.starts_with(b.as_str()) {
                let diag = o.cx.err("option-prefix", ka, &on_path(a), format!("option \"{a}\" starts with option \"{b}\": after {b} the menu must wait to see if more keys follow"));
                d.push(if explicit_inter_digit {
                    Diagnostic { severity: crate::flow::diagnostic::Severity::Warning, ..diag }
                } else {
                    diag.help("set inter_digit_timeout on this menu to accept the wait, or renumber the options")
                });
            }
        }
    }
}

fn check_outcomes(
    o: &Obj<'_>,
    spec: &NodeSpec,
    node: &RawNode,
    body: Option<&Body>,
    d: &mut Vec<Diagnostic>,
) {
    let cx = o.cx;
    let on_key = o.key_of("on");
    // Outcomes this node can have beyond the fixed ones.
    let mut dynamic: Vec<String> = Vec::new();
    let mut required: Vec<String> = Vec::new();
    match body {
        Some(Body::Branch { cases }) => {
            dynamic = cases.iter().map(|(c, _)| c.v.clone()).collect();
            required.extend(dynamic.iter().cloned());
        }
        Some(Body::Subflow { .. }) | None if spec.name == "subflow" => return, // checked against the subflow
        _ => {}
    }
    let set = |field: &str| {
        o.get(field)
            .is_some_and(|v| v.scalar_text().is_some_and(|s| s != "none"))
    };
    for (name, need) in spec.outcomes {
        match need {
            Need::Required => required.push((*name).to_owned()),
            Need::With(field) if set(field) => required.push((*name).to_owned()),
            _ => {}
        }
    }
    let known: Vec<&str> = spec
        .outcomes
        .iter()
        .map(|(n, _)| *n)
        .chain(dynamic.iter().map(String::as_str))
        .collect();
    let on_entries = o.get("on").and_then(Yaml::as_map).unwrap_or_default();
    for (k, _) in on_entries {
        let outcome = k.scalar_text().unwrap_or_default();
        if spec.name == "menu" && is_dtmf(&outcome) {
            continue;
        }
        if spec.outcomes.is_empty() && dynamic.is_empty() {
            d.push(cx.err(
                "unknown-outcome",
                k,
                &on_path(&outcome),
                format!("a {} node has no outcomes", spec.name),
            ));
            continue;
        }
        match spec.outcomes.iter().find(|(n, _)| *n == outcome) {
            Some((_, Need::With(field))) if !set(field) => {
                d.push(
                    cx.err(
                        "unknown-outcome",
                        k,
                        &on_path(&outcome),
                        format!("outcome \"{outcome}\" never happens without {field}"),
                    )
                    .help(format!("set {field}, or remove this outcome")),
                );
            }
            Some(_) => {}
            None if dynamic.contains(&outcome) => {}
            None => {
                let what = if spec.name == "menu" {
                    " (menu options are keys: 0-9, *, #, A-D)"
                } else {
                    ""
                };
                d.push(
                    cx.err(
                        "unknown-outcome",
                        k,
                        &on_path(&outcome),
                        format!("a {} node has no outcome \"{outcome}\"{what}", spec.name),
                    )
                    .suggest(&outcome, known.iter().copied()),
                );
            }
        }
    }
    if spec.name == "menu"
        && !on_entries
            .iter()
            .any(|(k, _)| k.scalar_text().is_some_and(|s| is_dtmf(&s)))
    {
        let at = on_key.unwrap_or(o.y);
        d.push(cx.err(
            "missing-outcome",
            at,
            "on",
            "a menu needs at least one option such as \"1\"",
        ));
    }
    for r in required {
        if node.edge(&r).is_none() {
            let at = on_key.unwrap_or(o.y);
            d.push(cx.err(
                "missing-outcome",
                at,
                &on_path(&r),
                format!("required outcome \"{r}\" is not mapped"),
            ));
        }
    }
}

/// Graph checks inside one file: the entry and every edge name a node; every node is reachable.
fn check_graph(cx: Cx<'_>, g: &RawGraph, d: &mut Vec<Diagnostic>) {
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    if let Some(entry) = &g.entry
        && g.node(&entry.v).is_none()
    {
        d.push(
            cx.err_at(
                "dangling-edge",
                entry.line,
                entry.column,
                "entry",
                format!("no node named \"{}\"", entry.v),
            )
            .suggest(&entry.v, ids.iter().copied()),
        );
    }
    for n in &g.nodes {
        for e in &n.edges {
            if g.node(&e.target).is_none() {
                d.push(
                    cx.in_node(&n.id)
                        .err_at(
                            "dangling-edge",
                            e.line,
                            e.column,
                            &on_path(&e.outcome),
                            format!("no node named \"{}\"", e.target),
                        )
                        .suggest(&e.target, ids.iter().copied()),
                );
            }
        }
    }
    // Reachability from the entry.
    let Some(entry) = g.entry.as_ref().filter(|e| g.node(&e.v).is_some()) else {
        return;
    };
    let index: HashMap<&str, &RawNode> = g.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo = VecDeque::from([entry.v.as_str()]);
    while let Some(id) = todo.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(n) = index.get(id) {
            todo.extend(n.edges.iter().map(|e| e.target.as_str()));
        }
    }
    for n in &g.nodes {
        if !seen.contains(n.id.as_str()) {
            d.push(
                Diagnostic::warning(
                    "unreachable-node",
                    cx.file,
                    n.line,
                    n.column,
                    format!("no path from the entry reaches node \"{}\"", n.id),
                )
                .node(n.id.clone()),
            );
        }
    }
}
