//! What a Prometheus scrape reads from the database: one query per family, whatever the
//! size of the fleet (a scrape of 1,000 servers is three statements, not 3,000).

use super::{Result, Store};

/// A server as its series show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServerGauge {
    pub id: i64,
    pub name: String,
    pub status: String,
    /// The last heartbeat written to the database (epoch ms); none before the first.
    pub last_seen: Option<i64>,
}

/// One inbound's traffic counters (bytes since its last reset).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboundBytes {
    pub server_id: i64,
    pub tag: String,
    pub up: i64,
    pub down: i64,
}

/// The tasks in one state: how many, and when the oldest was created (epoch ms).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskStateCount {
    pub status: String,
    pub count: i64,
    pub oldest_created_at: i64,
}

impl Store {
    pub async fn scrape_servers(&self) -> Result<Vec<ServerGauge>> {
        Ok(
            sqlx::query_as("SELECT id, name, status, last_seen FROM servers ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn scrape_inbound_bytes(&self) -> Result<Vec<InboundBytes>> {
        Ok(sqlx::query_as(
            "SELECT server_id, tag, up, down FROM inbound_traffic ORDER BY server_id, tag",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn scrape_task_states(&self) -> Result<Vec<TaskStateCount>> {
        Ok(sqlx::query_as(
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS count, \
             CAST(MIN(created_at) AS BIGINT) AS oldest_created_at \
             FROM server_tasks GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
