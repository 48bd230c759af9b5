//! Read-only pictures of the ACD for metrics, the admin API and dashboards.
//!
//! Built by [`crate::queue::Acd::snapshot`]; plain values, safe to send to another task. Holds
//! no call ids in anything meant to become a metric label.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ids::{AgentId, PriorityClass, QueueId};
use crate::queue::event::AgentState;

/// Running totals of one queue since the ACD started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Callers who joined (including arrivals by overflow from another queue).
    pub entered: u64,
    /// Callers an agent accepted.
    pub answered: u64,
    /// Of `answered`, those whose wait (since first joining) was within `service_level`.
    pub answered_within_service_level: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Callers who left on purpose (exit key).
    pub exited: u64,
    /// Callers moved on to the overflow queue at `max_wait`.
    pub overflowed: u64,
    /// Callers who reached `max_wait` with nowhere to go.
    pub timed_out: u64,
    /// Joins refused because the queue was full.
    pub rejected_full: u64,
    /// Joins refused because no agent was logged in.
    pub rejected_no_agents: u64,
    /// Callbacks registered.
    pub callbacks_requested: u64,
}

/// One queue at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    /// The queue.
    pub id: QueueId,
    /// Callers waiting (callbacks included) per priority class, in config order, zeros kept.
    pub depth_by_class: Vec<(PriorityClass, usize)>,
    /// Of those, entries waiting for a callback.
    pub callbacks_waiting: usize,
    /// The longest time a caller now waiting has been in this queue.
    pub oldest_wait: Option<Duration>,
    /// Totals.
    pub counters: QueueCounters,
    /// Answered within the threshold / answered; `None` before the first answer.
    pub service_level: Option<f64>,
    /// Answers per minute over the recent window; `None` without enough data.
    pub service_rate_per_minute: Option<f64>,
    /// Agents serving this queue by state label (every label present, zeros kept).
    pub agents_by_state: Vec<(&'static str, usize)>,
}

impl QueueSnapshot {
    /// All callers waiting.
    pub fn depth(&self) -> usize {
        self.depth_by_class.iter().map(|(_, n)| n).sum()
    }
}

/// One agent at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSnapshot {
    /// The agent.
    pub id: AgentId,
    /// Its state.
    pub state: AgentState,
    /// Queues served.
    pub queues: Vec<QueueId>,
    /// Offers missed in a row (reset by an accept or by going not ready).
    pub missed_in_a_row: u32,
}

/// The whole ACD at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct AcdSnapshot {
    /// Queues by id.
    pub queues: Vec<QueueSnapshot>,
    /// Agents by id (logged-out agents the ACD has seen included).
    pub agents: Vec<AgentSnapshot>,
    /// Inputs dropped because they no longer fitted (stale accepts, unknown agents, ...).
    pub dropped_inputs: u64,
}

impl AcdSnapshot {
    /// Agents by state label over all queues (every label present, zeros kept).
    pub fn agents_by_state(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            AgentState::LABELS.iter().map(|l| (*l, 0)).collect();
        for agent in &self.agents {
            *counts.entry(agent.state.label()).or_default() += 1;
        }
        counts
    }

    /// The snapshot of one queue.
    pub fn queue(&self, id: &QueueId) -> Option<&QueueSnapshot> {
        self.queues.iter().find(|q| &q.id == id)
    }
}
