//! The ACD's named timers: one table of deadlines, the next wake-up is its minimum.
//!
//! No clock is read here: deadlines are `Instant`s computed by the caller from the `now` it
//! was handed. Setting a timer replaces its previous deadline, so no stale deadline survives.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::ids::AgentId;

/// A named timer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// A waiting caller (by sequence number) reaches its queue's `max_wait`.
    MaxWait(u64),
    /// A waiting caller's (by sequence number) routing step widens.
    Widen(u64),
    /// An offer to an agent stops ringing.
    Offer(AgentId),
    /// An agent's wrap-up ends.
    WrapUp(AgentId),
}

/// Deadlines by timer, and the same ordered by time for the next wake-up.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_timer: BTreeMap<Timer, Instant>,
    by_time: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Arms `timer` at `at`, replacing any earlier deadline.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.by_timer.insert(timer.clone(), at) {
            self.by_time.remove(&(old, timer.clone()));
        }
        self.by_time.insert((at, timer));
    }

    /// Disarms `timer` (no-op when it is not armed).
    pub(crate) fn clear(&mut self, timer: &Timer) {
        if let Some(old) = self.by_timer.remove(timer) {
            self.by_time.remove(&(old, timer.clone()));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, timer) = self.by_time.pop_first()?;
        self.by_timer.remove(&timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn resetting_a_timer_replaces_its_deadline() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.set(
            Timer::Offer(AgentId::from("a")),
            t0 + Duration::from_secs(5),
        );
        timers.set(
            Timer::Offer(AgentId::from("a")),
            t0 + Duration::from_secs(9),
        );
        timers.set(
            Timer::WrapUp(AgentId::from("b")),
            t0 + Duration::from_secs(7),
        );
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(7)));
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(6)), None);
        assert_eq!(
            timers.pop_due(t0 + Duration::from_secs(10)),
            Some(Timer::WrapUp(AgentId::from("b")))
        );
        timers.clear(&Timer::Offer(AgentId::from("a")));
        assert_eq!(timers.next(), None);
    }
}
