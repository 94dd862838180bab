//! Reconnect delays: exponential backoff with "full jitter", capped.
//!
//! Every client reconnecting at the same moment after a server restart would hit it at
//! once; jitter spreads them out. The random draw is passed in so that tests are exact.

use std::time::Duration;

/// The delay schedule for reconnect attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// How many delays were handed out since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The ceiling of the next delay: `base * 2^attempt`, at most `cap`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay, given a uniform random draw in `[0, 1)`.
    ///
    /// The delay lies in `[ceiling / 2, ceiling)` ("equal jitter"): never a burst of
    /// immediate retries, still spread out.
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let random = random.clamp(0.0, 1.0);
        let half = ceiling / 2;
        half + half.mul_f64(random)
    }

    /// The connection worked: start again from the smallest delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let ceilings: Vec<_> = (0..8)
            .map(|_| {
                let ceiling = backoff.ceiling();
                backoff.next_delay(0.0);
                ceiling.as_millis()
            })
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
        assert_eq!(backoff.attempt(), 8);
    }

    #[test]
    fn jitter_stays_between_half_and_full_ceiling() {
        for random in [0.0, 0.25, 0.5, 0.999, 1.0, -3.0, 7.0] {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            backoff.next_delay(0.5);
            let delay = backoff.next_delay(random);
            assert!(delay >= Duration::from_secs(1), "{delay:?}");
            assert!(delay <= Duration::from_secs(2), "{delay:?}");
        }
        let mut a = Backoff::default();
        let mut b = Backoff::default();
        assert_ne!(a.next_delay(0.1), b.next_delay(0.9));
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.next_delay(0.5);
        }
        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..1000 {
            assert!(backoff.next_delay(0.99) <= Duration::from_secs(60));
        }
    }
}
