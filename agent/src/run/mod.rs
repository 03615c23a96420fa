//! `xfleet-agent run`: the dial loop. Connect, stay connected (heartbeats, certificate
//! renewal), and when the connection ends wait as the backoff, `Retry-After` or `GoAway` says,
//! then dial again with the key and certificate re-read from disk.

mod addresses;
mod renewal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::ClientConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use xfleet_common::channel::{Channel, MemoryTransport};
use xfleet_common::protocol::{self, to_body, topic, Hello};
use xfleet_common::time::now_ms;

use crate::config::{AgentConfig, AgentFiles};
use crate::connection::backoff::{jitter, Backoff};
use crate::connection::{dial_connection, heartbeat_interval, open_memory, Connection, DialError};
use crate::core::Core;
use crate::csr::{self, CertValidity};
use crate::handler::{listening_sockets, tasks, AgentHandler};
use crate::state::CoreRuntime;
use crate::status::{AgentStatus, ConnState, StatusFile};
use crate::tls;
use crate::update::Updates;
use renewal::Renewal;

/// How long a shutdown waits for the close frame to go out.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot prepare the data directory {}: {error}", path.display())]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    /// An update asked this agent to replace itself and that failed.
    #[error("{0}")]
    Switch(String),
}

/// How the agent reaches its controller.
#[derive(Clone)]
pub enum Link {
    /// Mutual-TLS WebSocket to `controller_url`, with the key and certificates in
    /// `config_dir`.
    Remote,
    /// Inside the controller's own process (single-server mode): each call opens a fresh
    /// in-memory transport whose other end the controller serves as it serves a gateway
    /// connection. No certificates are involved.
    Local(Arc<dyn Fn() -> MemoryTransport + Send + Sync>),
}

/// What the loop shares with a connection.
struct Agent {
    config: AgentConfig,
    addresses: Arc<addresses::Addresses>,
    link: Link,
    files: AgentFiles,
    handler: Arc<AgentHandler>,
    status: Arc<StatusFile>,
    shutdown: CancellationToken,
}

/// How one round of the loop ended.
enum Round {
    Shutdown,
    /// A connection was up for `lasted` and then closed.
    Ended {
        lasted: Duration,
        reason: String,
    },
    Failed(Failure),
}

enum Failure {
    Dial(DialError),
    /// Our own files are missing, unreadable or expired: no dial was made.
    Credentials(String),
}

/// Runs the agent until `shutdown` fires. `config.config_dir` must point at the directory
/// holding `agent.key`, `agent.pem` and `ca.pem` ([`AgentConfig::load`] sets it).
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    run_over(config, Link::Remote, shutdown).await
}

