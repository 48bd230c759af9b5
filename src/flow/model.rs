//! The compiled, validated, immutable flow graph that the call core walks.
//!
//! Everything here is produced by the flow compiler from the YAML files under `flows/` and is
//! never mutated afterwards: references between nodes, queues, calendars, tables and prompts
//! are resolved and checked, subflows are inlined, durations are parsed. A call holds an
//! `Arc<Flow>` for its whole life, so a hot reload never changes a call in progress.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use chrono::NaiveTime;

use crate::flow::expr::Expr;
use crate::ids::{
    CalendarId, Digit, FlowId, Language, NodeId, PriorityClass, PromptId, QueueId, TableId,
};

/// Index of a node inside [`Flow::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIndex(pub usize);

/// Where something came from in the source files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceSpan {
    /// The file, relative to the flows directory where possible.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A value a flow variable can hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Unset, or an unknown name.
    Null,
    /// true/false.
    Bool(bool),
    /// A number (all numbers are f64; digit strings stay strings).
    Number(f64),
    /// Text, including collected digit strings.
    Str(String),
}

/// Everything the engine serves at one moment: all flows, queues, calendars, tables and the
/// prompt catalogue, validated together. Swapped whole on a hot reload.
#[derive(Debug, Default)]
pub struct FlowSet {
    /// The flows, sorted by id.
    pub flows: Vec<Arc<Flow>>,
    /// Dialled number (digits only, as written in `numbers:`) → index into `flows`.
    pub by_number: HashMap<String, usize>,
    /// Queues by id.
    pub queues: BTreeMap<QueueId, Arc<QueueConfig>>,
    /// Calendars by id.
    pub calendars: BTreeMap<CalendarId, Arc<Calendar>>,
    /// Lookup tables by id.
    pub tables: BTreeMap<TableId, Arc<Table>>,
    /// Prompt catalogue: id → text per language.
    pub prompts: BTreeMap<PromptId, PromptEntry>,
    /// A digest of every source file, so records can name the version a call ran on.
    pub version: String,
}

/// One entry of `audio-prompts/prompts.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptEntry {
    /// The words, per language.
    pub text: BTreeMap<Language, String>,
}

/// One compiled call flow.
#[derive(Debug)]
pub struct Flow {
    /// The flow's id.
    pub id: FlowId,
    /// A human name for dashboards and records.
    pub name: String,
    /// Numbers this flow answers.
    pub numbers: Vec<String>,
    /// Languages the flow's prompts exist in; the first is the default.
    pub languages: Vec<Language>,
    /// Initial variables.
    pub vars: BTreeMap<String, Value>,
    /// The first node.
    pub entry: NodeIndex,
    /// All nodes (subflow nodes inlined with ids `caller/inner`).
    pub nodes: Vec<Node>,
    /// Maximum call duration; when it passes the call is ended.
    pub max_call_duration: Duration,
    /// The source file.
    pub file: PathBuf,
    /// Digest of this flow's sources (flow plus inlined subflows).
    pub version: String,
}

impl Flow {
    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.nodes[index.0]
    }

    /// Finds a node by id.
    pub fn find(&self, id: &str) -> Option<NodeIndex> {
        self.nodes
            .iter()
            .position(|n| n.id.as_str() == id)
            .map(NodeIndex)
    }
}

/// A node of the graph.
#[derive(Debug)]
pub struct Node {
    /// The node's id.
    pub id: NodeId,
    /// Where it is written.
    pub span: SourceSpan,
    /// What it does.
    pub kind: NodeKind,
}

/// One item a caller hears. Prompts are looked up in the call's current language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Utterance {
    /// A catalogue prompt.
    Prompt(PromptId),
    /// A number spoken as a quantity ("twelve").
    Number(u64),
    /// A digit string read digit by digit ("one two three").
    Digits(String),
}

/// A sequence of things to play in order.
pub type Prompts = Vec<Utterance>;

/// The node types of the flow language.
#[derive(Debug)]
pub enum NodeKind {
    /// Play prompts, then `next`.
    Play(Play),
    /// Read one choice and route by option.
    Menu(Menu),
    /// Gather a multi-digit value into a variable.
    Collect(Collect),
    /// Assign variables.
    Set(Set),
    /// First matching condition wins.
    Branch(Branch),
    /// Evaluate a calendar now.
    Schedule(Schedule),
    /// Switch the prompt language.
    SetLanguage(SetLanguage),
    /// Look a key up in a table.
    Lookup(Lookup),
    /// Join a queue and wait for an agent or an exit condition.
    Enqueue(Enqueue),
    /// Hand the call to a number or SIP address.
    Transfer(Transfer),
    /// End the call.
    Hangup(Hangup),
}

/// `play`.
#[derive(Debug)]
pub struct Play {
    /// What to play.
    pub prompts: Prompts,
    /// Whether a key press cuts the prompt short (the digit is then dropped, not buffered).
    pub barge_in: bool,
    /// Outcome `done`.
    pub next: NodeIndex,
}

