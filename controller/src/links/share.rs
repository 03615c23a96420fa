//! One shareable endpoint of one client on one inbound, resolved from the inbound's stored
//! `settings`/`streamSettings` (3x-ui's shapes) into plain fields. Links, Clash proxies and
//! client configs are all written from a [`Share`], so the three never disagree.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// The client's secrets, as stored.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub email: String,
    pub uuid: String,
    pub password: String,
    pub auth: String,
    pub flow: String,
    /// VMess cipher; empty is `auto`.
    pub security: String,
}

/// Whether an endpoint keeps the inbound's security or overrides it (3x-ui's `forceTls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForceTls {
    #[default]
    Same,
    None,
    Tls,
}

/// Where a link points: the server's address, or one `externalProxy` entry (CDN fronting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub force_tls: ForceTls,
    /// The `externalProxy` entry's remark (`o` in the remark model).
    pub remark: String,
}

/// The endpoints of an inbound: one per `externalProxy` entry when there are any (as 3x-ui
/// does), else the server's own address and the inbound's port.
pub fn endpoints(stream: &Value, address: &str, port: u16) -> Vec<Endpoint> {
    let proxies: Vec<Endpoint> = stream
        .get("externalProxy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let dest = p.get("dest").and_then(Value::as_str)?.trim();
            if dest.is_empty() {
                return None;
            }
            let port = match p.get("port") {
                Some(Value::Number(n)) => u16::try_from(n.as_u64()?).ok()?,
                Some(Value::String(s)) => s.trim().parse().ok()?,
                _ => port,
            };
            let force_tls = match p.get("forceTls").and_then(Value::as_str) {
                Some("none") => ForceTls::None,
                Some("tls") => ForceTls::Tls,
                _ => ForceTls::Same,
            };
            Some(Endpoint {
                address: dest.to_owned(),
                port,
                force_tls,
                remark: text(p, "remark"),
            })
        })
        .collect();
    if proxies.is_empty() {
        vec![Endpoint {
            address: address.to_owned(),
            port,
            force_tls: ForceTls::Same,
            remark: String::new(),
        }]
    } else {
        proxies
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Vmess {
        /// Client cipher (`auto` when unset).
        security: String,
    },
    Vless {
        encryption: String,
    },
    Trojan,
    Shadowsocks {
        method: String,
        /// What the client sends: `server key:user key` for multi-user 2022 ciphers.
        password: String,
    },
    /// Hysteria 1 or 2.
    Hysteria {
        version: u8,
    },
    Wireguard {
        /// The server's public key (from the inbound's `secretKey`).
        public_key: String,
        pre_shared_key: String,
        /// The peer's addresses inside the tunnel.
        addresses: Vec<String>,
        mtu: u64,
        keep_alive: u64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `tcp`, `kcp`, `ws`, `grpc`, `httpupgrade`, `xhttp` or `hysteria`.
    pub network: String,
    /// `none` or `http` on TCP; the mKCP header type on kcp.
    pub header_type: String,
    pub path: String,
    pub host: String,
    pub service_name: String,
    pub authority: String,
    pub multi_mode: bool,
    /// XHTTP mode.
    pub mode: String,
    pub x_padding_bytes: String,
    pub seed: String,
    pub mtu: Option<u64>,
    pub tti: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    None,
    Tls {
        sni: String,
        alpn: Vec<String>,
        fingerprint: String,
        allow_insecure: bool,
    },
    Reality {
        sni: String,
        public_key: String,
        short_id: String,
        spider_x: String,
        fingerprint: String,
        mldsa65_verify: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub kind: Kind,
    pub remark: String,
    pub address: String,
    pub port: u16,
    /// UUID (VMess, VLESS), password (Trojan), auth (Hysteria) or private key (WireGuard).
    pub secret: String,
    pub flow: String,
    pub transport: Transport,
    pub security: Security,
    /// Xray's `finalmask`, compact JSON, when the inbound has one.
    pub finalmask: String,
    /// Hysteria's salamander obfuscation password.
    pub obfs_password: String,
}

impl Share {
    pub fn protocol(&self) -> &'static str {
        match self.kind {
            Kind::Vmess { .. } => "vmess",
            Kind::Vless { .. } => "vless",
            Kind::Trojan => "trojan",
            Kind::Shadowsocks { .. } => "shadowsocks",
            Kind::Hysteria { version: 1 } => "hysteria",
            Kind::Hysteria { .. } => "hysteria2",
            Kind::Wireguard { .. } => "wireguard",
        }
    }
}

/// What a share is built from: the inbound as stored, the client, one endpoint and the
/// remark already composed. WireGuard takes the peer from `settings.peers[peer]`.
pub struct ShareInput<'a> {
    pub protocol: &'a str,
    pub settings: &'a Value,
    pub stream: &'a Value,
    pub client: &'a Credentials,
    pub endpoint: &'a Endpoint,
    pub remark: &'a str,
    pub peer: usize,
}

