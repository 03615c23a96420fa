//! `/api/v1/…/inbounds` and `/api/v1/clients`: the fleet model. Every change reaches the
//! affected servers as a new desired-state revision (see `crate::model`).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::servers::resolve;
use crate::model::{self, load_client, ClientInput, ClientView, InboundInput};
use crate::store::InboundRow;
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
    /// Why the server's core runs without this inbound, in the core's own words; `None`
    /// while it runs it (or has not said otherwise).
    pub core_error: Option<String>,
}

pub fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

/// The core's words about each failed inbound of a server, by tag.
async fn failures_of(
    ctl: &Controller,
    server_id: i64,
) -> Result<HashMap<String, String>, ApiError> {
    Ok(ctl
        .store
        .inbound_failures(Some(server_id))
        .await?
        .into_iter()
        .map(|f| (f.tag, f.message))
        .collect())
}

async fn inbound_view(ctl: &Controller, row: InboundRow) -> Result<InboundView, ApiError> {
    let clients = ctl.store.clients_of_inbound(row.id).await?;
    let totals = ctl.store.inbound_totals(row.server_id).await?;
    let failures = failures_of(ctl, row.server_id).await?;
    Ok(view_of(
        row,
        &totals,
        &failures,
        clients.into_iter().map(|c| c.email).collect(),
    ))
}

fn view_of(
    row: InboundRow,
    totals: &HashMap<String, (i64, i64, i64)>,
    failures: &HashMap<String, String>,
    clients: Vec<String>,
) -> InboundView {
    let (up, down, all_time) = totals.get(&row.tag).copied().unwrap_or_default();
    let core_error = failures.get(&row.tag).cloned();
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
        core_error,
    }
}

pub(super) async fn create_inbound(
    call: Call,
    Path(key): Path<String>,
    JsonBody(input): JsonBody<InboundInput>,
) -> ApiResult<InboundView> {
    let audit = Audit::new("inbound.create", format!("server:{key}"))
        .with(json!({"port": input.port, "protocol": input.protocol}));
    call.answer(audit, async {
        let server = resolve(&call.ctl, &key).await?;
        let row = model::create_inbound(&call.ctl, call.who(), server.id, &input).await?;
        inbound_view(&call.ctl, row).await
    })
    .await
}

pub(super) async fn list_inbounds(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
) -> ApiResult<Vec<InboundView>> {
    let server = resolve(&ctl, &key).await?;
    let totals = ctl.store.inbound_totals(server.id).await?;
    let failures = failures_of(&ctl, server.id).await?;
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
            view_of(row, &totals, &failures, clients)
        })
        .collect();
    ok(out)
}

pub(super) async fn get_inbound(
    Call { ctl, .. }: Call,
    Path(id): Path<i64>,
) -> ApiResult<InboundView> {
    let row = ctl.store.inbound(id).await?;
    ok(inbound_view(&ctl, row).await?)
}