/// Shared settings of nodes that read keys.
#[derive(Clone, Debug)]
pub struct Reading {
    /// Time allowed for the first key after the prompt ends.
    pub timeout: Duration,
    /// Time allowed between keys.
    pub inter_digit_timeout: Duration,
    /// Consecutive failures (invalid or no input) before the `*_exhausted` outcome.
    pub attempts: u32,
    /// Played after an invalid entry, before the prompt is repeated.
    pub invalid_prompt: Prompts,
    /// Played after no input, before the prompt is repeated.
    pub no_input_prompt: Prompts,
}

/// `menu`.
#[derive(Debug)]
pub struct Menu {
    /// The long greeting, played on the first pass.
    pub prompt: Prompts,
    /// The short form, played on every repeat.
    pub repeat_prompt: Prompts,
    /// Timeouts, attempts and failure prompts.
    pub reading: Reading,
    /// Option digit strings (one or more keys) → target, in file order.
    pub options: Vec<(String, NodeIndex)>,
    /// Outcome `invalid_exhausted`.
    pub invalid_exhausted: NodeIndex,
    /// Outcome `timeout_exhausted`.
    pub timeout_exhausted: NodeIndex,
}

/// A check on a collected value.
#[derive(Debug)]
pub enum Validation {
    /// The whole value must match (anchored).
    Pattern(regex::Regex),
    /// The Luhn checksum must hold (card numbers).
    Luhn,
    /// The value read as an integer must be in `min..=max`.
    Range {
        /// Lowest accepted.
        min: u64,
        /// Highest accepted.
        max: u64,
    },
}

/// Read-back confirmation of a collected value.
#[derive(Debug)]
pub struct Confirm {
    /// Played before the digits are read back ("you entered").
    pub prefix: Prompts,
    /// Played after ("press 1 to confirm, 2 to re-enter").
    pub question: Prompts,
    /// Key that confirms.
    pub yes: Digit,
    /// Key that re-enters.
    pub no: Digit,
}

/// `collect`.
#[derive(Debug)]
pub struct Collect {
    /// The variable that receives the value.
    pub var: String,
    /// The question.
    pub prompt: Prompts,
    /// Fewest keys accepted.
    pub min_length: usize,
    /// Most keys; reaching it completes the entry without a terminator.
    pub max_length: usize,
    /// Key that ends the entry early.
    pub terminator: Option<Digit>,
    /// Key that abandons the entry (outcome `cancelled`).
    pub cancel: Option<Digit>,
    /// Timeouts, attempts and failure prompts.
    pub reading: Reading,
    /// All must pass.
    pub validate: Vec<Validation>,
    /// Optional read-back (never offered for `secure` values).
    pub confirm: Option<Confirm>,
    /// The value never reaches logs, events, records or metrics.
    pub secure: bool,
    /// Outcome `ok`.
    pub ok: NodeIndex,
    /// Outcome `invalid_exhausted`.
    pub invalid_exhausted: NodeIndex,
    /// Outcome `timeout_exhausted`.
    pub timeout_exhausted: NodeIndex,
    /// Outcome `cancelled` (required when `cancel` is set).
    pub cancelled: Option<NodeIndex>,
}

/// `set`.
#[derive(Debug)]
pub struct Set {
    /// Variable ← expression, evaluated in order.
    pub assignments: Vec<(String, Expr)>,
    /// Outcome `done`.
    pub next: NodeIndex,
}

/// `branch`.
#[derive(Debug)]
pub struct Branch {
    /// Case name, condition, target, in file order.
    pub cases: Vec<(String, Expr, NodeIndex)>,
    /// Outcome `default`.
    pub default: NodeIndex,
}

/// `schedule`.
#[derive(Debug)]
pub struct Schedule {
    /// The calendar evaluated.
    pub calendar: CalendarId,
    /// Outcome `open`.
    pub open: NodeIndex,
    /// Outcome `closed`.
    pub closed: NodeIndex,
    /// Outcome `holiday` (defaults to `closed`).
    pub holiday: NodeIndex,
    /// Outcome `emergency` (defaults to `closed`).
    pub emergency: NodeIndex,
}

/// `language`.
#[derive(Debug)]
pub struct SetLanguage {
    /// The language switched to (one of the flow's languages).
    pub language: Language,
    /// Outcome `done`.
    pub next: NodeIndex,
}

/// `lookup`.
#[derive(Debug)]
pub struct Lookup {
    /// The table asked.
    pub table: TableId,
    /// The key, evaluated at run time.
    pub key: Expr,
    /// Variable ← column of the found row.
    pub fields: Vec<(String, String)>,
    /// Outcome `ok`.
    pub ok: NodeIndex,
    /// Outcome `not_found`.
    pub not_found: NodeIndex,
    /// Outcome `error` (defaults to `not_found`).
    pub error: NodeIndex,
    /// Outcome `timeout` (defaults to `error`).
    pub timeout: NodeIndex,
}

