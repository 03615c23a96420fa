//! `/api/v1/…/inbounds` and `/api/v1/clients`: the fleet model. Every change reaches the
//! affected servers as a new desired-state revision (see `crate::model`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xfleet_common::time::now_ms;

use super::servers::resolve;
use super::{ok, Actor, ApiError, ApiResult};
use crate::model::{self, ClientInput, InboundInput};
use crate::store::{ClientRow, ClientTotals, InboundRow};
use crate::Controller;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundView {
    pub id: i64,
    pub server_id: i64,
    pub remark: String,
    pub enable: bool,
    pub listen: String,
    pub port: i64,
    pub protocol: String,
    pub settings: Value,
    pub stream_settings: Value,
    pub sniffing: Value,
    pub tag: String,
    pub total: i64,
    pub expiry_time: i64,
    pub traffic_reset: String,
    pub last_traffic_reset_time: i64,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    /// Emails of the attached clients.
    pub clients: Vec<String>,
}

pub fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

async fn inbound_view(ctl: &Controller, row: InboundRow) -> Result<InboundView, ApiError> {
    let clients = ctl.store.clients_of_inbound(row.id).await?;
    let totals = ctl.store.inbound_totals(row.server_id).await?;
    Ok(view_of(
        row,
        &totals,
        clients.into_iter().map(|c| c.email).collect(),
    ))
}

fn view_of(
    row: InboundRow,
    totals: &HashMap<String, (i64, i64, i64)>,
    clients: Vec<String>,
) -> InboundView {
    let (up, down, all_time) = totals.get(&row.tag).copied().unwrap_or_default();
    InboundView {
        settings: parse_json(&row.settings),
        stream_settings: parse_json(&row.stream_settings),
        sniffing: parse_json(&row.sniffing),
        id: row.id,
        server_id: row.server_id,
        remark: row.remark,
        enable: row.enable != 0,
        listen: row.listen,
        port: row.port,
        protocol: row.protocol,
        tag: row.tag,
        total: row.total,
        expiry_time: row.expiry_time,
        traffic_reset: row.traffic_reset,
        last_traffic_reset_time: row.last_traffic_reset_time,
        up,
        down,
        all_time,
        clients,
    }
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    Ok(body?.0)
}

