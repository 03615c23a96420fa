//! The xfleet controller: the panel, the native and 3x-ui compatible APIs, subscriptions and
//! the importer for people and scripts; the agent gateway, the live fleet and the durable task
//! queue for agents; and in single-server mode the agent for this host ([`local`]).
//!
//! The modules form layers (ARCHITECTURE.md, DESIGN §11): each uses only the layers below
//! it. [`app`] composes the front ends' routers and the listeners; [`start`] runs everything
//! on the given configuration and returns the bound addresses, so tests run it in-process on
//! port 0; the `xfleet` binary is a thin wrapper around it.

pub mod api;
pub mod app;
pub mod backup;
pub mod bot;
pub mod ca;
pub mod cli;
pub mod cluster;
pub mod compat;
pub mod config;
pub mod dist;
pub mod fleet;
pub mod front;
pub mod gateway;
pub mod generate;
pub mod https;
pub mod i18n;
pub mod import;
pub mod jobs;
pub mod limit;
pub mod links;
pub mod local;
pub mod log_ring;
pub mod metrics;
pub mod model;
pub mod panel;
pub mod schedule;
pub mod store;
pub mod subscription;
pub mod tasks;
pub mod telegram;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod util;

pub use app::{run, start, Ended, RunInfo, Running, CLI_TOKEN_NAME};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ca::Ca;
use crate::config::{place, Config};
use crate::fleet::Fleet;
use crate::front::auth::LoginThrottle;
use crate::gateway::GatewayLimits;
use crate::limit::PerIpWindow;
use crate::store::Store;
use crate::tasks::TaskQueue;

/// Everything the running controller shares between its parts: the one value every handler,
/// session and job receives. [`app::start`] fills it; each field belongs to the layer named
/// beside it, which alone changes it (the others read it, from above).
pub struct Controller {
    /// Basics (`config`): the configuration this run started with.
    pub config: Config,
    /// Storage (`store`).
    pub store: Store,
    /// Trust (`ca`): signs agent certificates.
    pub ca: Ca,
    /// The live fleet (`fleet`): which agents hold a channel, their heartbeats, calls to them.
    pub fleet: Fleet,
    /// The live fleet (`fleet`): the agent rollout engine's signer and running transfers.
    pub rollouts: fleet::Rollouts,
    /// Several controllers (`cluster`): this controller's id, lease and leadership, and its
    /// calls to agents held by the others.
    pub cluster: Arc<cluster::Cluster>,
    /// Durable tasks (`tasks`): wakes each server's delivery worker.
    pub tasks: TaskQueue,
    /// Software handed out (`dist`): the agent binaries this controller carries.
    pub agents: dist::AgentCatalog,
    /// Software handed out (`dist`): turns and the shared rate of files sent to agents.
    pub transfers: dist::Transfers,
    /// The panel (`panel`): live snapshots for its listeners.
    pub events: panel::Events,
    /// Composition (`app`): the URL written into enrollment tokens.
    pub gateway_url: String,
    /// Composition (`app`): the pin of the gateway's key, as install lines give it to curl.
    pub gateway_key_pin: String,
    /// The gateway (`gateway`): connection admission and enrollment rates.
    pub gateway_limits: GatewayLimits,
    /// Shared by the front ends (`front`): login attempts per client address, whatever the
    /// name (against name spraying).
    pub login_limit: PerIpWindow,
    /// Shared by the front ends (`front`): failed logins per address and name; blocks the
    /// pair for a while (in memory).
    pub login_throttle: LoginThrottle,
    /// Shared by the front ends (`front`): verified against on unknown user names so login
    /// timing reveals nothing.
    pub dummy_hash: String,
    /// Subscriptions (`subscription`): requests per client address.
    pub sub_limit: PerIpWindow,
    /// Composition (`app`): the subscription listener, when it runs.
    pub sub_listener: Option<links::SubListener>,
    /// Composition (`app`): where the panel's TLS files came from, when it serves HTTPS
    /// (cookies get `Secure`).
    pub panel_tls: Option<https::PemFiles>,
    /// Composition (`app`): where the panel's address and base path came from.
    pub panel_place: place::PanelPlace,
    /// Composition (`app`): ends this run; with `restart` set, [`run`] starts again on the
    /// current settings.
    pub shutdown: CancellationToken,
    pub restart: AtomicBool,
    /// Composition (`app`): when this run started (epoch ms).
    pub started_at: i64,
    /// Composition (`app`): what this run listens on, by name (`panel`, `agent gateway`,
    /// `subscriptions`): the local server's inbounds keep off these ports.
    pub listeners: Vec<(&'static str, std::net::SocketAddr)>,
}

impl Controller {
    /// Ends this run and starts again (in the same process) once it has stopped, so changed
    /// panel settings (address, port, base path, TLS files) take effect.
    pub fn restart(&self) {
        self.restart.store(true, Ordering::SeqCst);
        self.shutdown.cancel();
    }

    /// [`restart`](Self::restart) in a moment, after the answer that asked for it has left.
    pub fn restart_soon(self: &Arc<Self>) {
        let later = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            later.restart();
        });
    }

    /// The cookie attribute that keeps session cookies off plain HTTP once the panel is HTTPS.
    pub fn cookie_secure(&self) -> &'static str {
        if self.panel_tls.is_some() {
            "; Secure"
        } else {
            ""
        }
    }
}
