//! Reading a 3x-ui database. GORM adds columns and never drops them, so the columns present
//! vary with the release that last ran; each query is built from what `PRAGMA table_info`
//! reports, with 3x-ui's defaults for missing columns, and casts that survive odd values.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::ImportError;

/// An open x-ui.db and the columns of its tables.
pub struct Source {
    conn: SqliteConnection,
    tables: HashMap<String, HashSet<String>>,
}

#[derive(Debug, Clone)]
pub struct XuiInbound {
    pub id: i64,
    pub up: i64,
    pub down: i64,
    pub total: i64,
    pub all_time: i64,
    pub remark: String,
    pub enable: bool,
    pub expiry_time: i64,
    pub traffic_reset: String,
    pub last_traffic_reset_time: i64,
    pub listen: String,
    pub port: i64,
    pub protocol: String,
    pub settings: String,
    pub stream_settings: String,
    pub tag: String,
    pub sniffing: String,
    /// v3: set when the inbound lives on another node of a multi-node panel.
    pub node_id: Option<i64>,
}

/// A `client_traffics` row: the counters and 3x-ui's own enable flag (false once depleted).
#[derive(Debug, Clone)]
pub struct XuiTraffic {
    pub enable: bool,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    pub last_online: i64,
}

/// An `outbound_traffics` row: what 3x-ui counted on one outbound tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XuiOutbound {
    pub tag: String,
    pub up: i64,
    pub down: i64,
}

/// A v3 `clients` row, in the JSON shape of `settings.clients[]`.
#[derive(Debug, Clone)]
pub struct XuiClientRow {
    pub id: i64,
    pub json: serde_json::Value,
}

impl Source {
    /// Opens a database file read-only; it is never changed.
    pub async fn open(path: &Path) -> Result<Self, ImportError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(true)
            .disable_statement_logging();
        let mut conn = options.connect().await.map_err(unreadable)?;
        let (check,): (String,) = sqlx::query_as("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await
            .map_err(unreadable)?;
        if check != "ok" {
            return Err(ImportError::Unreadable(format!(
                "the database is damaged ({check})"
            )));
        }
        let names: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .map_err(unreadable)?;
        let mut tables = HashMap::new();
        for (name,) in names {
            let columns: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info($1)")
                .bind(&name)
                .fetch_all(&mut conn)
                .await
                .map_err(unreadable)?;
            tables.insert(name, columns.into_iter().map(|c| c.0).collect());
        }
        if !tables.contains_key("inbounds") {
            return Err(ImportError::NotXui);
        }
        Ok(Self { conn, tables })
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    fn has(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|c| c.contains(column))
    }

    /// v3.1+ keeps clients as rows of their own.
    pub fn has_client_table(&self) -> bool {
        self.has("clients", "email") && self.has("client_inbounds", "client_id")
    }

    /// `col` as an integer, or `default` when the column is missing or NULL.
    fn int(&self, table: &str, col: &str, default: i64) -> String {
        if self.has(table, col) {
            format!("CAST(COALESCE(\"{col}\", {default}) AS INTEGER) AS \"{col}\"")
        } else {
            format!("{default} AS \"{col}\"")
        }
    }

    fn text(&self, table: &str, col: &str, default: &str) -> String {
        if self.has(table, col) {
            format!("COALESCE(CAST(\"{col}\" AS TEXT), '{default}') AS \"{col}\"")
        } else {
            format!("'{default}' AS \"{col}\"")
        }
    }

    /// GORM stores booleans as 0/1; older tools wrote `true`/`false`.
    fn flag(&self, table: &str, col: &str, default: bool) -> String {
        let d = i64::from(default);
        if self.has(table, col) {
            format!(
                "CASE WHEN \"{col}\" IS NULL THEN {d} \
                 WHEN typeof(\"{col}\") IN ('integer', 'real') THEN (\"{col}\" <> 0) \
                 WHEN lower(trim(\"{col}\")) IN ('1', 'true', 't', 'yes', 'on') THEN 1 \
                 ELSE 0 END AS \"{col}\""
            )
        } else {
            format!("{d} AS \"{col}\"")
        }
    }

