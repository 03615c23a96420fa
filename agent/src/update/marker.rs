//! Where updates live in the data directory, and the marker (`update.json`) that says what
//! state an update is in. The marker is written atomically; whoever reads it (the trial, the
//! installed binary after a restart, the guard) acts on it alone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xfleet_common::protocol::UpdateReport;

use crate::fsutil;

/// The agent's update files under `DATA`. The installed binary (root's, read-only to the
/// agent) is never touched: an update runs from `DATA/bin`.
#[derive(Debug, Clone)]
pub struct UpdateFiles {
    pub bin_dir: PathBuf,
    /// The committed update: a restarted agent execs it.
    pub committed: PathBuf,
    /// The binary that ran before the committed one.
    pub previous: PathBuf,
    /// A checked binary on trial, not yet committed.
    pub trial: PathBuf,
    pub marker: PathBuf,
}

impl UpdateFiles {
    pub fn new(data_dir: &Path) -> Self {
        let bin_dir = data_dir.join("bin");
        Self {
            committed: bin_dir.join("xfleet-agent"),
            previous: bin_dir.join("xfleet-agent.previous"),
            trial: bin_dir.join("xfleet-agent.trial"),
            marker: data_dir.join("update.json"),
            bin_dir,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerState {
    /// The trial binary runs (or is about to); nothing is committed.
    Trial,
    /// The trial reached the controller and was committed.
    Updated,
    /// The trial failed; the previous binary runs again.
    RolledBack,
}

/// `DATA/update.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub version: String,
    pub from_version: String,
    pub state: MarkerState,
    /// Epoch ms by which the trial must have a Welcome.
    pub deadline_ms: i64,
    /// How many times the trial binary started; a second start is not trusted.
    pub attempts: u32,
    /// The process the trial runs in (the same PID as the agent that staged it), and its
    /// start time in clock ticks, so a reused PID is not mistaken for it.
    pub pid: u32,
    pub pid_start: u64,
    /// The binary that staged the update: started again on rollback.
    pub previous: PathBuf,
    /// The arguments the agent was started with, program name first.
    pub argv: Vec<String>,
    /// Why it was rolled back.
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub at_ms: i64,
}

impl Marker {
    /// The marker, if there is one; an unreadable marker is reported and ignored.
    pub fn read(path: &Path) -> Option<Self> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the update marker");
                return None;
            }
        };
        serde_json::from_slice(&bytes)
            .inspect_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "the update marker is not valid; ignored")
            })
            .ok()
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("marker serializes");
        fsutil::write_atomic(path, &bytes, fsutil::PRIVATE)
    }

    /// What the agent tells the controller about a finished update.
    pub fn report(&self) -> Option<UpdateReport> {
        let outcome = match self.state {
            MarkerState::Trial => return None,
            MarkerState::Updated => UpdateReport::UPDATED,
            MarkerState::RolledBack => UpdateReport::ROLLED_BACK,
        };
        Some(UpdateReport {
            outcome: outcome.into(),
            version: self.version.clone(),
            from_version: self.from_version.clone(),
            message: self.message.clone(),
            at_ms: self.at_ms,
        })
    }

    /// Marks the trial as failed with `why`.
    pub fn roll_back(&mut self, why: String) {
        self.state = MarkerState::RolledBack;
        self.message = why;
        self.at_ms = xfleet_common::time::now_ms();
    }
}

/// The start time of process `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// or `None` when no such process runs (a zombie counts as gone).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}
