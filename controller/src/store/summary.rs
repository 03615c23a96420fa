//! Fleet-wide figures for the panel's dashboard and its live updates: a few grouped queries
//! per snapshot, whatever the number of servers and clients.

use std::collections::HashMap;

use serde::Serialize;

use super::traffic::HOUR_MS;
use super::{Result, Store};

/// What one server carried, through its inbounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerUsage {
    /// Since the inbounds' last traffic reset.
    pub up: i64,
    pub down: i64,
    /// Up and down together since the inbounds were created.
    pub all_time: i64,
    /// Since 00:00 UTC.
    pub today_up: i64,
    pub today_down: i64,
    pub inbounds: i64,
}

/// Counts and usage across the fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetSummary {
    pub inbounds: i64,
    pub clients: i64,
    /// Clients with traffic within the online window.
    pub clients_online: i64,
    /// Emails of online clients, at most [`ONLINE_LIST_MAX`], sorted.
    pub online: Vec<String>,
    pub per_server: HashMap<i64, ServerUsage>,
}

/// The dashboard lists at most this many online clients by name.
pub const ONLINE_LIST_MAX: usize = 200;

const DAY_MS: i64 = 24 * HOUR_MS;

impl Store {
    /// The figures at `now_ms`; a client is online when its last traffic is newer than
    /// `online_since_ms`.
    pub async fn fleet_summary(&self, now_ms: i64, online_since_ms: i64) -> Result<FleetSummary> {
        let mut per_server: HashMap<i64, ServerUsage> = HashMap::new();
        let usage: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT server_id, CAST(SUM(up) AS BIGINT), CAST(SUM(down) AS BIGINT), \
             CAST(SUM(all_time) AS BIGINT) FROM inbound_traffic GROUP BY server_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for (server, up, down, all_time) in usage {
            let s = per_server.entry(server).or_default();
            (s.up, s.down, s.all_time) = (up, down, all_time);
        }
        let today: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT server_id, CAST(SUM(up) AS BIGINT), CAST(SUM(down) AS BIGINT) \
             FROM server_traffic_hourly WHERE hour_ms >= $1 GROUP BY server_id",
        )
        .bind(now_ms - now_ms.rem_euclid(DAY_MS))
        .fetch_all(&self.pool)
        .await?;
        for (server, up, down) in today {
            let s = per_server.entry(server).or_default();
            (s.today_up, s.today_down) = (up, down);
        }
        let counts: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT server_id, CAST(COUNT(*) AS BIGINT) FROM inbounds GROUP BY server_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut inbounds = 0;
        for (server, n) in counts {
            per_server.entry(server).or_default().inbounds = n;
            inbounds += n;
        }
        let (clients,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM clients")
            .fetch_one(&self.pool)
            .await?;
        let online: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT email FROM client_traffic WHERE last_online > $1 ORDER BY email",
        )
        .bind(online_since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(FleetSummary {
            inbounds,
            clients,
            clients_online: online.len() as i64,
            online: online
                .into_iter()
                .take(ONLINE_LIST_MAX)
                .map(|(e,)| e)
                .collect(),
            per_server,
        })
    }
}

impl Store {
    /// Clients with traffic newer than `online_since_ms`, counted per server.
    pub async fn clients_online_per_server(
        &self,
        online_since_ms: i64,
    ) -> Result<HashMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT server_id, CAST(COUNT(DISTINCT email) AS BIGINT) FROM client_traffic \
             WHERE last_online > $1 GROUP BY server_id",
        )
        .bind(online_since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// `(email, server id)` of every client with traffic newer than `online_since_ms`, by
    /// email.
    pub async fn online_clients(&self, online_since_ms: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT email, server_id FROM client_traffic WHERE last_online > $1 \
             ORDER BY email, server_id",
        )
        .bind(online_since_ms)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::test_stores;
    use super::super::{NewClient, NewInbound, NewServer};
    use super::*;

    async fn exec(s: &Store, sql: &str) {
        sqlx::query(sql).execute(s.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn summary_adds_up_servers_today_and_online_clients() {
        let now = 10 * DAY_MS + 5 * HOUR_MS;
        for t in test_stores().await {
            let s = &t.store;
            let empty = s.fleet_summary(now, now - 1000).await.unwrap();
            assert_eq!(empty, FleetSummary::default(), "{}", t.label);
            let server = s
                .create_server(&NewServer {
                    name: "ams-1".into(),
                    region: String::new(),
                    tags: vec![],
                    notes: String::new(),
                    public_address: String::new(),
                })
                .await
                .unwrap();
            for port in [1000u16, 1001] {
                s.create_inbound(&NewInbound {
                    server_id: server.id,
                    remark: String::new(),
                    enable: true,
                    listen: String::new(),
                    port,
                    protocol: "vless".into(),
                    settings: json!({}),
                    stream_settings: json!({}),
                    sniffing: json!({}),
                    tag: format!("inbound-{port}"),
                    total: 0,
                    expiry_time: 0,
                    traffic_reset: "never".into(),
                })
                .await
                .unwrap();
            }
            for email in ["bob", "alice", "carol"] {
                s.create_client(&NewClient {
                    email: email.into(),
                    sub_id: email.into(),
                    uuid: uuid::Uuid::new_v4().to_string(),
                    password: String::new(),
                    auth: String::new(),
                    flow: String::new(),
                    limit_ip: 0,
                    total_bytes: 0,
                    expiry_time: 0,
                    enable: true,
                    tg_id: 0,
                    comment: String::new(),
                    reset_days: 0,
                    security: String::new(),
                })
                .await
                .unwrap();
            }
            let id = server.id;
            exec(s, &format!("INSERT INTO inbound_traffic (server_id, tag, up, down, all_time) VALUES ({id}, 'inbound-1000', 10, 20, 300), ({id}, 'inbound-1001', 1, 2, 3)")).await;
            // Yesterday's last hour does not count for today.
            let (yesterday, today) = (10 * DAY_MS - HOUR_MS, 10 * DAY_MS + HOUR_MS);
            exec(s, &format!("INSERT INTO server_traffic_hourly (server_id, hour_ms, up, down) VALUES ({id}, {yesterday}, 1000, 1000), ({id}, {today}, 5, 7)")).await;
            exec(s, &format!("INSERT INTO client_traffic (server_id, email, up, down, last_online, all_time) VALUES ({id}, 'bob', 1, 1, {}, 2), ({id}, 'alice', 1, 1, {}, 2), ({id}, 'carol', 1, 1, 5, 2)", now - 10, now - 20)).await;

            let sum = s.fleet_summary(now, now - 60_000).await.unwrap();
            assert_eq!(
                (sum.inbounds, sum.clients, sum.clients_online),
                (2, 3, 2),
                "{}",
                t.label
            );
            assert_eq!(
                sum.online,
                vec!["alice".to_string(), "bob".into()],
                "{}",
                t.label
            );
            assert_eq!(
                sum.per_server[&id],
                ServerUsage {
                    up: 11,
                    down: 22,
                    all_time: 303,
                    today_up: 5,
                    today_down: 7,
                    inbounds: 2,
                },
                "{}",
                t.label
            );
        }
    }
}
