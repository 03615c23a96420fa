//! `/api/v1/servers/{server}/history` and `/api/v1/clients/{email}/history`: hourly traffic
//! for charts, the last `hours` hours including the current one (default 24);
//! `/api/v1/servers/{server}/samples`: a server's CPU and memory a minute at a time, the last
//! `hours` hours (default 6, at most the two days kept).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use serde::Deserialize;
use xfleet_common::time::now_ms;

use crate::front::{ok, ApiError, ApiResult, Call};
use crate::model::servers::resolve;
use crate::model::Refusal;
use crate::store::{hour_start, ClientHour, ServerHour, ServerSample, HOUR_MS, SAMPLES_KEPT_HOURS};

/// A leap year of hours; the configured retention bounds what is actually there.
const MAX_HOURS: i64 = 366 * 24;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Range {
    hours: Option<i64>,
}

/// Starts of the oldest and the current hour.
fn range(query: Result<Query<Range>, QueryRejection>) -> Result<(i64, i64), ApiError> {
    let Query(range) = query?;
    let hours = range.hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::BadRequest(
            Refusal::new("err.hours_range", &[("max", MAX_HOURS.to_string())]).into(),
        ));
    }
    let current = hour_start(now_ms());
    Ok((current - (hours - 1) * HOUR_MS, current))
}

pub(super) async fn server(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
    query: Result<Query<Range>, QueryRejection>,
) -> ApiResult<Vec<ServerHour>> {
    let (since, until) = range(query)?;
    let server = resolve(&ctl, &key).await?;
    ok(ctl.store.server_history(server.id, since, until).await?)
}

pub(super) async fn client(
    Call { ctl, .. }: Call,
    Path(email): Path<String>,
    query: Result<Query<Range>, QueryRejection>,
) -> ApiResult<Vec<ClientHour>> {
    let (since, until) = range(query)?;
    let client = ctl.store.client_by_email(&email).await?;
    ok(ctl
        .store
        .client_history(&client.email, since, until)
        .await?)
}

pub(super) async fn samples(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
    query: Result<Query<Range>, QueryRejection>,
) -> ApiResult<Vec<ServerSample>> {
    let Query(range) = query?;
    let hours = range.hours.unwrap_or(6);
    if !(1..=SAMPLES_KEPT_HOURS).contains(&hours) {
        return Err(ApiError::BadRequest(
            Refusal::new(
                "err.hours_range",
                &[("max", SAMPLES_KEPT_HOURS.to_string())],
            )
            .into(),
        ));
    }
    let server = resolve(&ctl, &key).await?;
    ok(ctl
        .store
        .server_samples(server.id, now_ms() - hours * HOUR_MS)
        .await?)
}
