//! The 3x-ui compatible API (`reference/3x-ui.md` §1): the v2.8–v2.9 routes existing scripts
//! use, and v3's surface (login/CSRF/Bearer, the clients API, its inbound, client, token and
//! server routes) current SDKs target, all under the configured base path. Answers carry v3's
//! full shapes, which v2 clients ignore; v3's fields and routes for features xfleet lacks are
//! in `v3` and `absent`.
//!
//! Conventions kept byte for byte where scripts depend on them: the `{success, msg, obj}`
//! envelope with HTTP 200 even for failures; bodies as JSON or as a form, with the same field
//! names; inbound `settings`/`streamSettings`/`sniffing` as JSON strings on the routes v2 has
//! (v3-only routes answer objects); the `3x-ui` session cookie; unauthenticated
//! `/panel/api/*` answered with an empty 404 (401 JSON for XHR).
//!
//! CSRF, as 3x-ui v3 does it: the token lives with the session behind the `3x-ui` cookie, so
//! a client that keeps only that cookie (py3xui, x3ui) can send it back. `GET /csrf-token`
//! before login sets a pre-login `3x-ui` cookie holding the token; the login that sends it as
//! `X-CSRF-Token` carries it into the new session, and later calls send the same header. The
//! session cookie is `SameSite=Lax`; a change whose `Origin` (or, without one, `Referer`)
//! names another site, or is `null`, is refused; and an `X-CSRF-Token` header, when sent,
//! must be the session's token. The header is not required, so v2 scripts that only replay
//! the cookie keep working. Logging out takes a `POST`: v2's `GET /logout` only goes to the
//! login page.

mod absent;
mod api_tokens;
mod client_bulk;
mod client_paged;
mod client_records;
mod clients;
mod de;
mod inbound_bulk;
mod inbound_clients;
mod inbound_fallbacks;
mod inbound_views;
mod inbounds;
mod outbounds;
mod server;
mod settings;
mod v3;
mod warp;
mod xray;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, MatchedPath, OriginalUri, Request, State,
};
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use xfleet_common::enrollment::sha256_hex;

use crate::front::auth::{
    actor_from_bearer, actor_from_session_token, authenticate, bearer, check_same_origin,
    client_ip, close_session, cookie_value, open_session, session_ttl_secs, two_factor_enabled,
};
use crate::front::{done, failed, reply, ApiError, Call, Msg};
use crate::model::servers::{default_server, resolve};
use crate::store::ServerRow;
use crate::util::{constant_time_eq, random_secret};
use crate::Controller;

pub const SESSION_COOKIE: &str = "3x-ui";
/// Before login the `3x-ui` cookie holds `pre.<CSRF token>`: no session, only the token the
/// login must send back.
const PRE_LOGIN: &str = "pre.";
/// Bodies larger than this are refused with `success:false`.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn router(ctl: Arc<Controller>) -> Router<Arc<Controller>> {
    let api = Router::new()
        .nest(
            "/inbounds",
            inbounds::routes().merge(inbound_clients::routes()),
        )
        .nest("/server", server::routes())
        .nest("/clients", clients::routes())
        .nest(
            "/setting",
            settings::routes()
                .merge(api_tokens::routes())
                .merge(absent::setting_routes()),
        )
        .nest("/xray", xray::routes())
        .route("/xray/", post(xray::template))
        .nest("/hosts", absent::hosts_routes())
        .nest("/nodes", absent::nodes_routes())
        .route(
            "/backuptotgbot",
            get(server::backup_to_bot).post(server::backup_to_bot),
        )
        .fallback(unknown_api_route);
    let routes = Router::new()
        .route("/login", post(login))
        .route("/logout", get(logout_redirect).post(logout))
        .route("/csrf-token", get(csrf_token))
        .route("/getTwoFactorEnable", post(two_factor_enable))
        .nest("/panel/api", api)
        .nest("/panel/setting", settings::routes())
        .nest("/panel/xray", xray::routes())
        .route("/panel/xray/", post(xray::template))
        .route("/panel/API/{*rest}", any(legacy_redirect))
        .route("/xui/{*rest}", any(legacy_redirect));
    let prefix = ctl.config.base_prefix();
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(&prefix, routes)
    }
}

/// Authenticated or not, an unknown `/panel/api` route looks like every hidden one.
async fn unknown_api_route(_: XuiCall) -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// v2 redirects `/xui/…` and `/panel/API/…` to their current paths.
async fn legacy_redirect(State(ctl): State<Arc<Controller>>, req: Request) -> Response {
    let prefix = ctl.config.base_prefix();
    let path = req.uri().path();
    let rest = path.strip_prefix(&prefix).unwrap_or(path);
    let target = if let Some(r) = rest.strip_prefix("/panel/API") {
        format!("{prefix}/panel/api{r}")
    } else if let Some(r) = rest.strip_prefix("/xui") {
        format!("{prefix}/panel{r}")
    } else {
        format!("{prefix}/")
    };
    (StatusCode::MOVED_PERMANENTLY, [(LOCATION, target)]).into_response()
}

