//! The supervisor: one task owns the core's process and its config; [`Supervisor`] is a cheap
//! handle that sends it commands and reads the state it publishes. Commands run one at a
//! time, so a stop, a restart and a config change never interleave.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use xfleet_common::methods::CoreState;

use super::backoff::RestartBackoff;
use super::logs::{LogRing, RING_LINES};
use super::process::Process;
use super::{CoreBinary, CoreError, CorePaths};
use crate::fsutil;

/// Supervises one core binary. Cloning is cheap; when the last clone is dropped the core is
/// killed.
#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<CoreState>,
}

struct Shared {
    /// Replaced after `core.install` ([`Supervisor::use_binary`]); read at each start.
    binary: std::sync::RwLock<CoreBinary>,
    paths: CorePaths,
    logs: Arc<LogRing>,
    /// What the core runs, or will run on the next start. Written only by the task.
    config: Mutex<Option<Arc<Value>>>,
}

type Reply = oneshot::Sender<Result<CoreState, CoreError>>;

enum Command {
    /// `None`: the current config, and nothing to do if the core already runs it.
    Start {
        config: Option<Arc<Value>>,
        reply: Reply,
    },
    Replace {
        config: Arc<Value>,
        reply: Reply,
    },
    AdoptOrStart {
        config: Arc<Value>,
        reply: Reply,
    },
    Record {
        config: Arc<Value>,
        reply: Reply,
    },
    Restart {
        reply: Reply,
    },
    Stop {
        reply: Reply,
    },
    Shutdown {
        reply: Reply,
    },
}

impl Supervisor {
    /// Creates the core's directories and starts the supervising task (within a Tokio
    /// runtime). The core itself stays stopped until [`Supervisor::start`].
    pub fn new(binary: CoreBinary, paths: CorePaths) -> std::io::Result<Self> {
        paths.prepare()?;
        let shared = Arc::new(Shared {
            binary: std::sync::RwLock::new(binary),
            paths,
            logs: Arc::new(LogRing::new(RING_LINES)),
            config: Mutex::new(None),
        });
        let (commands, receiver) = mpsc::channel(16);
        let (state_tx, state) = watch::channel(CoreState::Stopped);
        let task = Task {
            shared: shared.clone(),
            commands: receiver,
            state: state_tx,
            process: None,
            wanted: false,
            backoff: RestartBackoff::default(),
            restart_at: None,
        };
        tokio::spawn(task.run());
        Ok(Self {
            shared,
            commands,
            state,
        })
    }

    pub fn binary(&self) -> CoreBinary {
        self.shared.binary.read().unwrap().clone()
    }

    /// Runs `binary` from the next start on (a new version installed, possibly elsewhere).
    pub fn use_binary(&self, binary: CoreBinary) {
        *self.shared.binary.write().unwrap() = binary;
    }

    pub fn paths(&self) -> &CorePaths {
        &self.shared.paths
    }

    pub fn state(&self) -> CoreState {
        self.state.borrow().clone()
    }

    /// Every state change from now on (and the current state, marked seen).
    pub fn subscribe(&self) -> watch::Receiver<CoreState> {
        let mut receiver = self.state.clone();
        receiver.mark_unchanged();
        receiver
    }

    /// The configuration the core runs, or will run on the next start.
    pub fn config(&self) -> Option<Arc<Value>> {
        self.shared.config.lock().unwrap().clone()
    }

    pub fn logs(&self) -> &LogRing {
        &self.shared.logs
    }

    /// Runs the core's own config test; the error is the core's message.
    pub async fn test_config(&self, config: &Value) -> Result<(), String> {
        let binary = self.shared.binary.read().unwrap().clone();
        binary.test_config(&self.shared.paths, config).await
    }

    /// Tests `config`, makes it current and (re)starts the core with it. Clears a manual stop.
    /// A core that fails to come up is retried with backoff, and the error says why.
    pub async fn start(&self, config: Value) -> Result<CoreState, CoreError> {
        self.test_config(&config)
            .await
            .map_err(CoreError::InvalidConfig)?;
        let config = Some(Arc::new(config));
        self.call(|reply| Command::Start { config, reply }).await
    }

    /// At agent start: adopts the core a previous run of the agent left running on exactly
    /// `config` (it kept serving, and counting, while the agent was gone); otherwise stops
    /// any leftover and starts a fresh core like [`Supervisor::start`].
    pub async fn adopt_or_start(&self, config: Value) -> Result<CoreState, CoreError> {
        let config = Arc::new(config);
        self.call(|reply| Command::AdoptOrStart { config, reply })
            .await
    }

    /// The running core was changed through its API to match `config`: makes that the
    /// current config (on disk too, for restarts and adoption) without restarting.
    pub async fn record_config(&self, config: Value) -> Result<CoreState, CoreError> {
        let config = Arc::new(config);
        self.call(|reply| Command::Record { config, reply }).await
    }

