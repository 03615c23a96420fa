//! `/api/v1/core/releases`: the Xray release zips the controller holds and sends to agents
//! with `core.install` (`dist::cores`); an operator uploads one where the controller cannot
//! reach the release site.

use axum::body::Bytes;
use axum::extract::Query;
use serde::Deserialize;
use serde_json::json;

use crate::dist::{CoreRelease, CoreShelf, DistError};
use crate::front::{ok, ApiError, ApiResult, Audit, Call};

impl From<DistError> for ApiError {
    fn from(e: DistError) -> Self {
        match e {
            DistError::Invalid(m) => Self::BadRequest(m.into()),
            DistError::NotFound(_) => Self::NotFound("release"),
            DistError::Fetch(m) => Self::Upstream(m),
            DistError::Io { .. } => Self::Internal(e.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseQuery {
    /// `25.3.6` or `v25.3.6`.
    version: String,
    /// `x86_64` or `aarch64`; this controller's own architecture when absent.
    arch: Option<String>,
}

impl ReleaseQuery {
    fn arch(&self) -> &str {
        self.arch.as_deref().unwrap_or(std::env::consts::ARCH)
    }
}

pub(super) async fn list(call: Call) -> ApiResult<Vec<CoreRelease>> {
    ok(CoreShelf::new(&call.ctl.config).list().await?)
}

/// Stores the body (an Xray release zip) for `version` and `arch`.
pub(super) async fn upload(
    call: Call,
    Query(q): Query<ReleaseQuery>,
    body: Bytes,
) -> ApiResult<CoreRelease> {
    let audit = Audit::new("core.release.upload", format!("xray {}", q.version))
        .with(json!({"version": q.version, "arch": q.arch(), "size": body.len()}));
    let shelf = CoreShelf::new(&call.ctl.config);
    let stored = call
        .audited(audit, async {
            Ok(shelf.put(&q.version, q.arch(), &body).await?)
        })
        .await?;
    ok(stored)
}

pub(super) async fn delete(call: Call, Query(q): Query<ReleaseQuery>) -> ApiResult<()> {
    let audit = Audit::new("core.release.delete", format!("xray {}", q.version))
        .with(json!({"version": q.version, "arch": q.arch()}));
    let shelf = CoreShelf::new(&call.ctl.config);
    call.audited(audit, async {
        match shelf.delete(&q.version, q.arch()).await? {
            true => Ok(()),
            false => Err(ApiError::NotFound("release")),
        }
    })
    .await?;
    ok(())
}
