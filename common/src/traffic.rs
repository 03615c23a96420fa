//! Traffic batches: counter deltas the agent journals and the controller applies exactly once
//! (DESIGN §5).

use serde::{Deserialize, Serialize};

/// Event topic of traffic batches; each carries a journal sequence and is acknowledged.
pub const TOPIC: &str = "traffic";

/// Bytes moved since the previous batch by one user, inbound or outbound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Client email, inbound tag or outbound tag.
    pub name: String,
    pub up: u64,
    pub down: u64,
}

/// One poll's worth of deltas. `seq` increases by one per batch within an `epoch` (the life
/// of the agent's journal), so the controller can tell a duplicate from a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrafficBatch {
    /// Identifies the agent's journal: a reinstalled agent starts a new one at `seq` 1.
    #[serde(default)]
    pub epoch: String,
    pub seq: u64,
    /// When the agent took the sample (Unix ms).
    pub at_ms: i64,
    #[serde(default)]
    pub users: Vec<Delta>,
    #[serde(default)]
    pub inbounds: Vec<Delta>,
    #[serde(default)]
    pub outbounds: Vec<Delta>,
    /// Clients seen with traffic (or reported online by the core) in this interval.
    #[serde(default)]
    pub online: Vec<String>,
    /// Source addresses seen per client in the core's access log (only while some client
    /// has an IP limit).
    #[serde(default)]
    pub ips: Vec<ClientIps>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIps {
    pub email: String,
    pub ips: Vec<String>,
}

impl TrafficBatch {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.inbounds.is_empty() && self.outbounds.is_empty()
    }
}
