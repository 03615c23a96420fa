//! The subscription settings, under 3x-ui's keys in the `settings` table. Content options are
//! read on every request; the listener's (`subEnable`, `subListen`, `subPort`, `subCertFile`,
//! `subKeyFile`) when the controller starts, and `XFLEET_SUB_LISTEN`/`XFLEET_SUB_PORT` win.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::config::Config;
use crate::https;
use crate::store::{Result, Store};

/// The bound subscription listener, for building subscription URLs.
#[derive(Debug, Clone, Copy)]
pub struct SubListener {
    pub addr: SocketAddr,
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubSettings {
    pub enable: bool,
    pub listen: String,
    pub port: u16,
    /// Normalised to `/x/`.
    pub path: String,
    pub json_enable: bool,
    pub json_path: String,
    pub clash_enable: bool,
    pub clash_path: String,
    /// When set, the request's Host must be this name.
    pub domain: String,
    pub cert_file: String,
    pub key_file: String,
    /// Public base URLs of the three formats, overriding the listener's own address.
    pub uri: String,
    pub json_uri: String,
    pub clash_uri: String,
    /// Hours, for `Profile-Update-Interval`.
    pub updates: u32,
    /// Base64 the link list.
    pub encrypt: bool,
    pub show_info: bool,
    pub title: String,
    pub support_url: String,
    pub profile_url: String,
    pub remark_model: String,
    /// A message for the client app's users (`Announce`) and the page.
    pub announce: String,
    /// Routing rules for client apps that take them (Happ), sent as `Routing` while
    /// `routing_enable` is on.
    pub routing_enable: bool,
    pub routing_rules: String,
}

impl SubSettings {
    /// The listener's TLS, from the certificate chain and key files the settings name.
    pub fn server_tls(&self) -> std::result::Result<https::ServerTls, https::TlsFileError> {
        https::server_tls(&https::PemFiles {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            cert_setting: "subCertFile".into(),
            key_setting: "subKeyFile".into(),
        })
    }

    /// The settings from the table, with 3x-ui's defaults for missing keys (JSON and Clash
    /// are on by default here; 3x-ui v3 has them off).
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        let text = |key: &str, default: &str| {
            map.get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let flag = |key: &str, default: bool| match map.get(key).map(|v| v.trim()) {
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            _ => default,
        };
        Self {
            enable: flag("subEnable", true),
            listen: text("subListen", ""),
            port: text("subPort", "2096").parse().unwrap_or(2096),
            path: normalise_path(&text("subPath", "/sub/")),
            json_enable: flag("subJsonEnable", true),
            json_path: normalise_path(&text("subJsonPath", "/json/")),
            clash_enable: flag("subClashEnable", true),
            clash_path: normalise_path(&text("subClashPath", "/clash/")),
            domain: text("subDomain", ""),
            cert_file: text("subCertFile", ""),
            key_file: text("subKeyFile", ""),
            uri: text("subURI", ""),
            json_uri: text("subJsonURI", ""),
            clash_uri: text("subClashURI", ""),
            updates: text("subUpdates", "12").parse().unwrap_or(12),
            encrypt: flag("subEncrypt", true),
            show_info: flag("subShowInfo", true),
            title: text("subTitle", ""),
            support_url: text("subSupportUrl", ""),
            profile_url: text("subProfileUrl", ""),
            remark_model: text("remarkModel", super::remark::DEFAULT_MODEL),
            announce: text("subAnnounce", ""),
            routing_enable: flag("subEnableRouting", true),
            routing_rules: text("subRoutingRules", ""),
        }
    }

    pub async fn load(store: &Store) -> Result<Self> {
        Ok(Self::from_map(&store.settings().await?))
    }

    /// Where the listener binds: the configuration's overrides, else the settings.
    pub fn bind_address(&self, config: &Config) -> String {
        let listen = if config.sub_listen.is_empty() {
            self.listen.as_str()
        } else {
            config.sub_listen.as_str()
        };
        let port = if config.sub_port == 0 {
            self.port
        } else {
            config.sub_port
        };
        let host = match listen {
            "" => "0.0.0.0".to_owned(),
            ip if ip.contains(':') && !ip.starts_with('[') => format!("[{ip}]"),
            ip => ip.to_owned(),
        };
        format!("{host}:{port}")
    }

    /// `scheme://host:port` of the subscription listener as clients reach it: `subDomain`,
    /// else the address it listens on when that is a specific one, else the host the caller
    /// used.
    pub fn public_base(&self, listener: Option<&SubListener>, request_host: &str) -> String {
        let (tls, port, ip) = match listener {
            Some(l) => (l.tls, l.addr.port(), Some(l.addr.ip())),
            None => (self.tls(), self.port, None),
        };
        let host = if !self.domain.is_empty() {
            self.domain.clone()
        } else {
            match ip {
                Some(ip) if !ip.is_unspecified() => ip.to_string(),
                _ => request_host.to_owned(),
            }
        };
        let scheme = if tls { "https" } else { "http" };
        let default_port = if tls { 443 } else { 80 };
        let host = super::url::host(&host);
        if port == default_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }

    /// TLS is asked for when either file is set; a missing partner is an error, not a
    /// quiet fallback to plain HTTP.
    pub fn tls(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }

    /// The public URLs of a subscription: from `subURI`/`subJsonURI`/`subClashURI` when set,
    /// else from `base` (the listener's scheme, domain or host, and port). JSON and Clash are
    /// `None` when turned off.
    pub fn urls(&self, base: &str, sub_id: &str) -> SubUrls {
        let join = |uri: &str, path: &str| {
            if uri.is_empty() {
                format!("{}{path}{sub_id}", base.trim_end_matches('/'))
            } else {
                format!("{}/{sub_id}", uri.trim_end_matches('/'))
            }
        };
        SubUrls {
            links: join(&self.uri, &self.path),
            json: self
                .json_enable
                .then(|| join(&self.json_uri, &self.json_path)),
            clash: self
                .clash_enable
                .then(|| join(&self.clash_uri, &self.clash_path)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubUrls {
    pub links: String,
    pub json: Option<String>,
    pub clash: Option<String>,
}

/// `sub`, `/sub`, `sub/` → `/sub/`.
pub fn normalise_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        format!("/{trimmed}/")
    }
}
