//! `/api/v1/…/inbounds` and `/api/v1/clients`: the fleet model. Every change reaches the
//! affected servers as a new desired-state revision.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::servers::resolve;
use super::{ok, Actor, ApiError, ApiResult};
use crate::fleet::desired;
use crate::store::{ClientRow, InboundRow, NewClient, NewInbound};
use crate::{generate, Controller};

/// Protocols an inbound may have (3x-ui's list).
const PROTOCOLS: &[&str] = &[
    "vmess",
    "vless",
    "trojan",
    "shadowsocks",
    "socks",
    "mixed",
    "http",
    "tunnel",
    "dokodemo-door",
    "wireguard",
    "hysteria",
    "hysteria2",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InboundBody {
    #[serde(default)]
    remark: String,
    #[serde(default = "yes")]
    enable: bool,
    #[serde(default)]
    listen: String,
    port: i64,
    protocol: String,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    stream_settings: Value,
    #[serde(default)]
    sniffing: Value,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    total: i64,
    #[serde(default)]
    expiry_time: i64,
}

fn yes() -> bool {
    true
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InboundView {
    id: i64,
    server_id: i64,
    remark: String,
    enable: bool,
    listen: String,
    port: i64,
    protocol: String,
    settings: Value,
    stream_settings: Value,
    sniffing: Value,
    tag: String,
    total: i64,
    expiry_time: i64,
    clients: Vec<String>,
}

async fn inbound_view(ctl: &Controller, row: InboundRow) -> Result<InboundView, ApiError> {
    let clients = ctl.store.clients_of_inbound(row.id).await?;
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    Ok(InboundView {
        settings: parse(&row.settings),
        stream_settings: parse(&row.stream_settings),
        sniffing: parse(&row.sniffing),
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
        clients: clients.into_iter().map(|c| c.email).collect(),
    })
}

pub(super) async fn create_inbound(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    body: Result<Json<InboundBody>, JsonRejection>,
) -> ApiResult<InboundView> {
    let Json(b) = body?;
    let result = async {
        let server = resolve(&ctl, &key).await?;
        let port = u16::try_from(b.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ApiError::BadRequest("port must be between 1 and 65535".into()))?;
        if !PROTOCOLS.contains(&b.protocol.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown protocol `{}`",
                b.protocol
            )));
        }
        let clash = ctl
            .store
            .inbounds_of(server.id)
            .await?
            .into_iter()
            .find(|i| {
                i.port == i64::from(port)
                    && (i.listen == b.listen || i.listen.is_empty() || b.listen.is_empty())
            });
        if let Some(other) = clash {
            return Err(ApiError::Conflict(format!(
                "port {port} is already used by inbound `{}` on this server",
                other.tag
            )));
        }
        let mut settings = if b.settings.is_object() {
            b.settings.clone()
        } else {
            json!({})
        };
        // Clients come from attachments, not from the inbound's own JSON.
        settings.as_object_mut().expect("object").remove("clients");
        let tag = if b.tag.is_empty() {
            format!("inbound-{port}")
        } else {
            b.tag.clone()
        };
        let row = ctl
            .store
            .create_inbound(&NewInbound {
                server_id: server.id,
                remark: b.remark.clone(),
                enable: b.enable,
                listen: b.listen.clone(),
                port,
                protocol: b.protocol.clone(),
                settings,
                stream_settings: b.stream_settings.clone(),
                sniffing: b.sniffing.clone(),
                tag,
                total: b.total,
                expiry_time: b.expiry_time,
            })
            .await?;
        desired::push(&ctl, server.id, &actor.name).await?;
        inbound_view(&ctl, row).await
    }
    .await;
    actor
        .audit(
            &ctl,
            "inbound.create",
            &format!("server:{key}"),
            json!({"port": b.port, "protocol": b.protocol}),
            &result,
        )
        .await;
    ok(result?)
}

pub(super) async fn list_inbounds(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(key): Path<String>,
) -> ApiResult<Vec<InboundView>> {
    let server = resolve(&ctl, &key).await?;
    let mut out = Vec::new();
    for row in ctl.store.inbounds_of(server.id).await? {
        out.push(inbound_view(&ctl, row).await?);
    }
    ok(out)
}

