//! Inbounds (per server), clients (fleet-wide identities) and which inbounds a client is
//! attached to.

use serde::Deserialize;
use serde_json::Value;
use xfleet_common::time::now_ms;

use super::{conflict, Result, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboundRow {
    pub id: i64,
    pub server_id: i64,
    pub remark: String,
    pub enable: i64,
    pub listen: String,
    pub port: i64,
    pub protocol: String,
    /// JSON object, 3x-ui's shape without `clients` (they come from attachments).
    pub settings: String,
    pub stream_settings: String,
    pub sniffing: String,
    pub tag: String,
    pub total: i64,
    pub expiry_time: i64,
    pub traffic_reset: String,
    pub last_traffic_reset_time: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewInbound {
    pub server_id: i64,
    pub remark: String,
    pub enable: bool,
    pub listen: String,
    pub port: u16,
    pub protocol: String,
    pub settings: Value,
    pub stream_settings: Value,
    pub sniffing: Value,
    pub tag: String,
    pub total: i64,
    pub expiry_time: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub email: String,
    pub sub_id: String,
    pub uuid: String,
    pub password: String,
    pub auth: String,
    pub flow: String,
    pub limit_ip: i64,
    pub total_bytes: i64,
    pub expiry_time: i64,
    pub enable: i64,
    pub tg_id: i64,
    pub comment: String,
    pub reset_days: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewClient {
    pub email: String,
    pub sub_id: String,
    pub uuid: String,
    pub password: String,
    pub auth: String,
    pub flow: String,
    pub limit_ip: i64,
    pub total_bytes: i64,
    pub expiry_time: i64,
    pub enable: bool,
    pub tg_id: i64,
    pub comment: String,
    pub reset_days: i64,
}

const INBOUND_COLUMNS: &str = "id, server_id, remark, enable, listen, port, protocol, settings, \
    stream_settings, sniffing, tag, total, expiry_time, traffic_reset, last_traffic_reset_time, \
    created_at, updated_at";
const CLIENT_COLUMNS: &str = "id, email, sub_id, uuid, password, auth, flow, limit_ip, \
    total_bytes, expiry_time, enable, tg_id, comment, reset_days, created_at, updated_at";

impl Store {
    pub async fn create_inbound(&self, new: &NewInbound) -> Result<InboundRow> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO inbounds (server_id, remark, enable, listen, port, protocol, settings, \
             stream_settings, sniffing, tag, total, expiry_time, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
             RETURNING {INBOUND_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(new.server_id)
            .bind(&new.remark)
            .bind(i64::from(new.enable))
            .bind(&new.listen)
            .bind(i64::from(new.port))
            .bind(&new.protocol)
            .bind(new.settings.to_string())
            .bind(new.stream_settings.to_string())
            .bind(new.sniffing.to_string())
            .bind(&new.tag)
            .bind(new.total)
            .bind(new.expiry_time)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    format!("this server already has an inbound tagged `{}`", new.tag)
                })
            })
    }

    pub async fn inbounds_of(&self, server_id: i64) -> Result<Vec<InboundRow>> {
        let sql =
            format!("SELECT {INBOUND_COLUMNS} FROM inbounds WHERE server_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn inbound(&self, id: i64) -> Result<InboundRow> {
        let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbounds WHERE id = $1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("inbound"))
    }

    /// Removes an inbound and its attachments; its clients stay (they are fleet-wide).
    pub async fn delete_inbound(&self, id: i64) -> Result<InboundRow> {
        let row = self.inbound(id).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM client_inbounds WHERE inbound_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM inbounds WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn create_client(&self, new: &NewClient) -> Result<ClientRow> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO clients (email, sub_id, uuid, password, auth, flow, limit_ip, \
             total_bytes, expiry_time, enable, tg_id, comment, reset_days, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             RETURNING {CLIENT_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(&new.email)
            .bind(&new.sub_id)
            .bind(&new.uuid)
            .bind(&new.password)
            .bind(&new.auth)
            .bind(&new.flow)
            .bind(new.limit_ip)
            .bind(new.total_bytes)
            .bind(new.expiry_time)
            .bind(i64::from(new.enable))
            .bind(new.tg_id)
            .bind(&new.comment)
            .bind(new.reset_days)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    format!("a client with email `{}` already exists", new.email)
                })
            })
    }

    pub async fn client_by_email(&self, email: &str) -> Result<ClientRow> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE email = $1");
        sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("client"))
    }

    pub async fn attach_client(&self, client_id: i64, inbound_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO client_inbounds (client_id, inbound_id) VALUES ($1, $2) \
             ON CONFLICT (client_id, inbound_id) DO NOTHING",
        )
        .bind(client_id)
        .bind(inbound_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn clients_of_inbound(&self, inbound_id: i64) -> Result<Vec<ClientRow>> {
        let columns = CLIENT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM clients c JOIN client_inbounds a ON a.client_id = c.id \
             WHERE a.inbound_id = $1 ORDER BY c.id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(inbound_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Servers a client is attached to (through any inbound).
    pub async fn servers_of_client(&self, client_id: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT i.server_id FROM client_inbounds a \
             JOIN inbounds i ON i.id = a.inbound_id WHERE a.client_id = $1",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Bytes a client has used on every server together.
    pub async fn client_usage(&self, email: &str) -> Result<i64> {
        let (used,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(up + down), 0) AS BIGINT) FROM client_traffic WHERE email = $1",
        )
        .bind(email)
        .fetch_one(&self.pool)
        .await?;
        Ok(used)
    }

    /// Gives a server's desired state a new revision.
    pub async fn bump_revision(&self, server_id: i64) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE servers SET revision = revision + 1, updated_at = $1 WHERE id = $2 \
             RETURNING revision",
        )
        .bind(now_ms())
        .bind(server_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.0).ok_or(StoreError::NotFound("server"))
    }

    /// Pending `state.apply` tasks of a server that a newer full state makes pointless.
    pub async fn supersede_state_tasks(&self, server_id: i64, revision: i64) -> Result<u64> {
        let now = now_ms();
        Ok(sqlx::query(
            "UPDATE server_tasks SET status = 'expired', error_code = 'superseded', \
             error_message = $1, completed_at = $2, updated_at = $2 \
             WHERE server_id = $3 AND operation = 'state.apply' AND status = 'pending'",
        )
        .bind(format!("superseded by revision {revision}"))
        .bind(now)
        .bind(server_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}

impl Store {
    /// Enabled clients past their expiry or over their fleet-wide quota.
    pub async fn depleted_clients(&self, now: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.email FROM clients c LEFT JOIN \
             (SELECT email, SUM(up + down) AS used FROM client_traffic GROUP BY email) u \
             ON u.email = c.email WHERE c.enable = 1 AND \
             ((c.total_bytes > 0 AND COALESCE(u.used, 0) >= c.total_bytes) \
              OR (c.expiry_time > 0 AND c.expiry_time <= $1))",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

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

    pub async fn set_client_enable(&self, id: i64, enable: bool) -> Result<()> {
        sqlx::query("UPDATE clients SET enable = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(enable))
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
