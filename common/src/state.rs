//! The desired state of one server (DESIGN §4): what the controller wants its core to run.
//!
//! Inbounds keep 3x-ui's JSON shapes (`settings`, `streamSettings`, `sniffing`, with clients
//! inside `settings.clients`) so 3x-ui data and API bodies carry over unchanged; rendering
//! (`crate::xray`) turns them into a core configuration. Limits the agent enforces on its own
//! while the controller is away travel beside them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a server's agent needs to run its core, at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Increases with every change the controller makes for this server.
    pub revision: u64,
    pub inbounds: Vec<InboundSpec>,
    /// Per-client limits enforced locally (expiry, remaining quota).
    #[serde(default)]
    pub limits: Vec<ClientLimit>,
    /// How often the agent polls the core's traffic counters, in milliseconds.
    #[serde(default = "default_stats_interval_ms")]
    pub stats_interval_ms: u64,
    /// The operator's core config template (3x-ui's `xrayTemplateConfig`); `None` uses the
    /// built-in default. Inbounds from `inbounds` are added to it.
    #[serde(default)]
    pub template: Option<serde_json::Value>,
    /// Whether the agent restarts the core (once, debounced) after taking out clients who
    /// were online: removing a user through the core's API leaves its open connections
    /// running. 3x-ui's `restartXrayOnClientDisable`; on unless the controller says otherwise.
    #[serde(default = "yes")]
    pub restart_on_client_disable: bool,
}

impl Default for DesiredState {
    fn default() -> Self {
        Self {
            revision: 0,
            inbounds: Vec::new(),
            limits: Vec::new(),
            stats_interval_ms: default_stats_interval_ms(),
            template: None,
            restart_on_client_disable: true,
        }
    }
}

impl DesiredState {
    /// Source addresses refused per client email (IP limits), for clients that have any.
    pub fn ip_refusals(&self) -> BTreeMap<&str, Vec<&str>> {
        self.limits
            .iter()
            .filter(|l| !l.refused_ips.is_empty())
            .map(|l| {
                let mut ips: Vec<&str> = l.refused_ips.iter().map(String::as_str).collect();
                ips.sort_unstable();
                ips.dedup();
                (l.email.as_str(), ips)
            })
            .collect()
    }
}

pub fn default_stats_interval_ms() -> u64 {
    10_000
}

/// One inbound as 3x-ui stores it, with JSON fields as objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundSpec {
    /// Controller-side id.
    pub id: i64,
    /// Unique per server; the core's inbound tag and stats name.
    pub tag: String,
    #[serde(default = "yes")]
    pub enable: bool,
    /// Empty means all addresses.
    #[serde(default)]
    pub listen: String,
    pub port: u16,
    pub protocol: String,
    #[serde(default)]
    pub settings: serde_json::Value,
    #[serde(default, rename = "streamSettings")]
    pub stream_settings: serde_json::Value,
    #[serde(default)]
    pub sniffing: serde_json::Value,
}

fn yes() -> bool {
    true
}

/// Local enforcement data for one client (one email, fleet-wide identity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientLimit {
    pub email: String,
    /// Unix ms after which the client is cut; 0 = never.
    #[serde(default)]
    pub expiry_ms: i64,
    /// Bytes this server may still carry for the client before the controller's next word;
    /// `None` = unlimited.
    #[serde(default)]
    pub remaining_bytes: Option<u64>,
    /// Source addresses this client is refused from: its IP limit is taken by addresses seen
    /// first. The core routes the client's traffic from them to a blackhole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_ips: Vec<String>,
}

/// Methods that carry desired state.
pub mod method {
    /// Body [`ApplyState`]; answer [`Applied`].
    pub const APPLY: &str = "state.apply";
    /// Body [`ApplyState`] (a full state); answer `{}` when the core would run it. Nothing is
    /// applied: a template the core refuses is answered `invalid_config` with its words.
    pub const CHECK: &str = "state.check";
}

/// Body of `state.apply`: a full state, or a diff against the agent's revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyState {
    Full(DesiredState),
    Diff(StateDiff),
}

/// Changes from `base_revision` to `revision`; the agent refuses a diff whose base is not
/// the revision it has (the controller then sends a full state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StateDiff {
    pub base_revision: u64,
    pub revision: u64,
    /// Inbounds added or changed (whole inbound, matched by tag).
    #[serde(default)]
    pub upsert: Vec<InboundSpec>,
    /// Tags of inbounds removed.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Replaces the whole limits list when present.
    #[serde(default)]
    pub limits: Option<Vec<ClientLimit>>,
    #[serde(default)]
    pub stats_interval_ms: Option<u64>,
    #[serde(default)]
    pub restart_on_client_disable: Option<bool>,
}

/// Answer of `state.apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Applied {
    pub revision: u64,
    /// Whether the core had to restart (the change could not go through its API).
    pub restarted: bool,
    /// Client and inbound changes made live through the core's API.
    pub live_changes: u32,
    /// Every inbound of the state the core runs without, because it could not take it; the
    /// rest of the state is applied. Empty when the core runs the whole state.
    #[serde(default)]
    pub failed: Vec<InboundFailure>,
}

/// One inbound the core could not take (a port another program holds, a setting the core
/// refuses). The agent leaves it out of the configuration the core runs and tries it again
/// only when the controller sends it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundFailure {
    pub tag: String,
    /// The core's own words (or the renderer's, for what no core can run).
    pub message: String,
}

/// Event topic: the agent's full list of failed inbounds ([`InboundFailures`]), sent when a
/// connection comes up so the controller learns failures found while it was away.
pub const FAILURES_TOPIC: &str = "inbounds.failed";

/// Body of the [`FAILURES_TOPIC`] event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InboundFailures {
    /// The revision the agent runs.
    pub revision: u64,
    pub failed: Vec<InboundFailure>,
}