/// The share for a link-capable protocol; `None` for the rest (socks, http, tunnel, …) and
/// for WireGuard without that peer.
pub fn resolve(input: &ShareInput<'_>) -> Option<Share> {
    let s = input.settings;
    let c = input.client;
    let (kind, secret) = match input.protocol {
        "vmess" => (
            Kind::Vmess {
                security: non_empty(&c.security, "auto"),
            },
            c.uuid.clone(),
        ),
        "vless" => (
            Kind::Vless {
                encryption: non_empty(&text(s, "encryption"), "none"),
            },
            c.uuid.clone(),
        ),
        "trojan" => (Kind::Trojan, c.password.clone()),
        "shadowsocks" => {
            let method = text(s, "method");
            let server_key = text(s, "password");
            let password =
                if method.starts_with("2022-") && method != "2022-blake3-chacha20-poly1305" {
                    format!("{server_key}:{}", c.password)
                } else if method.starts_with("2022-") {
                    server_key
                } else {
                    c.password.clone()
                };
            (Kind::Shadowsocks { method, password }, String::new())
        }
        "hysteria" | "hysteria2" => {
            let version = match s.get("version").and_then(Value::as_u64) {
                Some(1) if input.protocol == "hysteria" => 1,
                _ => 2,
            };
            (Kind::Hysteria { version }, c.auth.clone())
        }
        "wireguard" => {
            let peer = s.get("peers")?.as_array()?.get(input.peer)?;
            let addresses = peer
                .get("allowedIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            (
                Kind::Wireguard {
                    public_key: wireguard_public(&text(s, "secretKey"))?,
                    pre_shared_key: text(peer, "preSharedKey"),
                    addresses,
                    mtu: s.get("mtu").and_then(Value::as_u64).unwrap_or(0),
                    keep_alive: peer.get("keepAlive").and_then(Value::as_u64).unwrap_or(0),
                },
                text(peer, "privateKey"),
            )
        }
        _ => return None,
    };
    let stream = input.stream;
    let transport = transport(stream, input.protocol);
    let security = security(stream, input.endpoint.force_tls);
    // Vision only works on raw TCP with TLS or REALITY (Trojan: REALITY only, as 3x-ui).
    let flow = match (&kind, &security) {
        (Kind::Vless { .. }, Security::Tls { .. } | Security::Reality { .. })
        | (Kind::Trojan, Security::Reality { .. })
            if transport.network == "tcp" =>
        {
            c.flow
                .replace("xtls-rprx-vision-udp443", "xtls-rprx-vision")
        }
        _ => String::new(),
    };
    let finalmask = stream
        .get("finalmask")
        .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
        .map(Value::to_string)
        .unwrap_or_default();
    let obfs_password = stream
        .pointer("/finalmask/udp")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| m.get("type").and_then(Value::as_str) == Some("salamander"))
        .and_then(|m| m.pointer("/settings/password"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(Share {
        kind,
        remark: input.remark.to_owned(),
        address: input.endpoint.address.clone(),
        port: input.endpoint.port,
        secret,
        flow,
        transport,
        security,
        finalmask,
        obfs_password,
    })
}

fn transport(stream: &Value, protocol: &str) -> Transport {
    let network = match stream.get("network").and_then(Value::as_str).unwrap_or("") {
        "" if protocol.starts_with("hysteria") => "hysteria",
        "" | "raw" => "tcp",
        "splithttp" => "xhttp",
        "mkcp" => "kcp",
        "websocket" => "ws",
        other => other,
    }
    .to_owned();
    let key = match network.as_str() {
        "tcp" if stream.get("tcpSettings").is_none() => "rawSettings",
        "tcp" => "tcpSettings",
        "kcp" => "kcpSettings",
        "ws" => "wsSettings",
        "grpc" => "grpcSettings",
        "httpupgrade" => "httpupgradeSettings",
        "xhttp" if stream.get("xhttpSettings").is_none() => "splithttpSettings",
        "xhttp" => "xhttpSettings",
        _ => "hysteriaSettings",
    };
    let t = stream.get(key).unwrap_or(&Value::Null);
    let mut out = Transport {
        network: network.clone(),
        ..Transport::default()
    };
    match network.as_str() {
        "tcp" => {
            let header = t.get("header").unwrap_or(&Value::Null);
            out.header_type = non_empty(&text(header, "type"), "none");
            if out.header_type == "http" {
                let request = header.get("request").unwrap_or(&Value::Null);
                out.path = first(request.get("path")).unwrap_or_else(|| "/".into());
                out.host = header_value(request.get("headers"), "host");
            }
        }
        "kcp" => {
            out.header_type = non_empty(
                &text(t.get("header").unwrap_or(&Value::Null), "type"),
                "none",
            );
            out.seed = text(t, "seed");
            out.mtu = t.get("mtu").and_then(Value::as_u64);
            out.tti = t.get("tti").and_then(Value::as_u64);
        }
        "ws" | "httpupgrade" | "xhttp" => {
            out.path = non_empty(&text(t, "path"), "/");
            out.host = non_empty(&text(t, "host"), &header_value(t.get("headers"), "host"));
            if network == "xhttp" {
                out.mode = non_empty(&text(t, "mode"), "auto");
                out.x_padding_bytes = match t.get("xPaddingBytes") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                };
            }
        }
        "grpc" => {
            out.service_name = text(t, "serviceName");
            out.authority = text(t, "authority");
            out.multi_mode = t.get("multiMode").and_then(Value::as_bool).unwrap_or(false);
        }
        _ => {}
    }
    out
}

