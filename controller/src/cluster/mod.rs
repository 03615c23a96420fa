//! Several controllers on one PostgreSQL (DESIGN §14). Each running controller keeps a lease
//! (its `controllers` row, renewed every [`RENEW`]); the servers it holds name it. A call for
//! an agent held elsewhere goes to the holder's gateway over mutual TLS with a certificate of
//! the fleet's CA ([`hop`]); a task queued for it wakes the holder through `LISTEN/NOTIFY`;
//! the periodic jobs run on the one controller holding an advisory lock (the leader).
//!
//! On SQLite there is exactly one controller: it is always the leader, and a second one
//! started on the same database file is refused.

mod hop;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use xfleet_common::channel::CallError;
use xfleet_common::time::now_ms;

use crate::ca::Ca;
use crate::store::cluster::{ControllerRow, TASK_CHANNEL};
use crate::store::{Backend, Store};

pub use hop::{
    error_body, ManyAnswer, ManyRequest, RoutedCall, HOP_CALL_MANY_PATH, HOP_CALL_PATH,
    HOP_CPU_PATH, HOP_LIVE_PATH, MAX_LIVE_IDS,
};

/// How often a controller renews its lease and, when it is not the leader, tries to become it.
pub const RENEW: Duration = Duration::from_secs(2);
/// A lease not renewed for this long has run out: its controller is gone.
pub const LEASE: Duration = Duration::from_secs(10);

/// This controller's place among the fleet's controllers.
pub struct Cluster {
    /// Persisted in the data directory (`controller.id`), so a restart is the same controller.
    pub id: String,
    shared: bool,
    leader: AtomicBool,
    hop: Option<hop::HopClient>,
}

/// Where this controller can be reached, as the others and the agents see it.
pub struct Membership {
    pub gateway_url: String,
    pub panel_url: String,
}

impl Cluster {
    /// A lone controller that leads (tests of the jobs and the model).
    pub fn alone() -> Self {
        Self {
            id: "local".into(),
            shared: false,
            leader: AtomicBool::new(true),
            hop: None,
        }
    }

    /// Records this controller among the fleet's and prepares its calls to the others.
    pub async fn join(
        store: &Store,
        ca: &Ca,
        data_dir: &Path,
        me: Membership,
    ) -> anyhow::Result<Self> {
        let id = controller_id(data_dir)?;
        check_alone(store, &id).await?;
        let shared = store.backend() == Backend::Postgres;
        let now = now_ms();
        store
            .register_controller(&ControllerRow {
                id: id.clone(),
                hostname: crate::util::hostname(),
                hop_url: me.gateway_url.clone(),
                gateway_url: me.gateway_url,
                panel_url: me.panel_url,
                version: env!("CARGO_PKG_VERSION").into(),
                started_at: now,
                seen_at: now,
                leads: i64::from(!shared),
            })
            .await?;
        let hop = match shared {
            true => Some(hop::HopClient::new(ca, &id)?),
            false => None,
        };
        Ok(Self {
            id,
            shared,
            // On SQLite there is no one else to lead.
            leader: AtomicBool::new(!shared),
            hop,
        })
    }

