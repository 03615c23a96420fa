//! The audit log: every mutation, who did it, from where, and how it ended.

use serde::Serialize;
use xfleet_common::time::now_ms;

use super::{Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON object.
    pub details: String,
    pub source_ip: String,
    /// `ok`, or the error code.
    pub result: String,
}

impl Store {
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: &serde_json::Value,
        source_ip: &str,
        result: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, details, source_ip, result) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(details.to_string())
        .bind(source_ip)
        .bind(result)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target, details, source_ip, result FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Entries of `action` after `after_id`, oldest first (what a watcher has not seen).
    pub async fn audit_after(
        &self,
        after_id: i64,
        action: &str,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target, details, source_ip, result FROM audit_log \
             WHERE id > $1 AND action = $2 ORDER BY id LIMIT $3",
        )
        .bind(after_id)
        .bind(action)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest entry's id; 0 when there is none.
    pub async fn last_audit_id(&self) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT CAST(MAX(id) AS BIGINT) FROM audit_log")
            .fetch_one(&self.pool)
            .await?;
        Ok(id.unwrap_or(0))
    }
}
