//! `getDb`: a download of the controller's database.
//!
//! The file is xfleet's own SQLite database (servers, inbounds, clients, traffic, users),
//! not a 3x-ui `x-ui.db`: its schema is xfleet's, and 3x-ui cannot import it, so it is named
//! for what it is, `xfleet.db` (scripts that save the body under a name of their own keep
//! working; README "Backups" says what restores it). On PostgreSQL there is no file; the
//! answer says to use `pg_dump`.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::compat::XuiCall;
use crate::front::{failed, reply, ApiError, Audit};
use crate::store::Backend;
use crate::util::random_secret;
use crate::Controller;

const ACTION: &str = "Failed to export the database";

pub async fn download(XuiCall(call): XuiCall) -> Response {
    let (ctl, actor) = (&call.ctl, &call.actor);
    // The copy holds password hashes and every client's secrets: admins only.
    if actor.scope != "admin" {
        return failed(
            ACTION,
            format!(
                "a `{}` token cannot download the database; it holds every secret",
                actor.scope
            ),
        )
        .into_response();
    }
    if ctl.store.backend() == Backend::Postgres {
        return failed(
            ACTION,
            "the controller stores its data in PostgreSQL, so there is no database file; \
             back it up with `pg_dump --format=custom -f xfleet.dump '<database url>'`",
        )
        .into_response();
    }
    let result = snapshot(ctl).await;
    let details = json!({"bytes": result.as_ref().map(|(_, len)| *len).unwrap_or(0)});
    let audit = Audit::new("database.export", "database").with(details);
    match call.audited(audit, async { result }).await {
        Ok((file, len)) => (
            [
                (CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    CONTENT_DISPOSITION,
                    "attachment; filename=xfleet.db".to_owned(),
                ),
                (CONTENT_LENGTH, len.to_string()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
        Err(e) => reply::<()>(ACTION, Err(e)).into_response(),
    }
}

/// A consistent copy of the SQLite database, opened and already unlinked: nothing is left
/// on disk once the download ends, however it ends.
async fn snapshot(ctl: &Controller) -> Result<(tokio::fs::File, u64), ApiError> {
    let path: PathBuf = ctl
        .config
        .data_dir
        .join(format!(".export-{}.db", random_secret(9)));
    let io = |e: std::io::Error| ApiError::Internal(format!("database copy: {e}"));
    // Created empty and owner-only first (`VACUUM INTO` accepts an empty file), so the copy
    // is never readable by others, even for a moment.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    let copied = ctl.store.sqlite_copy_to(&path).await;
    let opened = match copied {
        Ok(()) => tokio::fs::File::open(&path).await.map_err(io),
        Err(e) => Err(e.into()),
    };
    let _ = std::fs::remove_file(&path);
    let file = opened?;
    let len = file.metadata().await.map_err(io)?.len();
    Ok((file, len))
}
