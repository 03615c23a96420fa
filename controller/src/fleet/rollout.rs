//! The agent rollout engine: a background job that takes each running rollout wave by wave
//! (the canaries first, then batches), pushes the agent binary for each server's
//! architecture over its channel as a stream (`agent.update`), and learns the outcome from
//! the agent's next Hello: its new version (updated), or the rollback it reports.
//!
//! - The first failure or rollback pauses the rollout; an operator resumes or cancels it.
//! - A server offline when its batch comes waits [`OFFLINE_WAIT`], then is skipped (so one
//!   dead host does not hold a fleet back); it can be updated later on its own.
//! - An agent that speaks protocol 1 (no streams), or for whose architecture the controller
//!   carries no binary of the version, is skipped with the reason.
//! - Transfers take turns with core and geo files ([`Transfers`]): at most
//!   [`MAX_TRANSFERS`] at once at a shared rate, so memory and CPU stay bounded whatever the
//!   batch size (the binary itself is read once and shared).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use xfleet_common::channel::CallError;
use xfleet_common::methods::{self, AgentUpdateAnswer, AgentUpdateRequest};
use xfleet_common::protocol::{from_body, to_body, Hello, UpdateReport};
use xfleet_common::time::now_ms;

#[cfg(doc)]
use crate::dist::deliver::{Transfers, MAX_TRANSFERS};
use crate::dist::{agents::canonical_arch, UpdateSigner};
use crate::store::{RolloutRow, RolloutServerRow};
use crate::Controller;

/// How long a server offline when its batch comes is waited for before it is skipped.
pub const OFFLINE_WAIT: Duration = Duration::from_secs(600);
/// How long after it accepted an update an agent has to come back with the new version or
/// report a rollback (its own trial deadline is 60 s by default).
pub const COME_BACK_WITHIN: Duration = Duration::from_secs(300);
/// How long one transfer may take (10 MiB on a slow link).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);
const TICK: Duration = Duration::from_secs(2);
/// The shortest time between two steps, however often the engine is woken.
const MIN_STEP_GAP: Duration = Duration::from_millis(250);

/// What the engine keeps in memory: the signer and which transfers run.
pub struct Rollouts {
    signer: Result<UpdateSigner, String>,
    wake: Notify,
    running: Mutex<HashSet<(i64, i64)>>,
}

