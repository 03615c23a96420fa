//! The clients list as one statement: filtered, sorted and counted in SQL, so a page of a
//! fleet with 100,000 clients reads a page, not the whole table. Usage (summed over the
//! servers) is joined only when the sort or the state needs it; the front ends read the
//! page's own usage afterwards (`clients_usage`).

use super::fleet::{ClientRow, CLIENT_COLUMNS};
use super::{Backend, Result, Store};

/// What the list can be sorted by: every column it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSort {
    Id,
    Email,
    Comment,
    Enable,
    Up,
    Down,
    Used,
    AllTime,
    Total,
    Expiry,
    LastOnline,
    Inbounds,
    Servers,
}

impl ClientSort {
    /// The names the API takes, each with its key.
    pub const NAMES: [(&'static str, ClientSort); 13] = [
        ("id", ClientSort::Id),
        ("email", ClientSort::Email),
        ("comment", ClientSort::Comment),
        ("enable", ClientSort::Enable),
        ("up", ClientSort::Up),
        ("down", ClientSort::Down),
        ("used", ClientSort::Used),
        ("allTime", ClientSort::AllTime),
        ("total", ClientSort::Total),
        ("expiry", ClientSort::Expiry),
        ("lastOnline", ClientSort::LastOnline),
        ("inbounds", ClientSort::Inbounds),
        ("servers", ClientSort::Servers),
    ];

    /// A key by its name; `remark` and `enabled` are also taken (3x-ui's words).
    pub fn parse(name: &str) -> Option<Self> {
        let name = match name {
            "remark" => "comment",
            "enabled" => "enable",
            other => other,
        };
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    fn needs_usage(self) -> bool {
        matches!(
            self,
            Self::Up | Self::Down | Self::Used | Self::AllTime | Self::LastOnline
        )
    }

    /// The SQL the rows are ordered by. Text in byte order on both backends.
    fn expression(self, backend: Backend) -> &'static str {
        let bytes = backend == Backend::Postgres;
        match self {
            Self::Id => "c.id",
            Self::Email if bytes => "c.email COLLATE \"C\"",
            Self::Email => "c.email",
            Self::Comment if bytes => "c.comment COLLATE \"C\"",
            Self::Comment => "c.comment",
            Self::Enable => "c.enable",
            Self::Up => "COALESCE(u.up, 0)",
            Self::Down => "COALESCE(u.down, 0)",
            Self::Used => "COALESCE(u.used, 0)",
            Self::AllTime => "COALESCE(u.all_time, 0)",
            Self::Total => "c.total_bytes",
            Self::Expiry => "c.expiry_time",
            Self::LastOnline => "COALESCE(u.last_online, 0)",
            Self::Inbounds => "(SELECT COUNT(*) FROM client_inbounds a WHERE a.client_id = c.id)",
            Self::Servers => {
                "(SELECT COUNT(DISTINCT i.server_id) FROM client_inbounds a \
                 JOIN inbounds i ON i.id = a.inbound_id WHERE a.client_id = c.id)"
            }
        }
    }
}

/// The states the list filters by, as the panel's badges name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Traffic seen on any server since [`ClientQuery::online_since`].
    Online,
    /// Over its quota, or expired.
    Depleted,
    /// Neither, but within [`ClientQuery::expiring_ms`] of its expiry or
    /// [`ClientQuery::running_out_bytes`] of its quota.
    Expiring,
    Disabled,
    Enabled,
}

