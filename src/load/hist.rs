//! A fixed-bucket latency histogram for the load generator: 100 µs buckets up to 5 s, an
//! exact maximum, no allocation after creation. It must not read a clock: samples are given.

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
}
