//! `/api/v1/settings`: panel settings as a key → string map, under 3x-ui's key names so
//! imported settings keep their meaning.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{ok, Actor, ApiError, ApiResult};
use crate::model::Problems;
use crate::Controller;

/// Keys that hold secrets: listed, but their values are not shown.
const SECRET_KEYS: &[&str] = &["tgBotToken", "secret", "twoFactorToken", "ldapPassword"];
const MAX_VALUE: usize = 64 * 1024;

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
