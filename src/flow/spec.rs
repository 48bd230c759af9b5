//! What each file kind and node type may contain: field names, value shapes and outcomes.
//!
//! One table drives both the compiler's unknown-field checks (with "did you mean") and the
//! JSON Schema handed to editors, so the two can never disagree. Pure data; no I/O.

/// The shape a field's value must have.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Text.
    Text,
    /// A whole number ≥ 0.
    Count,
    /// Any number.
    Number,
    /// true/false.
    Bool,
    /// `"500ms"`, `"5s"`, `"2m"`, `"1h"`.
    Duration,
    /// One prompt id or a list of them.
    Prompts,
    /// One DTMF key as quoted text (`"#"`), or `none`.
    Key,
    /// An expression of the flow expression language, as text.
    Expression,
    /// A list of texts.
    TextList,
    /// A mapping of names to expressions (`set.vars`, `subflow.params`).
    ExpressionMap,
    /// A mapping of names to text.
    TextMap,
    /// A mapping of names to plain values (flow `vars`).
    ValueMap,
    /// Outcome → node id.
    Outcomes,
    /// A nested object described by another table.
    Object(&'static [Field]),
    /// A list of objects described by another table.
    ObjectList(&'static [Field]),
    /// Time ranges `"09:00-21:00"`.
    Ranges,
    /// Dates `"2026-10-01"`.
    Dates,
    /// Weekday → ranges.
    Weekly,
    /// The `branch.cases` list of one-entry mappings name → expression.
    Cases,
    /// A two-number list `[min, max]`.
    Range,
    /// The nodes of a flow: id → node.
    Nodes,
    /// Table rows: a list of mappings column → value.
    Rows,
    /// The steps of a flow test.
    Steps,
    /// Any value.
    Any,
}

/// One field of an object.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The key as written in YAML.
    pub name: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// Must be present.
    pub required: bool,
    /// One line for editors.
    pub doc: &'static str,
}

const fn f(name: &'static str, shape: Shape, doc: &'static str) -> Field {
    Field {
        name,
        shape,
        required: false,
        doc,
    }
}

const fn req(name: &'static str, shape: Shape, doc: &'static str) -> Field {
    Field {
        name,
        shape,
        required: true,
        doc,
    }
}

/// Whether an outcome must be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Always required.
    Required,
    /// Optional (a default applies).
    Optional,
    /// Required when the named field is set, not allowed otherwise.
    With(&'static str),
}

/// A node type: its fields and fixed outcomes.
#[derive(Clone, Copy, Debug)]
pub struct NodeSpec {
    /// The `type:` word.
    pub name: &'static str,
    /// One line for editors.
    pub doc: &'static str,
    /// Fields besides `type` and `on`.
    pub fields: &'static [Field],
    /// Fixed outcomes. Menus also take digit-string options, branches their case names,
    /// subflow nodes the subflow's declared outcomes.
    pub outcomes: &'static [(&'static str, Need)],
}

const READING: [Field; 5] = [
    f(
        "timeout",
        Shape::Duration,
        "time allowed for the first key after the prompt",
    ),
    f(
        "inter_digit_timeout",
        Shape::Duration,
        "time allowed between keys",
    ),
    f(
        "attempts",
        Shape::Count,
        "consecutive failures before *_exhausted",
    ),
    f(
        "invalid_prompt",
        Shape::Prompts,
        "played after an invalid entry",
    ),
    f("no_input_prompt", Shape::Prompts, "played after no input"),
];

/// `collect.validate`.
pub const VALIDATE: &[Field] = &[
    f(
        "pattern",
        Shape::Text,
        "regular expression the whole value must match",
    ),
    f("luhn", Shape::Bool, "the Luhn checksum must hold"),
    f(
        "range",
        Shape::Range,
        "[min, max]: the value as a number must lie within",
    ),
];

/// `collect.confirm`.
pub const CONFIRM: &[Field] = &[
    f(
        "prefix",
        Shape::Prompts,
        "played before the digits are read back",
    ),
    req("question", Shape::Prompts, "played after the read-back"),
    f("yes", Shape::Key, "key that confirms (\"1\")"),
    f("no", Shape::Key, "key that re-enters (\"2\")"),
];

