//! The waiting callers' facts: joining (with the size and no-agents checks), leaving,
//! asking for a callback, and the entry bookkeeping behind them.
//!
//! Part of the sans-IO ACD core: it must not read a clock or do I/O; `now` is an argument.
//! It must not pick agents or announce: dispatch and announcements run after every input.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::{Acd, class_index};
use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, QueueId};
use crate::queue::event::{
    AcdAction, AgentState, CallerContext, LeaveReason, RejectReason, WithdrawReason,
};
use crate::queue::timers::Timer;

/// A caller waiting in a queue.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) call: CallId,
    pub(super) queue: QueueId,
    /// Index into the queue's classes.
    pub(super) class: usize,
    pub(super) seq: u64,
    /// When the caller first joined any queue: wait, aging and service level count from here.
    pub(super) joined: Instant,
    /// When the caller arrived in the current queue: `max_wait` and widening count from here.
    pub(super) queue_joined: Instant,
    /// Skills required on top of the queue's own.
    pub(super) skills: Vec<String>,
    pub(super) context: Arc<CallerContext>,
    pub(super) callback: bool,
    pub(super) offered_to: Option<AgentId>,
    /// Agents who missed or declined this caller: others are preferred.
    pub(super) passed: BTreeSet<AgentId>,
    /// The last position announced.
    pub(super) announced: Option<u32>,
    /// Queues this caller overflowed out of.
    pub(super) visited: Vec<QueueId>,
}

impl Acd {
    pub(super) fn caller_joined(
        &mut self,
        now: Instant,
        call: CallId,
        queue_id: QueueId,
        class: crate::ids::PriorityClass,
        skills: Vec<String>,
        context: CallerContext,
    ) {
        if self.index.contains_key(&call) {
            self.dropped += 1;
            return;
        }
        let reject = |acd: &mut Acd, call: CallId, queue: QueueId, reason| {
            acd.actions.push_back(AcdAction::Rejected {
                call,
                queue,
                reason,
            });
        };
        let Some(q) = self.queues.get(&queue_id).filter(|q| !q.retired) else {
            return reject(self, call, queue_id, RejectReason::UnknownQueue);
        };
        let Some(class_index) = class_index(&q.cfg, &class) else {
            // A queue without classes cannot hold anyone.
            return reject(self, call, queue_id, RejectReason::UnknownQueue);
        };
        if q.cfg.max_size > 0 && q.waiting.len() >= q.cfg.max_size {
            if let Some(q) = self.queues.get_mut(&queue_id) {
                q.counters.rejected_full += 1;
            }
            return reject(self, call, queue_id, RejectReason::Full);
        }
        let extra: Vec<String> = skills
            .into_iter()
            .filter(|s| !q.cfg.skills.contains(s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !q.cfg.join_without_agents && !self.could_ever_serve(&q.cfg, &extra) {
            if let Some(q) = self.queues.get_mut(&queue_id) {
                q.counters.rejected_no_agents += 1;
            }
            return reject(self, call, queue_id, RejectReason::NoAgents);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            call: call.clone(),
            queue: queue_id.clone(),
            class: class_index,
            seq,
            joined: now,
            queue_joined: now,
            skills: extra,
            context: Arc::new(context),
            callback: false,
            offered_to: None,
            passed: BTreeSet::new(),
            announced: None,
            visited: Vec::new(),
        };
        self.index.insert(call, seq);
        self.entries.insert(seq, entry);
        self.positions_dirty = true;
        if let Some(q) = self.queues.get_mut(&queue_id) {
            q.waiting.insert(seq);
            q.counters.entered += 1;
        }
        self.arm_entry_timers(seq, now);
    }

    pub(super) fn caller_left(&mut self, call: CallId, reason: LeaveReason) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        if entry.callback && reason != LeaveReason::Exited {
            return;
        }
        if let Some(agent) = entry.offered_to.clone() {
            self.withdraw_to_ready(&agent, WithdrawReason::CallerGone);
        }
        if let Some(entry) = self.remove_entry(seq)
            && let Some(q) = self.queues.get_mut(&entry.queue)
        {
            match reason {
                LeaveReason::Abandoned | LeaveReason::HungUp => q.counters.abandoned += 1,
                LeaveReason::Exited => q.counters.exited += 1,
            }
        }
    }

    pub(super) fn callback_requested(&mut self, call: CallId) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        if !entry.callback {
            entry.callback = true;
            let offered = entry.offered_to.clone();
            let queue = entry.queue.clone();
            if let Some(q) = self.queues.get_mut(&queue) {
                q.counters.callbacks_requested += 1;
            }
            if let Some(agent) = offered {
                // The agent was ringing for a live caller who is about to hang up.
                self.withdraw_to_ready(&agent, WithdrawReason::CallerGone);
            }
        }
        self.actions
            .push_back(AcdAction::CallbackRegistered { call });
    }

    pub(super) fn remove_entry(&mut self, seq: u64) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        self.positions_dirty = true;
        self.index.remove(&entry.call);
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            q.waiting.remove(&seq);
        }
        self.timers.clear(&Timer::MaxWait(seq));
        self.timers.clear(&Timer::Widen(seq));
        Some(entry)
    }

    fn could_ever_serve(&self, cfg: &QueueConfig, extra: &[String]) -> bool {
        let widens = self.settings.widen_after.is_some();
        self.agents.values().any(|a| {
            a.state != AgentState::LoggedOut
                && a.queues.contains(&cfg.id)
                && a.has_all(&cfg.skills)
                && (widens || a.has_all(extra))
        })
    }
}
