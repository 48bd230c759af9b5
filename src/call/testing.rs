//! Building flows in code and rendering a call's actions as short text, for tests of the call
//! core and for simulators.
//!
//! The YAML compiler is the normal way to get a [`Flow`]; this builder makes small graphs
//! without files, resolving node names to indices (forward references allowed) and reporting
//! every unknown name or bad expression at [`FlowBuilder::build`]. Nothing here does I/O.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::call::io::{Action, CallEvent, DropReason, FailureKind, Party};
use crate::flow::expr::Expr;
use crate::flow::model::Calendar;
use crate::flow::model::{
    AnnounceConfig, Branch, ClassConfig, Collect, Enqueue, Flow, FlowSet, Hangup, Lookup, Menu,
    Node, NodeIndex, NodeKind, Play, Prompts, QueueConfig, Reading, Schedule, Set, SetLanguage,
    SourceSpan, Table, Transfer, Utterance, Value,
};
use crate::ids::{CalendarId, FlowId, Language, NodeId, PriorityClass, PromptId, QueueId, TableId};

/// What is wrong with a flow built in code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// Names used as targets but never defined.
    #[error("nodes used but never defined: {0:?}")]
    Undefined(Vec<String>),
    /// An expression did not parse.
    #[error("node {node}: expression {text:?}: {reason}")]
    Expression {
        /// The node.
        node: String,
        /// The expression.
        text: String,
        /// The parser's complaint.
        reason: String,
    },
    /// No entry node was set and none was defined.
    #[error("the flow has no nodes")]
    Empty,
}

/// Prompt ids as utterances.
pub fn prompts(ids: &[&str]) -> Prompts {
    ids.iter()
        .map(|id| Utterance::Prompt(PromptId::new(*id)))
        .collect()
}

/// Reading settings with the engine defaults: 5 s first key, 3 s between keys, 3 attempts,
/// prompts `invalid_choice` and `no_input`.
pub fn reading() -> Reading {
    Reading {
        timeout: Duration::from_secs(5),
        inter_digit_timeout: Duration::from_secs(3),
        attempts: 3,
        invalid_prompt: prompts(&["invalid_choice"]),
        no_input_prompt: prompts(&["no_input"]),
    }
}

/// A queue with classes `emergency` (strict) and `normal`, music `hold_music`, and
/// announcements of position and wait after 20 s then every 45 s.
pub fn queue(id: &str) -> QueueConfig {
    QueueConfig {
        id: QueueId::new(id),
        name: id.to_owned(),
        classes: vec![
            ClassConfig {
                name: PriorityClass::new("emergency"),
                strict: true,
                max_agent_share: 0.5,
                base_priority: 0.0,
                aging_per_second: 0.0,
            },
            ClassConfig {
                name: PriorityClass::new("normal"),
                strict: false,
                max_agent_share: 1.0,
                base_priority: 0.0,
                aging_per_second: 0.1,
            },
        ],
        max_wait: Duration::from_secs(900),
        overflow: None,
        max_size: 500,
        service_level: Duration::from_secs(20),
        skills: Vec::new(),
        hold_music: PromptId::new("hold_music"),
        announce: AnnounceConfig {
            first_after: Duration::from_secs(20),
            every: Duration::from_secs(45),
            position: true,
            wait_time: true,
            messages: Vec::new(),
        },
        wrap_up: Duration::from_secs(10),
        offer_timeout: Duration::from_secs(15),
        join_without_agents: true,
    }
}

/// A table from `(key, [(column, value)])` rows.
pub fn table(id: &str, rows: &[(&str, &[(&str, &str)])]) -> Table {
    Table {
        id: TableId::new(id),
        rows: rows
            .iter()
            .map(|(key, cols)| {
                let row: BTreeMap<String, String> = cols
                    .iter()
                    .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
                    .collect();
                ((*key).to_owned(), row)
            })
            .collect(),
    }
}

/// A flow set holding `flows` and the given queues, calendars and tables.
pub fn flow_set(
    flows: Vec<Arc<Flow>>,
    queues: Vec<QueueConfig>,
    calendars: Vec<Calendar>,
    tables: Vec<Table>,
) -> FlowSet {
    let by_number: HashMap<String, usize> = flows
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.numbers.iter().map(move |n| (n.clone(), i)))
        .collect();
    FlowSet {
        flows,
        by_number,
        queues: queues
            .into_iter()
            .map(|q| (q.id.clone(), Arc::new(q)))
            .collect(),
        calendars: calendars
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect(),
        tables: tables
            .into_iter()
            .map(|t| (t.id.clone(), Arc::new(t)))
            .collect(),
        prompts: BTreeMap::new(),
        version: "built-in-code".to_owned(),
    }
}