/// A cookie's value; an emptied cookie counts as absent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_value(headers, name).filter(|v| !v.is_empty())
}

/// A caller of the compatible API: a `3x-ui` cookie session or an API token, checked by
/// 3x-ui's rules (hidden routes, CSRF, read-only tokens on the POST routes that read).
pub struct XuiCall(pub Call);

/// Why a request is refused before it reaches a route.
pub enum Refusal {
    /// Hidden: an empty 404, as 3x-ui answers unauthenticated API calls.
    Hidden,
    /// An XHR without a session: 401 with a JSON message.
    LoginAgain,
    /// A page-side route (`/panel/setting/…`) without a session: back to the login page.
    ToLogin(String),
    Forbidden(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Hidden => StatusCode::NOT_FOUND.into_response(),
            Self::ToLogin(page) => {
                (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, page)]).into_response()
            }
            Self::LoginAgain => (
                StatusCode::UNAUTHORIZED,
                Json(Msg {
                    success: false,
                    msg: "Your session has expired, please login again".into(),
                    obj: Value::Null,
                }),
            )
                .into_response(),
            Self::Forbidden(reason) => (
                StatusCode::FORBIDDEN,
                Json(Msg {
                    success: false,
                    msg: reason,
                    obj: Value::Null,
                }),
            )
                .into_response(),
        }
    }
}

impl FromRequestParts<Arc<Controller>> for XuiCall {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        ctl: &Arc<Controller>,
    ) -> Result<Self, Self::Rejection> {
        let xhr = parts
            .headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
        // 3x-ui hides its API (`/panel/api/…`) and sends the other panel routes to login.
        let api_route = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |u| u.path())
            .contains("/panel/api/");
        let unauthenticated = if xhr {
            Refusal::LoginAgain
        } else if api_route {
            Refusal::Hidden
        } else {
            Refusal::ToLogin(cookie_path(ctl))
        };
        let ip = client_ip(parts);
        let actor = if let Some(token) = bearer(&parts.headers) {
            match actor_from_bearer(ctl, token, &ip).await {
                Ok(Some(actor)) => actor,
                _ => return Err(unauthenticated),
            }
        } else if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            match actor_from_session_token(ctl, &session, &ip).await {
                Ok(Some(actor)) => {
                    let authority = parts.uri.authority().map(|a| a.as_str());
                    check_csrf(ctl, &parts.method, &parts.headers, authority).await?;
                    actor
                }
                _ => return Err(unauthenticated),
            }
        } else {
            return Err(unauthenticated);
        };
        // Read-only tokens may read: GET, and the POST routes 3x-ui uses for reads.
        if actor.scope != "admin" && !read_only_allowed(ctl, parts) {
            return Err(Refusal::Forbidden(format!(
                "a `{}` token can only read",
                actor.scope
            )));
        }
        Ok(XuiCall(Call {
            ctl: ctl.clone(),
            actor,
        }))
    }
}

/// The POST routes 3x-ui uses for reads, as route patterns under the base path. A read-only
/// token is checked against the route that matched, never against the concrete path, so a
/// client named `statusbot` or `logs` gives its delete route no read-only look.
const READ_ROUTES: &[&str] = &[
    "/panel/api/clients/onlines",
    "/panel/api/clients/lastOnline",
    "/panel/api/clients/ips/{email}",
    "/panel/api/inbounds/onlines",
    "/panel/api/inbounds/lastOnline",
    "/panel/api/inbounds/clientIps/{email}",
    "/panel/api/server/status",
    "/panel/api/server/cpuHistory/{bucket}",
    "/panel/api/server/logs/{count}",
    "/panel/api/server/xraylogs/{count}",
    "/panel/api/server/getNewEchCert",
    "/panel/api/setting/factoryDefaults",
    "/panel/api/setting/getDefaultJsonConfig",
    "/panel/setting/factoryDefaults",
    "/panel/setting/getDefaultJsonConfig",
    "/panel/api/xray",
    "/panel/api/xray/",
    "/panel/xray",
    "/panel/xray/",
    "/panel/api/xray/getDefaultJsonConfig",
    "/panel/xray/getDefaultJsonConfig",
    "/panel/api/xray/getOutboundsTraffic",
    "/panel/xray/getOutboundsTraffic",
];