pub(super) async fn delete_inbound(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<()> {
    let result = async {
        let row = ctl.store.delete_inbound(id).await?;
        desired::push(&ctl, row.server_id, &actor.name).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "inbound.delete",
            &format!("inbound:{id}"),
            json!({}),
            &result,
        )
        .await;
    ok(result?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClientBody {
    email: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    limit_ip: i64,
    /// Bytes, despite the name (as in 3x-ui).
    #[serde(default, rename = "totalGB")]
    total_gb: i64,
    #[serde(default)]
    expiry_time: i64,
    #[serde(default = "yes")]
    enable: bool,
    #[serde(default)]
    sub_id: String,
    #[serde(default)]
    comment: String,
    /// Inbounds to attach the client to, on any servers.
    #[serde(default)]
    inbound_ids: Vec<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientView {
    id: i64,
    email: String,
    uuid: String,
    password: String,
    flow: String,
    sub_id: String,
    limit_ip: i64,
    #[serde(rename = "totalGB")]
    total_gb: i64,
    expiry_time: i64,
    enable: bool,
    comment: String,
    /// Bytes used on every server together.
    used: i64,
}

async fn client_view(ctl: &Controller, c: ClientRow) -> Result<ClientView, ApiError> {
    let used = ctl.store.client_usage(&c.email).await?;
    Ok(ClientView {
        id: c.id,
        email: c.email,
        uuid: c.uuid,
        password: c.password,
        flow: c.flow,
        sub_id: c.sub_id,
        limit_ip: c.limit_ip,
        total_gb: c.total_bytes,
        expiry_time: c.expiry_time,
        enable: c.enable != 0,
        comment: c.comment,
        used,
    })
}

pub(super) async fn create_client(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<ClientBody>, JsonRejection>,
) -> ApiResult<ClientView> {
    let Json(b) = body?;
    let result = async {
        let email = b.email.trim();
        if email.is_empty() || email.contains(">>>") || email.len() > 128 {
            return Err(ApiError::BadRequest(
                "email must be 1–128 characters without `>>>`".into(),
            ));
        }
        if !b.id.is_empty() && uuid::Uuid::parse_str(&b.id).is_err() {
            return Err(ApiError::BadRequest(format!("id `{}` is not a UUID", b.id)));
        }
        // Check every inbound exists before storing anything.
        let mut inbounds = Vec::new();
        for id in &b.inbound_ids {
            inbounds.push(ctl.store.inbound(*id).await?);
        }
        let client = ctl
            .store
            .create_client(&NewClient {
                email: email.to_owned(),
                sub_id: if b.sub_id.is_empty() {
                    generate::password(16).to_lowercase()
                } else {
                    b.sub_id.clone()
                },
                uuid: if b.id.is_empty() {
                    generate::uuid()
                } else {
                    b.id.clone()
                },
                password: if b.password.is_empty() {
                    generate::password(16)
                } else {
                    b.password.clone()
                },
                auth: String::new(),
                flow: b.flow.clone(),
                limit_ip: b.limit_ip,
                total_bytes: b.total_gb,
                expiry_time: b.expiry_time,
                enable: b.enable,
                tg_id: 0,
                comment: b.comment.clone(),
                reset_days: 0,
            })
            .await?;
        let mut servers = Vec::new();
        for inbound in &inbounds {
            ctl.store.attach_client(client.id, inbound.id).await?;
            if !servers.contains(&inbound.server_id) {
                servers.push(inbound.server_id);
            }
        }
        for server in servers {
            desired::push(&ctl, server, &actor.name).await?;
        }
        client_view(&ctl, client).await
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.create",
            &format!("client:{}", b.email),
            json!({"inbounds": b.inbound_ids}),
            &result,
        )
        .await;
    ok(result?)
}

pub(super) async fn get_client(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(email): Path<String>,
) -> ApiResult<ClientView> {
    let client = ctl.store.client_by_email(&email).await?;
    ok(client_view(&ctl, client).await?)
}
