//! The call's named timers: one table of deadlines, the next wake-up is the earliest.
//!
//! Timers are plain `Instant`s handed in by the caller of the core; nothing here reads a clock.

use std::time::{Duration, Instant};

/// Every timer a call can arm. Each has one deadline at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Waiting for the first key after a prompt (menu, collect, confirmation).
    NoInput,
    /// Waiting for the next key of a multi-key entry.
    InterDigit,
    /// The flow's maximum call duration.
    MaxCallDuration,
    /// The next queue position/wait announcement.
    Announcement,
}

impl Timer {
    /// All timers, in the order they fire when several expire at once: the call's end first,
    /// so nothing runs for a call that is over.
    pub const ALL: [Timer; 4] = [
        Timer::MaxCallDuration,
        Timer::NoInput,
        Timer::InterDigit,
        Timer::Announcement,
    ];

    fn slot(self) -> usize {
        match self {
            Timer::MaxCallDuration => 0,
            Timer::NoInput => 1,
            Timer::InterDigit => 2,
            Timer::Announcement => 3,
        }
    }
}

/// Deadlines of the named timers.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 4],
}

impl TimerTable {
    /// Arms `timer` to fire `after` from `now`; a deadline too far to represent never fires.
    pub fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines[timer.slot()] = now.checked_add(after);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 4];
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.slot()]
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The first timer (in [`Timer::ALL`] order) whose deadline is at or before `now`,
    /// disarmed as it is returned.
    pub fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|d| d <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_deadline_is_the_earliest_armed_timer() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::MaxCallDuration, t0, Duration::from_secs(3600));
        table.set(Timer::NoInput, t0, Duration::from_secs(5));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(5)));
        table.stop(Timer::NoInput);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn expired_timers_come_out_once_max_duration_first() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::NoInput, t0, Duration::from_secs(1));
        table.set(Timer::MaxCallDuration, t0, Duration::from_secs(2));
        assert_eq!(table.take_expired(t0), None);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(table.take_expired(later), Some(Timer::MaxCallDuration));
        assert_eq!(table.take_expired(later), Some(Timer::NoInput));
        assert_eq!(table.take_expired(later), None);
    }

    #[test]
    fn unrepresentable_deadline_never_fires() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::NoInput, t0, Duration::MAX);
        assert_eq!(table.next(), None);
    }
}
