//! The `servers` table.

use serde::{Deserialize, Serialize};
use xfleet_common::methods::ListeningSocket;
use xfleet_common::time::now_ms;

use super::{conflict, Result, Store, StoreError};
use crate::i18n::Refusal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServerRow {
    pub id: i64,
    pub name: String,
    pub region: String,
    /// JSON array of strings.
    pub tags: String,
    pub status: String,
    pub last_seen: Option<i64>,
    pub last_error: Option<String>,
    pub version: Option<String>,
    pub core_version: Option<String>,
    pub os_info: Option<String>,
    pub hostname: Option<String>,
    pub enabled: i64,
    pub notes: String,
    pub revision: i64,
    pub applied_revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// 1 for the server the controller runs itself (single-server mode).
    pub is_local: i64,
    /// Host name or IP share links point at; empty: see [`ServerRow::link_host`].
    pub public_address: String,
    /// `xray` or `v2ray`, as the agent last said.
    pub core_flavour: Option<String>,
    /// JSON list of the sockets other programs listen on, as the agent last reported them.
    pub listening: String,
    /// Why the agent refused the last state the controller sent; `None` once one applies.
    pub apply_error: Option<String>,
    /// JSON array of the addresses the agent reported reachable from the internet.
    pub reported_addresses: String,
    /// The core template the server runs; `None`: the fleet template.
    pub core_template_id: Option<i64>,
    /// The controller holding the agent's session (see `store::cluster`).
    pub held_by: Option<String>,
}

/// How the address share links point at was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkHostSource {
    /// The operator set it (`public_address`).
    PublicAddress,
    /// An interface address the agent reported reachable from the internet.
    Agent,
    /// The host name the agent reported: a guess clients may not resolve.
    Hostname,
}