/// [`run`] over the given link: the same core, state, journal, heartbeats and reconnect
/// loop, whether the controller is across the network or in this process.
pub async fn run_over(
    config: AgentConfig,
    link: Link,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let data_err = |error| AgentError::DataDir {
        path: config.data_dir.clone(),
        error,
    };
    crate::enroll::create_private_dir(&config.data_dir).map_err(data_err)?;
    let core = Core::discover(&config.core, &config.data_dir).await;
    // The core comes up from the persisted state before any dial: users are served whether
    // or not the controller is reachable.
    let runtime = match core.supervisor() {
        Some(supervisor) => {
            let flavour = supervisor.binary().flavour;
            match CoreRuntime::start(
                supervisor.clone(),
                flavour,
                &config.data_dir,
                config.session_cut.clone(),
            )
            .await
            {
                Ok(runtime) => Some(runtime),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the core runtime");
                    None
                }
            }
        }
        None => None,
    };
    let updates = matches!(link, Link::Remote).then(|| {
        Arc::new(Updates::open(
            &config.data_dir,
            &config.files().ca,
            config.update.trial_ms,
        ))
    });
    if let Some(updates) = &updates {
        spawn_update_watch(updates.clone(), shutdown.clone());
    }
    let handler = Arc::new(
        AgentHandler::new(&config.data_dir, core)
            .map_err(data_err)?
            .with_runtime(runtime)
            .with_maintenance(config.maintenance.clone())
            .with_updates(updates.clone()),
    );
    spawn_pruning(handler.tasks().clone(), shutdown.clone());
    let status = Arc::new(StatusFile::new(
        config.status_path(),
        AgentStatus {
            state: ConnState::Connecting,
            server_id: config.server_id,
            controller_url: config.controller_url.clone(),
            ..Default::default()
        },
    ));
    let mut configured = vec![config.controller_url.clone()];
    configured.extend(config.controller_urls.iter().cloned());
    let agent = Agent {
        addresses: Arc::new(addresses::Addresses::load(configured, &config.data_dir)),
        files: config.files(),
        config,
        link,
        handler,
        status,
        shutdown,
    };
    let mut backoff = Backoff::new(&agent.config.reconnect);
    let mut renewal = Renewal::new();
    tracing::info!(
        controller = %agent.config.controller_url,
        server_id = agent.config.server_id,
        "xfleet-agent {} starting",
        crate::update::version::current()
    );

    loop {
        agent.status.update(|s| s.state = ConnState::Connecting);
        let (delay, error) = match agent.round(&mut renewal).await {
            Round::Shutdown => break,
            Round::Ended { lasted, reason } => {
                backoff.connection_ended(lasted);
                tracing::warn!(%reason, lasted_s = lasted.as_secs(), "disconnected from the controller");
                let delay = match agent.handler.take_go_away() {
                    Some(g) => after_server_wait(Duration::from_millis(g.retry_after_ms), &backoff),
                    None => backoff.next_delay(),
                };
                (delay, reason)
            }
            Round::Failed(Failure::Dial(err)) => {
                // A controller that does not answer, or answers with a TLS or protocol
                // failure: the next one of the fleet is tried (one that is busy or asks to
                // wait is waited for; one that refuses the agent refuses it everywhere).
                let elsewhere = matches!(
                    err,
                    DialError::Io(_) | DialError::Tls(_) | DialError::Protocol(_)
                );
                if let Some(next) = elsewhere.then(|| agent.addresses.advance()).flatten() {
                    tracing::warn!(error = %err, %next, "controller unreachable; trying the next one");
                    agent.status.update(|s| s.controller_url = next.clone());
                }
                let delay = match &err {
                    DialError::RetryAfter(wait) => after_server_wait(*wait, &backoff),
                    DialError::GoAway { retry_after, .. } => {
                        after_server_wait(*retry_after, &backoff)
                    }
                    DialError::Refused {
                        status: 401 | 403, ..
                    } => {
                        tracing::error!(
                            error = %err,
                            "the controller does not accept this agent: its certificate is \
                             unknown or revoked, or the server is disabled; retrying slowly"
                        );
                        at_cap(&mut backoff)
                    }
                    _ => backoff.next_delay(),
                };
                (delay, err.to_string())
            }
            Round::Failed(Failure::Credentials(message)) => {
                tracing::error!(error = %message, "cannot connect");
                (at_cap(&mut backoff), message)
            }
        };
        tracing::info!(retry_in_ms = delay.as_millis() as u64, %error, "will reconnect");
        agent.status.update(|s| {
            s.state = ConnState::Disconnected;
            s.connected_since_ms = None;
            s.last_error = Some(error);
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = agent.shutdown.cancelled() => break,
        }
    }
    // Users lose the VPN while the agent is down either way; stopping the core here just
    // makes that explicit instead of leaving it to the kill on drop.
    if let Some(core) = agent.handler.core().supervisor() {
        core.shutdown().await;
    }
    agent.status.update(|s| {
        s.state = ConnState::Disconnected;
        s.connected_since_ms = None;
        s.last_error = Some("agent stopped".into());
    });
    tracing::info!("stopped");
    if let Some(switch) = updates.and_then(|u| u.take_switch().map(|s| (u, s))) {
        let (updates, switch) = switch;
        tracing::info!(?switch, "replacing this agent");
        let error = updates.switch(switch);
        return Err(AgentError::Switch(error));
    }
    Ok(())
}

