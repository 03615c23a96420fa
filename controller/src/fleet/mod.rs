//! The live fleet: which agents hold a channel, the one call API everything else uses, and
//! server status derived from the channel (online on Hello; offline at once when the agent
//! closes its connection, after a grace period when the connection is lost in silence).

mod cpu;
pub mod desired;
mod link;
pub mod rollout;
mod samples;
mod session;
mod traffic;

pub use cpu::CpuPoint;
pub use rollout::Rollouts;
pub use session::run_session;
pub(crate) use session::{refuse_with, MAX_HOSTNAME, MAX_VERSION};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use xfleet_common::channel::{CallError, Channel};
use xfleet_common::methods::{Heartbeat, ListeningSocket};
use xfleet_common::protocol;
use xfleet_common::time::now_ms;

use crate::telemetry;
use crate::Controller;

/// One agent's live connection.
struct Live {
    conn_id: u64,
    channel: Channel,
    connected_at: i64,
    remote: String,
}

/// What the panel shows about a connected agent.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LiveInfo {
    pub connected_at: i64,
    pub remote: String,
    pub in_flight: usize,
    pub heartbeat: Option<Heartbeat>,
    /// The core as the agent last reported it.
    pub core: Option<xfleet_common::methods::CoreState>,
}

#[derive(Default)]
pub struct Fleet {
    live: Mutex<HashMap<i64, Live>>,
    /// Heartbeat times not yet written to the database.
    seen: Mutex<HashMap<i64, i64>>,
    heartbeats: Mutex<HashMap<i64, Heartbeat>>,
    /// CPU per server from its heartbeats, kept across reconnects.
    cpu: Mutex<HashMap<i64, cpu::CpuSamples>>,
    /// CPU and memory a minute at a time, until written (see [`flush_samples`]).
    samples: Mutex<samples::Samples>,
    core_states: Mutex<HashMap<i64, xfleet_common::methods::CoreState>>,
    /// Servers that connected at least once since this controller started.
    seen_since_start: Mutex<std::collections::HashSet<i64>>,
    next_conn: AtomicU64,
}

impl Fleet {
    /// Calls `method` on a server's agent connected to this controller. Fails fast with
    /// `offline` when it holds no channel here; [`call`] also reaches agents held elsewhere.
    pub async fn call(
        &self,
        server_id: i64,
        method: &str,
        body: Vec<u8>,
        deadline: Duration,
    ) -> Result<Vec<u8>, CallError> {
        self.channel(server_id)?
            .call(method, body, deadline, None)
            .await
    }

    pub fn channel(&self, server_id: i64) -> Result<Channel, CallError> {
        self.live
            .lock()
            .unwrap()
            .get(&server_id)
            .map(|l| l.channel.clone())
            .ok_or_else(|| CallError::Offline(format!("server {server_id} is not connected")))
    }

    pub fn is_connected(&self, server_id: i64) -> bool {
        self.live.lock().unwrap().contains_key(&server_id)
    }

    pub fn connected_count(&self) -> usize {
        self.live.lock().unwrap().len()
    }

    pub fn connected_ids(&self) -> Vec<i64> {
        self.live.lock().unwrap().keys().copied().collect()
    }

    pub fn live_info(&self, server_id: i64) -> Option<LiveInfo> {
        let live = self.live.lock().unwrap();
        let l = live.get(&server_id)?;
        Some(LiveInfo {
            connected_at: l.connected_at,
            remote: l.remote.clone(),
            in_flight: l.channel.in_flight(),
            // The sockets are read one server at a time (`listening`), not with every view.
            heartbeat: self
                .heartbeats
                .lock()
                .unwrap()
                .get(&server_id)
                .map(|h| Heartbeat {
                    listening: Vec::new(),
                    ..h.clone()
                }),
            core: self.core_states.lock().unwrap().get(&server_id).cloned(),
        })
    }

    /// Closes a server's channel now (revocation, removal, disabling).
    pub fn disconnect(&self, server_id: i64, reason: &str) -> bool {
        let removed = self.live.lock().unwrap().remove(&server_id);
        match removed {
            Some(l) => {
                l.channel.close(reason);
                true
            }
            None => false,
        }
    }

    /// Asks every agent to come back later (graceful controller shutdown).
    pub fn go_away_all(&self, retry_after: Duration, reason: &str) {
        let channels: Vec<Channel> = self
            .live
            .lock()
            .unwrap()
            .drain()
            .map(|(_, l)| l.channel)
            .collect();
        for c in channels {
            c.go_away(retry_after, reason);
        }
    }

    /// Registers a new channel, replacing (and closing) an older one of the same server.
    fn register(&self, server_id: i64, channel: Channel, remote: String) -> u64 {
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.seen_since_start.lock().unwrap().insert(server_id);
        let old = self.live.lock().unwrap().insert(
            server_id,
            Live {
                conn_id,
                channel,
                connected_at: now_ms(),
                remote,
            },
        );
        if let Some(old) = old {
            old.channel
                .close("replaced by a newer connection of the same server");
        }
        conn_id
    }

