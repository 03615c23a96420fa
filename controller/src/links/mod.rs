//! What a client is given: a share link for every inbound on every server it is attached to
//! ([`url`] formats, [`json`] client configs, [`clash`] proxies, all from one [`share::Share`]),
//! the subscription URLs and page, and QR codes. The subscription listener serves them
//! (`crate::subscription`); the panel and the bot show them through the native API.
//!
//! Link address, in order: the inbound's `externalProxy` entries (CDN fronting), the server's
//! `public_address`, an address its agent reported reachable from the internet, the host
//! name its agent reported, the Host of the request.

pub mod clash;
pub mod json;
pub mod page;
pub mod qr;
pub mod remark;
pub mod settings;
pub mod share;
#[cfg(test)]
mod tests;
pub mod url;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use xfleet_common::time::now_ms;

pub use settings::{SubListener, SubSettings};
use share::{Credentials, Share, ShareInput};

use crate::store::{ClientRow, Result, ServerRow, Store};

/// One link of a client, with where it leads.
#[derive(Debug, Clone, Serialize)]
pub struct ClientLink {
    pub server_id: i64,
    pub server: String,
    pub inbound_id: i64,
    pub inbound: String,
    pub protocol: String,
    pub remark: String,
    pub url: String,
    #[serde(skip)]
    pub share: Share,
}

/// What several clients sharing one subscription id add up to, for `Subscription-Userinfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub upload: i64,
    pub download: i64,
    /// 0 when any of them is unlimited.
    pub total: i64,
    /// Unix seconds; 0 unless all of them expire at the same moment.
    pub expire: i64,
}

impl UserInfo {
    pub fn header(&self) -> String {
        format!(
            "upload={}; download={}; total={}; expire={}",
            self.upload, self.download, self.total, self.expire
        )
    }
}

/// Clients with their fleet-wide usage `(up, down)`.
pub fn user_info(clients: &[(ClientRow, (i64, i64))]) -> UserInfo {
    let upload = clients.iter().map(|(_, u)| u.0).sum();
    let download = clients.iter().map(|(_, u)| u.1).sum();
    let total = if clients.iter().any(|(c, _)| c.total_bytes <= 0) {
        0
    } else {
        clients.iter().map(|(c, _)| c.total_bytes).sum()
    };
    let first = clients.first().map(|(c, _)| c.expiry_time).unwrap_or(0);
    let expire = if first > 0 && clients.iter().all(|(c, _)| c.expiry_time == first) {
        first / 1000
    } else {
        0
    };
    UserInfo {
        upload,
        download,
        total,
        expire,
    }
}

/// Fleet-wide usage `(up, down)` of the clients, in their order.
pub async fn with_usage(
    store: &Store,
    clients: Vec<ClientRow>,
) -> Result<Vec<(ClientRow, (i64, i64))>> {
    let emails: Vec<&str> = clients.iter().map(|c| c.email.as_str()).collect();
    let usage = store.clients_usage(&emails).await?;
    Ok(clients
        .into_iter()
        .map(|c| {
            let used = usage.get(&c.email).map_or((0, 0), |t| (t.up, t.down));
            (c, used)
        })
        .collect())
}

/// Every link of these clients: each enabled inbound they are attached to on each enabled
/// server, one per endpoint. `request_host` is the last resort for the address.
pub async fn client_links(
    store: &Store,
    settings: &SubSettings,
    clients: &[(ClientRow, (i64, i64))],
    request_host: &str,
) -> Result<Vec<ClientLink>> {
    let servers: HashMap<i64, ServerRow> = store
        .list_servers()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let now = now_ms();
    let mut out = Vec::new();
    for (client, (up, down)) in clients {
        let standing = remark::Standing {
            enabled: client.enable != 0,
            used: up + down,
            total: client.total_bytes,
            expiry_time: client.expiry_time,
        };
        let credentials = Credentials {
            email: client.email.clone(),
            uuid: client.uuid.clone(),
            password: client.password.clone(),
            auth: client.auth.clone(),
            flow: client.flow.clone(),
            security: client.security.clone(),
        };
        for inbound in store.inbounds_of_client(client.id).await? {
            let Some(server) = servers.get(&inbound.server_id) else {
                continue;
            };
            if inbound.enable == 0 || server.enabled == 0 {
                continue;
            }
            let Ok(port) = u16::try_from(inbound.port) else {
                continue;
            };
            let settings_json: Value = serde_json::from_str(&inbound.settings).unwrap_or_default();
            let stream: Value = serde_json::from_str(&inbound.stream_settings).unwrap_or_default();
            let address = address_of(server, request_host);
            let inbound_name = if inbound.remark.is_empty() {
                &inbound.tag
            } else {
                &inbound.remark
            };
            for endpoint in share::endpoints(&stream, &address, port) {
                let text = remark::remark(
                    &settings.remark_model,
                    &remark::Parts {
                        inbound: inbound_name,
                        server: &server.name,
                        email: &client.email,
                        extra: &endpoint.remark,
                    },
                    &standing,
                    settings.show_info,
                    now,
                );
                let Some(share) = share::resolve(&ShareInput {
                    protocol: &inbound.protocol,
                    settings: &settings_json,
                    stream: &stream,
                    client: &credentials,
                    endpoint: &endpoint,
                    remark: &text,
                    peer: 0,
                }) else {
                    continue;
                };
                out.push(ClientLink {
                    server_id: server.id,
                    server: server.name.clone(),
                    inbound_id: inbound.id,
                    inbound: inbound_name.clone(),
                    protocol: share.protocol().to_owned(),
                    remark: text,
                    url: url::link(&share),
                    share,
                });
            }
        }
    }
    Ok(out)
}

/// The server's public address, else an address its agent reported reachable, else its
/// agent's host name, else the request's host ([`ServerRow::link_host`]).
pub fn address_of(server: &ServerRow, request_host: &str) -> String {
    server
        .link_host()
        .map_or_else(|| request_host.to_owned(), |(host, _)| host)
}

/// The host part of a `Host` header value (`example.com:2096` → `example.com`,
/// `[::1]:2096` → `::1`).
pub fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}
