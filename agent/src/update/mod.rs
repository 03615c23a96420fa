//! Agent self-update over the channel (DESIGN §12).
//!
//! Files, all in the data directory (the installed `/usr/local/bin/xfleet-agent` is root's
//! and never touched): `DATA/bin/xfleet-agent` is the committed update, `.previous` the binary
//! that ran before it, `.trial` a checked binary on trial, and `DATA/update.json` the
//! [`marker::Marker`] (version, from_version, state, deadline, attempts, PID).
//!
//! 1. `agent.update` arrives with the binary in its stream. [`stage::receive`] writes it to a
//!    private temp file while hashing, checks length, SHA-256, the signature against the
//!    pinned `ca.pem` ([`verify`]), architecture and version, and only then names it `.trial`.
//!    A refusal changes nothing.
//! 2. The agent (A) answers, then stops as on SIGTERM: GoAway to the controller, the core
//!    stopped. Users lose the VPN from here until B has started the core again from the
//!    persisted state, before it dials: about the time it takes to stop and start the core.
//!    (Keeping the core running across the exec would leave B with a core it does not
//!    supervise.) A writes the marker (`trial`, deadline now + `[update] trial_ms`), starts a
//!    [`guard`] unless a service manager will restart it, and execs `.trial`: same PID, so
//!    systemd keeps tracking it.
//! 3. B starts, finds the marker naming itself, and dials. On its first Welcome it commits:
//!    the committed binary (if any) becomes `.previous`, `.trial` becomes `xfleet-agent`, and
//!    the marker is removed. The controller sees the new version in B's Hello.
//! 4. Rollback: B without a Welcome by the deadline marks the marker `rolled_back` and execs
//!    A again. A B that dies (or is not even our program) cannot: under systemd,
//!    `Restart=always` starts the installed binary, whose [`boot`] sees an uncommitted trial
//!    and rolls back; without systemd the guard does the same when the PID dies. Either way A
//!    runs again and sends the outcome in its Hello (`Hello::update`) until welcomed.
//! 5. On every `run`, [`boot`] first execs the committed update when this process is not
//!    it: that is how an update survives a service restart.

pub mod boot;
pub mod guard;
pub mod marker;
pub mod stage;
pub mod verify;
pub mod version;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xfleet_common::methods::{AgentUpdateAnswer, AgentUpdateRequest};
use xfleet_common::protocol::UpdateReport;
use xfleet_common::time::now_ms;

pub use boot::boot;
use marker::{Marker, MarkerState, UpdateFiles};

/// Why the agent is about to replace itself.
#[derive(Debug, Clone)]
pub enum Switch {
    /// Run a staged binary on trial.
    Trial { version: String, trial_ms: u64 },
    /// The trial failed; run the previous binary again.
    Rollback {
        previous: PathBuf,
        argv: Vec<String>,
    },
}

/// One agent process's side of updates: what to report in Hello, the trial it may be, and
/// the switch it was asked to make.
pub struct Updates {
    files: UpdateFiles,
    ca_path: PathBuf,
    trial_ms: u64,
    /// Set while this process is a trial that has not been welcomed yet.
    trial: Mutex<Option<Marker>>,
    /// The outcome of the last update, until a controller welcomed us.
    report: Mutex<Option<UpdateReport>>,
    receiving: tokio::sync::Mutex<()>,
    switch: Mutex<Option<Switch>>,
    /// Fires when the agent should stop and [`Updates::switch`].
    stop: CancellationToken,
}

impl Updates {
    /// Reads the marker: a trial naming this binary is counted (a second start is not
    /// trusted and rolls back at once), a finished one becomes the report.
    pub fn open(data_dir: &Path, ca_path: &Path, trial_ms: u64) -> Self {
        let files = UpdateFiles::new(data_dir);
        stage::remove_leftovers(&files.bin_dir);
        let updates = Self {
            ca_path: ca_path.to_owned(),
            trial_ms,
            trial: Mutex::new(None),
            report: Mutex::new(None),
            receiving: tokio::sync::Mutex::new(()),
            switch: Mutex::new(None),
            stop: CancellationToken::new(),
            files,
        };
        let Some(mut marker) = Marker::read(&updates.files.marker) else {
            return updates;
        };
        match marker.state {
            MarkerState::Trial if boot::is(&boot::current_exe(), &updates.files.trial) => {
                marker.attempts += 1;
                if marker.attempts > 1 {
                    updates.roll_back(
                        marker,
                        "the new agent was started twice without connecting".into(),
                    );
                } else {
                    if let Err(e) = marker.write(&updates.files.marker) {
                        tracing::warn!(error = %e, "cannot update the update marker");
                    }
                    tracing::info!(version = %marker.version, from = %marker.from_version, "running an agent update on trial");
                    *updates.trial.lock().unwrap() = Some(marker);
                }
            }
            MarkerState::Trial => {}
            MarkerState::Updated | MarkerState::RolledBack => {
                *updates.report.lock().unwrap() = marker.report();
            }
        }
        updates
    }

    /// What the next Hello says about the last update.
    pub fn hello_report(&self) -> Option<UpdateReport> {
        self.report.lock().unwrap().clone()
    }

    /// The first Welcome: a trial commits; a reported outcome has been delivered.
    pub fn welcomed(&self) {
        if let Some(marker) = self.trial.lock().unwrap().take() {
            match self.commit() {
                Ok(()) => tracing::info!(version = %marker.version, "agent update committed"),
                Err(e) => {
                    let why = format!("the new agent could not commit itself: {e}");
                    tracing::error!(%why);
                    self.roll_back(marker, why);
                    return;
                }
            }
        }
        if self.report.lock().unwrap().take().is_some() {
            let _ = std::fs::remove_file(&self.files.marker);
        }
    }

