//! Turns the core's absolute counters into per-user, per-inbound and per-outbound deltas.
//!
//! Counters are read without resetting them, so a poll whose batch never reached the journal
//! (the agent died in between) is simply read again: nothing is lost. The baseline remembers
//! which core process the counters came from; a new process, or a counter lower than before,
//! means the core restarted and the current value is all new traffic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xfleet_common::traffic::{Delta, TrafficBatch};

/// Absolute counters after the last journaled batch, per core process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Baseline {
    /// Identifies the core process (pid and start time); empty before the first poll.
    pub core_instance: String,
    /// `user>>>alice>>>traffic>>>uplink` → bytes.
    pub counters: BTreeMap<String, u64>,
}

#[derive(Clone, Copy)]
enum Kind {
    User,
    Inbound,
    Outbound,
}

/// Splits `user>>>NAME>>>traffic>>>uplink` into its parts; `None` for other counters and for
/// the API's own inbound/outbound.
fn parse(name: &str) -> Option<(Kind, &str, bool)> {
    let mut parts = name.split(">>>");
    let kind = match parts.next()? {
        "user" => Kind::User,
        "inbound" => Kind::Inbound,
        "outbound" => Kind::Outbound,
        _ => return None,
    };
    let who = parts.next()?;
    if parts.next()? != "traffic" {
        return None;
    }
    let up = match parts.next()? {
        "uplink" => true,
        "downlink" => false,
        _ => return None,
    };
    if who == "api" && !matches!(kind, Kind::User) {
        return None;
    }
    Some((kind, who, up))
}

/// Deltas since `baseline` and the new baseline. `stats` are the core's current values.
pub fn compute(
    baseline: &Baseline,
    core_instance: &str,
    stats: &[(String, i64)],
) -> (TrafficBatch, Baseline) {
    let same_core = baseline.core_instance == core_instance;
    let mut next = Baseline {
        core_instance: core_instance.to_owned(),
        counters: BTreeMap::new(),
    };
    let mut sums: [BTreeMap<String, (u64, u64)>; 3] = Default::default();
    for (name, value) in stats {
        let Some((kind, who, up)) = parse(name) else {
            continue;
        };
        let now = (*value).max(0) as u64;
        let before = if same_core {
            baseline.counters.get(name).copied().unwrap_or(0)
        } else {
            0
        };
        // A counter that went down was reset (a restart we did not see): all of it is new.
        let delta = if now >= before { now - before } else { now };
        next.counters.insert(name.clone(), now);
        if delta == 0 {
            continue;
        }
        let entry = sums[kind as usize].entry(who.to_owned()).or_default();
        if up {
            entry.0 += delta;
        } else {
            entry.1 += delta;
        }
    }
    let [users, inbounds, outbounds] = sums.map(|m| {
        m.into_iter()
            .map(|(name, (up, down))| Delta { name, up, down })
            .collect::<Vec<_>>()
    });
    let online = users.iter().map(|d| d.name.clone()).collect();
    (
        TrafficBatch {
            epoch: String::new(),
            seq: 0,
            at_ms: xfleet_common::time::now_ms(),
            users,
            inbounds,
            outbounds,
            online,
            ips: Vec::new(),
        },
        next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn deltas_between_polls_of_one_core() {
        let first = stats(&[
            ("user>>>alice>>>traffic>>>uplink", 100),
            ("user>>>alice>>>traffic>>>downlink", 1000),
            ("inbound>>>in-1>>>traffic>>>downlink", 1000),
            ("inbound>>>api>>>traffic>>>downlink", 55),
            ("outbound>>>direct>>>traffic>>>uplink", 7),
        ]);
        let (batch, base) = compute(&Baseline::default(), "core-1", &first);
        assert_eq!(
            batch.users,
            vec![Delta {
                name: "alice".into(),
                up: 100,
                down: 1000
            }]
        );
        assert_eq!(batch.inbounds.len(), 1, "the api inbound is not traffic");
        assert_eq!(batch.online, vec!["alice".to_string()]);
        let second = stats(&[
            ("user>>>alice>>>traffic>>>uplink", 150),
            ("user>>>alice>>>traffic>>>downlink", 1000),
            ("user>>>bob>>>traffic>>>uplink", 5),
        ]);
        let (batch, _) = compute(&base, "core-1", &second);
        assert_eq!(
            batch.users,
            vec![
                Delta {
                    name: "alice".into(),
                    up: 50,
                    down: 0
                },
                Delta {
                    name: "bob".into(),
                    up: 5,
                    down: 0
                }
            ]
        );
    }

    #[test]
    fn a_restarted_core_counts_from_zero() {
        let (_, base) = compute(
            &Baseline::default(),
            "core-1",
            &stats(&[("user>>>a>>>traffic>>>uplink", 500)]),
        );
        // New process whose counter already passed the old value: still all new traffic.
        let (batch, _) = compute(
            &base,
            "core-2",
            &stats(&[("user>>>a>>>traffic>>>uplink", 700)]),
        );
        assert_eq!(batch.users[0].up, 700);
        // Same process id reused but the counter dropped: a reset.
        let (batch, _) = compute(
            &base,
            "core-1",
            &stats(&[("user>>>a>>>traffic>>>uplink", 20)]),
        );
        assert_eq!(batch.users[0].up, 20);
    }

    #[test]
    fn a_repeated_poll_without_journaling_loses_nothing() {
        let base = Baseline::default();
        let s = stats(&[("user>>>a>>>traffic>>>downlink", 300)]);
        let (first, _) = compute(&base, "c", &s);
        // The batch was lost before it reached the journal; the baseline was not advanced.
        let (again, _) = compute(&base, "c", &s);
        assert_eq!(first.users, again.users);
    }
}
