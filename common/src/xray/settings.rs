//! `settings` and `sniffing` of one inbound, per protocol and flavour.
//!
//! On Xray the settings pass through as 3x-ui sends them (its panel-only keys removed, clients
//! replaced by the reduced ones), so options this code does not know still reach the core. On
//! v2ray each protocol keeps the keys v2ray 4.34 reads.

use serde_json::{Map, Value};

use super::clients::{is_key, Client};
use super::protocol::{v2ray_knows_ss_method, Ctx, Protocol, SsMethod};
use super::stream::{is_empty, pick};
use super::{Account, Flavour, RenderError};

/// Keys 3x-ui keeps in `settings` for itself.
const PANEL_ONLY: &[&str] = &["encryption"];

/// The inbound's `settings` as the core reads them.
pub(super) fn to_json(
    protocol: Protocol,
    settings: &Map<String, Value>,
    clients: &[Client],
    ss: Option<SsMethod>,
    flavour: Flavour,
) -> Value {
    let out = match flavour {
        Flavour::Xray => {
            // Empty lists and maps (`fallbacks: []`, `portMap: {}`) mean the same as absent.
            let mut out: Map<String, Value> = settings
                .iter()
                .filter(|(k, v)| !PANEL_ONLY.contains(&k.as_str()) && !is_empty_container(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if protocol.has_clients() {
                out.insert("clients".into(), clients_json(clients));
            }
            match protocol {
                Protocol::Vless => {
                    out.entry("decryption").or_insert("none".into());
                }
                // Without clients the inbound's own method and password serve one user;
                // Xray reads an empty `clients` list as "no users at all".
                Protocol::Shadowsocks if clients.is_empty() => {
                    out.remove("clients");
                }
                // Legacy ciphers take each client's own method and password; the top-level
                // password is 3x-ui's 2022 server key, unused here.
                Protocol::Shadowsocks if ss == Some(SsMethod::Legacy) => {
                    out.remove("password");
                }
                Protocol::Hysteria => {
                    out.insert("version".into(), 2.into());
                }
                Protocol::Wireguard => strip_peer_private_keys(&mut out),
                _ => {}
            }
            out
        }
        Flavour::V2ray => v2ray(protocol, settings, clients),
    };
    Value::Object(out)
}

fn v2ray(
    protocol: Protocol,
    settings: &Map<String, Value>,
    clients: &[Client],
) -> Map<String, Value> {
    let settings = Value::Object(settings.clone());
    match protocol {
        Protocol::Vmess | Protocol::Trojan | Protocol::Vless => {
            let mut out = Map::new();
            out.insert("clients".into(), clients_json(clients));
            if protocol == Protocol::Vless {
                // v2ray refuses a VLESS inbound without it.
                out.insert("decryption".into(), "none".into());
            }
            if let Some(fallbacks) = settings.get("fallbacks").and_then(Value::as_array) {
                let fallbacks: Vec<Value> = fallbacks
                    .iter()
                    .map(|f| Value::Object(pick(f, &["alpn", "path", "dest", "xver"])))
                    .collect();
                if !fallbacks.is_empty() {
                    out.insert("fallbacks".into(), fallbacks.into());
                }
            }
            out
        }
        Protocol::Shadowsocks => {
            // Single-user: the one client, or the inbound's own method and password.
            let mut out = pick(&settings, &["method", "password", "network"]);
            if let Some(Value::Object(client)) = clients.first().map(Client::to_json) {
                out.extend(client);
            }
            out.entry("level").or_insert(0.into());
            out
        }
        Protocol::Socks => pick(&settings, &["auth", "accounts", "udp", "ip", "userLevel"]),
        Protocol::Http => pick(
            &settings,
            &["accounts", "allowTransparent", "timeout", "userLevel"],
        ),
        Protocol::Tunnel => {
            let keys = [
                "address",
                "port",
                "network",
                "followRedirect",
                "timeout",
                "userLevel",
            ];
            let mut out = pick(&settings, &keys);
            // Xray's newer names for the same thing.
            for (new, old) in [("rewriteAddress", "address"), ("rewritePort", "port")] {
                if let Some(value) = settings.get(new).filter(|v| !is_empty(v)) {
                    out.insert(old.into(), value.clone());
                }
            }
            out
        }
        Protocol::Mixed | Protocol::Wireguard | Protocol::Hysteria => {
            unreachable!("{} is refused on v2ray", protocol.label())
        }
    }
}

fn clients_json(clients: &[Client]) -> Value {
    Value::Array(clients.iter().map(Client::to_json).collect())
}

fn is_empty_container(value: &Value) -> bool {
    !value.is_string() && is_empty(value)
}

/// A peer's private key belongs to the peer's own config; the server needs only its public key.
fn strip_peer_private_keys(settings: &mut Map<String, Value>) {
    if let Some(Value::Array(peers)) = settings.get_mut("peers") {
        for peer in peers.iter_mut().filter_map(Value::as_object_mut) {
            peer.remove("privateKey");
        }
    }
}

/// `settings` checks that do not depend on the flavour.
pub(super) fn validate(
    ctx: Ctx<'_>,
    protocol: Protocol,
    settings: &Map<String, Value>,
    clients: &[Client],
    ss: Option<(&str, SsMethod)>,
) -> Result<(), RenderError> {
    let text = |key: &str| settings.get(key).and_then(Value::as_str).unwrap_or("");
    match protocol {
        Protocol::Shadowsocks => {
            let (method, kind) = ss.expect("Shadowsocks inbounds pass their method");
            match kind {
                SsMethod::Aead2022 {
                    key_len,
                    multi_user,
                } => {
                    if !is_key(text("password"), key_len) {
                        return Err(ctx.invalid(format!(
                            "{method} needs a {key_len}-byte base64 server key in \
                             `settings.password` (`openssl rand -base64 {key_len}`)"
                        )));
                    }
                    if !multi_user && !clients.is_empty() {
                        return Err(ctx.invalid(format!(
                            "{method} serves one key and cannot have clients; use \
                             2022-blake3-aes-128-gcm or 2022-blake3-aes-256-gcm for several users"
                        )));
                    }
                }
                SsMethod::Legacy if clients.is_empty() && text("password").is_empty() => {
                    return Err(ctx.invalid("Shadowsocks with no clients needs `settings.password`"))
                }
                SsMethod::Legacy => {}
            }
        }
        Protocol::Wireguard => {
            if text("secretKey").is_empty() {
                return Err(ctx.invalid("WireGuard needs `settings.secretKey`"));
            }
            let peers = settings.get("peers").and_then(Value::as_array);
            for peer in peers.into_iter().flatten() {
                if peer
                    .get("publicKey")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    return Err(ctx.invalid("every WireGuard peer needs a `publicKey`"));
                }
            }
        }
        // Xray serves Hysteria 2 only.
        Protocol::Hysteria
            if settings
                .get("version")
                .and_then(Value::as_i64)
                .is_some_and(|v| v != 2) =>
        {
            return Err(ctx.unsupported("Hysteria 1", Flavour::Xray));
        }
        _ => {}
    }
    Ok(())
}

/// What v2ray 4.34 lacks in `settings`, checked against the real binary (protocols it lacks
/// altogether are refused before this).
pub(super) fn check_v2ray(
    ctx: Ctx<'_>,
    protocol: Protocol,
    settings: &Map<String, Value>,
    clients: &[Client],
    ss_method: Option<&str>,
) -> Result<(), RenderError> {
    let refuse = |feature: String| Err(ctx.unsupported(feature, Flavour::V2ray));
    match protocol {
        Protocol::Vless => {
            // It answers `please add/set "decryption":"none"` to anything else.
            let decryption = settings
                .get("decryption")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !matches!(decryption, "" | "none") {
                return refuse("VLESS encryption (`decryption`)".into());
            }
            if clients.iter().any(|c| c.reverse.is_some()) {
                return refuse("the VLESS reverse proxy (client `reverse`)".into());
            }
        }
        Protocol::Shadowsocks => {
            let method = ss_method.unwrap_or("");
            // `unknown cipher method: 2022-blake3-…` / `xchacha20-ietf-poly1305`.
            if method.starts_with("2022-") {
                return refuse("Shadowsocks 2022".into());
            }
            let client_methods = clients.iter().filter_map(|c| match &c.account {
                Account::Shadowsocks { method, .. } => Some(method.as_str()),
                _ => None,
            });
            if let Some(m) = std::iter::once(method)
                .chain(client_methods)
                .find(|m| !v2ray_knows_ss_method(m))
            {
                return refuse(format!("the Shadowsocks cipher `{m}`"));
            }
            // Its shadowsocks inbound has one method, password and email, no `clients`.
            if clients.len() > 1 {
                return refuse("Shadowsocks with more than one client".into());
            }
        }
        // It ignores `portMap` and would send everything to one port.
        Protocol::Tunnel if settings.get("portMap").is_some_and(|m| !is_empty(m)) => {
            return refuse("tunnel port mapping (`portMap`)".into());
        }
        _ => {}
    }
    if matches!(protocol, Protocol::Vless | Protocol::Trojan) {
        // Its fallbacks match ALPN and path but ignore `name` (SNI), so they would catch
        // connections meant for another name.
        let by_name = settings
            .get("fallbacks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|f| f.get("name").is_some_and(|n| !is_empty(n)));
        if by_name {
            return refuse("a fallback chosen by SNI (`name`)".into());
        }
    }
    Ok(())
}

/// `sniffing` as the core reads it; `None` when there is nothing to say.
pub(super) fn sniffing(
    ctx: Ctx<'_>,
    raw: &Value,
    flavour: Flavour,
) -> Result<Option<Value>, RenderError> {
    if is_empty(raw) {
        return Ok(None);
    }
    if !raw.is_object() {
        return Err(ctx.invalid("`sniffing` must be an object"));
    }
    Ok(Some(match flavour {
        Flavour::Xray => raw.clone(),
        Flavour::V2ray => {
            // v2ray 4.34 sniffs only HTTP and TLS and fails on `quic` or `fakedns` even when
            // sniffing is off; 3x-ui lists all four by default. Dropping them only means
            // QUIC is routed by IP, so they are left out rather than refused.
            let mut out = pick(raw, &["enabled"]);
            let known: Vec<Value> = raw
                .get("destOverride")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|d| matches!(d.as_str(), Some("http" | "tls")))
                .cloned()
                .collect();
            out.insert("destOverride".into(), known.into());
            Value::Object(out)
        }
    }))
}
