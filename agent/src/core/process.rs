//! One run of the core: spawn it with its output going to the log ring, wait until it is up
//! or has failed, stop it, and say why it ended.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use xfleet_common::methods::CoreLogLevel;

use super::logs::{self, LogLine, LogRing};
use super::tail;
use super::{CoreBinary, CoreError, CorePaths};

/// How long a fresh core gets to announce itself or fail. A taken port or a bad certificate
/// ends it within milliseconds; a core that prints nothing (`loglevel` `error` or `none`) is
/// taken as up once this passes.
const SETTLE: Duration = Duration::from_secs(3);
/// How long to wait for the last output of an ended core (a grandchild could hold the pipe).
const DRAIN: Duration = Duration::from_secs(1);
/// Lines of the core's last output quoted in a crash reason.
const REASON_LINES: usize = 5;

/// A core we spawned, or one a previous run of the agent left running and we adopted.
enum Handle {
    Child(Child),
    Adopted,
}

pub struct Process {
    handle: Handle,
    pub pid: u32,
    /// Start time of the process (clock ticks since boot), to tell it from a pid reuse.
    ticks: u64,
    stop_tail: watch::Sender<bool>,
    pub started: Instant,
    /// Wall-clock start, ms since the Unix epoch.
    pub since_ms: i64,
    /// First log line of this run, to quote its own output when it ends.
    first_seq: u64,
    pumps: Vec<JoinHandle<()>>,
}

impl Process {
    /// Spawns the core on the config file already written, and waits until it says it started,
    /// exits, or [`SETTLE`] passes. An exit in that time is [`CoreError::StartFailed`] with the
    /// core's own words.
    pub async fn start(
        binary: &CoreBinary,
        paths: &CorePaths,
        logs: &Arc<LogRing>,
    ) -> Result<Process, CoreError> {
        let first_seq = logs.next_seq();
        let io = |e: std::io::Error| CoreError::Io(format!("core output file: {e}"));
        let log_path = paths.dir.join(LOG_FILE);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io)?;
        let offset = out.metadata().map_err(io)?.len();
        let err = out.try_clone().map_err(io)?;
        let mut command = binary.run_command(&paths.config_file(), &paths.assets);
        command.stdout(out).stderr(err);
        let child = command.spawn().map_err(|e| {
            CoreError::StartFailed(format!("cannot run {}: {e}", binary.path.display()))
        })?;
        let pid = child.id().unwrap_or_default();
        let ticks = tail::start_ticks(pid).unwrap_or_default();
        let _ = std::fs::write(paths.dir.join(PID_FILE), format!("{pid} {ticks}\n"));
        let (ready_tx, mut ready) = watch::channel(false);
        let (stop_tail, stop) = watch::channel(false);
        let tail = tail::follow(log_path, offset, logs.clone(), Arc::new(ready_tx), stop);
        let mut process = Process {
            handle: Handle::Child(child),
            pid,
            ticks,
            stop_tail,
            started: Instant::now(),
            since_ms: xfleet_common::time::now_ms(),
            first_seq,
            pumps: vec![tail],
        };

