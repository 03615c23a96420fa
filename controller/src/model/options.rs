//! Checks of an inbound's optional parts that the panel edits field by field: fallbacks, TLS
//! certificates and options, socket options and Hysteria's options. Each problem names the
//! exact path into the body (`settings.fallbacks[0].dest`), so a form can show it beside the
//! control; the core would refuse these values, or ignore them, with far less to go on.

use serde_json::{Map, Value};

use super::Problems;

/// Every check of this module; `protocol` and `stream` as the body has them.
pub(super) fn check(protocol: &str, settings: &Value, stream: &Value, p: &mut Problems) {
    let network = stream.get("network").and_then(Value::as_str).unwrap_or("");
    fallbacks(protocol, settings, p);
    if stream.get("security").and_then(Value::as_str) == Some("tls") {
        tls(stream.get("tlsSettings").unwrap_or(&Value::Null), p);
    }
    if let Some(sockopt) = stream.get("sockopt").filter(|v| !v.is_null()) {
        socket_options(sockopt, p);
    }
    if protocol.starts_with("hysteria") || network == "hysteria" {
        hysteria(stream, p);
    }
}

/// Fallbacks are checked on any transport: both cores and 3x-ui take them everywhere (off
/// RAW they act on nothing), so an imported inbound is not refused for them; the panel
/// offers them on RAW only.
fn fallbacks(protocol: &str, settings: &Value, p: &mut Problems) {
    const AT: &str = "settings.fallbacks";
    let list = match settings.get("fallbacks") {
        None | Some(Value::Null) => return,
        Some(Value::Array(list)) if list.is_empty() => return,
        Some(Value::Array(list)) => list,
        Some(_) => return p.say(AT, "err.list", &[]),
    };
    if !matches!(protocol, "vless" | "trojan") {
        return p.say(AT, "err.fallbacks_protocol", &[]);
    }
    for (i, fallback) in list.iter().enumerate() {
        let at = format!("{AT}[{i}]");
        let Some(fallback) = fallback.as_object() else {
            p.say(at, "err.fallback_object", &[]);
            continue;
        };
        for key in ["name", "alpn", "path"] {
            if !matches!(
                fallback.get(key),
                None | Some(Value::Null | Value::String(_))
            ) {
                p.say(format!("{at}.{key}"), "err.text", &[]);
            }
        }
        if let Some(path) = fallback.get("path").and_then(Value::as_str) {
            if !path.is_empty() && !path.starts_with('/') {
                p.say(format!("{at}.path"), "err.path_slash", &[]);
            }
        }
        if let Err(key) = fallback_dest(fallback.get("dest")) {
            p.say(format!("{at}.dest"), key, &[]);
        }
        match fallback.get("xver") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|x| x <= 2) => {}
            Some(_) => p.say(format!("{at}.xver"), "err.xver", &[]),
        }
    }
}

/// A fallback's `dest`: a port, `host:port`, or a Unix socket path (`/…`, abstract `@…`).
/// Errs with the catalog key of what is wrong.
fn fallback_dest(dest: Option<&Value>) -> Result<(), &'static str> {
    const WHAT: &str = "err.fallback_dest";
    const REQUIRED: &str = "err.fallback_dest_required";
    let port = |s: &str| s.parse::<u16>().is_ok_and(|p| p > 0);
    match dest {
        None | Some(Value::Null) => Err(REQUIRED),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| (1..=65535).contains(&n)) => Ok(()),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(REQUIRED);
            }
            let fine = if s.chars().all(|c| c.is_ascii_digit()) {
                port(s)
            } else if s.starts_with(['/', '@']) {
                true
            } else {
                s.rsplit_once(':').is_some_and(|(host, p)| {
                    !host.is_empty() && !host.contains(char::is_whitespace) && port(p)
                })
            };
            if fine {
                Ok(())
            } else {
                Err(WHAT)
            }
        }
        Some(_) => Err(WHAT),
    }
}

const TLS_VERSIONS: &[&str] = &["", "1.0", "1.1", "1.2", "1.3"];
const USAGES: &[&str] = &["", "encipherment", "verify", "issue"];
/// The suite names Go's `crypto/tls` knows, which is what the cores hand `cipherSuites` to.
const CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
];
/// uTLS fingerprints share links may name.
const FINGERPRINTS: &[&str] = &[
    "",
    "chrome",
    "firefox",
    "safari",
    "ios",
    "android",
    "edge",
    "360",
    "qq",
    "random",
    "randomized",
    "randomizednoalpn",
];

