//! `/api/v1/clients/{email}/links` (every share link of a client, with its subscription URLs)
//! and `/api/v1/qr` (a QR code as SVG), for the panel and the bot.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::front::{ok, Actor, ApiError, ApiResult, Call};
use crate::links::settings::SubUrls;
use crate::links::{self, host_without_port, qr, ClientLink, SubSettings};
use crate::model::servers::link_warning;
use crate::model::Refusal;
use crate::store::LinkHostSource;

#[derive(Serialize)]
pub(super) struct ClientLinks {
    sub_id: String,
    subscription: SubUrls,
    links: Vec<ClientLink>,
    /// One per server of these links with no public address known, saying what its links
    /// use instead.
    warnings: Vec<String>,
    /// The same servers as data, for a reader in another language: name, the host its links
    /// use (none: the address each request reached the controller by) and where it came from.
    warning_servers: Vec<WarningServer>,
}

#[derive(Serialize)]
struct WarningServer {
    name: String,
    link_host: Option<String>,
    link_host_source: Option<LinkHostSource>,
}

pub(super) async fn client_links(
    Call { ctl, .. }: Call,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> ApiResult<ClientLinks> {
    let client = ctl.store.client_by_email(&email).await?;
    let settings = SubSettings::load(&ctl.store).await?;
    let request_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port)
        .unwrap_or("")
        .to_owned();
    let clients = links::with_usage(&ctl.store, vec![client]).await?;
    let links = links::client_links(&ctl.store, &settings, &clients, &request_host).await?;
    let sub_id = clients[0].0.sub_id.clone();
    let base = settings.public_base(ctl.sub_listener.as_ref(), &request_host);
    let mut servers: Vec<i64> = links.iter().map(|l| l.server_id).collect();
    servers.sort_unstable();
    servers.dedup();
    let mut warnings = Vec::new();
    let mut warning_servers = Vec::new();
    for id in servers {
        let row = ctl.store.server(id).await?;
        if let Some(warning) = link_warning(&row) {
            warnings.push(warning);
            let host = row.link_host();
            warning_servers.push(WarningServer {
                name: row.name.clone(),
                link_host_source: host.as_ref().map(|(_, source)| *source),
                link_host: host.map(|(h, _)| h),
            });
        }
    }
    ok(ClientLinks {
        subscription: settings.urls(&base, &sub_id),
        sub_id,
        links,
        warnings,
        warning_servers,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QrQuery {
    text: String,
}

pub(super) async fn qr_code(
    _: Actor,
    query: Result<Query<QrQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    if q.text.is_empty() {
        return Err(ApiError::BadRequest(
            Refusal::new("err.text_empty", &[]).into(),
        ));
    }
    let svg = qr::svg(&q.text).map_err(|e| ApiError::BadRequest(e.to_string().into()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
