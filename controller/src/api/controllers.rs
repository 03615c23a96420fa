//! `GET /api/v1/controllers`: the controllers of the fleet running now, which one runs the
//! periodic jobs and how many agents each holds (DESIGN §14).

use serde::Serialize;
use xfleet_common::time::now_ms;

use crate::front::{ok, ApiResult, Call};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ControllerView {
    id: String,
    hostname: String,
    gateway_url: String,
    panel_url: String,
    version: String,
    started_at: i64,
    seen_at: i64,
    /// Runs the periodic jobs (limits, resets, expiry, history, backups).
    leader: bool,
    /// The one answering this request.
    this: bool,
    /// Agents whose session it holds.
    agents: i64,
}

pub(super) async fn list(Call { ctl, .. }: Call) -> ApiResult<Vec<ControllerView>> {
    let since = now_ms() - crate::cluster::LEASE.as_millis() as i64;
    let held = ctl.store.held_counts().await?;
    let rows = ctl.store.live_controllers(since).await?;
    ok(rows
        .into_iter()
        .map(|r| ControllerView {
            agents: held.get(&r.id).copied().unwrap_or(0),
            this: r.id == ctl.cluster.id,
            leader: r.leads != 0,
            id: r.id,
            hostname: r.hostname,
            gateway_url: r.gateway_url,
            panel_url: r.panel_url,
            version: r.version,
            started_at: r.started_at,
            seen_at: r.seen_at,
        })
        .collect())
}
