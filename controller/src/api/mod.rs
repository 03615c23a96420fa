//! The native JSON API v1 (`/api/v1/…`), envelope `{success, data, error, trace_id}`: its rows
//! of the route table ([`routes`]) and their handlers, one file per area. Authentication, the
//! error type and the handler shape come from [`crate::front`].

mod agents;
mod auth;
mod backup;
mod client_list;
mod controllers;
mod core;
mod fleet;
mod generate;
mod history;
mod links;
mod logs;
mod operations;
mod outbounds;
mod releases;
mod rollouts;
mod routes;
mod servers;
mod settings;
mod tasks;
mod telegram;
mod warp;

pub use routes::table as routes;

use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;

use crate::front::{ok, ApiResult};
use crate::Controller;

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
