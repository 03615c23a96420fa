//! The core's access log as entries for the panel (3x-ui's `xraylogs`): each line parsed into
//! time, source, destination, inbound and outbound tags and email, classified as direct,
//! blocked or proxy by the outbound it went to, and the newest ones matching a query.
//!
//! The two flavours write the same line with small differences:
//! - v2ray 4.x: `2024/05/01 10:00:00 1.2.3.4:5 accepted tcp:example.com:443 [direct] email: a`
//! - Xray: `2024/05/01 10:00:00.123456 from 1.2.3.4:5 accepted tcp:example.com:443
//!   [in-443 >> direct] email: a` (the arrow is `->`, `=>` or `==>` when a rule or balancer
//!   picked the outbound).

use std::collections::BTreeSet;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use xfleet_common::methods::{
    AccessEvent, AccessLogEntries, AccessLogEntry, AccessLogQuery, MAX_ACCESS_LOG_ENTRIES,
};

/// Longest line kept: a client names its destination, so a line can be made long.
const MAX_LINE_BYTES: usize = 2048;
/// Most bytes of entries in one answer, well under a channel frame.
const MAX_ANSWER_BYTES: usize = 2 << 20;
/// The core's API inbound and outbound: the agent's own calls, never shown.
const API_TAG: &str = "api";

/// One access log line, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub time: String,
    pub source: &'a str,
    pub status: &'a str,
    pub destination: &'a str,
    pub inbound: &'a str,
    pub outbound: &'a str,
    pub email: &'a str,
}

impl Line<'_> {
    /// The source address without protocol and port: `tcp:[2001:db8::1]:443` → `2001:db8::1`.
    pub fn source_ip(&self) -> &str {
        let source = self.source.trim_start_matches('/');
        let source = source
            .strip_prefix("tcp:")
            .or_else(|| source.strip_prefix("udp:"))
            .unwrap_or(source);
        let ip = match source.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => source,
        };
        ip.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Parses a line of either flavour; `None` for anything else (the core's other output, a
/// line cut short).
pub fn parse(line: &str) -> Option<Line<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (email_part, email) = match line.rsplit_once(" email: ") {
        Some((before, email)) => (before, email.trim()),
        None => (line, ""),
    };
    let mut rest = email_part;
    let mut next = || -> Option<&str> {
        let trimmed = rest.trim_start();
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        let (word, after) = trimmed.split_at(end);
        rest = after;
        (!word.is_empty()).then_some(word)
    };
    let (date, clock) = (next()?, next()?);
    let date_ok = date.len() == 10 && date.as_bytes()[4] == b'/' && date.as_bytes()[7] == b'/';
    let clock_ok = clock.as_bytes().get(2) == Some(&b':');
    if !(date_ok && clock_ok) {
        return None;
    }
    let mut source = next()?;
    if source == "from" {
        source = next()?;
    }
    let status = next()?;
    if status != "accepted" && status != "rejected" {
        return None;
    }
    if status == "rejected" {
        // No destination: the core's reason follows, in its own words.
        return Some(Line {
            time: format!("{date} {clock}"),
            source,
            status,
            destination: rest.trim(),
            inbound: "",
            outbound: "",
            email,
        });
    }
    let destination = next()?;
    let detour = rest.trim();
    let (inbound, outbound) = match detour
        .strip_prefix('[')
        .and_then(|d| d.split_once(']'))
        .map(|(d, _)| d)
    {
        Some(detour) => [" >> ", " -> ", " ==> ", " => "]
            .iter()
            .find_map(|arrow| detour.split_once(arrow))
            .unwrap_or(("", detour)),
        None => ("", ""),
    };
    Some(Line {
        time: format!("{date} {clock}"),
        source,
        status,
        destination,
        inbound: inbound.trim(),
        outbound: outbound.trim(),
        email,
    })
}

/// Outbound tags by what they do, from the configuration the core runs: `freedom` outbounds
/// are direct, `blackhole` ones blocked; 3x-ui's default tags count even when the
/// configuration is not known.
#[derive(Debug, Clone, Default)]
pub struct Outbounds {
    direct: BTreeSet<String>,
    blocked: BTreeSet<String>,
}

