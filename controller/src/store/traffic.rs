//! Traffic counters from agent journals, applied exactly once per batch.

use serde::Serialize;
use xfleet_common::time::now_ms;
use xfleet_common::traffic::TrafficBatch;

use super::{Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Counter {
    pub name: String,
    pub up: i64,
    pub down: i64,
}

/// What became of a traffic batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    Applied,
    /// Already applied: acknowledge it again.
    Duplicate,
    /// Batches before it are missing.
    Gap {
        expected: u64,
    },
}

/// What a server has carried, as recorded.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TrafficTotals {
    pub last_seq: i64,
    pub clients: Vec<Counter>,
    pub inbounds: Vec<Counter>,
    pub outbounds: Vec<Counter>,
}

impl Store {
    /// Applies a batch in one transaction if it is the next one of its journal: the first
    /// of a journal (epoch) the controller has not seen, or the one after the last applied.
    /// A repeat is a duplicate (acknowledge, ignore); a later one means some were not
    /// delivered (do not acknowledge; the agent sends them again, in order).
    pub async fn apply_traffic(&self, server_id: i64, batch: &TrafficBatch) -> Result<Ingest> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let known: Option<(String, i64)> =
            sqlx::query_as("SELECT epoch, last_seq FROM traffic_journal WHERE server_id = $1")
                .bind(server_id)
                .fetch_optional(&mut *tx)
                .await?;
        let seq = batch.seq as i64;
        let claimed = match &known {
            Some((epoch, last)) if *epoch == batch.epoch => {
                if seq <= *last {
                    return Ok(Ingest::Duplicate);
                }
                if seq != last + 1 {
                    return Ok(Ingest::Gap {
                        expected: (last + 1) as u64,
                    });
                }
                // Conditional, so a second connection of the same agent cannot apply it too.
                sqlx::query(
                    "UPDATE traffic_journal SET last_seq = $1, updated_at = $2 \
                     WHERE server_id = $3 AND epoch = $4 AND last_seq = $5",
                )
                .bind(seq)
                .bind(now)
                .bind(server_id)
                .bind(epoch)
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            }
            Some((_, _)) => sqlx::query(
                "UPDATE traffic_journal SET epoch = $1, last_seq = $2, updated_at = $3 \
                     WHERE server_id = $4",
            )
            .bind(&batch.epoch)
            .bind(seq)
            .bind(now)
            .bind(server_id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO traffic_journal (server_id, epoch, last_seq, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (server_id) DO NOTHING",
            )
            .bind(server_id)
            .bind(&batch.epoch)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(Ingest::Duplicate);
        }
        let tables = [
            ("client_traffic", "email", &batch.users, true),
            ("inbound_traffic", "tag", &batch.inbounds, true),
            ("outbound_traffic", "tag", &batch.outbounds, false),
        ];
        for (table, key, deltas, all_time) in tables {
            // `all_time` survives traffic resets.
            let sql = if all_time {
                format!(
                    "INSERT INTO {table} (server_id, {key}, up, down, all_time) \
                     VALUES ($1, $2, $3, $4, $3 + $4) \
                     ON CONFLICT (server_id, {key}) DO UPDATE SET up = {table}.up + excluded.up, \
                     down = {table}.down + excluded.down, \
                     all_time = {table}.all_time + excluded.all_time"
                )
            } else {
                format!(
                    "INSERT INTO {table} (server_id, {key}, up, down) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (server_id, {key}) DO UPDATE SET up = {table}.up + excluded.up, \
                     down = {table}.down + excluded.down"
                )
            };
            for d in deltas.iter() {
                sqlx::query(&sql)
                    .bind(server_id)
                    .bind(&d.name)
                    .bind(d.up as i64)
                    .bind(d.down as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for email in &batch.online {
            sqlx::query(
                "UPDATE client_traffic SET last_online = $1 WHERE server_id = $2 AND email = $3",
            )
            .bind(batch.at_ms)
            .bind(server_id)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        }
        for client in &batch.ips {
            for ip in &client.ips {
                // An address back after a quiet spell starts a new run (IP limits keep the
                // earliest runs); a replayed older batch never moves `last_seen` back.
                sqlx::query(
                    "INSERT INTO client_ips (server_id, email, ip, last_seen, first_seen) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (server_id, email, ip) DO UPDATE SET \
                     first_seen = CASE WHEN client_ips.last_seen < excluded.last_seen - $5 \
                     THEN excluded.first_seen ELSE client_ips.first_seen END, \
                     last_seen = CASE WHEN excluded.last_seen > client_ips.last_seen \
                     THEN excluded.last_seen ELSE client_ips.last_seen END",
                )
                .bind(server_id)
                .bind(&client.email)
                .bind(ip)
                .bind(batch.at_ms)
                .bind(super::limits::IP_LIVE_MS)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Ingest::Applied)
    }

    pub async fn traffic_of(&self, server_id: i64) -> Result<TrafficTotals> {
        let last: Option<(i64,)> =
            sqlx::query_as("SELECT last_seq FROM traffic_journal WHERE server_id = $1")
                .bind(server_id)
                .fetch_optional(&self.pool)
                .await?;
        let read = |table: &str, key: &str| {
            format!(
                "SELECT {key} AS name, up, down FROM {table} WHERE server_id = $1 ORDER BY {key}"
            )
        };
        let mut totals = TrafficTotals {
            last_seq: last.map(|r| r.0).unwrap_or(0),
            ..Default::default()
        };
        totals.clients = sqlx::query_as(&read("client_traffic", "email"))
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?;
        totals.inbounds = sqlx::query_as(&read("inbound_traffic", "tag"))
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?;
        totals.outbounds = sqlx::query_as(&read("outbound_traffic", "tag"))
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(totals)
    }
}