/// Whether a read-only token may make this call: any GET, and the POST routes that read.
fn read_only_allowed(ctl: &Controller, parts: &Parts) -> bool {
    if parts.method == Method::GET {
        return true;
    }
    let Some(route) = parts.extensions.get::<MatchedPath>() else {
        return false;
    };
    let prefix = ctl.config.base_prefix();
    route
        .as_str()
        .strip_prefix(prefix.as_str())
        .is_some_and(|r| READ_ROUTES.contains(&r))
}

/// Cross-site requests are refused (`Origin`, else `Referer`, must be this panel;
/// `Origin: null` is refused); a sent CSRF token must be the one of the `3x-ui` cookie's
/// session (or pre-login cookie).
async fn check_csrf(
    ctl: &Controller,
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Result<(), Refusal> {
    if *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS {
        return Ok(());
    }
    check_same_origin(method, headers, authority).map_err(Refusal::Forbidden)?;
    if let Some(sent) = headers.get("x-csrf-token") {
        let expected = match cookie_csrf(ctl, headers).await {
            Ok(expected) => expected,
            Err(e) => return Err(Refusal::Forbidden(e.to_string())),
        };
        let matches = expected
            .is_some_and(|e| !e.is_empty() && constant_time_eq(e.as_bytes(), sent.as_bytes()));
        if !matches {
            return Err(Refusal::Forbidden(
                "invalid CSRF token; get one from /csrf-token with this session's cookie".into(),
            ));
        }
    }
    Ok(())
}

/// The CSRF token the request's `3x-ui` cookie stands for: the pre-login token it holds, or
/// the token stored with its session; `None` without a cookie or for an unknown session.
async fn cookie_csrf(ctl: &Controller, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if let Some(token) = value.strip_prefix(PRE_LOGIN) {
        return Ok(Some(token.to_owned()));
    }
    Ok(ctl
        .store
        .session_csrf(&sha256_hex(value.as_bytes()))
        .await?)
}

/// A body as JSON or as a form (`application/x-www-form-urlencoded`), by its Content-Type;
/// an empty body is an empty object. Anything wrong becomes `success:false`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Json<Msg>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let multipart = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/"));
        let bytes = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                return Err(failed(
                    "Request refused",
                    format!("the body is larger than {} MiB", BODY_LIMIT >> 20),
                ))
            }
        };
        let _ = state;
        if multipart {
            return Err(failed(
                "Request refused",
                "multipart bodies are not accepted here; send JSON or a urlencoded form",
            ));
        }
        parse_body(&bytes, form).map(Body)
    }
}

pub fn parse_body<T: DeserializeOwned>(bytes: &Bytes, form: bool) -> Result<T, Json<Msg>> {
    let text = std::str::from_utf8(bytes).map_err(|_| failed("Invalid data", "not UTF-8"))?;
    // Errors name the field they are about (`settings: is not valid JSON …`).
    if form || (!text.trim_start().starts_with(['{', '[']) && text.contains('=')) {
        let d = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text.as_bytes()));
        serde_path_to_error::deserialize(d).map_err(named)
    } else {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let mut d = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut d).map_err(named)
    }
}

/// A body error naming the field it is about (`settings: is not valid JSON …`).
fn named<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Json<Msg> {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        failed("Invalid data", inner)
    } else {
        failed("Invalid data", format!("{path}: {inner}"))
    }
}

/// `?server_id=` (or `serverId`): which server a server-scoped route acts on.
#[derive(Debug, Default, Deserialize)]
pub struct ServerParam {
    #[serde(alias = "serverId")]
    pub server_id: Option<String>,
}

/// The server a request is about: the one named, else the default server (the
/// `defaultServer` setting, else the local server, else the first), so scripts written for
/// one 3x-ui server keep working on a fleet.
pub async fn pick_server(ctl: &Controller, param: &ServerParam) -> Result<ServerRow, ApiError> {
    match param.named() {
        Some(key) => Ok(resolve(ctl, key).await?),
        None => Ok(default_server(ctl).await?),
    }
}

