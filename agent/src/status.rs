//! `<data_dir>/status.json`: what the running agent tells `xfleet-agent status` and
//! `healthcheck` (and anything else on the host) about its connection.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use xfleet_common::time::now_ms;

use crate::config::AgentConfig;
use crate::fsutil::{self, PUBLIC};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    #[default]
    Connecting,
    Connected,
    Disconnected,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentStatus {
    pub pid: u32,
    pub state: ConnState,
    pub server_id: i64,
    pub controller_url: String,
    pub connected_since_ms: Option<i64>,
    pub last_error: Option<String>,
    pub updated_ms: i64,
    pub cert_not_after_ms: Option<i64>,
    /// Why the last certificate renewal failed; cleared by a successful one. Heartbeats carry
    /// it to the controller.
    pub cert_renewal_error: Option<String>,
    /// From the controller's `Welcome`; `healthcheck` calls a status older than three of
    /// these stale.
    pub heartbeat_interval_ms: u64,
}

/// The live status and its file; every update rewrites the file atomically.
pub struct StatusFile {
    path: PathBuf,
    current: Mutex<AgentStatus>,
}

impl StatusFile {
    pub fn new(path: PathBuf, initial: AgentStatus) -> Self {
        let file = Self {
            path,
            current: Mutex::new(initial),
        };
        file.update(|_| {});
        file
    }

    /// Applies `change`, stamps pid and time, and writes the file. A failed write is logged,
    /// not fatal: the agent's job is the channel, not this file.
    pub fn update(&self, change: impl FnOnce(&mut AgentStatus)) {
        let mut current = self.current.lock().unwrap();
        change(&mut current);
        current.pid = std::process::id();
        current.updated_ms = now_ms();
        let bytes = serde_json::to_vec_pretty(&*current).expect("status serializes");
        if let Err(e) = fsutil::write_atomic(&self.path, &bytes, PUBLIC) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write status file");
        }
    }

    pub fn snapshot(&self) -> AgentStatus {
        self.current.lock().unwrap().clone()
    }
}

pub fn read(path: &Path) -> Result<AgentStatus, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "no status at {} ({e}); is the agent running?",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether the process that wrote a status still exists (Linux; unknown elsewhere → true).
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `healthcheck`: Ok with a one-line summary only when enrolled, connected and fresh.
pub fn healthcheck(config_dir: &Path, now_ms: i64) -> Result<String, String> {
    let config = AgentConfig::load(config_dir).map_err(|e| format!("not enrolled: {e}"))?;
    let status = read(&config.status_path())?;
    if !process_alive(status.pid) {
        return Err(format!("the agent (pid {}) is not running", status.pid));
    }
    if status.state != ConnState::Connected {
        let why = status.last_error.as_deref().unwrap_or("no error recorded");
        return Err(format!("not connected ({}): {why}", status.state.as_str()));
    }
    let interval = match status.heartbeat_interval_ms {
        0 => 25_000,
        ms => ms,
    };
    let age = now_ms - status.updated_ms;
    if age > 3 * interval as i64 {
        return Err(format!(
            "status is stale: last updated {} ago (heartbeat every {})",
            human_duration(age),
            human_duration(interval as i64)
        ));
    }
    Ok(format!(
        "connected to {} as server {}",
        status.controller_url, status.server_id
    ))
}

/// `status`: human-readable lines about enrollment, connection and certificate.
pub fn report(config_dir: &Path, now_ms: i64) -> Vec<String> {
    let config = match AgentConfig::load(config_dir) {
        Ok(c) => c,
        Err(e) => return vec![format!("enrolled:    no ({e})")],
    };
    let mut lines = vec![format!(
        "enrolled:    yes, server {} at {}",
        config.server_id, config.controller_url
    )];
    match read(&config.status_path()) {
        Err(e) => lines.push(format!("state:       not running ({e})")),
        Ok(status) if !process_alive(status.pid) => lines.push(format!(
            "state:       not running (pid {} is gone; last state {} at {})",
            status.pid,
            status.state.as_str(),
            format_ms(status.updated_ms)
        )),
        Ok(status) => {
            let since = match (status.state, status.connected_since_ms) {
                (ConnState::Connected, Some(t)) => format!(
                    " since {} ({} ago)",
                    format_ms(t),
                    human_duration(now_ms - t)
                ),
                _ => String::new(),
            };
            lines.push(format!("state:       {}{since}", status.state.as_str()));
            lines.push(format!(
                "last error:  {}",
                status.last_error.as_deref().unwrap_or("none")
            ));
            lines.push(format!(
                "updated:     {} ago (pid {})",
                human_duration(now_ms - status.updated_ms),
                status.pid
            ));
        }
    }
    let cert = std::fs::read_to_string(config.files().cert)
        .map_err(|e| e.to_string())
        .and_then(|pem| crate::csr::validity(&pem).map_err(|e| e.to_string()));
    lines.push(match cert {
        Ok(v) if v.not_after_ms <= now_ms => format!(
            "certificate: EXPIRED at {}; enroll again with a new token",
            format_ms(v.not_after_ms)
        ),
        Ok(v) => format!(
            "certificate: expires {} (in {})",
            format_ms(v.not_after_ms),
            human_duration(v.not_after_ms - now_ms)
        ),
        Err(e) => format!("certificate: unreadable ({e})"),
    });
    lines
}

/// `2025-01-31 12:00:00 UTC`.
pub fn format_ms(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{ms} ms"),
    }
}

/// `3d 4h`, `5m 2s`, `800ms`: two units at most.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn enrolled(dir: &TempDir) -> AgentConfig {
        let config = AgentConfig {
            controller_url: "https://127.0.0.1:1".into(),
            server_id: 5,
            data_dir: dir.path().join("data"),
            config_dir: dir.path().to_owned(),
            ..Default::default()
        };
        std::fs::create_dir_all(&config.data_dir).unwrap();
        std::fs::write(config.files().config, config.to_toml()).unwrap();
        config
    }

    #[test]
    fn healthcheck_needs_enrollment_connection_and_freshness() {
        let dir = TempDir::new("status");
        let err = healthcheck(dir.path(), now_ms()).unwrap_err();
        assert!(err.starts_with("not enrolled"), "{err}");

        let config = enrolled(&dir);
        let err = healthcheck(dir.path(), now_ms()).unwrap_err();
        assert!(err.contains("is the agent running"), "{err}");

        let status = StatusFile::new(
            config.status_path(),
            AgentStatus {
                state: ConnState::Disconnected,
                last_error: Some("HTTP 403".into()),
                heartbeat_interval_ms: 1000,
                ..Default::default()
            },
        );
        let err = healthcheck(dir.path(), now_ms()).unwrap_err();
        assert!(
            err.contains("not connected (disconnected): HTTP 403"),
            "{err}"
        );

        status.update(|s| {
            s.state = ConnState::Connected;
            s.connected_since_ms = Some(now_ms());
        });
        assert!(healthcheck(dir.path(), now_ms()).is_ok());
        let err = healthcheck(dir.path(), now_ms() + 3_001).unwrap_err();
        assert!(err.contains("stale"), "{err}");

        let report = report(dir.path(), now_ms()).join("\n");
        assert!(report.contains("state:       connected since"), "{report}");
        assert!(report.contains("certificate: unreadable"), "{report}");
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(human_duration(500), "500ms");
        assert_eq!(human_duration(65_000), "1m 5s");
        assert_eq!(human_duration(3 * 86_400_000 + 7_200_000), "3d 2h");
        assert_eq!(format_ms(0), "1970-01-01 00:00:00 UTC");
    }
}
