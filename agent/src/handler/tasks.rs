//! The result cache of durable tasks (DESIGN §4): a task id is an idempotency key, so a task
//! the controller delivers again is answered from here instead of running twice.
//!
//! Per key, `<key>.started` is written (fsync'd) before the method runs and `<key>.done`
//! (msgpack outcome, atomic) after. A key with only the marker was cut short by a crash, a
//! cancel or a timeout: its effect is unknown, so it is answered `interrupted`, never re-run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use xfleet_common::protocol::{code, ErrorBody, Outcome};
use xfleet_common::time::now_ms;

use crate::fsutil::{self, PUBLIC};

/// Entries older than this are forgotten; the controller expires tasks long before.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// At most this many keys are kept, oldest dropped first.
pub const MAX_ENTRIES: usize = 10_000;
const MAX_KEY_LEN: usize = 64;

#[derive(Debug, Serialize, Deserialize)]
struct Started {
    method: String,
    started_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    method: String,
    finished_ms: i64,
    outcome: Outcome,
}

/// What the cache knows about a key.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    New,
    Completed(Outcome),
    /// Started at this time (ms) by this method, never finished.
    Interrupted {
        method: String,
        started_ms: i64,
    },
}

#[derive(Clone)]
pub struct TaskCache {
    dir: Arc<PathBuf>,
    /// Keys running in this process right now, so a concurrent redelivery does not run twice.
    running: Arc<Mutex<HashSet<String>>>,
}

/// Keys become file names: only `[A-Za-z0-9-]`, at most 64 characters.
pub fn validate_key(key: &str) -> Result<(), ErrorBody> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ErrorBody::invalid(format!(
            "idempotency key must be 1-{MAX_KEY_LEN} characters of [A-Za-z0-9-]"
        )))
    }
}

