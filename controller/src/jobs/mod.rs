//! Periodic work on the fleet model (DESIGN §6 jobs), one round every `limits_check_secs`,
//! in the order 3x-ui's traffic job uses: delayed-start expiries begin at first traffic,
//! periodic traffic resets fall due, renewing clients renew (before anything is cut, so a
//! renewing client is never cut), depleted clients are disabled fleet-wide — over quota
//! (summed over every server) or past expiry — then depleted inbounds on their server, and
//! IP limits are brought up to date. Every affected server gets its new state once. Apart from
//! the round, hourly traffic history older than `history_days` is pruned.

pub mod backups;
pub mod ip_limit;
pub mod periods;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use xfleet_common::time::now_ms;

use crate::fleet::desired;
use crate::store::limits::IP_LIVE_MS;
use crate::store::{hour_start, StoreError, HOUR_MS, SAMPLES_KEPT_HOURS};
use crate::Controller;
use periods::{Period, Zone};

pub async fn limits_job(ctl: Arc<Controller>) {
    let every = Duration::from_secs(ctl.config.limits_check_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        if !ctl.cluster.is_leader() {
            continue;
        }
        if let Err(e) = enforce_limits(&ctl).await {
            tracing::warn!(error = %e, "limit enforcement failed; will retry");
        }
    }
}

/// One round now; returns the servers whose state changed.
pub async fn enforce_limits(ctl: &Controller) -> Result<BTreeSet<i64>, StoreError> {
    Ok(run_round(ctl, now_ms()).await?.servers)
}

/// What one round changed.
#[derive(Debug, Default)]
pub struct Round {
    /// Servers whose new state was queued.
    pub servers: BTreeSet<i64>,
    /// Inbounds whose period ended, by id.
    pub reset_inbounds: Vec<i64>,
    /// Clients renewed, by email.
    pub renewed: Vec<String>,
    pub disabled_clients: Vec<String>,
    /// Inbounds switched off, by id.
    pub disabled_inbounds: Vec<i64>,
    /// Clients whose refused addresses changed.
    pub refusals_changed: Vec<String>,
}

/// One round as of `now` (epoch ms).
pub async fn run_round(ctl: &Controller, now: i64) -> Result<Round, StoreError> {
    let mut round = Round::default();
    for id in ctl.store.start_delayed_expiry(now).await? {
        round.servers.extend(ctl.store.servers_of_client(id).await?);
    }
    periodic_resets(ctl, now, &mut round).await?;
    for renewed in ctl.store.renew_clients(now).await? {
        tracing::info!(email = %renewed.email, "client renewed for another period");
        audit(
            ctl,
            "client.renew",
            &format!("client:{}", renewed.email),
            json!({"expiryTime": renewed.expiry_time}),
        )
        .await;
        round
            .servers
            .extend(ctl.store.servers_of_client(renewed.id).await?);
        round.renewed.push(renewed.email);
    }
    for client in ctl.store.depleted_clients(now).await? {
        if !ctl
            .store
            .disable_client(client.id, &client.reason, now)
            .await?
        {
            continue;
        }
        tracing::info!(email = %client.name, reason = %client.reason, "disabling a client on every server");
        audit(
            ctl,
            "client.disable",
            &format!("client:{}", client.name),
            json!({"reason": client.reason}),
        )
        .await;
        round
            .servers
            .extend(ctl.store.servers_of_client(client.id).await?);
        round.disabled_clients.push(client.name);
    }
    for inbound in ctl.store.depleted_inbounds(now).await? {
        if !ctl
            .store
            .disable_inbound(inbound.id, &inbound.reason, now)
            .await?
        {
            continue;
        }
        tracing::info!(tag = %inbound.name, server_id = inbound.server_id, reason = %inbound.reason, "disabling an inbound");
        audit(
            ctl,
            "inbound.disable",
            &format!("inbound:{}", inbound.id),
            json!({"reason": inbound.reason, "tag": inbound.name, "serverId": inbound.server_id}),
        )
        .await;
        round.servers.insert(inbound.server_id);
        round.disabled_inbounds.push(inbound.id);
    }
    ip_limits(ctl, now, &mut round).await?;
    for server in &round.servers {
        desired::push(ctl, *server, "controller").await?;
    }
    Ok(round)
}

