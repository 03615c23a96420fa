//! An independent reader of share links (written from the formats' descriptions, sharing no
//! code with the controller): a link becomes a v2ray 4.x client outbound.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde_json::{json, Value};

/// What a link says, whatever its scheme.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub scheme: String,
    pub remark: String,
    pub address: String,
    pub port: u16,
    pub outbound: Value,
}

/// `%XX` decoding (and nothing else; `+` stays a plus).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| {
            let padded = format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
            STANDARD
                .decode(&padded)
                .or_else(|_| URL_SAFE.decode(&padded))
        })
        .map_err(|e| format!("bad base64 `{s}`: {e}"))
}

/// Parses one link; an error says what is unsupported or malformed.
pub fn parse(link: &str) -> Result<Parsed, String> {
    let (scheme, rest) = link
        .split_once("://")
        .ok_or_else(|| format!("no scheme in `{link}`"))?;
    if scheme == "vmess" {
        return vmess(rest);
    }
    let (rest, remark) = rest.split_once('#').unwrap_or((rest, ""));
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (user, hostport) = authority
        .rsplit_once('@')
        .ok_or_else(|| format!("no user in `{link}`"))?;
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("no port in `{link}`"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port: u16 = port.parse().map_err(|_| format!("bad port in `{link}`"))?;
    let q: BTreeMap<String, String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let stream = stream_from_query(&q)?;
    let outbound = match scheme {
        "vless" => {
            if get("encryption") != "none" && !get("encryption").is_empty() {
                return Err("VLESS encryption other than none".into());
            }
            if !get("flow").is_empty() {
                return Err(format!("flow {} (XTLS) is not in v2ray", get("flow")));
            }
            json!({"protocol": "vless", "settings": {"vnext": [{"address": host, "port": port,
                "users": [{"id": percent_decode(user), "encryption": "none"}]}]},
                "streamSettings": stream})
        }
        "trojan" => json!({"protocol": "trojan", "settings": {"servers": [{"address": host,
                "port": port, "password": percent_decode(user)}]}, "streamSettings": stream}),
        "ss" => {
            let info = String::from_utf8(b64(&percent_decode(user))?)
                .map_err(|_| "ss userinfo is not UTF-8".to_string())?;
            let (method, password) = info
                .split_once(':')
                .ok_or_else(|| format!("ss userinfo `{info}` has no method"))?;
            if method.starts_with("2022-") {
                return Err(format!("{method} (Shadowsocks 2022) is not in v2ray 4"));
            }
            json!({"protocol": "shadowsocks", "settings": {"servers": [{"address": host,
                "port": port, "method": method, "password": password}]}, "streamSettings": stream})
        }
        other => return Err(format!("{other}:// has no v2ray 4 outbound")),
    };
    Ok(Parsed {
        scheme: scheme.to_owned(),
        remark: percent_decode(remark),
        address: host,
        port,
        outbound,
    })
}

/// Stream settings from the common query keys.
fn stream_from_query(q: &BTreeMap<String, String>) -> Result<Value, String> {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let network = match get("type").as_str() {
        "" => "tcp".to_owned(),
        n => n.to_owned(),
    };
    let mut s = json!({"network": network});
    match network.as_str() {
        "tcp" => {
            if get("headerType") == "http" {
                let mut request = json!({"path": [get("path")]});
                if !get("host").is_empty() {
                    request["headers"] =
                        json!({"Host": get("host").split(',').collect::<Vec<_>>()});
                }
                s["tcpSettings"] = json!({"header": {"type": "http", "request": request}});
            }
        }
        "ws" => {
            s["wsSettings"] = json!({"path": get("path")});
            if !get("host").is_empty() {
                s["wsSettings"]["headers"] = json!({"Host": get("host")});
            }
        }
        "kcp" => {
            let mut kcp = json!({"header": {"type": if get("headerType").is_empty() { "none".into() } else { get("headerType") }}});
            if !get("seed").is_empty() {
                kcp["seed"] = get("seed").into();
            }
            s["kcpSettings"] = kcp;
        }
        other => return Err(format!("transport {other} is not in v2ray 4")),
    }
    match get("security").as_str() {
        "" | "none" => {}
        "tls" => {
            let mut tls = json!({"allowInsecure": get("allowInsecure") == "1"});
            if !get("sni").is_empty() {
                tls["serverName"] = get("sni").into();
            }
            if !get("alpn").is_empty() {
                tls["alpn"] = json!(get("alpn").split(',').collect::<Vec<_>>());
            }
            s["security"] = "tls".into();
            s["tlsSettings"] = tls;
        }
        other => return Err(format!("security {other} is not in v2ray 4")),
    }
    Ok(s)
}

fn vmess(payload: &str) -> Result<Parsed, String> {
    let o: Value = serde_json::from_slice(&b64(payload)?)
        .map_err(|e| format!("vmess payload is not JSON: {e}"))?;
    let text = |k: &str| match &o[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let port: u16 = text("port")
        .parse()
        .map_err(|_| "vmess port is not a number".to_string())?;
    let mut q = BTreeMap::new();
    q.insert("type".to_owned(), text("net"));
    match text("net").as_str() {
        "tcp" | "kcp" => {
            q.insert("headerType".to_owned(), text("type"));
            if text("net") == "kcp" {
                q.insert("seed".to_owned(), text("path"));
            }
        }
        _ => {}
    }
    q.insert("path".to_owned(), text("path"));
    q.insert("host".to_owned(), text("host"));
    if text("tls") == "tls" {
        q.insert("security".to_owned(), "tls".into());
        q.insert("sni".to_owned(), text("sni"));
        q.insert("alpn".to_owned(), text("alpn"));
    }
    let stream = stream_from_query(&q)?;
    let security = match text("scy").as_str() {
        "" => "auto".to_owned(),
        s => s.to_owned(),
    };
    Ok(Parsed {
        scheme: "vmess".into(),
        remark: text("ps"),
        address: text("add"),
        port,
        outbound: json!({"protocol": "vmess", "settings": {"vnext": [{"address": text("add"),
            "port": port, "users": [{"id": text("id"), "alterId": 0, "security": security}]}]},
            "streamSettings": stream}),
    })
}
