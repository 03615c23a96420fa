//! 3x-ui's Xray template routes (`reference/3x-ui.md` §"Xray template"), at v2's
//! `/panel/xray/*` and v3.3's `/panel/api/xray/*`: the core template, outbound traffic and
//! tests, and WARP. Without `server_id` they act on the fleet; with it, on that server.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use xfleet_common::xray::xui_default_template;

use super::XuiCall;
use crate::front::{done, Msg};
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route(
            "/getDefaultJsonConfig",
            get(default_json_config).post(default_json_config),
        )
        .merge(super::outbounds::routes())
}

/// 3x-ui's built-in Xray template.
async fn default_json_config(XuiCall(_): XuiCall) -> Json<Msg> {
    done("", xui_default_template())
}