/// A trial's deadline, and the stop an update asks for (handled as a shutdown, after which
/// [`run_over`] switches binaries).
fn spawn_update_watch(updates: Arc<Updates>, shutdown: CancellationToken) {
    let deadline = updates.clone();
    tokio::spawn(async move { deadline.watch_deadline().await });
    tokio::spawn(async move {
        tokio::select! {
            _ = updates.stop_requested().cancelled() => shutdown.cancel(),
            _ = shutdown.cancelled() => {}
        }
    });
}

/// A server-imposed wait plus jitter, so agents told the same wait do not return together.
fn after_server_wait(wait: Duration, backoff: &Backoff) -> Duration {
    wait + jitter((wait / 2).max(backoff.base()).min(backoff.cap()))
}

/// A wait at the backoff cap, for failures a quick retry cannot fix (refused or expired
/// certificate): between half the cap and the cap, so it never hammers the controller.
fn at_cap(backoff: &mut Backoff) -> Duration {
    backoff.saturate();
    backoff.cap() / 2 + jitter(backoff.cap() / 2)
}

impl Agent {
    async fn round(&self, renewal: &mut Renewal) -> Round {
        let connect = async {
            match &self.link {
                Link::Remote => {
                    let (tls, validity) =
                        load_credentials(&self.files, now_ms()).map_err(Failure::Credentials)?;
                    renewal.observe(validity);
                    self.status
                        .update(|s| s.cert_not_after_ms = Some(validity.not_after_ms));
                    let hello = self.hello();
                    // A GoAway from a previous connection must not delay the next one.
                    self.handler.take_go_away();
                    dial_connection(&self.addresses.current(), tls, hello, self.handler.clone())
                        .await
                        .map_err(Failure::Dial)
                }
                Link::Local(connect) => {
                    let hello = self.hello();
                    self.handler.take_go_away();
                    open_memory(connect(), hello, self.handler.clone())
                        .await
                        .map_err(Failure::Dial)
                }
            }
        };
        let connection = tokio::select! {
            r = connect => r,
            _ = self.shutdown.cancelled() => return Round::Shutdown,
        };
        match connection {
            Ok(connection) => self.session(connection, renewal).await,
            Err(failure) => Round::Failed(failure),
        }
    }

    fn hello(&self) -> Hello {
        let host = self.handler.host();
        let runtime = self.handler.runtime();
        Hello {
            agent_version: crate::update::version::current().into(),
            protocol_versions: protocol::SUPPORTED_VERSIONS.to_vec(),
            server_id: self.config.server_id,
            applied_revision: runtime.map_or(0, |r| r.applied_revision()),
            unacked_journal_seq: runtime.and_then(|r| r.lowest_unacked()),
            capabilities: Vec::new(),
            hostname: host.hostname.clone(),
            os: host.os.clone(),
            arch: host.arch.clone(),
            core_version: self.handler.core().version(),
            core_flavour: self
                .handler
                .core()
                .supervisor()
                .map(|s| s.binary().flavour.to_string()),
            public_addresses: crate::handler::public_addresses(),
            update: self
                .handler
                .updates()
                .and_then(|u| u.hello_report())
                .map(Box::new),
        }
    }

