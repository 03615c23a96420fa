//! 3x-ui's Xray template routes (`reference/3x-ui.md` §"Xray template"), at v2's
//! `/panel/xray/*` and v3.3's `/panel/api/xray/*`: the core template, outbound traffic and
//! tests, and WARP. Without `server_id` they act on the fleet template; with it, on the
//! template that server runs (`model::core_templates::set_for_server`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use xfleet_common::xray::xui_default_template;

use super::{pick_server, Body, ServerParam, XuiCall};
use crate::front::{done, reply, ApiError, Audit, Msg};
use crate::model::core_templates;
use crate::model::servers::resolve;
use crate::model::settings;
use crate::Controller;

/// The setting holding the URL outbound tests fetch.
const TEST_URL: &str = "xrayOutboundTestUrl";

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/", post(template))
        .route("/update", post(update))
        .route("/getXrayResult", get(xray_result))
        .route(
            "/getDefaultJsonConfig",
            get(default_json_config).post(default_json_config),
        )
        .merge(super::warp::routes())
        .merge(super::outbounds::routes())
}

/// 3x-ui's built-in Xray template.
async fn default_json_config(XuiCall(_): XuiCall) -> Json<Msg> {
    done("", xui_default_template())
}

/// The page's data: obj is the JSON text of `{xraySetting, inboundTags, clientReverseTags,
/// outboundTestUrl}`, as 3x-ui's page parses it.
pub(super) async fn template(
    XuiCall(call): XuiCall,
    Query(param): Query<ServerParam>,
) -> Json<Msg> {
    let ctl = &call.ctl;
    let answer = async {
        let (config, tags) = match param.named() {
            Some(key) => {
                let server = resolve(ctl, key).await?;
                let config = core_templates::of_server(ctl, &server).await?.config;
                let tags: Vec<String> = ctl
                    .store
                    .inbounds_of(server.id)
                    .await?
                    .into_iter()
                    .map(|i| i.tag)
                    .collect();
                (config, tags)
            }
            None => {
                let fleet = core_templates::fleet(ctl).await?;
                let config = fleet.config.unwrap_or(fleet.default);
                let mut tags = Vec::new();
                for inbound in ctl.store.all_inbounds().await? {
                    if !tags.contains(&inbound.tag) {
                        tags.push(inbound.tag);
                    }
                }
                (config, tags)
            }
        };
        let test_url = ctl
            .store
            .setting(TEST_URL)
            .await?
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                settings::known(TEST_URL)
                    .map_or("", |k| k.default)
                    .to_owned()
            });
        let obj = json!({
            "xraySetting": config,
            "inboundTags": tags,
            "clientReverseTags": [],
            "outboundTestUrl": test_url,
        });
        Ok::<_, ApiError>(obj.to_string())
    }
    .await;
    reply("", answer)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateForm {
    #[serde(default)]
    xray_setting: String,
    outbound_test_url: Option<String>,
}

/// Saves the template (tested by the cores that will run it, then pushed to them: unlike
/// 3x-ui, no restart is needed) and the outbound test URL.
async fn update(
    XuiCall(call): XuiCall,
    Query(param): Query<ServerParam>,
    Body(form): Body<UpdateForm>,
) -> Json<Msg> {
    let target = param.named().unwrap_or("fleet").to_owned();
    let audit = Audit::new("core.template.update", format!("core-template:{target}"));
    let said = ("Settings saved", "Failed to save the settings");
    let ctl = &call.ctl;
    call.reply_as(audit, said, async {
        let config = core_templates::parse("xraySetting", &Value::String(form.xray_setting))?;
        let saved = match param.named() {
            Some(_) => {
                let server = pick_server(ctl, &param).await?;
                core_templates::set_for_server(ctl, &server, &config, call.who()).await?
            }
            None => core_templates::set_fleet(ctl, Some(&config), call.who()).await?,
        };
        if let Some(url) = form.outbound_test_url {
            let change = BTreeMap::from([(TEST_URL.to_owned(), Value::String(url))]);
            settings::update(ctl, &change, call.who()).await?;
        }
        Ok(json!({"servers": saved.servers, "checkedOn": saved.checked_on}))
    })
    .await
}

/// The core's last words: why the last state did not apply, per server (`server_id`: that
/// server's alone). Empty when every core runs its state.
async fn xray_result(XuiCall(call): XuiCall, Query(param): Query<ServerParam>) -> Json<Msg> {
    let ctl = &call.ctl;
    let answer = async {
        let servers = match param.named() {
            Some(_) => vec![pick_server(ctl, &param).await?],
            None => ctl.store.list_servers().await?,
        };
        let single = param.named().is_some();
        let words: Vec<String> = servers
            .iter()
            .filter_map(|s| {
                let error = s.apply_error.as_deref()?;
                Some(if single {
                    error.to_owned()
                } else {
                    format!("{}: {error}", s.name)
                })
            })
            .collect();
        Ok::<_, ApiError>(words.join("\n"))
    }
    .await;
    reply("", answer)
}
