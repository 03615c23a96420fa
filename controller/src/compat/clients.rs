//! `/panel/api/clients/*`: 3x-ui v3's clients API, where one client is attached to many
//! inbounds — which is the fleet model itself, so these routes are fleet-wide.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::inbounds::{last_online_map, online_emails};
use super::{de, done, reply, Body, CompatActor, Msg};
use crate::api::fleet::{all_client_views, load_client, ClientView};
use crate::api::{Actor, ApiError};
use crate::fleet::desired::client_json;
use crate::model::{self, ClientInput};
use crate::store::ClientRow;
use crate::Controller;

type Ctl = State<Arc<Controller>>;
type Form<T> = Result<Body<T>, Json<Msg>>;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(list))
        .route("/get/{email}", get(get_one))
        .route("/add", post(add))
        .route("/update/{email}", post(update))
        .route("/del/{email}", post(del))
        .route("/resetTraffic/{email}", post(reset_traffic))
        .route("/ips/{email}", post(super::inbounds::client_ips))
        .route("/clearIps/{email}", post(super::inbounds::clear_client_ips))
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

async fn list(State(ctl): Ctl, _: CompatActor, Query(q): Query<ListQuery>) -> Json<Msg> {
    let result = all_client_views(&ctl, &q.search, &q.filter, None).await;
    reply(
        "",
        result.map(|v| v.into_iter().map(entry).collect::<Vec<_>>()),
    )
}

async fn get_one(State(ctl): Ctl, _: CompatActor, Path(email): Path<String>) -> Json<Msg> {
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

/// Runs a mutation, audits it, and answers in the envelope.
async fn audited<T: Serialize>(
    ctl: &Controller,
    actor: &Actor,
    action: &str,
    target: String,
    ok_msg: &str,
    result: Result<T, ApiError>,
) -> Json<Msg> {
    actor.audit(ctl, action, &target, json!({}), &result).await;
    match result {
        Ok(v) => done(ok_msg, v),
        Err(e) => reply::<()>(&format!("{ok_msg}: failed"), Err(e)),
    }
}

async fn add(State(ctl): Ctl, CompatActor(actor): CompatActor, body: Form<AddBody>) -> Json<Msg> {
    let Body(b) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let email = b.client.email.clone().unwrap_or_default();
    let result = async {
        let row = model::create_client(&ctl, &actor.name, &b.client, &b.inbound_ids).await?;
        Ok(entry(load_client(&ctl, row).await?))
    }
    .await;
    audited(
        &ctl,
        &actor,
        "client.create",
        format!("client:{email}"),
        "Client added",
        result,
    )
    .await
}

async fn update(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
    body: Form<ClientInput>,
) -> Json<Msg> {
    let Body(input) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = async {
        let row = model::update_client(&ctl, &actor.name, &email, &input).await?;
        Ok(entry(load_client(&ctl, row).await?))
    }
    .await;
    audited(
        &ctl,
        &actor,
        "client.update",
        format!("client:{email}"),
        "Client updated",
        result,
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DelQuery {
    #[serde(default)]
    keep_traffic: Option<String>,
}

async fn del(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
    Query(q): Query<DelQuery>,
) -> Json<Msg> {
    let keep = q
        .keep_traffic
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "on"));
    let result = model::delete_client(&ctl, &actor.name, &email, keep)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    audited(
        &ctl,
        &actor,
        "client.delete",
        format!("client:{email}"),
        "Client deleted",
        result,
    )
    .await
}

async fn reset_traffic(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
) -> Json<Msg> {
    let result = model::reset_client_traffic(&ctl, &actor.name, &email)
        .await
        .map_err(ApiError::from);
    audited(
        &ctl,
        &actor,
        "client.reset_traffic",
        format!("client:{email}"),
        "Traffic reset",
        result,
    )
    .await
}

async fn onlines(State(ctl): Ctl, _: CompatActor) -> Json<Msg> {
    reply("", online_emails(&ctl).await)
}

async fn last_online(State(ctl): Ctl, _: CompatActor) -> Json<Msg> {
    reply("", last_online_map(&ctl).await)
}

async fn del_depleted(State(ctl): Ctl, CompatActor(actor): CompatActor) -> Json<Msg> {
    let result = model::delete_depleted(&ctl, &actor.name, None)
        .await
        .map_err(ApiError::from);
    audited(
        &ctl,
        &actor,
        "client.delete_depleted",
        "clients".into(),
        "Depleted clients deleted",
        result,
    )
    .await
}

async fn reset_all_traffics(State(ctl): Ctl, CompatActor(actor): CompatActor) -> Json<Msg> {
    let result = model::reset_clients_traffic(&ctl, &actor.name, None)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    audited(
        &ctl,
        &actor,
        "client.reset_traffic",
        "clients".into(),
        "All traffic reset",
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdsBody {
    #[serde(default, deserialize_with = "de::ids")]
    inbound_ids: Vec<i64>,
}

async fn attach(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
    body: Form<IdsBody>,
) -> Json<Msg> {
    let Body(b) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = async {
        let row = model::attach(&ctl, &actor.name, &email, &b.inbound_ids).await?;
        Ok(entry(load_client(&ctl, row).await?))
    }
    .await;
    audited(
        &ctl,
        &actor,
        "client.attach",
        format!("client:{email}"),
        "Client attached",
        result,
    )
    .await
}

async fn detach(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
    body: Form<IdsBody>,
) -> Json<Msg> {
    let Body(b) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = async {
        let row = model::detach(&ctl, &actor.name, &email, &b.inbound_ids).await?;
        Ok(entry(load_client(&ctl, row).await?))
    }
    .await;
    audited(
        &ctl,
        &actor,
        "client.detach",
        format!("client:{email}"),
        "Client detached",
        result,
    )
    .await
}
