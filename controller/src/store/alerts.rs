//! What the fleet's alerts are read from, beside the servers themselves: tasks whose latest
//! outcome was a failure, tasks retrying after errors, the newest certificate of each
//! server, and the controller's refusals to renew one.

use serde::Serialize;
use xfleet_common::time::now_ms;

use super::{Result, Store};

/// A task that failed (or expired) and is its operation's latest outcome on its server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TaskFailureRow {
    pub server_id: i64,
    pub task_id: String,
    pub operation: String,
    /// `failed`, `expired`, or `pending` for a task retrying after an error.
    pub status: String,
    pub error_code: Option<String>,
    /// The agent's (or the core's) own words.
    pub error_message: Option<String>,
    pub updated_at: i64,
}

/// The newest certificate of a server that is not revoked.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CertificateTerm {
    pub server_id: i64,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Why the controller last refused to renew a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RenewalFailureRow {
    pub server_id: i64,
    pub message: String,
    pub failed_at: i64,
}

impl Store {
    /// Tasks updated since `since_ms` that failed or expired and were not followed by another
    /// outcome of the same operation on the same server (a later success clears a failure,
    /// a later failure replaces it); with the tasks retrying after an error (not the ones
    /// waiting for an offline server). Newest first, at most `limit`.
    pub async fn task_failures(&self, since_ms: i64, limit: i64) -> Result<Vec<TaskFailureRow>> {
        Ok(sqlx::query_as(
            "SELECT t.server_id, t.id AS task_id, t.operation, t.status, t.error_code, \
             t.error_message, t.updated_at FROM server_tasks t \
             WHERE t.updated_at >= $1 AND ( \
               (t.status IN ('failed', 'expired') AND NOT EXISTS ( \
                 SELECT 1 FROM server_tasks n WHERE n.server_id = t.server_id \
                 AND n.operation = t.operation AND n.seq > t.seq \
                 AND n.status IN ('completed', 'failed', 'expired'))) \
               OR (t.status = 'pending' AND t.error_code IS NOT NULL \
                 AND t.error_code <> 'offline')) \
             ORDER BY t.seq DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Each server's newest certificate that is not revoked.
    pub async fn certificate_terms(&self) -> Result<Vec<CertificateTerm>> {
        Ok(sqlx::query_as(
            "SELECT c.server_id, c.issued_at, c.expires_at FROM certificates c \
             WHERE c.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM certificates n \
             WHERE n.server_id = c.server_id AND n.revoked_at IS NULL AND n.id > c.id) \
             ORDER BY c.server_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records why a renewal was refused (`Some`), or that one succeeded (`None`).
    pub async fn set_renewal_failure(&self, server_id: i64, message: Option<&str>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM certificate_renewal_failures WHERE server_id = $1")
            .bind(server_id)
            .execute(&mut *tx)
            .await?;
        if let Some(message) = message {
            sqlx::query(
                "INSERT INTO certificate_renewal_failures (server_id, message, failed_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(server_id)
            .bind(message)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn renewal_failures(&self) -> Result<Vec<RenewalFailureRow>> {
        Ok(sqlx::query_as(
            "SELECT server_id, message, failed_at FROM certificate_renewal_failures \
             ORDER BY server_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::test_stores;
    use super::super::{NewServer, TaskRow};
    use super::*;

    fn task(server_id: i64, id: &str, operation: &str, seq: i64) -> TaskRow {
        TaskRow {
            id: id.into(),
            server_id,
            operation: operation.into(),
            status: "pending".into(),
            request: "{}".into(),
            response: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            not_before: 0,
            expires_at: i64::MAX,
            created_by: "admin".into(),
            created_at: seq,
            seq,
            started_at: None,
            completed_at: None,
            updated_at: seq,
        }
    }

    /// A failure shows until the same operation on the same server ends again: a success
    /// clears it, a newer failure replaces it; a task retrying after an error shows, one
    /// waiting for its server to come back does not.
    #[tokio::test]
    async fn only_the_latest_outcome_of_an_operation_counts() {
        for t in test_stores().await {
            let s = &t.store;
            let server = s
                .create_server(&NewServer {
                    name: "vpn-1".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let id = server.id;
            for (n, (task_id, op)) in [
                ("geo-1", "geo.update"),
                ("install-1", "core.install"),
                ("install-2", "core.install"),
                ("geo-2", "geo.update"),
                ("restart-1", "core.restart"),
                ("restart-2", "core.restart"),
            ]
            .into_iter()
            .enumerate()
            {
                s.insert_task(&task(id, task_id, op, n as i64 + 1))
                    .await
                    .unwrap();
            }
            s.fail_task("geo-1", "failed", "geoip.dat: connection refused")
                .await
                .unwrap();
            s.fail_task("install-1", "failed", "no release 1.2.3")
                .await
                .unwrap();
            s.fail_task("install-2", "failed", "no release 9.9.9")
                .await
                .unwrap();
            s.complete_task("geo-2", "{}").await.unwrap();
            s.retry_task("restart-1", now_ms() + 60_000, "offline", "gone")
                .await
                .unwrap();
            s.retry_task("restart-2", now_ms() + 60_000, "timeout", "no answer")
                .await
                .unwrap();
            let rows = s.task_failures(0, 50).await.unwrap();
            let seen: Vec<(&str, &str, Option<&str>)> = rows
                .iter()
                .map(|r| {
                    (
                        r.task_id.as_str(),
                        r.status.as_str(),
                        r.error_message.as_deref(),
                    )
                })
                .collect();
            assert_eq!(
                seen,
                [
                    ("restart-2", "pending", Some("no answer")),
                    ("install-2", "failed", Some("no release 9.9.9")),
                ],
                "{}",
                t.label
            );

            s.set_renewal_failure(id, Some("too many this hour"))
                .await
                .unwrap();
            let failures = s.renewal_failures().await.unwrap();
            assert_eq!(failures.len(), 1, "{}", t.label);
            assert_eq!(failures[0].message, "too many this hour", "{}", t.label);
            s.set_renewal_failure(id, None).await.unwrap();
            assert!(
                s.renewal_failures().await.unwrap().is_empty(),
                "{}",
                t.label
            );
        }
    }
}
