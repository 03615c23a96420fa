//! The core's output: read line by line (each line bounded), levelled from the core's own
//! markers, kept in a ring of the newest lines.

use std::collections::VecDeque;
use std::sync::Mutex;

use xfleet_common::methods::{CoreLogLevel, CoreLogLine};
use xfleet_common::time::now_ms;

/// Lines kept per core; older ones are dropped.
pub const RING_LINES: usize = 2_000;
/// Longer lines are cut here, so a runaway line cannot grow the agent's memory.
pub(super) const MAX_LINE_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Increases by one per line over the supervisor's lifetime; lets a caller ask for the
    /// lines of one run of the core.
    pub seq: u64,
    pub at_ms: i64,
    pub level: CoreLogLevel,
    pub text: String,
}

impl LogLine {
    pub fn to_wire(&self) -> CoreLogLine {
        CoreLogLine {
            at_ms: self.at_ms,
            level: self.level,
            text: self.text.clone(),
        }
    }
}

pub struct LogRing {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: u64,
}

impl LogRing {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Ring::default()),
        }
    }

    /// Stores one raw line as the core printed it.
    pub fn push(&self, raw: &str) {
        let (level, text) = parse_line(raw);
        let mut ring = self.inner.lock().unwrap();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.lines.len() == self.capacity {
            ring.lines.pop_front();
        }
        ring.lines.push_back(LogLine {
            seq,
            at_ms: now_ms(),
            level,
            text: text.to_owned(),
        });
    }

    /// The sequence number the next line will get.
    pub fn next_seq(&self) -> u64 {
        self.inner.lock().unwrap().next_seq
    }

    /// The newest `count` lines at `min_level` or above, oldest first.
    pub fn tail(&self, count: usize, min_level: CoreLogLevel) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap();
        let mut lines: Vec<LogLine> = ring
            .lines
            .iter()
            .rev()
            .filter(|l| l.level >= min_level)
            .take(count)
            .cloned()
            .collect();
        lines.reverse();
        lines
    }

    /// Lines with `seq >= from`, oldest first (those still in the ring).
    pub fn since(&self, from: u64) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap();
        ring.lines
            .iter()
            .filter(|l| l.seq >= from)
            .cloned()
            .collect()
    }
}

/// Splits `2024/05/01 10:00:00.123456 [Warning] core: Xray 1.8.24 started` into its level and
/// `core: Xray 1.8.24 started`. Lines without a marker are printed outside the core's logger:
/// the banner, `Configuration OK.`, access lines, and fatal errors (`Failed to start: …`,
/// panics), which are the ones that matter most.
pub fn parse_line(raw: &str) -> (CoreLogLevel, &str) {
    let line = strip_timestamp(raw.trim_end());
    let marked = line.strip_prefix('[').and_then(|rest| {
        let (marker, text) = rest.split_once(']')?;
        let level = match marker {
            "Debug" => CoreLogLevel::Debug,
            "Info" => CoreLogLevel::Info,
            "Warning" => CoreLogLevel::Warning,
            "Error" => CoreLogLevel::Error,
            _ => return None,
        };
        Some((level, text.trim_start()))
    });
    marked.unwrap_or_else(|| {
        let lower = line.to_ascii_lowercase();
        let fatal = ["fail", "panic", "error", "fatal"]
            .iter()
            .any(|w| lower.contains(w));
        let level = if fatal {
            CoreLogLevel::Error
        } else {
            CoreLogLevel::Info
        };
        (level, line)
    })
}

/// Drops Go's `log` prefix `YYYY/MM/DD HH:MM:SS[.frac] `.
fn strip_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let shaped = b.len() > 20
        && b[4] == b'/'
        && b[7] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[..4].iter().all(u8::is_ascii_digit);
    if !shaped {
        return line;
    }
    match line[19..].find(' ') {
        Some(i) => &line[19 + i + 1..],
        None => line,
    }
}

/// Whether a line is the core announcing it is up: `V2Ray 4.34.0 started`, `Xray 1.8.24
/// started` (at warning level, so it is printed unless logging is turned down to `error`).
pub fn is_started_line(raw: &str) -> bool {
    let (_, text) = parse_line(raw);
    text.ends_with(" started") && (text.contains("Xray ") || text.contains("V2Ray "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_timestamps_and_unmarked_lines_are_levelled() {
        let cases = [
            (
                "2026/11/25 18:44:51 [Warning] v2ray.com/core: V2Ray 4.34.0 started",
                CoreLogLevel::Warning,
                "v2ray.com/core: V2Ray 4.34.0 started",
            ),
            (
                "2024/05/01 10:00:00.123456 [Debug] app/log: Logger started",
                CoreLogLevel::Debug,
                "app/log: Logger started",
            ),
            (
                "2024/05/01 10:00:00 [Info] transport/internet/tcp: listening TCP on 0.0.0.0:443",
                CoreLogLevel::Info,
                "transport/internet/tcp: listening TCP on 0.0.0.0:443",
            ),
            ("[Error] bad thing\r", CoreLogLevel::Error, "bad thing"),
            (
                "Failed to start: main: failed to load config files",
                CoreLogLevel::Error,
                "Failed to start: main: failed to load config files",
            ),
            (
                "A unified platform for anti-censorship.",
                CoreLogLevel::Info,
                "A unified platform for anti-censorship.",
            ),
            ("[Loud] x", CoreLogLevel::Info, "[Loud] x"),
        ];
        for (raw, level, text) in cases {
            assert_eq!(parse_line(raw), (level, text), "{raw}");
        }
        assert!(is_started_line(
            "2026/11/25 18:44:51 [Warning] v2ray.com/core: V2Ray 4.34.0 started"
        ));
        assert!(is_started_line(
            "2024/05/01 10:00:00 [Warning] core: Xray 1.8.24 started"
        ));
        assert!(!is_started_line(
            "2026/11/25 18:44:51 [Debug] v2ray.com/core/app/log: Logger started"
        ));
    }

    #[test]
    fn the_ring_keeps_the_newest_lines_and_filters_by_level() {
        let ring = LogRing::new(3);
        for raw in ["[Info] a", "[Error] b", "[Debug] c", "[Warning] d"] {
            ring.push(raw);
        }
        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(texts(ring.tail(10, CoreLogLevel::Debug)), ["b", "c", "d"]);
        assert_eq!(texts(ring.tail(2, CoreLogLevel::Debug)), ["c", "d"]);
        assert_eq!(texts(ring.tail(10, CoreLogLevel::Warning)), ["b", "d"]);
        assert_eq!(texts(ring.since(3)), ["d"]);
        assert_eq!(ring.next_seq(), 4);
    }
}
