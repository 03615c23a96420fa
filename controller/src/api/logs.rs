//! `/api/v1/logs`: the controller's own recent log lines; `/api/v1/servers/{server}/access-log`:
//! a server's core access log with 3x-ui's filters. Both feed the panel's Logs page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use xfleet_common::methods::{AccessLogEntries, AccessLogQuery, MAX_ACCESS_LOG_ENTRIES};

use crate::front::{ok, ApiError, ApiResult, Call};
use crate::log_ring::{self, LogLine, MAX_LINES};
use crate::model::servers::resolve;
use crate::model::Refusal;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogsQuery {
    count: Option<usize>,
    level: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Lines {
    /// Oldest first.
    lines: Vec<LogLine>,
}

/// The newest `count` lines (default 100, at most the 2,000 kept) at `level` or more severe.
pub(super) async fn controller(
    _: Call,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Lines> {
    let Query(q) = query?;
    let level = log_ring::parse_level(q.level.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(e.into()))?;
    let count = q.count.unwrap_or(100);
    if !(1..=MAX_LINES).contains(&count) {
        return Err(ApiError::BadRequest(
            Refusal::new("err.count_range", &[("max", MAX_LINES.to_string())]).into(),
        ));
    }
    ok(Lines {
        lines: log_ring::recent().tail(count, level),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessQuery {
    count: Option<u32>,
    filter: Option<String>,
    direct: Option<bool>,
    blocked: Option<bool>,
    proxy: Option<bool>,
}

/// The newest `count` entries (default 100, at most 10,000) of the server's access log
/// containing `filter`, of the kinds asked for (`direct`, `blocked`, `proxy`; default all).
pub(super) async fn access_log(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
    query: Result<Query<AccessQuery>, QueryRejection>,
) -> ApiResult<AccessLogEntries> {
    let Query(q) = query?;
    let count = q.count.unwrap_or(100);
    if !(1..=MAX_ACCESS_LOG_ENTRIES).contains(&count) {
        return Err(ApiError::BadRequest(
            Refusal::new(
                "err.count_range",
                &[("max", MAX_ACCESS_LOG_ENTRIES.to_string())],
            )
            .into(),
        ));
    }
    let server = resolve(&ctl, &key).await?;
    let query = AccessLogQuery {
        count,
        filter: q.filter.unwrap_or_default(),
        direct: q.direct.unwrap_or(true),
        blocked: q.blocked.unwrap_or(true),
        proxy: q.proxy.unwrap_or(true),
    };
    ok(crate::model::access_log::read(&ctl, &server, query).await?)
}
