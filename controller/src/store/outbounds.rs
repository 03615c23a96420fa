//! Outbound traffic as recorded from agents' batches (`outbound_traffic`, written by
//! `traffic`): read per server or across the fleet, and zeroed on request.

use serde::Serialize;

use super::{Result, Store};

/// What one outbound of one server has carried since its last reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboundCounter {
    pub server_id: i64,
    pub tag: String,
    pub up: i64,
    pub down: i64,
}

impl Store {
    /// The outbound counters of one server, or of every server, by server and tag.
    pub async fn outbound_traffic(&self, server_id: Option<i64>) -> Result<Vec<OutboundCounter>> {
        let rows = match server_id {
            Some(id) => {
                sqlx::query_as(
                    "SELECT server_id, tag, up, down FROM outbound_traffic \
                     WHERE server_id = $1 ORDER BY tag",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT server_id, tag, up, down FROM outbound_traffic \
                     ORDER BY server_id, tag",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// Zeroes outbound counters: of one server or all, of one tag or all. The rows stay, so
    /// the tags remain the server's (its traffic scope) and later batches count from zero.
    /// Returns how many counters were zeroed.
    pub async fn reset_outbound_traffic(
        &self,
        server_id: Option<i64>,
        tag: Option<&str>,
    ) -> Result<u64> {
        let mut conditions = vec!["1 = 1".to_owned()];
        if server_id.is_some() {
            conditions.push(format!("server_id = ${}", conditions.len()));
        }
        if tag.is_some() {
            conditions.push(format!("tag = ${}", conditions.len()));
        }
        let sql = format!(
            "UPDATE outbound_traffic SET up = 0, down = 0 WHERE {}",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(&sql);
        if let Some(id) = server_id {
            query = query.bind(id);
        }
        if let Some(tag) = tag {
            query = query.bind(tag);
        }
        let mut write = self.begin_write().await?;
        let reset = query.execute(&mut *write.tx).await?.rows_affected();
        write.tx.commit().await?;
        Ok(reset)
    }
}
