//! The core's access log on disk: client source addresses from it for IP limits, and its
//! size kept bounded. The log is read incrementally from where the last read stopped; a file
//! that shrank was rotated or truncated and is read from its start.
//!
//! The core keeps the file open and appends to it, so the agent rotates by copying: past
//! [`MAX_FILE_BYTES`] the file is copied to `<name>.1` (replacing the previous copy) and cut
//! back to empty, right after a read, so the IP-limit reader has seen all but the lines
//! written between its read and the cut (those are still in the copy, for the panel).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use xfleet_common::traffic::ClientIps;

use super::access_entries::parse;

/// Bytes read per call at most, so a huge backlog cannot stall a poll.
const MAX_READ: u64 = 8 << 20;
/// The log is rotated past this size; with its one copy the access log takes at most about
/// twice this on disk.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

pub struct AccessLog {
    path: PathBuf,
    offset: u64,
    /// A line cut at the end of the last read.
    partial: String,
    max_bytes: u64,
}

/// Where the rotated copy of the log at `path` lives.
pub fn previous(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl AccessLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
            max_bytes: MAX_FILE_BYTES,
        }
    }

    #[cfg(test)]
    fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Self::read_new`], then the log rotated if it grew past its bound.
    pub fn read_and_rotate(&mut self) -> io::Result<Vec<ClientIps>> {
        let ips = self.read_new()?;
        if self.offset >= self.max_bytes {
            std::fs::copy(&self.path, previous(&self.path))?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)?
                .set_len(0)?;
            self.offset = 0;
            self.partial.clear();
        }
        Ok(ips)
    }

    /// Addresses per email in the lines written since the last call.
    pub fn read_new(&mut self) -> io::Result<Vec<ClientIps>> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(MAX_READ).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        let text = std::mem::take(&mut self.partial) + &String::from_utf8_lossy(&buf);
        let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut lines = text.split('\n').peekable();
        while let Some(line) = lines.next() {
            if lines.peek().is_none() {
                self.partial = line.to_owned();
                break;
            }
            if let Some((email, ip)) = client_ip(line) {
                seen.entry(email).or_default().insert(ip);
            }
        }
        Ok(seen
            .into_iter()
            .map(|(email, ips)| ClientIps {
                email,
                ips: ips.into_iter().collect(),
            })
            .collect())
    }
}

/// `2024/05/01 10:00:00 203.0.113.7:50412 accepted tcp:example.com:443 [in >> direct] email: a@b`
/// (or Xray's `… from 203.0.113.7:50412 accepted …`) → (`a@b`, `203.0.113.7`). Lines without
/// an email and rejected ones are skipped.
fn client_ip(line: &str) -> Option<(String, String)> {
    let line = parse(line)?;
    let ip = line.source_ip();
    if line.status != "accepted" || line.email.is_empty() || ip.is_empty() {
        return None;
    }
    Some((line.email.to_owned(), ip.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_parse_for_both_address_families() {
        assert_eq!(
            client_ip("2024/05/01 10:00:00 203.0.113.7:50412 accepted tcp:example.com:443 [in >> direct] email: alice"),
            Some(("alice".into(), "203.0.113.7".into()))
        );
        assert_eq!(
            client_ip(
                "2024/05/01 10:00:00 tcp:[2001:db8::1]:443 accepted udp:1.1.1.1:53 email: bob"
            ),
            Some(("bob".into(), "2001:db8::1".into()))
        );
        assert_eq!(
            client_ip("2024/05/01 10:00:00 1.2.3.4:5 rejected tcp:x:1 email: eve"),
            None
        );
        assert_eq!(
            client_ip("2024/05/01 10:00:00 1.2.3.4:5 accepted tcp:x:1"),
            None
        );
        // Xray's form names the source after `from`.
        assert_eq!(
            client_ip("2024/05/01 10:00:00.5 from 198.51.100.9:7 accepted tcp:x:1 [in >> direct] email: dan"),
            Some(("dan".into(), "198.51.100.9".into()))
        );
    }

    /// The log is kept near its bound while the core holds it open in append mode, and the
    /// IP-limit reader keeps seeing every client after each rotation.
    #[test]
    fn rotation_bounds_the_file_and_the_reader_keeps_working() {
        let dir = crate::testutil::TempDir::new("access-rotate");
        let path = dir.path().join("access.log");
        // As the core opens it.
        let mut core = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut log = AccessLog::new(path.clone()).with_max_bytes(1_000);
        for round in 0..20u32 {
            for n in 0..10u32 {
                writeln!(
                    core,
                    "2024/05/01 10:00:00 10.0.{round}.{n}:1 accepted tcp:x:1 [direct] email: u{round}"
                )
                .unwrap();
            }
            let seen = log.read_and_rotate().unwrap();
            assert_eq!(seen.len(), 1, "round {round}: {seen:?}");
            assert_eq!(seen[0].email, format!("u{round}"));
            assert_eq!(seen[0].ips.len(), 10, "round {round}");
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len < 1_000, "round {round}: {len} bytes left");
        }
        let copy = std::fs::read_to_string(previous(&path)).unwrap();
        assert!(
            copy.contains("email: u19") || copy.contains("email: u18"),
            "{copy}"
        );
        // Rotated or not, the panel's query reads both files.
        let entries = super::super::access_entries::query(
            &[previous(&path).as_path(), path.as_path()],
            &super::super::access_entries::Outbounds::default(),
            &xfleet_common::methods::AccessLogQuery::default(),
        )
        .unwrap();
        assert!(!entries.entries.is_empty());
    }

    #[test]
    fn reads_incrementally_and_survives_truncation() {
        let dir = crate::testutil::TempDir::new("access");
        let path = dir.path().join("access.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut log = AccessLog::new(path.clone());
        writeln!(f, "2024/05/01 10:00:00 1.1.1.1:1 accepted tcp:x:1 email: a").unwrap();
        write!(f, "2024/05/01 10:00:00 2.2.2.2:1 accepted tcp:x:1 em").unwrap();
        let first = log.read_new().unwrap();
        assert_eq!(
            first,
            vec![ClientIps {
                email: "a".into(),
                ips: vec!["1.1.1.1".into()]
            }]
        );
        writeln!(f, "ail: a").unwrap();
        let second = log.read_new().unwrap();
        assert_eq!(
            second[0].ips,
            vec!["2.2.2.2".to_string()],
            "the cut line is completed"
        );
        drop(f);
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "2024/05/01 10:00:00 3.3.3.3:1 accepted tcp:x:1 email: c").unwrap();
        assert_eq!(
            log.read_new().unwrap()[0].email,
            "c",
            "a truncated log is read again"
        );
    }
}
