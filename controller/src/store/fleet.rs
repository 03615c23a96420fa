//! Inbounds (per server), clients (fleet-wide identities) and which inbounds a client is
//! attached to.

use serde::Deserialize;
use serde_json::Value;
use xfleet_common::time::now_ms;

use super::{Result, Store, StoreError};

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
    /// `never`, `hourly`, `daily`, `weekly` or `monthly`.
    pub traffic_reset: String,
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
    /// VMess only: the client's cipher (`auto` when empty).
    pub security: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The columns of [`ClientTotals`], summed over the servers of `client_traffic`.
const TOTALS: &str = "SELECT email, CAST(SUM(up) AS BIGINT) AS up, \
    CAST(SUM(down) AS BIGINT) AS down, CAST(SUM(all_time) AS BIGINT) AS all_time, \
    CAST(MAX(last_online) AS BIGINT) AS last_online FROM client_traffic";

/// A client's usage over every server (`last_online` the latest of any; 0: never seen).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientTotals {
    pub email: String,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    pub last_online: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    pub security: String,
}

/// Tables keyed by a client's email besides `clients`.
pub(super) const EMAIL_TABLES: &[&str] = &["client_traffic", "client_ips", "client_ip_refusals"];

impl From<&ClientRow> for NewClient {
    fn from(row: &ClientRow) -> Self {
        Self {
            email: row.email.clone(),
            sub_id: row.sub_id.clone(),
            uuid: row.uuid.clone(),
            password: row.password.clone(),
            auth: row.auth.clone(),
            flow: row.flow.clone(),
            limit_ip: row.limit_ip,
            total_bytes: row.total_bytes,
            expiry_time: row.expiry_time,
            enable: row.enable != 0,
            tg_id: row.tg_id,
            comment: row.comment.clone(),
            reset_days: row.reset_days,
            security: row.security.clone(),
        }
    }
}

impl ClientRow {
    /// The row a new client would become (id 0), for checks before anything is stored.
    pub fn preview(new: &NewClient) -> Self {
        Self {
            id: 0,
            email: new.email.clone(),
            sub_id: new.sub_id.clone(),
            uuid: new.uuid.clone(),
            password: new.password.clone(),
            auth: new.auth.clone(),
            flow: new.flow.clone(),
            limit_ip: new.limit_ip,
            total_bytes: new.total_bytes,
            expiry_time: new.expiry_time,
            enable: i64::from(new.enable),
            tg_id: new.tg_id,
            comment: new.comment.clone(),
            reset_days: new.reset_days,
            security: new.security.clone(),
            created_at: 0,
            updated_at: 0,
        }
    }
}

const INBOUND_COLUMNS: &str = "id, server_id, remark, enable, listen, port, protocol, settings, \
    stream_settings, sniffing, tag, total, expiry_time, traffic_reset, last_traffic_reset_time, \
    created_at, updated_at";
pub(super) const CLIENT_COLUMNS: &str = "id, email, sub_id, uuid, password, auth, flow, limit_ip, \
    total_bytes, expiry_time, enable, tg_id, comment, reset_days, security, created_at, updated_at";

impl Store {
    pub async fn create_inbound(&self, new: &NewInbound) -> Result<InboundRow> {
        write::insert_inbound(&mut *self.pool.acquire().await?, new).await
    }