fn security(stream: &Value, force: ForceTls) -> Security {
    let declared = stream.get("security").and_then(Value::as_str).unwrap_or("");
    let tls = stream.get("tlsSettings").unwrap_or(&Value::Null);
    let tls_security = || {
        let panel = tls.get("settings").unwrap_or(&Value::Null);
        Security::Tls {
            sni: text(tls, "serverName"),
            alpn: tls
                .get("alpn")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            fingerprint: text(panel, "fingerprint"),
            allow_insecure: panel.get("allowInsecure").and_then(Value::as_bool) == Some(true),
        }
    };
    match (force, declared) {
        (ForceTls::None, _) => Security::None,
        (ForceTls::Tls, "reality") | (ForceTls::Tls, "tls") | (ForceTls::Same, "tls") => {
            tls_security()
        }
        (ForceTls::Tls, _) => Security::Tls {
            sni: String::new(),
            alpn: Vec::new(),
            fingerprint: String::new(),
            allow_insecure: false,
        },
        (ForceTls::Same, "reality") => {
            let r = stream.get("realitySettings").unwrap_or(&Value::Null);
            let panel = r.get("settings").unwrap_or(&Value::Null);
            let public_key = match text(panel, "publicKey") {
                key if key.is_empty() => {
                    crate::generate::x25519_public(&text(r, "privateKey")).unwrap_or_default()
                }
                key => key,
            };
            // The first name and short id, so a subscription reads the same on every fetch.
            let sni = match text(panel, "serverName") {
                name if name.is_empty() => first(r.get("serverNames")).unwrap_or_default(),
                name => name,
            };
            Security::Reality {
                sni,
                public_key,
                short_id: first(r.get("shortIds")).unwrap_or_default(),
                spider_x: text(panel, "spiderX"),
                fingerprint: text(panel, "fingerprint"),
                mldsa65_verify: text(panel, "mldsa65Verify"),
            }
        }
        _ => Security::None,
    }
}

/// A WireGuard public key from the standard-base64 private key Xray stores.
fn wireguard_public(private_key: &str) -> Option<String> {
    let bytes: [u8; 32] = STANDARD.decode(private_key.trim()).ok()?.try_into().ok()?;
    let secret = x25519_dalek::StaticSecret::from(bytes);
    Some(STANDARD.encode(x25519_dalek::PublicKey::from(&secret).as_bytes()))
}

pub(super) fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn non_empty(s: &str, default: &str) -> String {
    if s.is_empty() { default } else { s }.to_owned()
}

/// The first string of an array (or the string itself).
fn first(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// A header by case-insensitive name; its value may be a string or a list of them.
fn header_value(headers: Option<&Value>, name: &str) -> String {
    headers
        .and_then(Value::as_object)
        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .and_then(|(_, v)| first(Some(v)))
        .unwrap_or_default()
}