macro_rules! with_reading {
    ($($field:expr),* $(,)?) => {
        &[$($field,)* READING[0], READING[1], READING[2], READING[3], READING[4]]
    };
}

/// Every node type.
pub const NODES: &[NodeSpec] = &[
    NodeSpec {
        name: "play",
        doc: "play one or more prompts",
        fields: &[
            req("prompt", Shape::Prompts, "prompt id or list"),
            f(
                "barge_in",
                Shape::Bool,
                "a key cuts the prompt short (default false)",
            ),
        ],
        outcomes: &[("done", Need::Required)],
    },
    NodeSpec {
        name: "menu",
        doc: "read one choice and route by option",
        fields: with_reading![
            req("prompt", Shape::Prompts, "long greeting, first pass"),
            f(
                "repeat_prompt",
                Shape::Prompts,
                "short form on repeats (default: prompt)"
            ),
        ],
        outcomes: &[
            ("invalid_exhausted", Need::Required),
            ("timeout_exhausted", Need::Required),
        ],
    },
    NodeSpec {
        name: "collect",
        doc: "gather a multi-digit value into a variable",
        fields: with_reading![
            req("var", Shape::Text, "variable that receives the value"),
            req("prompt", Shape::Prompts, "the question"),
            f("min_length", Shape::Count, "fewest keys (default 1)"),
            req("max_length", Shape::Count, "most keys"),
            f(
                "terminator",
                Shape::Key,
                "key that ends the entry (default \"#\"; none)"
            ),
            f(
                "cancel",
                Shape::Key,
                "key that abandons the entry (outcome cancelled)"
            ),
            f("validate", Shape::Object(VALIDATE), "checks on the value"),
            f("confirm", Shape::Object(CONFIRM), "read-back confirmation"),
            f("secure", Shape::Bool, "never logged, never read back"),
        ],
        outcomes: &[
            ("ok", Need::Required),
            ("invalid_exhausted", Need::Required),
            ("timeout_exhausted", Need::Required),
            ("cancelled", Need::With("cancel")),
        ],
    },
    NodeSpec {
        name: "set",
        doc: "assign variables",
        fields: &[req(
            "vars",
            Shape::ExpressionMap,
            "name: expression, in order",
        )],
        outcomes: &[("done", Need::Required)],
    },
    NodeSpec {
        name: "branch",
        doc: "first matching condition wins",
        fields: &[req(
            "cases",
            Shape::Cases,
            "ordered list of {name: expression}",
        )],
        outcomes: &[("default", Need::Required)],
    },
    NodeSpec {
        name: "schedule",
        doc: "evaluate a calendar now",
        fields: &[req("calendar", Shape::Text, "calendar id")],
        outcomes: &[
            ("open", Need::Required),
            ("closed", Need::Required),
            ("holiday", Need::Optional),
            ("emergency", Need::Optional),
        ],
    },
    NodeSpec {
        name: "language",
        doc: "switch the prompt language",
        fields: &[req("language", Shape::Text, "one of the flow's languages")],
        outcomes: &[("done", Need::Required)],
    },
    NodeSpec {
        name: "lookup",
        doc: "look a key up in a table",
        fields: &[
            req("table", Shape::Text, "table id"),
            req("key", Shape::Expression, "expression giving the key"),
            f("fields", Shape::TextMap, "var: column"),
        ],
        outcomes: &[
            ("ok", Need::Required),
            ("not_found", Need::Required),
            ("error", Need::Optional),
            ("timeout", Need::Optional),
        ],
    },
    NodeSpec {
        name: "enqueue",
        doc: "join a queue and wait for an agent",
        fields: &[
            req("queue", Shape::Text, "queue id"),
            f(
                "priority",
                Shape::Text,
                "priority class of that queue (default: its last)",
            ),
            f(
                "skills",
                Shape::TextList,
                "skills required besides the queue's",
            ),
            f("prompt", Shape::Prompts, "played once on joining"),
            f(
                "exit_key",
                Shape::Key,
                "key that leaves the queue (outcome exit)",
            ),
            f("callback_key", Shape::Key, "key that registers a callback"),
        ],
        outcomes: &[
            ("answered", Need::Optional),
            ("timeout", Need::Required),
            ("no_agents", Need::Required),
            ("full", Need::Required),
            ("exit", Need::With("exit_key")),
            ("callback_registered", Need::With("callback_key")),
        ],
    },
    NodeSpec {
        name: "transfer",
        doc: "hand the call to a number or SIP address",
        fields: &[req("to", Shape::Text, "tel:+86... or sip:user@host")],
        outcomes: &[("connected", Need::Optional), ("failed", Need::Required)],
    },
    NodeSpec {
        name: "subflow",
        doc: "run a subflow inline",
        fields: &[
            req("flow", Shape::Text, "subflow id"),
            f("params", Shape::ExpressionMap, "param: expression"),
        ],
        outcomes: &[],
    },
    NodeSpec {
        name: "return",
        doc: "leave a subflow by one of its outcomes",
        fields: &[req("outcome", Shape::Text, "one of the subflow's outcomes")],
        outcomes: &[],
    },
    NodeSpec {
        name: "hangup",
        doc: "end the call",
        fields: &[
            f("prompt", Shape::Prompts, "played before hanging up"),
            f("reason", Shape::Text, "recorded reason (default normal)"),
        ],
        outcomes: &[],
    },
];

