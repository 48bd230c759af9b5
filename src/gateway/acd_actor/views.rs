//! What the agents API serves: agents, offers, queue pictures and the events pushed to an
//! agent's WebSocket, and how the actor builds them from the ACD's state.
//!
//! Views are read-only: building one must not change the ACD or the actor. An offer carries
//! the caller's number masked and only non-secure context values, never more.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::actor::Actor;
use super::handle::AgentApiError;
use crate::ids::{AgentId, QueueId};
use crate::queue::{AcdSnapshot, AgentState, Offer, WithdrawReason};

/// An agent as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentView {
    /// The agent.
    pub id: String,
    /// A human name (agents file).
    pub name: Option<String>,
    /// Where accepted calls go.
    pub sip: String,
    /// State label (`logged_out`, `ready`, `offered`, `busy`, `wrap_up`, `not_ready`).
    pub state: &'static str,
    /// The not-ready reason.
    pub reason: Option<String>,
    /// The call offered or being handled.
    pub call: Option<String>,
    /// Queues served.
    pub queues: Vec<String>,
    /// Skills and levels.
    pub skills: BTreeMap<String, u8>,
}

/// An offer as pushed to the agent: who, from where, why. Never a secure value; the caller's
/// number masked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfferView {
    /// The call.
    pub call: String,
    /// The queue it waited in.
    pub queue: String,
    /// Its priority class.
    pub class: String,
    /// Seconds waited since first joining.
    pub waited_secs: f64,
    /// Call the caller back rather than bridge.
    pub callback: bool,
    /// Why this caller went to this agent.
    pub why: String,
    /// The line dialled.
    pub line: String,
    /// The flow run.
    pub flow: String,
    /// Nodes visited.
    pub path: Vec<String>,
    /// Non-secure collected values (merchant tier, language, ...).
    pub values: BTreeMap<String, String>,
    /// The caller's number, masked.
    pub caller: Option<String>,
}

/// What an agent's WebSocket receives.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The agent's state now.
    State {
        /// State label.
        state: &'static str,
        /// Not-ready reason.
        reason: Option<String>,
    },
    /// A call rings for this agent.
    Offer(OfferView),
    /// The offer stopped ringing.
    OfferWithdrawn {
        /// The call.
        call: String,
        /// Why (`missed`, `caller_gone`, `max_wait`, `agent_unavailable`).
        reason: &'static str,
    },
    /// The accepted caller is being sent to the agent's address.
    Connected {
        /// The call.
        call: String,
        /// The address the caller is sent to.
        target: String,
    },
}

/// One class of a queue in `GET /api/queues`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassView {
    /// The class.
    pub class: String,
    /// Callers waiting in it.
    pub waiting: usize,
}

/// A queue as `GET /api/queues` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueView {
    /// The queue.
    pub id: String,
    /// All callers waiting.
    pub depth: usize,
    /// Waiting per class, in config order.
    pub classes: Vec<ClassView>,
    /// Of those, callbacks.
    pub callbacks_waiting: usize,
    /// The longest current wait, in seconds.
    pub oldest_wait_secs: Option<f64>,
    /// Estimated wait for a caller joining now, in seconds; `None`: cannot estimate.
    pub estimated_wait_secs: Option<f64>,
    /// Answered within the service level / answered.
    pub service_level: Option<f64>,
    /// Agents serving the queue by state (static agents not logged in count as logged out).
    pub agents: BTreeMap<&'static str, usize>,
    /// Totals since start.
    pub entered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Hung up while waiting.
    pub abandoned: u64,
}

pub(super) fn withdraw_label(reason: WithdrawReason) -> &'static str {
    match reason {
        WithdrawReason::Missed => "missed",
        WithdrawReason::CallerGone => "caller_gone",
        WithdrawReason::MaxWait => "max_wait",
        WithdrawReason::AgentUnavailable => "agent_unavailable",
    }
}

pub(super) fn state_event(state: &AgentState) -> AgentEvent {
    AgentEvent::State {
        state: state.label(),
        reason: match state {
            AgentState::NotReady { reason } => Some(reason.clone()),
            _ => None,
        },
    }
}

