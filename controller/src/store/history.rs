//! Hourly traffic history for charts, written with each traffic batch (see `traffic`), read
//! by hour ranges and pruned by age.

use serde::Serialize;

use super::traffic::HOUR_MS;
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
    /// A server's hours from `since_ms` on, oldest first; hours without traffic are absent.
    pub async fn server_history(&self, server_id: i64, since_ms: i64) -> Result<Vec<ServerHour>> {
        Ok(sqlx::query_as(
            "SELECT hour_ms AS hour, up, down FROM server_traffic_hourly \
             WHERE server_id = $1 AND hour_ms >= $2 ORDER BY hour_ms",
        )
        .bind(server_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A client's hours on every server from `since_ms` on, oldest first, then by server;
    /// hours without traffic are absent.
    pub async fn client_history(&self, email: &str, since_ms: i64) -> Result<Vec<ClientHour>> {
        Ok(sqlx::query_as(
            "SELECT hour_ms AS hour, server_id, up, down FROM client_traffic_hourly \
             WHERE email = $1 AND hour_ms >= $2 ORDER BY hour_ms, server_id",
        )
        .bind(email)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
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