    /// Removes the entry if it still belongs to this connection; true if it did.
    fn unregister(&self, server_id: i64, conn_id: u64) -> bool {
        let mut live = self.live.lock().unwrap();
        if live.get(&server_id).is_some_and(|l| l.conn_id == conn_id) {
            live.remove(&server_id);
            self.heartbeats.lock().unwrap().remove(&server_id);
            self.core_states.lock().unwrap().remove(&server_id);
            true
        } else {
            false
        }
    }

    /// Records a heartbeat; whether the sockets it lists differ from the last one's (or it
    /// is the connection's first).
    fn heartbeat(&self, server_id: i64, heartbeat: Option<Heartbeat>) -> bool {
        self.seen.lock().unwrap().insert(server_id, now_ms());
        let Some(h) = heartbeat else { return false };
        let now = now_ms();
        (self.cpu.lock().unwrap().entry(server_id).or_default()).push(now / 1000, h.cpu_percent);
        self.samples.lock().unwrap().record(server_id, now, &h);
        self.heartbeats
            .lock()
            .unwrap()
            .insert(server_id, h.clone())
            .is_none_or(|old| old.listening != h.listening)
    }

    /// The sockets other programs listen on at the server's host, from its last heartbeat.
    pub fn listening(&self, server_id: i64) -> Option<Vec<ListeningSocket>> {
        let heartbeats = self.heartbeats.lock().unwrap();
        heartbeats.get(&server_id).map(|h| h.listening.clone())
    }

    /// A server's CPU as its heartbeats reported it, averaged into the last `points`
    /// buckets of `bucket_secs` (see [`cpu::CpuSamples::buckets`]); `None` when this
    /// controller has no sample of it.
    pub fn cpu_history(
        &self,
        server_id: i64,
        bucket_secs: i64,
        points: usize,
    ) -> Option<Vec<CpuPoint>> {
        let cpu = self.cpu.lock().unwrap();
        let samples = cpu.get(&server_id).filter(|s| !s.is_empty())?;
        Some(samples.buckets(bucket_secs, points, now_ms() / 1000))
    }

    fn core_state(&self, server_id: i64, state: xfleet_common::methods::CoreState) {
        self.core_states.lock().unwrap().insert(server_id, state);
    }

    /// Heartbeat times received and not yet written to the database, by server.
    pub fn unflushed_heartbeats(&self) -> HashMap<i64, i64> {
        self.seen.lock().unwrap().clone()
    }

    fn take_seen(&self) -> Vec<(i64, i64)> {
        self.seen.lock().unwrap().drain().collect()
    }
}

/// Calls `method` on a server's agent wherever it is connected: over its channel when this
/// controller holds it, otherwise through the controller that does (see [`crate::cluster`]).
pub async fn call(
    ctl: &Controller,
    server_id: i64,
    method: &str,
    body: Vec<u8>,
    deadline: Duration,
) -> Result<Vec<u8>, CallError> {
    let started = Instant::now();
    let answer = match ctl.fleet.channel(server_id) {
        Ok(channel) => channel.call(method, body, deadline, None).await,
        Err(_) if ctl.cluster.is_shared() => {
            (ctl.cluster)
                .call_elsewhere(&ctl.store, server_id, method, body, deadline)
                .await
        }
        Err(offline) => Err(offline),
    };
    // Counted here, where the caller is: a call routed to the agent's controller is counted
    // once, on the controller it was made on.
    telemetry::record_call(method, &answer, started.elapsed());
    answer
}

/// [`call`] on many servers at once: the agents connected here directly, those held by
/// other controllers with one request to each holder. Every server gets its outcome.
pub async fn call_many(
    ctl: &Controller,
    servers: &[i64],
    method: &str,
    body: Vec<u8>,
    deadline: Duration,
) -> Vec<(i64, Result<Vec<u8>, CallError>)> {
    let (here, elsewhere): (Vec<i64>, Vec<i64>) = servers
        .iter()
        .partition(|&&id| ctl.fleet.is_connected(id) || !ctl.cluster.is_shared());
    let started = Instant::now();
    let local = here.iter().map(|&id| {
        let body = body.clone();
        async move {
            let answer = ctl.fleet.call(id, method, body, deadline).await;
            telemetry::record_call(method, &answer, started.elapsed());
            (id, answer)
        }
    });
    let routed = async {
        match elsewhere.is_empty() {
            true => Vec::new(),
            false => {
                (ctl.cluster)
                    .call_many_elsewhere(&ctl.store, &elsewhere, method, &body, deadline)
                    .await
            }
        }
    };
    let (mut out, routed) = tokio::join!(futures_util::future::join_all(local), routed);
    for (_, answer) in &routed {
        telemetry::record_call(method, answer, started.elapsed());
    }
    out.extend(routed);
    out
}