pub(super) async fn update_inbound(
    call: Call,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<InboundInput>,
) -> ApiResult<InboundView> {
    let audit = Audit::new("inbound.update", format!("inbound:{id}"))
        .with(json!({"port": input.port, "protocol": input.protocol}));
    call.answer(audit, async {
        let row = model::update_inbound(&call.ctl, call.who(), id, &input).await?;
        inbound_view(&call.ctl, row).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableBody {
    enable: bool,
}

pub(super) async fn set_inbound_enable(
    call: Call,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<EnableBody>,
) -> ApiResult<InboundView> {
    let audit =
        Audit::new("inbound.enable", format!("inbound:{id}")).with(json!({"enable": input.enable}));
    call.answer(audit, async {
        let row = model::set_inbound_enable(&call.ctl, call.who(), id, input.enable).await?;
        inbound_view(&call.ctl, row).await
    })
    .await
}

pub(super) async fn reset_inbound_traffic(call: Call, Path(id): Path<i64>) -> ApiResult<()> {
    call.answer(
        Audit::new("inbound.reset_traffic", format!("inbound:{id}")),
        async {
            model::reset_inbounds_traffic(&call.ctl, call.who(), None, Some(id)).await?;
            Ok(())
        },
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
    call: Call,
    Path(id): Path<i64>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<()> {
    let audit = Audit::new("inbound.delete", format!("inbound:{id}"))
        .with(json!({"deleteClients": q.delete_clients}));
    call.answer(audit, async {
        model::delete_inbound(&call.ctl, call.who(), id, q.delete_clients).await?;
        Ok(())
    })
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

pub(super) async fn create_client(
    call: Call,
    JsonBody(b): JsonBody<ClientBody>,
) -> ApiResult<ClientView> {
    let email = b.client.email.as_deref().unwrap_or("");
    let audit = Audit::new("client.create", format!("client:{email}"))
        .with(json!({"inbounds": b.inbound_ids}));
    call.answer(audit, async {
        let row = model::create_client(&call.ctl, call.who(), &b.client, &b.inbound_ids).await?;
        Ok(load_client(&call.ctl, row).await?)
    })
    .await
}

/// Most clients one call may create (3x-ui's "add bulk" makes at most a few hundred).
pub const MAX_CLIENTS_PER_CALL: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ManyClients {
    clients: Vec<ClientInput>,
    /// Inbounds to attach every client to, on any servers.
    #[serde(default)]
    inbound_ids: Vec<i64>,
}

#[derive(Serialize)]
pub(super) struct ManyCreated {
    created: usize,
    emails: Vec<String>,
}

/// Creates many clients attached to the same inbounds, all or none (3x-ui's "add bulk"):
/// every problem with any of them is answered at once, and nothing is written then.
pub(super) async fn create_clients(
    call: Call,
    JsonBody(b): JsonBody<ManyClients>,
) -> ApiResult<ManyCreated> {
    let audit = Audit::new("client.create", "clients")
        .with(json!({"count": b.clients.len(), "inbounds": b.inbound_ids}));
    call.answer(audit, async {
        if b.clients.is_empty() || b.clients.len() > MAX_CLIENTS_PER_CALL {
            return Err(ApiError::Invalid(vec![model::FieldError::said(
                "clients",
                "err.clients_count",
                &[("max", MAX_CLIENTS_PER_CALL.to_string())],
            )]));
        }
        let rows = model::add_clients(&call.ctl, call.who(), &b.clients, &b.inbound_ids).await?;
        Ok(ManyCreated {
            created: rows.len(),
            emails: rows.into_iter().map(|r| r.email).collect(),
        })
    })
    .await
}

pub(super) async fn get_client(
    Call { ctl, .. }: Call,
    Path(email): Path<String>,
) -> ApiResult<ClientView> {
    let client = ctl.store.client_by_email(&email).await?;
    ok(load_client(&ctl, client).await?)
}

pub(super) async fn update_client(
    call: Call,
    Path(email): Path<String>,
    JsonBody(input): JsonBody<ClientInput>,
) -> ApiResult<ClientView> {
    call.answer(
        Audit::new("client.update", format!("client:{email}")),
        async {
            let row = model::update_client(&call.ctl, call.who(), &email, &input).await?;
            Ok(load_client(&call.ctl, row).await?)
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub(super) struct KeepTraffic {
    #[serde(default, rename = "keepTraffic")]
    keep_traffic: bool,
}

pub(super) async fn delete_client(
    call: Call,
    Path(email): Path<String>,
    Query(q): Query<KeepTraffic>,
) -> ApiResult<()> {
    let audit = Audit::new("client.delete", format!("client:{email}"))
        .with(json!({"keepTraffic": q.keep_traffic}));
    call.answer(audit, async {
        model::delete_client(&call.ctl, call.who(), &email, q.keep_traffic).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InboundIds {
    inbound_ids: Vec<i64>,
}

pub(super) async fn attach_client(
    call: Call,
    Path(email): Path<String>,
    JsonBody(b): JsonBody<InboundIds>,
) -> ApiResult<ClientView> {
    let audit = Audit::new("client.attach", format!("client:{email}"))
        .with(json!({"inbounds": b.inbound_ids}));
    call.answer(audit, async {
        let row = model::attach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        Ok(load_client(&call.ctl, row).await?)
    })
    .await
}

pub(super) async fn detach_client(
    call: Call,
    Path(email): Path<String>,
    JsonBody(b): JsonBody<InboundIds>,
) -> ApiResult<ClientView> {
    let audit = Audit::new("client.detach", format!("client:{email}"))
        .with(json!({"inbounds": b.inbound_ids}));
    call.answer(audit, async {
        let row = model::detach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        Ok(load_client(&call.ctl, row).await?)
    })
    .await
}

pub(super) async fn reset_client_traffic(
    call: Call,
    Path(email): Path<String>,
) -> ApiResult<ClientView> {
    call.answer(
        Audit::new("client.reset_traffic", format!("client:{email}")),
        async {
            model::reset_client_traffic(&call.ctl, call.who(), &email).await?;
            let row = call.ctl.store.client_by_email(&email).await?;
            Ok(load_client(&call.ctl, row).await?)
        },
    )
    .await
}

/// `POST /clients/bulk`: one action on many clients (see `crate::model::bulk`), audited once.
pub(super) async fn bulk_clients(
    call: Call,
    JsonBody(req): JsonBody<model::BulkRequest>,
) -> ApiResult<model::BulkOutcome> {
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
    call.answer(Audit::new("client.bulk", "clients").with(details), async {
        Ok(model::bulk_clients(&call.ctl, call.who(), &req).await?)
    })
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
    Call { ctl, .. }: Call,
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

pub(super) async fn clear_client_ips(call: Call, Path(email): Path<String>) -> ApiResult<()> {
    call.answer(
        Audit::new("client.clear_ips", format!("client:{email}")),
        async { Ok(model::clear_client_ips(&call.ctl, call.who(), &email).await?) },
    )
    .await
}

pub(super) async fn delete_depleted(call: Call) -> ApiResult<Vec<String>> {
    let result = model::delete_depleted(&call.ctl, call.who(), None)
        .await
        .map_err(ApiError::from);
    let deleted = result.as_ref().map(Vec::len).unwrap_or(0);
    let audit = Audit::new("client.delete_depleted", "clients").with(json!({"deleted": deleted}));
    call.answer(audit, async { result }).await
}
