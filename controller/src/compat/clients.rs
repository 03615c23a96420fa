//! `/panel/api/clients/*`: 3x-ui v3's clients API, where one client is attached to many
//! inbounds — which is the fleet model itself, so these routes are fleet-wide.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::inbound_clients::{last_online_map, online_emails};
use super::{de, reply, Body, Msg, XuiCall};
use crate::fleet::desired::client_json;
use crate::front::{ApiError, Audit, Call};
use crate::model::{self, all_client_views, load_client, ClientInput, ClientView};
use crate::store::ClientRow;
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(list))
        .route("/get/{email}", get(get_one))
        .route("/add", post(add))
        .route("/update/{email}", post(update))
        .route("/del/{email}", post(del))
        .route("/resetTraffic/{email}", post(reset_traffic))
        .route("/ips/{email}", post(super::inbound_clients::client_ips))
        .route(
            "/clearIps/{email}",
            post(super::inbound_clients::clear_client_ips),
        )
        .route("/onlines", post(onlines))
        .route("/lastOnline", post(last_online))
        .route("/delDepleted", post(del_depleted))
        .route("/resetAllTraffics", post(reset_all_traffics))
        .route("/{email}/attach", post(attach))
        .route("/{email}/detach", post(detach))
}

/// A row of v3's clients list: the client as 3x-ui's JSON has it, where it is attached, and
/// its usage.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientEntry {
    client: Value,
    inbound_ids: Vec<i64>,
    used_traffic: i64,
    up: i64,
    down: i64,
    all_time: i64,
    last_online: i64,
}

fn entry(v: ClientView) -> ClientEntry {
    let row = ClientRow {
        id: v.id,
        email: v.email.clone(),
        sub_id: v.sub_id.clone(),
        uuid: v.uuid.clone(),
        password: v.password.clone(),
        auth: v.auth.clone(),
        flow: v.flow.clone(),
        limit_ip: v.limit_ip,
        total_bytes: v.total_gb,
        expiry_time: v.expiry_time,
        enable: i64::from(v.enable),
        tg_id: v.tg_id,
        comment: v.comment.clone(),
        reset_days: v.reset,
        security: v.security.clone(),
        created_at: 0,
        updated_at: 0,
    };
    // Every secret, whatever the protocols of its inbounds.
    let mut client = client_json("vless", &row);
    client["password"] = json!(row.password);
    client["auth"] = json!(row.auth);
    if !row.security.is_empty() {
        client["security"] = json!(row.security);
    }
    ClientEntry {
        client,
        inbound_ids: v.inbound_ids,
        used_traffic: v.used,
        up: v.up,
        down: v.down,
        all_time: v.all_time,
        last_online: v.last_online,
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    filter: String,
}

async fn list(XuiCall(call): XuiCall, Query(q): Query<ListQuery>) -> Json<Msg> {
    let result = all_client_views(&call.ctl, &q.search, &q.filter, None).await;
    reply(
        "",
        result
            .map(|v| v.into_iter().map(entry).collect::<Vec<_>>())
            .map_err(ApiError::from),
    )
}

async fn get_one(XuiCall(Call { ctl, .. }): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    let result = async {
        let row = ctl.store.client_by_email(&email).await?;
        Ok(entry(load_client(&ctl, row).await?))
    }
    .await;
    reply("", result)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    client: ClientInput,
    #[serde(default, deserialize_with = "de::ids")]
    inbound_ids: Vec<i64>,
}

/// A v3 change: audited, then answered under its message (`…: failed` when refused).
async fn change<T: Serialize>(
    call: &Call,
    audit: Audit,
    ok_msg: &str,
    change: impl Future<Output = Result<T, ApiError>>,
) -> Json<Msg> {
    call.reply_as(audit, (ok_msg, &format!("{ok_msg}: failed")), change)
        .await
}

/// The client as v3 answers it after a change.
async fn entry_of(ctl: &Controller, row: ClientRow) -> Result<ClientEntry, ApiError> {
    Ok(entry(load_client(ctl, row).await?))
}

async fn add(XuiCall(call): XuiCall, Body(b): Body<AddBody>) -> Json<Msg> {
    let email = b.client.email.clone().unwrap_or_default();
    let audit = Audit::new("client.create", format!("client:{email}"));
    change(&call, audit, "Client added", async {
        let row = model::create_client(&call.ctl, call.who(), &b.client, &b.inbound_ids).await?;
        entry_of(&call.ctl, row).await
    })
    .await
}

async fn update(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(input): Body<ClientInput>,
) -> Json<Msg> {
    let audit = Audit::new("client.update", format!("client:{email}"));
    change(&call, audit, "Client updated", async {
        let row = model::update_client(&call.ctl, call.who(), &email, &input).await?;
        entry_of(&call.ctl, row).await
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DelQuery {
    #[serde(default)]
    keep_traffic: Option<String>,
}

async fn del(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Query(q): Query<DelQuery>,
) -> Json<Msg> {
    let keep = q
        .keep_traffic
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "on"));
    let audit = Audit::new("client.delete", format!("client:{email}"));
    change(&call, audit, "Client deleted", async {
        model::delete_client(&call.ctl, call.who(), &email, keep).await?;
        Ok(())
    })
    .await
}

async fn reset_traffic(XuiCall(call): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    let audit = Audit::new("client.reset_traffic", format!("client:{email}"));
    change(&call, audit, "Traffic reset", async {
        Ok(model::reset_client_traffic(&call.ctl, call.who(), &email).await?)
    })
    .await
}

async fn onlines(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", online_emails(&call.ctl).await)
}

async fn last_online(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", last_online_map(&call.ctl).await)
}

async fn del_depleted(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("client.delete_depleted", "clients");
    change(&call, audit, "Depleted clients deleted", async {
        Ok(model::delete_depleted(&call.ctl, call.who(), None).await?)
    })
    .await
}

async fn reset_all_traffics(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("client.reset_traffic", "clients");
    change(&call, audit, "All traffic reset", async {
        model::reset_clients_traffic(&call.ctl, call.who(), None).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdsBody {
    #[serde(default, deserialize_with = "de::ids")]
    inbound_ids: Vec<i64>,
}

async fn attach(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(b): Body<IdsBody>,
) -> Json<Msg> {
    let audit = Audit::new("client.attach", format!("client:{email}"));
    change(&call, audit, "Client attached", async {
        let row = model::attach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        entry_of(&call.ctl, row).await
    })
    .await
}

async fn detach(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(b): Body<IdsBody>,
) -> Json<Msg> {
    let audit = Audit::new("client.detach", format!("client:{email}"));
    change(&call, audit, "Client detached", async {
        let row = model::detach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        entry_of(&call.ctl, row).await
    })
    .await
}