/// Whether [`call`] can reach the server's agent now: connected here, or held by another
/// running controller of the fleet.
pub async fn reachable(ctl: &Controller, server_id: i64) -> bool {
    if ctl.fleet.is_connected(server_id) {
        return true;
    }
    if !ctl.cluster.is_shared() {
        return false;
    }
    let since = now_ms() - crate::cluster::LEASE.as_millis() as i64;
    matches!(ctl.store.holder_of(server_id, since).await, Ok(Some((id, _))) if id != ctl.cluster.id)
}

/// [`call`] with JSON in and out, for the HTTP APIs.
pub async fn call_json(
    ctl: &Controller,
    server_id: i64,
    method: &str,
    body: &serde_json::Value,
    deadline: Duration,
) -> Result<serde_json::Value, CallError> {
    let bytes = call(
        ctl,
        server_id,
        method,
        protocol::json_to_body(body),
        deadline,
    )
    .await?;
    Ok(protocol::body_to_json(&bytes))
}

/// Tells the agents connected here when the fleet's controllers change (one started or
/// stopped), so each knows where to go when its controller stops answering; agents learn the
/// list at every connection too (`Welcome::controllers`). Runs while controllers share the
/// database.
pub async fn announce_controllers_job(ctl: Arc<Controller>) {
    if !ctl.cluster.is_shared() {
        return;
    }
    let mut told = ctl.cluster.gateways(&ctl.store).await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(crate::cluster::RENEW) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        let now = ctl.cluster.gateways(&ctl.store).await;
        if now.is_empty() || now == told {
            continue;
        }
        tracing::info!(controllers = ?now, "the fleet's controllers changed; telling the agents");
        let body = protocol::to_body(&xfleet_common::methods::Controllers {
            controllers: now.clone(),
        })
        .unwrap_or_default();
        let channels: Vec<Channel> = (ctl.fleet.live.lock().unwrap())
            .values()
            .map(|l| l.channel.clone())
            .collect();
        let method = xfleet_common::methods::agent::CONTROLLERS;
        let calls = channels.iter().map(|channel| {
            // An agent from before several controllers answers `unsupported`: it learns the
            // list at its next connection.
            channel.call(method, body.clone(), Duration::from_secs(10), None)
        });
        futures_util::future::join_all(calls).await;
        told = now;
    }
}

/// Writes heartbeat times in batches rather than one UPDATE per ping.
pub async fn flush_last_seen(ctl: &Controller) {
    let seen = ctl.fleet.take_seen();
    if let Err(e) = ctl.store.record_last_seen(&seen).await {
        tracing::warn!(error = %e, "could not record heartbeat times");
    }
}

/// Writes the minutes of CPU and memory that ended, of every server, in one batch.
pub async fn flush_samples(ctl: &Controller) {
    let ended = ctl.fleet.samples.lock().unwrap().take_ended(now_ms());
    if let Err(e) = ctl.store.record_samples(&ended).await {
        tracing::warn!(error = %e, minutes = ended.len(), "could not record CPU and memory samples");
    }
}

/// Marks a server offline at once, unless it has connected again meanwhile.
async fn mark_offline_now(ctl: &Controller, server_id: i64, reason: &str) {
    let since = now_ms();
    if ctl.fleet.is_connected(server_id) {
        return;
    }
    match (ctl.store)
        .mark_offline_unless_seen_after(server_id, reason, since, &ctl.cluster.id)
        .await
    {
        Ok(true) => tracing::info!(server_id, ?reason, "server offline"),
        Ok(false) => {}
        Err(e) => tracing::warn!(server_id, error = %e, "could not mark server offline"),
    }
}

/// Marks a server offline if it has not come back within the grace period.
pub fn schedule_offline_check(ctl: Arc<Controller>, server_id: i64, reason: String) {
    spawn_offline_check(ctl, server_id, reason, false);
}

/// After a controller restart: offline unless the agent reconnected at any point since (a
/// later disconnect has its own check with its own reason).
pub fn schedule_startup_check(ctl: Arc<Controller>, server_id: i64) {
    let reason = "agent did not reconnect after the controller restarted".to_owned();
    spawn_offline_check(ctl, server_id, reason, true);
}

fn spawn_offline_check(ctl: Arc<Controller>, server_id: i64, reason: String, startup: bool) {
    // An agent that connects again records a later `last_seen`, which keeps this check from
    // marking it offline even when the two race.
    let since = now_ms();
    tokio::spawn(async move {
        let grace = Duration::from_secs(ctl.config.offline_grace_secs);
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        let returned = startup
            && ctl
                .fleet
                .seen_since_start
                .lock()
                .unwrap()
                .contains(&server_id);
        if !returned && !ctl.fleet.is_connected(server_id) {
            match (ctl.store)
                .mark_offline_unless_seen_after(server_id, &reason, since, &ctl.cluster.id)
                .await
            {
                Ok(true) => {
                    tracing::info!(server_id, ?reason, "server offline after the grace period")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(server_id, error = %e, "could not mark server offline"),
            }
        }
    });
}
