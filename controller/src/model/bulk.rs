//! One action on many clients in one call (`POST /api/v1/clients/bulk`): the whole request
//! is checked first, every change is made in one transaction, and each affected server gets
//! one new revision and one push, however many of its clients changed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use xfleet_common::time::now_ms;

use super::{FieldError, ModelError, Problems, Result};
use crate::fleet::desired;
use crate::store::{change_clients, ClientChange};
use crate::Controller;

/// The most clients one call may name.
pub const MAX_BULK_CLIENTS: usize = 5000;
/// The most days one `extend` may add (ten years).
pub const MAX_EXTEND_DAYS: i64 = 3650;
const DAY_MS: i64 = 86_400_000;

/// The actions, as the request names them.
pub const BULK_ACTIONS: &[&str] = &["enable", "disable", "reset-traffic", "delete", "extend"];

/// The request body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkRequest {
    #[serde(default)]
    pub emails: Vec<String>,
    /// One of [`BULK_ACTIONS`].
    #[serde(default)]
    pub action: String,
    /// `extend` only: days to add (1 to [`MAX_EXTEND_DAYS`]).
    #[serde(default)]
    pub days: Option<i64>,
    /// `delete` only: keep the clients' traffic and address records, as
    /// `DELETE /clients/{email}?keepTraffic=true` does (default: removed with them).
    #[serde(default)]
    pub keep_traffic: Option<bool>,
}

/// What a bulk call did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOutcome {
    pub action: String,
    /// Clients changed (all of those named).
    pub count: usize,
    /// One new state per affected server, in server id order.
    pub pushes: Vec<ServerPush>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerPush {
    pub server_id: i64,
    /// The server's new revision.
    pub revision: i64,
    /// The `state.apply` task that carries it.
    pub task_id: String,
}

impl BulkRequest {
    /// The change the request asks for, or what is wrong with `action`, `days` and
    /// `keepTraffic`.
    fn change(&self, now: i64, p: &mut Problems) -> Option<ClientChange> {
        let change = match self.action.as_str() {
            "enable" => Some(ClientChange::Enable(true)),
            "disable" => Some(ClientChange::Enable(false)),
            "reset-traffic" => Some(ClientChange::ResetTraffic),
            "delete" => Some(ClientChange::Delete {
                keep_traffic: self.keep_traffic.unwrap_or(false),
            }),
            "extend" => match self.days {
                None => {
                    p.say("days", "err.extend_days_required", &[]);
                    None
                }
                Some(d) if !(1..=MAX_EXTEND_DAYS).contains(&d) => {
                    p.say(
                        "days",
                        "err.extend_days",
                        &[
                            ("max", MAX_EXTEND_DAYS.to_string()),
                            ("value", d.to_string()),
                        ],
                    );
                    None
                }
                Some(d) => Some(ClientChange::Extend {
                    by_ms: d * DAY_MS,
                    now,
                }),
            },
            "" => {
                p.say(
                    "action",
                    "err.action_required",
                    &[("actions", BULK_ACTIONS.join(", "))],
                );
                None
            }
            other => {
                p.say(
                    "action",
                    "err.action_unknown",
                    &[
                        ("action", other.to_owned()),
                        ("actions", BULK_ACTIONS.join(", ")),
                    ],
                );
                None
            }
        };
        if self.days.is_some() && self.action != "extend" && !self.action.is_empty() {
            p.say("days", "err.days_extend_only", &[]);
        }
        if self.keep_traffic.is_some() && self.action != "delete" && !self.action.is_empty() {
            p.say("keepTraffic", "err.keep_traffic_delete_only", &[]);
        }
        change
    }
}

/// Applies one action to every named client, all or none: an empty or too long list, an
/// email named twice or by no client, or a bad action changes nothing and reports every
/// problem at once.
pub async fn bulk_clients(ctl: &Controller, actor: &str, req: &BulkRequest) -> Result<BulkOutcome> {
    let mut p = Problems::default();
    let change = req.change(now_ms(), &mut p);
    let mut rows = Vec::new();
    if req.emails.is_empty() {
        p.say("emails", "err.emails_empty", &[]);
    } else if req.emails.len() > MAX_BULK_CLIENTS {
        p.say(
            "emails",
            "err.clients_too_many",
            &[
                ("count", req.emails.len().to_string()),
                ("max", MAX_BULK_CLIENTS.to_string()),
            ],
        );
    } else {
        rows = ctl.store.clients_by_emails(&req.emails).await?;
        let known: HashSet<&str> = rows.iter().map(|c| c.email.as_str()).collect();
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, email) in req.emails.iter().enumerate() {
            match first.entry(email) {
                Entry::Occupied(j) => p.say(
                    format!("emails[{i}]"),
                    "err.email_twice_at",
                    &[("email", email.clone()), ("index", j.get().to_string())],
                ),
                Entry::Vacant(v) => {
                    v.insert(i);
                    if !known.contains(email.as_str()) {
                        p.say(
                            format!("emails[{i}]"),
                            "err.no_client_email",
                            &[("email", email.clone())],
                        );
                    }
                }
            }
        }
    }
    p.finish()?;
    // Every way to get no change has added a problem above.
    let change = change
        .ok_or_else(|| ModelError::Invalid(vec![FieldError::said("action", "err.invalid", &[])]))?;

    // Before the change: a deleted client is attached nowhere afterwards.
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let servers = ctl.store.servers_of_clients(&ids).await?;
    let mut write = ctl.store.begin_write().await?;
    change_clients(&mut write.tx, ctl.store.backend(), &rows, change).await?;
    write.tx.commit().await?;

    let mut pushes = Vec::with_capacity(servers.len());
    for server_id in servers {
        let (revision, task) = desired::push_revision(ctl, server_id, actor).await?;
        pushes.push(ServerPush {
            server_id,
            revision,
            task_id: task.id,
        });
    }
    Ok(BulkOutcome {
        action: req.action.clone(),
        count: rows.len(),
        pushes,
    })
}
