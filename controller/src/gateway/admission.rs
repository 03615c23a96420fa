//! Who may wait at the gateway before proving who they are: connections that have not
//! finished TLS with a client certificate are counted per source (an IPv6 /64 counts as one
//! source, since one host holds all of it) and in total, and refused beyond either bound, so
//! idle sockets cannot pile up in front of agents.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::limit::address_key;

/// Connections not yet authenticated, from all sources together: room for a fleet's
/// reconnect storm (one waiting connection costs a task and a socket, no handshake permit).
/// From one source the bound is configured (`gateway_pending_per_source`): an agent opens
/// one connection at a time, so a small number lets a NAT in front of a few agents through.
pub const MAX_PENDING: usize = 4096;

struct Counts {
    per_source: usize,
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The pending connections, counted.
#[derive(Clone)]
pub struct Pending(Arc<Mutex<Counts>>);

impl Pending {
    pub fn new(per_source: usize) -> Self {
        Self(Arc::new(Mutex::new(Counts {
            per_source: per_source.max(1),
            total: 0,
            by_source: HashMap::new(),
        })))
    }

    /// Counts a new connection from `ip`, or `None` when its source or the gateway is full.
    pub fn enter(&self, ip: IpAddr) -> Option<PendingSlot> {
        let key = address_key(ip);
        let mut counts = self.0.lock().unwrap();
        let from_source = counts.by_source.get(&key).copied().unwrap_or(0);
        if counts.total >= MAX_PENDING || from_source >= counts.per_source {
            return None;
        }
        counts.total += 1;
        counts.by_source.insert(key, from_source + 1);
        Some(PendingSlot {
            pending: self.clone(),
            key,
        })
    }
}

/// One counted connection; dropping it (authenticated, or gone) frees the slot.
pub struct PendingSlot {
    pending: Pending,
    key: IpAddr,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut counts = self.pending.0.lock().unwrap();
        counts.total -= 1;
        if let Some(n) = counts.by_source.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.by_source.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One source cannot take every slot, and a freed slot is reusable.
    #[test]
    fn each_source_is_bounded_and_slots_come_back() {
        let pending = Pending::new(16);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        let mut held: Vec<PendingSlot> = (0..16).map(|_| pending.enter(a).unwrap()).collect();
        assert!(pending.enter(a).is_none());
        assert!(pending.enter(b).is_some());
        held.pop();
        assert!(pending.enter(a).is_some());
    }

    /// Addresses of one IPv6 /64 share one source's slots; the next /64 has its own.
    #[test]
    fn ipv6_counts_by_64() {
        let pending = Pending::new(2);
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _held = [pending.enter(one).unwrap(), pending.enter(two).unwrap()];
        assert!(pending.enter(one).is_none());
        assert!(pending.enter(two).is_none());
        assert!(pending.enter(other).is_some());
    }
}
