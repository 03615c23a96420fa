//! The browser panel (DESIGN §6): pages under the configured base path, with the templates
//! and static files of `web/` embedded in the binary. A page is a server-rendered shell
//! (layout, navigation, the signed-in user, page data); the ES modules of `web/static/`
//! (entry `app.js`) fill it from the native API with the session cookie, so every change
//! goes through the same handlers as any other API call. Live updates come from [`events`].
//!
//! Paths: `GET /` is the login page (3x-ui's compatible API only takes `POST /login` and
//! `/logout` there); pages live under `/panel/`, beside the compatible `/panel/api/`.

mod assets;
pub mod events;
mod html;

pub use events::{events_job, Events};

/// The panel's row of the native route table: the live events the pages listen to.
pub fn api_routes() -> Vec<Route> {
    vec![route(
        "GET",
        "/events",
        "Live fleet snapshots as server-sent events (`snapshot`)",
        get(events::stream),
    )]
}

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use self::html::{fill, json_block, language_menu, Html, Slot};
use crate::front::auth::{
    actor_from_session_token, cookie_value, two_factor_enabled, Actor, SESSION_COOKIE,
};
use crate::front::routes::{route, Route};
use crate::i18n::{self, Language};
use crate::Controller;

const LAYOUT: &str = include_str!("../../../web/templates/layout.html");
const LOGIN: &str = include_str!("../../../web/templates/login.html");

/// The cookie the theme switch sets: `dark` or `light`; absent follows the system.
const THEME_COOKIE: &str = "xfleet_theme";

/// Pages: id (what `app.js` renders), path below the base path, and the catalog key of the
/// title and nav label.
const PAGES: &[(&str, &str, &str)] = &[
    ("dashboard", "/panel/", "page.dashboard"),
    ("servers", "/panel/servers", "page.servers"),
    ("server", "/panel/server", "page.server"),
    ("inbounds", "/panel/inbounds", "page.inbounds"),
    ("inbound", "/panel/inbound", "page.inbound"),
    ("clients", "/panel/clients", "page.clients"),
    ("client", "/panel/client", "page.client"),
    ("core", "/panel/core", "page.core"),
    ("tasks", "/panel/tasks", "page.tasks"),
    ("audit", "/panel/audit", "page.audit"),
    ("logs", "/panel/logs", "logs.title"),
    ("settings", "/panel/settings", "page.settings"),
];

/// The page an unknown panel address gets (status 404), with the panel around it.
const NOT_FOUND: (&str, &str) = ("notfound", "page.notfound");

/// Pages in the main navigation.
const NAV: &[&str] = &[
    "dashboard",
    "servers",
    "inbounds",
    "clients",
    "core",
    "tasks",
    "audit",
    "logs",
    "settings",
];

/// The panel's routes, under the base path.
pub fn router(ctl: &Controller) -> Router<Arc<Controller>> {
    let mut routes = Router::new()
        .route("/", get(login_page))
        .route("/panel", get(to_dashboard))
        .route("/panel/static/{version}/{file}", get(assets::serve));
    for (id, path, _) in PAGES {
        let id = *id;
        routes = routes.route(
            path,
            get(move |state: State<Arc<Controller>>, req: Request| page(state, req, id)),
        );
    }
    let routes = routes.fallback(not_found);
    let prefix = ctl.config.base_prefix();
    if prefix.is_empty() {
        routes
    } else {
        // `nest` does not match the bare prefix with a trailing slash; send it to the login page.
        let login = format!("{prefix}/");
        Router::new()
            .nest(&prefix, routes)
            .route(&login, get(login_page))
    }
}

/// The reader's language: the language menu's cookie, else `Accept-Language`.
fn language(headers: &HeaderMap) -> &'static Language {
    let cookie = cookie_value(headers, i18n::COOKIE);
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    i18n::choose(cookie.as_deref(), accept)
}

fn theme(headers: &HeaderMap) -> &'static str {
    match cookie_value(headers, THEME_COOKIE).as_deref() {
        Some("dark") => "dark",
        Some("light") => "light",
        _ => "auto",
    }
}