    fn commit(&self) -> std::io::Result<()> {
        let files = &self.files;
        if files.committed.exists() {
            std::fs::rename(&files.committed, &files.previous)?;
        }
        crate::fsutil::commit(&files.trial, &files.committed)?;
        std::fs::remove_file(&files.marker)?;
        crate::fsutil::sync_dir(&files.marker)
    }

    /// A trial that has no Welcome by its deadline rolls itself back.
    pub async fn watch_deadline(&self) {
        let Some(deadline_ms) = self.trial.lock().unwrap().as_ref().map(|m| m.deadline_ms) else {
            return;
        };
        let wait = (deadline_ms - now_ms()).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Some(marker) = self.trial.lock().unwrap().take() {
            let why = format!(
                "the new agent {} did not connect to the controller within {} s; {} runs again",
                marker.version,
                self.trial_ms / 1000,
                marker.from_version
            );
            tracing::error!(%why, "rolling back the agent update");
            self.roll_back(marker, why);
        }
    }

    fn roll_back(&self, mut marker: Marker, why: String) {
        boot::finish_rollback(&self.files, &mut marker, why);
        self.request(Switch::Rollback {
            previous: marker.previous.clone(),
            argv: marker.argv.clone(),
        });
    }

    fn request(&self, switch: Switch) {
        *self.switch.lock().unwrap() = Some(switch);
        self.stop.cancel();
    }

    /// Fires when the agent should stop and then call [`Updates::switch`].
    pub fn stop_requested(&self) -> &CancellationToken {
        &self.stop
    }

    /// Answers `agent.update`: receives and checks the binary, then asks the agent to switch
    /// to it once the answer has left.
    pub async fn receive<S, B, E>(
        &self,
        request: AgentUpdateRequest,
        len: u64,
        chunks: S,
    ) -> Result<AgentUpdateAnswer, String>
    where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let running = version::current();
        stage::precheck(&request, len, running)?;
        let Ok(_one) = self.receiving.try_lock() else {
            return Err("another update is being received".into());
        };
        if self.switch.lock().unwrap().is_some() || self.trial.lock().unwrap().is_some() {
            return Err("an update is already under way; try again after it settled".into());
        }
        let ca_pem = std::fs::read_to_string(&self.ca_path)
            .map_err(|e| format!("cannot read {}: {e}", self.ca_path.display()))?;
        stage::receive(&self.files, &ca_pem, &request, len, chunks).await?;
        tracing::info!(version = %request.version, from = %running, "agent update received and verified");
        let stop = self.stop.clone();
        *self.switch.lock().unwrap() = Some(Switch::Trial {
            version: request.version.clone(),
            trial_ms: self.trial_ms,
        });
        // The answer goes out before the channel closes.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.cancel();
        });
        Ok(AgentUpdateAnswer {
            from_version: running.into(),
            version: request.version,
            trial_ms: self.trial_ms,
        })
    }

    /// The switch asked for, if any.
    pub fn take_switch(&self) -> Option<Switch> {
        self.switch.lock().unwrap().take()
    }

    /// Replaces this process as `switch` says (the channel is closed and the core stopped).
    /// Returns only if that failed; a failed trial start is recorded as a rollback.
    pub fn switch(&self, switch: Switch) -> String {
        match switch {
            Switch::Rollback { previous, argv } => {
                let argv: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
                let error = boot::exec(&previous, &argv);
                format!(
                    "cannot start the previous agent {}: {error}",
                    previous.display()
                )
            }
            Switch::Trial { version, trial_ms } => {
                let error = self.start_trial(&version, trial_ms);
                let why = format!("cannot start the new agent {version}: {error}");
                if let Some(mut marker) = Marker::read(&self.files.marker) {
                    boot::finish_rollback(&self.files, &mut marker, why.clone());
                }
                tracing::error!(%why, "running this agent again");
                match boot::current_exe() {
                    Some(me) => format!("{why}; {}", boot::exec(&me, &boot::args())),
                    None => why,
                }
            }
        }
    }

    fn start_trial(&self, version: &str, trial_ms: u64) -> String {
        let pid = std::process::id();
        let argv = boot::args();
        let Some(previous) = boot::current_exe() else {
            return "cannot tell which binary this agent runs from".into();
        };
        let marker = Marker {
            version: version.into(),
            from_version: version::current().into(),
            state: MarkerState::Trial,
            deadline_ms: now_ms() + trial_ms as i64,
            attempts: 0,
            pid,
            pid_start: marker::process_start(pid).unwrap_or(0),
            previous,
            argv: argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            message: String::new(),
            at_ms: now_ms(),
        };
        if let Err(e) = marker.write(&self.files.marker) {
            return format!("cannot write {}: {e}", self.files.marker.display());
        }
        if !under_service_manager() {
            if let Err(e) = spawn_guard(&marker.previous, self.files.marker.parent()) {
                return e;
            }
        }
        boot::exec(&self.files.trial, &argv).to_string()
    }
}

/// Systemd sets `INVOCATION_ID` for the processes of a unit; its `Restart=` brings the
/// installed binary back if the trial dies.
fn under_service_manager() -> bool {
    std::env::var_os("INVOCATION_ID").is_some()
}

fn spawn_guard(binary: &Path, data_dir: Option<&Path>) -> Result<(), String> {
    let data_dir = data_dir.ok_or("the data directory has no path")?;
    Command::new(binary)
        .arg("update-guard")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot start the update guard: {e}"))
}

#[cfg(test)]
mod tests;
