//! Agent rollouts (`agent_rollouts`) and where each server stands in one
//! (`agent_rollout_servers`). State changes are conditional on the state they leave, so two
//! actors (the engine, a Hello, an operator) cannot both move the same row.

use serde::Serialize;
use xfleet_common::time::now_ms;

use super::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RolloutRow {
    pub id: i64,
    pub version: String,
    /// `running`, `paused`, `done` or `cancelled`.
    pub state: String,
    pub canary: i64,
    pub batch_size: i64,
    pub message: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RolloutServerRow {
    pub rollout_id: i64,
    pub server_id: i64,
    pub server_name: String,
    pub position: i64,
    /// `pending`, `sending`, `waiting`, `updated`, `rolled_back`, `failed` or `skipped`.
    pub state: String,
    pub from_version: Option<String>,
    pub message: Option<String>,
    pub reached_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

/// A server's row that is waiting for its agent to come back, with the version it waits for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AwaitedUpdate {
    pub rollout_id: i64,
    pub version: String,
    pub state: String,
}

const ROLLOUT_COLUMNS: &str = "id, version, state, canary, batch_size, message, created_by, \
    created_at, updated_at, finished_at";
const SERVER_COLUMNS: &str = "r.rollout_id, r.server_id, COALESCE(s.name, '') AS server_name, \
    r.position, r.state, r.from_version, r.message, r.reached_at, r.sent_at, r.finished_at, \
    r.updated_at";

impl Store {
    /// A running rollout of `version` over `servers` (id and current version), in order.
    pub async fn create_rollout(
        &self,
        version: &str,
        canary: i64,
        batch_size: i64,
        created_by: &str,
        servers: &[(i64, Option<String>)],
    ) -> Result<i64> {
        let now = now_ms();
        let mut w = self.begin_write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO agent_rollouts (version, state, canary, batch_size, created_by, \
             created_at, updated_at) VALUES ($1, 'running', $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(version)
        .bind(canary)
        .bind(batch_size)
        .bind(created_by)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        for (position, (server_id, from)) in servers.iter().enumerate() {
            sqlx::query(
                "INSERT INTO agent_rollout_servers (rollout_id, server_id, position, state, \
                 from_version, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5)",
            )
            .bind(id)
            .bind(server_id)
            .bind(position as i64)
            .bind(from.as_deref())
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(id)
    }

    /// Newest first.
    pub async fn rollouts(&self, limit: i64) -> Result<Vec<RolloutRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM agent_rollouts ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn rollout(&self, id: i64) -> Result<RolloutRow> {
        sqlx::query_as(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM agent_rollouts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("rollout"))
    }

    pub async fn rollouts_in_state(&self, state: &str) -> Result<Vec<RolloutRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM agent_rollouts WHERE state = $1 ORDER BY id"
        ))
        .bind(state)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A rollout's servers in their order.
    pub async fn rollout_servers(&self, rollout_id: i64) -> Result<Vec<RolloutServerRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SERVER_COLUMNS} FROM agent_rollout_servers r \
             LEFT JOIN servers s ON s.id = r.server_id \
             WHERE r.rollout_id = $1 ORDER BY r.position"
        ))
        .bind(rollout_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A server's rows, newest rollout first.
    pub async fn rollout_rows_of_server(
        &self,
        server_id: i64,
        limit: i64,
    ) -> Result<Vec<RolloutServerRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SERVER_COLUMNS} FROM agent_rollout_servers r \
             LEFT JOIN servers s ON s.id = r.server_id \
             WHERE r.server_id = $1 ORDER BY r.rollout_id DESC LIMIT $2"
        ))
        .bind(server_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves a rollout from one of `from` to `to`; false when it was in none of them.
    pub async fn set_rollout_state(
        &self,
        id: i64,
        from: &[&str],
        to: &str,
        message: Option<&str>,
    ) -> Result<bool> {
        let now = now_ms();
        let finished = matches!(to, "done" | "cancelled").then_some(now);
        let placeholders = in_list(from, 6);
        let sql = format!(
            "UPDATE agent_rollouts SET state = $1, message = $2, updated_at = $3, \
             finished_at = $4 WHERE id = $5 AND state IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql)
            .bind(to)
            .bind(message)
            .bind(now)
            .bind(finished)
            .bind(id);
        for state in from {
            query = query.bind(*state);
        }
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// Moves a server's row from one of `from` to `to`; false when it was in none of them.
    pub async fn set_rollout_server_state(
        &self,
        rollout_id: i64,
        server_id: i64,
        from: &[&str],
        to: &str,
        message: Option<&str>,
    ) -> Result<bool> {
        let now = now_ms();
        let finished = matches!(to, "updated" | "rolled_back" | "failed" | "skipped");
        let placeholders = in_list(from, 7);
        let sql = format!(
            "UPDATE agent_rollout_servers SET state = $1, message = COALESCE($2, message), \
             updated_at = $3, \
             sent_at = CASE WHEN $1 = 'sending' THEN $3 ELSE sent_at END, \
             finished_at = CASE WHEN $4 = 1 THEN $3 ELSE finished_at END \
             WHERE rollout_id = $5 AND server_id = $6 AND state IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql)
            .bind(to)
            .bind(message)
            .bind(now)
            .bind(finished as i64)
            .bind(rollout_id)
            .bind(server_id);
        for state in from {
            query = query.bind(*state);
        }
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// Notes when a batch reached its servers (the first time only).
    pub async fn mark_rollout_reached(&self, rollout_id: i64, server_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE agent_rollout_servers SET reached_at = $1 \
             WHERE rollout_id = $2 AND server_id = $3 AND reached_at IS NULL",
        )
        .bind(now_ms())
        .bind(rollout_id)
        .bind(server_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rows of `server_id` sent an update and not yet settled, in rollouts not cancelled.
    pub async fn awaited_updates(&self, server_id: i64) -> Result<Vec<AwaitedUpdate>> {
        Ok(sqlx::query_as(
            "SELECT r.rollout_id, o.version, r.state FROM agent_rollout_servers r \
             JOIN agent_rollouts o ON o.id = r.rollout_id \
             WHERE r.server_id = $1 AND r.state IN ('sending', 'waiting') \
             AND o.state IN ('running', 'paused')",
        )
        .bind(server_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Servers with a row not yet settled in a running or paused rollout.
    pub async fn servers_in_open_rollouts(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT r.server_id FROM agent_rollout_servers r \
             JOIN agent_rollouts o ON o.id = r.rollout_id \
             WHERE r.state IN ('pending', 'sending', 'waiting') \
             AND o.state IN ('running', 'paused')",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

/// `$first, $first+1, …` for an `IN` list of `items`.
fn in_list(items: &[&str], first: usize) -> String {
    (0..items.len())
        .map(|i| format!("${}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::testing::test_stores;
    use super::super::NewServer;

    /// A rollout's rows move only from the states a change names, on both backends: the
    /// engine, a Hello and an operator cannot both move the same row, and a finished
    /// rollout records when.
    #[tokio::test]
    async fn rollout_states_change_only_from_the_states_named() {
        for t in test_stores().await {
            let s = &t.store;
            let server = |name: &str| NewServer {
                name: name.into(),
                region: String::new(),
                tags: Vec::new(),
                notes: String::new(),
                public_address: String::new(),
            };
            let a = s.create_server(&server("a")).await.unwrap().id;
            let b = s.create_server(&server("b")).await.unwrap().id;
            let id = s
                .create_rollout(
                    "0.2.0",
                    1,
                    10,
                    "admin",
                    &[(a, Some("0.1.0".into())), (b, None)],
                )
                .await
                .unwrap();
            let rows = s.rollout_servers(id).await.unwrap();
            assert_eq!(rows.len(), 2, "{}", t.label);
            assert_eq!((rows[0].server_id, rows[0].server_name.as_str()), (a, "a"));
            assert!(rows.iter().all(|r| r.state == "pending"), "{}", t.label);

            assert!(s
                .set_rollout_server_state(id, a, &["pending"], "sending", None)
                .await
                .unwrap());
            assert!(!s
                .set_rollout_server_state(id, a, &["pending"], "sending", None)
                .await
                .unwrap());
            let sent = &s.rollout_servers(id).await.unwrap()[0];
            assert!(sent.sent_at.is_some(), "{}", t.label);
            let awaited = s.awaited_updates(a).await.unwrap();
            assert_eq!(awaited.len(), 1, "{}", t.label);
            assert_eq!(awaited[0].version, "0.2.0");
            assert!(s
                .set_rollout_server_state(id, a, &["sending", "waiting"], "updated", Some("back"))
                .await
                .unwrap());
            let row = &s.rollout_servers(id).await.unwrap()[0];
            assert_eq!(row.state, "updated", "{}", t.label);
            assert_eq!(row.message.as_deref(), Some("back"));
            assert!(row.finished_at.is_some());
            assert!(s.awaited_updates(a).await.unwrap().is_empty());

            assert!(!s
                .set_rollout_state(id, &["paused"], "running", None)
                .await
                .unwrap());
            assert!(s
                .set_rollout_state(id, &["running"], "paused", Some("b: failed"))
                .await
                .unwrap());
            assert_eq!(s.rollouts_in_state("paused").await.unwrap().len(), 1);
            assert!(s
                .set_rollout_state(id, &["running", "paused"], "cancelled", None)
                .await
                .unwrap());
            let rollout = s.rollout(id).await.unwrap();
            assert_eq!(rollout.state, "cancelled", "{}", t.label);
            assert!(rollout.finished_at.is_some());
            assert_eq!(s.rollouts(10).await.unwrap().len(), 1);
        }
    }
}