    /// Starts the core with the current config ([`CoreError::NoConfig`] when none was
    /// applied); does nothing if it runs already.
    pub async fn start_applied(&self) -> Result<CoreState, CoreError> {
        self.call(|reply| Command::Start {
            config: None,
            reply,
        })
        .await
    }

    /// Stops the core; the watchdog leaves it stopped until the next start.
    pub async fn stop(&self) -> Result<CoreState, CoreError> {
        self.call(|reply| Command::Stop { reply }).await
    }

    /// Stops and starts the core with the current config.
    pub async fn restart(&self) -> Result<CoreState, CoreError> {
        self.call(|reply| Command::Restart { reply }).await
    }

    /// Tests `config` first: refused, the running core is left alone and the error is the
    /// core's message. Otherwise the core restarts on it; if it then fails to come up (a port
    /// the test cannot see is taken), the previous config is brought back and the error says
    /// why. A stopped core stays stopped and runs the new config on its next start.
    pub async fn replace_config(&self, config: Value) -> Result<CoreState, CoreError> {
        let state = self.state();
        if matches!(state, CoreState::Running { .. }) && self.config().is_some_and(|c| *c == config)
        {
            return Ok(state);
        }
        self.test_config(&config)
            .await
            .map_err(CoreError::InvalidConfig)?;
        let config = Arc::new(config);
        self.call(|reply| Command::Replace { config, reply }).await
    }

    /// Kills the core and ends the supervising task; later calls fail with
    /// [`CoreError::Gone`].
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Command::Shutdown { reply }).await;
    }

    async fn call(&self, command: impl FnOnce(Reply) -> Command) -> Result<CoreState, CoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| CoreError::Gone)?;
        answer.await.map_err(|_| CoreError::Gone)?
    }
}

struct Task {
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    state: watch::Sender<CoreState>,
    process: Option<Process>,
    /// Someone asked for the core to run; false until the first start and after a stop, and
    /// the watchdog restarts only a wanted core.
    wanted: bool,
    backoff: RestartBackoff,
    restart_at: Option<Instant>,
}

enum Event {
    Command(Command),
    /// Every handle is gone.
    Closed,
    Exited(std::io::Result<std::process::ExitStatus>),
    RestartDue,
}

impl Task {
    async fn run(mut self) {
        loop {
            match self.next_event().await {
                Event::Closed => break,
                Event::Command(command) => {
                    if self.handle(command).await.is_break() {
                        break;
                    }
                }
                Event::Exited(status) => self.exited(status).await,
                Event::RestartDue => {
                    self.restart_at = None;
                    if self.wanted && self.process.is_none() {
                        let _ = self.launch_or_retry().await;
                    }
                }
            }
        }
        self.stop().await;
    }

    async fn next_event(&mut self) -> Event {
        let (running, due) = (self.process.is_some(), self.restart_at);
        let Task {
            commands, process, ..
        } = self;
        tokio::select! {
            command = commands.recv() => command.map_or(Event::Closed, Event::Command),
            status = async { process.as_mut().expect("guarded").wait().await }, if running => {
                Event::Exited(status)
            }
            _ = async { tokio::time::sleep_until(due.expect("guarded")).await }, if due.is_some() => {
                Event::RestartDue
            }
        }
    }

