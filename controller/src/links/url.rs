//! Share links in the formats 3x-ui writes (and v2rayN, Hiddify, Streisand, NekoBox read):
//! `vmess://` base64 JSON, `vless://`, `trojan://`, `ss://`, `hysteria2://` and
//! `wireguard://` URLs. Query keys are sorted, as 3x-ui's `url.Values` writes them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::share::{Kind, Security, Share};

/// What stays unescaped in a query value or fragment: RFC 3986 unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn escape(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// The share link of `share`.
pub fn link(share: &Share) -> String {
    match &share.kind {
        Kind::Vmess { security } => vmess(share, security),
        Kind::Vless { encryption } => {
            let mut q = stream_query(share);
            q.insert("encryption", encryption.clone());
            url("vless", &escape(&share.secret), share, &q)
        }
        Kind::Trojan => url(
            "trojan",
            &escape(&share.secret),
            share,
            &stream_query(share),
        ),
        Kind::Shadowsocks { method, password } => {
            let mut q = stream_query(share);
            // A plain TCP link is just the address, as 3x-ui writes it.
            if q.get("security").map(String::as_str) == Some("none") {
                q.remove("security");
            }
            // Standard padded base64, not escaped, as 3x-ui writes it.
            let user = STANDARD.encode(format!("{method}:{password}"));
            url("ss", &user, share, &q)
        }
        Kind::Hysteria { version } => {
            let mut q = BTreeMap::new();
            tls_query(share, &mut q);
            if let Security::Tls { allow_insecure, .. } = &share.security {
                if *allow_insecure {
                    q.insert("insecure", "1".into());
                }
            }
            if !share.obfs_password.is_empty() {
                q.insert("obfs", "salamander".into());
                q.insert("obfs-password", share.obfs_password.clone());
            }
            let scheme = if *version == 1 {
                "hysteria"
            } else {
                "hysteria2"
            };
            url(scheme, &escape(&share.secret), share, &q)
        }
        Kind::Wireguard {
            public_key,
            pre_shared_key,
            addresses,
            mtu,
            keep_alive,
        } => {
            let mut q = BTreeMap::new();
            q.insert("publickey", public_key.clone());
            if !pre_shared_key.is_empty() {
                q.insert("presharedkey", pre_shared_key.clone());
            }
            q.insert("address", addresses.join(","));
            if *mtu > 0 {
                q.insert("mtu", mtu.to_string());
            }
            if *keep_alive > 0 {
                q.insert("keepalive", keep_alive.to_string());
            }
            url("wireguard", &escape(&share.secret), share, &q)
        }
    }
}

/// `scheme://user@host:port?query#remark` (`user` already escaped), IPv6 hosts in brackets.
fn url(scheme: &str, user: &str, share: &Share, query: &BTreeMap<&'static str, String>) -> String {
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sep = if query.is_empty() { "" } else { "?" };
    format!(
        "{scheme}://{user}@{}:{}{sep}{query}#{}",
        host(&share.address),
        share.port,
        escape(&share.remark)
    )
}

pub fn host(address: &str) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_owned()
    }
}

