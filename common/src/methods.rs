//! Method names and bodies of the RPCs carried by the channel.

use serde::{Deserialize, Serialize};

/// Methods the agent answers.
pub mod agent {
    pub const INFO: &str = "agent.info";
    pub const SYSTEM_STATS: &str = "system.stats";
    /// Returns its body unchanged; used by benchmarks and diagnostics.
    pub const ECHO: &str = "echo";
    /// Sleeps for the given milliseconds, then answers; lets operators and tests probe
    /// cancellation and head-of-line behaviour on a live channel.
    pub const SLEEP: &str = "sleep";
    /// Installs a core version from its release zip ([`super::CoreInstallRequest`] →
    /// [`super::CoreInstallAnswer`]); the running core keeps running until it is restarted.
    pub const CORE_INSTALL: &str = "core.install";
    /// Refreshes geo files in the core's assets directory ([`super::GeoUpdateRequest`] →
    /// [`super::GeoUpdateAnswer`]).
    pub const GEO_UPDATE: &str = "geo.update";
}

/// Methods the controller answers.
pub mod controller {
    /// Signs a fresh CSR for the calling server ([`CertRenewRequest`]).
    pub const CERT_RENEW: &str = "cert.renew";
    /// Returns its body unchanged.
    pub const ECHO: &str = "echo";
}

/// Answer of `agent.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AgentInfo {
    pub version: String,
    pub os: String,
    pub arch: String,
    pub hostname: String,
    pub kernel: String,
    pub uptime_s: u64,
    /// Process id and start time identify one run of the agent.
    pub pid: u32,
    pub started_at_ms: i64,
}

/// Body of the `heartbeat` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Heartbeat {
    pub cpu_percent: f32,
    pub mem_used: u64,
    pub mem_total: u64,
    pub load1: f64,
    pub uptime_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Usage {
    pub current: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CoreStatus {
    /// `running`, `stop` or `error`, as 3x-ui reports it.
    pub state: String,
    #[serde(rename = "errorMsg")]
    pub error_msg: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetIo {
    pub up: u64,
    pub down: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetTraffic {
    pub sent: u64,
    pub recv: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PublicIp {
    pub ipv4: String,
    pub ipv6: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AppStats {
    pub threads: u32,
    pub mem: u64,
    pub uptime: u64,
}

/// Answer of `system.stats`: the fields of 3x-ui's status object, same names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SystemStats {
    pub cpu: f64,
    pub cpu_cores: u32,
    pub logical_pro: u32,
    pub cpu_speed_mhz: f64,
    pub mem: Usage,
    pub swap: Usage,
    pub disk: Usage,
    pub xray: CoreStatus,
    pub uptime: u64,
    pub loads: [f64; 3],
    pub tcp_count: u64,
    pub udp_count: u64,
    #[serde(rename = "netIO")]
    pub net_io: NetIo,
    pub net_traffic: NetTraffic,
    #[serde(rename = "publicIP")]
    pub public_ip: PublicIp,
    pub app_stats: AppStats,
}

/// Body of `sleep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sleep {
    pub ms: u64,
}

/// Body of `cert.renew`: a CSR for a key the agent just generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertRenewRequest {
    pub csr_pem: String,
}

/// Answer of `cert.renew` and of enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    pub server_id: i64,
    pub cert_pem: String,
    pub ca_pem: String,
    pub serial: String,
    pub not_after_ms: i64,
}

/// Body of `core.install`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreInstallRequest {
    /// Release version, with or without the tag's leading `v` (`25.3.6`, `v25.3.6`).
    pub version: String,
}

/// Answer of `core.install`: the new binary passed its version check and config test and is in
/// place; the old one is kept beside it for a rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CoreInstallAnswer {
    /// The version the new binary reports.
    pub version: String,
    /// The version the replaced binary reported; absent on a first install.
    #[serde(default)]
    pub previous_version: Option<String>,
    /// Where the binary is.
    pub path: String,
}

/// Body of `geo.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GeoUpdateRequest {
    /// File names such as `geoip.dat`; empty means every file the agent is configured with.
    /// A name the agent is not configured with is refused.
    #[serde(default)]
    pub files: Vec<String>,
}

/// Answer of `geo.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GeoUpdateAnswer {
    /// Files replaced with new content: the core needs a restart only if this is not empty.
    #[serde(default)]
    pub changed: Vec<String>,
    /// Files whose source said they had not changed.
    #[serde(default)]
    pub unchanged: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{from_body, to_body};

    #[test]
    fn maintenance_bodies_round_trip_and_tolerate_missing_fields() {
        let answer = CoreInstallAnswer {
            version: "25.3.6".into(),
            previous_version: Some("25.1.1".into()),
            path: "/var/lib/xfleet-agent/bin/xray".into(),
        };
        let back: CoreInstallAnswer = from_body(&to_body(&answer).unwrap()).unwrap();
        assert_eq!(back, answer);

        // What an older or terser peer sends: only the required fields.
        #[derive(Serialize)]
        struct Bare {
            version: &'static str,
            path: &'static str,
        }
        let bare = to_body(&Bare {
            version: "1.0",
            path: "/x",
        })
        .unwrap();
        let back: CoreInstallAnswer = from_body(&bare).unwrap();
        assert_eq!(back.previous_version, None);

        #[derive(Serialize)]
        struct Empty {}
        let empty = to_body(&Empty {}).unwrap();
        assert!(from_body::<GeoUpdateRequest>(&empty)
            .unwrap()
            .files
            .is_empty());
        assert_eq!(
            from_body::<GeoUpdateAnswer>(&empty).unwrap(),
            GeoUpdateAnswer::default()
        );
        assert!(from_body::<CoreInstallRequest>(&empty).is_err());
    }
}
