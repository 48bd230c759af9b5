//! Announcements: each waiting caller's position and estimated wait. The announced position
//! never rises (it is the lowest told so far); the estimate comes from the recent service
//! rate and is `None` when there is too little data or no one to answer.
//!
//! Part of the sans-IO ACD core: it must not read a clock or do I/O; `now` is an argument.
//! It must not change the order of the line, only report it.

use std::time::{Duration, Instant};

use super::callers::Entry;
use super::dispatch::{Rank, rank};
use super::{Acd, Queue};
use crate::ids::{CallId, QueueId};
use crate::queue::event::{AcdAction, AgentState};

impl Acd {
    pub(super) fn position_requested(&mut self, call: CallId, now: Instant) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(queue) = self.entries.get(&seq).map(|e| e.queue.clone()) else {
            return;
        };
        let order = self.order(&queue, now);
        let computed = order.iter().position(|s| *s == seq).unwrap_or(order.len());
        let rate = self
            .queues
            .get(&queue)
            .and_then(|q| self.service_rate(q, now));
        if let Some(entry) = self.entries.get_mut(&seq) {
            let position = clamp_u32(computed).min(entry.announced.unwrap_or(u32::MAX));
            entry.announced = Some(position);
            self.actions.push_back(AcdAction::Position {
                call,
                position,
                estimated_wait: estimate(computed, rate),
            });
        }
    }

    /// Tells every caller whose position dropped since the last announcement, once the line
    /// changed (a join, a leave, an answer, an overflow).
    pub(super) fn announce_positions(&mut self, now: Instant) {
        if !std::mem::take(&mut self.positions_dirty) {
            return;
        }
        // Queues in id order with their rate; entries find theirs by binary search.
        let queues: Vec<(&QueueId, &Queue, Option<f64>)> = self
            .queues
            .iter()
            .map(|(id, q)| (id, q, self.service_rate(q, now)))
            .collect();
        let mut ranked: Vec<(usize, Rank, &mut Entry)> = self
            .entries
            .values_mut()
            .filter_map(|e| {
                let index = queues
                    .binary_search_by(|(id, _, _)| (*id).cmp(&e.queue))
                    .ok()?;
                let class = queues[index].1.cfg.classes.get(e.class)?;
                Some((index, rank(class, e, now), e))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut current = usize::MAX;
        let mut computed = 0usize;
        for (index, _, entry) in ranked {
            if index != current {
                current = index;
                computed = 0;
            } else {
                computed += 1;
            }
            if entry.callback {
                continue;
            }
            let position = clamp_u32(computed);
            if entry.announced.is_some_and(|last| last <= position) {
                continue;
            }
            entry.announced = Some(position);
            self.actions.push_back(AcdAction::Position {
                call: entry.call.clone(),
                position,
                estimated_wait: estimate(computed, queues[index].2),
            });
        }
    }

    /// Answers per second over the recent window, when there is enough data and someone
    /// to answer.
    pub(super) fn service_rate(&self, q: &Queue, now: Instant) -> Option<f64> {
        let staffed = self
            .agents
            .values()
            .any(|a| a.state != AgentState::LoggedOut && a.queues.contains(&q.cfg.id));
        if !staffed {
            return None;
        }
        // Answers are recorded in time order (time never goes backwards here).
        let n = match now.checked_sub(self.settings.rate_window) {
            Some(horizon) => q.answers.len() - q.answers.partition_point(|t| *t < horizon),
            None => q.answers.len(),
        };
        if n == 0 || n < self.settings.min_rate_samples {
            return None;
        }
        let since_start = self
            .epoch
            .map_or(Duration::ZERO, |e| now.saturating_duration_since(e));
        let span = since_start.min(self.settings.rate_window).as_secs_f64();
        (span > 0.0).then(|| n as f64 / span)
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn estimate(position: usize, rate: Option<f64>) -> Option<Duration> {
    let rate = rate?;
    Duration::try_from_secs_f64((position as f64 + 1.0) / rate).ok()
}
