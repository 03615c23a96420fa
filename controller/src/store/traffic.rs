//! Traffic counters from agent journals, applied exactly once per batch, with the hourly
//! history that charts read.
//!
//! A batch of a fleet-wide round carries about a thousand rows per table, so rows go in as
//! multi-row upserts (see `bulk`), a few statements per batch rather than one per row.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use sqlx::AnyConnection;
use xfleet_common::time::now_ms;
use xfleet_common::traffic::{Delta, TrafficBatch};

use super::bulk::{Param, Rows};
use super::{Backend, Result, Store};

/// Length of a history bucket.
pub const HOUR_MS: i64 = 3_600_000;

/// Ceiling of every traffic counter an agent feeds (2^53 - 1 bytes, 9 PB): the largest
/// integer the panel's JavaScript holds exactly, and low enough that adding two counters, or
/// summing one client over hundreds of servers, never overflows a 64-bit column (an overflow
/// turns an SQLite integer into REAL and raises an error on PostgreSQL).
pub const MAX_COUNTER: i64 = (1 << 53) - 1;

/// `column + excluded.column`, stopping at [`MAX_COUNTER`]. The test subtracts instead of
/// adding, so it cannot overflow even when a stored value is above the ceiling (an operator
/// may set usage through the 3x-ui API); the delta is at most `MAX_COUNTER`, clamped before
/// it is bound.
fn saturating_add(table: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN {table}.{column} >= {MAX_COUNTER} - excluded.{column} \
         THEN {MAX_COUNTER} ELSE {table}.{column} + excluded.{column} END"
    )
}

/// A delta as stored: never above [`MAX_COUNTER`].
fn counter(v: u64) -> i64 {
    v.min(MAX_COUNTER as u64) as i64
}

/// Start of the UTC hour `at_ms` falls in.
pub fn hour_start(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(HOUR_MS)
}

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

/// The names a server's agent may report traffic for: clients attached to its inbounds (or
/// already counted on it, so traffic from just before a detach is not lost), its inbounds'
/// tags (the same, for a removed inbound), the clients and inbounds of the states last sent
/// to it as tasks (an operator may send one directly), and the outbound tags already counted
/// on it.
#[derive(Debug, Clone, Default)]
pub struct TrafficScope {
    pub emails: HashSet<String>,
    pub inbound_tags: HashSet<String>,
    pub outbound_tags: HashSet<String>,
}

/// Recent `state.apply` tasks whose clients and inbounds count as the server's.
const STATES_IN_SCOPE: i64 = 20;

