//! Rate limits: a token bucket (the gateway's connection admission, so a fleet reconnecting
//! at once is absorbed) and a fixed window per client IP (enrollment, logins, subscriptions).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(per_second.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token, or says how long until one is free.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = *state;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    /// A Retry-After (whole seconds) that spreads refused clients over the time the bucket
    /// needs to admit a full burst, so they do not all return in the same second.
    pub fn retry_after(&self, wait: Duration) -> u64 {
        let spread = (self.burst / self.rate).ceil().max(1.0) as u64;
        wait.as_secs() + 1 + rand::random_range(0..spread.min(30))
    }
}

pub struct PerIpWindow {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl PerIpWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt; `Err(seconds until the window resets)` past the limit.
    pub fn hit(&self, ip: IpAddr) -> Result<(), u64> {
        let mut hits = self.hits.lock().unwrap();
        let now = Instant::now();
        if hits.len() > 10_000 {
            hits.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        }
        let entry = hits.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 > self.limit {
            Err((self.window - now.duration_since(entry.1)).as_secs() + 1)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_a_burst_then_refuses_with_a_wait() {
        let b = TokenBucket::new(10, 3);
        assert!((0..3).all(|_| b.try_acquire().is_ok()));
        let wait = b.try_acquire().unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        assert!(b.retry_after(wait) >= 1);
    }

    #[test]
    fn window_limits_each_ip_separately() {
        let w = PerIpWindow::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(w.hit(a).is_ok() && w.hit(a).is_ok());
        assert!(w.hit(a).unwrap_err() <= 61);
        assert!(w.hit(b).is_ok());
    }
}