/// Builds a [`Flow`] node by node. Targets are node names; the first node defined is the
/// entry unless [`FlowBuilder::entry`] says otherwise.
#[derive(Debug)]
pub struct FlowBuilder {
    id: String,
    languages: Vec<Language>,
    vars: BTreeMap<String, Value>,
    max_call_duration: Duration,
    names: Vec<String>,
    kinds: Vec<Option<NodeKind>>,
    entry: Option<String>,
    errors: Vec<BuildError>,
}

impl FlowBuilder {
    /// A flow `id` in zh-CN and en-US with a one-hour maximum duration.
    pub fn new(id: &str) -> FlowBuilder {
        FlowBuilder {
            id: id.to_owned(),
            languages: vec![Language::new("zh-CN"), Language::new("en-US")],
            vars: BTreeMap::new(),
            max_call_duration: Duration::from_secs(3600),
            names: Vec::new(),
            kinds: Vec::new(),
            entry: None,
            errors: Vec::new(),
        }
    }

    /// Sets the entry node.
    pub fn entry(&mut self, name: &str) -> &mut Self {
        self.entry = Some(name.to_owned());
        self
    }

    /// Sets an initial variable.
    pub fn var(&mut self, name: &str, value: Value) -> &mut Self {
        self.vars.insert(name.to_owned(), value);
        self
    }

    /// Sets the maximum call duration.
    pub fn max_call_duration(&mut self, d: Duration) -> &mut Self {
        self.max_call_duration = d;
        self
    }