    pub async fn inbounds(&mut self) -> Result<Vec<XuiInbound>, ImportError> {
        let t = "inbounds";
        let node = if self.has(t, "node_id") {
            "CAST(\"node_id\" AS INTEGER) AS \"node_id\"".to_owned()
        } else {
            "NULL AS \"node_id\"".to_owned()
        };
        let sql = format!(
            "SELECT \"id\", {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {node} \
             FROM \"inbounds\" ORDER BY \"id\"",
            self.int(t, "up", 0),
            self.int(t, "down", 0),
            self.int(t, "total", 0),
            self.int(t, "all_time", 0),
            self.text(t, "remark", ""),
            self.flag(t, "enable", true),
            self.int(t, "expiry_time", 0),
            self.text(t, "traffic_reset", "never"),
            self.int(t, "last_traffic_reset_time", 0),
            self.text(t, "listen", ""),
            self.int(t, "port", 0),
            self.text(t, "protocol", ""),
            self.text(t, "settings", ""),
            self.text(t, "stream_settings", ""),
            self.text(t, "tag", ""),
            self.text(t, "sniffing", ""),
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(XuiInbound {
                id: get(&r, "id")?,
                up: get(&r, "up")?,
                down: get(&r, "down")?,
                total: get(&r, "total")?,
                all_time: get(&r, "all_time")?,
                remark: get(&r, "remark")?,
                enable: get::<i64>(&r, "enable")? != 0,
                expiry_time: get(&r, "expiry_time")?,
                traffic_reset: get(&r, "traffic_reset")?,
                last_traffic_reset_time: get(&r, "last_traffic_reset_time")?,
                listen: get(&r, "listen")?,
                port: get(&r, "port")?,
                protocol: get(&r, "protocol")?,
                settings: get(&r, "settings")?,
                stream_settings: get(&r, "stream_settings")?,
                tag: get(&r, "tag")?,
                sniffing: get(&r, "sniffing")?,
                node_id: get(&r, "node_id")?,
            });
        }
        Ok(out)
    }

    /// `client_traffics` by email.
    pub async fn traffic(&mut self) -> Result<HashMap<String, XuiTraffic>, ImportError> {
        let t = "client_traffics";
        if !self.has_table(t) {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {} FROM \"client_traffics\" ORDER BY \"id\"",
            self.text(t, "email", ""),
            self.flag(t, "enable", true),
            self.int(t, "up", 0),
            self.int(t, "down", 0),
            self.int(t, "all_time", 0),
            self.int(t, "last_online", 0),
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)?;
        let mut out = HashMap::new();
        for r in rows {
            out.insert(
                get::<String>(&r, "email")?,
                XuiTraffic {
                    enable: get::<i64>(&r, "enable")? != 0,
                    up: get(&r, "up")?,
                    down: get(&r, "down")?,
                    all_time: get(&r, "all_time")?,
                    last_online: get(&r, "last_online")?,
                },
            );
        }
        Ok(out)
    }