fn tls(tls: &Value, p: &mut Problems) {
    const AT: &str = "streamSettings.tlsSettings";
    let empty = Map::new();
    let tls = match tls {
        Value::Null => &empty,
        Value::Object(tls) => tls,
        _ => return p.say(AT, "err.object", &[]),
    };
    match tls.get("certificates") {
        Some(Value::Array(list)) if !list.is_empty() => {
            for (i, cert) in list.iter().enumerate() {
                certificate(&format!("{AT}.certificates[{i}]"), cert, p);
            }
        }
        _ => p.say(format!("{AT}.certificates"), "err.tls_certificates", &[]),
    }
    let text = |key: &str| tls.get(key).and_then(Value::as_str).unwrap_or("");
    for key in ["minVersion", "maxVersion"] {
        if !TLS_VERSIONS.contains(&text(key)) || !is_text(tls.get(key)) {
            p.say(format!("{AT}.{key}"), "err.tls_version", &[]);
        }
    }
    let (min, max) = (text("minVersion"), text("maxVersion"));
    if !min.is_empty() && !max.is_empty() && min > max {
        p.say(
            format!("{AT}.maxVersion"),
            "err.tls_version_below",
            &[("min", min.to_owned())],
        );
    }
    match tls.get("cipherSuites") {
        None | Some(Value::Null) => {}
        Some(Value::String(suites)) => {
            let unknown: Vec<&str> = suites
                .split(':')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !CIPHER_SUITES.contains(s))
                .collect();
            if !unknown.is_empty() {
                p.say(
                    format!("{AT}.cipherSuites"),
                    "err.cipher_suites",
                    &[("suites", unknown.join(", "))],
                );
            }
        }
        Some(_) => p.say(format!("{AT}.cipherSuites"), "err.cipher_text", &[]),
    }
    for key in [
        "rejectUnknownSni",
        "disableSystemRoot",
        "enableSessionResumption",
    ] {
        check_bool(tls, key, &format!("{AT}.{key}"), p);
    }
    if !is_text(tls.get("serverName")) {
        p.say(format!("{AT}.serverName"), "err.text", &[]);
    }
    match tls.get("alpn") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {}
        Some(_) => p.say(format!("{AT}.alpn"), "err.alpn", &[]),
    }
    // Panel-only: what share links tell clients.
    if let Some(panel) = tls.get("settings").and_then(Value::as_object) {
        let fingerprint = panel.get("fingerprint");
        let known = fingerprint
            .and_then(Value::as_str)
            .is_some_and(|f| FINGERPRINTS.contains(&f));
        if !(fingerprint.is_none_or(Value::is_null) || known) {
            p.say(
                format!("{AT}.settings.fingerprint"),
                "err.one_of",
                &[("values", FINGERPRINTS[1..].join(", "))],
            );
        }
        check_bool(
            panel,
            "allowInsecure",
            &format!("{AT}.settings.allowInsecure"),
            p,
        );
    }
}

/// One certificate entry: a file pair or a pasted PEM pair (a file certificate with a
/// pasted key, or the reverse, is what the cores accept too).
fn certificate(at: &str, cert: &Value, p: &mut Problems) {
    let Some(cert) = cert.as_object() else {
        return p.say(at, "err.cert_object", &[]);
    };
    // A missing half is named the way its other half was given (a file, or pasted).
    let given = |key: &str| cert.get(key).is_some_and(|v| !is_empty_value(v));
    let pasted = [
        given("key") && !given("keyFile"),
        given("certificate") && !given("certificateFile"),
    ];
    // Per half: its two keys, its PEM marker and its sentences (missing, both given, not PEM).
    let halves = [
        (
            "certificateFile",
            "certificate",
            "-----BEGIN CERTIFICATE-----",
            ["err.cert_missing", "err.cert_both", "err.cert_not_pem"],
        ),
        (
            "keyFile",
            "key",
            "PRIVATE KEY-----",
            ["err.key_missing", "err.key_both", "err.key_not_pem"],
        ),
    ];
    for ((file_key, inline_key, marker, [missing, both, not_pem]), other_pasted) in
        halves.into_iter().zip(pasted)
    {
        let file = match cert.get(file_key) {
            None | Some(Value::Null) => "",
            Some(Value::String(f)) => f.trim(),
            Some(_) => {
                p.say(format!("{at}.{file_key}"), "err.file_path", &[]);
                continue;
            }
        };
        let inline = match cert.get(inline_key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Array(lines)) if lines.iter().all(Value::is_string) => lines
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned(),
            Some(_) => {
                p.say(format!("{at}.{inline_key}"), "err.pem_text", &[]);
                continue;
            }
        };
        match (file.is_empty(), inline.is_empty()) {
            (true, true) => p.say(
                format!("{at}.{}", if other_pasted { inline_key } else { file_key }),
                missing,
                &[],
            ),
            (false, false) => p.say(format!("{at}.{inline_key}"), both, &[]),
            (false, true) if !file.starts_with('/') => {
                p.say(format!("{at}.{file_key}"), "err.absolute_path", &[])
            }
            (true, false) if !(inline.contains(marker) && inline.contains("-----BEGIN")) => {
                p.say(format!("{at}.{inline_key}"), not_pem, &[])
            }
            _ => {}
        }
    }
    let usage = cert.get("usage");
    if !(is_text(usage) && USAGES.contains(&usage.and_then(Value::as_str).unwrap_or(""))) {
        p.say(format!("{at}.usage"), "err.cert_usage", &[]);
    }
    if !cert
        .get("ocspStapling")
        .is_none_or(|v| v.is_null() || v.as_u64().is_some())
    {
        p.say(format!("{at}.ocspStapling"), "err.ocsp_stapling", &[]);
    }
    for key in ["oneTimeLoading", "buildChain"] {
        check_bool(cert, key, &format!("{at}.{key}"), p);
    }
}

