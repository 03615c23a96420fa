//! Each server's CPU and memory a minute at a time, for the charts of its page: the ended
//! minutes of the whole fleet written in one statement (see `fleet::samples`), read by time
//! range and pruned by age.

use serde::Serialize;

use super::bulk::{Param, Rows};
use super::{Result, Store};

/// How far back minutes are kept (pruned by the history job): two days, 2,880 rows a server.
pub const SAMPLES_KEPT_HOURS: i64 = 48;

/// One server's CPU and memory over one minute: the average of its heartbeats in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ServerSample {
    /// Start of the minute, Unix ms.
    pub t: i64,
    /// CPU in tenths of a percent, 0 to 1000.
    pub cpu_tenths: i64,
    /// Memory in use and in all, in bytes.
    pub mem_used: i64,
    pub mem_total: i64,
}

impl Store {
    /// Writes minutes of many servers at once; a minute written again replaces the first.
    pub async fn record_samples(&self, samples: &[(i64, ServerSample)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut rows = Rows::tuples(5);
        for (server_id, s) in samples {
            rows.push(&[
                Param::Int(*server_id),
                Param::Int(s.t),
                Param::Int(s.cpu_tenths),
                Param::Int(s.mem_used),
                Param::Int(s.mem_total),
            ]);
        }
        let mut write = self.begin_write().await?;
        rows.execute(&mut write.tx, self.backend, &[], |_, list| {
            format!(
                "INSERT INTO server_samples (server_id, minute_ms, cpu_tenths, mem_used, mem_total) \
                 VALUES {list} ON CONFLICT (server_id, minute_ms) DO UPDATE SET \
                 cpu_tenths = excluded.cpu_tenths, mem_used = excluded.mem_used, \
                 mem_total = excluded.mem_total"
            )
        })
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// A server's minutes that start from `since_ms` on, oldest first; minutes without a
    /// heartbeat are absent.
    pub async fn server_samples(&self, server_id: i64, since_ms: i64) -> Result<Vec<ServerSample>> {
        Ok(sqlx::query_as(
            "SELECT minute_ms AS t, cpu_tenths, mem_used, mem_total FROM server_samples \
             WHERE server_id = $1 AND minute_ms >= $2 ORDER BY minute_ms",
        )
        .bind(server_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes the minutes that started before `before_ms`; returns the rows deleted.
    pub async fn prune_samples(&self, before_ms: i64) -> Result<u64> {
        let mut write = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM server_samples WHERE minute_ms < $1")
            .bind(before_ms)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        write.tx.commit().await?;
        Ok(deleted)
    }
}
