//! What the limits job reads and writes (DESIGN §5–6): depleted clients and inbounds,
//! auto-renewal, periodic traffic resets and IP-limit refusals. Every write that the job
//! decides on is conditional on what it saw, so two controllers sharing one PostgreSQL
//! database never renew, reset or disable the same thing twice.

use std::collections::{BTreeMap, BTreeSet};

use super::{Result, Store};

/// Why the limits job switched something off (`disabled_reason`).
pub mod reason {
    /// Usage reached the quota; a traffic reset switches it back on.
    pub const QUOTA: &str = "quota";
    /// The expiry passed.
    pub const EXPIRED: &str = "expired";
}

/// An address counts towards a client's IP limit while it was seen within this long
/// (3x-ui's staleness window); one that returns after longer starts a new run.
pub const IP_LIVE_MS: i64 = 30 * 60 * 1000;

const DAY_MS: i64 = 86_400_000;

/// A client whose expiry was pushed forward by its renewal period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    pub id: i64,
    pub email: String,
    pub expiry_time: i64,
}

/// An enabled client or inbound the limits job is about to switch off.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Depleted {
    pub id: i64,
    /// The client's email, or the inbound's tag.
    pub name: String,
    /// The inbound's server (0 for a client).
    pub server_id: i64,
    /// [`reason::QUOTA`] or [`reason::EXPIRED`].
    pub reason: String,
}

/// An address currently counting towards a client's IP limit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveIp {
    pub email: String,
    pub limit_ip: i64,
    pub ip: String,
    /// Start of its current run of activity (earliest over the servers).
    pub first_seen: i64,
}

/// One address recorded for a client, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IpRecord {
    pub ip: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// 1 while the client is refused from this address.
    pub refused: i64,
}

/// The next expiry of a renewing client: whole periods of `reset_days` past `expiry` until
/// it is in the future.
pub fn renewed_expiry(expiry: i64, reset_days: i64, now: i64) -> i64 {
    let period = reset_days.saturating_mul(DAY_MS).max(1);
    if expiry > now {
        return expiry;
    }
    expiry + ((now - expiry) / period + 1) * period
}

