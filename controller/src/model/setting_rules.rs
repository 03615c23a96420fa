//! What each kept setting's value may be, beyond its type: a value the part that reads it
//! could not use (a subscription path of `""` that 404s every subscription, a domain with a
//! space that 403s them, a zone no tz database knows) is refused when it is set, with why.
//! Each check gets the value as it would be stored (trimmed; numbers and booleans in their
//! canonical text).

use std::net::IpAddr;

use super::Refusal;
use crate::config::place;

/// Why `text` cannot be the value of setting `name`, if it cannot.
pub fn problem(name: &str, text: &str) -> Option<Refusal> {
    match name {
        // The same checks as the panel's own address and port (`webListen`, `webPort`).
        "subPort" => place::check_port(text).err().map(|_| port_refusal()),
        "subPath" | "subJsonPath" | "subClashPath" => url_path(text),
        "webDomain" | "subDomain" => host_name(text),
        "subListen" => place::check_address(text).err().map(|_| address_refusal()),
        "timeLocation" => time_location(text),
        "subURI"
        | "subJsonURI"
        | "subClashURI"
        | "subSupportUrl"
        | "subProfileUrl"
        | "externalTrafficInformURI"
        | "tgBotAPIServer" => web_url(text, false),
        "xrayOutboundTestUrl" => web_url(text, true),
        "tgBotProxy" => proxy_url(text),
        "tgBotChatId" => chat_ids(text),
        "tgRunTime" => crate::schedule::Schedule::parse(text)
            .err()
            .map(|why| Refusal::new("err.schedule", &[("why", why)])),
        "tgEnabledEvents" => events(text),
        "tgOfflineGrace" => range(text, 0, 86_400, "err.range_seconds"),
        "trustedProxyCIDRs" | "ipLimitAllowlist" => address_list(text),
        "subJsonFragment" | "subJsonNoises" | "subJsonMux" | "subJsonRules" => json(text),
        "subRoutingRules" | "subIncyRoutingRules" => header_value(text),
        "datepicker" => one_of(text, &["gregorian", "jalalian"]),
        "tgCpu" | "tgMemory" => range(text, 0, 100, "err.range_percent"),
        "sessionMaxAge" => range(text, 1, 525_600, "err.range_minutes"),
        "pageSize" => range(text, 0, 1000, "err.range_rows"),
        "subUpdates" => range(text, 0, 8760, "err.range_hours"),
        "backupEveryHours" => range(text, 1, 8760, "err.range_hours"),
        "backupKeep" => range(text, 1, 1000, "err.range"),
        "backupDir" => absolute_path(text),
        "expireDiff" | "trafficDiff" | "outboundDownThreshold" => {
            range(text, 0, i64::from(u32::MAX), "err.range")
        }
        _ => None,
    }
}

/// [`place::check_port`]'s refusal, from the catalogs.
pub fn port_refusal() -> Refusal {
    Refusal::new("err.port_number", &[])
}

/// [`place::check_address`]'s refusal, from the catalogs.
pub fn address_refusal() -> Refusal {
    Refusal::new("err.listen_address", &[])
}

/// `key`: the sentence with the range's unit.
fn range(text: &str, low: i64, high: i64, key: &'static str) -> Option<Refusal> {
    let n: i64 = text.parse().ok()?;
    (!(low..=high).contains(&n)).then(|| {
        Refusal::new(
            key,
            &[
                ("min", low.to_string()),
                ("max", high.to_string()),
                ("value", n.to_string()),
            ],
        )
    })
}

/// A path the subscription listener serves under: `/…/`, of characters a URL carries as they
/// are; empty for the default (what the panel's form sends for a key left unset).
fn url_path(text: &str) -> Option<Refusal> {
    if text.is_empty() {
        return None;
    }
    let inner = text
        .strip_prefix('/')
        .and_then(|t| t.strip_suffix('/'))
        .filter(|t| !t.is_empty());
    let fine = inner.is_some_and(|inner| {
        text.len() <= 100
            && inner.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
            })
    });
    (!fine).then(|| Refusal::new("err.url_path", &[("value", text.to_owned())]))
}

