//! Login throttling per client address and user name: after `max_failures` failed attempts
//! within `window`, the pair is refused for `block`, even with the right password; a success
//! clears its failures. Other names from the same address are unaffected (the per-address cap
//! against name spraying is a separate limit). An IPv6 client counts by its /64. Kept in
//! memory; when several controllers share the database ([`Shared`]), failures and blocks are
//! also kept there, so a pair blocked on one controller is blocked on every one and
//! failures spread over them add up.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xfleet_common::time::now_ms;

use crate::limit::address_key;
use crate::store::Store;

/// Longer names are cut for the key, so a flood of huge names cannot grow memory.
const MAX_NAME_CHARS: usize = 128;
/// Past this many pairs, pairs with nothing left to remember are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    block: Duration,
    pairs: Mutex<HashMap<(IpAddr, String), Pair>>,
}

#[derive(Default)]
struct Pair {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Pair {
    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
        if self.blocked_until.is_some_and(|until| until <= now) {
            self.blocked_until = None;
        }
    }
}

impl LoginThrottle {
    pub fn new(max_failures: usize, window: Duration, block: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            block,
            pairs: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(time left)` while the pair is blocked.
    pub fn check(&self, ip: IpAddr, user: &str) -> Result<(), Duration> {
        self.check_at(ip, user, Instant::now())
    }

    /// Records a failed attempt; blocks the pair when it reaches the limit.
    pub fn failure(&self, ip: IpAddr, user: &str) {
        self.failure_at(ip, user, Instant::now());
    }

    /// A successful login: the pair's failures are forgotten.
    pub fn success(&self, ip: IpAddr, user: &str) {
        self.pairs.lock().unwrap().remove(&key(ip, user));
    }

    fn check_at(&self, ip: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        let pairs = self.pairs.lock().unwrap();
        match pairs.get(&key(ip, user)).and_then(|p| p.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    fn failure_at(&self, ip: IpAddr, user: &str, now: Instant) {
        let mut pairs = self.pairs.lock().unwrap();
        if pairs.len() > PRUNE_ABOVE {
            pairs.retain(|_, p| {
                p.forget_before(now, self.window);
                !p.failures.is_empty() || p.blocked_until.is_some()
            });
        }
        let pair = pairs.entry(key(ip, user)).or_default();
        pair.forget_before(now, self.window);
        pair.failures.push_back(now);
        if pair.failures.len() >= self.max_failures {
            pair.failures.clear();
            pair.blocked_until = Some(now + self.block);
        }
    }
}

impl LoginThrottle {
    /// How long the pair is still blocked, from the database (several controllers).
    pub async fn check_shared(
        &self,
        store: &Store,
        ip: IpAddr,
        user: &str,
    ) -> Result<(), Duration> {
        let (address, name) = key(ip, user);
        match store.login_blocked_until(&address.to_string(), &name).await {
            Ok(Some(until)) if until > now_ms() => {
                Err(Duration::from_millis((until - now_ms()) as u64))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read login blocks; this controller's own apply");
                Ok(())
            }
        }
    }

    /// Records a failure in the database and blocks the pair there when the failures of all
    /// controllers reach the limit.
    pub async fn failure_shared(&self, store: &Store, ip: IpAddr, user: &str) {
        let (address, name) = key(ip, user);
        let address = address.to_string();
        let since = now_ms() - self.window.as_millis() as i64;
        let recorded = async {
            let count = store.add_login_failure(&address, &name, since).await?;
            if count >= self.max_failures as i64 {
                let until = now_ms() + self.block.as_millis() as i64;
                store.block_login(&address, &name, until).await?;
            }
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = recorded.await {
            tracing::warn!(error = %e, "cannot record a failed login for the other controllers");
        }
    }

    /// A success: the pair's failures are forgotten by every controller.
    pub async fn success_shared(&self, store: &Store, ip: IpAddr, user: &str) {
        let (address, name) = key(ip, user);
        if let Err(e) = store
            .clear_login_failures(&address.to_string(), &name)
            .await
        {
            tracing::warn!(error = %e, "cannot clear failed logins for the other controllers");
        }
    }
}

fn key(ip: IpAddr, user: &str) -> (IpAddr, String) {
    (address_key(ip), crate::util::clip(user, MAX_NAME_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(5, 5 * MIN, 15 * MIN)
    }

    #[test]
    fn five_failures_block_the_pair_for_fifteen_minutes() {
        let t = throttle();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let start = Instant::now();
        for i in 0..4 {
            t.failure_at(ip, "admin", start + Duration::from_secs(i));
        }
        assert!(
            t.check_at(ip, "admin", start + MIN).is_ok(),
            "4 are allowed"
        );
        t.failure_at(ip, "admin", start + MIN);
        let left = t.check_at(ip, "admin", start + MIN).unwrap_err();
        assert_eq!(left, 15 * MIN);
        assert!(t.check_at(ip, "ops", start + MIN).is_ok(), "other names");
        let other_ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.check_at(other_ip, "admin", start + MIN).is_ok());
        assert!(t.check_at(ip, "admin", start + 16 * MIN).is_ok(), "expires");
        // After the block, the count starts again from zero.
        t.failure_at(ip, "admin", start + 16 * MIN);
        assert!(t.check_at(ip, "admin", start + 16 * MIN).is_ok());
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t = throttle();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let start = Instant::now();
        for i in 0..4 {
            t.failure_at(ip, "admin", start + i * MIN);
        }
        // The first failure is now 5 minutes old: four in the window, no block.
        t.failure_at(ip, "admin", start + 5 * MIN);
        assert!(t.check_at(ip, "admin", start + 5 * MIN).is_ok());
        t.failure_at(ip, "admin", start + 5 * MIN);
        assert!(t.check_at(ip, "admin", start + 5 * MIN).is_err());
    }

    /// Failures from different addresses of one IPv6 /64 add up to one block for it.
    #[test]
    fn an_ipv6_64_is_one_address() {
        let t = throttle();
        for i in 1..=5 {
            let ip: IpAddr = format!("2001:db8:7:7::{i}").parse().unwrap();
            t.failure(ip, "admin");
        }
        assert!(t
            .check("2001:db8:7:7::99".parse().unwrap(), "admin")
            .is_err());
        assert!(t.check("2001:db8:7:8::1".parse().unwrap(), "admin").is_ok());
    }

    #[test]
    fn success_clears_failures() {
        let t = throttle();
        let ip: IpAddr = "::1".parse().unwrap();
        for _ in 0..4 {
            t.failure(ip, "admin");
        }
        t.success(ip, "admin");
        for _ in 0..4 {
            t.failure(ip, "admin");
        }
        assert!(t.check(ip, "admin").is_ok());
    }
}
