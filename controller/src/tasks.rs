//! The durable per-server task queue (DESIGN §4). A task is a row first; a worker per
//! connected server delivers its tasks one at a time in creation order, with the task id as
//! the idempotency key, so a task redelivered after a lost answer is answered from the
//! agent's result cache rather than run again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use xfleet_common::channel::{CallError, Channel};
use xfleet_common::methods::default_deadline;
use xfleet_common::protocol::{body_to_json, json_to_body};
use xfleet_common::state::InboundFailure;
use xfleet_common::time::now_ms;

use crate::store::{StoreError, TaskRow, TaskStatus};
use crate::Controller;

/// Longest wait between retries of a transiently failing task.
const MAX_RETRY_DELAY_MS: i64 = 60_000;

#[derive(Default)]
pub struct TaskQueue {
    wake: Mutex<HashMap<i64, Arc<Notify>>>,
    last_seq: AtomicI64,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub server_id: i64,
    pub operation: String,
    pub request: serde_json::Value,
    pub ttl: Duration,
    pub created_by: String,
}

impl TaskQueue {
    /// Continues the creation order after a restart.
    pub fn resume_after(&self, highest_seq: i64) {
        self.last_seq.fetch_max(highest_seq, Ordering::SeqCst);
    }

    /// Stores a task and wakes its server's worker, if the server is connected.
    pub async fn enqueue(&self, ctl: &Controller, new: NewTask) -> Result<TaskRow, StoreError> {
        let now = now_ms();
        // Strictly increasing even for tasks created in the same microsecond.
        let seq = {
            let candidate = now * 1000;
            let prev = self
                .last_seq
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                    Some(candidate.max(last + 1))
                })
                .expect("closure never fails");
            candidate.max(prev + 1)
        };
        let task = TaskRow {
            id: uuid::Uuid::new_v4().to_string(),
            server_id: new.server_id,
            operation: new.operation,
            status: TaskStatus::Pending.as_str().into(),
            request: new.request.to_string(),
            response: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            not_before: now,
            expires_at: now + new.ttl.as_millis() as i64,
            created_by: new.created_by,
            created_at: now,
            seq,
            started_at: None,
            completed_at: None,
            updated_at: now,
        };
        ctl.store.insert_task(&task).await?;
        self.notify(task.server_id);
        if ctl.cluster.is_shared() {
            // The agent may be held by another controller, whose worker this wakes.
            if let Err(e) = ctl.store.announce_task(task.server_id).await {
                tracing::warn!(server_id = task.server_id, error = %e, "cannot announce a task to the other controllers; it is delivered at their next look");
            }
        }
        Ok(task)
    }

    pub fn notify(&self, server_id: i64) {
        self.waker(server_id).notify_one();
    }

    fn waker(&self, server_id: i64) -> Arc<Notify> {
        self.wake
            .lock()
            .unwrap()
            .entry(server_id)
            .or_default()
            .clone()
    }

    /// Delivers the server's queue over `channel` until the channel closes.
    pub fn start_worker(&self, ctl: Arc<Controller>, server_id: i64, channel: Channel) {
        let wake = self.waker(server_id);
        tokio::spawn(async move {
            // A database error (SQLite busy, a PostgreSQL failover) pauses delivery; it never
            // ends it while the agent is connected.
            let mut pause = Duration::from_millis(100);
            while let Err(e) = deliver(&ctl, server_id, &channel, &wake).await {
                if channel.is_closed() {
                    return;
                }
                tracing::warn!(server_id, error = %e, "task delivery paused by a database error");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = channel.closed() => return,
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
    }
}

async fn deliver(
    ctl: &Controller,
    server_id: i64,
    channel: &Channel,
    wake: &Notify,
) -> Result<(), StoreError> {
    loop {
        if channel.is_closed() {
            return Ok(());
        }
        let now = now_ms();
        let wait = match ctl.store.next_open_task(server_id).await? {
            None => Duration::from_secs(30),
            Some(task) if task.expires_at <= now => {
                ctl.store.expire_tasks().await?;
                continue;
            }
            // Still running on a connection that is going away: its worker puts it back.
            Some(task) if task.status == "running" => Duration::from_millis(200),
            Some(task) if task.not_before > now => {
                Duration::from_millis((task.not_before - now) as u64)
            }
            Some(task) => {
                if ctl.store.start_task(&task.id).await? {
                    let id = task.id.clone();
                    if let Err(e) = run_one(ctl, channel, task).await {
                        // Its outcome was not recorded: it goes back to the queue. Its id is
                        // the idempotency key, so the agent answers it again from its result
                        // cache instead of running it twice.
                        requeue(ctl, channel, &id, &e.to_string()).await;
                        return Err(e);
                    }
                }
                continue;
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = channel.closed() => return Ok(()),
        }
    }
}

/// Puts a task whose outcome could not be recorded back in the queue, trying until the
/// database takes it or the connection closes (the next connection puts it back then).
async fn requeue(ctl: &Controller, channel: &Channel, id: &str, why: &str) {
    let mut pause = Duration::from_millis(100);
    while let Err(e) = ctl
        .store
        .retry_task(id, now_ms() + 1000, "internal", why)
        .await
    {
        tracing::warn!(task = %id, error = %e, "cannot put the task back yet");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = channel.closed() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn run_one(ctl: &Controller, channel: &Channel, task: TaskRow) -> Result<(), StoreError> {
    let request: serde_json::Value = serde_json::from_str(&task.request).unwrap_or_default();
    let deadline = default_deadline(&task.operation, &request);
    // Core releases and geo files go from the controller with the call (protocol 2).
    let key = Some(task.id.clone());
    let started = std::time::Instant::now();
    let delivered = crate::dist::deliver(
        ctl,
        channel,
        task.server_id,
        &task.operation,
        &request,
        deadline,
        key.clone(),
    )
    .await;
    let outcome = match delivered {
        Some(outcome) => outcome,
        None => {
            channel
                .call(&task.operation, json_to_body(&request), deadline, key)
                .await
        }
    };
    crate::telemetry::record_call(&task.operation, &outcome, started.elapsed());
    match outcome {
        Ok(bytes) => {
            let response = body_to_json(&bytes);
            if task.operation == xfleet_common::state::method::APPLY {
                if let Some(revision) = response["revision"].as_i64() {
                    ctl.store
                        .set_applied_revision(task.server_id, revision)
                        .await?;
                    // The inbounds the core runs without, in its own words (none from an
                    // agent that applies a state whole or not at all).
                    let failed: Vec<InboundFailure> =
                        serde_json::from_value(response["failed"].clone()).unwrap_or_default();
                    ctl.store
                        .record_inbound_failures(task.server_id, revision, &failed)
                        .await?;
                    ctl.store.set_apply_error(task.server_id, None).await?;
                }
            }
            ctl.store
                .complete_task(&task.id, &response.to_string())
                .await?;
            tracing::debug!(task = %task.id, op = %task.operation, "task completed");
        }
        Err(CallError::Offline(message)) => {
            // The connection went away mid-task; deliver again on the next one.
            ctl.store
                .retry_task(&task.id, now_ms(), "offline", &message)
                .await?;
        }
        Err(e) if e.is_transient() => {
            let delay = (1000i64 << task.attempts.clamp(0, 6)).min(MAX_RETRY_DELAY_MS);
            let delay = delay / 2 + rand::random_range(0..=delay / 2);
            ctl.store
                .retry_task(&task.id, now_ms() + delay, e.code(), &e.message())
                .await?;
        }
        Err(e) => {
            // The row keeps the code and the message apart; whoever shows them joins them once.
            ctl.store
                .fail_task(&task.id, e.code(), &e.message())
                .await?;
            if task.operation == xfleet_common::state::method::APPLY {
                let revision = &request["full"]["revision"];
                let refused = format!("revision {revision} was refused: {e}");
                ctl.store
                    .set_apply_error(task.server_id, Some(&refused))
                    .await?;
            }
            tracing::info!(task = %task.id, op = %task.operation, error = ?e.to_string(), "task failed");
        }
    }
    Ok(())
}

/// Expires tasks that waited too long, every few seconds until shutdown.
pub async fn expiry_job(ctl: Arc<Controller>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        if !ctl.cluster.is_leader() {
            continue;
        }
        match ctl.store.expire_tasks().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "tasks expired before delivery"),
            Err(e) => tracing::warn!(error = %e, "task expiry failed"),
        }
    }
}
