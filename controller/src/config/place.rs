//! Where the panel listens, under which path, and from which TLS files. The configuration
//! (file, `XFLEET_*` variables, flags) wins; left empty, 3x-ui's `webListen`, `webPort`,
//! `webBasePath`, `webCertFile` and `webKeyFile` settings decide (the Settings page edits
//! them), read at each start; without those, `127.0.0.1:2053`, `/` and plain HTTP.
//!
//! An address from the settings that cannot be bound does not keep the controller down: it
//! serves on the default loopback address instead and the Settings page says why.

use std::net::IpAddr;

use serde::Serialize;
use tokio::net::TcpListener;

use super::Config;
use crate::https::PemFiles;
use crate::store::{Result, Store};

pub const DEFAULT_ADDRESS: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 2053;

/// Which of the panel's place came from where, for the Settings page and the settings API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PanelPlace {
    /// `panel_listen` is set in the configuration; `webListen`/`webPort` are not used.
    pub listen_fixed: bool,
    /// `base_path` is set in the configuration; `webBasePath` is not used.
    pub base_fixed: bool,
    /// The settings asked for an address that could not be bound: what and why.
    pub problem: Option<String>,
}

/// Fills `panel_listen` and `base_path` from the settings where the configuration left
/// them empty.
pub async fn resolve(config: &mut Config, store: &Store) -> Result<PanelPlace> {
    let place = PanelPlace {
        listen_fixed: !config.panel_listen.trim().is_empty(),
        base_fixed: !config.base_path.trim().is_empty(),
        problem: None,
    };
    if !place.listen_fixed {
        let address = store.setting("webListen").await?.unwrap_or_default();
        let port = store.setting("webPort").await?.unwrap_or_default();
        let address = check_address(&address).unwrap_or_else(|e| {
            tracing::warn!(setting = "webListen", value = %address, "{e}; using {DEFAULT_ADDRESS}");
            None
        });
        let port = check_port(&port).unwrap_or_else(|e| {
            tracing::warn!(setting = "webPort", value = %port, "{e}; using {DEFAULT_PORT}");
            None
        });
        config.panel_listen = socket_address(address, port);
    }
    if !place.base_fixed {
        let path = store.setting("webBasePath").await?.unwrap_or_default();
        config.base_path = check_base_path(&path).unwrap_or_else(|e| {
            tracing::warn!(setting = "webBasePath", value = %path, "{e}; using /");
            "/".into()
        });
    }
    Ok(place)
}

/// Binds the panel. An address from the settings that fails falls back to the default.
pub async fn bind(config: &mut Config, place: &mut PanelPlace) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    match TcpListener::bind(&config.panel_listen).await {
        Ok(l) => Ok(l),
        Err(e) if !place.listen_fixed => {
            let fallback = socket_address(None, None);
            let problem = format!(
                "the panel cannot listen on {} (the webListen/webPort settings): {e}; it serves on {fallback} instead",
                config.panel_listen
            );
            tracing::error!("{problem}");
            place.problem = Some(problem);
            config.panel_listen = fallback;
            TcpListener::bind(&config.panel_listen)
                .await
                .with_context(|| format!("bind panel on {}", config.panel_listen))
        }
        Err(e) => Err(e).with_context(|| format!("bind panel on {}", config.panel_listen)),
    }
}

/// The panel's certificate and key files: `panel_cert_file`/`panel_key_file` from the
/// configuration, else 3x-ui's `webCertFile`/`webKeyFile` settings; `None` for plain HTTP.
/// One file without the other is an error: the admin asked for TLS and it cannot be had.
pub async fn panel_tls_files(config: &Config, store: &Store) -> anyhow::Result<Option<PemFiles>> {
    let from_config =
        !config.panel_cert_file.trim().is_empty() || !config.panel_key_file.trim().is_empty();
    let (cert_file, key_file, cert_setting, key_setting) = if from_config {
        (
            config.panel_cert_file.trim().to_owned(),
            config.panel_key_file.trim().to_owned(),
            "panel_cert_file",
            "panel_key_file",
        )
    } else {
        let setting = |key: &'static str| async move {
            anyhow::Ok(
                store
                    .setting(key)
                    .await?
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            )
        };
        (
            setting("webCertFile").await?,
            setting("webKeyFile").await?,
            "webCertFile setting",
            "webKeyFile setting",
        )
    };
    match (cert_file.is_empty(), key_file.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(PemFiles {
            cert_file,
            key_file,
            cert_setting: cert_setting.into(),
            key_setting: key_setting.into(),
        })),
        (false, true) => anyhow::bail!(
            "panel TLS: {cert_setting} is {cert_file} but {key_setting} is empty; set both, or neither for plain HTTP"
        ),
        (true, false) => anyhow::bail!(
            "panel TLS: {key_setting} is {key_file} but {cert_setting} is empty; set both, or neither for plain HTTP"
        ),
    }
}