/// The signed-in user behind the session cookie, if any.
async fn session_user(ctl: &Controller, headers: &HeaderMap) -> Option<Actor> {
    let token = cookie_value(headers, SESSION_COOKIE)?;
    actor_from_session_token(ctl, &token, "")
        .await
        .ok()
        .flatten()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// Pages are never cached and never framed; scripts and styles come only from the panel.
fn html_response(body: String) -> Response {
    let mut resp = ([(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    crate::https::headers::secure_page(resp.headers_mut());
    resp
}

async fn to_dashboard(State(ctl): State<Arc<Controller>>) -> Response {
    redirect(&format!("{}/panel/", ctl.config.base_prefix()))
}

async fn login_page(State(ctl): State<Arc<Controller>>, req: Request) -> Response {
    let base = ctl.config.base_prefix();
    let headers = req.headers();
    if session_user(&ctl, headers).await.is_some() {
        return redirect(&format!("{base}/panel/"));
    }
    let query = req.uri().query().unwrap_or("");
    let expired = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "expired");
    let lang = language(headers);
    let notice = if expired {
        Html(format!(
            "<div class=\"alert info\" role=\"status\">{}</div>",
            crate::util::html_escape(lang.text("login.expired"))
        ))
    } else {
        Html::default()
    };
    // Ask for the code only when some account has two-factor login, as 3x-ui does.
    let two_factor = if two_factor_enabled(&ctl).await.unwrap_or(true) {
        Html(format!(
            "<label for=\"two-factor\">{}</label>\
              <input id=\"two-factor\" name=\"twoFactorCode\" inputmode=\"numeric\" \
              autocomplete=\"one-time-code\" pattern=\"[0-9]*\" maxlength=\"8\">",
            crate::util::html_escape(lang.text("login.two_factor"))
        ))
    } else {
        Html::default()
    };
    let menu = language_menu(lang);
    html_response(fill(
        LOGIN,
        lang,
        &[
            ("lang", Slot::Text(lang.code)),
            ("dir", Slot::Text(lang.dir())),
            ("language_menu", Slot::Html(&menu)),
            ("theme", Slot::Text(theme(headers))),
            ("base", Slot::Text(&base)),
            ("version", Slot::Text(assets::version())),
            ("notice", Slot::Html(&notice)),
            ("two_factor", Slot::Html(&two_factor)),
        ],
    ))
}

/// An address no route takes: below `/panel/`, the panel's own page saying so (status 404,
/// a way back); anywhere else a bare 404, as before.
async fn not_found(state: State<Arc<Controller>>, req: Request) -> Response {
    let panel = format!("{}/panel/", state.config.base_prefix());
    if !req.uri().path().starts_with(&panel) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut resp = page(state, req, NOT_FOUND.0).await;
    // Without a session the answer is the way to the login page, as for every page.
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    resp
}

async fn page(State(ctl): State<Arc<Controller>>, req: Request, id: &'static str) -> Response {
    let base = ctl.config.base_prefix();
    let headers = req.headers();
    let Some(user) = session_user(&ctl, headers).await else {
        let here = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return redirect(&format!("{base}/?next={next}"));
    };
    let lang = language(headers);
    let (_, _, title) =
        PAGES
            .iter()
            .find(|(p, _, _)| *p == id)
            .copied()
            .unwrap_or(("", "", NOT_FOUND.1));
    let title = lang.text(title);
    let nav_items: Vec<(&str, &str, &str)> = NAV
        .iter()
        .filter_map(|n| PAGES.iter().find(|(p, _, _)| p == n).copied())
        .map(|(id, path, key)| (id, path, lang.text(key)))
        .collect();
    // The detail pages belong to their list in the navigation.
    let current = match id {
        "server" => "servers",
        "inbound" => "inbounds",
        "client" => "clients",
        other => other,
    };
    let nav = html::nav(&base, current, &nav_items);
    let mut data = page_data(&ctl, id);
    // How every page shows dates: 3x-ui's `datepicker` (gregorian, or jalalian for the Persian
    // calendar).
    let calendar = ctl.store.setting("datepicker").await.ok().flatten();
    data["calendar"] = json!(calendar.unwrap_or_else(|| "gregorian".into()));
    let data = json_block(&data);
    let notice = password_notice(&ctl, &user, &base, lang).await;
    let menu = language_menu(lang);
    html_response(fill(
        LAYOUT,
        lang,
        &[
            ("lang", Slot::Text(lang.code)),
            ("dir", Slot::Text(lang.dir())),
            ("language_menu", Slot::Html(&menu)),
            ("theme", Slot::Text(theme(headers))),
            ("title", Slot::Text(title)),
            ("base", Slot::Text(&base)),
            ("version", Slot::Text(assets::version())),
            ("page", Slot::Text(id)),
            ("nav", Slot::Html(&nav)),
            ("user", Slot::Text(&user.name)),
            ("notice", Slot::Html(&notice)),
            ("data", Slot::Html(&data)),
        ],
    ))
}

/// On every page while the account still has the password generated at first start.
async fn password_notice(ctl: &Controller, user: &Actor, base: &str, lang: &Language) -> Html {
    if !ctl
        .store
        .password_change_required(user.user_id)
        .await
        .unwrap_or(false)
    {
        return Html::default();
    }
    let esc = crate::util::html_escape;
    Html(format!(
        "<div class=\"alert warn\" role=\"alert\" id=\"password-notice\">{} \
         <a href=\"{}/panel/settings\">{}</a></div>",
        esc(lang.text("layout.default_password")),
        esc(base),
        esc(lang.text("layout.change_password")),
    ))
}

/// What a page needs that the API does not serve: the controller's own configuration.
fn page_data(ctl: &Controller, id: &str) -> Value {
    let c = &ctl.config;
    let mut data = json!({"version": xfleet_common::VERSION});
    if id == "settings" {
        let (listen, port) = c
            .panel_listen
            .rsplit_once(':')
            .unwrap_or((c.panel_listen.as_str(), ""));
        data["config"] = json!({
            "panel_listen": c.panel_listen,
            "panel_address": listen.trim_matches(['[', ']']),
            "panel_port": port,
            "panel_tls": ctl.panel_tls.as_ref().map(|f| json!({
                "cert_file": f.cert_file,
                "key_file": f.key_file,
                "cert_setting": f.cert_setting,
            })),
            "base_path": if c.base_prefix().is_empty() { "/".to_owned() } else { format!("{}/", c.base_prefix()) },
            "gateway_url": ctl.gateway_url,
            "gateway_listen": c.gateway_listen,
            "session_ttl_secs": c.session_ttl_secs,
            "token_ttl_secs": c.token_ttl_secs,
            "local_server": c.local_server,
            "place": ctl.panel_place,
        });
    }
    data
}
