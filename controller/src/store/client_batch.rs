//! One change to many clients in a few statements whatever their number: the reads and the
//! writes behind `POST /api/v1/clients/bulk` (the model, `crate::model::bulk`, checks first).

use std::collections::BTreeSet;

use sqlx::AnyConnection;
use xfleet_common::time::now_ms;

use super::bulk::{placeholder, Param, Rows, ROWS_PER_STATEMENT};
use super::fleet::{ClientRow, CLIENT_COLUMNS, EMAIL_TABLES};
use super::limits::reason;
use super::{Backend, Result, Store, StoreError};
use crate::i18n::Refusal;

/// What happens to every client of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientChange {
    /// The admin's word on `enable`, as `PUT /clients/{email}` with `enable` gives it.
    Enable(bool),
    /// Usage zeroed on every server (all-time stays) and the client on again.
    ResetTraffic,
    /// The expiry moves `by_ms` later: from its current value when it lies ahead, from
    /// `now` when the client has none or it has passed. A delayed start (negative: a
    /// duration counted from first use) stays delayed and its duration grows by `by_ms`.
    /// A client the limits job switched off for expiry is on again.
    Extend { by_ms: i64, now: i64 },
    /// Removed everywhere, with its traffic and address records unless `keep_traffic`.
    Delete { keep_traffic: bool },
}

impl Store {
    /// The clients with these emails, by id; an email no client has is left out.
    pub async fn clients_by_emails<S: AsRef<str> + Sync>(
        &self,
        emails: &[S],
    ) -> Result<Vec<ClientRow>> {
        let mut out = Vec::with_capacity(emails.len());
        for chunk in emails.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE email IN ({})",
                list(self.backend, 1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, ClientRow>(&sql);
            for email in chunk {
                query = query.bind(email.as_ref());
            }
            out.extend(query.fetch_all(&self.pool).await?);
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// The servers any of these clients is attached to (through any inbound).
    pub async fn servers_of_clients(&self, client_ids: &[i64]) -> Result<BTreeSet<i64>> {
        let mut out = BTreeSet::new();
        for chunk in client_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT DISTINCT i.server_id FROM client_inbounds a \
                 JOIN inbounds i ON i.id = a.inbound_id WHERE a.client_id IN ({})",
                list(self.backend, 1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (i64,)>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            out.extend(query.fetch_all(&self.pool).await?.into_iter().map(|r| r.0));
        }
        Ok(out)
    }
}

/// `$first, …` (or `?, …`) for `n` parameters.
fn list(backend: Backend, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|k| placeholder(backend, k))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `change` to every client in `rows` on `c`, which should be a transaction: a
/// client removed by someone else since `rows` were read is a conflict, and the caller's
/// transaction then ends without a commit, so nothing of the batch is kept.
pub async fn change_clients(
    c: &mut AnyConnection,
    backend: Backend,
    rows: &[ClientRow],
    change: ClientChange,
) -> Result<()> {
    let mut ids = Rows::values();
    let mut emails = Rows::values();
    for row in rows {
        ids.push(&[Param::Int(row.id)]);
        emails.push(&[Param::Text(&row.email)]);
    }
    let now = now_ms();
    let touched = match change {
        ClientChange::Enable(enable) => {
            let on = i64::from(enable);
            // As a single update: the reason of an automatic disable goes once the admin
            // has a word on `enable`, except when a disabled client is disabled again.
            let head = [Param::Int(on), Param::Int(now), Param::Int(on)];
            ids.execute(c, backend, &head, |h, list| {
                format!(
                    "UPDATE clients SET enable = {}, updated_at = {}, disabled_reason = \
                     CASE WHEN {} = 1 OR enable = 1 THEN '' ELSE disabled_reason END \
                     WHERE id IN ({list})",
                    h[0], h[1], h[2]
                )
            })
            .await?
        }
        ClientChange::ResetTraffic => {
            emails
                .execute(c, backend, &[], |_, list| {
                    format!("UPDATE client_traffic SET up = 0, down = 0 WHERE email IN ({list})")
                })
                .await?;
            ids.execute(c, backend, &[Param::Int(now)], |h, list| {
                format!(
                    "UPDATE clients SET updated_at = {}, \
                     disabled_reason = CASE WHEN enable = 0 THEN '' ELSE disabled_reason END, \
                     enable = 1 WHERE id IN ({list})",
                    h[0]
                )
            })
            .await?
        }
        ClientChange::Extend { by_ms, now: from } => {
            let head = [
                Param::Int(by_ms),
                Param::Int(from),
                Param::Int(by_ms),
                Param::Int(from),
                Param::Int(by_ms),
                Param::Text(reason::EXPIRED),
                Param::Text(reason::EXPIRED),
                Param::Int(now),
            ];
            ids.execute(c, backend, &head, |h, list| {
                format!(
                    "UPDATE clients SET expiry_time = CASE \
                     WHEN expiry_time < 0 THEN expiry_time - {} \
                     WHEN expiry_time > {} THEN expiry_time + {} \
                     ELSE {} + {} END, \
                     enable = CASE WHEN disabled_reason = {} THEN 1 ELSE enable END, \
                     disabled_reason = CASE WHEN disabled_reason = {} THEN '' \
                     ELSE disabled_reason END, updated_at = {} WHERE id IN ({list})",
                    h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
                )
            })
            .await?
        }
        ClientChange::Delete { keep_traffic } => {
            ids.execute(c, backend, &[], |_, list| {
                format!("DELETE FROM client_inbounds WHERE client_id IN ({list})")
            })
            .await?;
            if !keep_traffic {
                for table in EMAIL_TABLES {
                    emails
                        .execute(c, backend, &[], |_, list| {
                            format!("DELETE FROM {table} WHERE email IN ({list})")
                        })
                        .await?;
                }
            }
            ids.execute(c, backend, &[], |_, list| {
                format!("DELETE FROM clients WHERE id IN ({list})")
            })
            .await?
        }
    };
    if touched != rows.len() as u64 {
        let gone = rows.len() as u64 - touched.min(rows.len() as u64);
        return Err(StoreError::Conflict(
            Refusal::new(
                "err.clients_deleted_meanwhile",
                &[
                    ("gone", gone.to_string()),
                    ("count", rows.len().to_string()),
                ],
            )
            .into(),
        ));
    }
    Ok(())
}
