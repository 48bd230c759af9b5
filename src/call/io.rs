//! The vocabulary of the call core: the facts it is told ([`Input`]), the commands it gives
//! ([`Action`]), the events it reports ([`CallEvent`]) and the values they carry.
//!
//! Plain data only: nothing here reads a clock, logs or does I/O. Values that must not leak
//! (secure digits, caller numbers) have `Debug` impls that redact them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::call::calendar::DayState;
use crate::flow::model::{Utterance, Value};
use crate::ids::{AgentId, CalendarId, Digit, FlowId, Language, NodeId, PriorityClass, QueueId};

/// One playback started by a call; ids are unique within the call and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

impl fmt::Display for PlaybackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A value that must never be shown: its `Debug` prints `***`.
#[derive(Clone, PartialEq)]
pub struct Secret<T>(pub T);

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What the engine knows about a call when it starts.
#[derive(Clone)]
pub struct CallInfo {
    /// The caller's number, when the network gave one. Redacted in `Debug`.
    pub caller: Option<String>,
    /// The number the caller dialled.
    pub dialled: String,
    /// Wall-clock time the call started; used only to evaluate calendars.
    pub started_at: DateTime<Utc>,
    /// Emergency flags switched on by ops when the call started.
    pub flags: BTreeSet<String>,
}

impl fmt::Debug for CallInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallInfo")
            .field("caller", &self.caller.as_ref().map(|_| Secret(())))
            .field("dialled", &self.dialled)
            .field("started_at", &self.started_at)
            .field("flags", &self.flags)
            .finish()
    }
}

/// A fact the shell tells the call about (past tense).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The caller pressed a key (in-band DTMF or a gateway digit event).
    DigitReceived(Digit),
    /// A playback ran to its end (not sent for playbacks the call stopped).
    PlaybackFinished(PlaybackId),
    /// The caller hung up.
    CallerHungUp,
    /// The queue's latest view of this caller.
    QueueStatus {
        /// Callers who will be served before this one.
        position: u32,
        /// Estimated wait; `None` when the queue has no data to estimate from.
        estimated_wait: Option<Duration>,
    },
    /// An agent took the call; the shell connects the legs.
    AgentAssigned {
        /// The agent.
        agent: AgentId,
    },
    /// The agent leg of a bridged call ended.
    AgentCallEnded,
    /// The caller waited past the queue's maximum wait (after any overflow).
    QueueTimedOut,
    /// The queue refused the caller: no agent could serve them.
    QueueNoAgents,
    /// The queue refused the caller: it is full.
    QueueFull,
    /// The queue registered the callback the call asked for.
    CallbackRegistered,
    /// The transfer target answered.
    TransferConnected,
    /// The transfer did not connect.
    TransferFailed {
        /// Why, as the gateway says it (bounded set of words: `busy`, `no_answer`, ...).
        reason: String,
    },
}

/// Why the call leaves a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// The caller pressed the exit key.
    Exited,
    /// The caller hung up while waiting.
    Abandoned,
    /// The call reached its maximum duration while waiting.
    MaxDuration,
}

/// What the queue is told about the caller: enough for an agent's screen and for routing,
/// never a secure value or the caller's number.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueContext {
    /// The flow the call ran.
    pub flow: FlowId,
    /// The line's human name.
    pub line: String,
    /// The number dialled.
    pub dialled: String,
    /// Nodes visited so far, in order.
    pub path: Vec<NodeId>,
    /// Every variable not marked secure.
    pub vars: BTreeMap<String, Value>,
}

/// Who ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The caller hung up.
    Caller,
    /// The engine hung up (hangup node, maximum duration, error).
    Engine,
    /// The other side took over or ended it (transfer target, agent).
    Remote,
}

/// A fault in the flow the call was given; the call ends with it as its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CallError {
    /// Instantaneous nodes ran too many times without waiting for anything.
    #[error("more than {limit} steps without waiting for the caller (last node {node})")]
    StepLimit {
        /// The cap.
        limit: usize,
        /// The node being entered when it was hit.
        node: NodeId,
    },
    /// A schedule node names a calendar the flow set does not hold.
    #[error("calendar {0} is not loaded")]
    UnknownCalendar(CalendarId),
    /// An enqueue node names a queue the flow set does not hold.
    #[error("queue {0} is not loaded")]
    UnknownQueue(QueueId),
    /// An edge points outside the flow's nodes.
    #[error("node index {0} is outside the flow")]
    BadNode(usize),
}

/// Why a call ended: the outcome in its record and the reason given with a hang-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A hangup node's `reason` (`normal`, `after_hours`, ...).
    Flow(String),
    /// The caller hung up.
    CallerHungUp,
    /// A transfer connected and the call left the engine.
    Transferred,
    /// An agent answered and the agent leg ended with nowhere left to go.
    Answered,
    /// The call reached the flow's maximum duration.
    MaxDuration,
    /// The flow could not be followed.
    Error(CallError),
}

