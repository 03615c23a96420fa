//! `/api/v1/settings`: panel settings as a key → string map, under 3x-ui's key names so
//! imported settings keep their meaning.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::place;
use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::https::{self, TlsFileError};
use crate::model::Problems;
use crate::Controller;

/// Keys that hold secrets: listed, but their values are not shown.
const SECRET_KEYS: &[&str] = &["tgBotToken", "secret", "twoFactorToken", "ldapPassword"];
const MAX_VALUE: usize = 64 * 1024;

/// A setting as it will be once `changes` are stored: the new value, else the stored one.
async fn after_change(
    ctl: &Controller,
    changes: &[(String, String)],
    key: &str,
) -> Result<String, ApiError> {
    Ok(match changes.iter().find(|(k, _)| k == key) {
        Some((_, v)) => v.trim().to_owned(),
        None => ctl.store.setting(key).await?.unwrap_or_default(),
    })
}

/// `webCertFile`/`webKeyFile` are read at the next start, and files that cannot serve TLS
/// stop it: refuse them now, while the admin can still fix them from the panel.
async fn check_panel_tls(
    ctl: &Controller,
    changes: &[(String, String)],
    p: &mut Problems,
) -> Result<(), ApiError> {
    let changed = |key: &str| {
        changes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
    };
    if changed("webCertFile").is_none() && changed("webKeyFile").is_none() {
        return Ok(());
    }
    let cert_file = after_change(ctl, changes, "webCertFile").await?;
    let key_file = after_change(ctl, changes, "webKeyFile").await?;
    match (cert_file.is_empty(), key_file.is_empty()) {
        (true, true) => {}
        (false, true) => p.add("webKeyFile", "is needed with a certificate file"),
        (true, false) => p.add("webCertFile", "is needed with a key file"),
        (false, false) => {
            let files = https::PemFiles {
                cert_file,
                key_file,
                cert_setting: "webCertFile".into(),
                key_setting: "webKeyFile".into(),
            };
            match https::server_tls(&files) {
                Ok(_) => {}
                Err(e @ (TlsFileError::Read { .. } | TlsFileError::Certificate { .. })) => {
                    let field = match &e {
                        TlsFileError::Read { setting, .. } if setting == "webKeyFile" => {
                            "webKeyFile"
                        }
                        _ => "webCertFile",
                    };
                    p.add(field, e.to_string());
                }
                Err(e) => p.add("webKeyFile", e.to_string()),
            }
        }
    }
    Ok(())
}

/// `webListen`, `webPort` and `webBasePath` are read at the next start: refuse values that
/// would not work, an address this machine cannot listen on, and changes the configuration
/// would override anyway.
async fn check_panel_place(
    ctl: &Controller,
    changes: &mut [(String, String)],
    p: &mut Problems,
) -> Result<(), ApiError> {
    let place = &ctl.panel_place;
    let mut listen_changed = false;
    for (key, value) in changes.iter_mut() {
        let checked = match key.as_str() {
            "webListen" | "webPort" if place.listen_fixed => Err(
                "is not used: `panel_listen` in the configuration (xfleet.toml, XFLEET_PANEL_LISTEN \
                 or --panel-listen) sets the panel's address; change it there"
                    .to_owned(),
            ),
            "webBasePath" if place.base_fixed => Err(
                "is not used: `base_path` in the configuration (xfleet.toml or XFLEET_BASE_PATH) \
                 sets it; change it there"
                    .to_owned(),
            ),
            "webListen" => place::check_address(value).map(|a| a.map(|a| a.to_string())),
            "webPort" => place::check_port(value).map(|p| p.map(|p| p.to_string())),
            "webBasePath" => place::check_base_path(value).map(Some),
            _ => continue,
        };
        match checked {
            Ok(normal) => {
                listen_changed |= key != "webBasePath";
                *value = normal.unwrap_or_default();
            }
            Err(message) => p.add(key.clone(), message),
        }
    }
    if !listen_changed || !p.is_empty() {
        return Ok(());
    }
    let address =
        place::check_address(&after_change(ctl, changes, "webListen").await?).unwrap_or(None);
    let port = place::check_port(&after_change(ctl, changes, "webPort").await?).unwrap_or(None);
    let wanted = place::socket_address(address, port);
    if wanted != ctl.config.panel_listen {
        if let Err(e) = std::net::TcpListener::bind(&wanted) {
            p.add(
                "webPort",
                format!("the panel cannot listen on {wanted}: {e}"),
            );
        }
    }
    Ok(())
}

