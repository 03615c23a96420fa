//! `agent.toml` and the files beside it in the config directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where `xfleet-agent` looks when no `--config-dir` is given.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/xfleet-agent";
/// Where enrollment puts the data directory when no `--data-dir` is given.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/xfleet-agent";

/// The agent's settings, as written by `enroll` and read by `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Agent gateway base URL, e.g. `https://ctl.example.com:2054`.
    pub controller_url: String,
    /// The gateways of the fleet's other controllers the enrollment token named, tried when
    /// `controller_url` does not answer (besides those the controllers tell the agent about,
    /// kept in the data directory's `controllers.json`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub controller_urls: Vec<String>,
    pub server_id: i64,
    /// Task results, status file and (later) desired state and journal.
    pub data_dir: PathBuf,
    pub reconnect: ReconnectConfig,
    pub core: CoreConfig,
    /// Log filter used when `RUST_LOG` is not set (`info`, `debug`, `xfleet_agent=trace`, …).
    pub log: String,
    /// Where core releases and geo files come from. Left out of the file `enroll` writes while
    /// it holds the defaults, so a later release's defaults apply.
    #[serde(skip_serializing_if = "MaintenanceConfig::is_default")]
    pub maintenance: MaintenanceConfig,
    /// When the core restarts to close the connections of clients taken out of it. Left out
    /// of the written file while it holds the defaults.
    #[serde(skip_serializing_if = "SessionCutConfig::is_default")]
    pub session_cut: SessionCutConfig,
    /// How agent self-updates are tried. Left out of the written file while it holds the
    /// defaults.
    #[serde(skip_serializing_if = "UpdateConfig::is_default")]
    pub update: UpdateConfig,
    /// The directory the config was loaded from; holds the key and certificates.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            controller_url: String::new(),
            controller_urls: Vec::new(),
            server_id: 0,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            reconnect: ReconnectConfig::default(),
            core: CoreConfig::default(),
            log: "info".into(),
            maintenance: MaintenanceConfig::default(),
            session_cut: SessionCutConfig::default(),
            update: UpdateConfig::default(),
            config_dir: PathBuf::from(DEFAULT_CONFIG_DIR),
        }
    }
}

/// The `[reconnect]` table: full-jitter exponential backoff between dials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconnectConfig {
    pub base_ms: u64,
    pub cap_ms: u64,
    /// A connection that lasted this long resets the backoff to `base_ms`.
    pub healthy_after_ms: u64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            cap_ms: 90_000,
            healthy_after_ms: 60_000,
        }
    }
}

impl ReconnectConfig {
    pub fn base(&self) -> Duration {
        Duration::from_millis(self.base_ms.max(1))
    }

    pub fn cap(&self) -> Duration {
        Duration::from_millis(self.cap_ms.max(self.base_ms).max(1))
    }

    pub fn healthy_after(&self) -> Duration {
        Duration::from_millis(self.healthy_after_ms)
    }
}

/// The `[core]` table: which Xray (or v2ray 4) binary to run and where its geo files live.
/// Both are optional; without them the agent searches (see `core::CoreBinary::discover`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    /// `geoip.dat`, `geosite.dat`; defaults to `<data_dir>/core/assets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets_dir: Option<PathBuf>,
}

/// The `[session_cut]` table. Taking a user out of the core through its API leaves that
/// user's open connections running; when users who were online are taken out (disabled,
/// removed, cut by local limits), the agent restarts the core once to close them. Changes
/// that come in a burst are coalesced into one restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionCutConfig {
    /// The restart waits this long after the last such change for more to come.
    pub quiet_ms: u64,
    /// At most one such restart in this long; also the longest a burst can postpone it.
    pub min_interval_ms: u64,
    /// A user counts as online when it had traffic (or the core listed it online) this
    /// recently.
    pub online_window_ms: u64,
}

impl Default for SessionCutConfig {
    fn default() -> Self {
        Self {
            quiet_ms: 3_000,
            min_interval_ms: 10_000,
            online_window_ms: 180_000,
        }
    }
}

impl SessionCutConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The `[update]` table: an updated agent that has not reached the controller within
/// `trial_ms` of starting rolls back to the previous binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    pub trial_ms: u64,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self { trial_ms: 60_000 }
    }
}

