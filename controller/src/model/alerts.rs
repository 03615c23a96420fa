//! What went wrong on the fleet, as one list every front end shows the same way (the
//! dashboard's errors count and list through the live snapshot, `GET /api/v1/alerts`): tasks
//! that failed, servers that do not run their revision and why, cores that are not running,
//! inbounds the core runs without, certificates that are not renewed, servers gone offline.
//! Each alert carries the agent's or the core's own words. An operator's refused form
//! submission is not an alert: the form said so, and the audit log keeps it.

use std::collections::HashMap;

use serde::Serialize;
use xfleet_common::methods::CoreState;
use xfleet_common::time::now_ms;

use super::servers::ServerView;
use super::Result;
use crate::store::{CertificateTerm, RenewalFailureRow, TaskFailureRow};
use crate::Controller;

/// Failed tasks older than this are no longer shown (a later outcome clears them sooner).
pub const TASK_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// At most this many task alerts.
const MAX_TASKS: i64 = 100;
/// Characters of an agent's own report an alert carries at most.
const MAX_AGENT_WORDS: usize = 1000;
/// An agent renews its certificate between 70 % and 90 % of its lifetime; past this point
/// renewal has failed.
const RENEWAL_OVERDUE: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Counted in the dashboard's errors.
    Error,
    Warning,
}

/// One thing that went wrong on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    /// `task_failed`, `task_expired`, `task_retrying`, `not_applied`, `state_refused`,
    /// `core_error`, `core_stopped`, `inbound_failed`, `certificate`, `offline`.
    pub kind: &'static str,
    pub server_id: i64,
    pub server: String,
    /// The task's operation (`core.install`, `geo.update`, …) for task alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The task id, or the tag of the inbound that is not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What happened, in the panel's words.
    pub text: String,
    /// Why, in the agent's or the core's own words; empty when there are none.
    pub reason: String,
    /// When it happened, if known (ms since the epoch).
    pub at: Option<i64>,
}

/// What alerts are made from, besides the servers.
#[derive(Debug, Default)]
pub struct Sources {
    pub tasks: Vec<TaskFailureRow>,
    pub certificates: Vec<CertificateTerm>,
    pub renewals: Vec<RenewalFailureRow>,
}

/// Reads the sources for [`collect`].
pub async fn sources(ctl: &Controller, now: i64) -> Result<Sources> {
    Ok(Sources {
        tasks: ctl
            .store
            .task_failures(now - TASK_WINDOW_MS, MAX_TASKS)
            .await?,
        certificates: ctl.store.certificate_terms().await?,
        renewals: ctl.store.renewal_failures().await?,
    })
}

/// The fleet's alerts now.
pub async fn fleet(ctl: &Controller) -> Result<Vec<Alert>> {
    let now = now_ms();
    let servers = super::servers::views(ctl, ctl.store.list_servers().await?).await?;
    Ok(collect(&servers, sources(ctl, now).await?, now))
}

