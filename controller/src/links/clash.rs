//! Mihomo (Clash.Meta) YAML: one proxy per link, a selector group over them, and a rule that
//! sends everything through it. Written by hand: every scalar is a JSON string or number,
//! which YAML reads as is, so no escaping rules of YAML's own are needed.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::share::{Kind, Security, Share};

const GROUP: &str = "PROXY";

/// The document for these shares (in order). Equal remarks get ` 2`, ` 3`, … appended, as
/// Mihomo needs unique proxy names.
pub fn document(shares: &[&Share]) -> String {
    let mut seen = HashSet::new();
    let mut proxies = Vec::new();
    for share in shares {
        let base = if share.remark.is_empty() {
            format!("{}:{}", share.address, share.port)
        } else {
            share.remark.clone()
        };
        let mut name = base.clone();
        let mut n = 1;
        while !seen.insert(name.clone()) {
            n += 1;
            name = format!("{base} {n}");
        }
        proxies.push(proxy(share, &name));
    }
    let names: Vec<Value> = proxies.iter().map(|p| p["name"].clone()).collect();
    let mut out = String::from("mixed-port: 7890\nallow-lan: false\nmode: rule\nlog-level: info\n");
    out.push_str("proxies:\n");
    for p in &proxies {
        write_item(&mut out, p, 1);
    }
    if proxies.is_empty() {
        out.truncate(out.len() - "proxies:\n".len());
        out.push_str("proxies: []\n");
    }
    let mut group_proxies = names;
    group_proxies.push("DIRECT".into());
    let group = json!({"name": GROUP, "type": "select", "proxies": group_proxies});
    out.push_str("proxy-groups:\n");
    write_item(&mut out, &group, 1);
    out.push_str(&format!(
        "rules:\n  - {}\n",
        json!(format!("MATCH,{GROUP}"))
    ));
    out
}

/// One Mihomo proxy.
pub fn proxy(share: &Share, name: &str) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), name.into());
    let t = &share.transport;
    let kind = match &share.kind {
        Kind::Vmess { security } => {
            p.insert("uuid".into(), share.secret.clone().into());
            p.insert("alterId".into(), 0.into());
            p.insert("cipher".into(), security.clone().into());
            "vmess"
        }
        Kind::Vless { .. } => {
            p.insert("uuid".into(), share.secret.clone().into());
            if !share.flow.is_empty() {
                p.insert("flow".into(), share.flow.clone().into());
            }
            "vless"
        }
        Kind::Trojan => {
            p.insert("password".into(), share.secret.clone().into());
            "trojan"
        }
        Kind::Shadowsocks { method, password } => {
            p.insert("cipher".into(), method.clone().into());
            p.insert("password".into(), password.clone().into());
            "ss"
        }
        Kind::Hysteria { version } => {
            let key = if *version == 1 {
                "auth-str"
            } else {
                "password"
            };
            p.insert(key.into(), share.secret.clone().into());
            if !share.obfs_password.is_empty() {
                p.insert("obfs".into(), "salamander".into());
                p.insert("obfs-password".into(), share.obfs_password.clone().into());
            }
            if *version == 1 {
                "hysteria"
            } else {
                "hysteria2"
            }
        }
        Kind::Wireguard {
            public_key,
            pre_shared_key,
            addresses,
            mtu,
            ..
        } => {
            p.insert("private-key".into(), share.secret.clone().into());
            p.insert("public-key".into(), public_key.clone().into());
            if !pre_shared_key.is_empty() {
                p.insert("pre-shared-key".into(), pre_shared_key.clone().into());
            }
            let v4 = addresses.iter().find(|a| !a.contains(':'));
            let v6 = addresses.iter().find(|a| a.contains(':'));
            if let Some(ip) = v4 {
                p.insert("ip".into(), strip_prefix_len(ip).into());
            }
            if let Some(ip) = v6 {
                p.insert("ipv6".into(), strip_prefix_len(ip).into());
            }
            if *mtu > 0 {
                p.insert("mtu".into(), (*mtu).into());
            }
            "wireguard"
        }
    };
    p.insert("type".into(), kind.into());
    p.insert("server".into(), share.address.clone().into());
    p.insert("port".into(), share.port.into());
    p.insert("udp".into(), true.into());
    if matches!(share.kind, Kind::Hysteria { .. } | Kind::Wireguard { .. }) {
        tls_fields(share, &mut p);
        return Value::Object(p);
    }
    let network = match t.network.as_str() {
        "tcp" if t.header_type == "http" => "http",
        "httpupgrade" => "ws",
        other => other,
    };
    if network != "tcp" {
        p.insert("network".into(), network.into());
    }
    match t.network.as_str() {
        "tcp" if t.header_type == "http" => {
            let mut opts = json!({"method": "GET", "path": [t.path]});
            if !t.host.is_empty() {
                opts["headers"] = json!({"Host": [t.host]});
            }
            p.insert("http-opts".into(), opts);
        }
        "ws" | "httpupgrade" => {
            let mut opts = json!({"path": t.path});
            if !t.host.is_empty() {
                opts["headers"] = json!({"Host": t.host});
            }
            if t.network == "httpupgrade" {
                opts["v2ray-http-upgrade"] = true.into();
            }
            p.insert("ws-opts".into(), opts);
        }
        "grpc" => {
            p.insert(
                "grpc-opts".into(),
                json!({"grpc-service-name": t.service_name}),
            );
        }
        "xhttp" => {
            let mut opts = json!({"path": t.path, "mode": t.mode});
            if !t.host.is_empty() {
                opts["host"] = t.host.clone().into();
            }
            p.insert("xhttp-opts".into(), opts);
        }
        _ => {}
    }
    tls_fields(share, &mut p);
    Value::Object(p)
}

