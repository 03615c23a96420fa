//! Subscriptions (`reference/3x-ui.md` §6): one URL per client listing a link for every
//! inbound on every server the client is attached to, on a listener of its own, plain HTTP or
//! TLS (`subCertFile`/`subKeyFile`). One handler reads the current settings and answers
//! `{subPath}<subId>` (links, or the page for a browser), `{subJsonPath}<subId>` and
//! `{subClashPath}<subId>` with what [`crate::links`] renders. An unknown id is a bare 404;
//! every client address is rate limited.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::net::TcpListener;

use crate::front::auth::cookie_value;
use crate::i18n::{self, Language};
use crate::links::page::{self, PageClient};
use crate::links::{
    clash, client_links, host_without_port, json, user_info, with_usage, SubSettings,
};
use crate::{https, Controller};

/// Accepts connections until shutdown, with TLS when `tls` is given.
pub async fn serve(
    ctl: Arc<Controller>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let router = Router::new().fallback(handle).with_state(ctl.clone());
    https::serve(listener, router, tls, ctl.shutdown.clone(), "subscriptions").await;
}

enum Format {
    Links,
    Json,
    Clash,
}

fn bare(status: StatusCode) -> Response {
    (status, "").into_response()
}

/// The page visitor's language: the panel's language menu cookie when the browser sends it
/// here too, else `Accept-Language`.
fn visitor_language(headers: &HeaderMap) -> &'static Language {
    let cookie = cookie_value(headers, i18n::COOKIE);
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    i18n::choose(cookie.as_deref(), accept)
}

/// Only the links format has a page for browsers.
fn wants_page(format: &Format) -> bool {
    matches!(format, Format::Links)
}

/// A file the subscription page loads (its script and icon), or a bare 404.
fn page_asset(name: &str) -> Response {
    let Some((_, content_type, body)) = page::ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let mut r = (StatusCode::OK, *body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn handle(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(retry) = ctl.sub_limit.hit(peer.ip()) {
        let mut r = bare(StatusCode::TOO_MANY_REQUESTS);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return r;
    }
    if method != Method::GET && method != Method::HEAD {
        return bare(StatusCode::METHOD_NOT_ALLOWED);
    }
    match answer(&ctl, peer, &uri, &headers).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "subscription request failed");
            bare(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn answer(
    ctl: &Controller,
    _peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
) -> anyhow::Result<Response> {
    let settings = SubSettings::load(&ctl.store).await?;
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host_header = header_text("x-forwarded-host")
        .or_else(|| header_text("host"))
        .unwrap_or("");
    let host = host_without_port(host_header);
    if !settings.domain.is_empty() && !host.eq_ignore_ascii_case(&settings.domain) {
        return Ok(bare(StatusCode::FORBIDDEN));
    }
    let path = uri.path();
    let (format, sub_id) = if let Some(id) = path.strip_prefix(settings.path.as_str()) {
        (Format::Links, id)
    } else if let Some(id) = path
        .strip_prefix(settings.json_path.as_str())
        .filter(|_| settings.json_enable)
    {
        (Format::Json, id)
    } else if let Some(id) = path
        .strip_prefix(settings.clash_path.as_str())
        .filter(|_| settings.clash_enable)
    {
        (Format::Clash, id)
    } else {
        return Ok(bare(StatusCode::NOT_FOUND));
    };
    if let Some(asset) = sub_id
        .strip_prefix("assets/")
        .filter(|_| wants_page(&format))
    {
        return Ok(page_asset(asset));
    }
    if sub_id.is_empty() || sub_id.len() > 128 || sub_id.contains('/') {
        return Ok(bare(StatusCode::NOT_FOUND));
    }
    let clients = ctl.store.clients_by_sub_id(sub_id).await?;
    if clients.is_empty() {
        return Ok(bare(StatusCode::NOT_FOUND));
    }
    let clients = with_usage(&ctl.store, clients).await?;
    let info = user_info(&clients);
    let links = client_links(&ctl.store, &settings, &clients, host).await?;
    let shares: Vec<_> = links.iter().map(|l| &l.share).collect();
    let tls = ctl.sub_listener.is_some_and(|l| l.tls)
        || header_text("x-forwarded-proto") == Some("https");
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://{host_header}");

    let query = uri.query().unwrap_or("");
    let wants_html = wants_page(&format)
        && (header_text("accept").is_some_and(|a| a.contains("text/html"))
            || query
                .split('&')
                .any(|kv| kv == "view=html" || kv == "html=1"));
    let (content_type, body) = if wants_html {
        let page_clients: Vec<PageClient<'_>> = clients
            .iter()
            .map(|(c, _)| PageClient {
                email: &c.email,
                enabled: c.enable != 0,
            })
            .collect();
        let urls = settings.urls(&base, sub_id);
        let page = page::Page {
            title: &settings.title,
            clients: &page_clients,
            info: &info,
            urls: &urls,
            links: &links,
            support_url: &settings.support_url,
            announce: &settings.announce,
            lang: visitor_language(headers),
        };
        ("text/html; charset=utf-8", page::render(&page))
    } else {
        match format {
            Format::Links => {
                let mut text = String::new();
                for l in &links {
                    text.push_str(&l.url);
                    text.push('\n');
                }
                if settings.encrypt {
                    text = STANDARD.encode(text);
                }
                ("text/plain; charset=utf-8", text)
            }
            Format::Json => (
                "application/json",
                serde_json::to_string_pretty(&json::document(&shares))?,
            ),
            Format::Clash => ("application/yaml; charset=utf-8", clash::document(&shares)),
        }
    };

    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set("content-type", content_type.into());
    set("cache-control", "no-store".into());
    set("x-content-type-options", "nosniff".into());
    set("subscription-userinfo", info.header());
    set("profile-update-interval", settings.updates.to_string());
    if !settings.title.is_empty() {
        set(
            "profile-title",
            format!("base64:{}", STANDARD.encode(&settings.title)),
        );
    }
    if !settings.support_url.is_empty() {
        set("support-url", settings.support_url.clone());
    }
    if !settings.announce.is_empty() {
        set(
            "announce",
            format!("base64:{}", STANDARD.encode(&settings.announce)),
        );
    }
    if !settings.routing_rules.is_empty() {
        set("routing-enable", settings.routing_enable.to_string());
        if settings.routing_enable {
            set("routing", settings.routing_rules.clone());
        }
    }
    let page_url = if settings.profile_url.is_empty() {
        format!("{base}{}", uri.path())
    } else {
        settings.profile_url.clone()
    };
    set("profile-web-page-url", page_url);
    if wants_html {
        https::headers::secure_page(r.headers_mut());
    }
    Ok(r)
}