impl ClientState {
    pub const NAMES: [(&'static str, ClientState); 5] = [
        ("online", ClientState::Online),
        ("depleted", ClientState::Depleted),
        ("expiring", ClientState::Expiring),
        ("disabled", ClientState::Disabled),
        ("enabled", ClientState::Enabled),
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }

    fn needs_usage(self) -> bool {
        matches!(self, Self::Depleted | Self::Expiring)
    }
}

/// Which clients, in which order, which of them.
#[derive(Debug, Clone)]
pub struct ClientQuery {
    /// Part of the email, comment or subscription id, ASCII letters in any case (others
    /// as written), or the whole Telegram id.
    pub search: String,
    pub inbound: Option<i64>,
    pub server: Option<i64>,
    pub state: Option<ClientState>,
    pub sort: ClientSort,
    pub descending: bool,
    /// `(offset, limit)`; `None`: every match.
    pub window: Option<(i64, i64)>,
    /// The time the states are judged at (ms).
    pub now: i64,
    pub online_since: i64,
    pub expiring_ms: i64,
    /// 0: no client is "expiring" by its quota.
    pub running_out_bytes: i64,
}

/// Usage per email summed over the servers, `used` = up + down.
const USAGE: &str = "LEFT JOIN (SELECT email, CAST(SUM(up) AS BIGINT) AS up, \
    CAST(SUM(down) AS BIGINT) AS down, CAST(SUM(up + down) AS BIGINT) AS used, \
    CAST(SUM(all_time) AS BIGINT) AS all_time, CAST(MAX(last_online) AS BIGINT) AS last_online \
    FROM client_traffic GROUP BY email) u ON u.email = c.email";

/// A row of the list, and how many rows match (when the page counted them).
#[derive(sqlx::FromRow)]
struct Counted {
    #[sqlx(flatten)]
    client: ClientRow,
    matching: i64,
}

enum Value {
    Int(i64),
    Text(String),
}

/// The `WHERE` clause of a query and its values, bound `$1…` in order.
struct Filter {
    sql: String,
    values: Vec<Value>,
}

impl Filter {
    fn bind(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }

    fn of(q: &ClientQuery, backend: Backend) -> Self {
        let mut f = Filter {
            sql: String::new(),
            values: Vec::new(),
        };
        let mut parts: Vec<String> = Vec::new();
        let search = q.search.trim();
        if !search.is_empty() {
            let escaped = search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = f.bind(Value::Text(format!("%{escaped}%")));
            // Letters in any case, ASCII only, on both: SQLite's LIKE ignores the case of
            // ASCII letters; PostgreSQL's lower() under the C collation folds only those.
            let any_case = |col: &str| match backend {
                Backend::Sqlite => format!("{col} LIKE {p} ESCAPE '\\'"),
                Backend::Postgres => {
                    format!("LOWER({col} COLLATE \"C\") LIKE LOWER({p} COLLATE \"C\") ESCAPE '\\'")
                }
            };
            let mut any: Vec<String> = ["c.email", "c.comment", "c.sub_id"]
                .iter()
                .map(|col| any_case(col))
                .collect();
            if let Ok(tg) = search.parse::<i64>() {
                let p = f.bind(Value::Int(tg));
                any.push(format!("c.tg_id = {p}"));
            }
            parts.push(format!("({})", any.join(" OR ")));
        }
        if let Some(inbound) = q.inbound {
            let p = f.bind(Value::Int(inbound));
            parts.push(format!(
                "c.id IN (SELECT client_id FROM client_inbounds WHERE inbound_id = {p})"
            ));
        }
        if let Some(server) = q.server {
            let p = f.bind(Value::Int(server));
            parts.push(format!(
                "c.id IN (SELECT a.client_id FROM client_inbounds a \
                 JOIN inbounds i ON i.id = a.inbound_id WHERE i.server_id = {p})"
            ));
        }
        match q.state {
            None => {}
            Some(ClientState::Disabled) => parts.push("c.enable = 0".into()),
            Some(ClientState::Enabled) => parts.push("c.enable <> 0".into()),
            Some(ClientState::Online) => {
                let p = f.bind(Value::Int(q.online_since));
                parts.push(format!(
                    "c.email IN (SELECT email FROM client_traffic WHERE last_online > {p})"
                ));
            }
            Some(ClientState::Depleted) => {
                let now = f.bind(Value::Int(q.now));
                parts.push(format!(
                    "((c.total_bytes > 0 AND COALESCE(u.used, 0) >= c.total_bytes) \
                     OR (c.expiry_time > 0 AND c.expiry_time <= {now}))"
                ));
            }
            Some(ClientState::Expiring) => {
                let now = f.bind(Value::Int(q.now));
                let until = f.bind(Value::Int(q.now.saturating_add(q.expiring_ms)));
                let bytes = f.bind(Value::Int(q.running_out_bytes));
                parts.push(format!(
                    "((c.expiry_time > {now} AND c.expiry_time <= {until}) \
                     OR ({bytes} > 0 AND c.total_bytes > 0 \
                     AND c.total_bytes - COALESCE(u.used, 0) > 0 \
                     AND c.total_bytes - COALESCE(u.used, 0) <= {bytes}))"
                ));
            }
        }
        if !parts.is_empty() {
            f.sql = format!("WHERE {}", parts.join(" AND "));
        }
        f
    }
}

macro_rules! bind_all {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for v in $values {
            query = match v {
                Value::Int(i) => query.bind(*i),
                Value::Text(s) => query.bind(s.as_str()),
            };
        }
        query
    }};
}

