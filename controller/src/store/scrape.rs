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

#[cfg(test)]
mod tests {
    use super::super::servers::AgentFacts;
    use super::super::testing::test_stores;
    use super::super::NewServer;

    /// On both backends a scrape's three reads give each server with its status and last
    /// heartbeat, each inbound's counters, and per task state the count and oldest creation.
    #[tokio::test]
    async fn scrape_reads_every_family_in_one_query_each() {
        for t in test_stores().await {
            let s = &t.store;
            let server = |name: &str| NewServer {
                name: name.into(),
                region: String::new(),
                tags: Vec::new(),
                notes: String::new(),
                public_address: String::new(),
            };
            let a = s.create_server(&server("ams-1")).await.unwrap().id;
            let b = s.create_server(&server("fra-1")).await.unwrap().id;
            s.mark_online(a, &AgentFacts::default()).await.unwrap();
            s.record_last_seen(&[(a, 1_000_000)]).await.unwrap();
            for (server_id, tag, up, down) in [(a, "in-1", 5, 7), (a, "in-2", 1, 2)] {
                sqlx::query(
                    "INSERT INTO inbound_traffic (server_id, tag, up, down) VALUES ($1, $2, $3, $4)",
                )
                .bind(server_id)
                .bind(tag)
                .bind(up)
                .bind(down)
                .execute(&s.pool)
                .await
                .unwrap();
            }
            for (id, status, created) in [
                ("t1", "pending", 10),
                ("t2", "pending", 5),
                ("t3", "failed", 8),
            ] {
                sqlx::query(
                    "INSERT INTO server_tasks (id, server_id, operation, status, request, \
                     not_before, expires_at, created_by, created_at, seq, updated_at) \
                     VALUES ($1, $2, 'echo', $3, '{}', 0, 0, 'test', $4, 1, 0)",
                )
                .bind(id)
                .bind(b)
                .bind(status)
                .bind(created as i64)
                .execute(&s.pool)
                .await
                .unwrap();
            }

            let servers = s.scrape_servers().await.unwrap();
            let row = |id: i64| servers.iter().find(|r| r.id == id).unwrap();
            assert_eq!(
                (row(a).name.as_str(), row(a).status.as_str()),
                ("ams-1", "online"),
                "{}",
                t.label
            );
            assert!(row(a).last_seen.is_some(), "{}", t.label);
            assert_eq!(row(b).last_seen, None, "{}", t.label);
            let inbounds = s.scrape_inbound_bytes().await.unwrap();
            let counters: Vec<_> = inbounds
                .iter()
                .map(|i| (i.server_id, i.tag.as_str(), i.up, i.down))
                .collect();
            assert_eq!(
                counters,
                [(a, "in-1", 5, 7), (a, "in-2", 1, 2)],
                "{}",
                t.label
            );
            let tasks = s.scrape_task_states().await.unwrap();
            let states: Vec<_> = tasks
                .iter()
                .map(|t| (t.status.as_str(), t.count, t.oldest_created_at))
                .collect();
            assert_eq!(states, [("failed", 1, 8), ("pending", 2, 5)], "{}", t.label);
        }
    }
}
