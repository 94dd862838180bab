//! Abuse limits: token buckets for messages and frames, a failure counter for logins, and
//! slots for what may be held at once per key.
//! The arithmetic is pure (time is passed in); the maps around it are the only state.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

/// A token bucket: refills `rate` tokens a second up to `burst`; each action takes one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TokenBucket {
    tokens: f64,
    updated_ms: i64,
}

/// How fast a bucket refills and how much it holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl TokenBucket {
    pub(crate) fn full(rate: Rate, now_ms: i64) -> Self {
        Self {
            tokens: rate.burst,
            updated_ms: now_ms,
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, rate: Rate, now_ms: i64) -> bool {
        #[allow(clippy::cast_precision_loss)] // Milliseconds elapsed fit f64 exactly.
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1_000.0;
        self.tokens = (self.tokens + elapsed_s * rate.per_second).min(rate.burst);
        self.updated_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is back to full, so that forgetting it changes nothing.
    fn is_full(&self, rate: Rate, now_ms: i64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1_000.0;
        self.tokens + elapsed_s * rate.per_second >= rate.burst
    }
}

/// One token bucket per key (per user), forgotten once full again.
pub(crate) struct KeyedLimiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn try_take(&self, key: &K, now_ms: i64) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Keep the map small: full buckets carry no information.
        if buckets.len() > 10_000 {
            let rate = self.rate;
            buckets.retain(|_, bucket| !bucket.is_full(rate, now_ms));
        }
        buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::full(self.rate, now_ms))
            .try_take(self.rate, now_ms)
    }
}

/// Counts failures per key in fixed windows; a key with `max` failures in the current
/// window is refused until the window ends.
pub(crate) struct FailureLimiter<K> {
    max: u32,
    window_ms: i64,
    counts: Mutex<HashMap<K, (i64, u32)>>,
}

impl<K: Eq + Hash + Clone> FailureLimiter<K> {
    pub(crate) fn new(max: u32, window_ms: i64) -> Self {
        Self {
            max,
            window_ms,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt from `key`'s allowance before the attempt is made, so that
    /// attempts made at the same time cannot all pass: once `max` are taken in the current
    /// window, refused with how long it has left. An attempt that succeeds gives its
    /// back ([`FailureLimiter::give_back`]); a failed one stays counted.
    pub(crate) fn try_reserve(&self, key: &K, now_ms: i64) -> Result<(), i64> {
        let mut counts = self.lock();
        if counts.len() > 100_000 {
            let window = self.window_ms;
            counts.retain(|_, (started, _)| now_ms - *started < window);
        }
        let entry = counts.entry(key.clone()).or_insert((now_ms, 0));
        if now_ms - entry.0 >= self.window_ms {
            *entry = (now_ms, 0);
        }
        if entry.1 >= self.max {
            return Err(entry.0 + self.window_ms - now_ms);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Returns an attempt taken by [`FailureLimiter::try_reserve`] that did not fail.
    pub(crate) fn give_back(&self, key: &K) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    pub(crate) fn clear(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (i64, u32)>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// At most `max` holders per key at once (sockets of one address waiting to
/// authenticate); a slot is given back when its [`Slot`] is dropped.
pub(crate) struct KeyedSlots<K: Eq + Hash> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One taken slot of a [`KeyedSlots`].
pub(crate) struct Slot<K: Eq + Hash> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> KeyedSlots<K> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            held: Arc::default(),
        }
    }

    /// A slot for `key`, unless `max` are held already.
    pub(crate) fn try_take(&self, key: K) -> Option<Slot<K>> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            held: self.held.clone(),
        })
    }
}

impl<K: Eq + Hash> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 2.0,
        burst: 3.0,
    };

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = TokenBucket::full(RATE, 0);
        assert!(bucket.try_take(RATE, 0));
        assert!(bucket.try_take(RATE, 0));
        assert!(bucket.try_take(RATE, 0));
        assert!(!bucket.try_take(RATE, 0), "burst used up");
        assert!(!bucket.try_take(RATE, 400), "0.8 tokens after 400 ms");
        assert!(bucket.try_take(RATE, 500), "one token after 500 ms at 2/s");
        assert!(!bucket.try_take(RATE, 500));
        // A long pause refills to the burst, not beyond.
        for _ in 0..3 {
            assert!(bucket.try_take(RATE, 60_000));
        }
        assert!(!bucket.try_take(RATE, 60_000));
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut bucket = TokenBucket::full(RATE, 10_000);
        for _ in 0..3 {
            assert!(bucket.try_take(RATE, 10_000));
        }
        assert!(!bucket.try_take(RATE, 0));
    }

    #[test]
    fn keyed_limits_are_per_key() {
        let limiter = KeyedLimiter::new(RATE);
        for _ in 0..3 {
            assert!(limiter.try_take(&"alice", 0));
        }
        assert!(!limiter.try_take(&"alice", 0));
        assert!(limiter.try_take(&"bob", 0));
    }

    #[test]
    fn attempts_are_taken_before_they_are_made_until_the_window_ends() {
        let limiter = FailureLimiter::new(3, 1_000);
        for t in 0..3 {
            assert_eq!(limiter.try_reserve(&"alice", t), Ok(()));
        }
        assert_eq!(
            limiter.try_reserve(&"alice", 500),
            Err(500),
            "locked, 500 ms left"
        );
        assert_eq!(limiter.try_reserve(&"bob", 500), Ok(()), "per key");
        assert_eq!(limiter.try_reserve(&"alice", 1_000), Ok(()), "a new window");
        limiter.give_back(&"alice");
        for t in 1_001..1_004 {
            assert_eq!(
                limiter.try_reserve(&"alice", t),
                Ok(()),
                "a success is given back"
            );
        }
        assert!(limiter.try_reserve(&"alice", 1_004).is_err());
        limiter.clear(&"alice");
        assert_eq!(limiter.try_reserve(&"alice", 1_005), Ok(()));
    }

    #[test]
    fn slots_are_held_until_dropped() {
        let slots = KeyedSlots::new(2);
        let first = slots.try_take("a").expect("a slot");
        let _second = slots.try_take("a").expect("a second slot");
        assert!(slots.try_take("a").is_none(), "two at most");
        assert!(slots.try_take("b").is_some(), "per key");
        drop(first);
        assert!(slots.try_take("a").is_some(), "given back");
    }
}
