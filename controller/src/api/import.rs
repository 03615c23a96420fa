//! `POST /api/v1/servers/{server}/import/3xui`: a 3x-ui database (the raw `x-ui.db` bytes)
//! imported into one server; answers with the report.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::json;

use super::servers::resolve;
use super::{Actor, ApiError, ApiResult};
use crate::import::{self, ImportError, ImportReport};
use crate::util::write_private;
use crate::Controller;

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Unreadable(_) | ImportError::NotXui => Self::BadRequest(e.to_string()),
            ImportError::Store(e) => e.into(),
        }
    }
}

pub(super) async fn import_3xui(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<ImportReport> {
    let size = body.len();
    let result = async {
        if !body.starts_with(SQLITE_MAGIC) {
            return Err(ApiError::BadRequest(
                "the body must be a 3x-ui database file (x-ui.db, SQLite)".into(),
            ));
        }
        let server = resolve(&ctl, &key).await?;
        // A private copy, removed when done.
        let dir = import::private_temp_dir().map_err(|e| ApiError::Internal(e.to_string()))?;
        let path = dir.path().join("x-ui.db");
        write_private(&path, &body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(import::import_and_push(&ctl, &path, &server, &actor.name).await?)
    }
    .await;
    let details = match &result {
        Ok(r) => json!({"bytes": size, "imported": r.imported, "skipped": r.skipped.len()}),
        Err(_) => json!({"bytes": size}),
    };
    actor
        .answer(
            &ctl,
            "import.3xui",
            &format!("server:{key}"),
            details,
            result,
        )
        .await
}
