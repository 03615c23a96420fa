//! Panel settings as 3x-ui serves them: `/panel/setting/*` (v2) and `/panel/api/setting/*`
//! (v3.3+), the same routes on both paths (reference/3x-ui.md §1.3 "Panel settings").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use xfleet_common::xray::xui_default_template;

use super::{done, reply, Body, Msg, XuiCall};
use crate::front::auth::{
    check_new_password, check_password, ensure_not_blocked, new_password_hash,
};
use crate::front::{ApiError, Audit};
use crate::links::SubSettings;
use crate::model::settings;
use crate::model::Refusal;
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/all", post(all))
        .route("/defaultSettings", post(default_settings))
        .route("/factoryDefaults", post(factory_defaults))
        .route("/update", post(update))
        .route("/updateUser", post(update_user))
        .route("/restartPanel", post(restart_panel))
        .route(
            "/getDefaultJsonConfig",
            get(default_json_config).post(default_json_config),
        )
}

/// `AllSetting`: every key with its stored value or default, in 3x-ui's types.
async fn all(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", settings::all(&call.ctl).await.map_err(ApiError::from))
}

/// The subset 3x-ui's pages read on load, with the subscription URLs derived when unset.
async fn default_settings(XuiCall(call): XuiCall) -> Json<Msg> {
    let ctl = &call.ctl;
    let result = async {
        let all = settings::all(ctl).await?;
        let sub = SubSettings::load(&ctl.store).await?;
        let base = sub.public_base(ctl.sub_listener.as_ref(), "");
        let uri = |set: &str, path: &str| {
            let set = all.get(set).and_then(Value::as_str).unwrap_or_default();
            if set.is_empty() {
                format!("{base}{path}")
            } else {
                set.to_owned()
            }
        };
        let mut out = serde_json::Map::new();
        for key in [
            "expireDiff",
            "trafficDiff",
            "pageSize",
            "tgBotEnable",
            "subEnable",
            "subJsonEnable",
            "subClashEnable",
            "subTitle",
            "remarkModel",
            "datepicker",
        ] {
            out.insert(key.into(), all.get(key).cloned().unwrap_or(Value::Null));
        }
        out.insert("subURI".into(), uri("subURI", &sub.path).into());
        out.insert(
            "subJsonURI".into(),
            uri("subJsonURI", &sub.json_path).into(),
        );
        out.insert(
            "subClashURI".into(),
            uri("subClashURI", &sub.clash_path).into(),
        );
        out.insert("defaultCert".into(), all["webCertFile"].clone());
        out.insert("defaultKey".into(), all["webKeyFile"].clone());
        // xfleet's IP limits are enforced by the agents, always available.
        out.insert("ipLimitEnable".into(), true.into());
        Ok::<_, ApiError>(Value::Object(out))
    }
    .await;
    reply("", result)
}

/// v3: each setting's shipped default, as text, by key; secrets and what xfleet holds
/// itself left out. Nothing is changed: 3x-ui's pages and SDKs read this to mark values that
/// differ from the default, and a script that wants the defaults back sends them to
/// `update`, where each is checked like any other change.
async fn factory_defaults(_: XuiCall) -> Json<Msg> {
    let defaults: BTreeMap<&str, &str> = settings::KEYS
        .iter()
        .filter(|k| {
            !settings::SECRET_KEYS.contains(&k.name)
                && !matches!(k.usage, settings::Use::Own(_))
                && k.name != settings::CORE_TEMPLATE
        })
        .map(|k| (k.name, k.default))
        .collect();
    done("", defaults)
}

/// Any subset of `AllSetting` (3x-ui's page sends the whole form), as JSON or a form. All
/// of it is stored, or none: unknown keys and bad values are refused by name.
async fn update(XuiCall(call): XuiCall, Body(body): Body<BTreeMap<String, Value>>) -> Json<Msg> {
    let keys: Vec<&String> = body.keys().collect();
    let audit = Audit::new("settings.update", "settings").with(json!({"keys": keys}));
    let said = ("Settings saved", "Failed to save the settings");
    call.reply_as(audit, said, async {
        settings::update(&call.ctl, &body, call.who()).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserChange {
    #[serde(default)]
    old_username: String,
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_username: String,
    #[serde(default)]
    new_password: String,
}

/// New name and password for the calling admin, checked against the old ones; the admin's
/// other sessions end. Two-factor login stays as it was (3x-ui turns it off; a credential
/// change is no reason to weaken the login).
async fn update_user(
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    XuiCall(call): XuiCall,
    Body(change): Body<UserChange>,
) -> Json<Msg> {
    let audit = Audit::new("auth.credentials", format!("user:{}", call.actor.user_id));
    let said = ("User updated", "Failed to update the user");
    let ip = addr.ip();
    call.reply_as(audit, said, async {
        let ctl = &call.ctl;
        let new_username = change.new_username.trim();
        if new_username.is_empty() || new_username.len() > 64 {
            return Err(ApiError::BadRequest(
                Refusal::new("err.new_username_length", &[]).into(),
            ));
        }
        check_new_password(&change.new_password)?;
        let user = ctl.store.user_by_id(call.actor.user_id).await?;
        ensure_not_blocked(ctl, ip, &user.username).await?;
        let password_ok = check_password(&change.old_password, &user.password_hash).await?;
        if change.old_username != user.username || !password_ok {
            crate::front::auth::login_failed(ctl, ip, &user.username).await;
            return Err(ApiError::Forbidden(
                Refusal::new("err.old_credentials_wrong", &[]).into(),
            ));
        }
        let hash = new_password_hash(&change.new_password).await?;
        let ended = ctl
            .store
            .change_credentials(
                user.id,
                Some(new_username),
                &hash,
                call.actor.session_hash.as_deref(),
            )
            .await?;
        Ok(json!({"sessionsEnded": ended}))
    })
    .await
}

/// Restarts the controller in place so saved panel settings apply; refused, with the
/// reason, when the panel would not come back.
async fn restart_panel(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("panel.restart", "controller");
    let said = ("Panel restarting", "Failed to restart the panel");
    let answer = call
        .reply_as(audit, said, async {
            Ok(settings::next_place(&call.ctl).await?)
        })
        .await;
    if answer.0.success {
        call.ctl.restart_soon();
    }
    answer
}

/// 3x-ui's built-in Xray template.
async fn default_json_config(XuiCall(_): XuiCall) -> Json<Msg> {
    done("", xui_default_template())
}
