//! `/api/v1/settings`: panel settings as a key → string map, under 3x-ui's key names so
//! imported settings keep their meaning.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{ok, Actor, ApiError, ApiResult};
use crate::https::{self, TlsFileError};
use crate::model::Problems;
use crate::Controller;

/// Keys that hold secrets: listed, but their values are not shown.
const SECRET_KEYS: &[&str] = &["tgBotToken", "secret", "twoFactorToken", "ldapPassword"];
const MAX_VALUE: usize = 64 * 1024;

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
    let value = |key: &'static str| async move {
        Ok::<_, ApiError>(match changed(key) {
            Some(v) => v.to_owned(),
            None => ctl.store.setting(key).await?.unwrap_or_default(),
        })
    };
    let (cert_file, key_file) = (value("webCertFile").await?, value("webKeyFile").await?);
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

pub(super) async fn list(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
) -> ApiResult<BTreeMap<String, String>> {
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
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<BTreeMap<String, Value>>, JsonRejection>,
) -> ApiResult<BTreeMap<String, String>> {
    let Json(body) = body?;
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
        check_panel_tls(&ctl, &changes, &mut p).await?;
    }
    let result = match p.finish() {
        Err(crate::model::ModelError::Invalid(fields)) => Err(ApiError::Invalid(fields)),
        Err(e) => Err(e.into()),
        Ok(()) => {
            for (key, value) in &changes {
                ctl.store.set_setting(key, value).await?;
            }
            Ok(())
        }
    };
    let keys: Vec<&String> = body.keys().collect();
    actor
        .audit(
            &ctl,
            "settings.update",
            "settings",
            json!({"keys": keys}),
            &result,
        )
        .await;
    result?;
    list(State(ctl), actor).await
}
