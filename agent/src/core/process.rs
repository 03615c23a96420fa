//! One run of the core: spawn it with its output going to the log ring, wait until it is up
//! or has failed, stop it, and say why it ended.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use xfleet_common::methods::CoreLogLevel;

use super::logs::{self, LogLine, LogRing};
use super::{CoreBinary, CoreError, CorePaths};

/// How long a fresh core gets to announce itself or fail. A taken port or a bad certificate
/// ends it within milliseconds; a core that prints nothing (`loglevel` `error` or `none`) is
/// taken as up once this passes.
const SETTLE: Duration = Duration::from_secs(3);
/// How long to wait for the last output of an ended core (a grandchild could hold the pipe).
const DRAIN: Duration = Duration::from_secs(1);
/// Lines of the core's last output quoted in a crash reason.
const REASON_LINES: usize = 5;

pub struct Process {
    pub child: Child,
    pub pid: u32,
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
        let mut child = binary
            .run_command(&paths.config_file(), &paths.assets)
            .spawn()
            .map_err(|e| {
                CoreError::StartFailed(format!("cannot run {}: {e}", binary.path.display()))
            })?;
        let (ready_tx, mut ready) = watch::channel(false);
        let ready_tx = Arc::new(ready_tx);
        let mut pumps = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            pumps.push(spawn_pump(out, logs.clone(), ready_tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(spawn_pump(err, logs.clone(), ready_tx));
        }
        let mut process = Process {
            pid: child.id().unwrap_or_default(),
            child,
            started: Instant::now(),
            since_ms: xfleet_common::time::now_ms(),
            first_seq,
            pumps,
        };

        enum Settle {
            Up,
            Exited(std::io::Result<ExitStatus>),
            /// Both pipes closed before the core said it started: it is on its way out.
            Closing,
        }
        let settle = tokio::select! {
            status = process.child.wait() => Settle::Exited(status),
            up = async { ready.wait_for(|up| *up).await.is_ok() } => {
                if up { Settle::Up } else { Settle::Closing }
            }
            _ = tokio::time::sleep(SETTLE) => Settle::Up,
        };
        let status = match settle {
            Settle::Up => return Ok(process),
            Settle::Exited(status) => status,
            Settle::Closing => match tokio::time::timeout(SETTLE, process.child.wait()).await {
                Ok(status) => status,
                // Closed its output but runs on: let the watchdog deal with it.
                Err(_) => return Ok(process),
            },
        };
        let reason = process.ended(&status, logs).await;
        Err(CoreError::StartFailed(reason))
    }

    /// Kills the core (SIGKILL: Xray keeps no state worth flushing, and live connections
    /// drop on any stop) and waits for it and its output.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.drain().await;
    }

    /// After the core exited with `status`: waits for its last output and says why it ended,
    /// quoting that output.
    pub async fn ended(&mut self, status: &std::io::Result<ExitStatus>, logs: &LogRing) -> String {
        self.drain().await;
        exit_reason(status, &logs.since(self.first_seq))
    }

    async fn drain(&mut self) {
        for pump in &mut self.pumps {
            if tokio::time::timeout(DRAIN, &mut *pump).await.is_err() {
                pump.abort();
            }
        }
        self.pumps.clear();
    }
}

fn spawn_pump(
    reader: impl AsyncRead + Unpin + Send + 'static,
    logs: Arc<LogRing>,
    ready: Arc<watch::Sender<bool>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        logs::pump(reader, &logs, |line| {
            if logs::is_started_line(line) {
                ready.send_replace(true);
            }
        })
        .await
    })
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
