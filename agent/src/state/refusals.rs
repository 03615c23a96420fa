//! Inbounds the core could not take (DESIGN §4). Each one is left out of what the core runs,
//! with the words it was refused in, while the rest of the state applies; it is tried again
//! only when the controller sends it changed. So one bad inbound neither blocks a server's
//! other changes nor makes the core restart again for something it already refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use xfleet_common::state::{DesiredState, InboundFailure, InboundSpec};

use crate::fsutil::{self, PUBLIC};

/// What a refusal is about, and so which change of the inbound earns it another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// Its configuration: the renderer or the core's config test said no, maybe because of
    /// one client, so any change to it (clients too) is tried.
    Config,
    /// Its listener: the core could not open its port. Clients do not change that, so a
    /// client added to it is not a reason to try (and restart the core) again.
    Listener,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Refusal {
    kind: Refused,
    /// The inbound as it was refused (see [`fingerprint`]).
    fingerprint: String,
    message: String,
}

/// The refused inbounds of one agent, by tag; kept in `refused.json` beside the state so an
/// agent restart does not try them again either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    refused: BTreeMap<String, Refusal>,
}

impl Refusals {
    /// The refusals saved at `path`; none if there is no file or it is damaged (the inbounds
    /// are then simply tried again).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) {
        let bytes = serde_json::to_vec_pretty(self).expect("refusals serialize");
        if let Err(e) = fsutil::write_atomic(path, &bytes, PUBLIC) {
            tracing::warn!(error = %e, "cannot save the refused inbounds");
        }
    }

    /// Forgets the refusal of every inbound `next` no longer has as it was refused: removed,
    /// disabled or changed, it is no longer what the core said no to.
    pub fn keep_unchanged(&mut self, next: &DesiredState) {
        self.refused.retain(|tag, r| {
            next.inbounds
                .iter()
                .find(|i| i.enable && &i.tag == tag)
                .is_some_and(|spec| fingerprint(spec, r.kind) == r.fingerprint)
        });
    }

    pub fn refuse(&mut self, spec: &InboundSpec, kind: Refused, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(tag = %spec.tag, %message, "the core cannot take this inbound; the rest of the state applies without it");
        self.refused.insert(
            spec.tag.clone(),
            Refusal {
                kind,
                fingerprint: fingerprint(spec, kind),
                message,
            },
        );
    }

    pub fn contains(&self, tag: &str) -> bool {
        self.refused.contains_key(tag)
    }

    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
    }

    /// `state` without the refused inbounds: what the core can run of it.
    pub fn leave_out(&self, state: &DesiredState) -> DesiredState {
        let mut runnable = state.clone();
        runnable.inbounds.retain(|i| !self.contains(&i.tag));
        runnable
    }

    /// The refusals as the controller is told them.
    pub fn failures(&self) -> Vec<InboundFailure> {
        self.refused
            .iter()
            .map(|(tag, r)| InboundFailure {
                tag: tag.clone(),
                message: r.message.clone(),
            })
            .collect()
    }
}

/// Where an agent keeps its refusals.
pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("refused.json")
}

