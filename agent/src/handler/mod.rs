//! The agent's answers to the controller's calls.

mod core;
mod listening;
mod maintenance;
mod system;
pub mod tasks;
mod update;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use xfleet_common::channel::{reply, Handler, IncomingCall, IncomingStream};
use xfleet_common::methods::{self, AgentInfo, Sleep};
use xfleet_common::protocol::{code, from_body, ErrorBody, GoAway};
use xfleet_common::state::ApplyState;
use xfleet_common::time::now_ms;

pub use listening::listening_sockets;
pub use system::{public_addresses, HostInfo, SystemProbe};
pub use tasks::TaskCache;

use crate::config::MaintenanceConfig;
use crate::core::Core;
use crate::state::CoreRuntime;
use crate::update::Updates;

/// Answers `agent.info`, `system.stats`, `echo`, `sleep` and `core.*`, runs durable tasks
/// through the result cache, and remembers a `GoAway` for the reconnect loop. One per process,
/// shared by every connection it makes.
pub struct AgentHandler {
    host: HostInfo,
    core: Core,
    probe: Arc<SystemProbe>,
    tasks: TaskCache,
    started: Instant,
    started_at_ms: i64,
    go_away: Mutex<Option<GoAway>>,
    /// Desired state and traffic, when a core was found.
    runtime: Option<Arc<CoreRuntime>>,
    maintenance: MaintenanceConfig,
    /// Self-updates, for an agent that dials a remote controller (the controller's built-in
    /// agent is updated with the controller).
    updates: Option<Arc<Updates>>,
    /// The controllers' gateway addresses as they last told them ([`methods::agent::CONTROLLERS`]).
    controllers: tokio::sync::watch::Sender<Vec<String>>,
}

impl AgentHandler {
    /// Opens the task cache under `<data_dir>/tasks`.
    pub fn new(data_dir: &Path, core: Core) -> std::io::Result<Self> {
        Ok(Self {
            host: HostInfo::detect(),
            core,
            probe: Arc::new(SystemProbe::new()),
            tasks: TaskCache::open(data_dir.join("tasks"))?,
            started: Instant::now(),
            started_at_ms: now_ms(),
            go_away: Mutex::new(None),
            runtime: None,
            maintenance: MaintenanceConfig::default(),
            updates: None,
            controllers: tokio::sync::watch::Sender::new(Vec::new()),
        })
    }

    /// Follows the controllers' addresses they tell this agent while it is connected.
    pub fn controllers_told(&self) -> tokio::sync::watch::Receiver<Vec<String>> {
        self.controllers.subscribe()
    }

    /// Where `core.install` and `geo.update` download from.
    pub fn with_maintenance(mut self, maintenance: MaintenanceConfig) -> Self {
        self.maintenance = maintenance;
        self
    }

    /// Lets this handler take agent updates.
    pub fn with_updates(mut self, updates: Option<Arc<Updates>>) -> Self {
        self.updates = updates;
        self
    }

    pub fn updates(&self) -> Option<&Arc<Updates>> {
        self.updates.as_ref()
    }

    /// Lets this handler apply desired states and receive traffic acknowledgements.
    pub fn with_runtime(mut self, runtime: Option<Arc<CoreRuntime>>) -> Self {
        self.runtime = runtime;
        self
    }

    pub fn runtime(&self) -> Option<&Arc<CoreRuntime>> {
        self.runtime.as_ref()
    }

    fn supervisor_or_why(&self) -> Result<&crate::core::Supervisor, ErrorBody> {
        match &self.core {
            Core::Found(supervisor) => Ok(supervisor),
            Core::Missing(why) => Err(ErrorBody::new(code::CORE_UNAVAILABLE, why.clone())),
        }
    }

    fn runtime_or_why(&self) -> Result<&Arc<CoreRuntime>, ErrorBody> {
        self.runtime.as_ref().ok_or_else(|| {
            let why = match &self.core {
                Core::Missing(why) => why.clone(),
                Core::Found(_) => "the core runtime did not start; see the agent log".into(),
            };
            ErrorBody::new(code::CORE_UNAVAILABLE, why)
        })
    }

