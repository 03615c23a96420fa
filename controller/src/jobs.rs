//! Periodic work on the fleet model (DESIGN §6 jobs): limits are enforced fleet-wide — a
//! client over its quota (summed over every server) or past its expiry is disabled on every
//! server at once — delayed-start expiries begin at first traffic, and hourly traffic history
//! older than `history_days` is pruned.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use xfleet_common::time::now_ms;

use crate::fleet::desired;
use crate::store::{hour_start, StoreError, HOUR_MS};
use crate::Controller;

pub async fn limits_job(ctl: Arc<Controller>) {
    let every = Duration::from_secs(ctl.config.limits_check_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        if let Err(e) = enforce_limits(&ctl).await {
            tracing::warn!(error = %e, "limit enforcement failed; will retry");
        }
    }
}

/// One round; returns the servers whose state changed.
pub async fn enforce_limits(ctl: &Controller) -> Result<BTreeSet<i64>, StoreError> {
    let now = now_ms();
    let mut servers = BTreeSet::new();
    for id in ctl.store.start_delayed_expiry(now).await? {
        servers.extend(ctl.store.servers_of_client(id).await?);
    }
    for (id, email) in ctl.store.depleted_clients(now).await? {
        tracing::info!(%email, "client over quota or expired: disabling it on every server");
        ctl.store.set_client_enable(id, false).await?;
        let _ = ctl
            .store
            .audit(
                "controller",
                "client.disable",
                &format!("client:{email}"),
                &serde_json::json!({"reason": "depleted"}),
                "",
                "ok",
            )
            .await;
        servers.extend(ctl.store.servers_of_client(id).await?);
    }
    for server in &servers {
        desired::push(ctl, *server, "controller").await?;
    }
    Ok(servers)
}

/// How often old history is looked for; history is kept in hours, so more often gains nothing.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn history_job(ctl: Arc<Controller>) {
    loop {
        match prune_history(&ctl, now_ms()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned old traffic history"),
            Err(e) => tracing::warn!(error = %e, "pruning traffic history failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
    }
}

/// Deletes the hours that ended more than `history_days` before `now`; returns rows deleted.
pub async fn prune_history(ctl: &Controller, now: i64) -> Result<u64, StoreError> {
    let days = ctl.config.history_days;
    if days == 0 {
        return Ok(0);
    }
    let keep_hours = i64::try_from(days.saturating_mul(24)).unwrap_or(i64::MAX);
    let before = hour_start(now).saturating_sub(keep_hours.saturating_mul(HOUR_MS));
    ctl.store.prune_history(before).await
}