/// The alerts of `servers` at `now`: errors first, each server's in a fixed order.
pub fn collect(servers: &[ServerView], sources: Sources, now: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let by_id: HashMap<i64, &ServerView> = servers.iter().map(|s| (s.id, s)).collect();
    let alert = |s: &ServerView, severity, kind, text: String, reason: &str, at| Alert {
        severity,
        kind,
        server_id: s.id,
        server: s.name.clone(),
        operation: None,
        subject: None,
        text,
        reason: reason.to_owned(),
        at,
    };
    for s in servers {
        if s.status == "offline" && !s.connected && s.enabled {
            let text = "The server is offline: its agent is not connected".to_owned();
            let reason = s.last_error.as_deref().unwrap_or("");
            out.push(alert(
                s,
                Severity::Warning,
                "offline",
                text,
                reason,
                s.last_seen,
            ));
        }
        if s.connected {
            match s.live.as_ref().and_then(|l| l.core.as_ref()) {
                Some(CoreState::Error { message }) => {
                    let text = "The core is not running; the agent keeps trying to start it";
                    out.push(alert(
                        s,
                        Severity::Error,
                        "core_error",
                        text.into(),
                        message,
                        None,
                    ));
                }
                Some(CoreState::Stopped) => {
                    let text = "The core is stopped: no inbound of this server serves clients";
                    out.push(alert(
                        s,
                        Severity::Warning,
                        "core_stopped",
                        text.into(),
                        "",
                        None,
                    ));
                }
                _ => {}
            }
        }
        if let Some(refused) = &s.apply_error {
            let text = format!(
                "The server does not run its latest settings (revision {} of {})",
                s.applied_revision, s.revision
            );
            out.push(alert(
                s,
                Severity::Error,
                "state_refused",
                text,
                refused,
                None,
            ));
        }
        for f in &s.failed_inbounds {
            let name = f
                .remark
                .as_deref()
                .filter(|r| !r.is_empty())
                .unwrap_or(&f.tag);
            let text = format!("Inbound {name} is not running");
            let mut a = alert(
                s,
                Severity::Error,
                "inbound_failed",
                text,
                &f.message,
                Some(f.failed_at),
            );
            a.subject = Some(f.tag.clone());
            out.push(a);
        }
    }
    for t in sources.tasks {
        let Some(&s) = by_id.get(&t.server_id) else {
            continue;
        };
        let apply = t.operation == xfleet_common::state::method::APPLY;
        // A refused state is already said once, by the server's own alert.
        if apply && t.status == "failed" && s.apply_error.is_some() {
            continue;
        }
        let reason = t.error_message.clone().unwrap_or_default();
        let (severity, kind, text) = match t.status.as_str() {
            "failed" => (
                Severity::Error,
                "task_failed",
                format!("Task {} failed", t.operation),
            ),
            "expired" => (
                Severity::Warning,
                "task_expired",
                format!(
                    "Task {} expired before the server could run it",
                    t.operation
                ),
            ),
            _ if apply => (
                Severity::Warning,
                "not_applied",
                format!(
                    "The server does not run its latest settings yet (revision {} of {}): \
                     applying them keeps failing and is retried",
                    s.applied_revision, s.revision
                ),
            ),
            _ => (
                Severity::Warning,
                "task_retrying",
                format!("Task {} keeps failing and is retried", t.operation),
            ),
        };
        let mut a = alert(s, severity, kind, text, &reason, Some(t.updated_at));
        a.operation = Some(t.operation);
        a.subject = Some(t.task_id);
        out.push(a);
    }
    // Why a renewal failed: the agent's words from its heartbeat, else the controller's
    // refusal, with when it was refused.
    let mut not_renewed: HashMap<i64, (&str, Option<i64>)> = sources
        .renewals
        .iter()
        .map(|r| (r.server_id, (r.message.as_str(), Some(r.failed_at))))
        .collect();
    for s in servers {
        let heartbeat = s.live.as_ref().and_then(|l| l.heartbeat.as_ref());
        if let Some(error) = heartbeat.and_then(|h| h.renewal_error.as_deref()) {
            // The agent's words, as far as an alert shows them: an agent sends what it likes.
            let error = error
                .char_indices()
                .nth(MAX_AGENT_WORDS)
                .map_or(error, |(end, _)| &error[..end]);
            not_renewed.insert(s.id, (error, None));
        }
    }
    for c in &sources.certificates {
        let Some(&s) = by_id.get(&c.server_id) else {
            continue;
        };
        let refused = not_renewed.get(&c.server_id);
        let overdue_at =
            c.issued_at + ((c.expires_at - c.issued_at) as f64 * RENEWAL_OVERDUE) as i64;
        let text = if c.expires_at <= now {
            format!(
                "Its certificate expired on {}: the agent needs a new enrollment command",
                utc(c.expires_at)
            )
        } else if now >= overdue_at || refused.is_some() {
            format!(
                "Its certificate was not renewed; it expires on {}",
                utc(c.expires_at)
            )
        } else {
            continue;
        };
        let reason = refused.map_or("", |r| r.0);
        let at = refused.map_or(Some(c.expires_at), |r| r.1.or(Some(c.expires_at)));
        out.push(alert(s, Severity::Error, "certificate", text, reason, at));
    }
    out.sort_by_key(|a| a.severity);
    out
}