impl Rollouts {
    /// With the CA key (PEM); without a usable key every transfer fails saying why.
    pub fn new(ca_key_pem: &str) -> Self {
        Self {
            signer: UpdateSigner::from_pem(ca_key_pem).map_err(|e| e.to_string()),
            wake: Notify::new(),
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Makes the engine look at the rollouts now rather than at its next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The engine's job: runs until the controller shuts down.
pub async fn run_job(ctl: Arc<Controller>) {
    loop {
        let started = tokio::time::Instant::now();
        if let Err(e) = step(&ctl).await {
            tracing::warn!(error = %e, "agent rollouts: cannot advance");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = ctl.rollouts.wake.notified() => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        // A step reads every row of the running rollouts: the many transfers and Hellos of a
        // large wave that end together wake it once, not once each.
        tokio::select! {
            _ = tokio::time::sleep_until(started + MIN_STEP_GAP) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
    }
}

fn is_open(state: &str) -> bool {
    matches!(state, "pending" | "sending" | "waiting")
}

async fn step(ctl: &Arc<Controller>) -> Result<(), crate::store::StoreError> {
    for rollout in ctl.store.rollouts_in_state("running").await? {
        let rows = ctl.store.rollout_servers(rollout.id).await?;
        let now = now_ms();
        for row in rows.iter().filter(|r| r.state == "waiting") {
            let since = row.sent_at.unwrap_or(row.updated_at);
            if now - since > COME_BACK_WITHIN.as_millis() as i64 {
                let why = format!(
                    "the agent did not come back as {} within {} s of taking the update",
                    rollout.version,
                    COME_BACK_WITHIN.as_secs()
                );
                fail(ctl, &rollout, row, &["waiting"], "failed", &why).await?;
            }
        }
        let Some(wave) = current_wave(&rollout, &rows) else {
            if ctl
                .store
                .set_rollout_state(rollout.id, &["running"], "done", None)
                .await?
            {
                tracing::info!(rollout = rollout.id, version = %rollout.version, "agent rollout done");
            }
            continue;
        };
        for row in wave.into_iter().filter(|r| r.state == "pending") {
            if row.reached_at.is_none() {
                ctl.store
                    .mark_rollout_reached(rollout.id, row.server_id)
                    .await?;
            }
            if !ctl.fleet.is_connected(row.server_id) {
                // Every controller steps the rollouts; the one holding the agent sends.
                if super::reachable(ctl, row.server_id).await {
                    continue;
                }
                let reached = row.reached_at.unwrap_or(now);
                if now - reached > OFFLINE_WAIT.as_millis() as i64 {
                    let why = format!(
                        "offline for {} min after its batch came; update it on its own later",
                        OFFLINE_WAIT.as_secs() / 60
                    );
                    ctl.store
                        .set_rollout_server_state(
                            rollout.id,
                            row.server_id,
                            &["pending"],
                            "skipped",
                            Some(&why),
                        )
                        .await?;
                }
                continue;
            }
            let key = (rollout.id, row.server_id);
            if !ctl.rollouts.running.lock().unwrap().insert(key) {
                continue;
            }
            let (ctl, rollout) = (ctl.clone(), rollout.clone());
            tokio::spawn(async move {
                transfer(&ctl, &rollout, &row).await;
                ctl.rollouts.running.lock().unwrap().remove(&key);
                ctl.rollouts.wake();
            });
        }
    }
    Ok(())
}

/// The rows of the first wave that still has an open row: the first `canary` rows, then
/// `batch_size` at a time.
fn current_wave(rollout: &RolloutRow, rows: &[RolloutServerRow]) -> Option<Vec<RolloutServerRow>> {
    let canary = rollout.canary.max(0) as usize;
    let batch = rollout.batch_size.max(1) as usize;
    let mut start = 0;
    while start < rows.len() {
        let size = if start == 0 && canary > 0 {
            canary
        } else {
            batch
        };
        let wave = &rows[start..(start + size).min(rows.len())];
        if wave.iter().any(|r| is_open(&r.state)) {
            return Some(wave.to_vec());
        }
        start += size;
    }
    None
}

/// How one push ended, before the agent comes back.
enum Sent {
    Accepted(AgentUpdateAnswer),
    /// Not for this server; the rollout goes on.
    Skip(String),
    Fail(String),
    /// The channel went away; tried again when the server is back.
    Offline,
}

async fn transfer(ctl: &Arc<Controller>, rollout: &RolloutRow, row: &RolloutServerRow) {
    let _turn = ctl.transfers.turn().await;
    let store = &ctl.store;
    let (id, server) = (rollout.id, row.server_id);
    // Paused or cancelled while this transfer waited for its turn.
    if !matches!(store.rollout(id).await.map(|r| r.state), Ok(s) if s == "running") {
        return;
    }
    match store
        .set_rollout_server_state(id, server, &["pending"], "sending", None)
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(rollout = id, server, error = %e, "cannot start a transfer");
            return;
        }
    }
    let outcome = send(ctl, &rollout.version, server).await;
    let result = match outcome {
        Sent::Accepted(answer) => {
            let note = format!(
                "the agent took {} and restarts into it (rolls back by itself if it does not \
                 reconnect within {} s)",
                answer.version,
                answer.trial_ms / 1000
            );
            store
                .set_rollout_server_state(id, server, &["sending"], "waiting", Some(&note))
                .await
                .map(|_| ())
        }
        Sent::Skip(why) => store
            .set_rollout_server_state(id, server, &["sending"], "skipped", Some(&why))
            .await
            .map(|_| ()),
        Sent::Fail(why) => fail(ctl, rollout, row, &["sending"], "failed", &why).await,
        Sent::Offline => store
            .set_rollout_server_state(id, server, &["sending"], "pending", None)
            .await
            .map(|_| ()),
    };
    if let Err(e) = result {
        tracing::warn!(rollout = id, server, error = %e, "cannot record a transfer");
    }
}

/// Pushes the binary of `version` for the server's architecture.
async fn send(ctl: &Controller, version: &str, server_id: i64) -> Sent {
    let Ok(channel) = ctl.fleet.channel(server_id) else {
        return Sent::Offline;
    };
    if channel.protocol_version() < 2 {
        return Sent::Skip(
            "the agent speaks protocol 1, which cannot carry a binary; update it by hand".into(),
        );
    }
    let server = match ctl.store.server(server_id).await {
        Ok(s) => s,
        Err(e) => return Sent::Fail(e.to_string()),
    };
    if server.is_local != 0 {
        return Sent::Skip("the controller's built-in agent is updated with the controller".into());
    }
    let reported = server
        .os_info
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .and_then(|o| o["arch"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let Some(arch) = canonical_arch(&reported) else {
        return Sent::Skip(format!(
            "no agent binaries for the architecture `{reported}` the agent reports"
        ));
    };
    let Some(binary) = ctl.agents.get(version, arch) else {
        return Sent::Skip(format!(
            "the controller carries no {version} agent for {arch}"
        ));
    };
    let bytes = match ctl.agents.bytes(binary) {
        Ok(b) => b,
        Err(e) => return Sent::Fail(e.to_string()),
    };
    let signer = match &ctl.rollouts.signer {
        Ok(s) => s,
        Err(e) => return Sent::Fail(e.clone()),
    };
    let signature = match signer.sign(&binary.sha256, version, arch) {
        Ok(s) => s,
        Err(e) => return Sent::Fail(e.to_string()),
    };
    let request = AgentUpdateRequest {
        version: version.into(),
        arch: arch.into(),
        sha256: binary.sha256.clone(),
        signature,
    };
    let Ok(body) = to_body(&request) else {
        return Sent::Fail("cannot encode the update request".into());
    };
    tracing::info!(server_id, %version, arch, bytes = bytes.len(), "pushing an agent update");
    let started = std::time::Instant::now();
    let sent = (ctl.transfers)
        .send(
            &channel,
            methods::agent::UPDATE,
            body,
            bytes,
            TRANSFER_TIMEOUT,
            None,
        )
        .await;
    crate::telemetry::record_call(methods::agent::UPDATE, &sent, started.elapsed());
    match sent {
        Ok(answer) => match from_body(&answer) {
            Ok(answer) => Sent::Accepted(answer),
            Err(e) => Sent::Fail(format!("the agent's answer: {}", e.message)),
        },
        Err(CallError::Unsupported(m)) => Sent::Skip(format!(
            "the agent cannot take updates over the channel ({m}); update it by hand"
        )),
        Err(CallError::Offline(_)) => Sent::Offline,
        Err(e) => Sent::Fail(format!("the agent refused the update: {}", e.message())),
    }
}

/// Marks a server's row `to` (failed or rolled back) and pauses the rollout with the reason.
async fn fail(
    ctl: &Controller,
    rollout: &RolloutRow,
    row: &RolloutServerRow,
    from: &[&str],
    to: &str,
    why: &str,
) -> Result<(), crate::store::StoreError> {
    let store = &ctl.store;
    if !store
        .set_rollout_server_state(rollout.id, row.server_id, from, to, Some(why))
        .await?
    {
        return Ok(());
    }
    let name = if row.server_name.is_empty() {
        format!("server {}", row.server_id)
    } else {
        row.server_name.clone()
    };
    let pause = format!("{name}: {why}");
    if store
        .set_rollout_state(rollout.id, &["running"], "paused", Some(&pause))
        .await?
    {
        tracing::warn!(rollout = rollout.id, reason = %pause, "agent rollout paused");
    }
    let details =
        json!({"rollout": rollout.id, "version": rollout.version, "state": to, "message": why});
    store
        .audit(
            "controller",
            "agent.update",
            &format!("server:{}", row.server_id),
            &details,
            "",
            to,
        )
        .await
}

/// A Hello from `server_id`: settles what its rows in open rollouts waited for.
pub async fn on_hello(ctl: &Controller, server_id: i64, hello: &Hello) {
    if let Err(e) = settle(ctl, server_id, hello).await {
        tracing::warn!(server_id, error = %e, "cannot record the agent update outcome");
    }
}

async fn settle(
    ctl: &Controller,
    server_id: i64,
    hello: &Hello,
) -> Result<(), crate::store::StoreError> {
    let report = hello.update.as_deref();
    if let Some(r) = report.filter(|r| r.outcome == UpdateReport::ROLLED_BACK) {
        tracing::warn!(server_id, version = %r.version, message = %r.message, "agent update rolled back");
    }
    for awaited in ctl.store.awaited_updates(server_id).await? {
        // Either: the Hello of the new agent can overtake the answer to the push.
        let from = ["sending", "waiting"];
        let rolled_back = report
            .filter(|r| r.outcome == UpdateReport::ROLLED_BACK && r.version == awaited.version);
        if let Some(report) = rolled_back {
            let rollout = ctl.store.rollout(awaited.rollout_id).await?;
            let rows = ctl.store.rollout_servers(awaited.rollout_id).await?;
            if let Some(row) = rows.iter().find(|r| r.server_id == server_id) {
                let why = crate::util::clip(&report.message, 1000);
                fail(ctl, &rollout, row, &from, "rolled_back", &why).await?;
            }
        } else if hello.agent_version == awaited.version {
            let note = format!("reconnected as {}", awaited.version);
            if ctl
                .store
                .set_rollout_server_state(
                    awaited.rollout_id,
                    server_id,
                    &from,
                    "updated",
                    Some(&note),
                )
                .await?
            {
                tracing::info!(server_id, version = %awaited.version, "agent updated");
                ctl.rollouts.wake();
            }
        }
    }
    Ok(())
}
