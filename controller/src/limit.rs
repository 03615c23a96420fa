//! Rate limits: a token bucket (the gateway's connection admission, so a fleet reconnecting
//! at once is absorbed) and a fixed window per client IP (enrollment, logins, subscriptions).
//! Limits key an IPv6 client by its /64 ([`address_key`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
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

/// The key a per-address limit counts a client under: an IPv4 address as it is (an IPv4
/// address mapped into IPv6 too), an IPv6 address by its /64. One host is routinely given a
/// whole /64, so keying by the full address would hand it 2^64 separate allowances.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
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
        let entry = hits.entry(address_key(ip)).or_insert((0, now));
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

    /// Addresses of one IPv6 /64 share one allowance; the next /64 has its own; IPv4 is
    /// counted per address, also when it arrives mapped into IPv6.
    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));

        let w = PerIpWindow::new(2, Duration::from_secs(60));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(w.hit(ip("2001:db8::1")).is_ok());
        assert!(w.hit(ip("2001:db8::2")).is_ok());
        assert!(
            w.hit(ip("2001:db8::ffff:3")).is_err(),
            "a third address of the same /64 is over the limit"
        );
        assert!(w.hit(ip("2001:db8:0:1::1")).is_ok(), "another /64");
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