impl Outbounds {
    pub fn from_config(config: Option<&serde_json::Value>) -> Self {
        let mut tags = Self::default();
        tags.direct.insert("direct".into());
        tags.blocked.insert("blocked".into());
        let outbounds = config
            .and_then(|c| c["outbounds"].as_array())
            .cloned()
            .unwrap_or_default();
        for outbound in outbounds {
            let Some(tag) = outbound["tag"].as_str() else {
                continue;
            };
            match outbound["protocol"].as_str() {
                Some("freedom") => tags.direct.insert(tag.to_owned()),
                Some("blackhole") => tags.blocked.insert(tag.to_owned()),
                _ => false,
            };
        }
        tags
    }

    /// A refused connection counts as blocked, whichever outbound it named.
    pub fn classify(&self, line: &Line<'_>) -> AccessEvent {
        if line.status == "rejected" || self.blocked.contains(line.outbound) {
            AccessEvent::Blocked
        } else if self.direct.contains(line.outbound) {
            AccessEvent::Direct
        } else {
            AccessEvent::Proxy
        }
    }
}

/// The newest entries matching `query` in `files` (oldest file first), oldest entry first.
pub fn query(
    files: &[&Path],
    outbounds: &Outbounds,
    query: &AccessLogQuery,
) -> io::Result<AccessLogEntries> {
    let count = query.count.clamp(1, MAX_ACCESS_LOG_ENTRIES) as usize;
    let filter = query.filter.trim().to_lowercase();
    let mut newest_first = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    'files: for file in files.iter().rev() {
        let text = match read_whole(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for raw in text.lines().rev() {
            if raw.len() > MAX_LINE_BYTES {
                continue;
            }
            if !filter.is_empty() && !raw.to_lowercase().contains(&filter) {
                continue;
            }
            let Some(line) = parse(raw) else { continue };
            if line.inbound == API_TAG || line.outbound == API_TAG {
                continue;
            }
            let event = outbounds.classify(&line);
            let wanted = match event {
                AccessEvent::Direct => query.direct,
                AccessEvent::Blocked => query.blocked,
                AccessEvent::Proxy => query.proxy,
            };
            if !wanted {
                continue;
            }
            bytes += raw.len() + 64;
            if bytes > MAX_ANSWER_BYTES {
                truncated = true;
                break 'files;
            }
            newest_first.push(entry(&line, event));
            if newest_first.len() == count {
                break 'files;
            }
        }
    }
    newest_first.reverse();
    Ok(AccessLogEntries {
        entries: newest_first,
        truncated,
    })
}

fn entry(line: &Line<'_>, event: AccessEvent) -> AccessLogEntry {
    AccessLogEntry {
        time: line.time.clone(),
        source: line.source.to_owned(),
        status: line.status.to_owned(),
        destination: line.destination.to_owned(),
        inbound: line.inbound.to_owned(),
        outbound: line.outbound.to_owned(),
        email: line.email.to_owned(),
        event,
    }
}

