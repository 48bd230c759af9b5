//! The agents' facts and their states: log in and out, ready and not ready, accepting or
//! declining an offer, the call ending and wrap-up; taking back a ringing offer and the idle
//! order (longest idle first, back of the line after a miss or decline).
//!
//! Part of the sans-IO ACD core: it must not read a clock or do I/O; `now` is an argument.
//! It must not choose who gets an offer: that is dispatch's job.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::Acd;
use crate::ids::{AgentId, CallId, QueueId};
use crate::queue::event::{AcdAction, AgentState, WithdrawReason};
use crate::queue::timers::Timer;

/// What an offered or busy agent is working on.
#[derive(Debug, Clone)]
pub(super) struct Work {
    pub(super) queue: QueueId,
    pub(super) class: usize,
    pub(super) strict: bool,
    /// The agent's place in the idle order before the offer, restored when the offer ends
    /// through no fault of the agent.
    pub(super) prev_ready_seq: u64,
}

#[derive(Debug)]
pub(super) struct Agent {
    pub(super) skills: BTreeMap<String, u8>,
    pub(super) queues: BTreeSet<QueueId>,
    pub(super) state: AgentState,
    /// Order of becoming idle: the smallest is the longest idle.
    pub(super) ready_seq: u64,
    pub(super) misses: u32,
    pub(super) work: Option<Work>,
    /// Not-ready asked for while busy: applied when wrap-up ends.
    pub(super) not_ready_after: Option<String>,
}

impl Agent {
    pub(super) fn has_all<'a>(&self, skills: impl IntoIterator<Item = &'a String>) -> bool {
        skills
            .into_iter()
            .all(|s| self.skills.get(s).is_some_and(|level| *level > 0))
    }
}

impl Acd {
    pub(super) fn agent_logged_in(
        &mut self,
        agent: AgentId,
        skills: Vec<(String, u8)>,
        queues: Vec<QueueId>,
    ) {
        let skills: BTreeMap<String, u8> = skills.into_iter().filter(|(_, l)| *l > 0).collect();
        let queues: BTreeSet<QueueId> = queues.into_iter().collect();
        let ready_seq = self.next_ready_seq;
        match self.agents.get_mut(&agent) {
            Some(a) => {
                a.skills = skills;
                a.queues = queues;
                if a.state == AgentState::LoggedOut {
                    a.misses = 0;
                    a.not_ready_after = None;
                    self.next_ready_seq += 1;
                    a.ready_seq = ready_seq;
                    self.set_state(&agent, AgentState::Ready);
                }
            }
            None => {
                self.next_ready_seq += 1;
                self.agents.insert(
                    agent.clone(),
                    Agent {
                        skills,
                        queues,
                        state: AgentState::LoggedOut,
                        ready_seq,
                        misses: 0,
                        work: None,
                        not_ready_after: None,
                    },
                );
                self.set_state(&agent, AgentState::Ready);
            }
        }
    }