    /// `outbound_traffics` (v2 and v3), rows without a tag left out.
    pub async fn outbound_traffic(&mut self) -> Result<Vec<XuiOutbound>, ImportError> {
        let t = "outbound_traffics";
        if !self.has_table(t) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {}, {}, {} FROM \"outbound_traffics\" ORDER BY \"id\"",
            self.text(t, "tag", ""),
            self.int(t, "up", 0),
            self.int(t, "down", 0),
        );
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)?;
        Ok(rows
            .into_iter()
            .filter(|(tag, _, _)| !tag.trim().is_empty())
            .map(|(tag, up, down)| XuiOutbound {
                tag,
                up: up.max(0),
                down: down.max(0),
            })
            .collect())
    }

    /// `inbound_client_ips`: email → the raw JSON of its address list.
    pub async fn client_ips(&mut self) -> Result<Vec<(String, String)>, ImportError> {
        let t = "inbound_client_ips";
        if !self.has_table(t) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {}, {} FROM \"inbound_client_ips\" ORDER BY \"id\"",
            self.text(t, "client_email", ""),
            self.text(t, "ips", ""),
        );
        sqlx::query_as(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)
    }

    /// `settings` in row order; a key stored twice keeps its last value, as 3x-ui reads it.
    pub async fn settings(&mut self) -> Result<Vec<(String, String)>, ImportError> {
        let t = "settings";
        if !self.has_table(t) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {}, {} FROM \"settings\" ORDER BY \"id\"",
            self.text(t, "key", ""),
            self.text(t, "value", ""),
        );
        let rows: Vec<(String, String)> = sqlx::query_as(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)?;
        let mut out: Vec<(String, String)> = Vec::new();
        for (key, value) in rows {
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => out.push((key, value)),
            }
        }
        Ok(out)
    }

    /// The first panel account: username and stored password (a bcrypt hash, or plain text
    /// in databases older than 3x-ui's `UserPasswordHash` seeder).
    pub async fn admin(&mut self) -> Result<Option<(String, String)>, ImportError> {
        let t = "users";
        if !self.has_table(t) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {}, {} FROM \"users\" ORDER BY \"id\" LIMIT 1",
            self.text(t, "username", ""),
            self.text(t, "password", ""),
        );
        sqlx::query_as(&sql)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(unreadable)
    }

    /// v3 `clients` rows, turned into the JSON shape 3x-ui uses inside `settings.clients[]`.
    pub async fn client_rows(&mut self) -> Result<Vec<XuiClientRow>, ImportError> {
        let t = "clients";
        let text_cols = [
            ("email", "email"),
            ("uuid", "id"),
            ("password", "password"),
            ("auth", "auth"),
            ("flow", "flow"),
            ("security", "security"),
            ("sub_id", "subId"),
            ("comment", "comment"),
            ("tg_id", "tgId"),
        ];
        let int_cols = [
            ("limit_ip", "limitIp"),
            ("total_gb", "totalGB"),
            ("expiry_time", "expiryTime"),
            ("reset", "reset"),
        ];
        let mut select = vec!["\"id\"".to_owned(), self.flag(t, "enable", true)];
        select.extend(text_cols.iter().map(|(c, _)| self.text(t, c, "")));
        select.extend(int_cols.iter().map(|(c, _)| self.int(t, c, 0)));
        let sql = format!(
            "SELECT {} FROM \"clients\" ORDER BY \"id\"",
            select.join(", ")
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(unreadable)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut json = serde_json::Map::new();
            json.insert("enable".into(), (get::<i64>(&r, "enable")? != 0).into());
            for (col, key) in text_cols {
                let v: String = get(&r, col)?;
                if !v.is_empty() {
                    json.insert(key.into(), v.into());
                }
            }
            for (col, key) in int_cols {
                json.insert(key.into(), get::<i64>(&r, col)?.into());
            }
            out.push(XuiClientRow {
                id: get(&r, "id")?,
                json: json.into(),
            });
        }
        Ok(out)
    }

    /// v3 `client_inbounds`: (client id, inbound id) pairs.
    pub async fn client_inbounds(&mut self) -> Result<Vec<(i64, i64)>, ImportError> {
        sqlx::query_as(
            "SELECT CAST(\"client_id\" AS INTEGER), CAST(\"inbound_id\" AS INTEGER) \
             FROM \"client_inbounds\" ORDER BY 2, 1",
        )
        .fetch_all(&mut self.conn)
        .await
        .map_err(unreadable)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// A column of a source row; a value of an unexpected type makes the file unreadable.
fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, ImportError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column).map_err(unreadable)
}

fn unreadable(e: sqlx::Error) -> ImportError {
    ImportError::Unreadable(e.to_string())
}

/// Everything an import needs from the database, read in one go.
pub struct Snapshot {
    /// Clients come from a `clients` table (v3.1+) instead of the inbounds' JSON.
    pub v3: bool,
    pub inbounds: Vec<XuiInbound>,
    /// v3: inbound id → the JSON of the clients attached to it.
    pub clients_of: HashMap<i64, Vec<serde_json::Value>>,
    /// v3: emails of clients attached to no inbound.
    pub unattached: Vec<String>,
    pub traffic: HashMap<String, XuiTraffic>,
    pub outbounds: Vec<XuiOutbound>,
    pub ips: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
    pub admin: Option<(String, String)>,
}

impl Snapshot {
    /// The core template (`xrayTemplateConfig`), unless absent or blank.
    pub fn template(&self) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == crate::fleet::desired::CORE_TEMPLATE)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub async fn read(source: &mut Source) -> Result<Self, ImportError> {
        let v3 = source.has_client_table();
        let mut clients_of: HashMap<i64, Vec<serde_json::Value>> = HashMap::new();
        let mut unattached = Vec::new();
        if v3 {
            let mut inbounds_of: HashMap<i64, Vec<i64>> = HashMap::new();
            for (client, inbound) in source.client_inbounds().await? {
                inbounds_of.entry(client).or_default().push(inbound);
            }
            for row in source.client_rows().await? {
                match inbounds_of.get(&row.id) {
                    Some(inbounds) => {
                        for inbound in inbounds {
                            clients_of
                                .entry(*inbound)
                                .or_default()
                                .push(row.json.clone());
                        }
                    }
                    None => {
                        let email = row.json["email"].as_str().unwrap_or_default();
                        unattached.push(email.to_owned());
                    }
                }
            }
        }
        Ok(Self {
            v3,
            inbounds: source.inbounds().await?,
            clients_of,
            unattached,
            traffic: source.traffic().await?,
            outbounds: source.outbound_traffic().await?,
            ips: source.client_ips().await?,
            settings: source.settings().await?,
            admin: source.admin().await?,
        })
    }
}