/// The spec of a node type.
pub fn node(name: &str) -> Option<&'static NodeSpec> {
    NODES.iter().find(|n| n.name == name)
}

/// Flow `defaults:`.
pub const DEFAULTS: &[Field] = &[
    READING[0],
    READING[1],
    READING[2],
    READING[3],
    READING[4],
    f(
        "max_call_duration",
        Shape::Duration,
        "the call ends after this long (default 1h)",
    ),
];

/// `kind: flow`.
pub const FLOW: &[Field] = &[
    req("kind", Shape::Text, "flow"),
    req("id", Shape::Text, "the flow's id"),
    f("name", Shape::Text, "a human name"),
    req(
        "numbers",
        Shape::TextList,
        "dialled numbers this flow answers",
    ),
    req(
        "languages",
        Shape::TextList,
        "prompt languages; the first is the default",
    ),
    f(
        "defaults",
        Shape::Object(DEFAULTS),
        "defaults for nodes that read keys",
    ),
    f("vars", Shape::ValueMap, "initial variables"),
    req("entry", Shape::Text, "the first node"),
    req("nodes", Shape::Nodes, "node id → node"),
];

/// `kind: subflow`.
pub const SUBFLOW: &[Field] = &[
    req("kind", Shape::Text, "subflow"),
    req("id", Shape::Text, "the subflow's id"),
    f("name", Shape::Text, "a human name"),
    f(
        "params",
        Shape::TextList,
        "parameter names, set as vars.<name>",
    ),
    req("outcomes", Shape::TextList, "outcomes the caller must map"),
    req("entry", Shape::Text, "the first node"),
    req("nodes", Shape::Nodes, "node id → node"),
];

/// A queue's priority class.
pub const CLASS: &[Field] = &[
    req("name", Shape::Text, "class name"),
    f(
        "strict",
        Shape::Bool,
        "always served before non-strict classes",
    ),
    f(
        "max_agent_share",
        Shape::Number,
        "strict classes: most agents busy with it (0..1)",
    ),
    f("base_priority", Shape::Number, "starting priority"),
    f(
        "aging_per_second",
        Shape::Number,
        "priority gained per second of waiting",
    ),
];

/// A queue's announcements.
pub const ANNOUNCE: &[Field] = &[
    f(
        "first_after",
        Shape::Duration,
        "first announcement after (default 30s)",
    ),
    f("every", Shape::Duration, "then every (default 60s)"),
    f("position", Shape::Bool, "say the position (default true)"),
    f(
        "wait_time",
        Shape::Bool,
        "say the estimated wait (default true)",
    ),
    f("messages", Shape::Prompts, "periodic messages"),
];

