//! The ACD's vocabulary: the facts it is fed ([`AcdInput`]) and the commands it emits
//! ([`AcdAction`]), plus the small value types they carry.
//!
//! Plain data only: nothing here reads a clock, does I/O or decides anything.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ids::{AgentId, CallId, FlowId, NodeId, PriorityClass, QueueId};

/// What an agent is shown about a caller: where they came from and what they told the IVR.
///
/// The call core fills this; it must hold **only non-secure values** (no card numbers, PINs,
/// no caller number). The ACD never logs it; it hands it to the agent with the offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerContext {
    /// The line (flow name) the caller dialled, e.g. `95017 general`.
    pub line: String,
    /// The flow the call ran.
    pub flow: FlowId,
    /// Nodes visited, in order.
    pub path: Vec<NodeId>,
    /// Collected non-secure values (merchant tier, chosen language, ...).
    pub values: BTreeMap<String, String>,
}

/// Why a caller left a queue without being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaveReason {
    /// The caller hung up while waiting (counted as abandoned).
    Abandoned,
    /// The caller left on purpose (an exit key) or the flow moved on (counted as exited).
    Exited,
    /// The call ended for another reason (the gateway vanished, the engine drained); counted
    /// as abandoned. Ignored for an entry that holds a callback: the caller hanging up is then
    /// expected, and the entry keeps its place.
    HungUp,
}

/// Why a join was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The queue already holds `max_size` callers.
    Full,
    /// `join_without_agents` is false and no logged-in agent could ever take this caller.
    NoAgents,
    /// The queue does not exist (a stale flow after a reload).
    UnknownQueue,
}

impl RejectReason {
    /// A bounded label for metrics and records.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::Full => "full",
            RejectReason::NoAgents => "no_agents",
            RejectReason::UnknownQueue => "unknown_queue",
        }
    }
}

/// Why an offer stopped ringing without being accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithdrawReason {
    /// Not taken within the queue's `offer_timeout` (counts as a miss for the agent).
    Missed,
    /// The caller left, hung up or asked for a callback while it rang.
    CallerGone,
    /// The caller reached `max_wait` while it rang and was moved on.
    MaxWait,
    /// The agent logged out or went not ready while it rang.
    AgentUnavailable,
}

/// The state of an agent as the ACD sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in: never offered anything.
    LoggedOut,
    /// Idle and waiting for an offer.
    Ready,
    /// An offer for `call` is ringing.
    Offered {
        /// The call offered.
        call: CallId,
    },
    /// Talking to `call`.
    Busy {
        /// The call being handled.
        call: CallId,
    },
    /// After-call work; ready again when the queue's `wrap_up` has passed or on `WrapUpDone`.
    WrapUp,
    /// Logged in but not taking calls.
    NotReady {
        /// Why (`break`, `missed offers`, ...). Shown to supervisors; never a label.
        reason: String,
    },
}

impl AgentState {
    /// Every label [`AgentState::label`] can return, in a fixed order (for metrics at zero).
    pub const LABELS: [&'static str; 6] = [
        "logged_out",
        "ready",
        "offered",
        "busy",
        "wrap_up",
        "not_ready",
    ];

    /// A bounded label for metrics (`ready`, `busy`, ...); the not-ready reason is left out.
    pub fn label(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::Offered { .. } => "offered",
            AgentState::Busy { .. } => "busy",
            AgentState::WrapUp => "wrap_up",
            AgentState::NotReady { .. } => "not_ready",
        }
    }
}

/// The rule that picked a caller for an offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DispatchRule {
    /// A strict class (the emergency lane), within its `max_agent_share` cap.
    StrictLane,
    /// A strict class beyond its cap: the agent had no other caller it could take.
    StrictLaneIdleAgent,
    /// The highest effective priority among aging classes (`base + aging × wait`).
    Priority {
        /// The caller's effective priority when chosen.
        score: f64,
    },
}

/// Why this caller went to this agent: shown to the agent and in traces.
#[derive(Clone, Debug, PartialEq)]
pub struct OfferReason {
    /// Which ordering rule chose the caller.
    pub rule: DispatchRule,
    /// The caller's required skills and the agent's level in each (empty when none needed).
    pub skills_matched: Vec<(String, u8)>,
    /// The routing step had widened: the agent lacks some of the caller's own skills and was
    /// chosen because the caller waited past the widening threshold.
    pub widened: bool,
}

impl fmt::Display for OfferReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            DispatchRule::StrictLane => f.write_str("emergency lane")?,
            DispatchRule::StrictLaneIdleAgent => {
                f.write_str("emergency lane (over its share, no other caller for this agent)")?
            }
            DispatchRule::Priority { score } => write!(f, "priority score {score:.1}")?,
        }
        if !self.skills_matched.is_empty() {
            f.write_str("; skills")?;
            for (skill, level) in &self.skills_matched {
                write!(f, " {skill}:{level}")?;
            }
        }
        if self.widened {
            f.write_str("; routing widened")?;
        }
        Ok(())
    }
}

