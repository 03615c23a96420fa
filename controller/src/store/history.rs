//! Hourly traffic history for charts, written with each traffic batch (see `traffic`), read
//! by hour ranges and pruned by age. A client's hours are found through the servers it has
//! counters on (`client_traffic` rows, which traffic resets zero but keep).

use serde::Serialize;

use super::bulk::{placeholder, ROWS_PER_STATEMENT};
use super::traffic::{hour_start, HOUR_MS};
use super::{Result, Store};

/// What a server carried in one hour (through its inbounds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ServerHour {
    /// Start of the UTC hour, Unix ms.
    pub hour: i64,
    pub up: i64,
    pub down: i64,
}

/// What a client moved through one server in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ClientHour {
    /// Start of the UTC hour, Unix ms.
    pub hour: i64,
    pub server_id: i64,
    pub up: i64,
    pub down: i64,
}

impl Store {
    /// A server's hours that start from `since_ms` to `until_ms`, oldest first; hours
    /// without traffic are absent.
    pub async fn server_history(
        &self,
        server_id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ServerHour>> {
        Ok(sqlx::query_as(
            "SELECT hour_ms AS hour, up, down FROM server_traffic_hourly \
             WHERE server_id = $1 AND hour_ms >= $2 AND hour_ms <= $3 ORDER BY hour_ms",
        )
        .bind(server_id)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A client's hours that start from `since_ms` to `until_ms`, on every server it has
    /// counters on, oldest first, then by server; hours without traffic are absent.
    pub async fn client_history(
        &self,
        email: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ClientHour>> {
        let servers: Vec<(i64,)> =
            sqlx::query_as("SELECT server_id FROM client_traffic WHERE email = $1")
                .bind(email)
                .fetch_all(&self.pool)
                .await?;
        let first = hour_start(since_ms) + if since_ms % HOUR_MS == 0 { 0 } else { HOUR_MS };
        let hours: Vec<i64> = (0..)
            .map(|n| first + n * HOUR_MS)
            .take_while(|h| *h <= until_ms)
            .collect();
        let mut out = Vec::new();
        if servers.is_empty() {
            return Ok(out);
        }
        // Each (hour, server, email) is one seek in the primary key.
        let per_statement = (ROWS_PER_STATEMENT / servers.len()).max(1);
        for chunk in hours.chunks(per_statement) {
            let mut n = 0;
            let mut list = |count: usize| {
                (0..count)
                    .map(|_| {
                        n += 1;
                        placeholder(self.backend, n)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!(
                "SELECT hour_ms AS hour, server_id, up, down FROM client_traffic_hourly \
                 WHERE hour_ms IN ({}) AND server_id IN ({}) AND email = {} \
                 ORDER BY hour_ms, server_id",
                list(chunk.len()),
                list(servers.len()),
                list(1)
            );
            let mut query = sqlx::query_as(&sql);
            for hour in chunk {
                query = query.bind(*hour);
            }
            for (server,) in &servers {
                query = query.bind(*server);
            }
            out.extend(query.bind(email).fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// Deletes history of hours that started before `before_ms`; returns the rows deleted.
    /// Client rows go one hour per transaction, oldest first, so a large backlog (history
    /// shortened by configuration) never holds the writer for long.
    pub async fn prune_history(&self, before_ms: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let mut write = self.begin_write().await?;
            let (oldest,): (Option<i64>,) =
                sqlx::query_as("SELECT MIN(hour_ms) FROM client_traffic_hourly")
                    .fetch_one(&mut *write.tx)
                    .await?;
            let Some(oldest) = oldest.filter(|h| *h < before_ms) else {
                break;
            };
            let upto = (oldest + HOUR_MS).min(before_ms);
            deleted += sqlx::query("DELETE FROM client_traffic_hourly WHERE hour_ms < $1")
                .bind(upto)
                .execute(&mut *write.tx)
                .await?
                .rows_affected();
            write.tx.commit().await?;
        }
        let mut write = self.begin_write().await?;
        deleted += sqlx::query("DELETE FROM server_traffic_hourly WHERE hour_ms < $1")
            .bind(before_ms)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        write.tx.commit().await?;
        Ok(deleted)
    }
}
