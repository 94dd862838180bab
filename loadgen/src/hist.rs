//! Latency histograms (HDR, microseconds) and their summaries.

use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::util::ms;

/// Highest latency kept exactly (one minute, in microseconds); larger ones are clamped.
const MAX_US: u64 = 60_000_000;
const SIGFIG: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("valid histogram bounds"))
    }

    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_US));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        self.0.add(&other.0).expect("histograms with equal bounds");
    }

    /// How many samples it holds.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> Summary {
        if self.0.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            p999_ms: ms(self.0.value_at_quantile(0.999)),
            max_ms: ms(self.0.max()),
            mean_ms: self.0.mean() / 1000.0,
        }
    }
}

/// A histogram many tasks record into at once: a few locked shards, merged at the end.
pub struct Sharded {
    shards: Vec<Mutex<Latency>>,
}

impl Sharded {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Latency::new()))
                .collect(),
        }
    }

    /// Records into the shard chosen by `key` (a receiver's index spreads the load).
    pub fn record(&self, key: usize, us: u64) {
        let shard = &self.shards[key % self.shards.len()];
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(us);
    }

    pub fn merged(&self) -> Latency {
        let mut all = Latency::new();
        for shard in &self.shards {
            all.merge(
                &shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }
        all
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// The median of each field over repeated runs.
    pub fn median_of(runs: &[Summary]) -> Summary {
        let pick = |field: fn(&Summary) -> f64| {
            crate::util::median(&runs.iter().map(field).collect::<Vec<_>>())
        };
        Summary {
            count: crate::util::round_u64(pick(|s| crate::util::f(s.count))),
            p50_ms: pick(|s| s.p50_ms),
            p90_ms: pick(|s| s.p90_ms),
            p99_ms: pick(|s| s.p99_ms),
            p999_ms: pick(|s| s.p999_ms),
            max_ms: pick(|s| s.max_ms),
            mean_ms: pick(|s| s.mean_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_every_sample() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        for us in 1..=900 {
            a.record(us * 10);
        }
        for us in 1..=100 {
            b.record(1_000_000 + us);
        }
        a.merge(&b);
        let summary = a.summary();
        assert_eq!(summary.count, 1000);
        // 90% of samples are at most 9 ms; the top 10% are about one second.
        assert!((summary.p50_ms - 5.0).abs() < 0.05, "{summary:?}");
        assert!(
            summary.p99_ms > 999.0 && summary.p99_ms < 1002.0,
            "{summary:?}"
        );
        assert!(summary.max_ms >= 1000.0, "{summary:?}");
    }

    #[test]
    fn sharded_merges_all_shards() {
        let sharded = Sharded::new(4);
        for key in 0..100 {
            sharded.record(key, 2_000);
        }
        let all = sharded.merged();
        assert_eq!(all.count(), 100);
        assert!((all.summary().p99_ms - 2.0).abs() < 0.01);
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = Latency::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.count(), 2);
        assert!(h.summary().max_ms >= 59_000.0);
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(Latency::new().summary(), Summary::default());
    }

    #[test]
    fn median_of_runs_takes_each_field_separately() {
        let run = |p99_ms, max_ms| Summary {
            count: 10,
            p99_ms,
            max_ms,
            ..Summary::default()
        };
        let median = Summary::median_of(&[run(1.0, 9.0), run(3.0, 7.0), run(2.0, 8.0)]);
        assert!((median.p99_ms - 2.0).abs() < f64::EPSILON);
        assert!((median.max_ms - 8.0).abs() < f64::EPSILON);
        assert_eq!(median.count, 10);
    }
}