    /// Whether other controllers may share the database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether the periodic jobs run here.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Renews the lease and keeps or seeks the leadership until shutdown, then gives the
    /// lease up so the others need not wait for it to run out.
    pub async fn keep_lease(self: Arc<Self>, store: Store, shutdown: CancellationToken) {
        let mut lock = None;
        loop {
            if self.shared {
                let held = lead(&store, &mut lock).await;
                if held != self.leader.swap(held, Ordering::SeqCst) {
                    match held {
                        true => tracing::info!("this controller now runs the periodic jobs"),
                        false => tracing::warn!("this controller no longer runs the periodic jobs"),
                    }
                }
            }
            if let Err(e) = store.renew_controller(&self.id, self.is_leader()).await {
                tracing::warn!(error = %e, "cannot renew this controller's lease");
            }
            tokio::select! {
                _ = tokio::time::sleep(RENEW) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.leader.store(false, Ordering::SeqCst);
        drop(lock);
        if let Err(e) = store.remove_controller(&self.id).await {
            tracing::warn!(error = %e, "cannot give up this controller's lease");
        }
    }

    /// The gateway addresses of the controllers running now, this one first: what agents
    /// are told to fail over to.
    pub async fn gateways(&self, store: &Store) -> Vec<String> {
        let since = now_ms() - LEASE.as_millis() as i64;
        let mut rows = store.live_controllers(since).await.unwrap_or_default();
        rows.sort_by_key(|r| r.id != self.id);
        let mut urls: Vec<String> = Vec::new();
        for r in rows {
            if !urls.contains(&r.gateway_url) {
                urls.push(r.gateway_url);
            }
        }
        urls
    }

    /// Calls `method` on an agent held by another controller, through that controller's
    /// gateway; `Offline` when no live controller holds it.
    pub async fn call_elsewhere(
        &self,
        store: &Store,
        server_id: i64,
        method: &str,
        body: Vec<u8>,
        deadline: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let offline = || CallError::Offline(format!("server {server_id} is not connected"));
        let Some(hop) = &self.hop else {
            return Err(offline());
        };
        let since = now_ms() - LEASE.as_millis() as i64;
        let holder = store.holder_of(server_id, since).await.map_err(|e| {
            CallError::Offline(format!("cannot find who holds server {server_id}: {e}"))
        })?;
        match holder {
            Some((id, url)) if id != self.id => {
                hop.call(&url, server_id, method, body, deadline).await
            }
            _ => Err(offline()),
        }
    }
}

impl Cluster {
    /// What other controllers know live of the agents they hold: `ids` by the `hop_url` of
    /// their holder. Each holder is asked once, all at once; one that does not answer within
    /// two seconds is left out (the panel then shows its agents without live facts).
    pub async fn live_elsewhere(
        &self,
        by_holder: Vec<(String, Vec<i64>)>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let Some(hop) = &self.hop else {
            return Default::default();
        };
        let asks = by_holder.iter().map(|(url, ids)| async move {
            match tokio::time::timeout(Duration::from_secs(2), hop.live(url, ids)).await {
                Ok(Ok(serde_json::Value::Object(map))) => map,
                Ok(Ok(_)) => Default::default(),
                Ok(Err(e)) => {
                    tracing::debug!(controller = %url, error = %e, "no live facts from another controller");
                    Default::default()
                }
                Err(_) => {
                    tracing::debug!(controller = %url, "no live facts from another controller within 2 s");
                    Default::default()
                }
            }
        });
        let mut all = serde_json::Map::new();
        for map in futures_util::future::join_all(asks).await {
            all.extend(map);
        }
        all
    }
}

impl Cluster {
    /// The CPU history another controller keeps of an agent it holds (`{bucket, points}` in,
    /// a JSON list of points out); `None` when no running controller holds it or it does not
    /// answer within two seconds.
    pub async fn cpu_elsewhere(
        &self,
        store: &Store,
        server_id: i64,
        bucket_secs: i64,
        points: usize,
    ) -> Option<serde_json::Value> {
        let hop = self.hop.as_ref()?;
        let since = now_ms() - LEASE.as_millis() as i64;
        let (holder, url) = store.holder_of(server_id, since).await.ok()??;
        if holder == self.id {
            return None;
        }
        let body =
            serde_json::json!({"server": server_id, "bucket": bucket_secs, "points": points});
        let asked = hop.json(&url, HOP_CPU_PATH, &body);
        tokio::time::timeout(Duration::from_secs(2), asked)
            .await
            .ok()?
            .ok()
    }

    /// Calls `method` on the agents of `servers` that other controllers hold: one request
    /// to each holder, which calls its agents at once. Every server gets an answer: one held
    /// by no running controller is `Offline`.
    pub async fn call_many_elsewhere(
        &self,
        store: &Store,
        servers: &[i64],
        method: &str,
        body: &[u8],
        deadline: Duration,
    ) -> Vec<(i64, Result<Vec<u8>, CallError>)> {
        let offline = |id: i64| CallError::Offline(format!("server {id} is not connected"));
        let Some(hop) = &self.hop else {
            return servers.iter().map(|&id| (id, Err(offline(id)))).collect();
        };
        let since = now_ms() - LEASE.as_millis() as i64;
        let holders = match store.holders_of(servers, since).await {
            Ok(h) => h,
            Err(e) => {
                let why = format!("cannot find who holds the servers: {e}");
                return (servers.iter())
                    .map(|&id| (id, Err(CallError::Offline(why.clone()))))
                    .collect();
            }
        };
        let mut by_holder: std::collections::HashMap<String, Vec<i64>> = Default::default();
        let mut out = Vec::with_capacity(servers.len());
        for &id in servers {
            match holders.get(&id) {
                Some((holder, url)) if *holder != self.id => {
                    by_holder.entry(url.clone()).or_default().push(id)
                }
                _ => out.push((id, Err(offline(id)))),
            }
        }
        let asks = by_holder.into_iter().map(|(url, ids)| async move {
            let request = ManyRequest {
                method: method.to_owned(),
                deadline_ms: deadline.as_millis() as u64,
                body: body.to_vec(),
                servers: ids.clone(),
            };
            let answered = tokio::time::timeout(
                deadline + Duration::from_secs(5),
                hop.call_many(&url, &request),
            )
            .await;
            match answered {
                Ok(Ok(answers)) => answers
                    .into_iter()
                    .map(|a| {
                        let outcome = match (a.ok, a.error) {
                            (Some(bytes), _) => Ok(bytes),
                            (None, Some(e)) => Err(CallError::from_body(e)),
                            (None, None) => Err(offline(a.server)),
                        };
                        (a.server, outcome)
                    })
                    .collect::<Vec<_>>(),
                Ok(Err(e)) => {
                    let why = format!(
                        "the controller holding these servers ({url}) cannot be reached: {e}"
                    );
                    (ids.iter())
                        .map(|&id| (id, Err(CallError::Offline(why.clone()))))
                        .collect()
                }
                Err(_) => (ids.iter())
                    .map(|&id| (id, Err(CallError::Timeout(deadline))))
                    .collect(),
            }
        });
        for answers in futures_util::future::join_all(asks).await {
            out.extend(answers);
        }
        out
    }
}

/// Tries to hold the leader's advisory lock on its own connection; false on any error (the
/// connection is dropped and taken again next time, and PostgreSQL frees the lock with it).
async fn lead(store: &Store, lock: &mut Option<sqlx::AnyConnection>) -> bool {
    if lock.is_none() {
        match store.leader_connection().await {
            Ok(conn) => *lock = Some(conn),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the database for the leader's lock");
                return false;
            }
        }
    }
    let conn = lock.as_mut().expect("set above");
    match Store::try_lead(conn).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "lost the leader's lock connection");
            *lock = None;
            false
        }
    }
}

