//! IP limits (3x-ui's `CheckClientIpJob`, without fail2ban). Agents report the source
//! addresses of each client from their core's access log; the controller merges them over
//! the fleet, since a client is one identity everywhere. An address counts while it was seen
//! within the last 30 minutes. A client with `limit_ip` N keeps the N addresses seen first
//! among those; every later one is refused: the controller records it (the audit log and the
//! client's address list) and puts it in the desired state of each server the client is on,
//! where the agent's core routes that client's traffic from that address to a blackhole.
//! Other clients behind the same address are not affected. A refused address keeps being
//! refused while it keeps trying; once the earlier addresses fall silent it moves up.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::limits::LiveIp;

/// The addresses to refuse per client, from the live addresses of every limited client
/// (sorted by email, then first seen). Clients with nothing to refuse are absent.
pub fn refusals(live: &[LiveIp]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_client: BTreeMap<&str, Vec<&LiveIp>> = BTreeMap::new();
    for ip in live {
        by_client.entry(ip.email.as_str()).or_default().push(ip);
    }
    let mut out = BTreeMap::new();
    for (email, mut ips) in by_client {
        ips.sort_by(|a, b| (a.first_seen, &a.ip).cmp(&(b.first_seen, &b.ip)));
        let allowed = ips[0].limit_ip.max(0) as usize;
        let refused: BTreeSet<String> = ips.iter().skip(allowed).map(|i| i.ip.clone()).collect();
        if !refused.is_empty() {
            out.insert(email.to_owned(), refused);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(email: &str, limit_ip: i64, ip: &str, first_seen: i64) -> LiveIp {
        LiveIp {
            email: email.into(),
            limit_ip,
            ip: ip.into(),
            first_seen,
        }
    }

    #[test]
    fn the_first_seen_addresses_are_kept() {
        let found = refusals(&[
            live("a", 2, "10.0.0.3", 30),
            live("a", 2, "10.0.0.1", 10),
            live("a", 2, "10.0.0.2", 20),
            live("a", 2, "10.0.0.4", 30),
            live("b", 1, "10.0.0.9", 5),
        ]);
        assert_eq!(found.len(), 1, "b is within its limit");
        assert_eq!(
            found["a"],
            BTreeSet::from(["10.0.0.3".to_string(), "10.0.0.4".to_string()])
        );
    }
}