    /// Lives as long as the connection: heartbeats on their own task, renewal here.
    async fn session(&self, connection: Connection, renewal: &mut Renewal) -> Round {
        let Connection {
            channel,
            welcome,
            transport_closed,
        } = connection;
        let interval = heartbeat_interval(&welcome);
        self.addresses.learn(&welcome.controllers);
        spawn_learning(&channel, &self.handler, &self.addresses);
        let since = Instant::now();
        tracing::info!(
            heartbeat_ms = interval.as_millis() as u64,
            protocol = welcome.protocol_version,
            "connected to the controller"
        );
        self.status.update(|s| {
            s.state = ConnState::Connected;
            s.controller_url = self.addresses.current();
            s.connected_since_ms = Some(now_ms());
            s.last_error = None;
            s.heartbeat_interval_ms = interval.as_millis() as u64;
        });
        if let Some(updates) = self.handler.updates() {
            updates.welcomed();
        }
        if let Some(runtime) = self.handler.runtime() {
            runtime.attach(channel.clone());
        }
        spawn_heartbeats(
            channel.clone(),
            interval,
            self.handler.clone(),
            self.status.clone(),
        );
        let renew = renewal.run(&channel, self);
        tokio::pin!(renew);
        let round = tokio::select! {
            reason = channel.closed() => Round::Ended { lasted: since.elapsed(), reason },
            _ = self.shutdown.cancelled() => {
                // A goodbye, which the controller tells apart from a lost connection: it
                // shows the server offline at once instead of after its grace period.
                channel.go_away(Duration::ZERO, "the agent is stopping");
                let _ = tokio::time::timeout(CLOSE_GRACE, transport_closed.cancelled()).await;
                Round::Shutdown
            }
            never = &mut renew => match never {},
        };
        if let Some(runtime) = self.handler.runtime() {
            runtime.detach();
        }
        round
    }
}

/// Reads the key, certificate and CA fresh from disk (renewal or a re-enrollment may have
/// replaced them) and refuses an expired certificate with a message saying what to do.
fn load_credentials(
    files: &AgentFiles,
    now_ms: i64,
) -> Result<(Arc<ClientConfig>, CertValidity), String> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let (cert, key, ca) = (read(&files.cert)?, read(&files.key)?, read(&files.ca)?);
    let validity = csr::validity(&cert).map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if validity.not_after_ms <= now_ms {
        return Err(format!(
            "the agent certificate expired at {}; this host must be enrolled again with a new \
             token (`xfleet-agent enroll --token … --force`)",
            crate::status::format_ms(validity.not_after_ms)
        ));
    }
    let tls = tls::client_config(&cert, &key, &ca).map_err(|e| e.to_string())?;
    Ok((tls, validity))
}

/// Keeps the addresses the controller tells about while the connection lasts.
fn spawn_learning(
    channel: &Channel,
    handler: &AgentHandler,
    addresses: &Arc<addresses::Addresses>,
) {
    let (channel, addresses) = (channel.clone(), addresses.clone());
    let mut told = handler.controllers_told();
    told.mark_unchanged();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = told.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let list = told.borrow_and_update().clone();
                    addresses.learn(&list);
                }
                _ = channel.closed() => return,
            }
        }
    });
}

fn spawn_heartbeats(
    channel: Channel,
    interval: Duration,
    handler: Arc<AgentHandler>,
    status: Arc<StatusFile>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = channel.closed() => break,
                _ = tick.tick() => {}
            }
            let probe = handler.probe().clone();
            // The core's ports before and after the scan: one it opened or closed meanwhile is
            // still its own, not another program's.
            let core_ports =
                |h: &AgentHandler| h.runtime().map(|r| r.core_ports()).unwrap_or_default();
            let before = core_ports(&handler);
            let mut beat = tokio::task::spawn_blocking(move || {
                let mut beat = probe.heartbeat();
                beat.listening = listening_sockets(&before);
                beat
            })
            .await
            .unwrap_or_default();
            let after = core_ports(&handler);
            beat.listening.retain(|s| !after.contains(&s.port));
            beat.renewal_error = status.snapshot().cert_renewal_error;
            let Ok(body) = to_body(&beat) else { continue };
            if channel
                .send_event(topic::HEARTBEAT, None, body)
                .await
                .is_err()
            {
                break;
            }
            status.update(|_| {});
        }
    });
}

/// Forgets old task results now and every hour.
fn spawn_pruning(cache: tasks::TaskCache, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let cache = cache.clone();
            let pruned = tokio::task::spawn_blocking(move || {
                cache.prune(SystemTime::now(), tasks::MAX_AGE, tasks::MAX_ENTRIES)
            })
            .await;
            match pruned {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(removed = n, "pruned old task results"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune task results"),
                Err(e) => tracing::warn!(error = %e, "task pruning panicked"),
            }
        }
    });
}

#[cfg(test)]
mod tests;
