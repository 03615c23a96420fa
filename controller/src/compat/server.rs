//! `/panel/api/server/*`: status, core control and generators for the picked server.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{done, failed, CompatActor, Msg};
use crate::{generate, Controller};

type Ctl = State<Arc<Controller>>;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/getNewUUID", get(new_uuid))
        .route("/getNewX25519Cert", get(new_x25519))
}

async fn new_uuid(_: CompatActor) -> Json<Msg> {
    done("", json!({ "uuid": generate::uuid() }))
}

async fn new_x25519(_: CompatActor) -> Json<Msg> {
    let pair = generate::x25519();
    done(
        "",
        json!({ "privateKey": pair.private_key, "publicKey": pair.public_key }),
    )
}

/// 3x-ui sends a backup to the Telegram admins; without a configured bot there is nobody to
/// send it to, and the answer says so.
pub async fn backup_to_bot(State(_ctl): Ctl, _: CompatActor) -> Json<Msg> {
    failed("Backup not sent", "the Telegram bot is not configured")
}