    pub async fn inbounds_of(&self, server_id: i64) -> Result<Vec<InboundRow>> {
        let sql =
            format!("SELECT {INBOUND_COLUMNS} FROM inbounds WHERE server_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn all_inbounds(&self) -> Result<Vec<InboundRow>> {
        let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbounds ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
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
        write::delete_inbound(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn create_client(&self, new: &NewClient) -> Result<ClientRow> {
        write::insert_client(&mut *self.pool.acquire().await?, new).await
    }

    pub async fn client_by_email(&self, email: &str) -> Result<ClientRow> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE email = $1");
        sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("client"))
    }

    /// Clients whose email equals `email` in any letter case (the core keys users by the
    /// email in lower case), by id. The database's `LOWER` finds them; SQLite's folds ASCII
    /// letters only, so there two emails that differ only in the case of other letters are
    /// not found. What it finds is compared again with Rust's case folding.
    pub async fn clients_by_folded_email(&self, email: &str) -> Result<Vec<ClientRow>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE LOWER(email) = LOWER($1) ORDER BY id"
        );
        let folded = email.to_lowercase();
        let rows: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(email)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|c| c.email.to_lowercase() == folded)
            .collect())
    }

    /// Every client with this subscription id (3x-ui lets several share one), by id.
    pub async fn clients_by_sub_id(&self, sub_id: &str) -> Result<Vec<ClientRow>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE sub_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(sub_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Every client whose Telegram id is `tg_id`, by id.
    pub async fn clients_by_tg_id(&self, tg_id: i64) -> Result<Vec<ClientRow>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE tg_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(tg_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The client with this id.
    pub async fn client(&self, id: i64) -> Result<ClientRow> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("client"))
    }

    pub async fn attach_client(&self, client_id: i64, inbound_id: i64) -> Result<()> {
        write::attach(&mut *self.pool.acquire().await?, client_id, inbound_id).await
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

    pub async fn all_clients(&self) -> Result<Vec<ClientRow>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    pub async fn inbounds_of_client(&self, client_id: i64) -> Result<Vec<InboundRow>> {
        let columns = INBOUND_COLUMNS
            .split(", ")
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM inbounds i JOIN client_inbounds a ON a.inbound_id = i.id \
             WHERE a.client_id = $1 ORDER BY i.id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(client_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The clients attached to a server's inbounds, as (inbound id, client) pairs.
    pub async fn clients_of_server(&self, server_id: i64) -> Result<Vec<(i64, ClientRow)>> {
        #[derive(sqlx::FromRow)]
        struct Attached {
            inbound_id: i64,
            #[sqlx(flatten)]
            client: ClientRow,
        }
        let columns = CLIENT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT a.inbound_id, {columns} FROM client_inbounds a \
             JOIN inbounds i ON i.id = a.inbound_id JOIN clients c ON c.id = a.client_id \
             WHERE i.server_id = $1 ORDER BY a.inbound_id, c.id"
        );
        let rows: Vec<Attached> = sqlx::query_as(&sql)
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.inbound_id, r.client)).collect())
    }

    /// Fleet-wide usage of the clients attached to a server's inbounds, by email.
    pub async fn client_totals_of_server(
        &self,
        server_id: i64,
    ) -> Result<std::collections::HashMap<String, ClientTotals>> {
        let sql = format!(
            "{TOTALS} WHERE email IN (SELECT c.email FROM clients c \
             JOIN client_inbounds a ON a.client_id = c.id \
             JOIN inbounds i ON i.id = a.inbound_id WHERE i.server_id = $1) GROUP BY email"
        );
        let rows: Vec<ClientTotals> = sqlx::query_as(&sql)
            .bind(server_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.email.clone(), r)).collect())
    }

    /// Every attachment, as (client id, inbound id) pairs.
    pub async fn attachments(&self) -> Result<Vec<(i64, i64)>> {
        Ok(
            sqlx::query_as("SELECT client_id, inbound_id FROM client_inbounds ORDER BY inbound_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A server's inbound usage by tag: (up, down, all time).
    pub async fn inbound_totals(
        &self,
        server_id: i64,
    ) -> Result<std::collections::HashMap<String, (i64, i64, i64)>> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT tag, up, down, all_time FROM inbound_traffic WHERE server_id = $1",
        )
        .bind(server_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(t, u, d, a)| (t, (u, d, a)))
            .collect())
    }

    /// Every client's usage summed over the servers, by email.
    pub async fn client_totals(&self) -> Result<std::collections::HashMap<String, ClientTotals>> {
        let rows: Vec<ClientTotals> = sqlx::query_as(&format!("{TOTALS} GROUP BY email"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.email.clone(), r)).collect())
    }

    /// Usage of the named clients, summed over the servers, by email. Every email asked for
    /// is in the answer; one without traffic has zeros.
    pub async fn clients_usage<S: AsRef<str> + Sync>(
        &self,
        emails: &[S],
    ) -> Result<std::collections::HashMap<String, ClientTotals>> {
        let wanted: std::collections::BTreeSet<&str> = emails.iter().map(AsRef::as_ref).collect();
        let mut usage: std::collections::HashMap<String, ClientTotals> = wanted
            .iter()
            .map(|e| {
                let zero = ClientTotals {
                    email: (*e).to_owned(),
                    ..Default::default()
                };
                ((*e).to_owned(), zero)
            })
            .collect();
        let wanted: Vec<&str> = wanted.into_iter().collect();
        for chunk in wanted.chunks(super::bulk::ROWS_PER_STATEMENT) {
            let list = (1..=chunk.len())
                .map(|n| super::bulk::placeholder(self.backend, n))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("{TOTALS} WHERE email IN ({list}) GROUP BY email");
            let mut query = sqlx::query_as::<_, ClientTotals>(&sql);
            for email in chunk {
                query = query.bind(*email);
            }
            for row in query.fetch_all(&self.pool).await? {
                usage.insert(row.email.clone(), row);
            }
        }
        Ok(usage)
    }

    /// One client's usage summed over the servers.
    pub async fn client_total(&self, email: &str) -> Result<ClientTotals> {
        let mut usage = self.clients_usage(&[email]).await?;
        Ok(usage.remove(email).unwrap_or_default())
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

/// Writes that must go together, on one connection (a transaction): the model layer
/// (`crate::model`) validates first, then makes every change of one operation in one
/// transaction so a failure leaves nothing half-written.
pub mod write {
    use sqlx::AnyConnection;
    use xfleet_common::time::now_ms;

    use super::{ClientRow, InboundRow, NewClient, NewInbound, CLIENT_COLUMNS, INBOUND_COLUMNS};
    use crate::i18n::Refusal;
    use crate::store::{conflict, Result, StoreError};

    pub async fn insert_inbound(c: &mut AnyConnection, new: &NewInbound) -> Result<InboundRow> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO inbounds (server_id, remark, enable, listen, port, protocol, settings, \
             stream_settings, sniffing, tag, total, expiry_time, traffic_reset, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
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
            .bind(&new.traffic_reset)
            .bind(now)
            .fetch_one(c)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.tag_taken", &[("tag", new.tag.clone())])
                })
            })
    }

    /// Replaces an inbound's fields; traffic recorded under the old tag follows it. A new
    /// reset period counts from now (the next boundary resets, not the next job round). A
    /// written `enable` is the admin's word: it clears the reason the limits job left.
    pub async fn update_inbound(
        c: &mut AnyConnection,
        old: &InboundRow,
        new: &NewInbound,
    ) -> Result<InboundRow> {
        let sql = format!(
            "UPDATE inbounds SET remark = $1, enable = $2, listen = $3, port = $4, protocol = $5, \
             settings = $6, stream_settings = $7, sniffing = $8, tag = $9, total = $10, \
             expiry_time = $11, traffic_reset = $12, updated_at = $13, \
             disabled_reason = CASE WHEN $2 = 1 OR enable = 1 THEN '' ELSE disabled_reason END, \
             last_traffic_reset_time = CASE WHEN traffic_reset = $12 THEN last_traffic_reset_time \
             ELSE $13 END WHERE id = $14 RETURNING {INBOUND_COLUMNS}"
        );
        let row: InboundRow = sqlx::query_as(&sql)
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
            .bind(&new.traffic_reset)
            .bind(now_ms())
            .bind(old.id)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.tag_taken", &[("tag", new.tag.clone())])
                })
            })?
            .ok_or(StoreError::NotFound("inbound"))?;
        if row.tag != old.tag {
            sqlx::query("UPDATE inbound_traffic SET tag = $1 WHERE server_id = $2 AND tag = $3")
                .bind(&row.tag)
                .bind(row.server_id)
                .bind(&old.tag)
                .execute(c)
                .await?;
        }
        Ok(row)
    }

    pub async fn set_inbound_enable(c: &mut AnyConnection, id: i64, enable: bool) -> Result<()> {
        let n = sqlx::query(
            "UPDATE inbounds SET enable = $1, disabled_reason = '', updated_at = $2 WHERE id = $3",
        )
        .bind(i64::from(enable))
        .bind(now_ms())
        .bind(id)
        .execute(c)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("inbound"));
        }
        Ok(())
    }

    pub async fn delete_inbound(c: &mut AnyConnection, row: &InboundRow) -> Result<()> {
        sqlx::query("DELETE FROM client_inbounds WHERE inbound_id = $1")
            .bind(row.id)
            .execute(&mut *c)
            .await?;
        for table in ["inbound_traffic", "inbound_failures"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE server_id = $1 AND tag = $2"
            ))
            .bind(row.server_id)
            .bind(&row.tag)
            .execute(&mut *c)
            .await?;
        }
        sqlx::query("DELETE FROM inbounds WHERE id = $1")
            .bind(row.id)
            .execute(c)
            .await?;
        Ok(())
    }

    pub async fn insert_client(c: &mut AnyConnection, new: &NewClient) -> Result<ClientRow> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO clients (email, sub_id, uuid, password, auth, flow, limit_ip, \
             total_bytes, expiry_time, enable, tg_id, comment, reset_days, security, created_at, \
             updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
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
            .bind(&new.security)
            .bind(now)
            .fetch_one(c)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.email_taken", &[("email", new.email.clone())])
                })
            })
    }

    /// Replaces a client's fields; a new email carries its traffic and address records along.
    /// An enabled client, or one the admin just disabled, has no automatic disable reason.
    pub async fn update_client(
        c: &mut AnyConnection,
        old: &ClientRow,
        new: &NewClient,
    ) -> Result<ClientRow> {
        let sql = format!(
            "UPDATE clients SET email = $1, sub_id = $2, uuid = $3, password = $4, auth = $5, \
             flow = $6, limit_ip = $7, total_bytes = $8, expiry_time = $9, enable = $10, \
             tg_id = $11, comment = $12, reset_days = $13, security = $14, updated_at = $15, \
             disabled_reason = CASE WHEN $10 = 1 OR enable = 1 THEN '' ELSE disabled_reason END \
             WHERE id = $16 RETURNING {CLIENT_COLUMNS}"
        );
        let row: ClientRow = sqlx::query_as(&sql)
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
            .bind(&new.security)
            .bind(now_ms())
            .bind(old.id)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.email_taken", &[("email", new.email.clone())])
                })
            })?
            .ok_or(StoreError::NotFound("client"))?;
        if row.email != old.email {
            for table in super::EMAIL_TABLES {
                let sql = format!("UPDATE {table} SET email = $1 WHERE email = $2");
                sqlx::query(&sql)
                    .bind(&row.email)
                    .bind(&old.email)
                    .execute(&mut *c)
                    .await?;
            }
        }
        Ok(row)
    }

    /// Removes a client everywhere; its traffic and address records too unless `keep_traffic`.
    pub async fn delete_client(
        c: &mut AnyConnection,
        row: &ClientRow,
        keep_traffic: bool,
    ) -> Result<()> {
        sqlx::query("DELETE FROM client_inbounds WHERE client_id = $1")
            .bind(row.id)
            .execute(&mut *c)
            .await?;
        if !keep_traffic {
            for table in super::EMAIL_TABLES {
                let sql = format!("DELETE FROM {table} WHERE email = $1");
                sqlx::query(&sql).bind(&row.email).execute(&mut *c).await?;
            }
        }
        sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(row.id)
            .execute(c)
            .await?;
        Ok(())
    }

    pub async fn attach(c: &mut AnyConnection, client_id: i64, inbound_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO client_inbounds (client_id, inbound_id) VALUES ($1, $2) \
             ON CONFLICT (client_id, inbound_id) DO NOTHING",
        )
        .bind(client_id)
        .bind(inbound_id)
        .execute(c)
        .await?;
        Ok(())
    }

    pub async fn detach(c: &mut AnyConnection, client_id: i64, inbound_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM client_inbounds WHERE client_id = $1 AND inbound_id = $2")
            .bind(client_id)
            .bind(inbound_id)
            .execute(c)
            .await?;
        Ok(())
    }

    /// Zeroes a client's usage on every server (the all-time counter stays).
    pub async fn reset_client_traffic(c: &mut AnyConnection, email: &str) -> Result<()> {
        sqlx::query("UPDATE client_traffic SET up = 0, down = 0 WHERE email = $1")
            .bind(email)
            .execute(c)
            .await?;
        Ok(())
    }

    /// Sets a client's usage: all of it on `server_id`, none elsewhere.
    pub async fn set_client_traffic(
        c: &mut AnyConnection,
        server_id: i64,
        email: &str,
        up: i64,
        down: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE client_traffic SET up = 0, down = 0 WHERE email = $1")
            .bind(email)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO client_traffic (server_id, email, up, down, all_time) \
             VALUES ($1, $2, $3, $4, $3 + $4) ON CONFLICT (server_id, email) \
             DO UPDATE SET up = excluded.up, down = excluded.down",
        )
        .bind(server_id)
        .bind(email)
        .bind(up)
        .bind(down)
        .execute(c)
        .await?;
        Ok(())
    }

    /// The admin's (or a manual reset's) word on `enable`: no automatic reason remains.
    pub async fn set_client_enable(c: &mut AnyConnection, id: i64, enable: bool) -> Result<()> {
        sqlx::query(
            "UPDATE clients SET enable = $1, disabled_reason = '', updated_at = $2 WHERE id = $3",
        )
        .bind(i64::from(enable))
        .bind(now_ms())
        .bind(id)
        .execute(c)
        .await?;
        Ok(())
    }

    /// Zeroes an inbound's usage and stamps the reset time; an inbound its quota switched off
    /// is on again.
    pub async fn reset_inbound_traffic(c: &mut AnyConnection, row: &InboundRow) -> Result<()> {
        sqlx::query(
            "UPDATE inbound_traffic SET up = 0, down = 0 WHERE server_id = $1 AND tag = $2",
        )
        .bind(row.server_id)
        .bind(&row.tag)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "UPDATE inbounds SET last_traffic_reset_time = $1, \
             enable = CASE WHEN disabled_reason = 'quota' THEN 1 ELSE enable END, \
             disabled_reason = CASE WHEN disabled_reason = 'quota' THEN '' ELSE disabled_reason END \
             WHERE id = $2",
        )
        .bind(now_ms())
        .bind(row.id)
        .execute(c)
        .await?;
        Ok(())
    }

    /// Forgets a client's addresses and lifts its refusals; returns whether any address was
    /// refused (the servers then need a new state).
    pub async fn clear_client_ips(c: &mut AnyConnection, email: &str) -> Result<bool> {
        sqlx::query("DELETE FROM client_ips WHERE email = $1")
            .bind(email)
            .execute(&mut *c)
            .await?;
        let lifted = sqlx::query("DELETE FROM client_ip_refusals WHERE email = $1")
            .bind(email)
            .execute(c)
            .await?
            .rows_affected();
        Ok(lifted > 0)
    }
}