impl UpdateConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Xray's release layout on GitHub; `{version}` is the tag without its `v`.
pub const DEFAULT_CORE_URL_TEMPLATE: &str =
    "https://github.com/XTLS/Xray-core/releases/download/v{version}/Xray-linux-{arch}.zip";
const DEFAULT_GEO_BASE: &str =
    "https://github.com/Loyalsoldier/v2ray-rules-dat/releases/latest/download";

/// The `[maintenance]` table: sources for `core.install` and `geo.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Release zip URL; `{version}` and `{arch}` (`64`, `arm64-v8a`, …) are filled in. The
    /// checksum is read from the same URL with `.dgst` appended.
    pub core_url_template: String,
    /// Geo files `geo.update` may fetch, by file name. A configured table replaces the
    /// defaults, so it lists every file the host should keep.
    pub geo_urls: BTreeMap<String, String>,
    /// Largest download accepted, in MiB.
    pub download_limit_mb: u64,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        let geo = |name: &str| (name.to_owned(), format!("{DEFAULT_GEO_BASE}/{name}"));
        Self {
            core_url_template: DEFAULT_CORE_URL_TEMPLATE.into(),
            geo_urls: [geo("geoip.dat"), geo("geosite.dat")].into(),
            download_limit_mb: 200,
        }
    }
}

impl MaintenanceConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub fn download_limit_bytes(&self) -> u64 {
        self.download_limit_mb.saturating_mul(1 << 20)
    }

    fn validate(&self) -> Result<(), String> {
        let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        if !http(&self.core_url_template) || !self.core_url_template.contains("{version}") {
            return Err(
                "`maintenance.core_url_template` must be an http(s) URL containing {version}"
                    .into(),
            );
        }
        for (name, url) in &self.geo_urls {
            if !is_plain_file_name(name) {
                return Err(format!(
                    "`maintenance.geo_urls`: `{name}` must be a plain file name"
                ));
            }
            if !http(url) {
                return Err(format!(
                    "`maintenance.geo_urls.\"{name}\"` must be an http(s) URL"
                ));
            }
        }
        if self.download_limit_mb == 0 {
            return Err("`maintenance.download_limit_mb` must be at least 1".into());
        }
        Ok(())
    }
}

/// A name that stays inside the directory it is joined to, and is not hidden (temp files and
/// the agent's own bookkeeping start with a dot).
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The I/O error is part of the message, not a `source`, so it is printed once.
    #[error("cannot read {}: {error} (is this host enrolled? run `xfleet-agent enroll --token …`)", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The files of one enrolled agent inside its config directory.
#[derive(Debug, Clone)]
pub struct AgentFiles {
    pub config: PathBuf,
    /// The agent's private key (mode 0600); never leaves the host.
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: PathBuf,
}

impl AgentFiles {
    pub fn new(config_dir: &Path) -> Self {
        Self {
            config: config_dir.join("agent.toml"),
            key: config_dir.join("agent.key"),
            cert: config_dir.join("agent.pem"),
            ca: config_dir.join("ca.pem"),
        }
    }
}