    async fn handle(&mut self, command: Command) -> ControlFlow<()> {
        match command {
            Command::Start { config, reply } => {
                let result = match (config, self.current()) {
                    (None, None) => Err(CoreError::NoConfig),
                    (None, Some(_)) if self.process.is_some() => Ok(self.state.borrow().clone()),
                    (Some(new), Some(old)) if self.process.is_some() && new == old => {
                        Ok(self.state.borrow().clone())
                    }
                    (Some(config), _) | (None, Some(config)) => self.begin(config).await,
                };
                let _ = reply.send(result);
            }
            Command::Restart { reply } => {
                let result = match self.current() {
                    None => Err(CoreError::NoConfig),
                    Some(config) => self.begin(config).await,
                };
                let _ = reply.send(result);
            }
            Command::Replace { config, reply } => {
                let _ = reply.send(self.replace(config).await);
            }
            Command::Record { config, reply } => {
                self.set_config(Some(config));
                let result = self.write_config().await;
                let _ = reply.send(result.map(|()| self.state.borrow().clone()));
            }
            Command::AdoptOrStart { config, reply } => {
                let _ = reply.send(self.adopt_or_start(config).await);
            }
            Command::Stop { reply } => {
                self.stop().await;
                let _ = reply.send(Ok(CoreState::Stopped));
            }
            Command::Shutdown { reply } => {
                self.stop().await;
                let _ = reply.send(Ok(CoreState::Stopped));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// An explicit start: fresh backoff, the core wanted from now on.
    async fn begin(&mut self, config: Arc<Value>) -> Result<CoreState, CoreError> {
        self.wanted = true;
        self.backoff.reset();
        self.restart_at = None;
        self.kill().await;
        self.set_config(Some(config));
        self.launch_or_retry().await
    }

    async fn adopt_or_start(&mut self, config: Arc<Value>) -> Result<CoreState, CoreError> {
        let paths = &self.shared.paths;
        let on_disk: Option<Value> = std::fs::read(paths.config_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if self.process.is_none() && on_disk.as_ref() == Some(&*config) {
            if let Some(process) = Process::adopt(paths, &self.shared.logs) {
                tracing::info!(pid = process.pid, "adopted the running core");
                let state = CoreState::Running {
                    pid: process.pid,
                    since_ms: process.since_ms,
                };
                self.wanted = true;
                self.set_config(Some(config));
                self.process = Some(process);
                self.publish(state.clone());
                return Ok(state);
            }
        }
        super::process::kill_leftover(paths).await;
        let binary = self.shared.binary.read().unwrap().clone();
        binary
            .test_config(paths, &config)
            .await
            .map_err(CoreError::InvalidConfig)?;
        self.begin(config).await
    }

    async fn replace(&mut self, config: Arc<Value>) -> Result<CoreState, CoreError> {
        let old = self.current();
        if !self.wanted {
            self.set_config(Some(config));
            return Ok(self.state.borrow().clone());
        }
        if self.process.is_some() && old.as_ref() == Some(&config) {
            return Ok(self.state.borrow().clone());
        }
        self.restart_at = None;
        self.kill().await;
        self.set_config(Some(config));
        let error = match self.launch().await {
            Ok(state) => return Ok(state),
            Err(e) => e,
        };
        tracing::warn!(error = %error, "the new core config does not start; going back to the previous one");
        self.set_config(old.clone());
        if old.is_some() {
            let _ = self.launch_or_retry().await;
        } else {
            self.wanted = false;
            self.publish(CoreState::Stopped);
        }
        Err(error)
    }

    async fn stop(&mut self) {
        self.wanted = false;
        self.restart_at = None;
        self.kill().await;
        self.publish(CoreState::Stopped);
    }

    async fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            let pid = process.pid;
            process.kill().await;
            tracing::info!(pid, "core stopped");
        }
    }

    /// Writes the current config where the core reads it and starts the core.
    async fn launch(&mut self) -> Result<CoreState, CoreError> {
        self.write_config().await?;
        let binary = self.shared.binary.read().unwrap().clone();
        let process = Process::start(&binary, &self.shared.paths, &self.shared.logs).await?;
        let state = CoreState::Running {
            pid: process.pid,
            since_ms: process.since_ms,
        };
        tracing::info!(pid = process.pid, "core started");
        self.process = Some(process);
        self.publish(state.clone());
        Ok(state)
    }

    /// Writes the current config where the core reads it.
    async fn write_config(&self) -> Result<(), CoreError> {
        let config = self.current().ok_or(CoreError::NoConfig)?;
        let file = self.shared.paths.config_file();
        let bytes =
            serde_json::to_vec_pretty(&*config).map_err(|e| CoreError::Io(e.to_string()))?;
        let target = file.clone();
        tokio::task::spawn_blocking(move || fsutil::write_atomic(&target, &bytes, fsutil::PRIVATE))
            .await
            .map_err(|e| CoreError::Io(e.to_string()))?
            .map_err(|e| CoreError::Io(format!("cannot write {}: {e}", file.display())))
    }

    /// [`Task::launch`], and on failure the watchdog takes over.
    async fn launch_or_retry(&mut self) -> Result<CoreState, CoreError> {
        let result = self.launch().await;
        if let Err(e) = &result {
            self.retry_later(e.to_string());
        }
        result
    }

    /// The core ended without being asked to.
    async fn exited(&mut self, status: std::io::Result<std::process::ExitStatus>) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        let reason = process.ended(&status, &self.shared.logs).await;
        let lasted = process.started.elapsed();
        tracing::warn!(
            pid = process.pid,
            lasted_s = lasted.as_secs(),
            %reason,
            "core exited unexpectedly"
        );
        if !self.wanted {
            self.publish(CoreState::Stopped);
            return;
        }
        self.backoff.run_ended(lasted);
        self.retry_later(reason);
    }

    fn retry_later(&mut self, reason: String) {
        let delay = self.backoff.next_delay();
        tracing::warn!(%reason, retry_in_s = delay.as_secs(), "core is down; will restart it");
        self.restart_at = Some(Instant::now() + delay);
        self.publish(CoreState::Error { message: reason });
    }

    fn current(&self) -> Option<Arc<Value>> {
        self.shared.config.lock().unwrap().clone()
    }

    fn set_config(&self, config: Option<Arc<Value>>) {
        *self.shared.config.lock().unwrap() = config;
    }

    fn publish(&self, state: CoreState) {
        self.state.send_replace(state);
    }
}
