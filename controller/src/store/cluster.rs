//! What several controllers on one database share (DESIGN §14): the trust material every one
//! of them signs and serves with, each controller's lease, which controller holds which
//! agent, the leader's advisory lock and the wake-ups of task workers on other controllers.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};
use xfleet_common::time::now_ms;

use super::{Backend, Result, Store};

/// A running controller as the others see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ControllerRow {
    pub id: String,
    pub hostname: String,
    /// What agents dial.
    pub gateway_url: String,
    /// Where other controllers reach its gateway for routed calls.
    pub hop_url: String,
    pub panel_url: String,
    pub version: String,
    pub started_at: i64,
    pub seen_at: i64,
    /// 1 while it runs the periodic jobs.
    pub leads: i64,
}

/// The PostgreSQL channel on which a new task names its server.
pub const TASK_CHANNEL: &str = "xfleet_tasks";

/// The advisory lock whose holder runs the periodic jobs.
const LEADER_LOCK: i64 = 0x7866_6c65_6574; // "xfleet"

impl Store {
    /// The trust material by name (`ca.pem`, `ca.key`, `gateway.key`).
    pub async fn trust_material(&self) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, pem FROM trust_material")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Stores the pieces not stored yet, all in one transaction; a piece another controller
    /// stored first is kept (read [`Store::trust_material`] again for what won).
    pub async fn add_trust_material(&self, pieces: &[(&str, &str)]) -> Result<()> {
        let mut w = self.begin_write().await?;
        for (name, pem) in pieces {
            sqlx::query(
                "INSERT INTO trust_material (name, pem, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(*name)
            .bind(*pem)
            .bind(now_ms())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Replaces one piece of trust material (sealing it in place).
    pub async fn replace_trust_material(&self, name: &str, pem: &str) -> Result<()> {
        sqlx::query("UPDATE trust_material SET pem = $1 WHERE name = $2")
            .bind(pem)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records this controller as running (or renews its row at a restart).
    pub async fn register_controller(&self, row: &ControllerRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO controllers (id, hostname, gateway_url, hop_url, panel_url, version, \
             started_at, seen_at, leads) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET hostname = $2, gateway_url = $3, hop_url = $4, \
             panel_url = $5, version = $6, started_at = $7, seen_at = $8, leads = $9",
        )
        .bind(&row.id)
        .bind(&row.hostname)
        .bind(&row.gateway_url)
        .bind(&row.hop_url)
        .bind(&row.panel_url)
        .bind(&row.version)
        .bind(row.started_at)
        .bind(row.seen_at)
        .bind(row.leads)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Renews this controller's lease, saying whether it leads.
    pub async fn renew_controller(&self, id: &str, leads: bool) -> Result<()> {
        sqlx::query("UPDATE controllers SET seen_at = $1, leads = $3 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .bind(leads as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A controller stopping: its lease ends now rather than when it runs out.
    pub async fn remove_controller(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM controllers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Controllers whose lease was renewed after `since`, oldest first.
    pub async fn live_controllers(&self, since: i64) -> Result<Vec<ControllerRow>> {
        Ok(sqlx::query_as(
            "SELECT id, hostname, gateway_url, hop_url, panel_url, version, started_at, \
             seen_at, leads FROM controllers WHERE seen_at > $1 ORDER BY started_at, id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rows of controllers whose lease ran out before `before` (kept a day for the record).
    pub async fn forget_controllers(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM controllers WHERE seen_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// How many online servers each controller holds, by controller id.
    pub async fn held_counts(&self) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT held_by, COUNT(*) FROM servers WHERE status = 'online' \
             AND held_by IS NOT NULL GROUP BY held_by",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Who holds a server's agent session: the controller's id and where its gateway takes
    /// routed calls, if its lease is current (renewed after `since`).
    pub async fn holder_of(&self, server_id: i64, since: i64) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.hop_url FROM servers s JOIN controllers c ON c.id = s.held_by \
             WHERE s.id = $1 AND s.status = 'online' AND c.seen_at > $2",
        )
        .bind(server_id)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Who holds each of `servers` (online, with a lease renewed after `since`): controller
    /// id and where it takes routed calls, by server id.
    pub async fn holders_of(
        &self,
        servers: &[i64],
        since: i64,
    ) -> Result<HashMap<i64, (String, String)>> {
        let mut out = HashMap::new();
        // In slices, to stay under both backends' limits on bound parameters.
        for chunk in servers.chunks(1000) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT s.id, c.id, c.hop_url FROM servers s JOIN controllers c ON \
                 c.id = s.held_by WHERE s.status = 'online' AND c.seen_at > $1 AND s.id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query_as::<_, (i64, String, String)>(&sql).bind(since);
            for id in chunk {
                query = query.bind(*id);
            }
            for (id, holder, url) in query.fetch_all(&self.pool).await? {
                out.insert(id, (holder, url));
            }
        }
        Ok(out)
    }

    /// Records that `controller` now holds the server's session; returns who held it before.
    pub async fn take_hold(&self, server_id: i64, controller: &str) -> Result<Option<String>> {
        let before: Option<(Option<String>,)> =
            sqlx::query_as("SELECT held_by FROM servers WHERE id = $1")
                .bind(server_id)
                .fetch_optional(&self.pool)
                .await?;
        sqlx::query("UPDATE servers SET held_by = $1 WHERE id = $2")
            .bind(controller)
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(before.and_then(|b| b.0))
    }

    /// Servers shown online whose holder's lease ran out before `lease_since` (or that
    /// nobody holds) and that sent nothing after `seen_since`: their controller died without
    /// saying so, and no other took them over.
    pub async fn orphaned_servers(&self, lease_since: i64, seen_since: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT s.id FROM servers s WHERE s.status = 'online' \
             AND (s.last_seen IS NULL OR s.last_seen <= $2) \
             AND NOT EXISTS (SELECT 1 FROM controllers c WHERE c.id = s.held_by \
             AND c.seen_at > $1)",
        )
        .bind(lease_since)
        .bind(seen_since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Marks an orphaned server offline, unless a controller took it over meanwhile.
    pub async fn mark_orphan_offline(
        &self,
        id: i64,
        reason: &str,
        lease_since: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE servers SET status = 'offline', last_error = $1, updated_at = $2, \
             held_by = NULL WHERE id = $3 AND status = 'online' AND NOT EXISTS \
             (SELECT 1 FROM controllers c WHERE c.id = servers.held_by AND c.seen_at > $4)",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .bind(lease_since)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Servers shown online that this controller held when it stopped, or whose holder is
    /// gone: what a starting controller gives the grace period to come back.
    pub async fn online_servers_left_by(&self, me: &str, lease_since: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT s.id FROM servers s WHERE s.status = 'online' AND (s.held_by = $1 OR NOT \
             EXISTS (SELECT 1 FROM controllers c WHERE c.id = s.held_by AND c.seen_at > $2 \
             AND c.id <> $1))",
        )
        .bind(me)
        .bind(lease_since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Tasks left `running` on servers this controller held or whose holder is gone: put
    /// back in the queue at a start (tasks running on other live controllers are theirs).
    pub async fn requeue_running_tasks_left_by(&self, me: &str, lease_since: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE server_tasks SET status = 'pending', updated_at = $1 WHERE status = \
             'running' AND server_id IN (SELECT s.id FROM servers s WHERE s.held_by IS NULL \
             OR s.held_by = $2 OR NOT EXISTS (SELECT 1 FROM controllers c WHERE \
             c.id = s.held_by AND c.seen_at > $3 AND c.id <> $2))",
        )
        .bind(now_ms())
        .bind(me)
        .bind(lease_since)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Tasks of one server left `running` by a connection on another controller, which can
    /// no longer put them back itself: they are delivered again (the agent answers a repeated
    /// task from its result cache).
    pub async fn requeue_running_tasks_of(&self, server_id: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE server_tasks SET status = 'pending', updated_at = $1 \
             WHERE status = 'running' AND server_id = $2",
        )
        .bind(now_ms())
        .bind(server_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Wakes the task worker of `server_id` on whichever controller holds it (PostgreSQL).
    pub async fn announce_task(&self, server_id: i64) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(TASK_CHANNEL)
                .bind(server_id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A connection of its own, out of the pool, for the leader's advisory lock: the lock
    /// lasts as long as this connection (PostgreSQL ends it with the process).
    pub async fn leader_connection(&self) -> Result<AnyConnection> {
        Ok(self.pool.acquire().await?.detach())
    }

    /// Tries to take the leader's lock on `conn`; true once held (again true while held).
    pub async fn try_lead(conn: &mut AnyConnection) -> Result<bool> {
        let row = sqlx::query("SELECT CAST(pg_try_advisory_lock($1) AS INTEGER) AS held")
            .bind(LEADER_LOCK)
            .fetch_one(conn)
            .await?;
        Ok(row.try_get::<i32, _>("held")? == 1)
    }

    /// Records a failed login of the pair and forgets its failures older than `since`;
    /// returns how many it has from `since` on.
    pub async fn add_login_failure(
        &self,
        address: &str,
        username: &str,
        since: i64,
    ) -> Result<i64> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE address = $1 AND username = $2 AND at < $3")
            .bind(address)
            .bind(username)
            .bind(since)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("INSERT INTO login_failures (address, username, at) VALUES ($1, $2, $3)")
            .bind(address)
            .bind(username)
            .bind(now_ms())
            .execute(&mut *w.tx)
            .await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM login_failures WHERE address = $1 AND username = $2",
        )
        .bind(address)
        .bind(username)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(count)
    }

    /// Blocks the pair until `until` (epoch ms); its failures start again from zero.
    pub async fn block_login(&self, address: &str, username: &str, until: i64) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE address = $1 AND username = $2")
            .bind(address)
            .bind(username)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO login_blocks (address, username, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (address, username) DO UPDATE SET until_ms = $3",
        )
        .bind(address)
        .bind(username)
        .bind(until)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// When the pair's block ends (epoch ms), if it has one.
    pub async fn login_blocked_until(&self, address: &str, username: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_as::<_, (i64,)>(
            "SELECT until_ms FROM login_blocks WHERE address = $1 AND username = $2",
        )
        .bind(address)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.0))
    }

    /// A successful login: the pair's failures are forgotten.
    pub async fn clear_login_failures(&self, address: &str, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE address = $1 AND username = $2")
            .bind(address)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The database URL this store was opened with, for a connection of another kind (the
    /// PostgreSQL listener). Never logged.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}