/// Transport and security parameters of VLESS, Trojan and Shadowsocks links.
fn stream_query(share: &Share) -> BTreeMap<&'static str, String> {
    let t = &share.transport;
    let mut q = BTreeMap::new();
    q.insert("type", t.network.clone());
    match t.network.as_str() {
        "tcp" if t.header_type == "http" => {
            q.insert("headerType", "http".into());
            q.insert("path", t.path.clone());
            if !t.host.is_empty() {
                q.insert("host", t.host.clone());
            }
        }
        "kcp" => {
            q.insert("headerType", t.header_type.clone());
            if !t.seed.is_empty() {
                q.insert("seed", t.seed.clone());
            }
            if let Some(mtu) = t.mtu {
                q.insert("mtu", mtu.to_string());
            }
            if let Some(tti) = t.tti {
                q.insert("tti", tti.to_string());
            }
        }
        "ws" | "httpupgrade" | "xhttp" => {
            q.insert("path", t.path.clone());
            if !t.host.is_empty() {
                q.insert("host", t.host.clone());
            }
            if t.network == "xhttp" {
                q.insert("mode", t.mode.clone());
                if !t.x_padding_bytes.is_empty() {
                    let extra = serde_json::json!({"xPaddingBytes": t.x_padding_bytes});
                    q.insert("extra", extra.to_string());
                }
            }
        }
        "grpc" => {
            q.insert("serviceName", t.service_name.clone());
            if !t.authority.is_empty() {
                q.insert("authority", t.authority.clone());
            }
            if t.multi_mode {
                q.insert("mode", "multi".into());
            }
        }
        _ => {}
    }
    if !share.finalmask.is_empty() {
        q.insert("fm", share.finalmask.clone());
    }
    match &share.security {
        Security::None => {
            q.insert("security", "none".into());
        }
        Security::Tls { allow_insecure, .. } => {
            q.insert("security", "tls".into());
            tls_query(share, &mut q);
            if *allow_insecure {
                q.insert("allowInsecure", "1".into());
            }
        }
        Security::Reality {
            sni,
            public_key,
            short_id,
            spider_x,
            fingerprint,
            mldsa65_verify,
        } => {
            q.insert("security", "reality".into());
            q.insert("pbk", public_key.clone());
            for (key, value) in [
                ("sni", sni),
                ("sid", short_id),
                ("spx", spider_x),
                ("fp", fingerprint),
                ("pqv", mldsa65_verify),
            ] {
                if !value.is_empty() {
                    q.insert(key, value.clone());
                }
            }
        }
    }
    if !share.flow.is_empty() {
        q.insert("flow", share.flow.clone());
    }
    q
}

fn tls_query(share: &Share, q: &mut BTreeMap<&'static str, String>) {
    if let Security::Tls {
        sni,
        alpn,
        fingerprint,
        ..
    } = &share.security
    {
        if !sni.is_empty() {
            q.insert("sni", sni.clone());
        }
        if !alpn.is_empty() {
            q.insert("alpn", alpn.join(","));
        }
        if !fingerprint.is_empty() {
            q.insert("fp", fingerprint.clone());
        }
        if share.protocol() == "hysteria2" || share.protocol() == "hysteria" {
            q.insert("security", "tls".into());
        }
    }
}

/// `vmess://` + base64 of the indented JSON object v2rayN defined, keys sorted.
fn vmess(share: &Share, security: &str) -> String {
    let t = &share.transport;
    let mut o: BTreeMap<&str, Value> = BTreeMap::new();
    o.insert("v", "2".into());
    o.insert("ps", share.remark.clone().into());
    o.insert("add", share.address.clone().into());
    o.insert("port", share.port.into());
    o.insert("id", share.secret.clone().into());
    o.insert("scy", security.into());
    o.insert("net", t.network.clone().into());
    let kind = match t.network.as_str() {
        "tcp" | "kcp" => t.header_type.clone(),
        "grpc" if t.multi_mode => "multi".into(),
        _ => "none".into(),
    };
    o.insert("type", kind.into());
    match t.network.as_str() {
        "tcp" if t.header_type == "http" => {
            o.insert("path", t.path.clone().into());
            o.insert("host", t.host.clone().into());
        }
        "ws" | "httpupgrade" | "xhttp" => {
            o.insert("path", t.path.clone().into());
            o.insert("host", t.host.clone().into());
            if t.network == "xhttp" {
                o.insert("mode", t.mode.clone().into());
                if !t.x_padding_bytes.is_empty() {
                    o.insert("x_padding_bytes", t.x_padding_bytes.clone().into());
                }
            }
        }
        "grpc" => {
            o.insert("path", t.service_name.clone().into());
            o.insert("authority", t.authority.clone().into());
        }
        "kcp" => {
            o.insert("path", t.seed.clone().into());
            if let Some(mtu) = t.mtu {
                o.insert("mtu", mtu.into());
            }
            if let Some(tti) = t.tti {
                o.insert("tti", tti.into());
            }
        }
        _ => {}
    }
    if !share.finalmask.is_empty() {
        o.insert("fm", share.finalmask.clone().into());
    }
    match &share.security {
        Security::Tls {
            sni,
            alpn,
            fingerprint,
            ..
        } => {
            o.insert("tls", "tls".into());
            o.insert("sni", sni.clone().into());
            o.insert("alpn", alpn.join(",").into());
            o.insert("fp", fingerprint.clone().into());
        }
        // VMess has no REALITY; 3x-ui writes the stream's security word as is.
        _ => {
            o.insert("tls", "none".into());
        }
    }
    let json = serde_json::to_string_pretty(&o).expect("vmess object serializes");
    format!("vmess://{}", STANDARD.encode(json))
}
