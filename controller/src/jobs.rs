//! Periodic work on the fleet model (DESIGN §6 jobs): limits are enforced fleet-wide — a
//! client over its quota (summed over every server) or past its expiry is disabled on every
//! server at once — and delayed-start expiries begin at first traffic.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use xfleet_common::time::now_ms;

use crate::fleet::desired;
use crate::store::StoreError;
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