impl ServerParam {
    /// The server named by the query, if any.
    pub fn named(&self) -> Option<&str> {
        self.server_id
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    two_factor_code: String,
}

async fn login(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Body<LoginBody>, Json<Msg>>,
) -> Response {
    let b = match body {
        Ok(Body(b)) => b,
        Err(e) => return e.into_response(),
    };
    let authority = uri.authority().map(|a| a.as_str());
    if let Err(refusal) = check_csrf(&ctl, &Method::POST, &headers, authority).await {
        return refusal.into_response();
    }
    const ACTION: &str = "Login failed";
    if b.username.is_empty() || b.password.is_empty() {
        return failed(ACTION, "username and password are required").into_response();
    }
    let ip = addr.ip().to_string();
    let code = Some(b.two_factor_code.trim()).filter(|c| !c.is_empty());
    let user = match authenticate(&ctl, &ip, &b.username, &b.password, code).await {
        Ok(user) => user,
        // 3x-ui answers a refused login with HTTP 200 and `success:false`; its clients read
        // the envelope, and `Retry-After` tells those that look how long to wait.
        Err(e) => {
            let retry = e.retry_after_secs();
            let mut response = failed(ACTION, e).into_response();
            if let Some(secs) = retry {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
    };
    // The token fetched before login (checked above when sent) stays the session's token.
    let csrf = cookie(&headers, SESSION_COOKIE)
        .and_then(|v| v.strip_prefix(PRE_LOGIN).map(str::to_owned))
        // The cookie is the caller's: only a token of the size this controller hands out.
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .unwrap_or_else(|| random_secret(24));
    let opened = async {
        let session = open_session(&ctl, &user, &ip).await?;
        ctl.store
            .set_session_csrf(&sha256_hex(session.as_bytes()), &csrf)
            .await?;
        Ok::<_, ApiError>((session, session_ttl_secs(&ctl).await?))
    };
    match opened.await {
        Ok((session, ttl)) => (
            [(SET_COOKIE, session_cookie(&ctl, &session, ttl))],
            done("Login successfully", Value::Null),
        )
            .into_response(),
        Err(e) => reply::<()>(ACTION, Err(e)).into_response(),
    }
}

/// Whether the login page must ask for a two-factor code.
async fn two_factor_enable(State(ctl): State<Arc<Controller>>) -> Json<Msg> {
    reply("", two_factor_enabled(&ctl).await)
}

fn cookie_path(ctl: &Controller) -> String {
    let prefix = ctl.config.base_prefix();
    if prefix.is_empty() {
        "/".into()
    } else {
        format!("{prefix}/")
    }
}

fn session_cookie(ctl: &Controller, value: &str, max_age: u64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        cookie_path(ctl),
        ctl.cookie_secure()
    )
}

async fn end_session(ctl: &Controller, headers: &HeaderMap) {
    if let Some(session) = cookie(headers, SESSION_COOKIE) {
        let _ = close_session(ctl, &session).await;
    }
}

/// v2: `GET /logout` went back to the login page after ending the session. Any site can
/// make a browser GET a URL, so it no longer ends anything: it only goes to the login page
/// (which sends a signed-in user on to the panel). `POST /logout` ends the session.
async fn logout_redirect(State(ctl): State<Arc<Controller>>) -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(LOCATION, cookie_path(&ctl))],
    )
        .into_response()
}

/// v3: `POST /logout`.
async fn logout(State(ctl): State<Arc<Controller>>, uri: Uri, headers: HeaderMap) -> Response {
    let authority = uri.authority().map(|a| a.as_str());
    if let Err(refusal) = check_csrf(&ctl, &Method::POST, &headers, authority).await {
        return refusal.into_response();
    }
    end_session(&ctl, &headers).await;
    (
        [(SET_COOKIE, session_cookie(&ctl, "", 0))],
        done("", Value::Null),
    )
        .into_response()
}

/// v3: the CSRF token of the `3x-ui` cookie's session. Without a session, a pre-login
/// cookie is set that holds a new token, which the login carries into the session.
async fn csrf_token(State(ctl): State<Arc<Controller>>, headers: HeaderMap) -> Response {
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        if let Some(token) = value.strip_prefix(PRE_LOGIN).filter(|t| !t.is_empty()) {
            return done("", token).into_response();
        }
        let hash = sha256_hex(value.as_bytes());
        match ctl.store.session_csrf(&hash).await {
            Ok(Some(token)) if !token.is_empty() => return done("", token).into_response(),
            // A session from before tokens were kept with sessions gets one now.
            Ok(Some(_)) => {
                let token = random_secret(24);
                return match ctl.store.set_session_csrf(&hash, &token).await {
                    Ok(()) => done("", token).into_response(),
                    Err(e) => reply::<()>("", Err(e.into())).into_response(),
                };
            }
            Ok(None) => {}
            Err(e) => return reply::<()>("", Err(e.into())).into_response(),
        }
    }
    let token = random_secret(24);
    // A pre-login token lives as long as the session it becomes.
    let ttl = session_ttl_secs(&ctl)
        .await
        .unwrap_or(crate::front::auth::DEFAULT_SESSION_SECS);
    let set = session_cookie(&ctl, &format!("{PRE_LOGIN}{token}"), ttl);
    ([(SET_COOKIE, set)], done("", token)).into_response()
}
