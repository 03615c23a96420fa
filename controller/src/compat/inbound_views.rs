//! The read projections v3 added under `/panel/api/inbounds`: `list/slim` (clients reduced
//! to what a list shows), `options` (a picker's entries) and `allLinks` (every client's share
//! link). They are v3-only routes, so they answer in v3's shape: `settings`,
//! `streamSettings` and `sniffing` as objects. Like `list`, they cover the server named by
//! `?server_id=`, else the whole fleet.

use axum::extract::Query;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::inbounds::{list_of, CompatInbound};
use super::v3::INBOUND_FIELDS;
use super::{pick_server, reply, Msg, ServerParam, XuiCall};
use crate::front::ApiError;
use crate::links::{self, host_without_port, SubSettings};
use crate::Controller;

/// The servers a listing covers: the one named by `?server_id=`, else every one.
async fn listed_servers(ctl: &Controller, q: &ServerParam) -> Result<Vec<i64>, ApiError> {
    Ok(match q.named() {
        Some(_) => vec![pick_server(ctl, q).await?.id],
        None => ctl
            .store
            .list_servers()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    })
}

/// An inbound in v3's shape: the JSON columns as objects (null when empty).
pub fn as_v3(inbound: CompatInbound) -> Value {
    let mut v = serde_json::to_value(inbound).unwrap_or_default();
    if let Some(fields) = v.as_object_mut() {
        for key in ["settings", "streamSettings", "sniffing"] {
            let parsed = fields
                .get(key)
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .unwrap_or(Value::Null);
            fields.insert(key.into(), parsed);
        }
        fields.remove("allTime");
    }
    v
}

/// `list/slim`: the list with each client in `settings.clients` cut to email, enable and
/// comment.
pub(super) async fn slim(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    let result = async {
        let mut out = Vec::new();
        for server in listed_servers(&call.ctl, &q).await? {
            out.extend(list_of(&call.ctl, server).await?.into_iter().map(slimmed));
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    reply("", result)
}

fn slimmed(inbound: CompatInbound) -> Value {
    let mut v = as_v3(inbound);
    if let Some(clients) = v["settings"]["clients"].as_array_mut() {
        for c in clients.iter_mut() {
            *c = json!({"email": c["email"], "enable": c["enable"], "comment": c["comment"]});
        }
    }
    v
}

/// One entry of an inbound picker, as v3's `InboundOption`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundOption {
    id: i64,
    remark: String,
    protocol: String,
    port: i64,
    tag: String,
    enable: bool,
    listen: String,
    /// The cipher of a Shadowsocks inbound, else empty.
    ss_method: String,
    /// Whether clients may use the Vision flow here: VLESS over TCP with TLS or REALITY.
    tls_flow_capable: bool,
    share_addr_strategy: &'static str,
    share_addr: &'static str,
}

/// `options`: what a client form needs to offer the server's inbounds.
pub(super) async fn options(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    let result = async {
        let mut rows = Vec::new();
        for server in listed_servers(&call.ctl, &q).await? {
            rows.extend(call.ctl.store.inbounds_of(server).await?);
        }
        Ok::<_, ApiError>(
            rows.into_iter()
                .map(|row| {
                    let settings: Map<String, Value> =
                        serde_json::from_str(&row.settings).unwrap_or_default();
                    let stream: Value =
                        serde_json::from_str(&row.stream_settings).unwrap_or_default();
                    let network = stream["network"].as_str().unwrap_or("tcp");
                    let security = stream["security"].as_str().unwrap_or("none");
                    InboundOption {
                        tls_flow_capable: row.protocol == "vless"
                            && matches!(network, "tcp" | "raw")
                            && matches!(security, "tls" | "reality"),
                        ss_method: if row.protocol == "shadowsocks" {
                            settings
                                .get("method")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned()
                        } else {
                            String::new()
                        },
                        id: row.id,
                        remark: row.remark,
                        protocol: row.protocol,
                        port: row.port,
                        tag: row.tag,
                        enable: row.enable != 0,
                        listen: row.listen,
                        share_addr_strategy: INBOUND_FIELDS.share_addr_strategy,
                        share_addr: INBOUND_FIELDS.share_addr,
                    }
                })
                .collect::<Vec<_>>(),
        )
    }
    .await;
    reply("", result)
}

/// The host the caller reached the panel by: the last resort for a link's address.
pub fn request_host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port)
        .unwrap_or("")
        .to_owned()
}

/// `allLinks`: the share link of every client on every inbound listed.
pub(super) async fn all_links(
    XuiCall(call): XuiCall,
    Query(q): Query<ServerParam>,
    headers: HeaderMap,
) -> Json<Msg> {
    let result = async {
        let ctl = &call.ctl;
        let servers = listed_servers(ctl, &q).await?;
        let mut clients = Vec::new();
        for server in &servers {
            clients.extend(
                ctl.store
                    .clients_of_server(*server)
                    .await?
                    .into_iter()
                    .map(|(_, c)| c),
            );
        }
        clients.sort_by_key(|c| c.id);
        clients.dedup_by_key(|c| c.id);
        let links = share_links(ctl, clients, &headers).await?;
        Ok::<_, ApiError>(
            links
                .into_iter()
                .filter(|l| servers.contains(&l.server_id))
                .map(|l| l.url)
                .collect::<Vec<_>>(),
        )
    }
    .await;
    reply("", result)
}

/// Every share link of these clients, on every server they are attached to.
pub async fn share_links(
    ctl: &Controller,
    clients: Vec<crate::store::ClientRow>,
    headers: &HeaderMap,
) -> Result<Vec<links::ClientLink>, ApiError> {
    let settings = SubSettings::load(&ctl.store).await?;
    let clients = links::with_usage(&ctl.store, clients).await?;
    Ok(links::client_links(&ctl.store, &settings, &clients, &request_host(headers)).await?)
}