const TPROXY: &[&str] = &["", "off", "redirect", "tproxy"];
const DOMAIN_STRATEGIES: &[&str] = &[
    "asis",
    "useip",
    "useipv4",
    "useipv6",
    "useipv4v6",
    "useipv6v4",
    "forceip",
    "forceipv4",
    "forceipv6",
    "forceipv4v6",
    "forceipv6v4",
];

fn socket_options(sockopt: &Value, p: &mut Problems) {
    const AT: &str = "streamSettings.sockopt";
    let Some(sockopt) = sockopt.as_object() else {
        return p.say(AT, "err.object", &[]);
    };
    for key in ["acceptProxyProtocol", "v6only", "tcpMptcp", "penetrate"] {
        check_bool(sockopt, key, &format!("{AT}.{key}"), p);
    }
    for key in [
        "mark",
        "tcpKeepAliveInterval",
        "tcpKeepAliveIdle",
        "tcpUserTimeout",
        "tcpMaxSeg",
        "tcpWindowClamp",
    ] {
        let fine = sockopt
            .get(key)
            .is_none_or(|v| v.is_null() || v.as_u64().is_some_and(|n| n <= i32::MAX as u64));
        if !fine {
            p.say(
                format!("{AT}.{key}"),
                "err.whole_number",
                &[("max", i32::MAX.to_string())],
            );
        }
    }
    match sockopt.get("tcpFastOpen") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(v) if v.as_i64().is_some() => {}
        Some(_) => p.say(format!("{AT}.tcpFastOpen"), "err.tcp_fast_open", &[]),
    }
    let text = |key: &str| sockopt.get(key).and_then(Value::as_str);
    for key in [
        "tproxy",
        "domainStrategy",
        "tcpcongestion",
        "tcpCongestion",
        "interface",
    ] {
        if !is_text(sockopt.get(key)) {
            p.say(format!("{AT}.{key}"), "err.text", &[]);
        }
    }
    if !TPROXY.contains(&text("tproxy").unwrap_or("")) {
        p.say(format!("{AT}.tproxy"), "err.tproxy", &[]);
    }
    let strategy = text("domainStrategy").unwrap_or("").to_ascii_lowercase();
    if !strategy.is_empty() && !DOMAIN_STRATEGIES.contains(&strategy.as_str()) {
        p.say(format!("{AT}.domainStrategy"), "err.domain_strategy", &[]);
    }
    // Xray reads the key case-insensitively; 3x-ui writes `tcpcongestion`.
    for key in ["tcpcongestion", "tcpCongestion"] {
        let name = text(key).unwrap_or("");
        let fine = name.len() < 16
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !fine {
            p.say(format!("{AT}.{key}"), "err.tcp_congestion", &[]);
        }
    }
    let interface = text("interface").unwrap_or("");
    if interface.len() > 15 || interface.contains(['/', ' ', '\t']) {
        p.say(format!("{AT}.interface"), "err.interface", &[]);
    }
}

const MASQUERADES: &[&str] = &["", "file", "proxy", "string"];
const CONGESTIONS: &[&str] = &["", "reno", "bbr", "brutal", "force-brutal"];