/// A digest of the inbound as the controller sent it; without its clients for a
/// [`Refused::Listener`].
fn fingerprint(spec: &InboundSpec, kind: Refused) -> String {
    let mut spec = spec.clone();
    if kind == Refused::Listener {
        if let Some(settings) = spec.settings.as_object_mut() {
            settings.remove("clients");
        }
    }
    let bytes = serde_json::to_vec(&spec).expect("inbounds serialize");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The enabled inbounds of `state` whose port a core's start failure names: the core says
/// `failed to listen TCP on 2053 > … listen tcp 127.0.0.1:2053: bind: address already in
/// use` without the inbound's tag.
pub fn named_listeners(message: &str, state: &DesiredState) -> Vec<String> {
    let ports = ports_named(message);
    state
        .inbounds
        .iter()
        .filter(|i| i.enable && ports.contains(&i.port))
        .map(|i| i.tag.clone())
        .collect()
}

fn ports_named(message: &str) -> BTreeSet<u16> {
    let digits = |s: &str| -> Option<u16> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    let mut ports = BTreeSet::new();
    for marker in ["listen TCP on ", "listen UDP on "] {
        for (at, _) in message.match_indices(marker) {
            ports.extend(digits(&message[at + marker.len()..]));
        }
    }
    // `listen tcp 127.0.0.1:2053: bind: address already in use`
    for (at, _) in message.match_indices(": bind:") {
        let before = &message[..at];
        let start = before.rfind(':').map_or(0, |i| i + 1);
        ports.extend(digits(&before[start..]));
    }
    ports
}

/// `config` with only `tag` of the inbounds in `tags` (the API inbound and the template's own
/// stay): a configuration that tests that one inbound on the core's own settings.
pub fn only_inbound(config: &Value, tags: &BTreeSet<String>, tag: Option<&str>) -> Value {
    let mut config = config.clone();
    if let Some(inbounds) = config.get_mut("inbounds").and_then(Value::as_array_mut) {
        inbounds.retain(|i| {
            let own = i.get("tag").and_then(Value::as_str).unwrap_or("");
            !tags.contains(own) || Some(own) == tag
        });
    }
    config
}

/// Tags of the inbounds in `config` that `running` lacks or runs differently.
pub fn new_or_changed(
    config: &Value,
    running: Option<&Value>,
    tags: &BTreeSet<String>,
) -> Vec<String> {
    let inbounds = |c: Option<&Value>| -> BTreeMap<String, Value> {
        c.and_then(|c| c.get("inbounds"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i.get("tag")?.as_str()?.to_owned(), i.clone())))
            .collect()
    };
    let before = inbounds(running);
    inbounds(Some(config))
        .into_iter()
        .filter(|(tag, inbound)| tags.contains(tag) && before.get(tag) != Some(inbound))
        .map(|(tag, _)| tag)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(tag: &str, port: u16, clients: &[&str]) -> InboundSpec {
        let clients: Vec<Value> = clients
            .iter()
            .map(|e| json!({"email": e, "id": "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50"}))
            .collect();
        InboundSpec {
            id: 1,
            tag: tag.into(),
            enable: true,
            listen: String::new(),
            port,
            protocol: "vless".into(),
            settings: json!({"clients": clients, "decryption": "none"}),
            stream_settings: json!({"network": "tcp"}),
            sniffing: Value::Null,
        }
    }

    fn state(inbounds: Vec<InboundSpec>) -> DesiredState {
        DesiredState {
            inbounds,
            ..Default::default()
        }
    }

    #[test]
    fn the_core_s_start_failure_names_the_inbound_by_its_port() {
        let v2ray = "Failed to start v2ray.com/core/app/proxyman/inbound: failed to listen TCP \
            on 50965 > v2ray.com/core/transport/internet: failed to listen on address: \
            127.0.0.1:50965 > listen tcp 127.0.0.1:50965: bind: address already in use";
        let s = state(vec![spec("a", 50965, &[]), spec("b", 443, &[])]);
        assert_eq!(named_listeners(v2ray, &s), ["a"]);
        let udp =
            "failed to listen UDP on 8388 > listen udp [::]:8388: bind: address already in use";
        assert_eq!(ports_named(udp), BTreeSet::from([8388]));
        assert!(named_listeners("exited with code 23: invalid config", &s).is_empty());
    }

    #[test]
    fn a_refusal_lasts_until_the_inbound_changes_in_what_it_was_refused_for() {
        let bound = spec("a", 2053, &["alice"]);
        let mut refusals = Refusals::default();
        refusals.refuse(&bound, Refused::Listener, "bind: address already in use");
        // A client more does not free the port: still refused, no new try.
        let mut more = refusals.clone();
        more.keep_unchanged(&state(vec![spec("a", 2053, &["alice", "bob"])]));
        assert!(more.contains("a"));
        assert_eq!(
            more.leave_out(&state(vec![bound.clone(), spec("b", 443, &[])]))
                .inbounds[0]
                .tag,
            "b"
        );
        // Another port, or the inbound switched off, is tried again.
        let mut moved = refusals.clone();
        moved.keep_unchanged(&state(vec![spec("a", 2054, &["alice"])]));
        assert!(moved.is_empty());
        let mut off = bound.clone();
        off.enable = false;
        let mut disabled = refusals.clone();
        disabled.keep_unchanged(&state(vec![off]));
        assert!(disabled.is_empty());
        // A configuration refusal may be about a client: a client change earns a new try.
        let mut config = Refusals::default();
        config.refuse(&bound, Refused::Config, "invalid UUID");
        config.keep_unchanged(&state(vec![spec("a", 2053, &["alice", "bob"])]));
        assert!(config.is_empty());
        assert_eq!(
            refusals.failures(),
            [InboundFailure {
                tag: "a".into(),
                message: "bind: address already in use".into()
            }]
        );
    }

    #[test]
    fn one_inbound_is_tested_on_the_core_s_own_settings() {
        let config = json!({"inbounds": [{"tag": "api", "port": 1}, {"tag": "a", "port": 2},
            {"tag": "b", "port": 3}], "outbounds": []});
        let tags = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
        let alone = only_inbound(&config, &tags, Some("b"));
        assert_eq!(
            alone["inbounds"],
            json!([{"tag": "api", "port": 1}, {"tag": "b", "port": 3}])
        );
        assert_eq!(
            only_inbound(&config, &tags, None)["inbounds"],
            json!([{"tag": "api", "port": 1}])
        );
        let running = json!({"inbounds": [{"tag": "api", "port": 1}, {"tag": "a", "port": 2}]});
        assert_eq!(new_or_changed(&config, Some(&running), &tags), ["b"]);
        assert_eq!(new_or_changed(&config, None, &tags), ["a", "b"]);
    }
}
