//! Single-server mode (DESIGN §8): the agent library runs inside the controller and serves
//! this host as the "Local server". It connects over an in-memory channel with the same frames
//! a remote agent sends over its WebSocket, and the controller serves that channel with the
//! same session code, so desired state, tasks, traffic, core events and calls work as they do
//! for any server. It needs no enrollment and has no certificate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use xfleet_agent::config::{AgentConfig, CoreConfig, ReconnectConfig};
use xfleet_agent::Link;
use xfleet_common::channel::{memory_pair, MemoryTransport};

use crate::config::Config;
use crate::fleet::{refuse_with, run_session};
use crate::store::{Store, StoreError};
use crate::Controller;

/// Name of the local server's row when it is created.
pub const NAME: &str = "Local server";
/// The address the panel shows for the local server's connection.
const REMOTE: &str = "local";
/// Frames queued in each direction, like the agent's WebSocket send queue.
const PIPE: usize = 64;
/// How long a refused local agent waits before it tries again (its server was disabled).
const REFUSED_RETRY: Duration = Duration::from_secs(15);

/// At start with single-server mode on: the local server's id, creating its row first if
/// there is none (id 1 on a fresh database, the next id otherwise; nothing is renumbered).
pub async fn ensure_server(store: &Store) -> anyhow::Result<i64> {
    if let Some(row) = store.local_server().await? {
        return Ok(row.id);
    }
    let others = store.list_servers().await?.len();
    let row = store.create_local_server(NAME).await?;
    if others > 0 {
        tracing::info!(
            id = row.id,
            others,
            "created the local server after the servers this controller already manages"
        );
    } else {
        tracing::info!(id = row.id, "created the local server");
    }
    Ok(row.id)
}

/// At start with single-server mode off: a local server from an earlier run stays listed,
/// offline, with the reason.
pub async fn mark_off(store: &Store) -> anyhow::Result<()> {
    if let Some(row) = store.local_server().await? {
        store
            .mark_offline(row.id, "single-server mode is off (local_server = false)")
            .await?;
    }
    Ok(())
}

/// The embedded agent's settings: its data under `<data_dir>/local-agent`, and quick
/// reconnects (there is no crowd of agents to spread out in-process).
pub fn agent_config(config: &Config, server_id: i64) -> AgentConfig {
    let dir = config.data_dir.join("local-agent");
    let binary =
        (!config.local_core_path.is_empty()).then(|| PathBuf::from(&config.local_core_path));
    AgentConfig {
        controller_url: "in-process".into(),
        server_id,
        data_dir: dir.clone(),
        config_dir: dir,
        reconnect: ReconnectConfig {
            base_ms: 200,
            cap_ms: 5_000,
            healthy_after_ms: 10_000,
        },
        core: CoreConfig {
            binary,
            assets_dir: None,
        },
        log: config.log.clone(),
        ..AgentConfig::default()
    }
}

/// Runs the embedded agent until the controller shuts down. On the way out it does what the
/// agent does when it stops: the core is stopped; after a crash of the controller the core
/// keeps serving and is adopted by the next start.
pub async fn run(ctl: Arc<Controller>, server_id: i64) {
    let config = agent_config(&ctl.config, server_id);
    let link = {
        let ctl = ctl.clone();
        Link::Local(Arc::new(move || {
            let (ours, theirs) = memory_pair(PIPE);
            tokio::spawn(accept(ctl.clone(), server_id, ours));
            theirs
        }))
    };
    if let Err(e) = xfleet_agent::run_over(config, link, ctl.shutdown.clone()).await {
        tracing::error!(server_id, error = %e, "the local server's agent cannot run");
    }
}

/// The controller's end of one local connection: what the gateway checks before it admits a
/// remote agent (the server exists and is enabled), then the common session.
async fn accept(ctl: Arc<Controller>, server_id: i64, (sink, mut stream): MemoryTransport) {
    let refusal = match ctl.store.server(server_id).await {
        Ok(row) if row.enabled != 0 => None,
        Ok(_) => Some("this server is disabled".to_owned()),
        Err(StoreError::NotFound(_)) => Some("this server has been removed".to_owned()),
        Err(e) => Some(format!("cannot read the server: {e}")),
    };
    match refusal {
        None => run_session(ctl, server_id, sink, stream, REMOTE.into()).await,
        Some(reason) => {
            // Take the Hello first, so the refusal is what the agent reads next (not a
            // closed pipe under its Hello).
            let _ = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
            refuse_with(sink, server_id, &reason, REFUSED_RETRY).await;
        }
    }
}
