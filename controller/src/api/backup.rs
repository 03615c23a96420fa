//! `/api/v1/backup` and `/api/v1/restore`: the archive of `crate::backup` downloaded from and
//! uploaded to the running controller, by an admin only (it holds the CA key and every
//! secret). A restore is checked whole before anything is replaced, then the controller
//! starts again in place on the restored data and CA.

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use xfleet_common::time::now_ms;

use crate::backup::{self, schedule, BackupError};
use crate::front::{ok, ApiError, ApiResult, Audit, Call};
use crate::i18n::Refusal;

/// The largest archive the panel uploads: a big fleet's tables fit with room to spare.
pub const MAX_UPLOAD: usize = 512 << 20;

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Refused(r) => Self::BadRequest(r.into()),
            BackupError::Store(e) => e.into(),
            BackupError::Io(m) => Self::Internal(m),
        }
    }
}

/// Backups carry every secret: a read-only token may not take one.
fn admin_only(call: &Call) -> Result<(), ApiError> {
    if call.actor.scope == "admin" {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            Refusal::new("err.backup_admin", &[("scope", call.actor.scope.clone())]).into(),
        ))
    }
}

pub(super) async fn download(call: Call) -> Result<Response, ApiError> {
    admin_only(&call)?;
    let audit = Audit::new("backup.download", "controller");
    let (bytes, summary) = call
        .audited(audit, async { Ok(backup::create(&call.ctl.store).await?) })
        .await?;
    let name = schedule::file_name(now_ms());
    tracing::info!(tables = summary.tables, rows = summary.rows, by = %call.who(), "backup downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// Checks the body (an archive) whole, replaces every table and the CA with its contents,
/// and restarts the controller in place.
pub(super) async fn restore(call: Call, body: Bytes) -> ApiResult<Value> {
    admin_only(&call)?;
    let audit = Audit::new("backup.restore", "controller").with(json!({"size": body.len()}));
    let manifest = call
        .audited(audit, async {
            let archive = backup::check(&body, call.ctl.store.backend())?;
            backup::restore(&call.ctl.store, &archive).await?;
            Ok(archive.manifest)
        })
        .await?;
    tracing::info!(by = %call.who(), created_at = %manifest.created_at, "backup restored; restarting");
    call.ctl.restart_soon();
    ok(json!({
        "created_at": manifest.created_at,
        "xfleet_version": manifest.xfleet_version,
        "source_backend": manifest.source_backend,
        "schema_migration": manifest.schema_migration,
        "tables": manifest.tables.len(),
        "rows": manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
        "restarting": true,
    }))
}

/// The scheduled backups: where they go and the last run's outcome.
pub(super) async fn status(call: Call) -> ApiResult<Value> {
    let plan = schedule::plan(&call.ctl.store, &call.ctl.config.data_dir).await?;
    let last = schedule::last_run(&call.ctl.store).await?;
    ok(json!({
        "enabled": plan.enabled,
        "dir": plan.dir.display().to_string(),
        "every_hours": plan.every_ms / 3_600_000,
        "keep": plan.keep,
        "last_run": last,
    }))
}