async fn periodic_resets(ctl: &Controller, now: i64, round: &mut Round) -> Result<(), StoreError> {
    let inbounds = ctl.store.periodic_inbounds().await?;
    if inbounds.is_empty() {
        return Ok(());
    }
    let zone = reset_zone(ctl).await?;
    for inbound in inbounds {
        let Some(period) = Period::parse(&inbound.traffic_reset) else {
            continue;
        };
        if !periods::due(
            period,
            &zone,
            inbound.last_traffic_reset_time,
            inbound.created_at,
            now,
        ) {
            continue;
        }
        let Some(clients) = ctl
            .store
            .reset_inbound_period(inbound.id, inbound.last_traffic_reset_time, now)
            .await?
        else {
            continue;
        };
        tracing::info!(tag = %inbound.tag, server_id = inbound.server_id, period = period.name(), "periodic traffic reset");
        audit(
            ctl,
            "inbound.traffic_reset",
            &format!("inbound:{}", inbound.id),
            json!({"period": period.name(), "clients": clients.len()}),
        )
        .await;
        round.servers.insert(inbound.server_id);
        for client in clients {
            round
                .servers
                .extend(ctl.store.servers_of_client(client).await?);
        }
        round.reset_inbounds.push(inbound.id);
    }
    Ok(())
}

/// The zone of the `timeLocation` setting; UTC (with a warning, once per bad value) when it
/// cannot be resolved.
async fn reset_zone(ctl: &Controller) -> Result<Zone, StoreError> {
    static WARNED: Mutex<Option<String>> = Mutex::new(None);
    let setting = ctl.store.setting(periods::TIME_LOCATION).await?;
    Ok(match Zone::from_setting(setting.as_deref()) {
        Ok(zone) => zone,
        Err(e) => {
            let mut warned = WARNED.lock().unwrap();
            if warned.as_deref() != setting.as_deref() {
                tracing::warn!(error = %e, "traffic reset boundaries fall back to UTC");
                *warned = setting;
            }
            Zone::utc()
        }
    })
}

async fn ip_limits(ctl: &Controller, now: i64, round: &mut Round) -> Result<(), StoreError> {
    let live = ctl.store.live_limited_ips(now - IP_LIVE_MS).await?;
    let wanted = ip_limit::refusals(&live);
    let current = ctl.store.ip_refusals().await?;
    let emails: BTreeSet<&String> = wanted.keys().chain(current.keys()).collect();
    let empty = BTreeSet::new();
    for email in emails {
        let want = wanted.get(email).unwrap_or(&empty);
        let have = current.get(email).unwrap_or(&empty);
        if want == have {
            continue;
        }
        ctl.store.set_ip_refusals(email, want, now).await?;
        for ip in want.difference(have) {
            tracing::info!(%email, ?ip, "address refused: the client's IP limit is full");
            audit(
                ctl,
                "client.ip_refused",
                &format!("client:{email}"),
                json!({"ip": ip}),
            )
            .await;
        }
        for ip in have.difference(want) {
            audit(
                ctl,
                "client.ip_allowed",
                &format!("client:{email}"),
                json!({"ip": ip}),
            )
            .await;
        }
        if let Ok(client) = ctl.store.client_by_email(email).await {
            round
                .servers
                .extend(ctl.store.servers_of_client(client.id).await?);
        }
        round.refusals_changed.push(email.clone());
    }
    Ok(())
}

async fn audit(ctl: &Controller, action: &str, target: &str, details: serde_json::Value) {
    if let Err(e) = ctl
        .store
        .audit("controller", action, target, &details, "", "ok")
        .await
    {
        tracing::warn!(error = %e, action, "cannot write the audit log");
    }
}

/// How often old history is looked for; history is kept in hours, so more often gains nothing.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn history_job(ctl: Arc<Controller>) {
    loop {
        // Every few seconds until this controller leads, then once per period.
        if !ctl.cluster.is_leader() {
            tokio::select! {
                _ = tokio::time::sleep(crate::cluster::RENEW) => continue,
                _ = ctl.shutdown.cancelled() => return,
            }
        }
        match prune_history(&ctl, now_ms()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned old traffic history"),
            Err(e) => tracing::warn!(error = %e, "pruning traffic history failed; will retry"),
        }
        let before = now_ms() - SAMPLES_KEPT_HOURS * HOUR_MS;
        match ctl.store.prune_samples(before).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned old CPU and memory samples"),
            Err(e) => {
                tracing::warn!(error = %e, "pruning CPU and memory samples failed; will retry")
            }
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
