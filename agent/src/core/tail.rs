//! The core writes its output to `<core dir>/core.log` rather than to a pipe, so it keeps
//! running (and counting traffic) when the agent dies: a pipe with no reader would kill it on
//! its next log line. The agent follows the file into the log ring, and a restarted agent
//! adopts the core it left behind.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::logs::{self, LogRing, MAX_LINE_BYTES};

/// The file is cut back to empty beyond this size (the ring keeps the recent lines).
const MAX_FILE_BYTES: u64 = 8 << 20;
const POLL: Duration = Duration::from_millis(100);

/// Follows `path` from `offset` into `ring`, setting `ready` when the core announces it
/// started, until `stop` is set; then reads what is left and ends.
pub fn follow(
    path: PathBuf,
    offset: u64,
    ring: Arc<LogRing>,
    ready: Arc<watch::Sender<bool>>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut file) = tokio::fs::File::open(&path).await else {
            return;
        };
        let mut offset = offset;
        let _ = file.seek(SeekFrom::Start(offset)).await;
        let mut line = Vec::new();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let n = file.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                if *stop.borrow() {
                    break;
                }
                match tokio::fs::metadata(&path).await {
                    // Cut back by us or someone else: start over at the beginning.
                    Ok(m) if m.len() < offset => {
                        offset = 0;
                        let _ = file.seek(SeekFrom::Start(0)).await;
                        continue;
                    }
                    Ok(m) if m.len() > MAX_FILE_BYTES => {
                        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                            let _ = f.set_len(0);
                        }
                        continue;
                    }
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            offset += n as u64;
            for &b in &buf[..n] {
                if b == b'\n' {
                    emit(&mut line, &ring, &ready);
                } else if line.len() < MAX_LINE_BYTES {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            emit(&mut line, &ring, &ready);
        }
    })
}

fn emit(line: &mut Vec<u8>, ring: &LogRing, ready: &watch::Sender<bool>) {
    let text = String::from_utf8_lossy(line);
    if logs::is_started_line(&text) {
        ready.send_replace(true);
    }
    ring.push(&text);
    line.clear();
}

/// The start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// which tells a live process from a later one that reused its pid.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` still is the process that started at `ticks`, and is not a zombie.
pub fn alive(pid: u32, ticks: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..i + 3))
        .is_some_and(|s| s == "Z");
    !zombie && start_ticks(pid) == Some(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn follows_a_growing_file_and_cuts_long_lines() {
        let dir = crate::testutil::TempDir::new("tail");
        let path = dir.path().join("core.log");
        std::fs::write(&path, "old line\n").unwrap();
        let ring = Arc::new(LogRing::new(10));
        let (ready, mut is_ready) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let task = follow(path.clone(), 9, ring.clone(), Arc::new(ready), stopped);
        let long = "x".repeat(MAX_LINE_BYTES * 2);
        let text = format!(
            "{long}\n2026/11/25 18:44:51 [Warning] v2ray.com/core: V2Ray 4.34.0 started\nlast"
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
        is_ready.wait_for(|r| *r).await.unwrap();
        stop.send_replace(true);
        task.await.unwrap();
        let lines = ring.tail(10, xfleet_common::methods::CoreLogLevel::Debug);
        let texts: Vec<usize> = lines.iter().map(|l| l.text.len()).collect();
        assert_eq!(lines.len(), 3, "the old line is not read again: {texts:?}");
        assert_eq!(lines[0].text.len(), MAX_LINE_BYTES);
        assert_eq!(
            lines[2].text, "last",
            "an unfinished last line is kept at the end"
        );
    }
}
