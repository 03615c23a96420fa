//! Method names and bodies of the RPCs carried by the channel.

use std::time::Duration;

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
    /// Takes a new agent binary from the call's stream ([`super::AgentUpdateRequest`] →
    /// [`super::AgentUpdateAnswer`]), checks its digest and signature, and restarts into it
    /// on trial; the outcome comes back in a later Hello (`Hello::update`).
    pub const UPDATE: &str = "agent.update";
    /// The gateway addresses of the fleet's controllers changed ([`super::Controllers`] →
    /// `{}`): where the agent goes when its controller stops answering. Sent to connected
    /// agents when a controller starts or stops; the same list as `Welcome::controllers`.
    pub const CONTROLLERS: &str = "agent.controllers";
}

/// Body of [`agent::CONTROLLERS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Controllers {
    pub controllers: Vec<String>,
}

/// Methods the agent answers about its core (Xray or v2ray). Each fails with
/// [`crate::protocol::code::CORE_UNAVAILABLE`] when the agent found no usable core.
pub mod core_methods {
    /// Starts the core with the configuration applied last ([`CoreState`] answer); fails with
    /// `no_config` before the controller applied a state.
    pub const START: &str = "core.start";
    /// Stops the core; the agent's watchdog leaves it stopped ([`CoreState`] answer).
    pub const STOP: &str = "core.stop";
    /// Stops and starts the core with the configuration applied last ([`CoreState`] answer).
    pub const RESTART: &str = "core.restart";
    /// [`CoreVersion`] of the core binary the agent runs.
    pub const VERSION: &str = "core.version";
    /// [`RunningConfig`]: the configuration the core runs (or will run on `core.start`).
    pub const CONFIG: &str = "core.config";
    /// [`CoreLogs`] selected by [`CoreLogsQuery`].
    pub const LOGS: &str = "core.logs";
    /// The core's access log: the newest [`AccessLogEntries`] matching an
    /// [`AccessLogQuery`]. Older agents answer `unsupported`.
    pub const ACCESS_LOG: &str = "core.access_log";
    /// Keys made by the core's own generator ([`KeyRequest`] → [`GeneratedKeys`]); an Xray
    /// core only, refused as `unsupported` on v2ray, which has no such commands.
    pub const GENERATE: &str = "core.generate";
    /// Fetches a URL through one outbound in a temporary core of the same binary
    /// ([`OutboundTestRequest`] → [`OutboundTestAnswer`]); the running core is not touched.
    pub const TEST_OUTBOUND: &str = "core.test_outbound";
    /// Every `core.*` method.
    pub const ALL: &[&str] = &[
        START,
        STOP,
        RESTART,
        VERSION,
        CONFIG,
        LOGS,
        ACCESS_LOG,
        GENERATE,
        TEST_OUTBOUND,
    ];
}

/// Methods the controller answers.
pub mod controller {
    /// Signs a fresh CSR for the calling server ([`CertRenewRequest`]).
    pub const CERT_RENEW: &str = "cert.renew";
    /// Returns its body unchanged.
    pub const ECHO: &str = "echo";
}

/// Whether a method only reads: it changes nothing on the host, so calling it is not worth
/// an audit entry (the panel asks for some of them every few seconds).
pub fn is_read_only(method: &str) -> bool {
    matches!(
        method,
        agent::INFO
            | agent::SYSTEM_STATS
            | agent::ECHO
            | agent::SLEEP
            | core_methods::VERSION
            | core_methods::CONFIG
            | core_methods::LOGS
            | core_methods::ACCESS_LOG
    )
}

/// How long a caller waits for a method, by operation class (DESIGN §3); `sleep` waits
/// for the milliseconds its body asks for, and 5 s more.
pub fn default_deadline(method: &str, body: &serde_json::Value) -> Duration {
    let secs = match method {
        "echo" | "agent.info" | "system.stats" => 5,
        "state.apply" => 60,
        // Receiving, checking and staging the binary; the restart comes after the answer.
        "agent.update" => 300,
        // The agent bounds each step (config test 30 s, start 5 s, fetch 10 s).
        "core.test_outbound" => 60,
        "sleep" => return Duration::from_millis(body["ms"].as_u64().unwrap_or(0) + 5_000),
        m if m.starts_with("core.install") || m.starts_with("geo.") => 300,
        m if m.contains("backup") => 60,
        m if m.ends_with("restart") || m.ends_with("start") || m.ends_with("stop") => 30,
        _ => 15,
    };
    Duration::from_secs(secs)
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
    /// Sockets other programs listen on (the core's own inbounds left out), so the controller
    /// can refuse an inbound on a port that is taken before the core fails on it.
    #[serde(default)]
    pub listening: Vec<ListeningSocket>,
    /// Why the agent's last attempt to renew its certificate failed, in its own words;
    /// `None` once one succeeded, or before any was due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_error: Option<String>,
}