impl ServerRow {
    pub fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }

    /// The sockets the agent last reported listening (a damaged list reads as none).
    pub fn listening(&self) -> Vec<ListeningSocket> {
        serde_json::from_str(&self.listening).unwrap_or_default()
    }

    pub fn reported_addresses(&self) -> Vec<String> {
        serde_json::from_str(&self.reported_addresses).unwrap_or_default()
    }

    /// Where share links point when an inbound names no endpoint of its own: the operator's
    /// `public_address`, else the first address the agent reported reachable, else the
    /// agent's host name. `None` when nothing is known: links then use the host the request
    /// came to.
    pub fn link_host(&self) -> Option<(String, LinkHostSource)> {
        let hostname = self.hostname.as_deref().unwrap_or("").trim();
        if !self.public_address.is_empty() {
            Some((self.public_address.clone(), LinkHostSource::PublicAddress))
        } else if let Some(address) = self.reported_addresses().into_iter().next() {
            Some((address, LinkHostSource::Agent))
        } else if !hostname.is_empty() {
            Some((hostname.to_owned(), LinkHostSource::Hostname))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewServer {
    pub name: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: String,
    /// Host name or IP share links point at; empty for the default.
    #[serde(default)]
    pub public_address: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub region: Option<String>,
    pub tags: Option<Vec<String>>,
    pub notes: Option<String>,
    pub enabled: Option<bool>,
    pub public_address: Option<String>,
}

/// What an agent's `Hello` tells about its host.
#[derive(Debug, Clone, Default)]
pub struct AgentFacts {
    pub version: String,
    pub core_version: Option<String>,
    pub core_flavour: Option<String>,
    pub os_info: String,
    pub hostname: String,
    pub applied_revision: i64,
    /// Interface addresses reachable from the internet, IPv4 first.
    pub public_addresses: Vec<String>,
}

const COLUMNS: &str = "id, name, region, tags, status, last_seen, last_error, version, \
    core_version, os_info, hostname, enabled, notes, revision, applied_revision, created_at, \
    updated_at, is_local, public_address, core_flavour, listening, apply_error, \
    reported_addresses, core_template_id, held_by";

impl Store {
    pub async fn create_server(&self, new: &NewServer) -> Result<ServerRow> {
        let now = now_ms();
        let tags = serde_json::to_string(&new.tags).expect("tags serialize");
        let sql = format!(
            "INSERT INTO servers (name, region, tags, notes, created_at, updated_at, \
             public_address) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(&new.name)
            .bind(&new.region)
            .bind(tags)
            .bind(&new.notes)
            .bind(now)
            .bind(&new.public_address)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.server_name_taken", &[("name", new.name.clone())])
                })
            })
    }

    /// The local server's row, if one was ever created.
    pub async fn local_server(&self) -> Result<Option<ServerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM servers WHERE is_local = 1");
        Ok(sqlx::query_as(&sql).fetch_optional(&self.pool).await?)
    }

    /// Creates the local server with the next id (1 on a fresh database). There is at most
    /// one: a second is a conflict.
    pub async fn create_local_server(&self, name: &str) -> Result<ServerRow> {
        let sql = format!(
            "INSERT INTO servers (name, is_local, created_at, updated_at) \
             VALUES ($1, 1, $2, $2) RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(name)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.local_server_taken", &[("name", name.to_owned())])
                })
            })
    }

    pub async fn list_servers(&self) -> Result<Vec<ServerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM servers ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    pub async fn server(&self, id: i64) -> Result<ServerRow> {
        let sql = format!("SELECT {COLUMNS} FROM servers WHERE id = $1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("server"))
    }

    pub async fn server_by_name(&self, name: &str) -> Result<ServerRow> {
        let sql = format!("SELECT {COLUMNS} FROM servers WHERE name = $1");
        sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("server"))
    }

    pub async fn update_server(&self, id: i64, patch: &ServerPatch) -> Result<ServerRow> {
        let current = self.server(id).await?;
        let name = patch.name.clone().unwrap_or(current.name);
        let region = patch.region.clone().unwrap_or(current.region);
        let tags = match &patch.tags {
            Some(t) => serde_json::to_string(t).expect("tags serialize"),
            None => current.tags,
        };
        let notes = patch.notes.clone().unwrap_or(current.notes);
        let enabled = patch.enabled.map(i64::from).unwrap_or(current.enabled);
        let public_address = patch
            .public_address
            .as_deref()
            .map(str::trim)
            .unwrap_or(&current.public_address)
            .to_owned();
        let sql = format!(
            "UPDATE servers SET name = $1, region = $2, tags = $3, notes = $4, enabled = $5, \
             updated_at = $6, public_address = $8 WHERE id = $7 RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(&name)
            .bind(region)
            .bind(tags)
            .bind(notes)
            .bind(enabled)
            .bind(now_ms())
            .bind(id)
            .bind(public_address)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.server_name_taken", &[("name", name.to_owned())])
                })
            })?
            .ok_or(StoreError::NotFound("server"))
    }

    /// Removes a server with its queued tasks and unused tokens; its certificates stay on
    /// record, revoked.
    pub async fn delete_server(&self, id: i64) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("server"));
        }
        sqlx::query(
            "DELETE FROM client_inbounds WHERE inbound_id IN \
             (SELECT id FROM inbounds WHERE server_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Its clients' hourly rows age out with the history: deleting them here would read the
        // whole table (it is keyed by hour first), and nothing reaches them once the server's
        // counters are gone (see `client_history`).
        for table in [
            "inbounds",
            "server_tasks",
            "traffic_journal",
            "client_traffic",
            "inbound_traffic",
            "outbound_traffic",
            "client_ips",
            "server_traffic_hourly",
            "inbound_failures",
            "certificate_renewal_failures",
            "server_samples",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE server_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE certificates SET revoked_at = $1 WHERE server_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn mark_online(&self, id: i64, facts: &AgentFacts) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE servers SET status = 'online', last_seen = $1, last_error = NULL, \
             version = $2, core_version = $3, os_info = $4, hostname = $5, \
             applied_revision = $6, updated_at = $1, core_flavour = $9, \
             reported_addresses = $7 WHERE id = $8",
        )
        .bind(now)
        .bind(&facts.version)
        .bind(&facts.core_version)
        .bind(&facts.os_info)
        .bind(&facts.hostname)
        .bind(facts.applied_revision)
        .bind(serde_json::to_string(&facts.public_addresses).expect("strings serialize"))
        .bind(id)
        .bind(&facts.core_flavour)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_offline(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE servers SET status = 'offline', last_error = $1, updated_at = $2, \
             held_by = NULL WHERE id = $3",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a server offline with the reason, unless its agent was seen after `since` (it
    /// connected again meanwhile, however close the two came); whether it was marked.
    pub async fn mark_offline_unless_seen_after(
        &self,
        id: i64,
        reason: &str,
        since: i64,
        holder: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE servers SET status = 'offline', last_error = $1, updated_at = $2, \
             held_by = NULL WHERE id = $3 AND (last_seen IS NULL OR last_seen <= $4) \
             AND (held_by IS NULL OR held_by = $5)",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .bind(since)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The desired-state revision the agent reports as applied.
    pub async fn set_applied_revision(&self, id: i64, revision: i64) -> Result<()> {
        sqlx::query("UPDATE servers SET applied_revision = $1 WHERE id = $2")
            .bind(revision)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Servers the database believes online (used at start-up, before agents return).
    pub async fn online_server_ids(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM servers WHERE status = 'online'")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Writes many heartbeat times in one transaction.
    pub async fn record_last_seen(&self, seen: &[(i64, i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in seen {
            sqlx::query("UPDATE servers SET last_seen = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
