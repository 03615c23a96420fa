//! The controller's own recent log lines, kept in memory for the panel's log viewer and
//! 3x-ui's `logs` route. The binary installs [`RingWriter`] as a second output of the same
//! subscriber that writes to stderr, behind the same filter, so the ring holds exactly the
//! text the process prints (no colour codes), and nothing a log line would not show.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use xfleet_common::time::now_ms;

/// Lines kept at most.
pub const MAX_LINES: usize = 2_000;
/// Bytes of text kept at most, whatever the number of lines.
const MAX_BYTES: usize = 1 << 20;
/// A longer line is cut here.
const MAX_LINE_BYTES: usize = 4 << 10;

/// One line the controller logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// When it was logged, ms since the Unix epoch.
    pub at_ms: i64,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(serialize_with = "level_name")]
    pub level: Level,
    /// As printed: time, level, where, message and fields.
    pub text: String,
}

fn level_name<S: serde::Serializer>(level: &Level, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&level.as_str().to_ascii_lowercase())
}

impl LogLine {
    /// The text without the time and level the formatter put first.
    pub fn message(&self) -> &str {
        let rest = self.text.trim_start();
        let rest = rest.split_once(' ').map_or("", |(_, r)| r).trim_start();
        let rest = rest.split_once(' ').map_or("", |(_, r)| r);
        rest.trim_start()
    }
}

#[derive(Default)]
pub struct LogRing {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
}

/// The process's ring; empty when the binary did not install [`RingWriter`] (tests that
/// run the controller in-process).
pub fn recent() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(LogRing::default)
}

impl LogRing {
    pub fn push(&self, level: Level, text: &str) {
        let mut text = text.trim_end().to_owned();
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.bytes += text.len();
        ring.lines.push_back(LogLine {
            at_ms: now_ms(),
            level,
            text,
        });
        while ring.lines.len() > MAX_LINES || ring.bytes > MAX_BYTES {
            match ring.lines.pop_front() {
                Some(old) => ring.bytes -= old.text.len(),
                None => break,
            }
        }
    }

    /// The newest `count` lines at `min_level` or more severe, oldest first.
    pub fn tail(&self, count: usize, min_level: Level) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // `tracing` orders levels by verbosity: ERROR is the smallest.
        let mut lines: Vec<LogLine> = ring
            .lines
            .iter()
            .rev()
            .filter(|l| l.level <= min_level)
            .take(count)
            .cloned()
            .collect();
        lines.reverse();
        lines
    }
}

/// A `tracing_subscriber` writer into [`recent`]: each event's formatted line, with its level.
pub struct RingWriter;

/// One event being formatted; it goes into the ring when the formatter drops it.
pub struct EventWriter {
    level: Level,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            recent().push(self.level, &String::from_utf8_lossy(&self.buf));
        }
    }
}

impl<'a> MakeWriter<'a> for RingWriter {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            level: Level::INFO,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> EventWriter {
        EventWriter {
            level: *meta.level(),
            buf: Vec::new(),
        }
    }
}

/// A level as 3x-ui and the panel name it (`debug`, `info`, `notice`, `warning`, `error`;
/// empty: everything); the controller has no notice lines, so notice reads as warning.
pub fn parse_level(name: &str) -> Result<Level, String> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" | "debug" | "trace" => Ok(Level::DEBUG),
        "info" => Ok(Level::INFO),
        "notice" | "warning" | "warn" => Ok(Level::WARN),
        "error" | "critical" => Ok(Level::ERROR),
        other => Err(format!(
            "unknown log level `{other}`; use debug, info, notice, warning or error"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_by_level_within_its_bounds() {
        let ring = LogRing::default();
        for n in 0..(MAX_LINES + 10) {
            let level = if n % 2 == 0 { Level::INFO } else { Level::WARN };
            ring.push(
                level,
                &format!("2026-12-06T18:00:00.000001Z  INFO x: line {n}\n"),
            );
        }
        let all = ring.tail(usize::MAX, Level::TRACE);
        assert_eq!(all.len(), MAX_LINES);
        assert!(all
            .last()
            .unwrap()
            .text
            .ends_with(&format!("line {}", MAX_LINES + 9)));
        let warnings = ring.tail(3, Level::WARN);
        assert_eq!(warnings.len(), 3);
        assert!(warnings.iter().all(|l| l.level == Level::WARN));
        assert_eq!(warnings[2].message(), format!("x: line {}", MAX_LINES + 9));
        ring.push(Level::ERROR, &"y".repeat(MAX_BYTES));
        let last = ring.tail(1, Level::ERROR);
        assert!(last[0].text.len() <= MAX_LINE_BYTES + 3);
        assert_eq!(parse_level("notice"), Ok(Level::WARN));
        assert!(parse_level("loud").unwrap_err().contains("`loud`"));
    }
}
