//! Controller configuration, layered: defaults → optional TOML file → `XFLEET_*` environment
//! variables → command-line flags. `Debug` masks secrets (the database password).

pub mod place;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the SQLite database, the CA, the gateway certificate and local credentials.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// Browser panel, native API and 3x-ui compatible API. Plain HTTP unless a certificate
    /// is set (`panel_cert_file`, or the `webCertFile` setting): keep it on loopback then.
    /// Empty: the `webListen`/`webPort` settings (the Settings page), else `127.0.0.1:2053`.
    pub panel_listen: String,
    /// PEM certificate chain for the panel listener; with `panel_key_file` it serves HTTPS.
    /// Empty: the `webCertFile`/`webKeyFile` settings (3x-ui's), read at start.
    pub panel_cert_file: String,
    /// PEM private key of `panel_cert_file`.
    pub panel_key_file: String,
    /// Agent gateway (TLS 1.3, mutual TLS for `/v1/connect`).
    pub gateway_listen: String,
    /// Public URL agents dial, written into enrollment tokens. Empty: `https://<first SAN>:<port>`.
    pub gateway_url: String,
    /// Names and addresses in the gateway certificate.
    pub gateway_sans: Vec<String>,
    /// Lifetime of the client certificates issued to agents.
    pub cert_lifetime_secs: u64,
    /// Default lifetime of an enrollment token.
    pub token_ttl_secs: u64,
    /// Heartbeat interval the controller asks agents for.
    pub heartbeat_secs: u64,
    /// A server is marked offline only after its channel has been gone this long.
    pub offline_grace_secs: u64,
    /// How often heartbeat times are written to the database, in one batch.
    pub last_seen_flush_secs: u64,
    /// Agent connections admitted per second after TLS; the rest get 503 + Retry-After.
    pub handshake_rate: u32,
    /// Admission burst above `handshake_rate`.
    pub handshake_burst: u32,
    /// Enrollment attempts per client IP per minute.
    pub enroll_per_minute: u32,
    /// Requests for the installer and agent binaries per client IP per minute (an install
    /// makes three).
    pub install_requests_per_minute: u32,
    /// Gateway connections one address (an IPv6 /64) may hold before it is authenticated by
    /// a client certificate; more are closed at once.
    pub gateway_pending_per_source: u32,
    /// Requests one agent may have running on the controller at once.
    pub max_in_flight: u32,
    /// Default time a queued task waits for its server before it expires.
    pub task_ttl_secs: u64,
    /// How long a 3x-ui request for a long server operation (core install, geo update)
    /// waits for it; past that it answers with the task id and the task carries on.
    pub compat_task_wait_secs: u64,
    /// Browser session lifetime; 0: the `sessionMaxAge` setting (minutes, the Settings page),
    /// else a week.
    pub session_ttl_secs: u64,
    /// Prefix of every panel and 3x-ui compatible route (3x-ui's `webBasePath`), e.g.
    /// `/secret-path/`. The native API stays at `/api/v1`. Empty: the `webBasePath` setting
    /// (the Settings page), else `/`.
    pub base_path: String,
    /// How often client quotas and expiries are checked against fleet-wide usage.
    pub limits_check_secs: u64,
    /// How often agents read their core's traffic counters (sent with the desired state).
    pub stats_interval_secs: u64,
    /// Days of hourly traffic history kept for charts; 0 keeps it forever.
    pub history_days: u64,
    /// Single-server mode: serve this host as the "Local server" through the agent built
    /// into the controller. Off for a controller that only manages remote agents.
    pub local_server: bool,
    /// The core binary the local server runs. Empty: the agent's search (`xray`, then
    /// `v2ray` on PATH, then 3x-ui's `/usr/local/x-ui/bin/xray-linux-*`).
    pub local_core_path: String,
    /// Subscription listener address (IP); empty: the `subListen` setting (all addresses).
    pub sub_listen: String,
    /// Subscription listener port; 0: the `subPort` setting (default 2096).
    pub sub_port: u16,
    /// Subscription requests per client IP per minute; past it, 429.
    pub sub_requests_per_minute: u32,
    /// Log filter, e.g. `info` or `xfleet_controller=debug`.
    pub log: String,
    /// The first start's admin password, instead of standard output (and so the journal).
    /// A file that exists holds the password to use (its first line); otherwise a password
    /// is generated and written there, readable only by the controller's user. Read only
    /// when there is no admin account yet.
    pub admin_password_file: String,
    /// A key file sealing the CA key and the gateway key in the database (AES-256-GCM): the
    /// database alone, or a dump of it, then does not give them away. Every controller of the
    /// fleet needs a copy of the same file. Created (owner-only) when it does not exist; empty:
    /// the keys are stored as they are, like the password hashes beside them.
    pub trust_key_file: String,
    /// Folder of agent binaries handed out (`xfleet-agent-<version>-linux-<arch>`). Empty:
    /// beside the `xfleet` executable (`agents/`, `../lib/xfleet/agents/`, and `xfleet-agent`
    /// itself as this build for this host).
    pub agent_binaries_dir: String,
    /// Cloudflare WARP's account API (base URL with its version path), which registers WARP
    /// devices for the WireGuard outbound. Changed only to point at a mirror or a test double.
    pub warp_api_url: String,
    /// Where the controller fetches the Xray release zips it sends to agents: `{version}`
    /// and `{arch}` (`64`, `arm64-v8a`) are filled in; the checksum is the same URL with
    /// `.dgst` appended.
    pub core_url_template: String,
    /// Geo file sources over 3x-ui's sets, as `name=url` (`geoip.dat=https://…`); a name
    /// listed here replaces that set's source or adds a file.
    pub geo_urls: Vec<String>,
    /// MiB per second all files sent to agents (agent updates, core releases, geo files)
    /// may take together; 0 for no limit. What is left of the CPU and the uplink keeps
    /// calls, heartbeats and the panel quick during a fleet-wide push.
    pub transfer_mib_per_sec: u32,
    /// Prometheus metrics listener (`GET /metrics`), e.g. `10.0.0.5:9464`; empty: off.
    /// Plain HTTP, meant for a private network; with `metrics_user` it asks for basic auth.
    pub metrics_listen: String,
    /// The user name a scrape must give (basic auth); empty: no credential is asked for.
    pub metrics_user: String,
    /// File whose first line is the password of `metrics_user`.
    pub metrics_password_file: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./xfleet-data"),
            database_url: String::new(),
            panel_listen: String::new(),
            panel_cert_file: String::new(),
            panel_key_file: String::new(),
            gateway_listen: "0.0.0.0:2054".into(),
            gateway_url: String::new(),
            gateway_sans: Vec::new(),
            cert_lifetime_secs: 30 * 24 * 3600,
            token_ttl_secs: 3600,
            heartbeat_secs: 25,
            offline_grace_secs: 90,
            last_seen_flush_secs: 30,
            handshake_rate: 100,
            handshake_burst: 200,
            enroll_per_minute: 10,
            install_requests_per_minute: 30,
            transfer_mib_per_sec: 64,
            gateway_pending_per_source: 16,
            max_in_flight: xfleet_common::protocol::DEFAULT_MAX_IN_FLIGHT,
            task_ttl_secs: 24 * 3600,
            compat_task_wait_secs: 60,
            session_ttl_secs: 0,
            base_path: String::new(),
            limits_check_secs: 10,
            stats_interval_secs: 10,
            history_days: 90,
            local_server: true,
            local_core_path: String::new(),
            sub_listen: String::new(),
            sub_port: 0,
            sub_requests_per_minute: 60,
            log: "info".into(),
            admin_password_file: String::new(),
            trust_key_file: String::new(),
            agent_binaries_dir: String::new(),
            warp_api_url: "https://api.cloudflareclient.com/v0a2158".into(),
            core_url_template: xfleet_agent::config::DEFAULT_CORE_URL_TEMPLATE.into(),
            geo_urls: Vec::new(),
            metrics_listen: String::new(),
            metrics_user: String::new(),
            metrics_password_file: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl Config {
    /// Defaults, then the file (if any), then `XFLEET_<KEY>` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::try_from(Self::default()).expect("defaults serialize");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let from_file: toml::Table = toml::from_str(&text).map_err(|e| invalid(path, e))?;
            for (k, v) in from_file {
                table.insert(k, v);
            }
            // Validate the file alone so its errors name the file.
            toml::Value::Table(table.clone())
                .try_into::<Self>()
                .map_err(|e| invalid(path, e))?;
        }
        for (key, value) in env {
            let Some(name) = key.strip_prefix("XFLEET_") else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let Some(current) = table.get(&name) else {
                continue;
            };
            let parsed = parse_env_value(current, &value).ok_or_else(|| ConfigError::Invalid {
                origin: key.clone(),
                message: format!("`{value}` is not a valid value"),
            })?;
            table.insert(name, parsed);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                origin: "environment".into(),
                message: e.to_string(),
            })
    }

    /// The base path with one leading and no trailing slash (`""` for the root).
    pub fn base_prefix(&self) -> String {
        let trimmed = self.base_path.trim().trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            crate::store::sqlite_url(&self.data_dir.join("xfleet.db"))
        } else {
            self.database_url.clone()
        }
    }
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Reads an environment value as the type the key already has.
fn parse_env_value(current: &toml::Value, raw: &str) -> Option<toml::Value> {
    Some(match current {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().ok()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().ok()?),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

/// Hides the password of a database URL.
pub fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &mask_url(&self.database_url))
            .field("panel_listen", &self.panel_listen)
            .field("panel_cert_file", &self.panel_cert_file)
            .field("panel_key_file", &self.panel_key_file)
            .field("gateway_listen", &self.gateway_listen)
            .field("gateway_url", &self.gateway_url)
            .field("gateway_sans", &self.gateway_sans)
            .field("cert_lifetime_secs", &self.cert_lifetime_secs)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("offline_grace_secs", &self.offline_grace_secs)
            .field("local_server", &self.local_server)
            .field("local_core_path", &self.local_core_path)
            .field("sub_listen", &self.sub_listen)
            .field("sub_port", &self.sub_port)
            .field("metrics_listen", &self.metrics_listen)
            .field("metrics_user", &self.metrics_user)
            .field("metrics_password_file", &self.metrics_password_file)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = crate::util::TempDir::new("config");
        let file = dir.path().join("xfleet.toml");
        std::fs::write(
            &file,
            "heartbeat_secs = 10\npanel_listen = \"0.0.0.0:80\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("XFLEET_HEARTBEAT_SECS", "5"),
                ("XFLEET_GATEWAY_SANS", "a.example, 10.0.0.1"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.heartbeat_secs, 5, "env beats file");
        assert_eq!(c.panel_listen, "0.0.0.0:80", "file beats defaults");
        assert_eq!(c.gateway_sans, vec!["a.example", "10.0.0.1"]);
        assert_eq!(c.token_ttl_secs, 3600, "defaults remain");
        assert!(c.local_server, "single-server mode is on by default");
        let off = Config::load(None, env(&[("XFLEET_LOCAL_SERVER", "false")])).unwrap();
        assert!(!off.local_server);
        let sub = Config::load(
            None,
            env(&[
                ("XFLEET_SUB_PORT", "8443"),
                ("XFLEET_SUB_LISTEN", "127.0.0.1"),
            ]),
        )
        .unwrap();
        assert_eq!((sub.sub_listen.as_str(), sub.sub_port), ("127.0.0.1", 8443));
        assert!(sub.metrics_listen.is_empty(), "metrics are off by default");
        let metrics =
            Config::load(None, env(&[("XFLEET_METRICS_LISTEN", "127.0.0.1:9464")])).unwrap();
        assert_eq!(metrics.metrics_listen, "127.0.0.1:9464");
        let tls = Config::load(
            None,
            env(&[
                ("XFLEET_PANEL_CERT_FILE", "/etc/xfleet/panel.crt"),
                ("XFLEET_PANEL_KEY_FILE", "/etc/xfleet/panel.key"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (tls.panel_cert_file.as_str(), tls.panel_key_file.as_str()),
            ("/etc/xfleet/panel.crt", "/etc/xfleet/panel.key")
        );
    }

    #[test]
    fn bad_input_names_its_origin() {
        let dir = crate::util::TempDir::new("config");
        let file = dir.path().join("xfleet.toml");
        std::fs::write(&file, "heartbeat_sec = 10\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("xfleet.toml") && err.contains("heartbeat_sec"),
            "{err}"
        );
        let err = Config::load(None, env(&[("XFLEET_HEARTBEAT_SECS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("XFLEET_HEARTBEAT_SECS"), "{err}");
    }

    #[test]
    fn secrets_are_masked() {
        let c = Config {
            database_url: "postgres://xfleet:hunter2@db/xfleet".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("xfleet:***@db"),
            "{shown}"
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../xfleet.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        assert!(c.local_server);
    }
}
