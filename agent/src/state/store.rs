//! The applied desired state on disk: `state.json` is what the core runs (or must run on the
//! next start), `state.prev.json` the last one that ran before it. Both are replaced
//! atomically, so a crash leaves one whole state to start from.

use std::io;
use std::path::{Path, PathBuf};

use xfleet_common::state::{ApplyState, DesiredState};

use crate::fsutil::{self, PUBLIC};

pub struct StateFiles {
    current: PathBuf,
    previous: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the diff is based on revision {base}, but this agent has revision {have}; send the full state")]
    BaseMismatch { base: u64, have: u64 },
    #[error("revision {new} is older than the applied revision {have}")]
    Stale { new: u64, have: u64 },
}

impl StateFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            current: data_dir.join("state.json"),
            previous: data_dir.join("state.prev.json"),
        }
    }

    /// The persisted state, if any; a damaged file falls back to the previous one.
    pub fn load(&self) -> Option<DesiredState> {
        [&self.current, &self.previous].into_iter().find_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            match serde_json::from_slice(&bytes) {
                Ok(state) => Some(state),
                Err(e) => {
                    tracing::error!(path = %p.display(), error = %e, "damaged state file");
                    None
                }
            }
        })
    }

    pub fn load_previous(&self) -> Option<DesiredState> {
        serde_json::from_slice(&std::fs::read(&self.previous).ok()?).ok()
    }

    /// Makes `state` the current one, keeping the old current as previous.
    pub fn save(&self, state: &DesiredState) -> io::Result<()> {
        if let Ok(old) = std::fs::read(&self.current) {
            fsutil::write_atomic(&self.previous, &old, PUBLIC)?;
        }
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        fsutil::write_atomic(&self.current, &bytes, PUBLIC)
    }

    /// Puts `state` back as current without touching previous (an apply that was refused).
    pub fn restore(&self, state: &DesiredState) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        fsutil::write_atomic(&self.current, &bytes, PUBLIC)
    }
}

/// The state an `ApplyState` leads to from `current`.
pub fn next_state(current: &DesiredState, apply: ApplyState) -> Result<DesiredState, StateError> {
    let next = match apply {
        ApplyState::Full(state) => state,
        ApplyState::Diff(diff) => {
            if diff.base_revision != current.revision {
                return Err(StateError::BaseMismatch {
                    base: diff.base_revision,
                    have: current.revision,
                });
            }
            let mut next = current.clone();
            next.revision = diff.revision;
            next.inbounds.retain(|i| !diff.remove.contains(&i.tag));
            for inbound in diff.upsert {
                match next.inbounds.iter_mut().find(|i| i.tag == inbound.tag) {
                    Some(slot) => *slot = inbound,
                    None => next.inbounds.push(inbound),
                }
            }
            if let Some(limits) = diff.limits {
                next.limits = limits;
            }
            if let Some(ms) = diff.stats_interval_ms {
                next.stats_interval_ms = ms;
            }
            if let Some(restart) = diff.restart_on_client_disable {
                next.restart_on_client_disable = restart;
            }
            next
        }
    };
    if next.revision < current.revision {
        return Err(StateError::Stale {
            new: next.revision,
            have: current.revision,
        });
    }
    Ok(next)
}
