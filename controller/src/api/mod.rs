//! Native JSON API v1 (`/api/v1/…`), envelope `{success, data, error, trace_id}`.

mod auth;
mod error;
pub mod fleet;
mod generate;
mod import;
mod servers;
mod tasks;

pub use auth::{hash_password, verify_password, Actor};
pub use error::ApiError;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{delete, get, post};
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
    let v1 = Router::new()
        .route("/health", get(health))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route(
            "/api-tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route("/api-tokens/{id}", delete(auth::delete_token))
        .route("/servers", get(servers::list).post(servers::create))
        .route(
            "/servers/{server}",
            get(servers::get_one)
                .patch(servers::update)
                .delete(servers::remove),
        )
        .route("/servers/{server}/revoke", post(servers::revoke))
        .route(
            "/servers/{server}/enrollment-tokens",
            post(servers::create_token),
        )
        .route("/servers/{server}/call", post(servers::call))
        .route("/servers/{server}/traffic", get(servers::traffic))
        .route(
            "/servers/{server}/import/3xui",
            post(import::import_3xui).layer(DefaultBodyLimit::max(crate::import::MAX_DB_BYTES)),
        )
        .route("/fleet/call", post(servers::fleet_call))
        .route(
            "/servers/{server}/tasks",
            get(tasks::list).post(tasks::create),
        )
        .route("/tasks/{id}", get(tasks::get_one))
        .route("/audit", get(tasks::audit))
        .route(
            "/servers/{server}/inbounds",
            get(fleet::list_inbounds).post(fleet::create_inbound),
        )
        .route(
            "/inbounds/{id}",
            get(fleet::get_inbound)
                .put(fleet::update_inbound)
                .delete(fleet::delete_inbound),
        )
        .route("/inbounds/{id}/enable", post(fleet::set_inbound_enable))
        .route(
            "/inbounds/{id}/reset-traffic",
            post(fleet::reset_inbound_traffic),
        )
        .route(
            "/clients",
            get(fleet::list_clients).post(fleet::create_client),
        )
        .route("/clients/delete-depleted", post(fleet::delete_depleted))
        .route(
            "/clients/{email}",
            get(fleet::get_client)
                .put(fleet::update_client)
                .delete(fleet::delete_client),
        )
        .route("/clients/{email}/attach", post(fleet::attach_client))
        .route("/clients/{email}/detach", post(fleet::detach_client))
        .route(
            "/clients/{email}/reset-traffic",
            post(fleet::reset_client_traffic),
        )
        .route(
            "/clients/{email}/ips",
            get(fleet::client_ips).delete(fleet::clear_client_ips),
        )
        .route("/generate/{kind}", get(generate::generate))
        .fallback(|| async { ApiError::NotFound("route") });
    Router::new()
        .nest("/api/v1", v1)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(ctl)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    agents_connected: usize,
}

async fn health(State(ctl): State<Arc<Controller>>) -> ApiResult<Health> {
    ok(Health {
        status: "ok",
        version: xfleet_common::VERSION,
        agents_connected: ctl.fleet.connected_count(),
    })
}