/// `kind: queue`.
pub const QUEUE: &[Field] = &[
    req("kind", Shape::Text, "queue"),
    req("id", Shape::Text, "the queue's id"),
    f("name", Shape::Text, "a human name"),
    req(
        "classes",
        Shape::ObjectList(CLASS),
        "priority classes, highest first",
    ),
    f("max_wait", Shape::Duration, "longest wait (default 15m)"),
    f(
        "overflow",
        Shape::Text,
        "queue id callers move to after max_wait",
    ),
    f(
        "max_size",
        Shape::Count,
        "most callers waiting (default 100)",
    ),
    f(
        "service_level",
        Shape::Duration,
        "answer-time target (default 20s)",
    ),
    f("skills", Shape::TextList, "skills every agent needs"),
    f("hold_music", Shape::Text, "prompt id (default hold_music)"),
    f(
        "announce",
        Shape::Object(ANNOUNCE),
        "position and wait announcements",
    ),
    f(
        "wrap_up",
        Shape::Duration,
        "agent wrap-up time (default 10s)",
    ),
    f(
        "offer_timeout",
        Shape::Duration,
        "how long an offer rings (default 15s)",
    ),
    f(
        "join_without_agents",
        Shape::Bool,
        "join with nobody logged in (default true)",
    ),
];

/// A calendar override.
pub const OVERRIDE: &[Field] = &[
    req("date", Shape::Text, "YYYY-MM-DD"),
    req("hours", Shape::Ranges, "hours that day; [] = closed"),
];

/// `kind: calendar`.
pub const CALENDAR: &[Field] = &[
    req("kind", Shape::Text, "calendar"),
    req("id", Shape::Text, "the calendar's id"),
    f("name", Shape::Text, "a human name"),
    req("timezone", Shape::Text, "IANA zone such as Asia/Shanghai"),
    f("weekly", Shape::Weekly, "mon..sun → ranges"),
    f("holidays", Shape::Dates, "closed dates"),
    f("workdays", Shape::Dates, "make-up working days"),
    f(
        "workday_hours",
        Shape::Ranges,
        "hours on make-up working days",
    ),
    f(
        "overrides",
        Shape::ObjectList(OVERRIDE),
        "dates with their own hours",
    ),
    f(
        "emergency_flags",
        Shape::TextList,
        "flags ops can switch on",
    ),
];

/// `kind: table`.
pub const TABLE: &[Field] = &[
    req("kind", Shape::Text, "table"),
    req("id", Shape::Text, "the table's id"),
    f("name", Shape::Text, "a human name"),
    req("key", Shape::Text, "the key column"),
    req("rows", Shape::Rows, "rows: column → value"),
];

/// A test case's expectations.
pub const EXPECT: &[Field] = &[
    f("prompts", Shape::TextList, "every prompt heard, in order"),
    f("node", Shape::Text, "the node the call is at or ended in"),
    f("queue", Shape::Text, "queue joined"),
    f("priority", Shape::Text, "priority class joined"),
    f("vars", Shape::TextMap, "variable values"),
    f("ended", Shape::Bool, "whether the call has ended"),
];

/// A test case.
pub const CASE: &[Field] = &[
    req("name", Shape::Text, "what the case proves"),
    f("caller", Shape::Text, "caller number"),
    f(
        "number",
        Shape::Text,
        "dialled number (default: the flow's first)",
    ),
    f("at", Shape::Text, "wall-clock time, RFC 3339"),
    f("flags", Shape::TextList, "emergency flags switched on"),
    f(
        "steps",
        Shape::Steps,
        "press / silence / advance / queue / transfer / hangup",
    ),
    f("expect", Shape::Object(EXPECT), "what must hold at the end"),
];

/// `kind: test`.
pub const TEST: &[Field] = &[
    req("kind", Shape::Text, "test"),
    req("flow", Shape::Text, "flow id under test"),
    f("name", Shape::Text, "a human name for the suite"),
    req("cases", Shape::ObjectList(CASE), "the cases"),
];

/// File kinds the loader compiles.
pub const KINDS: &[(&str, &[Field])] = &[
    ("flow", FLOW),
    ("subflow", SUBFLOW),
    ("queue", QUEUE),
    ("calendar", CALENDAR),
    ("table", TABLE),
    ("test", TEST),
];

/// Field names of a table, for "did you mean".
pub fn names(fields: &[Field]) -> impl Iterator<Item = &'static str> + '_ {
    fields.iter().map(|f| f.name)
}
