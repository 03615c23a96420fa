//! The importer's row of the native API (`crate::front::routes`):
//! `POST /api/v1/servers/{server}/import/3xui`, a 3x-ui database (the raw `x-ui.db` bytes)
//! imported into one server; answers with the report.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path};
use axum::routing::post;
use serde_json::json;

use super::{import_and_push, private_temp_dir, ImportError, ImportReport, MAX_DB_BYTES};
use crate::front::routes::{route, Route};
use crate::front::{ApiError, ApiResult, Audit, Call};
use crate::model::servers::resolve;
use crate::model::Refusal;
use crate::util::write_private;

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

pub fn routes() -> Vec<Route> {
    vec![route(
        "POST",
        "/servers/{server}/import/3xui",
        "Import a 3x-ui database (the x-ui.db file as the body) into a server",
        post(import_3xui).layer(DefaultBodyLimit::max(MAX_DB_BYTES)),
    )]
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Unreadable(_) | ImportError::NotXui => {
                Self::BadRequest(e.to_string().into())
            }
            ImportError::Store(e) => e.into(),
        }
    }
}

async fn import_3xui(call: Call, Path(key): Path<String>, body: Bytes) -> ApiResult<ImportReport> {
    let size = body.len();
    let ctl = &call.ctl;
    let result = async {
        if !body.starts_with(SQLITE_MAGIC) {
            return Err(ApiError::BadRequest(
                Refusal::new("err.import_not_database", &[]).into(),
            ));
        }
        let server = resolve(ctl, &key).await?;
        // A private copy, removed when done.
        let dir = private_temp_dir().map_err(|e| ApiError::Internal(e.to_string()))?;
        let path = dir.path().join("x-ui.db");
        write_private(&path, &body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(import_and_push(ctl, &path, &server, call.who()).await?)
    }
    .await;
    let details = match &result {
        Ok(r) => json!({"bytes": size, "imported": r.imported, "skipped": r.skipped.len()}),
        Err(_) => json!({"bytes": size}),
    };
    let audit = Audit::new("import.3xui", format!("server:{key}")).with(details);
    call.answer(audit, async { result }).await
}