impl Store {
    /// Starts the clock of clients whose expiry counts from first use (a negative expiry of
    /// minus N days) once they have traffic; returns their ids.
    pub async fn start_delayed_expiry(&self, now: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "UPDATE clients SET expiry_time = $1 - expiry_time, updated_at = $1 \
             WHERE expiry_time < 0 AND email IN \
             (SELECT email FROM client_traffic WHERE up + down > 0) RETURNING id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Auto-renew (3x-ui's step 4): clients with a renewal period whose expiry has passed get
    /// it pushed forward by whole periods, their usage zeroed on every server (the all-time
    /// counter stays) and, if the limits job had switched them off, switched back on. A
    /// client the admin disabled stays disabled.
    pub async fn renew_clients(&self, now: i64) -> Result<Vec<Renewed>> {
        let due: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT id, email, expiry_time, reset_days FROM clients \
             WHERE reset_days > 0 AND expiry_time > 0 AND expiry_time <= $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut renewed = Vec::new();
        for (id, email, expiry, reset_days) in due {
            let next = renewed_expiry(expiry, reset_days, now);
            let mut tx = self.pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE clients SET expiry_time = $1, updated_at = $2, \
                 enable = CASE WHEN disabled_reason <> '' THEN 1 ELSE enable END, \
                 disabled_reason = '' WHERE id = $3 AND expiry_time = $4",
            )
            .bind(next)
            .bind(now)
            .bind(id)
            .bind(expiry)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                continue;
            }
            sqlx::query("UPDATE client_traffic SET up = 0, down = 0 WHERE email = $1")
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            renewed.push(Renewed {
                id,
                email,
                expiry_time: next,
            });
        }
        Ok(renewed)
    }

    /// Enabled clients past their expiry or over their fleet-wide quota.
    pub async fn depleted_clients(&self, now: i64) -> Result<Vec<Depleted>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.email AS name, CAST(0 AS BIGINT) AS server_id, \
             CASE WHEN c.expiry_time > 0 AND c.expiry_time <= $1 THEN 'expired' ELSE 'quota' END \
             AS reason FROM clients c LEFT JOIN \
             (SELECT email, SUM(up + down) AS used FROM client_traffic GROUP BY email) u \
             ON u.email = c.email WHERE c.enable = 1 AND \
             ((c.total_bytes > 0 AND COALESCE(u.used, 0) >= c.total_bytes) \
              OR (c.expiry_time > 0 AND c.expiry_time <= $1)) ORDER BY c.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Switches an enabled client off for `reason`; false if it was already off.
    pub async fn disable_client(&self, id: i64, reason: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE clients SET enable = 0, disabled_reason = $1, updated_at = $2 \
             WHERE id = $3 AND enable = 1",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Enabled inbounds whose usage on their server reached their quota, or whose expiry
    /// passed (3x-ui's step 6).
    pub async fn depleted_inbounds(&self, now: i64) -> Result<Vec<Depleted>> {
        Ok(sqlx::query_as(
            "SELECT i.id, i.tag AS name, i.server_id, \
             CASE WHEN i.expiry_time > 0 AND i.expiry_time <= $1 THEN 'expired' ELSE 'quota' END \
             AS reason FROM inbounds i LEFT JOIN inbound_traffic t \
             ON t.server_id = i.server_id AND t.tag = i.tag WHERE i.enable = 1 AND \
             ((i.total > 0 AND COALESCE(t.up + t.down, 0) >= i.total) \
              OR (i.expiry_time > 0 AND i.expiry_time <= $1)) ORDER BY i.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Switches an enabled inbound off for `reason`; false if it was already off.
    pub async fn disable_inbound(&self, id: i64, reason: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE inbounds SET enable = 0, disabled_reason = $1, updated_at = $2 \
             WHERE id = $3 AND enable = 1",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// A periodic traffic reset of one inbound, all or nothing: its usage and the usage of
    /// every client attached to it are zeroed (on every server; all-time counters stay),
    /// whatever its quota or theirs had switched off is on again, and the reset time is
    /// stamped. `seen_reset` is the reset time the caller saw: if another controller reset
    /// it meanwhile, nothing happens and `None` comes back. Otherwise the attached clients'
    /// ids.
    pub async fn reset_inbound_period(
        &self,
        inbound_id: i64,
        seen_reset: i64,
        now: i64,
    ) -> Result<Option<Vec<i64>>> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<(i64, String)> = sqlx::query_as(
            "UPDATE inbounds SET last_traffic_reset_time = $1, \
             enable = CASE WHEN disabled_reason = 'quota' THEN 1 ELSE enable END, \
             disabled_reason = CASE WHEN disabled_reason = 'quota' THEN '' ELSE disabled_reason END \
             WHERE id = $2 AND last_traffic_reset_time = $3 RETURNING server_id, tag",
        )
        .bind(now)
        .bind(inbound_id)
        .bind(seen_reset)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((server_id, tag)) = claimed else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE inbound_traffic SET up = 0, down = 0 WHERE server_id = $1 AND tag = $2",
        )
        .bind(server_id)
        .bind(&tag)
        .execute(&mut *tx)
        .await?;
        let clients: Vec<(i64,)> =
            sqlx::query_as("SELECT client_id FROM client_inbounds WHERE inbound_id = $1")
                .bind(inbound_id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE client_traffic SET up = 0, down = 0 WHERE email IN \
             (SELECT c.email FROM clients c JOIN client_inbounds a ON a.client_id = c.id \
              WHERE a.inbound_id = $1)",
        )
        .bind(inbound_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE clients SET enable = 1, disabled_reason = '', updated_at = $1 \
             WHERE disabled_reason = 'quota' AND id IN \
             (SELECT client_id FROM client_inbounds WHERE inbound_id = $2)",
        )
        .bind(now)
        .bind(inbound_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(clients.into_iter().map(|c| c.0).collect()))
    }

    /// Addresses seen since `since` for every client with an IP limit.
    pub async fn live_limited_ips(&self, since: i64) -> Result<Vec<LiveIp>> {
        Ok(sqlx::query_as(
            "SELECT p.email, c.limit_ip, p.ip, CAST(MIN(p.first_seen) AS BIGINT) AS first_seen \
             FROM client_ips p JOIN clients c ON c.email = p.email \
             WHERE c.limit_ip > 0 AND p.last_seen >= $1 \
             GROUP BY p.email, c.limit_ip, p.ip ORDER BY p.email, first_seen, p.ip",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The refused addresses of every client that has any.
    pub async fn ip_refusals(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT email, ip FROM client_ip_refusals ORDER BY email, ip")
                .fetch_all(&self.pool)
                .await?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (email, ip) in rows {
            out.entry(email).or_default().insert(ip);
        }
        Ok(out)
    }

    /// Makes `ips` the client's refused addresses, in one transaction; addresses refused
    /// before keep their refusal time.
    pub async fn set_ip_refusals(
        &self,
        email: &str,
        ips: &BTreeSet<String>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let current: Vec<(String,)> =
            sqlx::query_as("SELECT ip FROM client_ip_refusals WHERE email = $1")
                .bind(email)
                .fetch_all(&mut *tx)
                .await?;
        for (ip,) in &current {
            if !ips.contains(ip) {
                sqlx::query("DELETE FROM client_ip_refusals WHERE email = $1 AND ip = $2")
                    .bind(email)
                    .bind(ip)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for ip in ips {
            sqlx::query(
                "INSERT INTO client_ip_refusals (email, ip, refused_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (email, ip) DO NOTHING",
            )
            .bind(email)
            .bind(ip)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every address recorded for a client on any server, newest first, with whether it is
    /// refused now.
    pub async fn client_ip_records(&self, email: &str) -> Result<Vec<IpRecord>> {
        Ok(sqlx::query_as(
            "SELECT p.ip, CAST(MIN(p.first_seen) AS BIGINT) AS first_seen, \
             CAST(MAX(p.last_seen) AS BIGINT) AS last_seen, \
             CAST(CASE WHEN r.ip IS NULL THEN 0 ELSE 1 END AS BIGINT) AS refused \
             FROM client_ips p LEFT JOIN client_ip_refusals r ON r.email = p.email AND r.ip = p.ip \
             WHERE p.email = $1 GROUP BY p.ip, r.ip ORDER BY last_seen DESC, p.ip",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// An inbound with a periodic traffic reset.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PeriodicInbound {
    pub id: i64,
    pub server_id: i64,
    pub tag: String,
    pub traffic_reset: String,
    pub last_traffic_reset_time: i64,
    pub created_at: i64,
}

impl Store {
    /// Inbounds whose `traffic_reset` is anything but `never`.
    pub async fn periodic_inbounds(&self) -> Result<Vec<PeriodicInbound>> {
        Ok(sqlx::query_as(
            "SELECT id, server_id, tag, traffic_reset, last_traffic_reset_time, created_at \
             FROM inbounds WHERE traffic_reset <> 'never' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
