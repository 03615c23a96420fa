//! `/api/v1/generate/…`: secrets for inbound and client forms.

use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::front::{ok, Actor, ApiError, ApiResult};
use crate::generate;
use crate::model::Refusal;

#[derive(Deserialize, Default)]
pub(super) struct Params {
    count: Option<usize>,
    length: Option<usize>,
    method: Option<String>,
}

pub(super) async fn generate(
    _: Actor,
    Path(kind): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Value> {
    let value = match kind.as_str() {
        "uuid" => json!(generate::uuid()),
        "x25519" => json!(generate::x25519()),
        "short-ids" => json!(generate::short_ids(params.count.unwrap_or(8).clamp(1, 64))),
        "password" => json!(generate::password(params.length.unwrap_or(16))),
        "ss2022-key" => {
            let method = params
                .method
                .as_deref()
                .unwrap_or("2022-blake3-aes-256-gcm");
            json!(
                generate::ss2022_key(method).ok_or_else(|| ApiError::BadRequest(
                    Refusal::new("err.not_ss2022_method", &[("method", method.to_string())]).into()
                ))?
            )
        }
        other => {
            return Err(ApiError::BadRequest(
                Refusal::new("err.unknown_generator", &[("name", other.to_string())]).into(),
            ))
        }
    };
    ok(value)
}