fn hysteria(stream: &Value, p: &mut Problems) {
    const AT: &str = "streamSettings.hysteriaSettings";
    let settings = stream.get("hysteriaSettings").unwrap_or(&Value::Null);
    if !matches!(settings, Value::Null | Value::Object(_)) {
        return p.say(AT, "err.object", &[]);
    }
    match settings.get("udpIdleTimeout") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|s| s == 0 || (2..=600).contains(&s)) => {}
        Some(_) => p.say(format!("{AT}.udpIdleTimeout"), "err.udp_idle_timeout", &[]),
    }
    if let Some(masquerade) = settings.get("masquerade").filter(|m| !m.is_null()) {
        masquerade_check(&format!("{AT}.masquerade"), masquerade, p);
    }
    let mask = stream.get("finalmask").unwrap_or(&Value::Null);
    if let Some(quic) = mask.get("quicParams").filter(|q| !q.is_null()) {
        let at = "streamSettings.finalmask.quicParams";
        let congestion = quic.get("congestion");
        let known = congestion
            .and_then(Value::as_str)
            .is_some_and(|c| CONGESTIONS.contains(&c));
        if !(congestion.is_none_or(Value::is_null) || known) {
            p.say(format!("{at}.congestion"), "err.quic_congestion", &[]);
        }
        for key in ["brutalUp", "brutalDown"] {
            if let Err(why) = bandwidth(quic.get(key)) {
                p.say(format!("{at}.{key}"), why, &[]);
            }
        }
    }
    let udp = mask.get("udp").and_then(Value::as_array);
    for (i, layer) in udp.into_iter().flatten().enumerate() {
        let salamander = layer.get("type").and_then(Value::as_str) == Some("salamander");
        let password = layer
            .pointer("/settings/password")
            .and_then(Value::as_str)
            .unwrap_or("");
        if salamander && password.is_empty() {
            p.say(
                format!("streamSettings.finalmask.udp[{i}].settings.password"),
                "err.salamander_password",
                &[],
            );
        }
    }
}

fn masquerade_check(at: &str, m: &Value, p: &mut Problems) {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
    if !MASQUERADES.contains(&kind) || !is_text(m.get("type")) {
        return p.say(format!("{at}.type"), "err.masquerade_type", &[]);
    }
    let text = |key: &str| m.get(key).and_then(Value::as_str).unwrap_or("").trim();
    match kind {
        "file" if !text("dir").starts_with('/') => {
            p.say(format!("{at}.dir"), "err.masquerade_dir", &[])
        }
        "proxy" if !(text("url").starts_with("http://") || text("url").starts_with("https://")) => {
            p.say(format!("{at}.url"), "err.http_url", &[])
        }
        _ => {}
    }
    match m.get("statusCode") {
        None | Some(Value::Null) => {}
        Some(v)
            if v.as_u64()
                .is_some_and(|c| c == 0 || (100..=599).contains(&c)) => {}
        Some(_) => p.say(format!("{at}.statusCode"), "err.status_code", &[]),
    }
    for key in ["rewriteHost", "insecure"] {
        if let Some(m) = m.as_object() {
            check_bool(m, key, &format!("{at}.{key}"), p);
        }
    }
}

/// A Brutal rate: bits per second as a number, or text such as `100 mbps`, `20mb` or `1g`;
/// 0 or empty is no limit. Anything else must be at least 65535 bps. Errs with a catalog key.
fn bandwidth(value: Option<&Value>) -> Result<(), &'static str> {
    const WHAT: &str = "err.rate";
    const LOW: &str = "err.rate_low";
    let bits = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Number(n)) => n.as_f64().ok_or(WHAT)?,
        Some(Value::String(s)) => {
            let s: String = s.to_ascii_lowercase().split_whitespace().collect();
            if s.is_empty() {
                return Ok(());
            }
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (number, unit) = s.split_at(split);
            let number: f64 = number.parse().map_err(|_| WHAT)?;
            let scale = match unit {
                "" | "b" | "bps" => 1.0,
                "k" | "kb" | "kbps" => 1e3,
                "m" | "mb" | "mbps" => 1e6,
                "g" | "gb" | "gbps" => 1e9,
                "t" | "tb" | "tbps" => 1e12,
                _ => return Err(WHAT),
            };
            number * scale
        }
        Some(_) => return Err(WHAT),
    };
    if bits < 0.0 {
        Err(WHAT)
    } else if bits != 0.0 && bits < 65535.0 {
        Err(LOW)
    } else {
        Ok(())
    }
}

/// Null, `""` (blank) or `[]`.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn is_text(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null | Value::String(_)))
}

fn check_bool(obj: &Map<String, Value>, key: &str, at: &str, p: &mut Problems) {
    if !matches!(obj.get(key), None | Some(Value::Null | Value::Bool(_))) {
        p.say(at, "err.bool", &[]);
    }
}

#[cfg(test)]
mod tests;
