//! Client source addresses from the core's access log, for IP limits. The log is read
//! incrementally from where the last read stopped; a file that shrank was rotated or
//! truncated and is read from its start.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use xfleet_common::traffic::ClientIps;

/// Bytes read per call at most, so a huge backlog cannot stall a poll.
const MAX_READ: u64 = 8 << 20;

pub struct AccessLog {
    path: PathBuf,
    offset: u64,
    /// A line cut at the end of the last read.
    partial: String,
}

impl AccessLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
        }
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
            if let Some((email, ip)) = parse_line(line) {
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
/// → (`a@b`, `203.0.113.7`). Lines without an email, rejected ones, and the API's own
/// loopback traffic are skipped.
fn parse_line(line: &str) -> Option<(String, String)> {
    let email = line.rsplit_once("email: ")?.1.trim();
    let mut words = line.split_whitespace();
    let (_date, _time) = (words.next()?, words.next()?);
    let source = words.next()?;
    if words.next()? != "accepted" {
        return None;
    }
    let source = source
        .strip_prefix("tcp:")
        .or_else(|| source.strip_prefix("udp:"))
        .unwrap_or(source);
    let ip = match source.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => source,
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if email.is_empty() || ip.is_empty() {
        return None;
    }
    Some((email.to_owned(), ip.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_parse_for_both_address_families() {
        assert_eq!(
            parse_line("2024/05/01 10:00:00 203.0.113.7:50412 accepted tcp:example.com:443 [in >> direct] email: alice"),
            Some(("alice".into(), "203.0.113.7".into()))
        );
        assert_eq!(
            parse_line(
                "2024/05/01 10:00:00 tcp:[2001:db8::1]:443 accepted udp:1.1.1.1:53 email: bob"
            ),
            Some(("bob".into(), "2001:db8::1".into()))
        );
        assert_eq!(
            parse_line("2024/05/01 10:00:00 1.2.3.4:5 rejected tcp:x:1 email: eve"),
            None
        );
        assert_eq!(
            parse_line("2024/05/01 10:00:00 1.2.3.4:5 accepted tcp:x:1"),
            None
        );
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