    pub(super) fn agent_logged_out(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::LoggedOut => {
                self.dropped += 1;
                return;
            }
            AgentState::Offered { .. } => {
                self.withdraw_offer(agent, WithdrawReason::AgentUnavailable);
            }
            _ => {}
        }
        self.timers.clear(&Timer::WrapUp(agent.clone()));
        if let Some(a) = self.agents.get_mut(agent) {
            a.work = None;
            a.misses = 0;
            a.not_ready_after = None;
        }
        self.set_state(agent, AgentState::LoggedOut);
    }

    pub(super) fn agent_ready(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::NotReady { .. } | AgentState::WrapUp => {
                a.misses = 0;
                a.not_ready_after = None;
                a.work = None;
                self.timers.clear(&Timer::WrapUp(agent.clone()));
                self.become_ready(agent);
            }
            AgentState::Ready => {}
            _ => self.dropped += 1,
        }
    }

    pub(super) fn agent_not_ready(&mut self, agent: &AgentId, reason: String) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::LoggedOut => self.dropped += 1,
            AgentState::Busy { .. } => a.not_ready_after = Some(reason),
            AgentState::Offered { .. } => {
                self.withdraw_offer(agent, WithdrawReason::AgentUnavailable);
                self.set_state(agent, AgentState::NotReady { reason });
            }
            AgentState::Ready | AgentState::WrapUp | AgentState::NotReady { .. } => {
                a.work = None;
                self.timers.clear(&Timer::WrapUp(agent.clone()));
                self.set_state(agent, AgentState::NotReady { reason });
            }
        }
    }

    pub(super) fn offer_accepted(&mut self, agent: &AgentId, call: &CallId, now: Instant) {
        if !self.is_offered(agent, call) {
            self.dropped += 1;
            return;
        }
        self.timers.clear(&Timer::Offer(agent.clone()));
        let Some(&seq) = self.index.get(call) else {
            return;
        };
        let Some(entry) = self.remove_entry(seq) else {
            return;
        };
        let waited = now.saturating_duration_since(entry.joined);
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            q.counters.answered += 1;
            if waited <= q.cfg.service_level {
                q.counters.answered_within_service_level += 1;
            }
            q.answers.push_back(now);
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.misses = 0;
        }
        self.actions.push_back(AcdAction::Assigned {
            call: call.clone(),
            agent: agent.clone(),
            queue: entry.queue,
            waited,
            callback: entry.callback,
        });
        self.set_state(agent, AgentState::Busy { call: call.clone() });
    }

    pub(super) fn offer_rejected(&mut self, agent: &AgentId, call: &CallId) {
        if !self.is_offered(agent, call) {
            self.dropped += 1;
            return;
        }
        self.take_back_offer(agent, true);
        self.become_ready(agent);
    }

    pub(super) fn agent_call_ended(&mut self, agent: &AgentId, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        if !matches!(a.state, AgentState::Busy { .. }) {
            self.dropped += 1;
            return;
        }
        let wrap_up = a
            .work
            .take()
            .and_then(|w| self.queues.get(&w.queue))
            .map_or(Duration::ZERO, |q| q.cfg.wrap_up);
        if wrap_up.is_zero() {
            self.set_state(agent, AgentState::WrapUp);
            self.wrap_up_ended(agent);
        } else {
            self.timers.set(Timer::WrapUp(agent.clone()), now + wrap_up);
            self.set_state(agent, AgentState::WrapUp);
        }
    }

    pub(super) fn wrap_up_done(&mut self, agent: &AgentId) {
        if self.agent_state(agent) != Some(&AgentState::WrapUp) {
            self.dropped += 1;
            return;
        }
        self.timers.clear(&Timer::WrapUp(agent.clone()));
        self.wrap_up_ended(agent);
    }

    fn is_offered(&self, agent: &AgentId, call: &CallId) -> bool {
        matches!(self.agent_state(agent), Some(AgentState::Offered { call: c }) if c == call)
    }

    /// Ends the agent's ringing offer: the caller is waiting again (`passed` marks the agent as
    /// having passed on it). Returns the call and the agent's place in the idle order before
    /// the offer; leaves the agent's state for the caller to set.
    fn take_back_offer(&mut self, agent: &AgentId, passed: bool) -> Option<(CallId, u64)> {
        let Some(AgentState::Offered { call }) = self.agent_state(agent).cloned() else {
            return None;
        };
        self.timers.clear(&Timer::Offer(agent.clone()));
        if let Some(entry) = self
            .index
            .get(&call)
            .and_then(|seq| self.entries.get_mut(seq))
            && entry.offered_to.as_ref() == Some(agent)
        {
            entry.offered_to = None;
            if passed {
                entry.passed.insert(agent.clone());
            }
        }
        let a = self.agents.get_mut(agent)?;
        let prev = a.work.take().map_or(a.ready_seq, |w| w.prev_ready_seq);
        Some((call, prev))
    }

    /// Takes back the offer and tells the agent's side to stop ringing.
    pub(super) fn withdraw_offer(
        &mut self,
        agent: &AgentId,
        reason: WithdrawReason,
    ) -> Option<u64> {
        let passed = reason == WithdrawReason::Missed;
        let (call, prev) = self.take_back_offer(agent, passed)?;
        self.actions.push_back(AcdAction::OfferWithdrawn {
            agent: agent.clone(),
            call,
            reason,
        });
        Some(prev)
    }

    /// Withdraws the offer through no fault of the agent: it keeps its place in the idle order.
    pub(super) fn withdraw_to_ready(&mut self, agent: &AgentId, reason: WithdrawReason) {
        if let Some(prev) = self.withdraw_offer(agent, reason) {
            self.restore_ready(agent, prev);
        }
    }

    /// Back to ready at the place in the idle order the agent had before the offer.
    fn restore_ready(&mut self, agent: &AgentId, ready_seq: u64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.ready_seq = ready_seq;
        }
        self.set_state(agent, AgentState::Ready);
    }

    /// Ready at the back of the idle order.
    pub(super) fn become_ready(&mut self, agent: &AgentId) {
        let seq = self.next_ready_seq;
        if let Some(a) = self.agents.get_mut(agent) {
            self.next_ready_seq += 1;
            a.ready_seq = seq;
            a.work = None;
        }
        self.set_state(agent, AgentState::Ready);
    }

    pub(super) fn set_state(&mut self, agent: &AgentId, state: AgentState) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.state == state {
            return;
        }
        a.state = state.clone();
        self.actions.push_back(AcdAction::AgentState {
            agent: agent.clone(),
            state,
        });
    }
}