/// A socket listening on the host: a TCP listener, or a bound, unconnected UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListeningSocket {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The local address, `0.0.0.0` or `::` for all of them.
    pub address: String,
    pub port: u16,
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

/// Answer of `system.stats`: the fields of 3x-ui's status object, same names. A field an
/// older agent does not send reads as zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
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

/// What the core's process is doing. Answer of `core.start`, `core.stop` and `core.restart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CoreState {
    /// Not running, and not meant to be (never started, or stopped on request).
    #[default]
    Stopped,
    Running {
        pid: u32,
        /// Wall-clock start time, ms since the Unix epoch.
        since_ms: i64,
    },
    /// Meant to run but not running: it failed to start or exited, and the watchdog is
    /// retrying. `message` says why, with the core's last words.
    Error { message: String },
}

impl CoreState {
    /// The same state in 3x-ui's words, for `system.stats`.
    pub fn status(&self, version: &str) -> CoreStatus {
        let (state, error_msg) = match self {
            CoreState::Stopped => ("stop", String::new()),
            CoreState::Running { .. } => ("running", String::new()),
            CoreState::Error { message } => ("error", message.clone()),
        };
        CoreStatus {
            state: state.into(),
            error_msg,
            version: version.into(),
        }
    }
}

/// Answer of `core.version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CoreVersion {
    /// As the core prints it, e.g. `1.8.24`.
    pub version: String,
    /// `xray` or `v2ray`.
    pub flavour: String,
    /// Path of the binary the agent runs.
    pub binary: String,
}

/// Answer of `core.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningConfig {
    pub config: serde_json::Value,
}

/// Severity of a core log line, in the core's own four levels; ordered, so a query can ask for
/// a level and everything above it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum CoreLogLevel {
    #[default]
    Debug,
    Info,
    #[serde(alias = "warn")]
    Warning,
    Error,
}

/// Body of `core.logs`; an empty body takes the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreLogsQuery {
    /// At most this many lines, the newest ones.
    #[serde(default = "default_log_count")]
    pub count: u32,
    /// Only lines at this level or above.
    #[serde(default)]
    pub level: CoreLogLevel,
}

impl Default for CoreLogsQuery {
    fn default() -> Self {
        Self {
            count: default_log_count(),
            level: CoreLogLevel::Debug,
        }
    }
}

fn default_log_count() -> u32 {
    100
}

/// Answer of `core.logs`: oldest first, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CoreLogs {
    pub lines: Vec<CoreLogLine>,
}

/// One line the core printed, without its own timestamp and level marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreLogLine {
    /// When the agent read it, ms since the Unix epoch.
    pub at_ms: i64,
    pub level: CoreLogLevel,
    pub text: String,
}

/// Most access log entries one `core.access_log` call returns.
pub const MAX_ACCESS_LOG_ENTRIES: u32 = 10_000;

/// Body of `core.access_log`, with 3x-ui's filters (`xraylogs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogQuery {
    /// At most this many entries, the newest ones (1 to [`MAX_ACCESS_LOG_ENTRIES`]).
    #[serde(default = "default_log_count")]
    pub count: u32,
    /// Only lines containing this text (case-insensitive); empty: every line.
    #[serde(default)]
    pub filter: String,
    /// Connections sent to a `freedom` outbound.
    #[serde(default = "yes")]
    pub direct: bool,
    /// Connections sent to a `blackhole` outbound, or refused by the core.
    #[serde(default = "yes")]
    pub blocked: bool,
    /// Connections sent to any other outbound.
    #[serde(default = "yes")]
    pub proxy: bool,
}

impl Default for AccessLogQuery {
    fn default() -> Self {
        Self {
            count: default_log_count(),
            filter: String::new(),
            direct: true,
            blocked: true,
            proxy: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// How 3x-ui classifies an access log line, by the protocol of the outbound it went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessEvent {
    Direct,
    Blocked,
    Proxy,
}

/// Answer of `core.access_log`: oldest first, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AccessLogEntries {
    pub entries: Vec<AccessLogEntry>,
    /// Fewer entries than asked for were sent to keep the answer small.
    #[serde(default)]
    pub truncated: bool,
}

/// One line of the core's access log. Xray names the inbound (`[in >> out]`); v2ray 4.x
/// names only the outbound, so `inbound` is empty there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// As the core wrote it (`2024/05/01 10:00:00[.123456]`), in the host's time zone.
    pub time: String,
    pub source: String,
    /// `accepted` or `rejected`.
    pub status: String,
    pub destination: String,
    #[serde(default)]
    pub inbound: String,
    #[serde(default)]
    pub outbound: String,
    #[serde(default)]
    pub email: String,
    pub event: AccessEvent,
}

/// Body of `core.generate`: which of the core's generators to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KeyRequest {
    /// `xray mldsa65`: a REALITY ML-DSA-65 signing key.
    Mldsa65,
    /// `xray mlkem768`: an ML-KEM-768 key pair.
    Mlkem768,
    /// `xray vlessenc`: VLESS Encryption `decryption`/`encryption` pairs.
    Vlessenc,
    /// `xray tls ech --serverName <server_name>`: ECH keys for a TLS inbound.
    Ech { server_name: String },
}