    /// The index of the node named `name`, defined now or later.
    pub fn at(&mut self, name: &str) -> NodeIndex {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return NodeIndex(i);
        }
        self.names.push(name.to_owned());
        self.kinds.push(None);
        NodeIndex(self.names.len() - 1)
    }

    /// Defines a node (targets inside `kind` come from [`FlowBuilder::at`]).
    pub fn node(&mut self, name: &str, kind: NodeKind) -> &mut NodeKind {
        if self.entry.is_none() {
            self.entry = Some(name.to_owned());
        }
        let i = self.at(name).0;
        &mut *self.kinds[i].insert(kind)
    }

    fn expr(&mut self, node: &str, text: &str) -> Expr {
        Expr::parse(text).unwrap_or_else(|e| {
            self.errors.push(BuildError::Expression {
                node: node.to_owned(),
                text: text.to_owned(),
                reason: e.to_string(),
            });
            Expr::Literal(Value::Null)
        })
    }

    /// A `play` node.
    pub fn play(&mut self, name: &str, ids: &[&str], barge_in: bool, next: &str) -> &mut Self {
        let next = self.at(next);
        self.node(
            name,
            NodeKind::Play(Play {
                prompts: prompts(ids),
                barge_in,
                next,
            }),
        );
        self
    }

    /// A `menu` node with [`reading`] defaults; `repeat` empty means the same as `prompt`.
    pub fn menu(
        &mut self,
        name: &str,
        prompt: &[&str],
        repeat: &[&str],
        options: &[(&str, &str)],
        invalid_exhausted: &str,
        timeout_exhausted: &str,
    ) -> &mut Menu {
        let options = options
            .iter()
            .map(|(keys, target)| ((*keys).to_owned(), self.at(target)))
            .collect();
        let menu = Menu {
            prompt: prompts(prompt),
            repeat_prompt: prompts(if repeat.is_empty() { prompt } else { repeat }),
            reading: reading(),
            options,
            invalid_exhausted: self.at(invalid_exhausted),
            timeout_exhausted: self.at(timeout_exhausted),
        };
        match self.node(name, NodeKind::Menu(menu)) {
            NodeKind::Menu(m) => m,
            // `node` returns the kind it was just given, so no other variant can come back.
            _ => unreachable!("the node was just set to a menu"),
        }
    }

    /// A `collect` node into `var`, 1..=`max_length` keys, `#` terminator, [`reading`]
    /// defaults, no validation; adjust the returned value for more.
    pub fn collect(
        &mut self,
        name: &str,
        var: &str,
        prompt: &[&str],
        max_length: usize,
        outcomes: [&str; 3],
    ) -> &mut Collect {
        let [ok, invalid_exhausted, timeout_exhausted] = outcomes;
        let collect = Collect {
            var: var.to_owned(),
            prompt: prompts(prompt),
            min_length: 1,
            max_length,
            terminator: crate::ids::Digit::new('#'),
            cancel: None,
            reading: reading(),
            validate: Vec::new(),
            confirm: None,
            secure: false,
            ok: self.at(ok),
            invalid_exhausted: self.at(invalid_exhausted),
            timeout_exhausted: self.at(timeout_exhausted),
            cancelled: None,
        };
        match self.node(name, NodeKind::Collect(collect)) {
            NodeKind::Collect(c) => c,
            // `node` returns the kind it was just given, so no other variant can come back.
            _ => unreachable!("the node was just set to a collect"),
        }
    }

    /// A `set` node: `(var, expression)` in order.
    pub fn set(&mut self, name: &str, assignments: &[(&str, &str)], next: &str) -> &mut Self {
        let assignments = assignments
            .iter()
            .map(|(var, text)| ((*var).to_owned(), self.expr(name, text)))
            .collect();
        let next = self.at(next);
        self.node(name, NodeKind::Set(Set { assignments, next }));
        self
    }

    /// A `branch` node: `(case, condition, target)` in order.
    pub fn branch(&mut self, name: &str, cases: &[(&str, &str, &str)], default: &str) -> &mut Self {
        let cases = cases
            .iter()
            .map(|(case, text, target)| {
                ((*case).to_owned(), self.expr(name, text), self.at(target))
            })
            .collect();
        let default = self.at(default);
        self.node(name, NodeKind::Branch(Branch { cases, default }));
        self
    }

    /// A `schedule` node; outcomes are open, closed, holiday, emergency.
    pub fn schedule(&mut self, name: &str, calendar: &str, outcomes: [&str; 4]) -> &mut Self {
        let [open, closed, holiday, emergency] = outcomes.map(|o| self.at(o));
        self.node(
            name,
            NodeKind::Schedule(Schedule {
                calendar: CalendarId::new(calendar),
                open,
                closed,
                holiday,
                emergency,
            }),
        );
        self
    }

    /// A `language` node.
    pub fn language(&mut self, name: &str, language: &str, next: &str) -> &mut Self {
        let next = self.at(next);
        self.node(
            name,
            NodeKind::SetLanguage(SetLanguage {
                language: Language::new(language),
                next,
            }),
        );
        self
    }

    /// A `lookup` node on a local table; `error` and `timeout` go to `not_found`.
    pub fn lookup(
        &mut self,
        name: &str,
        table: &str,
        key: &str,
        fields: &[(&str, &str)],
        outcomes: [&str; 2],
    ) -> &mut Self {
        let key = self.expr(name, key);
        let [ok, not_found] = outcomes.map(|o| self.at(o));
        self.node(
            name,
            NodeKind::Lookup(Lookup {
                table: TableId::new(table),
                key,
                fields: fields
                    .iter()
                    .map(|(v, c)| ((*v).to_owned(), (*c).to_owned()))
                    .collect(),
                ok,
                not_found,
                error: not_found,
                timeout: not_found,
            }),
        );
        self
    }

    /// An `enqueue` node; outcomes are timeout, no_agents, full. Exit and callback keys and
    /// `answered` can be set on the returned value.
    pub fn enqueue(
        &mut self,
        name: &str,
        queue: &str,
        priority: &str,
        prompt: &[&str],
        outcomes: [&str; 3],
    ) -> &mut Enqueue {
        let [timeout, no_agents, full] = outcomes.map(|o| self.at(o));
        let enqueue = Enqueue {
            queue: QueueId::new(queue),
            priority: PriorityClass::new(priority),
            skills: Vec::new(),
            prompt: prompts(prompt),
            exit_key: None,
            callback_key: None,
            answered: None,
            timeout,
            no_agents,
            full,
            exit: None,
            callback_registered: None,
        };
        match self.node(name, NodeKind::Enqueue(enqueue)) {
            NodeKind::Enqueue(e) => e,
            // `node` returns the kind it was just given, so no other variant can come back.
            _ => unreachable!("the node was just set to an enqueue"),
        }
    }

    /// A `transfer` node.
    pub fn transfer(
        &mut self,
        name: &str,
        target: &str,
        connected: Option<&str>,
        failed: &str,
    ) -> &mut Self {
        let connected = connected.map(|c| self.at(c));
        let failed = self.at(failed);
        self.node(
            name,
            NodeKind::Transfer(Transfer {
                target: target.to_owned(),
                connected,
                failed,
            }),
        );
        self
    }

    /// A `hangup` node.
    pub fn hangup(&mut self, name: &str, ids: &[&str], reason: &str) -> &mut Self {
        self.node(
            name,
            NodeKind::Hangup(Hangup {
                prompts: prompts(ids),
                reason: reason.to_owned(),
            }),
        );
        self
    }

    /// The flow, or every problem found.
    pub fn build(self) -> Result<Flow, Vec<BuildError>> {
        let mut errors = self.errors;
        let undefined: Vec<String> = self
            .names
            .iter()
            .zip(&self.kinds)
            .filter(|(_, k)| k.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        if !undefined.is_empty() {
            errors.push(BuildError::Undefined(undefined));
        }
        let entry = self
            .entry
            .as_ref()
            .and_then(|name| self.names.iter().position(|n| n == name));
        let Some(entry) = entry else {
            errors.push(BuildError::Empty);
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let nodes = self
            .names
            .into_iter()
            .zip(self.kinds)
            .filter_map(|(name, kind)| {
                kind.map(|kind| Node {
                    id: NodeId::new(name),
                    span: SourceSpan::default(),
                    kind,
                })
            })
            .collect();
        Ok(Flow {
            id: FlowId::new(self.id.clone()),
            name: self.id.clone(),
            numbers: vec!["10000".to_owned()],
            languages: self.languages,
            vars: self.vars,
            entry: NodeIndex(entry),
            nodes,
            max_call_duration: self.max_call_duration,
            file: PathBuf::from(format!("{}.yaml", self.id)),
            version: "built-in-code".to_owned(),
        })
    }
}

fn utterance(u: &Utterance) -> String {
    match u {
        Utterance::Prompt(id) => id.to_string(),
        Utterance::Number(n) => format!("num:{n}"),
        Utterance::Digits(d) => format!("digits:{d}"),
    }
}

fn failure(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Invalid => "invalid",
        FailureKind::NoInput => "no-input",
    }
}

