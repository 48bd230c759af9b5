//! What happens when a named timer fires: `max_wait` (overflow to the next queue, or time
//! out), an unanswered offer (a miss; too many in a row set the agent not ready), the end of
//! wrap-up; and arming a waiting caller's timers. The deadline table itself is
//! `crate::queue::timers`.
//!
//! Part of the sans-IO ACD core: it must not read a clock, sleep or do I/O; deadlines are
//! computed from the `now` it is handed.

use std::time::Instant;

use super::{Acd, MISSED_OFFERS_REASON, class_index};
use crate::ids::AgentId;
use crate::queue::event::{AcdAction, AgentState, WithdrawReason};
use crate::queue::timers::Timer;

impl Acd {
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::MaxWait(seq) => self.max_wait_passed(seq, now),
                // Widening changes who is eligible; the dispatch after this picks it up.
                Timer::Widen(_) => {}
                Timer::Offer(agent) => self.offer_missed(&agent),
                Timer::WrapUp(agent) => self.wrap_up_ended(&agent),
            }
        }
    }

    fn max_wait_passed(&mut self, seq: u64, now: Instant) {
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        if let Some(agent) = entry.offered_to.clone() {
            self.withdraw_to_ready(&agent, WithdrawReason::MaxWait);
        }
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        let from = entry.queue.clone();
        let target = self
            .queues
            .get(&from)
            .and_then(|q| q.cfg.overflow.clone())
            .filter(|to| *to != from && !entry.visited.contains(to))
            .and_then(|to| {
                let q = self.queues.get(&to).filter(|q| !q.retired)?;
                let room = q.cfg.max_size == 0 || q.waiting.len() < q.cfg.max_size;
                let class = self
                    .queues
                    .get(&from)
                    .and_then(|f| f.cfg.classes.get(entry.class))
                    .map(|c| c.name.clone())?;
                let class = class_index(&q.cfg, &class)?;
                room.then_some((to, class))
            });
        match target {
            Some((to, class)) => {
                if let Some(q) = self.queues.get_mut(&from) {
                    q.waiting.remove(&seq);
                    q.counters.overflowed += 1;
                }
                if let Some(q) = self.queues.get_mut(&to) {
                    q.waiting.insert(seq);
                    q.counters.entered += 1;
                }
                let Some(entry) = self.entries.get_mut(&seq) else {
                    return;
                };
                self.positions_dirty = true;
                entry.visited.push(from.clone());
                entry.queue = to.clone();
                entry.class = class;
                entry.queue_joined = now;
                entry.passed.clear();
                let call = entry.call.clone();
                self.arm_entry_timers(seq, now);
                self.actions
                    .push_back(AcdAction::Overflowed { call, from, to });
            }
            None => {
                if let Some(entry) = self.remove_entry(seq) {
                    if let Some(q) = self.queues.get_mut(&from) {
                        q.counters.timed_out += 1;
                    }
                    self.actions.push_back(AcdAction::TimedOut {
                        call: entry.call,
                        queue: from,
                    });
                }
            }
        }
    }

    fn offer_missed(&mut self, agent: &AgentId) {
        if !matches!(self.agent_state(agent), Some(AgentState::Offered { .. })) {
            return;
        }
        self.withdraw_offer(agent, WithdrawReason::Missed);
        let limit = self.settings.max_missed_offers.max(1);
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        a.misses += 1;
        if a.misses >= limit {
            a.misses = 0;
            self.set_state(
                agent,
                AgentState::NotReady {
                    reason: MISSED_OFFERS_REASON.to_owned(),
                },
            );
        } else {
            self.become_ready(agent);
        }
    }

    pub(super) fn wrap_up_ended(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.state != AgentState::WrapUp {
            return;
        }
        match a.not_ready_after.take() {
            Some(reason) => self.set_state(agent, AgentState::NotReady { reason }),
            None => self.become_ready(agent),
        }
    }

    pub(super) fn arm_entry_timers(&mut self, seq: u64, now: Instant) {
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        let Some(q) = self.queues.get(&entry.queue) else {
            return;
        };
        if q.cfg.max_wait.is_zero() {
            self.timers.clear(&Timer::MaxWait(seq));
        } else {
            self.timers.set(Timer::MaxWait(seq), now + q.cfg.max_wait);
        }
        match self.settings.widen_after {
            Some(w) if !w.is_zero() && !entry.skills.is_empty() => {
                self.timers.set(Timer::Widen(seq), now + w);
            }
            _ => self.timers.clear(&Timer::Widen(seq)),
        }
    }
}
