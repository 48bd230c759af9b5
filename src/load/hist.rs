//! A fixed-bucket latency histogram for the load generator: 100 µs buckets up to 5 s, an
//! exact maximum, no allocation after creation; and [`Waits`], exact samples for rare, long
//! figures (queue waits: one per transferred call, seconds to minutes). Neither reads a
//! clock: samples are given.

use std::time::Duration;

/// Bucket width.
const STEP_US: u64 = 100;
/// Buckets (100 µs × 50,000 = 5 s); later samples land in the last bucket.
const BUCKETS: usize = 50_000;

/// Counts of durations.
#[derive(Clone, Debug)]
pub struct Hist {
    counts: Vec<u32>,
    total: u64,
    max: Duration,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: Duration::ZERO,
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = usize::try_from(us / STEP_US).map_or(BUCKETS - 1, |i| i.min(BUCKETS - 1));
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
        self.max = self.max.max(d);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Samples at or above `d` (to the bucket's resolution).
    pub fn at_least(&self, d: Duration) -> u64 {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let from = usize::try_from(us / STEP_US).map_or(BUCKETS, |i| i.min(BUCKETS));
        self.counts[from..].iter().map(|&c| u64::from(c)).sum()
    }

    /// The `q` quantile (0..=1), as the upper edge of its bucket capped at the maximum;
    /// `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let edge = Duration::from_micros((i as u64 + 1) * STEP_US);
                return Some(edge.min(self.max));
            }
        }
        Some(self.max)
    }
}

/// Exact durations, for figures recorded once per call rather than per frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waits(Vec<Duration>);

impl Waits {
    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Waits) {
        self.0.extend_from_slice(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0..=1), nearest rank; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
        sorted.get(rank - 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_the_samples_and_cap_at_the_maximum() {
        let mut h = Hist::new();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(50_100)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(99_100)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(h.max(), Duration::from_millis(100));
        assert_eq!(h.at_least(Duration::from_millis(91)), 10);
    }

    #[test]
    fn samples_beyond_the_range_count_in_the_last_bucket_with_an_exact_max() {
        let mut h = Hist::new();
        h.record(Duration::from_secs(30));
        assert_eq!(h.max(), Duration::from_secs(30));
        assert_eq!(h.quantile(0.5), Some(Duration::from_secs(5)));
    }

    #[test]
    fn queue_waits_give_nearest_rank_quantiles_of_exact_samples() {
        let mut w = Waits::default();
        assert_eq!(w.quantile(0.5), None);
        for s in [30u64, 10, 20, 40] {
            w.record(Duration::from_secs(s));
        }
        let mut more = Waits::default();
        more.record(Duration::from_secs(600));
        w.extend(&more);
        assert_eq!(w.count(), 5);
        assert_eq!(w.quantile(0.5), Some(Duration::from_secs(30)));
        assert_eq!(w.quantile(0.99), Some(Duration::from_secs(600)));
        assert_eq!(w.quantile(0.0), Some(Duration::from_secs(10)));
    }
}
