//! Full-jitter exponential backoff (DESIGN §3): `sleep = rand(0, min(cap, base·2^n))`, with n
//! reset only after a connection stayed healthy, so a controller that accepts and then drops
//! every connection is not hammered at the base rate.

use std::time::Duration;

use rand::Rng;

use crate::config::ReconnectConfig;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    healthy_after: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: &ReconnectConfig) -> Self {
        Self {
            base: config.base(),
            cap: config.cap(),
            healthy_after: config.healthy_after(),
            attempt: 0,
        }
    }

    pub fn base(&self) -> Duration {
        self.base
    }

    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Upper bound of the next sleep: `min(cap, base·2^n)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(31);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next sleep, uniformly random up to the ceiling; then the ceiling doubles.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1).min(32);
        jitter(ceiling)
    }

    /// Jump straight to the cap (for refusals that a quick retry cannot fix).
    pub fn saturate(&mut self) {
        self.attempt = 32;
    }

    /// Called when a connection ends: only one that stayed up long enough resets n.
    pub fn connection_ended(&mut self, lasted: Duration) {
        if lasted >= self.healthy_after {
            self.attempt = 0;
        }
    }
}

/// Uniformly random in `[0, max]`.
pub fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis().min(u64::MAX as u128) as u64;
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(&ReconnectConfig {
            base_ms: 1_000,
            cap_ms: 90_000,
            healthy_after_ms: 60_000,
        })
    }

    #[test]
    fn delays_stay_within_a_doubling_ceiling_up_to_the_cap() {
        let mut b = backoff();
        let expected = [1, 2, 4, 8, 16, 32, 64, 90, 90, 90];
        for secs in expected {
            assert_eq!(b.ceiling(), Duration::from_secs(secs));
            for _ in 0..50 {
                assert!(b.clone().next_delay() <= Duration::from_secs(secs));
            }
            b.next_delay();
        }
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(90));
    }

    #[test]
    fn delays_are_spread_not_fixed() {
        let mut b = backoff();
        b.saturate();
        let delays: std::collections::HashSet<_> = (0..50).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10);
    }

    #[test]
    fn only_a_healthy_connection_resets_the_backoff() {
        let mut b = backoff();
        for _ in 0..5 {
            b.next_delay();
        }
        b.connection_ended(Duration::from_secs(59));
        assert_eq!(b.ceiling(), Duration::from_secs(32));
        b.connection_ended(Duration::from_secs(60));
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        b.saturate();
        assert_eq!(b.ceiling(), Duration::from_secs(90));
    }

    #[test]
    fn a_zero_config_does_not_panic() {
        let mut b = Backoff::new(&ReconnectConfig {
            base_ms: 0,
            cap_ms: 0,
            healthy_after_ms: 0,
        });
        assert!(b.next_delay() <= Duration::from_millis(1));
    }
}
