//! Failed sign-ins counted per account at an address and per address (docs/protocol.md,
//! "Failed logins"). With Redis, every node counts in the same Redis keys, so an attacker
//! spreading guesses over the nodes gets one allowance, not one per node; without it, or
//! while Redis cannot be reached, each node counts in its own memory (`throttle.rs`).

use std::{net::IpAddr, sync::LazyLock};

use knock_protocol::UserId;
use redis::aio::ConnectionManager;

use crate::throttle::FailureLimiter;

/// Which allowance an attempt is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// One account, from one client address.
    Account,
    /// One client address, for any accounts.
    Address,
}

/// The scripts, each hashed once (Redis runs them by their SHA-1).
static RESERVE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RESERVE));
static GIVE_BACK_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GIVE_BACK));

/// Takes one from the counter at `KEYS[1]` unless `ARGV[1]` are taken already; the window
/// (`ARGV[2]` ms) starts at the first. Returns `{1, 0}` when taken, `{0, ms left}` when
/// refused.
const RESERVE: &str = r"
local taken = redis.call('INCR', KEYS[1])
if taken == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if taken > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, redis.call('PTTL', KEYS[1])}
end
return {1, 0}
";

/// Gives one back, never below zero (the window may have ended meanwhile).
const GIVE_BACK: &str = r"
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
if taken > 0 then redis.call('DECR', KEYS[1]) end
return taken
";

pub(crate) struct LoginCounters {
    account_max: u32,
    address_max: u32,
    window_ms: i64,
    local_accounts: FailureLimiter<String>,
    local_addresses: FailureLimiter<String>,
    shared: Option<ConnectionManager>,
}

impl LoginCounters {
    /// `account_max` failures per account at an address, `address_max` per address, in
    /// windows of `window_ms`; counted in this node's memory.
    pub(crate) fn new(account_max: u32, address_max: u32, window_ms: i64) -> Self {
        Self {
            account_max,
            address_max,
            window_ms,
            local_accounts: FailureLimiter::new(account_max, window_ms),
            local_addresses: FailureLimiter::new(address_max, window_ms),
            shared: None,
        }
    }

    /// Counted in Redis, shared by every node that uses it.
    #[must_use]
    pub(crate) fn shared(mut self, redis: ConnectionManager) -> Self {
        self.shared = Some(redis);
        self
    }

    /// The key of the account's counter at `address`, or of the address's.
    pub(crate) fn account_key(user: &UserId, address: Option<IpAddr>) -> String {
        match address {
            Some(address) => format!("knock:login:account:{user}@{address}"),
            None => format!("knock:login:account:{user}@unknown"),
        }
    }

    pub(crate) fn address_key(address: IpAddr) -> String {
        format!("knock:login:address:{address}")
    }

    fn local(&self, counter: Counter) -> &FailureLimiter<String> {
        match counter {
            Counter::Account => &self.local_accounts,
            Counter::Address => &self.local_addresses,
        }
    }

    /// Takes one attempt from the counter at `key`, before the password is checked; once
    /// its allowance is taken in the current window, refused with the milliseconds left.
    pub(crate) async fn try_reserve(
        &self,
        counter: Counter,
        key: &str,
        now_ms: i64,
    ) -> Result<(), i64> {
        if let Some(redis) = &self.shared {
            let max = match counter {
                Counter::Account => self.account_max,
                Counter::Address => self.address_max,
            };
            let reserved: redis::RedisResult<(i64, i64)> = RESERVE_SCRIPT
                .key(key)
                .arg(max)
                .arg(self.window_ms)
                .invoke_async(&mut redis.clone())
                .await;
            match reserved {
                Ok((1, _)) => return Ok(()),
                Ok((_, left_ms)) => return Err(left_ms.max(1_000)),
                Err(error) => {
                    tracing::warn!(%error, "login counters in Redis unreachable; counting on this node");
                }
            }
        }
        self.local(counter).try_reserve(&key.to_owned(), now_ms)
    }

    /// Returns an attempt that did not fail (or was not checked).
    pub(crate) async fn give_back(&self, counter: Counter, key: &str) {
        if let Some(redis) = &self.shared {
            let given: redis::RedisResult<i64> = GIVE_BACK_SCRIPT
                .key(key)
                .invoke_async(&mut redis.clone())
                .await;
            if given.is_ok() {
                return;
            }
        }
        self.local(counter).give_back(&key.to_owned());
    }

    /// Forgets the counter (a successful sign-in clears its account's failures).
    pub(crate) async fn clear(&self, counter: Counter, key: &str) {
        if let Some(redis) = &self.shared {
            let cleared: redis::RedisResult<i64> = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut redis.clone())
                .await;
            if cleared.is_ok() {
                return;
            }
        }
        self.local(counter).clear(&key.to_owned());
    }
}