fn tls_fields(share: &Share, p: &mut Map<String, Value>) {
    let sni_key = if matches!(share.kind, Kind::Trojan | Kind::Hysteria { .. }) {
        "sni"
    } else {
        "servername"
    };
    let tls_flag = !matches!(share.kind, Kind::Trojan | Kind::Hysteria { .. });
    match &share.security {
        Security::None => {}
        Security::Tls {
            sni,
            alpn,
            fingerprint,
            allow_insecure,
        } => {
            if tls_flag {
                p.insert("tls".into(), true.into());
            }
            if !sni.is_empty() {
                p.insert(sni_key.into(), sni.clone().into());
            }
            if !alpn.is_empty() {
                p.insert("alpn".into(), json!(alpn));
            }
            if !fingerprint.is_empty() {
                p.insert("client-fingerprint".into(), fingerprint.clone().into());
            }
            if *allow_insecure {
                p.insert("skip-cert-verify".into(), true.into());
            }
        }
        Security::Reality {
            sni,
            public_key,
            short_id,
            fingerprint,
            ..
        } => {
            if tls_flag {
                p.insert("tls".into(), true.into());
            }
            if !sni.is_empty() {
                p.insert(sni_key.into(), sni.clone().into());
            }
            p.insert(
                "reality-opts".into(),
                json!({"public-key": public_key, "short-id": short_id}),
            );
            let fp = if fingerprint.is_empty() {
                "chrome"
            } else {
                fingerprint
            };
            p.insert("client-fingerprint".into(), fp.into());
        }
    }
}

fn strip_prefix_len(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// Writes `value` (an object) as a block-style list item at `depth`.
fn write_item(out: &mut String, value: &Value, depth: usize) {
    let indent = "  ".repeat(depth);
    let Value::Object(map) = value else {
        out.push_str(&format!("{indent}- {value}\n"));
        return;
    };
    let mut first = true;
    for (key, v) in map {
        let lead = if first {
            format!("{indent}- ")
        } else {
            format!("{indent}  ")
        };
        first = false;
        write_entry(out, &lead, key, v, depth + 1);
    }
}

fn write_entry(out: &mut String, lead: &str, key: &str, value: &Value, depth: usize) {
    let key = Value::from(key);
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str(&format!("{lead}{key}:\n"));
            let indent = "  ".repeat(depth + 1);
            for (k, v) in map {
                write_entry(out, &indent, k, v, depth + 1);
            }
        }
        // Flow style for lists and scalars: JSON is valid YAML flow.
        other => out.push_str(&format!("{lead}{key}: {other}\n")),
    }
}