/// Wakes `wake(server_id)` for every task another controller queues, until shutdown
/// (PostgreSQL; on SQLite every task is queued here and wakes its worker directly).
pub async fn listen_for_tasks(
    store: Store,
    wake: impl Fn(i64) + Send + 'static,
    shutdown: CancellationToken,
) {
    if store.backend() != Backend::Postgres {
        return;
    }
    let mut pause = Duration::from_millis(200);
    loop {
        let listened = async {
            let mut listener = sqlx::postgres::PgListener::connect(store.url()).await?;
            listener.listen(TASK_CHANNEL).await?;
            loop {
                let note = listener.recv().await?;
                if let Ok(id) = note.payload().parse() {
                    wake(id);
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            r = listened => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "task notifications interrupted; listening again");
                }
            }
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// This controller's id: `controller.id` in its data directory, made on its first start.
fn controller_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("controller.id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    crate::util::write_private(&path, id.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(id)
}

/// Refuses to start beside a controller that is running on the same database when that is
/// not allowed: any other controller on SQLite (it serves one controller only), and on
/// PostgreSQL one with the same id (a copied data directory). A row left by a controller
/// that died is told apart by its lease: it is not renewed while this one waits a little
/// longer than a renewal.
async fn check_alone(store: &Store, id: &str) -> anyhow::Result<()> {
    let sqlite = store.backend() == Backend::Sqlite;
    let rivals = || async {
        let since = now_ms() - LEASE.as_millis() as i64;
        anyhow::Ok(
            (store.live_controllers(since).await?)
                .into_iter()
                .filter(|r| sqlite || r.id == id)
                .collect::<Vec<_>>(),
        )
    };
    let before = rivals().await?;
    if before.is_empty() {
        return Ok(());
    }
    tokio::time::sleep(RENEW + Duration::from_secs(1)).await;
    let after = rivals().await?;
    let Some(alive) = after
        .iter()
        .find(|r| before.iter().any(|b| b.id == r.id && r.seen_at > b.seen_at))
    else {
        return Ok(());
    };
    let who = format!(
        "{} on {} (panel {}, gateway {})",
        alive.id, alive.hostname, alive.panel_url, alive.gateway_url
    );
    if sqlite {
        anyhow::bail!(
            "another xfleet controller is running on this SQLite database: {who}. SQLite \
             serves one controller only; stop that one first, or move the fleet to PostgreSQL \
             (`xfleet backup`, then `xfleet restore` into a PostgreSQL `database_url`) to run \
             several controllers"
        )
    }
    anyhow::bail!(
        "a controller with this data directory's id ({}) is already running: {who}. Each \
         controller needs its own data directory; remove controller.id from a copied one",
        alive.id
    )
}