/// `webListen`: empty for the default, else an IP address.
pub fn check_address(value: &str) -> std::result::Result<Option<IpAddr>, String> {
    let value = value.trim().trim_matches(['[', ']']);
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        "must be an IP address (0.0.0.0 or :: for all addresses), or empty for 127.0.0.1".into()
    })
}

/// `webPort`: empty for the default, else 1–65535.
pub fn check_port(value: &str) -> std::result::Result<Option<u16>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err("must be a whole number between 1 and 65535".into()),
    }
}

/// `webBasePath`: `/`, or segments of letters, digits, `-`, `_` and `.`, normalised to
/// `/a/b/`.
pub fn check_base_path(value: &str) -> std::result::Result<String, String> {
    let trimmed = value.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok("/".into());
    }
    let fine = trimmed.len() <= 100
        && trimmed.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if !fine {
        return Err(
            "must be a path like /secret/ of letters, digits, `-`, `_` and `.` (at most 100)"
                .into(),
        );
    }
    Ok(format!("/{trimmed}/"))
}

/// `ip:port`, with brackets for IPv6 and the defaults for what is missing.
pub fn socket_address(address: Option<IpAddr>, port: Option<u16>) -> String {
    let port = port.unwrap_or(DEFAULT_PORT);
    match address {
        Some(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        Some(IpAddr::V4(v4)) => format!("{v4}:{port}"),
        None => format!("{DEFAULT_ADDRESS}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_stores;

    #[test]
    fn values_are_checked_and_normalised() {
        assert_eq!(check_address(""), Ok(None));
        assert_eq!(check_address("::"), Ok(Some("::".parse().unwrap())));
        assert!(check_address("panel.example.com").is_err());
        assert_eq!(check_port(" 8443 "), Ok(Some(8443)));
        assert!(check_port("0").is_err() && check_port("70000").is_err());
        assert_eq!(check_base_path("secret").unwrap(), "/secret/");
        assert_eq!(check_base_path("/a/b.c/").unwrap(), "/a/b.c/");
        assert_eq!(check_base_path("  ").unwrap(), "/");
        for bad in ["/a//b/", "/../x/", "/a b/", "/<script>/"] {
            assert!(check_base_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            socket_address(Some("::1".parse().unwrap()), Some(9)),
            "[::1]:9"
        );
        assert_eq!(socket_address(None, None), "127.0.0.1:2053");
    }

    #[tokio::test]
    async fn the_configuration_wins_then_the_settings_then_the_defaults() {
        for t in test_stores().await {
            let (store, name, _dir) = t.into_parts();
            let mut config = Config::default();
            let place = resolve(&mut config, &store).await.unwrap();
            assert!(!place.listen_fixed && !place.base_fixed, "{name}");
            assert_eq!(
                (config.panel_listen.as_str(), config.base_path.as_str()),
                ("127.0.0.1:2053", "/"),
                "{name}"
            );
            store.set_setting("webListen", "0.0.0.0").await.unwrap();
            store.set_setting("webPort", "8080").await.unwrap();
            store.set_setting("webBasePath", "/x/").await.unwrap();
            let mut config = Config::default();
            resolve(&mut config, &store).await.unwrap();
            assert_eq!(
                (config.panel_listen.as_str(), config.base_path.as_str()),
                ("0.0.0.0:8080", "/x/"),
                "{name}"
            );
            let mut config = Config {
                panel_listen: "127.0.0.1:0".into(),
                base_path: "/fixed/".into(),
                ..Config::default()
            };
            let place = resolve(&mut config, &store).await.unwrap();
            assert!(place.listen_fixed && place.base_fixed, "{name}");
            assert_eq!(config.panel_listen, "127.0.0.1:0", "{name}");
            // A stored value that is no longer valid gives the default, not a dead panel.
            store.set_setting("webPort", "99999").await.unwrap();
            let mut config = Config::default();
            resolve(&mut config, &store).await.unwrap();
            assert_eq!(config.panel_listen, "0.0.0.0:2053", "{name}");
        }
    }

    #[tokio::test]
    async fn an_address_in_use_falls_back_to_the_default() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = Config {
            panel_listen: taken.local_addr().unwrap().to_string(),
            ..Config::default()
        };
        let mut fixed = PanelPlace {
            listen_fixed: true,
            ..PanelPlace::default()
        };
        let err = bind(&mut config, &mut fixed).await.unwrap_err();
        assert!(format!("{err:#}").contains("bind panel on"), "{err:#}");
        let mut from_settings = PanelPlace::default();
        match bind(&mut config, &mut from_settings).await {
            Ok(l) => assert_eq!(l.local_addr().unwrap().to_string(), "127.0.0.1:2053"),
            // The default port may be in use on this machine too: then that is the error.
            Err(e) => assert!(format!("{e:#}").contains("127.0.0.1:2053"), "{e:#}"),
        }
        let problem = from_settings.problem.expect("the fallback is reported");
        assert!(problem.contains("webPort") && problem.contains("127.0.0.1:2053"));
    }
}