/// A whole log file, at most its last `super::access_log::MAX_FILE_BYTES` and a little more
/// (the agent keeps it near that size), cut at the first full line.
fn read_whole(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let limit = 2 * super::access_log::MAX_FILE_BYTES;
    let start = len.saturating_sub(limit);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(limit).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(match (start, text.find('\n')) {
        (0, _) | (_, None) => text,
        (_, Some(cut)) => text[cut + 1..].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Written by Debian's v2ray 4.34 (socks and vmess inbounds, freedom and blackhole
    /// outbounds), captured as is.
    const V2RAY: &[&str] = &[
        "2026/12/06 18:44:07 tcp:127.0.0.1:49180 accepted tcp:127.0.0.1:18090 [direct]",
        "2026/12/06 18:44:07 127.0.0.1:54422 accepted tcp:localhost:18090 [direct] email: alice@x",
        "2026/12/06 18:44:07 127.0.0.1:54426 accepted tcp:127.0.0.1:9 [blocked] email: alice@x",
    ];
    /// Xray's form (`common/log/access.go`, `app/dispatcher/default.go`).
    const XRAY: &[&str] = &[
        "2024/05/01 10:00:00.123456 from 203.0.113.7:50412 accepted tcp:example.com:443 [in-443 >> direct] email: bob@x",
        "2024/05/01 10:00:01.5 from tcp:[2001:db8::1]:1 accepted udp:1.1.1.1:53 [in-443 -> warp] email: carol",
        "2024/05/01 10:00:02.000001 from 127.0.0.1:40000 accepted tcp:127.0.0.1:62789 [api -> api]",
        "2024/05/01 10:00:03.000001 from 198.51.100.2:1 rejected  proxy/vless/encoding: invalid request user id",
    ];

    #[test]
    fn v2ray_lines_parse_without_an_inbound_tag() {
        let l = parse(V2RAY[1]).unwrap();
        assert_eq!(l.time, "2026/12/06 18:44:07");
        assert_eq!(
            (l.source, l.status, l.destination),
            ("127.0.0.1:54422", "accepted", "tcp:localhost:18090")
        );
        assert_eq!((l.inbound, l.outbound, l.email), ("", "direct", "alice@x"));
        let l = parse(V2RAY[0]).unwrap();
        assert_eq!(
            (l.source_ip(), l.outbound, l.email),
            ("127.0.0.1", "direct", "")
        );
    }

    #[test]
    fn xray_lines_parse_with_both_tags() {
        let l = parse(XRAY[0]).unwrap();
        assert_eq!(l.time, "2024/05/01 10:00:00.123456");
        assert_eq!(l.source_ip(), "203.0.113.7");
        assert_eq!(
            (l.inbound, l.outbound, l.email),
            ("in-443", "direct", "bob@x")
        );
        let l = parse(XRAY[1]).unwrap();
        assert_eq!((l.source_ip(), l.outbound), ("2001:db8::1", "warp"));
        let l = parse(XRAY[3]).unwrap();
        assert_eq!((l.status, l.outbound), ("rejected", ""));
        assert_eq!(
            l.destination,
            "proxy/vless/encoding: invalid request user id"
        );
        assert_eq!(parse("core: Xray 1.8.24 started"), None);
        assert_eq!(parse("2024/05/01 10:00:00 [Warning] something"), None);
    }

    fn outbounds() -> Outbounds {
        Outbounds::from_config(Some(&serde_json::json!({"outbounds": [
            {"tag": "out-free", "protocol": "freedom"},
            {"tag": "ip-limit-refused", "protocol": "blackhole"},
            {"tag": "warp", "protocol": "wireguard"},
        ]})))
    }

    fn write_log(dir: &Path, name: &str, lines: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        path
    }

    fn destinations(entries: &AccessLogEntries) -> Vec<&str> {
        entries
            .entries
            .iter()
            .map(|e| e.destination.as_str())
            .collect()
    }

    #[test]
    fn filters_pick_lines_as_3x_ui_does() {
        let dir = crate::testutil::TempDir::new("access-query");
        let old = write_log(dir.path(), "access.log.1", V2RAY);
        let new = write_log(dir.path(), "access.log", XRAY);
        let files = [old.as_path(), new.as_path()];
        let all = query(&files, &outbounds(), &AccessLogQuery::default()).unwrap();
        // The API's own line is never shown; the oldest file's lines come first.
        assert_eq!(
            destinations(&all),
            [
                "tcp:127.0.0.1:18090",
                "tcp:localhost:18090",
                "tcp:127.0.0.1:9",
                "tcp:example.com:443",
                "udp:1.1.1.1:53",
                "proxy/vless/encoding: invalid request user id"
            ]
        );
        let events: Vec<AccessEvent> = all.entries.iter().map(|e| e.event).collect();
        use AccessEvent::*;
        assert_eq!(events, [Direct, Direct, Blocked, Direct, Proxy, Blocked]);

        let no_direct = AccessLogQuery {
            direct: false,
            ..Default::default()
        };
        let got = query(&files, &outbounds(), &no_direct).unwrap();
        assert_eq!(
            destinations(&got),
            [
                "tcp:127.0.0.1:9",
                "udp:1.1.1.1:53",
                "proxy/vless/encoding: invalid request user id"
            ]
        );
        let only_proxy = AccessLogQuery {
            direct: false,
            blocked: false,
            ..Default::default()
        };
        let got = query(&files, &outbounds(), &only_proxy).unwrap();
        assert_eq!(got.entries[0].email, "carol");
        let text = AccessLogQuery {
            filter: "ALICE".into(),
            count: 1,
            ..Default::default()
        };
        let got = query(&files, &outbounds(), &text).unwrap();
        assert_eq!(destinations(&got), ["tcp:127.0.0.1:9"], "the newest match");
        let missing = dir.path().join("none.log");
        let got = query(&[missing.as_path()], &outbounds(), &text).unwrap();
        assert!(got.entries.is_empty());
    }
}