impl Store {
    /// The clients `q` asks for, in its order and window, and how many match in all.
    pub async fn client_list(&self, q: &ClientQuery) -> Result<(Vec<ClientRow>, i64)> {
        let usage_in_filter = q.state.is_some_and(ClientState::needs_usage);
        let mut filter = Filter::of(q, self.backend);
        let count_sql = format!(
            "SELECT COUNT(*) FROM clients c {} {}",
            if usage_in_filter { USAGE } else { "" },
            filter.sql
        );
        // A search reads every row: its page counts the matches in the same pass.
        let count_in_page = !q.search.trim().is_empty() && q.window.is_some();
        let counted = if count_in_page {
            None
        } else {
            let (total,): (i64,) = bind_all!(sqlx::query_as(&count_sql), &filter.values)
                .fetch_one(&self.pool)
                .await?;
            Some(total)
        };
        let join = if usage_in_filter || q.sort.needs_usage() {
            USAGE
        } else {
            ""
        };
        let direction = if q.descending { "DESC" } else { "ASC" };
        let filter_values = filter.values.len();
        let window = match q.window {
            Some((offset, limit)) => {
                let limit = filter.bind(Value::Int(limit));
                let offset = filter.bind(Value::Int(offset));
                format!("LIMIT {limit} OFFSET {offset}")
            }
            None => String::new(),
        };
        let columns = CLIENT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, {} AS matching FROM clients c {join} {} \
             ORDER BY {} {direction}, c.id {direction} {window}",
            if count_in_page {
                "COUNT(*) OVER ()"
            } else {
                "CAST(0 AS BIGINT)"
            },
            filter.sql,
            q.sort.expression(self.backend),
        );
        let rows: Vec<Counted> = bind_all!(sqlx::query_as(&sql), &filter.values)
            .fetch_all(&self.pool)
            .await?;
        let total = match (counted, rows.first()) {
            (Some(total), _) => total,
            (None, Some(row)) => row.matching,
            // A page past the end says nothing of how many there are.
            (None, None) if q.window.is_some_and(|(offset, _)| offset > 0) => {
                let count = bind_all!(sqlx::query_as(&count_sql), &filter.values[..filter_values]);
                let (total,): (i64,) = count.fetch_one(&self.pool).await?;
                total
            }
            (None, None) => 0,
        };
        Ok((rows.into_iter().map(|r| r.client).collect(), total))
    }

    /// The attachments of the given clients, as (client id, inbound id) pairs.
    pub async fn attachments_of(&self, clients: &[i64]) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        for chunk in clients.chunks(super::bulk::ROWS_PER_STATEMENT) {
            let list = (1..=chunk.len())
                .map(|n| super::bulk::placeholder(self.backend, n))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT client_id, inbound_id FROM client_inbounds WHERE client_id IN ({list}) \
                 ORDER BY inbound_id"
            );
            let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            out.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }
}