/// `2026-12-06 16:05 UTC`.
fn utc(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::InboundFailureRow;

    fn server(id: i64, name: &str) -> ServerView {
        ServerView {
            id,
            name: name.into(),
            region: String::new(),
            tags: vec![],
            status: "online".into(),
            connected: true,
            controller: None,
            last_seen: Some(1),
            last_error: None,
            version: None,
            core_version: None,
            os_info: None,
            hostname: None,
            enabled: true,
            notes: String::new(),
            revision: 5,
            applied_revision: 5,
            created_at: 0,
            updated_at: 0,
            local: false,
            public_address: String::new(),
            reported_addresses: vec![],
            link_host: String::new(),
            link_host_source: "none",
            link_warning: None,
            refusals: Default::default(),
            live: None,
            core_flavour: None,
            failed_inbounds: vec![],
            apply_error: None,
            core_template: None,
            listening: None,
            agent_update: None,
        }
    }

    fn task(server_id: i64, operation: &str, status: &str, message: &str) -> TaskFailureRow {
        TaskFailureRow {
            server_id,
            task_id: format!("{operation}-{status}"),
            operation: operation.into(),
            status: status.into(),
            error_code: Some("failed".into()),
            error_message: Some(message.into()),
            updated_at: 10,
        }
    }

    /// Every kind of failure becomes one alert with the server, what happened and the
    /// agent's or core's words; errors come first; a refused state is said once, not again
    /// for its failed task; a pending server is no alert and an offline one only a warning.
    #[test]
    fn failures_become_alerts_in_their_own_words() {
        let now = 1_000_000_000;
        let mut broken = server(1, "ams-1");
        broken.apply_error = Some("revision 5 was refused: invalid config".into());
        broken.applied_revision = 4;
        broken.failed_inbounds = vec![InboundFailureRow {
            server_id: 1,
            tag: "inbound-443".into(),
            message: "bind: address already in use".into(),
            revision: 4,
            failed_at: 7,
            inbound_id: Some(3),
            remark: Some("taken".into()),
        }];
        let mut offline = server(2, "fra-1");
        (offline.status, offline.connected) = ("offline".into(), false);
        offline.last_error = Some("connection reset".into());
        let mut pending = server(3, "new-1");
        (pending.status, pending.connected) = ("pending".into(), false);
        let servers = [broken, offline, pending];
        let sources = Sources {
            tasks: vec![
                task(1, "state.apply", "failed", "invalid config"),
                task(2, "geo.update", "failed", "geoip.dat: connection refused"),
                task(1, "core.install", "expired", "the task expired"),
                task(9, "core.install", "failed", "a removed server"),
            ],
            certificates: vec![
                CertificateTerm {
                    server_id: 2,
                    issued_at: 0,
                    expires_at: now + 1000,
                },
                CertificateTerm {
                    server_id: 1,
                    issued_at: now - 10,
                    expires_at: now + 1_000_000,
                },
            ],
            renewals: vec![],
        };
        let alerts = collect(&servers, sources, now);
        let seen: Vec<(Severity, &str, &str, &str)> = alerts
            .iter()
            .map(|a| (a.severity, a.kind, a.server.as_str(), a.reason.as_str()))
            .collect();
        use Severity::{Error, Warning};
        assert_eq!(
            seen,
            [
                (
                    Error,
                    "state_refused",
                    "ams-1",
                    "revision 5 was refused: invalid config"
                ),
                (
                    Error,
                    "inbound_failed",
                    "ams-1",
                    "bind: address already in use"
                ),
                (
                    Error,
                    "task_failed",
                    "fra-1",
                    "geoip.dat: connection refused"
                ),
                (Error, "certificate", "fra-1", ""),
                (Warning, "offline", "fra-1", "connection reset"),
                (Warning, "task_expired", "ams-1", "the task expired"),
            ]
        );
        assert_eq!(alerts[1].text, "Inbound taken is not running");
        assert_eq!(alerts[1].subject.as_deref(), Some("inbound-443"));
        assert_eq!(alerts[2].operation.as_deref(), Some("geo.update"));
        assert!(
            alerts[3].text.contains("was not renewed"),
            "{}",
            alerts[3].text
        );
    }

    /// A refused renewal is an alert at once, with the controller's words, and a renewal
    /// that failed on the agent with the agent's (from its heartbeat), before the certificate
    /// is overdue; an expired certificate says a new enrollment is needed.
    #[test]
    fn certificate_renewal_failures_are_alerts() {
        let now = 1_000_000_000;
        let mut agent_failed = server(3, "sin-1");
        agent_failed.live = Some(crate::fleet::LiveInfo {
            connected_at: 0,
            remote: String::new(),
            in_flight: 0,
            heartbeat: Some(xfleet_common::methods::Heartbeat {
                renewal_error: Some("cannot install the renewed certificate: read-only".into()),
                ..Default::default()
            }),
            core: None,
        });
        let servers = [server(1, "ams-1"), server(2, "fra-1"), agent_failed];
        let sources = Sources {
            tasks: vec![],
            certificates: vec![
                CertificateTerm {
                    server_id: 1,
                    issued_at: now - 10,
                    expires_at: now + 1_000_000,
                },
                CertificateTerm {
                    server_id: 2,
                    issued_at: 0,
                    expires_at: now - 1,
                },
                CertificateTerm {
                    server_id: 3,
                    issued_at: now - 10,
                    expires_at: now + 1_000_000,
                },
            ],
            renewals: vec![RenewalFailureRow {
                server_id: 1,
                message: "at most 10 are signed per hour".into(),
                failed_at: now - 5,
            }],
        };
        let alerts = collect(&servers, sources, now);
        assert_eq!(alerts.len(), 3);
        assert_eq!(alerts[0].reason, "at most 10 are signed per hour");
        assert!(
            alerts[1].text.contains("new enrollment command"),
            "{}",
            alerts[1].text
        );
        assert_eq!(
            (alerts[2].server.as_str(), alerts[2].reason.as_str()),
            ("sin-1", "cannot install the renewed certificate: read-only")
        );
        assert!(
            alerts[2].text.contains("was not renewed"),
            "{}",
            alerts[2].text
        );

        // An agent's report is its own: a flood of words becomes an alert of bounded size.
        let [_, _, mut flooding] = servers;
        if let Some(h) = flooding.live.as_mut().and_then(|l| l.heartbeat.as_mut()) {
            h.renewal_error = Some("x".repeat(5_000_000));
        }
        let sources = Sources {
            certificates: vec![CertificateTerm {
                server_id: 3,
                issued_at: now - 10,
                expires_at: now + 1_000_000,
            }],
            ..Default::default()
        };
        let alerts = collect(&[flooding], sources, now);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].reason.len(), MAX_AGENT_WORDS);
    }
}
