//! Local enforcement while the controller is away (DESIGN §4): a client whose expiry passed,
//! or who used the quota the state allowed, is taken out of the core by the agent itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use xfleet_common::state::DesiredState;

/// Why the agent cut a client, reported to the controller on reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub email: String,
    /// `expired` or `quota`.
    pub reason: String,
    pub at_ms: i64,
}

/// Clients to keep out of the core at `now_ms`, given bytes counted locally since the state
/// arrived (`used`, by email).
pub fn cuts(state: &DesiredState, used: &BTreeMap<String, u64>, now_ms: i64) -> Vec<Cut> {
    let mut out = Vec::new();
    for limit in &state.limits {
        let reason = if limit.expiry_ms > 0 && now_ms >= limit.expiry_ms {
            Some("expired")
        } else {
            match limit.remaining_bytes {
                Some(left) if used.get(&limit.email).copied().unwrap_or(0) >= left => Some("quota"),
                _ => None,
            }
        };
        if let Some(reason) = reason {
            out.push(Cut {
                email: limit.email.clone(),
                reason: reason.to_owned(),
                at_ms: now_ms,
            });
        }
    }
    out
}

/// `state` without the clients in `cut` (they stay in the controller's state; only the core
/// stops serving them).
pub fn without(state: &DesiredState, cut: &BTreeSet<String>) -> DesiredState {
    if cut.is_empty() {
        return state.clone();
    }
    let mut effective = state.clone();
    for inbound in &mut effective.inbounds {
        if let Some(clients) = inbound
            .settings
            .get_mut("clients")
            .and_then(|c| c.as_array_mut())
        {
            clients.retain(|c| {
                c.get("email")
                    .and_then(|e| e.as_str())
                    .is_none_or(|e| !cut.contains(e))
            });
        }
    }
    effective
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use xfleet_common::state::{ClientLimit, InboundSpec};

    fn state() -> DesiredState {
        DesiredState {
            revision: 1,
            inbounds: vec![InboundSpec {
                id: 1,
                tag: "in-1".into(),
                enable: true,
                listen: String::new(),
                port: 1000,
                protocol: "vless".into(),
                settings: json!({"clients": [{"email": "a", "id": "1"}, {"email": "b", "id": "2"}, {"email": "c", "id": "3"}]}),
                stream_settings: json!({}),
                sniffing: json!({}),
            }],
            limits: vec![
                ClientLimit {
                    email: "a".into(),
                    expiry_ms: 1_000,
                    remaining_bytes: None,
                    refused_ips: Vec::new(),
                },
                ClientLimit {
                    email: "b".into(),
                    expiry_ms: 0,
                    remaining_bytes: Some(500),
                    refused_ips: Vec::new(),
                },
                ClientLimit {
                    email: "c".into(),
                    expiry_ms: 0,
                    remaining_bytes: None,
                    refused_ips: Vec::new(),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn expiry_and_quota_cut_only_their_clients() {
        let s = state();
        let used: BTreeMap<String, u64> =
            [("b".to_string(), 499), ("c".to_string(), 1 << 40)].into();
        assert!(cuts(&s, &used, 999).is_empty());
        let cut = cuts(&s, &used, 1_000);
        assert_eq!(
            cut.iter()
                .map(|c| (c.email.as_str(), c.reason.as_str()))
                .collect::<Vec<_>>(),
            vec![("a", "expired")]
        );
        let used: BTreeMap<String, u64> = [("b".to_string(), 500)].into();
        let cut = cuts(&s, &used, 0);
        assert_eq!(cut[0].email, "b");
        assert_eq!(cut[0].reason, "quota");
        let set: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let left = without(&s, &set);
        assert_eq!(
            left.inbounds[0].settings["clients"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}
