//! Live updates for the panel: `GET /api/v1/events` (the panel's row of the native route
//! table), server-sent events carrying a fleet snapshot (servers with their status and
//! heartbeat, usage, online clients). One snapshot is built every [`EVERY`] while anyone
//! listens and shared by all listeners; a new listener gets a fresh one at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::watch;
use xfleet_common::methods::CoreState;
use xfleet_common::time::now_ms;

use crate::front::auth::actor_from_headers;
use crate::front::{ApiError, Call};
use crate::model::alerts::{self, Alert, Severity};
use crate::model::servers::{views as server_views, ServerView};
use crate::model::ONLINE_WINDOW_MS;
use crate::store::ServerUsage;
use crate::Controller;

/// How often the shared snapshot is rebuilt while someone listens.
pub const EVERY: Duration = Duration::from_secs(2);
/// How often a listener's credentials are checked again; a logged-out session or a deleted
/// token stops receiving within this long.
const RECHECK: Duration = Duration::from_secs(30);

/// The shared snapshot (JSON text; empty before the first one).
pub struct Events {
    tx: watch::Sender<Arc<str>>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(Arc::from("")),
        }
    }
}

impl Events {
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[derive(Serialize)]
struct ServerLive {
    #[serde(flatten)]
    server: ServerView,
    /// `online`, `offline`, `pending` or `error` (online, but the core is failing, runs
    /// without some inbounds, or refused the last state).
    state: &'static str,
    usage: ServerUsage,
}

#[derive(Serialize, Default)]
struct Totals {
    servers: usize,
    /// Connected servers, whether their cores run cleanly or not.
    online: usize,
    /// Servers that connected before and are not connected now.
    offline: usize,
    /// Servers that never connected.
    pending: usize,
    /// Alerts of severity `error` (the list is `alerts`), so the count and the list agree.
    error: usize,
    /// Alerts of severity `warning`.
    warnings: usize,
    inbounds: i64,
    clients: i64,
    clients_online: i64,
    up: i64,
    down: i64,
    all_time: i64,
    today_up: i64,
    today_down: i64,
}

#[derive(Serialize)]
struct Snapshot {
    at: i64,
    totals: Totals,
    servers: Vec<ServerLive>,
    /// Emails of online clients (the first ones, sorted).
    online: Vec<String>,
    /// What went wrong on the fleet, errors first (as `GET /api/v1/alerts`).
    alerts: Vec<Alert>,
}

fn state_of(s: &ServerView) -> &'static str {
    let core_failing = matches!(
        s.live.as_ref().and_then(|l| l.core.as_ref()),
        Some(CoreState::Error { .. })
    );
    let failing = core_failing || !s.failed_inbounds.is_empty() || s.apply_error.is_some();
    match s.status.as_str() {
        "online" if failing => "error",
        "online" => "online",
        "pending" => "pending",
        _ => "offline",
    }
}

/// The fleet as the dashboard shows it.
pub async fn snapshot(ctl: &Controller) -> Result<String, ApiError> {
    let now = now_ms();
    let summary = ctl.store.fleet_summary(now, now - ONLINE_WINDOW_MS).await?;
    let mut totals = Totals {
        inbounds: summary.inbounds,
        clients: summary.clients,
        clients_online: summary.clients_online,
        ..Totals::default()
    };
    let views = server_views(ctl, ctl.store.list_servers().await?).await?;
    let alerts = alerts::collect(&views, alerts::sources(ctl, now).await?, now);
    totals.error = alerts
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .count();
    totals.warnings = alerts.len() - totals.error;
    let mut servers = Vec::new();
    for server in views {
        let usage = summary
            .per_server
            .get(&server.id)
            .cloned()
            .unwrap_or_default();
        let state = state_of(&server);
        totals.servers += 1;
        match state {
            "online" | "error" => totals.online += 1,
            "pending" => totals.pending += 1,
            _ => totals.offline += 1,
        }
        totals.up += usage.up;
        totals.down += usage.down;
        totals.all_time += usage.all_time;
        totals.today_up += usage.today_up;
        totals.today_down += usage.today_down;
        servers.push(ServerLive {
            server,
            state,
            usage,
        });
    }
    let snap = Snapshot {
        at: now,
        totals,
        servers,
        online: summary.online,
        alerts,
    };
    serde_json::to_string(&snap).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Rebuilds the shared snapshot while anyone listens; runs until shutdown.
pub async fn events_job(ctl: Arc<Controller>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        if ctl.events.listeners() == 0 {
            continue;
        }
        match snapshot(&ctl).await {
            Ok(json) => {
                ctl.events.tx.send_replace(Arc::from(json));
            }
            Err(e) => tracing::warn!(error = %e, "panel snapshot failed; will retry"),
        }
    }
}

/// Whether the credentials a listener came with still hold.
async fn still_allowed(ctl: &Controller, headers: &HeaderMap) -> bool {
    let actor = actor_from_headers(ctl, headers, "").await;
    // A database hiccup does not cut the stream; the next check decides.
    !matches!(actor, Ok(None))
}

struct Listener {
    ctl: Arc<Controller>,
    headers: HeaderMap,
    rx: watch::Receiver<Arc<str>>,
    first: Option<String>,
    checked: tokio::time::Instant,
}

fn event(data: &str) -> Result<Event, Infallible> {
    Ok(Event::default().event("snapshot").data(data))
}

/// `GET /api/v1/events`: `snapshot` events until the session ends or the controller stops.
pub(crate) async fn stream(
    Call { ctl, .. }: Call,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = snapshot(&ctl).await?;
    let mut rx = ctl.events.tx.subscribe();
    rx.mark_unchanged();
    let listener = Listener {
        ctl,
        headers,
        rx,
        first: Some(first),
        checked: tokio::time::Instant::now(),
    };
    let stream = futures_util::stream::unfold(listener, |mut l| async move {
        if let Some(first) = l.first.take() {
            return Some((event(&first), l));
        }
        loop {
            let stop = l.ctl.shutdown.clone();
            tokio::select! {
                changed = l.rx.changed() => changed.ok()?,
                _ = stop.cancelled() => return None,
            }
            if l.checked.elapsed() >= RECHECK {
                if !still_allowed(&l.ctl, &l.headers).await {
                    return None;
                }
                l.checked = tokio::time::Instant::now();
            }
            let data = l.rx.borrow_and_update().clone();
            if !data.is_empty() {
                return Some((event(&data), l));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