/// Empty, or a DNS host name.
fn host_name(text: &str) -> Option<Refusal> {
    let fine = text.is_empty()
        || (text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    (!fine).then(|| Refusal::new("err.host_name", &[("value", text.to_owned())]))
}

/// What `jobs::periods::Zone` reads: empty, `UTC`, `Local` or an IANA zone this host knows.
fn time_location(text: &str) -> Option<Refusal> {
    match text {
        "" | "UTC" | "Etc/UTC" | "Local" => None,
        name => crate::util::iana_zone(name)
            .err()
            .map(|why| Refusal::new("err.time_zone", &[("error", why.to_string())])),
    }
}

/// Empty (unless `required`), or an `http(s)://host…` URL without spaces or controls.
fn web_url(text: &str, required: bool) -> Option<Refusal> {
    if text.is_empty() && !required {
        return None;
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let fine = rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    (!fine).then(|| Refusal::new("err.web_url", &[("value", text.to_owned())]))
}

fn proxy_url(text: &str) -> Option<Refusal> {
    let fine = text.is_empty()
        || (["socks5://", "socks5h://", "http://", "https://"]
            .iter()
            .any(|s| text.len() > s.len() && text.starts_with(s))
            && !text.chars().any(|c| c.is_whitespace() || c.is_control()));
    (!fine).then(|| Refusal::new("err.proxy_url", &[("value", text.to_owned())]))
}

/// Telegram chat ids, separated by commas: whole numbers.
fn chat_ids(text: &str) -> Option<Refusal> {
    let bad: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty() && item.parse::<i64>().is_err())
        .collect();
    (!bad.is_empty()).then(|| Refusal::new("err.chat_ids", &[("values", bad.join("`, `"))]))
}

/// Events the bot knows, separated by commas.
fn events(text: &str) -> Option<Refusal> {
    let bad: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|item| {
            !item.is_empty()
                && !crate::telegram::EVENTS.contains(item)
                && !crate::telegram::EVENTS_WITHOUT_SOURCE.contains(item)
        })
        .collect();
    (!bad.is_empty()).then(|| {
        Refusal::new(
            "err.events",
            &[
                ("values", bad.join("`, `")),
                ("known", crate::telegram::EVENTS.join(", ")),
            ],
        )
    })
}

/// Comma-separated addresses or CIDR ranges.
fn address_list(text: &str) -> Option<Refusal> {
    let bad: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty() && !is_cidr(item))
        .collect();
    (!bad.is_empty()).then(|| Refusal::new("err.address_list", &[("values", bad.join("`, `"))]))
}

fn is_cidr(item: &str) -> bool {
    let (address, bits) = match item.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (item, None),
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= max))
}

/// Empty, or JSON.
fn json(text: &str) -> Option<Refusal> {
    if text.is_empty() {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .err()
        .map(|e| Refusal::new("err.json_or_empty", &[("error", e.to_string())]))
}

/// Sent as an HTTP header's value: no line breaks or other controls.
fn header_value(text: &str) -> Option<Refusal> {
    text.chars()
        .any(char::is_control)
        .then(|| Refusal::new("err.header_value", &[]))
}

fn one_of(text: &str, allowed: &[&str]) -> Option<Refusal> {
    (!allowed.contains(&text))
        .then(|| Refusal::new("err.one_of_listed", &[("values", allowed.join(", "))]))
}

/// Empty (the default folder), or an absolute path: a relative one would depend on where the
/// controller was started.
fn absolute_path(text: &str) -> Option<Refusal> {
    (!text.is_empty() && !std::path::Path::new(text).is_absolute())
        .then(|| Refusal::new("err.absolute_path", &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::KEYS;

    #[test]
    fn every_default_passes_its_own_check() {
        for k in KEYS {
            assert_eq!(problem(k.name, k.default), None, "{}", k.name);
        }
    }

    #[test]
    fn values_the_readers_could_not_use_are_refused() {
        for (name, value) in [
            ("subDomain", "a b"),
            ("subPath", "/"),
            ("subPath", "sub"),
            ("subPath", "/a b/"),
            ("subPath", "/../"),
            ("timeLocation", "Mars/Olympus"),
            ("timeLocation", "../../etc/passwd"),
            ("subUpdates", "-1"),
            ("subPort", "0"),
            ("subPort", "70000"),
            ("subURI", "javascript:alert(1)"),
            ("trustedProxyCIDRs", "10.0.0.0/33"),
            ("subJsonRules", "{not json"),
            ("datepicker", "mayan"),
        ] {
            assert!(problem(name, value).is_some(), "{name} = {value:?}");
        }
        for (name, value) in [
            ("subDomain", "sub.example.com"),
            ("subPath", "/s3cret-path/"),
            ("subPath", ""),
            ("subURI", "https://sub.example.com/s/"),
            ("trustedProxyCIDRs", "10.0.0.0/8, 2001:db8::/32,192.0.2.1"),
            ("subJsonRules", r#"[{"type":"field"}]"#),
        ] {
            assert_eq!(problem(name, value), None, "{name} = {value:?}");
        }
    }
}