pub(super) async fn create_inbound(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    input: Result<Json<InboundInput>, JsonRejection>,
) -> ApiResult<InboundView> {
    let input = body(input)?;
    let result = async {
        let server = resolve(&ctl, &key).await?;
        let row = model::create_inbound(&ctl, &actor.name, server.id, &input).await?;
        inbound_view(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "inbound.create",
            &format!("server:{key}"),
            json!({"port": input.port, "protocol": input.protocol}),
            result,
        )
        .await
}

pub(super) async fn list_inbounds(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(key): Path<String>,
) -> ApiResult<Vec<InboundView>> {
    let server = resolve(&ctl, &key).await?;
    let totals = ctl.store.inbound_totals(server.id).await?;
    let mut attached: HashMap<i64, Vec<String>> = HashMap::new();
    for (inbound, client) in ctl.store.clients_of_server(server.id).await? {
        attached.entry(inbound).or_default().push(client.email);
    }
    let out = ctl
        .store
        .inbounds_of(server.id)
        .await?
        .into_iter()
        .map(|row| {
            let clients = attached.remove(&row.id).unwrap_or_default();
            view_of(row, &totals, clients)
        })
        .collect();
    ok(out)
}

pub(super) async fn get_inbound(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(id): Path<i64>,
) -> ApiResult<InboundView> {
    let row = ctl.store.inbound(id).await?;
    ok(inbound_view(&ctl, row).await?)
}

pub(super) async fn update_inbound(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
    input: Result<Json<InboundInput>, JsonRejection>,
) -> ApiResult<InboundView> {
    let input = body(input)?;
    let result = async {
        let row = model::update_inbound(&ctl, &actor.name, id, &input).await?;
        inbound_view(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "inbound.update",
            &format!("inbound:{id}"),
            json!({"port": input.port, "protocol": input.protocol}),
            result,
        )
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableBody {
    enable: bool,
}

pub(super) async fn set_inbound_enable(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
    input: Result<Json<EnableBody>, JsonRejection>,
) -> ApiResult<InboundView> {
    let input = body(input)?;
    let result = async {
        let row = model::set_inbound_enable(&ctl, &actor.name, id, input.enable).await?;
        inbound_view(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "inbound.enable",
            &format!("inbound:{id}"),
            json!({"enable": input.enable}),
            result,
        )
        .await
}

pub(super) async fn reset_inbound_traffic(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<()> {
    let result = model::reset_inbounds_traffic(&ctl, &actor.name, None, Some(id))
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    actor
        .answer(
            &ctl,
            "inbound.reset_traffic",
            &format!("inbound:{id}"),
            json!({}),
            result,
        )
        .await
}

#[derive(Deserialize, Default)]
pub(super) struct DeleteQuery {
    /// Also delete clients attached to no other inbound.
    #[serde(default, rename = "deleteClients")]
    delete_clients: bool,
}

pub(super) async fn delete_inbound(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<()> {
    let result = model::delete_inbound(&ctl, &actor.name, id, q.delete_clients)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    actor
        .answer(
            &ctl,
            "inbound.delete",
            &format!("inbound:{id}"),
            json!({"deleteClients": q.delete_clients}),
            result,
        )
        .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientBody {
    #[serde(flatten)]
    client: ClientInput,
    /// Inbounds to attach the client to, on any servers.
    #[serde(default)]
    inbound_ids: Vec<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub id: i64,
    pub email: String,
    /// VMess/VLESS UUID (3x-ui's `id`).
    pub uuid: String,
    pub password: String,
    pub auth: String,
    pub flow: String,
    pub security: String,
    pub sub_id: String,
    pub limit_ip: i64,
    #[serde(rename = "totalGB")]
    pub total_gb: i64,
    pub expiry_time: i64,
    pub enable: bool,
    pub tg_id: i64,
    pub comment: String,
    pub reset: i64,
    pub up: i64,
    pub down: i64,
    /// Bytes used on every server together (`up + down`).
    pub used: i64,
    pub all_time: i64,
    pub last_online: i64,
    pub inbound_ids: Vec<i64>,
}

pub fn client_view(c: ClientRow, t: &ClientTotals, inbound_ids: Vec<i64>) -> ClientView {
    ClientView {
        id: c.id,
        email: c.email,
        uuid: c.uuid,
        password: c.password,
        auth: c.auth,
        flow: c.flow,
        security: c.security,
        sub_id: c.sub_id,
        limit_ip: c.limit_ip,
        total_gb: c.total_bytes,
        expiry_time: c.expiry_time,
        enable: c.enable != 0,
        tg_id: c.tg_id,
        comment: c.comment,
        reset: c.reset_days,
        up: t.up,
        down: t.down,
        used: t.up + t.down,
        all_time: t.all_time,
        last_online: t.last_online,
        inbound_ids,
    }
}

pub async fn load_client(ctl: &Controller, c: ClientRow) -> Result<ClientView, ApiError> {
    let totals = ctl.store.client_total(&c.email).await?;
    let inbounds = ctl.store.inbounds_of_client(c.id).await?;
    Ok(client_view(
        c,
        &totals,
        inbounds.into_iter().map(|i| i.id).collect(),
    ))
}

pub(super) async fn create_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    input: Result<Json<ClientBody>, JsonRejection>,
) -> ApiResult<ClientView> {
    let b = body(input)?;
    let result = async {
        let row = model::create_client(&ctl, &actor.name, &b.client, &b.inbound_ids).await?;
        load_client(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "client.create",
            &format!("client:{}", b.client.email.as_deref().unwrap_or("")),
            json!({"inbounds": b.inbound_ids}),
            result,
        )
        .await
}

#[derive(Deserialize, Default)]
pub(super) struct ClientFilter {
    /// Substring of the email, comment or sub id.
    #[serde(default)]
    search: String,
    /// `online`, `depleted`, `expiring`, `disabled` or `enabled`.
    #[serde(default)]
    filter: String,
    /// Only clients attached to this inbound.
    #[serde(default)]
    inbound: Option<i64>,
}

/// Clients count as online when they had traffic within this long.
pub const ONLINE_WINDOW_MS: i64 = 3 * 60 * 1000;
/// "Expiring soon": within this long.
const EXPIRING_MS: i64 = 3 * 24 * 3600 * 1000;

pub(super) async fn list_clients(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Query(f): Query<ClientFilter>,
) -> ApiResult<Vec<ClientView>> {
    ok(all_client_views(&ctl, &f.search, &f.filter, f.inbound).await?)
}

pub async fn all_client_views(
    ctl: &Controller,
    search: &str,
    filter: &str,
    inbound: Option<i64>,
) -> Result<Vec<ClientView>, ApiError> {
    let totals = ctl.store.client_totals().await?;
    let mut attached: HashMap<i64, Vec<i64>> = HashMap::new();
    for (client, inbound) in ctl.store.attachments().await? {
        attached.entry(client).or_default().push(inbound);
    }
    let now = now_ms();
    let search = search.to_lowercase();
    let empty = ClientTotals::default();
    let mut out = Vec::new();
    for c in ctl.store.all_clients().await? {
        let ids = attached.remove(&c.id).unwrap_or_default();
        if inbound.is_some_and(|i| !ids.contains(&i)) {
            continue;
        }
        if !search.is_empty()
            && ![&c.email, &c.comment, &c.sub_id]
                .iter()
                .any(|s| s.to_lowercase().contains(&search))
        {
            continue;
        }
        let t = totals.get(&c.email).unwrap_or(&empty);
        let used = t.up + t.down;
        let keep = match filter {
            "online" => t.last_online > now - ONLINE_WINDOW_MS,
            "depleted" => {
                (c.total_bytes > 0 && used >= c.total_bytes)
                    || (c.expiry_time > 0 && c.expiry_time <= now)
            }
            "expiring" => c.expiry_time > now && c.expiry_time <= now + EXPIRING_MS,
            "disabled" => c.enable == 0,
            "enabled" => c.enable != 0,
            _ => true,
        };
        if keep {
            let t = t.clone();
            out.push(client_view(c, &t, ids));
        }
    }
    Ok(out)
}

pub(super) async fn get_client(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(email): Path<String>,
) -> ApiResult<ClientView> {
    let client = ctl.store.client_by_email(&email).await?;
    ok(load_client(&ctl, client).await?)
}

pub(super) async fn update_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
    input: Result<Json<ClientInput>, JsonRejection>,
) -> ApiResult<ClientView> {
    let input = body(input)?;
    let result = async {
        let row = model::update_client(&ctl, &actor.name, &email, &input).await?;
        load_client(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "client.update",
            &format!("client:{email}"),
            json!({}),
            result,
        )
        .await
}

#[derive(Deserialize, Default)]
pub(super) struct KeepTraffic {
    #[serde(default, rename = "keepTraffic")]
    keep_traffic: bool,
}

pub(super) async fn delete_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
    Query(q): Query<KeepTraffic>,
) -> ApiResult<()> {
    let result = model::delete_client(&ctl, &actor.name, &email, q.keep_traffic)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    actor
        .answer(
            &ctl,
            "client.delete",
            &format!("client:{email}"),
            json!({"keepTraffic": q.keep_traffic}),
            result,
        )
        .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InboundIds {
    inbound_ids: Vec<i64>,
}

pub(super) async fn attach_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
    input: Result<Json<InboundIds>, JsonRejection>,
) -> ApiResult<ClientView> {
    let b = body(input)?;
    let result = async {
        let row = model::attach(&ctl, &actor.name, &email, &b.inbound_ids).await?;
        load_client(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "client.attach",
            &format!("client:{email}"),
            json!({"inbounds": b.inbound_ids}),
            result,
        )
        .await
}

pub(super) async fn detach_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
    input: Result<Json<InboundIds>, JsonRejection>,
) -> ApiResult<ClientView> {
    let b = body(input)?;
    let result = async {
        let row = model::detach(&ctl, &actor.name, &email, &b.inbound_ids).await?;
        load_client(&ctl, row).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "client.detach",
            &format!("client:{email}"),
            json!({"inbounds": b.inbound_ids}),
            result,
        )
        .await
}

pub(super) async fn reset_client_traffic(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
) -> ApiResult<ClientView> {
    let result = async {
        model::reset_client_traffic(&ctl, &actor.name, &email).await?;
        load_client(&ctl, ctl.store.client_by_email(&email).await?).await
    }
    .await;
    actor
        .answer(
            &ctl,
            "client.reset_traffic",
            &format!("client:{email}"),
            json!({}),
            result,
        )
        .await
}

/// `POST /clients/bulk`: one action on many clients (see `crate::model::bulk`), audited once.
pub(super) async fn bulk_clients(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    input: Result<Json<model::BulkRequest>, JsonRejection>,
) -> ApiResult<model::BulkOutcome> {
    let req = body(input)?;
    let result = model::bulk_clients(&ctl, &actor.name, &req)
        .await
        .map_err(ApiError::from);
    let mut details = json!({"action": req.action, "count": req.emails.len()});
    // A list over the cap is refused; its count is enough to say why.
    if req.emails.len() <= model::MAX_BULK_CLIENTS {
        details["emails"] = json!(req.emails);
    }
    if let Some(days) = req.days {
        details["days"] = json!(days);
    }
    if let Some(keep) = req.keep_traffic {
        details["keepTraffic"] = json!(keep);
    }
    actor
        .answer(&ctl, "client.bulk", "clients", details, result)
        .await
}

#[derive(Serialize)]
pub(super) struct IpRecord {
    ip: String,
    first_seen: i64,
    last_seen: i64,
    /// The client's IP limit is taken by addresses seen first: this one is refused.
    refused: bool,
}

pub(super) async fn client_ips(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(email): Path<String>,
) -> ApiResult<Vec<IpRecord>> {
    ctl.store.client_by_email(&email).await?;
    let ips = ctl.store.client_ip_records(&email).await?;
    ok(ips
        .into_iter()
        .map(|r| IpRecord {
            ip: r.ip,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            refused: r.refused != 0,
        })
        .collect())
}

pub(super) async fn clear_client_ips(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(email): Path<String>,
) -> ApiResult<()> {
    let result = model::clear_client_ips(&ctl, &actor.name, &email)
        .await
        .map_err(ApiError::from);
    actor
        .answer(
            &ctl,
            "client.clear_ips",
            &format!("client:{email}"),
            json!({}),
            result,
        )
        .await
}

pub(super) async fn delete_depleted(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
) -> ApiResult<Vec<String>> {
    let result = model::delete_depleted(&ctl, &actor.name, None)
        .await
        .map_err(ApiError::from);
    actor
        .answer(
            &ctl,
            "client.delete_depleted",
            "clients",
            json!({"deleted": result.as_ref().map(Vec::len).unwrap_or(0)}),
            result,
        )
        .await
}