impl Actor {
    pub(super) fn view(&self, agent: &AgentId) -> Result<AgentView, AgentApiError> {
        let info = self.directory.get(agent);
        let state = self.acd.agent_state(agent);
        if info.is_none() && state.is_none() {
            return Err(AgentApiError::UnknownAgent);
        }
        let state = state.cloned().unwrap_or(AgentState::LoggedOut);
        let call = match &state {
            AgentState::Offered { call } | AgentState::Busy { call } => Some(call.0.clone()),
            _ => None,
        };
        let reason = match &state {
            AgentState::NotReady { reason } => Some(reason.clone()),
            _ => None,
        };
        Ok(AgentView {
            id: agent.0.clone(),
            name: info.and_then(|i| i.name.clone()),
            sip: self.sip_of(agent),
            state: state.label(),
            reason,
            call,
            queues: info
                .map(|i| i.queues.iter().map(|q| q.0.clone()).collect())
                .unwrap_or_default(),
            skills: info.map(|i| i.skills.clone()).unwrap_or_default(),
        })
    }

    /// Agents by state per queue: the ACD's counts plus static agents it has never seen.
    pub(super) fn agents_by_queue(
        &self,
        snap: &AcdSnapshot,
    ) -> BTreeMap<QueueId, BTreeMap<&'static str, usize>> {
        let mut out: BTreeMap<QueueId, BTreeMap<&'static str, usize>> = BTreeMap::new();
        for q in &snap.queues {
            out.insert(q.id.clone(), q.agents_by_state.iter().copied().collect());
        }
        for (id, info) in &self.directory {
            if self.acd.agent_state(id).is_some() {
                continue;
            }
            for q in &info.queues {
                if let Some(states) = out.get_mut(q) {
                    *states.entry("logged_out").or_default() += 1;
                }
            }
        }
        out
    }

    pub(super) fn queue_views(&self, now: Instant) -> Vec<QueueView> {
        let snap = self.acd.snapshot(now);
        let agents = self.agents_by_queue(&snap);
        snap.queues
            .iter()
            .map(|q| {
                let depth = q.depth();
                let estimated_wait_secs = q
                    .service_rate_per_minute
                    .filter(|r| *r > 0.0)
                    .map(|r| (depth as f64 + 1.0) * 60.0 / r);
                QueueView {
                    id: q.id.0.clone(),
                    depth,
                    classes: q
                        .depth_by_class
                        .iter()
                        .map(|(c, n)| ClassView {
                            class: c.0.clone(),
                            waiting: *n,
                        })
                        .collect(),
                    callbacks_waiting: q.callbacks_waiting,
                    oldest_wait_secs: q.oldest_wait.map(|d| d.as_secs_f64()),
                    estimated_wait_secs,
                    service_level: q.service_level,
                    agents: agents.get(&q.id).cloned().unwrap_or_default(),
                    entered: q.counters.entered,
                    answered: q.counters.answered,
                    abandoned: q.counters.abandoned,
                }
            })
            .collect()
    }

    pub(super) fn offer_view(&self, offer: &Offer) -> OfferView {
        let ctx = &offer.context;
        OfferView {
            call: offer.call.0.clone(),
            queue: offer.queue.0.clone(),
            class: offer.class.0.clone(),
            waited_secs: offer.waited.as_secs_f64(),
            callback: offer.callback,
            why: offer.why.to_string(),
            line: ctx.line.clone(),
            flow: ctx.flow.0.clone(),
            path: ctx.path.iter().map(|n| n.0.clone()).collect(),
            values: ctx.values.clone(),
            caller: self
                .calls
                .get(&offer.call)
                .and_then(|w| w.caller_masked.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::fixtures::{join, start};
    use super::*;
    use crate::ids::CallId;
    use crate::queue::LeaveReason;

    #[tokio::test]
    async fn waiting_callers_show_in_the_queue_picture_by_class_and_leave_as_abandoned() {
        let (h, m, _stop) = start();
        let _n1 = h.join(join("CA1", "emergency"));
        let _n2 = h.join(join("CA2", "normal"));
        let _n3 = h.join(join("CA3", "normal"));
        let queues = h.queues().await.unwrap();
        assert_eq!(queues.len(), 1);
        let q = &queues[0];
        assert_eq!(q.depth, 3);
        assert_eq!(
            q.classes,
            vec![
                ClassView {
                    class: "emergency".into(),
                    waiting: 1
                },
                ClassView {
                    class: "normal".into(),
                    waiting: 2
                }
            ]
        );
        assert_eq!(q.estimated_wait_secs, None);
        assert_eq!(q.agents["logged_out"], 1);
        h.leave(CallId::from("CA2"), LeaveReason::Abandoned);
        let q = h.queues().await.unwrap().remove(0);
        assert_eq!(q.depth, 2);
        assert_eq!(q.abandoned, 1);
        let text = m.render();
        assert!(text.contains(
            "ivr_queue_left_total{class=\"normal\",queue=\"general\",result=\"abandoned\"} 1"
        ));
    }
}