impl TaskCache {
    /// Opens (and creates) the cache directory.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir: Arc::new(dir),
            running: Arc::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn started_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.started"))
    }

    fn done_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.done"))
    }

    pub fn lookup(&self, key: &str) -> io::Result<Lookup> {
        match std::fs::read(self.done_path(key)) {
            Ok(bytes) => {
                let done: Done = rmp_serde::from_slice(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                return Ok(Lookup::Completed(done.outcome));
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        match std::fs::read(self.started_path(key)) {
            // A marker torn by a crash still proves the task was started.
            Ok(bytes) => {
                let started: Started = serde_json::from_slice(&bytes).unwrap_or(Started {
                    method: "?".into(),
                    started_ms: 0,
                });
                Ok(Lookup::Interrupted {
                    method: started.method,
                    started_ms: started.started_ms,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Lookup::New),
            Err(e) => Err(e),
        }
    }

    pub fn mark_started(&self, key: &str, method: &str) -> io::Result<()> {
        let marker = Started {
            method: method.to_owned(),
            started_ms: now_ms(),
        };
        let bytes = serde_json::to_vec(&marker).expect("marker serializes");
        fsutil::create_durable(&self.started_path(key), &bytes, PUBLIC)
    }

    pub fn record(&self, key: &str, method: &str, outcome: &Outcome) -> io::Result<()> {
        let done = Done {
            method: method.to_owned(),
            finished_ms: now_ms(),
            outcome: outcome.clone(),
        };
        let bytes = rmp_serde::to_vec_named(&done).expect("outcome serializes");
        fsutil::write_atomic(&self.done_path(key), &bytes, PUBLIC)
    }

    /// Runs `work` as the task `key` at most once, answering repeats from the cache.
    pub async fn run(
        &self,
        key: &str,
        method: &str,
        work: impl Future<Output = Result<Vec<u8>, ErrorBody>>,
    ) -> Result<Vec<u8>, ErrorBody> {
        validate_key(key)?;
        let _claim = self.claim(key)?;
        let internal = |what: &str, e: io::Error| {
            tracing::error!(key, error = %e, "task cache: {what}");
            ErrorBody::internal(format!("task cache: {what}: {e}"))
        };
        let (cache, k) = (self.clone(), key.to_owned());
        match blocking(move || cache.lookup(&k))
            .await
            .map_err(|e| internal("lookup failed", e))?
        {
            Lookup::Completed(outcome) => return into_result(outcome),
            Lookup::Interrupted { method, started_ms } => {
                return Err(interrupted(key, &method, started_ms))
            }
            Lookup::New => {}
        }
        let (cache, k, m) = (self.clone(), key.to_owned(), method.to_owned());
        blocking(move || cache.mark_started(&k, &m))
            .await
            .map_err(|e| internal("cannot record the start", e))?;

        let outcome = match work.await {
            Ok(body) => Outcome::Ok(body),
            Err(e) => Outcome::Err(e),
        };
        let (cache, k, m, o) = (
            self.clone(),
            key.to_owned(),
            method.to_owned(),
            outcome.clone(),
        );
        if let Err(e) = blocking(move || cache.record(&k, &m, &o)).await {
            // The work is done; answering is better than hiding it. A redelivery would get
            // `interrupted`, which is still true to what we know.
            tracing::error!(key, error = %e, "task cache: cannot record the outcome");
        } else if std::env::var("XFLEET_AGENT_FAILPOINT").as_deref() == Ok("exit-after-task") {
            // Failpoint for the end-to-end test: die after the outcome is durable and before
            // the answer is sent, so a redelivery must be answered from the cache.
            std::process::exit(99);
        }
        into_result(outcome)
    }

    fn claim(&self, key: &str) -> Result<Claim, ErrorBody> {
        if !self.running.lock().unwrap().insert(key.to_owned()) {
            return Err(ErrorBody {
                retryable: true,
                ..ErrorBody::new(code::BUSY, format!("task `{key}` is still running"))
            });
        }
        Ok(Claim {
            running: self.running.clone(),
            key: key.to_owned(),
        })
    }

    /// Forgets entries older than `max_age`, then the oldest beyond `max_entries`, and stray
    /// temp files. Returns how many keys were removed.
    pub fn prune(
        &self,
        now: SystemTime,
        max_age: Duration,
        max_entries: usize,
    ) -> io::Result<usize> {
        let mut keys: HashMap<String, SystemTime> = HashMap::new();
        for entry in std::fs::read_dir(&*self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let modified = entry.metadata()?.modified()?;
            let age = now.duration_since(modified).unwrap_or_default();
            if fsutil::is_temp_name(&name) {
                if age > Duration::from_secs(3600) {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            let Some(key) = name
                .strip_suffix(".started")
                .or_else(|| name.strip_suffix(".done"))
            else {
                continue;
            };
            let newest = keys.entry(key.to_owned()).or_insert(modified);
            *newest = (*newest).max(modified);
        }
        let mut by_age: Vec<(SystemTime, String)> = keys.into_iter().map(|(k, t)| (t, k)).collect();
        by_age.sort();
        let expired = by_age
            .iter()
            .take_while(|(t, _)| now.duration_since(*t).unwrap_or_default() > max_age)
            .count();
        let remove = expired.max(by_age.len().saturating_sub(max_entries));
        for (_, key) in &by_age[..remove] {
            // Marker first: a crash in between leaves a completed entry, not an interrupted one.
            remove_if_exists(&self.started_path(key))?;
            remove_if_exists(&self.done_path(key))?;
        }
        Ok(remove)
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Releases a running key when the task ends, is cancelled or times out.
struct Claim {
    running: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.running.lock().unwrap().remove(&self.key);
    }
}

fn into_result(outcome: Outcome) -> Result<Vec<u8>, ErrorBody> {
    match outcome {
        Outcome::Ok(body) => Ok(body),
        Outcome::Err(e) => Err(e),
    }
}

fn interrupted(key: &str, method: &str, started_ms: i64) -> ErrorBody {
    ErrorBody::new(
        code::INTERRUPTED,
        format!(
            "task `{key}` (`{method}`, started at {started_ms} ms) was interrupted before its \
             outcome was recorded; whether it took effect is unknown"
        ),
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

#[cfg(test)]
mod tests;