    pub fn host(&self) -> &HostInfo {
        &self.host
    }

    pub fn probe(&self) -> &Arc<SystemProbe> {
        &self.probe
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    pub fn tasks(&self) -> &TaskCache {
        &self.tasks
    }

    /// The last `GoAway` the controller sent, if any; clears it.
    pub fn take_go_away(&self) -> Option<GoAway> {
        self.go_away.lock().unwrap().take()
    }

    /// Runs one method. `cancel` fires when the caller gives up; `stream` is what the
    /// controller sent after the request (a release zip, geo files).
    async fn dispatch(
        &self,
        method: &str,
        body: Vec<u8>,
        stream: Option<IncomingStream>,
        cancel: &CancellationToken,
    ) -> Result<Vec<u8>, ErrorBody> {
        match method {
            methods::agent::INFO => reply(&AgentInfo {
                version: crate::update::version::current().into(),
                os: self.host.os.clone(),
                arch: self.host.arch.clone(),
                hostname: self.host.hostname.clone(),
                kernel: self.host.kernel.clone(),
                uptime_s: self.started.elapsed().as_secs(),
                pid: std::process::id(),
                started_at_ms: self.started_at_ms,
            }),
            methods::agent::SYSTEM_STATS => {
                let (probe, started) = (self.probe.clone(), self.started);
                let mut stats = tokio::task::spawn_blocking(move || probe.stats(started))
                    .await
                    .map_err(|e| ErrorBody::internal(format!("system stats: {e}")))?;
                stats.xray = self.core.status();
                reply(&stats)
            }
            methods::agent::ECHO => Ok(body),
            methods::agent::CONTROLLERS => {
                let told: methods::Controllers = from_body(&body)?;
                self.controllers.send_replace(told.controllers);
                reply(&serde_json::json!({}))
            }
            methods::agent::SLEEP => {
                let Sleep { ms } = from_body(&body)?;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => reply(&ms),
                    _ = cancel.cancelled() => Err(ErrorBody::new(code::CANCELLED, "sleep cancelled")),
                }
            }
            xfleet_common::state::method::APPLY => {
                let apply = from_body(&body)?;
                reply(&self.runtime_or_why()?.apply(apply).await?)
            }
            xfleet_common::state::method::CHECK => match from_body(&body)? {
                ApplyState::Full(state) => {
                    self.runtime_or_why()?.check(state).await?;
                    reply(&serde_json::json!({}))
                }
                ApplyState::Diff(_) => Err(ErrorBody::invalid("state.check takes a full state")),
            },
            methods::agent::CORE_INSTALL => {
                maintenance::install(self.supervisor_or_why()?, &self.maintenance, &body, stream)
                    .await
            }
            methods::agent::GEO_UPDATE => {
                let supervisor = self.supervisor_or_why()?;
                maintenance::geo_update(supervisor, &self.maintenance, &body, stream).await
            }
            m if m.starts_with("core.") => core::answer(&self.core, m, &body).await,
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

impl Handler for AgentHandler {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        if call.method == methods::agent::UPDATE {
            return update::answer(self.updates.as_ref(), call).await;
        }
        let IncomingCall {
            method,
            body,
            idempotency_key,
            cancel,
            stream,
            ..
        } = call;
        match idempotency_key {
            Some(key) => {
                self.tasks
                    .run(&key, &method, self.dispatch(&method, body, stream, &cancel))
                    .await
            }
            None => self.dispatch(&method, body, stream, &cancel).await,
        }
    }

    fn ack(&self, topic: &str, seq: u64) {
        if let Some(runtime) = &self.runtime {
            runtime.ack(topic, seq);
        }
    }

    fn go_away(&self, go_away: &GoAway) {
        tracing::info!(
            retry_after_ms = go_away.retry_after_ms,
            reason = %go_away.reason,
            "controller asked us to go away"
        );
        *self.go_away.lock().unwrap() = Some(go_away.clone());
    }
}

#[cfg(test)]
mod tests;