pub(super) async fn list(Call { ctl, .. }: Call) -> ApiResult<BTreeMap<String, String>> {
    let mut all = ctl.store.settings().await?;
    for (key, value) in all.iter_mut() {
        if SECRET_KEYS.contains(&key.as_str()) && !value.is_empty() {
            *value = "********".into();
        }
    }
    ok(all)
}

/// Sets the given keys; a value may be a string, number or boolean (stored as text).
pub(super) async fn update(
    call: Call,
    JsonBody(body): JsonBody<BTreeMap<String, Value>>,
) -> ApiResult<BTreeMap<String, String>> {
    let ctl = &call.ctl;
    let mut p = Problems::default();
    let mut changes = Vec::new();
    for (key, value) in &body {
        let valid_key = !key.is_empty()
            && key.len() <= 64
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && key.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid_key {
            p.add(
                key.clone(),
                "keys are 1–64 letters, digits or `_`, starting with a letter",
            );
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                p.add(key.clone(), "must be a string, number or boolean");
                continue;
            }
        };
        if text.len() > MAX_VALUE {
            p.add(key.clone(), "must be at most 64 KiB");
            continue;
        }
        changes.push((key.clone(), text));
    }
    if p.is_empty() {
        check_panel_tls(ctl, &changes, &mut p).await?;
        check_panel_place(ctl, &mut changes, &mut p).await?;
    }
    let keys: Vec<&String> = body.keys().collect();
    let audit = Audit::new("settings.update", "settings").with(json!({"keys": keys}));
    call.audited(audit, async {
        p.finish()?;
        for (key, value) in &changes {
            ctl.store.set_setting(key, value).await?;
        }
        Ok(())
    })
    .await?;
    list(call).await
}

/// Starts the controller again in place, so saved panel settings (address, port, base path,
/// TLS files) take effect. What the next start needs is checked first (the address can be
/// bound, the certificate files serve TLS): a restart that would not come back is refused
/// with the reason. Answers first, with where the panel will be.
pub(super) async fn restart(call: Call) -> ApiResult<Value> {
    let audit = Audit::new("panel.restart", "controller");
    let next = call.audited(audit, next_place(&call.ctl)).await?;
    let later = call.ctl.clone();
    tokio::spawn(async move {
        // Time for this answer to reach the browser.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        later.restart();
    });
    ok(next)
}

/// Where the next start puts the panel, or why it would fail.
async fn next_place(ctl: &Controller) -> Result<Value, ApiError> {
    let mut config = ctl.config.clone();
    if !ctl.panel_place.listen_fixed {
        config.panel_listen.clear();
    }
    if !ctl.panel_place.base_fixed {
        config.base_path.clear();
    }
    place::resolve(&mut config, &ctl.store).await?;
    let refuse = |why: String| ApiError::Conflict(format!("the panel would not come back: {why}"));
    let tls = match place::panel_tls_files(&config, &ctl.store).await {
        Ok(Some(files)) => {
            https::server_tls(&files).map_err(|e| refuse(e.to_string()))?;
            true
        }
        Ok(None) => false,
        Err(e) => return Err(refuse(format!("{e:#}"))),
    };
    if config.panel_listen != ctl.config.panel_listen {
        if let Err(e) = std::net::TcpListener::bind(&config.panel_listen) {
            return Err(refuse(format!(
                "cannot listen on {}: {e}",
                config.panel_listen
            )));
        }
    }
    let port = config
        .panel_listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let base = config.base_prefix();
    Ok(json!({
        "restarting": true,
        "listen": config.panel_listen,
        "port": port,
        "base_path": format!("{base}/"),
        "tls": tls,
    }))
}