impl TrafficScope {
    /// Adds the inbound tags and client emails of a `state.apply` request (`{"full": …}`).
    fn add_state(&mut self, request: &str) {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(request) else {
            return;
        };
        let inbounds = request["full"]["inbounds"].as_array();
        for inbound in inbounds.into_iter().flatten() {
            if let Some(tag) = inbound["tag"].as_str() {
                self.inbound_tags.insert(tag.to_owned());
            }
            let clients = inbound["settings"]["clients"].as_array();
            for email in clients
                .into_iter()
                .flatten()
                .filter_map(|c| c["email"].as_str())
            {
                self.emails.insert(email.to_owned());
            }
        }
    }
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
        let mut write = self.begin_write().await?;
        let tx = &mut write.tx;
        let known: Option<(String, i64)> =
            sqlx::query_as("SELECT epoch, last_seq FROM traffic_journal WHERE server_id = $1")
                .bind(server_id)
                .fetch_optional(&mut **tx)
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
                .execute(&mut **tx)
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
            .execute(&mut **tx)
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
            .execute(&mut **tx)
            .await?
            .rows_affected(),
        };
        if claimed == 0 {
            write.tx.rollback().await?;
            return Ok(Ingest::Duplicate);
        }
        write_batch(&mut write.tx, self.backend, server_id, batch).await?;
        write.tx.commit().await?;
        Ok(Ingest::Applied)
    }

    pub async fn traffic_scope(&self, server_id: i64) -> Result<TrafficScope> {
        let names = |sql: &'static str| async move {
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .bind(server_id)
                .fetch_all(&self.pool)
                .await?;
            Ok::<HashSet<String>, super::StoreError>(rows.into_iter().map(|r| r.0).collect())
        };
        let mut scope = TrafficScope {
            emails: names(
                "SELECT c.email FROM client_inbounds a JOIN inbounds i ON i.id = a.inbound_id \
                 JOIN clients c ON c.id = a.client_id WHERE i.server_id = $1 \
                 UNION SELECT email FROM client_traffic WHERE server_id = $1",
            )
            .await?,
            inbound_tags: names(
                "SELECT tag FROM inbounds WHERE server_id = $1 \
                 UNION SELECT tag FROM inbound_traffic WHERE server_id = $1",
            )
            .await?,
            outbound_tags: names("SELECT tag FROM outbound_traffic WHERE server_id = $1").await?,
        };
        let sent: Vec<(String,)> = sqlx::query_as(
            "SELECT request FROM server_tasks WHERE server_id = $1 AND operation = $2 \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(server_id)
        .bind(xfleet_common::state::method::APPLY)
        .bind(STATES_IN_SCOPE)
        .fetch_all(&self.pool)
        .await?;
        for (request,) in sent {
            scope.add_state(&request);
        }
        Ok(scope)
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

/// Deltas by name, duplicates summed: one statement cannot update a row twice (PostgreSQL
/// refuses it), and a name listed twice means both amounts.
fn merged(deltas: &[Delta]) -> BTreeMap<&str, (i64, i64)> {
    let mut by_name: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for d in deltas {
        let e = by_name.entry(d.name.as_str()).or_default();
        e.0 = e.0.saturating_add(d.up);
        e.1 = e.1.saturating_add(d.down);
    }
    by_name
        .into_iter()
        .map(|(name, (up, down))| (name, (counter(up), counter(down))))
        .collect()
}

/// Everything a claimed batch changes: counters, all-time counters, last online, source
/// addresses, and the hour's history. Part of the caller's transaction.
async fn write_batch(
    tx: &mut AnyConnection,
    backend: Backend,
    server_id: i64,
    batch: &TrafficBatch,
) -> Result<()> {
    let at = batch.at_ms;
    let hour = hour_start(at);
    let server = Param::Int(server_id);
    let users = merged(&batch.users);
    let online: HashSet<&str> = batch.online.iter().map(String::as_str).collect();

    // Clients online in this batch get `last_online` in the same statement as their counters.
    let mut clients = Rows::tuples(6);
    let mut hourly = Rows::tuples(5);
    for (&email, &(up, down)) in &users {
        let seen = if online.contains(email) { at } else { 0 };
        let all_time = up.saturating_add(down).min(MAX_COUNTER);
        let (email, up, down) = (Param::Text(email), Param::Int(up), Param::Int(down));
        clients.push(&[
            server,
            email,
            up,
            down,
            Param::Int(all_time),
            Param::Int(seen),
        ]);
        if all_time != 0 {
            hourly.push(&[Param::Int(hour), server, email, up, down]);
        }
    }
    clients
        .execute(tx, backend, &[], |_, rows| {
            format!(
                "INSERT INTO client_traffic (server_id, email, up, down, all_time, last_online) \
                 VALUES {rows} ON CONFLICT (server_id, email) DO UPDATE SET {}, {}, {}, \
                 last_online = CASE WHEN excluded.last_online <> 0 \
                 THEN excluded.last_online ELSE client_traffic.last_online END",
                saturating_add("client_traffic", "up"),
                saturating_add("client_traffic", "down"),
                saturating_add("client_traffic", "all_time"),
            )
        })
        .await?;
    // Online without traffic of its own in this batch: only a client already counted here.
    let mut idle = Rows::values();
    for email in online.iter().filter(|e| !users.contains_key(*e)) {
        idle.push(&[Param::Text(email)]);
    }
    idle.execute(tx, backend, &[Param::Int(at), server], |head, list| {
        format!(
            "UPDATE client_traffic SET last_online = {} WHERE server_id = {} AND email IN ({list})",
            head[0], head[1]
        )
    })
    .await?;
    hourly
        .execute(tx, backend, &[], |_, rows| {
            format!(
                "INSERT INTO client_traffic_hourly (hour_ms, server_id, email, up, down) \
                 VALUES {rows} ON CONFLICT (hour_ms, server_id, email) DO UPDATE SET {}, {}",
                saturating_add("client_traffic_hourly", "up"),
                saturating_add("client_traffic_hourly", "down"),
            )
        })
        .await?;

    let inbounds = merged(&batch.inbounds);
    let outbounds = merged(&batch.outbounds);
    // `all_time` survives traffic resets; outbounds have none.
    let mut rows = Rows::tuples(5);
    for (&tag, &(up, down)) in &inbounds {
        let all_time = up.saturating_add(down).min(MAX_COUNTER);
        rows.push(&[
            server,
            Param::Text(tag),
            Param::Int(up),
            Param::Int(down),
            Param::Int(all_time),
        ]);
    }
    rows.execute(tx, backend, &[], |_, rows| {
        format!(
            "INSERT INTO inbound_traffic (server_id, tag, up, down, all_time) VALUES {rows} \
             ON CONFLICT (server_id, tag) DO UPDATE SET {}, {}, {}",
            saturating_add("inbound_traffic", "up"),
            saturating_add("inbound_traffic", "down"),
            saturating_add("inbound_traffic", "all_time"),
        )
    })
    .await?;
    let mut rows = Rows::tuples(4);
    for (&tag, &(up, down)) in &outbounds {
        rows.push(&[server, Param::Text(tag), Param::Int(up), Param::Int(down)]);
    }
    rows.execute(tx, backend, &[], |_, rows| {
        format!(
            "INSERT INTO outbound_traffic (server_id, tag, up, down) VALUES {rows} \
             ON CONFLICT (server_id, tag) DO UPDATE SET {}, {}",
            saturating_add("outbound_traffic", "up"),
            saturating_add("outbound_traffic", "down"),
        )
    })
    .await?;
    // A server carried what went through its inbounds.
    let (up, down) = inbounds.values().fold((0i64, 0i64), |(u, d), &(up, down)| {
        (
            u.saturating_add(up).min(MAX_COUNTER),
            d.saturating_add(down).min(MAX_COUNTER),
        )
    });
    if up != 0 || down != 0 {
        sqlx::query(&format!(
            "INSERT INTO server_traffic_hourly (server_id, hour_ms, up, down) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (server_id, hour_ms) DO UPDATE SET {}, {}",
            saturating_add("server_traffic_hourly", "up"),
            saturating_add("server_traffic_hourly", "down"),
        ))
        .bind(server_id)
        .bind(hour)
        .bind(up)
        .bind(down)
        .execute(&mut *tx)
        .await?;
    }

    let seen: BTreeSet<(&str, &str)> = batch
        .ips
        .iter()
        .flat_map(|c| c.ips.iter().map(|ip| (c.email.as_str(), ip.as_str())))
        .collect();
    let mut ips = Rows::tuples(5);
    for (email, ip) in seen {
        ips.push(&[
            server,
            Param::Text(email),
            Param::Text(ip),
            Param::Int(at),
            Param::Int(at),
        ]);
    }
    // An address back after a quiet spell starts a new run (IP limits keep the earliest
    // runs); a replayed older batch never moves `last_seen` back.
    let quiet = super::limits::IP_LIVE_MS;
    ips.execute(tx, backend, &[], |_, rows| {
        format!(
            "INSERT INTO client_ips (server_id, email, ip, last_seen, first_seen) VALUES {rows} \
             ON CONFLICT (server_id, email, ip) DO UPDATE SET \
             first_seen = CASE WHEN client_ips.last_seen < excluded.last_seen - {quiet} \
             THEN excluded.first_seen ELSE client_ips.first_seen END, \
             last_seen = CASE WHEN excluded.last_seen > client_ips.last_seen \
             THEN excluded.last_seen ELSE client_ips.last_seen END"
        )
    })
    .await?;
    Ok(())
}
