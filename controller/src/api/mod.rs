//! Native JSON API v1 (`/api/v1/…`), envelope `{success, data, error, trace_id}`.

mod auth;
mod error;
pub mod fleet;
mod generate;
mod history;
mod import;
mod links;
mod routes;
mod servers;
mod settings;
mod tasks;

pub use auth::{
    actor_from_bearer, actor_from_session_token, authenticate, client_ip, close_session,
    cookie_value, hash_password, needs_rehash, open_session, totp, two_factor_enabled,
    verify_password, Actor, LoginError, LoginThrottle, SESSION_COOKIE,
};
pub use error::ApiError;
pub use fleet::ONLINE_WINDOW_MS as CLIENT_ONLINE_WINDOW_MS;
pub use servers::{resolve as resolve_server, view as server_view, ServerView};

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::{Json, Router};
use serde::Serialize;

use crate::Controller;

pub type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    pub error: Option<()>,
    pub trace_id: String,
}

/// Wraps a successful answer in the envelope.
pub fn ok<T: Serialize>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope {
        success: true,
        data,
        error: None,
        trace_id: trace_id(),
    }))
}

pub fn trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

pub fn router(ctl: Arc<Controller>) -> Router {
    let mut v1 = Router::new();
    for route in routes::table() {
        v1 = v1.route(route.path, route.handler);
    }
    let v1 = v1.fallback(|| async { ApiError::NotFound("route") });
    Router::new()
        .nest("/api/v1", v1)
        .merge(crate::compat::router(ctl.clone()))
        .merge(crate::panel::router(&ctl))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(ctl)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    agents_connected: usize,
    /// When this run of the controller started (epoch ms): changes across a restart.
    started_at: i64,
}

async fn health(State(ctl): State<Arc<Controller>>) -> ApiResult<Health> {
    ok(Health {
        status: "ok",
        version: xfleet_common::VERSION,
        agents_connected: ctl.fleet.connected_count(),
        started_at: ctl.started_at,
    })
}