/// Body of `core.test_outbound`: the outbound under test, the others it may need (a chained
/// outbound names another by `proxySettings.tag` or `sockopt.dialerProxy`), and the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundTestRequest {
    pub outbound: serde_json::Value,
    #[serde(default)]
    pub all_outbounds: Vec<serde_json::Value>,
    /// An `http://` or `https://` URL.
    pub url: String,
}

/// Answer of `core.test_outbound`, in 3x-ui's shape: `delay` is the time in ms from opening
/// the connection through the outbound to the response's status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutboundTestAnswer {
    pub success: bool,
    pub delay: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed, in the core's own words when the core refused the outbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `core.generate`: what the generator printed, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GeneratedKeys {
    Mldsa65 {
        seed: String,
        verify: String,
    },
    Mlkem768 {
        seed: String,
        client: String,
    },
    Vlessenc {
        auths: Vec<VlessEncAuth>,
    },
    Ech {
        config_list: String,
        server_keys: String,
    },
}

/// One authentication of `xray vlessenc`: its label (`X25519, not Post-Quantum`) and the pair
/// to use together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlessEncAuth {
    pub label: String,
    pub decryption: String,
    pub encryption: String,
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
    /// Set when the controller sends the release zip as the call's stream (protocol 2): its
    /// SHA-256, lower-case hex, which the agent checks before unpacking anything. Absent, the
    /// agent downloads the release itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
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
    /// Set when the controller sends the files as the call's stream (protocol 2): the files
    /// one after another, in this order, each checked against its SHA-256. Absent, the agent
    /// downloads `files` itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streamed: Vec<GeoFilePart>,
}

/// One geo file in the stream of a `geo.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoFilePart {
    /// Plain file name in the core's assets directory, e.g. `geosite_IR.dat`.
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
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

/// Body of `agent.update`; the binary itself travels in the call's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentUpdateRequest {
    /// The version the new binary reports.
    pub version: String,
    /// `x86_64` or `aarch64`: must be the agent's own.
    pub arch: String,
    /// Hex SHA-256 of the binary.
    pub sha256: String,
    /// ECDSA P-256 SHA-256 signature (ASN.1 DER) over [`update_signed_message`], made with
    /// the controller's CA key.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Answer of `agent.update`: the binary was checked and staged; the agent restarts into it
/// right after answering and has `trial_ms` to reconnect before it rolls back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AgentUpdateAnswer {
    pub from_version: String,
    pub version: String,
    pub trial_ms: u64,
}

/// Domain separation for agent update signatures, so no other signature made with the CA
/// key can pass for one.
pub const UPDATE_SIGNATURE_CONTEXT: &[u8] = b"xfleet-agent-update-v1\0";

/// The exact bytes an agent update signature covers:
/// `context || sha256_hex || 0 || version || 0 || arch`.
pub fn update_signed_message(sha256_hex: &str, version: &str, arch: &str) -> Vec<u8> {
    let mut message = UPDATE_SIGNATURE_CONTEXT.to_vec();
    for (i, part) in [sha256_hex, version, arch].iter().enumerate() {
        if i > 0 {
            message.push(0);
        }
        message.extend_from_slice(part.as_bytes());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{from_body, to_body};

    #[test]
    fn core_bodies_survive_the_wire() {
        for state in [
            CoreState::Stopped,
            CoreState::Running {
                pid: 42,
                since_ms: 1_700_000_000_000,
            },
            CoreState::Error {
                message: "exited with code 23".into(),
            },
        ] {
            let back: CoreState = from_body(&to_body(&state).unwrap()).unwrap();
            assert_eq!(back, state);
        }
        let config = RunningConfig {
            config: serde_json::json!({"inbounds": [{"port": 1080, "protocol": "socks"}]}),
        };
        let back: RunningConfig = from_body(&to_body(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn log_levels_order_and_a_query_takes_defaults() {
        assert!(CoreLogLevel::Debug < CoreLogLevel::Info);
        assert!(CoreLogLevel::Warning < CoreLogLevel::Error);
        let q: CoreLogsQuery = serde_json::from_str(r#"{"level": "warn"}"#).unwrap();
        assert_eq!((q.count, q.level), (100, CoreLogLevel::Warning));
        assert!(serde_json::from_str::<CoreLogsQuery>(r#"{"level": "loud"}"#).is_err());
    }

    #[test]
    fn core_state_reads_as_3x_ui_status() {
        let status = CoreState::Error {
            message: "bind: address already in use".into(),
        }
        .status("4.34.0");
        assert_eq!(
            (status.state.as_str(), status.version.as_str()),
            ("error", "4.34.0")
        );
        assert_eq!(status.error_msg, "bind: address already in use");
        assert_eq!(CoreState::Stopped.status("").state, "stop");
    }

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