/// An offer of a caller to an agent (the agent's phone or app rings).
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// Who is offered the call.
    pub agent: AgentId,
    /// The call.
    pub call: CallId,
    /// The queue it waited in.
    pub queue: QueueId,
    /// Its priority class.
    pub class: PriorityClass,
    /// How long it has waited since it first joined (across overflows).
    pub waited: Duration,
    /// The caller hung up after asking for a callback: the agent (or an outbound system) must
    /// call them back.
    pub callback: bool,
    /// Why this caller and this agent.
    pub why: OfferReason,
    /// What the caller did in the IVR (non-secure values only).
    pub context: Arc<CallerContext>,
}

/// A fact fed to the ACD. Facts that no longer fit (a stale accept, an unknown agent) are
/// dropped and counted, never errors.
#[derive(Clone, Debug, PartialEq)]
pub enum AcdInput {
    /// A caller asked to join a queue.
    CallerJoined {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// The priority class (an unknown class falls back to the queue's lowest).
        class: PriorityClass,
        /// Skills required on top of the queue's own.
        skills: Vec<String>,
        /// Shown to the agent.
        context: CallerContext,
    },
    /// A caller left the queue before being answered.
    CallerLeft {
        /// The call.
        call: CallId,
        /// Why.
        reason: LeaveReason,
    },
    /// The caller hangs up but keeps their place: they are called back when their turn comes.
    CallbackRequested {
        /// The call.
        call: CallId,
    },
    /// The call wants its position now (before an announcement).
    PositionRequested {
        /// The call.
        call: CallId,
    },
    /// An agent logged in (or changed skills or queues while logged in).
    AgentLoggedIn {
        /// The agent.
        agent: AgentId,
        /// Skills with levels (1 lowest .. 5 highest; 0 counts as not having the skill).
        skills: Vec<(String, u8)>,
        /// Queues served.
        queues: Vec<QueueId>,
    },
    /// An agent logged out.
    AgentLoggedOut {
        /// The agent.
        agent: AgentId,
    },
    /// An agent is ready for calls.
    AgentReady {
        /// The agent.
        agent: AgentId,
    },
    /// An agent stops taking calls (while busy: takes effect after the call and wrap-up).
    AgentNotReady {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: String,
    },
    /// An agent took the offered call.
    OfferAccepted {
        /// The agent.
        agent: AgentId,
        /// The call offered.
        call: CallId,
    },
    /// An agent declined the offered call.
    OfferRejected {
        /// The agent.
        agent: AgentId,
        /// The call offered.
        call: CallId,
    },
    /// The agent's call ended: wrap-up starts.
    AgentCallEnded {
        /// The agent.
        agent: AgentId,
    },
    /// The agent finished after-call work early.
    WrapUpDone {
        /// The agent.
        agent: AgentId,
    },
}

/// A command from the ACD, drained with [`crate::queue::Acd::poll_action`].
#[derive(Clone, Debug, PartialEq)]
pub enum AcdAction {
    /// Ring an agent with a caller.
    Offer(Offer),
    /// Stop ringing: the offer ended without being accepted (not sent after a rejection,
    /// which the agent's side ended itself).
    OfferWithdrawn {
        /// The agent whose offer ends.
        agent: AgentId,
        /// The call that was offered.
        call: CallId,
        /// Why.
        reason: WithdrawReason,
    },
    /// Connect the caller to the agent (the offer was accepted); the caller leaves the queue.
    Assigned {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The queue it was answered from.
        queue: QueueId,
        /// Wait since first joining.
        waited: Duration,
        /// The caller had asked for a callback: call them back rather than bridge.
        callback: bool,
    },
    /// The caller passed `max_wait` and moved to the overflow queue.
    Overflowed {
        /// The call.
        call: CallId,
        /// The queue left.
        from: QueueId,
        /// The queue joined.
        to: QueueId,
    },
    /// The caller passed `max_wait` with nowhere to overflow: leaves the queue.
    TimedOut {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: QueueId,
    },
    /// A join was refused: the caller never entered the queue.
    Rejected {
        /// The call.
        call: CallId,
        /// The queue asked for.
        queue: QueueId,
        /// Why.
        reason: RejectReason,
    },
    /// The callback request was recorded; the caller may hang up.
    CallbackRegistered {
        /// The call.
        call: CallId,
    },
    /// Tell the caller where they stand. Emitted on joining, whenever the announced position
    /// drops, and on request. `position` never rises between two of these for one call.
    Position {
        /// The call.
        call: CallId,
        /// Callers who will be served before this one (0: next).
        position: u32,
        /// From the queue's recent service rate; `None`: "we cannot estimate".
        estimated_wait: Option<Duration>,
    },
    /// An agent's state changed.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// Its new state.
        state: AgentState,
    },
}
