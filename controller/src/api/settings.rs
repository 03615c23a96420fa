//! `/api/v1/settings`: panel settings as a key → string map, under 3x-ui's key names so
//! imported settings keep their meaning.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::front::{ok, ApiResult, Audit, Call, JsonBody};
use crate::model::settings;

pub(super) async fn list(Call { ctl, .. }: Call) -> ApiResult<BTreeMap<String, String>> {
    let mut all = ctl.store.settings().await?;
    for (key, value) in all.iter_mut() {
        if settings::SECRET_KEYS.contains(&key.as_str()) && !value.is_empty() {
            *value = settings::MASK.into();
        }
    }
    ok(all)
}

/// Sets the given keys, all or none; a value may be a string, number or boolean (stored as
/// text). Unknown keys and values of the wrong type are refused by name.
pub(super) async fn update(
    call: Call,
    JsonBody(body): JsonBody<BTreeMap<String, Value>>,
) -> ApiResult<BTreeMap<String, String>> {
    let keys: Vec<&String> = body.keys().collect();
    let audit = Audit::new("settings.update", "settings").with(json!({"keys": keys}));
    call.audited(audit, async {
        settings::update(&call.ctl, &body, call.who()).await?;
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
    let next = call
        .audited(audit, async { Ok(settings::next_place(&call.ctl).await?) })
        .await?;
    call.ctl.restart_soon();
    ok(next)
}