impl AgentConfig {
    /// Reads `<config_dir>/agent.toml`.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = AgentFiles::new(config_dir).config;
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
            path: path.clone(),
            error,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.clone(),
            message,
        })?;
        config.config_dir = config_dir.to_owned();
        config
            .validate()
            .map_err(|message| ConfigError::Invalid { path, message })?;
        Ok(config)
    }

    /// Parses the TOML text; the error names the offending key (unknown keys included).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    fn validate(&self) -> Result<(), String> {
        if self.controller_url.is_empty() {
            return Err("`controller_url` is missing; enroll this host first".into());
        }
        if self.server_id <= 0 {
            return Err("`server_id` is missing; enroll this host first".into());
        }
        self.maintenance.validate()
    }

    /// The TOML text `enroll` writes.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("agent config serializes");
        format!("# Written by `xfleet-agent enroll`; see agent.example.toml for every key.\n{body}")
    }

    pub fn files(&self) -> AgentFiles {
        AgentFiles::new(&self.config_dir)
    }

    /// Where the running agent publishes its state for `status` and `healthcheck`.
    pub fn status_path(&self) -> PathBuf {
        self.data_dir.join("status.json")
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.data_dir.join("tasks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let config = AgentConfig::parse(include_str!("../agent.example.toml")).unwrap();
        assert_eq!(config.controller_url, "https://ctl.example.com:2054");
        assert_eq!(config.server_id, 7);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/xfleet-agent"));
        assert_eq!(config.reconnect, ReconnectConfig::default());
        assert_eq!(config.log, "info");
        assert_eq!(config.core, CoreConfig::default());
        assert_eq!(config.maintenance, MaintenanceConfig::default());
    }

    #[test]
    fn the_core_table_is_read() {
        let config = AgentConfig::parse(
            "[core]\nbinary = \"/usr/local/x-ui/bin/xray-linux-amd64\"\nassets_dir = \"/usr/local/x-ui/bin\"\n",
        )
        .unwrap();
        assert_eq!(
            config.core.binary.as_deref(),
            Some(Path::new("/usr/local/x-ui/bin/xray-linux-amd64"))
        );
        assert_eq!(
            config.core.assets_dir.as_deref(),
            Some(Path::new("/usr/local/x-ui/bin"))
        );
        let err = AgentConfig::parse("[core]\npath = \"/x\"").unwrap_err();
        assert!(err.contains("path"), "{err}");
    }

    #[test]
    fn maintenance_table_is_optional_and_checked() {
        let base = "controller_url = \"https://x:1\"\nserver_id = 3\n";
        let config = AgentConfig::parse(&format!(
            "{base}[maintenance]\ndownload_limit_mb = 5\n\
             [maintenance.geo_urls]\n\"geoip_RU.dat\" = \"https://mirror.example/geoip.dat\"\n"
        ))
        .unwrap();
        assert_eq!(config.maintenance.download_limit_bytes(), 5 << 20);
        assert_eq!(config.maintenance.geo_urls.len(), 1);
        assert_eq!(
            config.maintenance.core_url_template,
            DEFAULT_CORE_URL_TEMPLATE
        );
        config.validate().unwrap();

        for (table, key) in [
            (
                "[maintenance.geo_urls]\n\"../geoip.dat\" = \"https://x/g\"",
                "../geoip.dat",
            ),
            (
                "[maintenance.geo_urls]\n\"geoip.dat\" = \"ftp://x/g\"",
                "geoip.dat",
            ),
            (
                "[maintenance]\ncore_url_template = \"https://x/xray.zip\"",
                "core_url_template",
            ),
            ("[maintenance]\ndownload_limit_mb = 0", "download_limit_mb"),
        ] {
            let config = AgentConfig::parse(&format!("{base}{table}\n")).unwrap();
            let err = config.validate().unwrap_err();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn missing_keys_take_defaults() {
        let config = AgentConfig::parse(
            "controller_url = \"https://x:1\"\nserver_id = 3\n[reconnect]\ncap_ms = 5000\n",
        )
        .unwrap();
        assert_eq!(config.reconnect.cap_ms, 5000);
        assert_eq!(config.reconnect.base_ms, 1000);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(AgentConfig::parse("").unwrap().server_id, 0);
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = AgentConfig::parse("controler_url = \"x\"").unwrap_err();
        assert!(err.contains("controler_url"), "{err}");
        let err = AgentConfig::parse("[reconnect]\nbase = 5").unwrap_err();
        assert!(err.contains("base"), "{err}");
    }

    #[test]
    fn written_config_loads_back() {
        let dir = crate::testutil::TempDir::new("config");
        let config = AgentConfig {
            controller_url: "https://127.0.0.1:2054".into(),
            server_id: 12,
            core: CoreConfig {
                binary: Some("/opt/xray/xray".into()),
                assets_dir: None,
            },
            config_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let text = config.to_toml();
        // Defaults stay out of the file so a later release's defaults apply.
        assert!(!text.contains("maintenance"), "{text}");
        std::fs::write(config.files().config, text).unwrap();
        assert_eq!(AgentConfig::load(dir.path()).unwrap(), config);

        std::fs::write(config.files().config, "server_id = 1\n").unwrap();
        let err = AgentConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("controller_url"), "{err}");
    }
}