impl EndReason {
    /// A short label from a bounded set, for metrics and records.
    pub fn label(&self) -> &str {
        match self {
            EndReason::Flow(reason) => reason,
            EndReason::CallerHungUp => "caller_hung_up",
            EndReason::Transferred => "transferred",
            EndReason::Answered => "answered",
            EndReason::MaxDuration => "max_duration",
            EndReason::Error(_) => "error",
        }
    }
}

/// A command for the shell (imperative).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Play these utterances in this language.
    Play {
        /// Names this playback in `PlaybackFinished` and `StopPlayback`.
        playback: PlaybackId,
        /// What to say, in order.
        utterances: Vec<Utterance>,
        /// The language prompts are taken from.
        language: Language,
        /// Whether a key press is expected to cut it short (the call stops it itself).
        barge_in: bool,
        /// Loop until stopped (music on hold).
        repeat: bool,
    },
    /// Stop a playback now; no `PlaybackFinished` is expected for it.
    StopPlayback {
        /// The playback.
        playback: PlaybackId,
    },
    /// Put the caller in a queue.
    Enqueue {
        /// The queue.
        queue: QueueId,
        /// The priority class.
        priority: PriorityClass,
        /// Skills required beyond the queue's own.
        skills: Vec<String>,
        /// What the queue and the agent get to know.
        context: QueueContext,
    },
    /// Take the caller out of the queue.
    LeaveQueue {
        /// The queue.
        queue: QueueId,
        /// Why.
        reason: LeaveReason,
    },
    /// Ask the queue to call back, keeping the caller's place.
    RequestCallback {
        /// The queue.
        queue: QueueId,
    },
    /// Hand the call to a number or SIP address.
    Transfer {
        /// `tel:+86...` or `sip:user@host`.
        target: String,
    },
    /// Hang up the caller.
    Hangup {
        /// Why.
        reason: EndReason,
    },
    /// Report something for metrics and the call record.
    Emit(CallEvent),
}

/// The two ways reading keys fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Keys that are not an option, or an entry that does not validate.
    Invalid,
    /// Nothing pressed in time.
    NoInput,
}

/// Why an input was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A key while a prompt without barge-in played.
    KeyDuringPrompt,
    /// A key in a state that reads none (bridged, transferring, queued without that key).
    KeyIgnored,
    /// A `PlaybackFinished` for a playback that is not the current one.
    StalePlayback,
    /// A fact that does not apply to the current state (a queue fact while not queued, ...).
    UnexpectedFact,
}

/// Something that happened, for metrics and the call record. Never carries a secure value or
/// the caller's number.
#[derive(Clone, Debug, PartialEq)]
pub enum CallEvent {
    /// The call entered a node.
    NodeEntered {
        /// The node.
        node: NodeId,
        /// Its type as written in flows (`menu`, `collect`, ...).
        kind: &'static str,
    },
    /// A menu read a key string that is not an option, or nothing.
    MenuFailure {
        /// The menu.
        node: NodeId,
        /// Which failure.
        kind: FailureKind,
        /// Failures of this kind at this visit so far.
        count: u32,
        /// Consecutive failures of either kind (compared with `attempts`).
        consecutive: u32,
    },
    /// A menu option was chosen.
    OptionChosen {
        /// The menu.
        node: NodeId,
        /// The option's keys.
        option: String,
    },
    /// A collect read an entry that failed, or nothing.
    CollectFailure {
        /// The collect.
        node: NodeId,
        /// Which failure.
        kind: FailureKind,
        /// Failures of this kind at this visit so far.
        count: u32,
        /// Consecutive failures of either kind.
        consecutive: u32,
    },
    /// A collect stored its value.
    ValueCollected {
        /// The variable.
        var: String,
        /// The value; `None` when the collect is secure.
        value: Option<String>,
    },
    /// The prompt language changed.
    LanguageChanged {
        /// The new language.
        language: Language,
    },
    /// A calendar was evaluated.
    ScheduleChecked {
        /// The calendar.
        calendar: CalendarId,
        /// What it said.
        state: DayState,
    },
    /// A table lookup set a variable from its row (lookups never set secure values).
    ValueLookedUp {
        /// The variable.
        var: String,
        /// The value from the table.
        value: String,
    },
    /// A table lookup ran.
    LookedUp {
        /// The node.
        node: NodeId,
        /// Whether the key was found.
        found: bool,
    },
    /// An agent took the call.
    AgentAssigned {
        /// The agent.
        agent: AgentId,
    },
    /// A transfer did not connect.
    TransferFailed {
        /// The gateway's reason.
        reason: String,
    },
    /// An input was dropped (a race or a key nobody reads).
    InputDropped {
        /// Why.
        reason: DropReason,
    },
    /// The call ended. Emitted exactly once, last.
    Ended {
        /// The outcome.
        outcome: EndReason,
        /// Who ended it.
        hung_up_by: Party,
        /// The node the call was at.
        node: NodeId,
    },
}
