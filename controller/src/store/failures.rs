//! What agents say their cores cannot run: inbounds left out of the core (`inbound_failures`,
//! replaced whole by each report), the last refused state of a server, and the sockets other
//! programs hold on its host, which new inbounds are checked against.

use serde::Serialize;
use xfleet_common::methods::ListeningSocket;
use xfleet_common::state::InboundFailure;
use xfleet_common::time::now_ms;

use super::{Result, Store};

/// One inbound a server's core runs without.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InboundFailureRow {
    pub server_id: i64,
    pub tag: String,
    /// The core's own words.
    pub message: String,
    /// The state revision the agent reported it with.
    pub revision: i64,
    pub failed_at: i64,
    /// The inbound with this tag, if the server still has one.
    pub inbound_id: Option<i64>,
    pub remark: Option<String>,
}

impl Store {
    /// Makes `failed` the server's whole list of failed inbounds. An inbound that failed
    /// before keeps the time it first failed.
    pub async fn record_inbound_failures(
        &self,
        server_id: i64,
        revision: i64,
        failed: &[InboundFailure],
    ) -> Result<()> {
        let now = now_ms();
        // Reads before it writes: on SQLite a deferred transaction would fail here whenever
        // another acknowledgement committed in between.
        let mut write = self.begin_write().await?;
        let before: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT tag, message, failed_at FROM inbound_failures WHERE server_id = $1",
        )
        .bind(server_id)
        .fetch_all(&mut *write.tx)
        .await?;
        sqlx::query("DELETE FROM inbound_failures WHERE server_id = $1")
            .bind(server_id)
            .execute(&mut *write.tx)
            .await?;
        for f in failed {
            let since = before
                .iter()
                .find(|(tag, message, _)| *tag == f.tag && *message == f.message)
                .map_or(now, |(_, _, at)| *at);
            sqlx::query(
                "INSERT INTO inbound_failures (server_id, tag, message, revision, failed_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(server_id)
            .bind(&f.tag)
            .bind(&f.message)
            .bind(revision)
            .bind(since)
            .execute(&mut *write.tx)
            .await?;
        }
        write.tx.commit().await?;
        Ok(())
    }

    /// Failed inbounds of one server, or of every server, by server and tag.
    pub async fn inbound_failures(&self, server_id: Option<i64>) -> Result<Vec<InboundFailureRow>> {
        const SELECT: &str = "SELECT f.server_id, f.tag, f.message, f.revision, f.failed_at, \
            i.id AS inbound_id, i.remark FROM inbound_failures f \
            LEFT JOIN inbounds i ON i.server_id = f.server_id AND i.tag = f.tag";
        Ok(match server_id {
            Some(id) => {
                sqlx::query_as(&format!("{SELECT} WHERE f.server_id = $1 ORDER BY f.tag"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as(&format!("{SELECT} ORDER BY f.server_id, f.tag"))
                    .fetch_all(&self.pool)
                    .await?
            }
        })
    }

    /// Why the agent refused the server's last state, or `None` when one applied.
    pub async fn set_apply_error(&self, server_id: i64, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE servers SET apply_error = $1 WHERE id = $2")
            .bind(error)
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The sockets other programs listen on at the server's host, as its agent reported them.
    pub async fn set_listening(&self, server_id: i64, listening: &[ListeningSocket]) -> Result<()> {
        let json = serde_json::to_string(listening).expect("sockets serialize");
        sqlx::query("UPDATE servers SET listening = $1 WHERE id = $2")
            .bind(json)
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::test_stores;
    use super::super::NewServer;
    use super::*;

    #[tokio::test]
    async fn each_report_replaces_the_list_and_a_lasting_failure_keeps_its_time() {
        for t in test_stores().await {
            let s = &t.store;
            let server = s
                .create_server(&NewServer {
                    name: "vpn-1".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let bind = |tag: &str| InboundFailure {
                tag: tag.into(),
                message: "bind: address already in use".into(),
            };
            s.record_inbound_failures(server.id, 3, &[bind("a"), bind("b")])
                .await
                .unwrap();
            let first = s.inbound_failures(Some(server.id)).await.unwrap();
            assert_eq!(first.len(), 2, "{}", t.label);
            s.record_inbound_failures(server.id, 4, &[bind("b")])
                .await
                .unwrap();
            let second = s.inbound_failures(None).await.unwrap();
            assert_eq!(second.len(), 1, "{}", t.label);
            assert_eq!(
                (
                    second[0].tag.as_str(),
                    second[0].revision,
                    second[0].failed_at
                ),
                ("b", 4, first[1].failed_at),
                "{}",
                t.label
            );
            s.set_apply_error(server.id, Some("core template: bad"))
                .await
                .unwrap();
            let listening = [ListeningSocket {
                protocol: "tcp".into(),
                address: "127.0.0.1".into(),
                port: 2053,
            }];
            s.set_listening(server.id, &listening).await.unwrap();
            let row = s.server(server.id).await.unwrap();
            assert_eq!(row.apply_error.as_deref(), Some("core template: bad"));
            assert_eq!(row.listening(), listening);
            s.delete_server(server.id).await.unwrap();
            assert!(s.inbound_failures(None).await.unwrap().is_empty());
        }
    }

    /// Acknowledgements from many servers at once are all recorded: on SQLite none of them
    /// fails with the database locked because another committed while it was reading.
    #[tokio::test]
    async fn concurrent_reports_from_many_servers_all_succeed() {
        for t in test_stores().await {
            let s = &t.store;
            let mut servers = Vec::new();
            for n in 0..50 {
                let new = NewServer {
                    name: format!("vpn-{n}"),
                    ..Default::default()
                };
                servers.push(s.create_server(&new).await.unwrap().id);
            }
            let failure = [InboundFailure {
                tag: "a".into(),
                message: "bind: address already in use".into(),
            }];
            for revision in 1..=5 {
                let reports = servers
                    .iter()
                    .map(|id| s.record_inbound_failures(*id, revision, &failure));
                for result in futures_util::future::join_all(reports).await {
                    result.unwrap_or_else(|e| panic!("{}: {e}", t.label));
                }
            }
            let all = s.inbound_failures(None).await.unwrap();
            assert_eq!(all.len(), servers.len(), "{}", t.label);
            assert!(all.iter().all(|f| f.revision == 5), "{}", t.label);
        }
    }
}