/// `enqueue`.
#[derive(Debug)]
pub struct Enqueue {
    /// The queue joined.
    pub queue: QueueId,
    /// The priority class joined.
    pub priority: PriorityClass,
    /// Skills required (added to the queue's own).
    pub skills: Vec<String>,
    /// Played once on joining ("please hold").
    pub prompt: Prompts,
    /// Key that leaves the queue (outcome `exit`).
    pub exit_key: Option<Digit>,
    /// Key that registers a callback keeping the caller's place (outcome `callback_registered`).
    pub callback_key: Option<Digit>,
    /// Outcome `answered`: where the flow goes after the agent leg ends (None: the call ends).
    pub answered: Option<NodeIndex>,
    /// Outcome `timeout` (max wait passed; the queue's overflow, if any, happens before).
    pub timeout: NodeIndex,
    /// Outcome `no_agents`.
    pub no_agents: NodeIndex,
    /// Outcome `full`.
    pub full: NodeIndex,
    /// Outcome `exit` (required with `exit_key`).
    pub exit: Option<NodeIndex>,
    /// Outcome `callback_registered` (required with `callback_key`).
    pub callback_registered: Option<NodeIndex>,
}

/// `transfer`.
#[derive(Debug)]
pub struct Transfer {
    /// `tel:+86...` or `sip:user@host`.
    pub target: String,
    /// Outcome `connected` (None: the call leaves the engine).
    pub connected: Option<NodeIndex>,
    /// Outcome `failed`.
    pub failed: NodeIndex,
}

/// `hangup`.
#[derive(Debug)]
pub struct Hangup {
    /// Played before hanging up.
    pub prompts: Prompts,
    /// Recorded as the call's outcome reason (`normal`, `after_hours`, ...).
    pub reason: String,
}

/// A queue from a `kind: queue` file.
#[derive(Debug)]
pub struct QueueConfig {
    /// The queue's id.
    pub id: QueueId,
    /// A human name.
    pub name: String,
    /// Priority classes, highest first.
    pub classes: Vec<ClassConfig>,
    /// No caller waits longer; then overflow (or the `timeout` outcome).
    pub max_wait: Duration,
    /// Where callers go after `max_wait` (another queue), if anywhere.
    pub overflow: Option<QueueId>,
    /// Most callers waiting; more get `full`.
    pub max_size: usize,
    /// Calls answered within this count toward the service level.
    pub service_level: Duration,
    /// Skills every agent of this queue needs.
    pub skills: Vec<String>,
    /// Music on hold prompt.
    pub hold_music: PromptId,
    /// Position/wait announcements.
    pub announce: AnnounceConfig,
    /// Time an agent stays in wrap-up after a call.
    pub wrap_up: Duration,
    /// Time an offer rings before it moves on.
    pub offer_timeout: Duration,
    /// Whether callers may join while no agent is logged in (else `no_agents`).
    pub join_without_agents: bool,
}

/// A priority class of a queue.
#[derive(Debug)]
pub struct ClassConfig {
    /// The class name.
    pub name: PriorityClass,
    /// Strict lane: always served before every non-strict class.
    pub strict: bool,
    /// For strict classes: the most agents (as a share, 0..=1) busy with this class at once.
    pub max_agent_share: f64,
    /// Starting priority for aging classes (higher is served first).
    pub base_priority: f64,
    /// Priority gained per second of waiting.
    pub aging_per_second: f64,
}

/// How a queue talks to waiting callers.
#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// First announcement after this long in the queue.
    pub first_after: Duration,
    /// Then every this long.
    pub every: Duration,
    /// Say the position.
    pub position: bool,
    /// Say the estimated wait.
    pub wait_time: bool,
    /// Periodic messages played between music.
    pub messages: Prompts,
}

/// A `kind: calendar` file.
#[derive(Debug)]
pub struct Calendar {
    /// Its id.
    pub id: CalendarId,
    /// IANA zone, required (`Asia/Shanghai`).
    pub timezone: chrono_tz::Tz,
    /// Opening hours per weekday, Monday first; empty = closed all day.
    pub weekly: [Vec<(NaiveTime, NaiveTime)>; 7],
    /// Public holidays: closed (outcome `holiday`).
    pub holidays: Vec<NaiveDate>,
    /// Make-up working days (adjusted weekends): open with `workday_hours`.
    pub workdays: Vec<NaiveDate>,
    /// Hours on make-up working days.
    pub workday_hours: Vec<(NaiveTime, NaiveTime)>,
    /// Dates with their own hours.
    pub overrides: Vec<(NaiveDate, Vec<(NaiveTime, NaiveTime)>)>,
    /// Emergency flag names ops can switch on at run time.
    pub emergency_flags: Vec<String>,
}

/// A `kind: table` file: rows keyed by one column.
#[derive(Debug)]
pub struct Table {
    /// Its id.
    pub id: TableId,
    /// Key → column → value.
    pub rows: HashMap<String, BTreeMap<String, String>>,
}