/// One action as a short line, for exact transcripts in tests:
/// `play#1 welcome,menu_main barge`, `stop#1`, `enqueue general/emergency`,
/// `leave general Exited`, `hangup normal`, `> main_menu`, `chose 1`, `ended normal by Engine`.
pub fn render(action: &Action) -> String {
    match action {
        Action::Play {
            playback,
            utterances,
            barge_in,
            repeat,
            ..
        } => {
            let words: Vec<String> = utterances.iter().map(utterance).collect();
            let mut line = format!("play{playback} {}", words.join(","));
            if *barge_in {
                line.push_str(" barge");
            }
            if *repeat {
                line.push_str(" loop");
            }
            line
        }
        Action::StopPlayback { playback } => format!("stop{playback}"),
        Action::Enqueue {
            queue,
            priority,
            skills,
            ..
        } => {
            if skills.is_empty() {
                format!("enqueue {queue}/{priority}")
            } else {
                format!("enqueue {queue}/{priority} skills={}", skills.join(","))
            }
        }
        Action::LeaveQueue { queue, reason } => format!("leave {queue} {reason:?}"),
        Action::RequestCallback { queue } => format!("callback {queue}"),
        Action::Transfer { target } => format!("transfer {target}"),
        Action::Hangup { reason } => format!("hangup {}", reason.label()),
        Action::Emit(event) => render_event(event),
    }
}

fn render_event(event: &CallEvent) -> String {
    match event {
        CallEvent::NodeEntered { node, .. } => format!("> {node}"),
        CallEvent::MenuFailure {
            kind,
            count,
            consecutive,
            ..
        } => format!("menu-{} {count} ({consecutive} in a row)", failure(*kind)),
        CallEvent::OptionChosen { option, .. } => format!("chose {option}"),
        CallEvent::CollectFailure {
            kind,
            count,
            consecutive,
            ..
        } => format!(
            "collect-{} {count} ({consecutive} in a row)",
            failure(*kind)
        ),
        CallEvent::ValueCollected { var, value } => {
            format!("collected {var}={}", value.as_deref().unwrap_or("***"))
        }
        CallEvent::LanguageChanged { language } => format!("language {language}"),
        CallEvent::ScheduleChecked { calendar, state } => {
            format!("schedule {calendar} {}", state.as_str())
        }
        CallEvent::LookedUp { found, .. } => {
            format!("lookup {}", if *found { "found" } else { "not-found" })
        }
        CallEvent::ValueLookedUp { var, value } => format!("looked-up {var}={value}"),
        CallEvent::AgentAssigned { agent } => format!("agent {agent}"),
        CallEvent::TransferFailed { reason } => format!("transfer-failed {reason}"),
        CallEvent::InputDropped { reason } => format!(
            "dropped {}",
            match reason {
                DropReason::KeyDuringPrompt => "key-during-prompt",
                DropReason::KeyIgnored => "key-ignored",
                DropReason::StalePlayback => "stale-playback",
                DropReason::UnexpectedFact => "unexpected-fact",
            }
        ),
        CallEvent::Ended {
            outcome,
            hung_up_by,
            ..
        } => format!(
            "ended {} by {}",
            outcome.label(),
            match hung_up_by {
                Party::Caller => "caller",
                Party::Engine => "engine",
                Party::Remote => "remote",
            }
        ),
    }
}