        enum Settle {
            Up,
            Exited(std::io::Result<ExitStatus>),
            /// Both pipes closed before the core said it started: it is on its way out.
            Closing,
        }
        let settle = tokio::select! {
            status = process.wait() => Settle::Exited(status),
            up = async { ready.wait_for(|up| *up).await.is_ok() } => {
                if up { Settle::Up } else { Settle::Closing }
            }
            _ = tokio::time::sleep(SETTLE) => Settle::Up,
        };
        let status = match settle {
            Settle::Up => return Ok(process),
            Settle::Exited(status) => status,
            Settle::Closing => match tokio::time::timeout(SETTLE, process.wait()).await {
                Ok(status) => status,
                // Closed its output but runs on: let the watchdog deal with it.
                Err(_) => return Ok(process),
            },
        };
        let reason = process.ended(&status, logs).await;
        Err(CoreError::StartFailed(reason))
    }

    /// The core a previous run of the agent left running on `paths`' config, if it still
    /// runs; its output is followed from here on.
    pub fn adopt(paths: &CorePaths, logs: &Arc<LogRing>) -> Option<Process> {
        let (pid, ticks) = read_pid_file(paths)?;
        if !tail::alive(pid, ticks) || !runs_config(pid, paths) {
            return None;
        }
        let log_path = paths.dir.join(LOG_FILE);
        let offset = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let (ready_tx, _) = watch::channel(true);
        let (stop_tail, stop) = watch::channel(false);
        let tail = tail::follow(log_path, offset, logs.clone(), Arc::new(ready_tx), stop);
        Some(Process {
            handle: Handle::Adopted,
            pid,
            ticks,
            stop_tail,
            started: Instant::now(),
            since_ms: xfleet_common::time::now_ms(),
            first_seq: logs.next_seq(),
            pumps: vec![tail],
        })
    }

    /// Waits until the core exits. An adopted core is not our child: its exit status is
    /// unknown, and it is watched through `/proc`.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match &mut self.handle {
            Handle::Child(child) => child.wait().await,
            Handle::Adopted => {
                while tail::alive(self.pid, self.ticks) {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(ExitStatus::from_raw(0))
            }
        }
    }

    /// Kills the core (SIGKILL: Xray keeps no state worth flushing, and live connections
    /// drop on any stop) and waits for it and its output.
    pub async fn kill(mut self) {
        match &mut self.handle {
            Handle::Child(child) => {
                let _ = child.start_kill();
            }
            Handle::Adopted => {
                let _ = tokio::process::Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status()
                    .await;
            }
        }
        let _ = self.wait().await;
        self.drain().await;
    }

    /// After the core exited with `status`: waits for its last output and says why it ended,
    /// quoting that output.
    pub async fn ended(&mut self, status: &std::io::Result<ExitStatus>, logs: &LogRing) -> String {
        self.drain().await;
        exit_reason(status, &logs.since(self.first_seq))
    }

    async fn drain(&mut self) {
        self.stop_tail.send_replace(true);
        for pump in &mut self.pumps {
            if tokio::time::timeout(DRAIN, &mut *pump).await.is_err() {
                pump.abort();
            }
        }
        self.pumps.clear();
    }
}

const LOG_FILE: &str = "core.log";
const PID_FILE: &str = "core.pid";

fn read_pid_file(paths: &CorePaths) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(paths.dir.join(PID_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether `pid` is a core running our config file (not some unrelated process).
fn runs_config(pid: u32, paths: &CorePaths) -> bool {
    let config = paths.config_file();
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(&*config.to_string_lossy()))
        .unwrap_or(false)
}

/// Kills a core a previous run of the agent left behind, when it is not to be adopted.
pub async fn kill_leftover(paths: &CorePaths) {
    if let Some((pid, ticks)) = read_pid_file(paths) {
        if tail::alive(pid, ticks) && runs_config(pid, paths) {
            tracing::info!(pid, "stopping the core a previous run of the agent left");
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .await;
            while tail::alive(pid, ticks) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// `exited with code 23; last output: …` from the exit status and the run's own lines,
/// warnings and errors first.
pub fn exit_reason(status: &std::io::Result<ExitStatus>, lines: &[LogLine]) -> String {
    let how = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => s.to_string(),
        },
        Err(e) => format!("cannot wait for it: {e}"),
    };
    let texts = |min: CoreLogLevel| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.level >= min && !logs::is_started_line(&l.text))
            .map(|l| l.text.as_str())
            .collect()
    };
    let mut last = texts(CoreLogLevel::Warning);
    if last.is_empty() {
        last = texts(CoreLogLevel::Debug);
    }
    let last = &last[last.len().saturating_sub(REASON_LINES)..];
    if last.is_empty() {
        how
    } else {
        format!("{how}; last output: {}", last.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_quotes_warnings_and_errors_before_chatter() {
        let ring = LogRing::new(10);
        for raw in [
            "[Info] v2ray.com/core/main/jsonem: Reading config: config.json",
            "2026/11/25 18:44:51 [Warning] v2ray.com/core: V2Ray 4.34.0 started",
            "Failed to start: listen tcp 127.0.0.1:23456: bind: address already in use",
        ] {
            ring.push(raw);
        }
        let status = Ok(ExitStatus::from_raw(255 << 8));
        assert_eq!(
            exit_reason(&status, &ring.since(0)),
            "exited with code 255; last output: Failed to start: listen tcp 127.0.0.1:23456: \
             bind: address already in use"
        );
        let killed = Ok(ExitStatus::from_raw(9));
        assert_eq!(
            exit_reason(&killed, &ring.since(0)[..1]),
            "killed by signal 9; last output: v2ray.com/core/main/jsonem: Reading config: \
             config.json"
        );
        assert_eq!(exit_reason(&killed, &[]), "killed by signal 9");
    }
}
