//! `streamSettings`: transport and security, checked and cut down to what the core reads.
//!
//! On Xray the active transport's and security's objects pass through (minus 3x-ui's
//! panel-only `settings` and `externalProxy`). v2ray 4.34 reads a smaller set of keys, so its
//! objects are rebuilt from the keys it knows; the rest would be ignored by it anyway.

use serde_json::{json, Map, Value};

use super::protocol::{Ctx, Protocol};
use super::{Flavour, RenderError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Network {
    /// Xray's `raw`, formerly `tcp`.
    Tcp,
    Kcp,
    Ws,
    Grpc,
    HttpUpgrade,
    Xhttp,
    /// Hysteria's own QUIC transport.
    Hysteria,
}

impl Network {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "tcp" | "raw" => Self::Tcp,
            "kcp" | "mkcp" => Self::Kcp,
            "ws" | "websocket" => Self::Ws,
            "grpc" => Self::Grpc,
            "httpupgrade" => Self::HttpUpgrade,
            "xhttp" | "splithttp" => Self::Xhttp,
            "hysteria" => Self::Hysteria,
            _ => return None,
        })
    }

    /// Where the transport's own settings live (current name first).
    fn settings_keys(self) -> &'static [&'static str] {
        match self {
            Self::Tcp => &["tcpSettings", "rawSettings"],
            Self::Kcp => &["kcpSettings"],
            Self::Ws => &["wsSettings"],
            Self::Grpc => &["grpcSettings"],
            Self::HttpUpgrade => &["httpupgradeSettings"],
            Self::Xhttp => &["xhttpSettings", "splithttpSettings"],
            Self::Hysteria => &["hysteriaSettings"],
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Tcp => "RAW (TCP)",
            Self::Kcp => "mKCP",
            Self::Ws => "WebSocket",
            Self::Grpc => "gRPC",
            Self::HttpUpgrade => "HTTPUpgrade",
            Self::Xhttp => "XHTTP",
            Self::Hysteria => "Hysteria",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    None,
    Tls,
    Reality,
}

impl Security {
    fn label(self) -> &'static str {
        match self {
            Self::None => "no security",
            Self::Tls => "TLS",
            Self::Reality => "REALITY",
        }
    }
}

/// Parsed `streamSettings`.
#[derive(Debug, Clone)]
pub(super) struct Stream {
    pub network: Network,
    /// As written (`raw` or `tcp`, …), which Xray accepts either way.
    network_name: String,
    pub security: Security,
    raw: Map<String, Value>,
}

impl Stream {
    pub fn parse(ctx: Ctx<'_>, protocol: Protocol, raw: &Value) -> Result<Self, RenderError> {
        let raw = match raw {
            Value::Null => Map::new(),
            Value::Object(raw) => raw.clone(),
            _ => return Err(ctx.invalid("`streamSettings` must be an object")),
        };
        let network_name = match raw.get("network") {
            None | Some(Value::Null) => "",
            Some(Value::String(name)) => name.as_str(),
            Some(_) => return Err(ctx.invalid("`streamSettings.network` must be a string")),
        };
        let network_name = match network_name {
            "" if protocol == Protocol::Hysteria => "hysteria",
            "" => "tcp",
            name => name,
        }
        .to_owned();
        let network = Network::parse(&network_name).ok_or_else(|| {
            ctx.invalid(format!(
                "unknown transport `{network_name}` (xfleet renders raw/tcp, kcp, ws, grpc, \
                 httpupgrade and xhttp)"
            ))
        })?;
        let security = match raw.get("security").and_then(Value::as_str).unwrap_or("") {
            "" | "none" => Security::None,
            "tls" => Security::Tls,
            "reality" => Security::Reality,
            "xtls" => {
                return Err(ctx.invalid(
                    "security `xtls` was removed from the cores; use TLS or REALITY with the \
                     XTLS Vision flow",
                ))
            }
            other => return Err(ctx.invalid(format!("unknown security `{other}`"))),
        };
        Ok(Self {
            network,
            network_name,
            security,
            raw,
        })
    }

    /// Combinations no core can run. `vision`: some client uses the XTLS Vision flow.
    pub fn validate(
        &self,
        ctx: Ctx<'_>,
        protocol: Protocol,
        vision: bool,
    ) -> Result<(), RenderError> {
        let (network, security) = (self.network, self.security);
        match protocol {
            Protocol::Hysteria if network != Network::Hysteria => {
                return Err(ctx.invalid(
                    "Hysteria carries its own QUIC transport; `streamSettings.network` must be \
                     `hysteria`",
                ))
            }
            Protocol::Hysteria if security != Security::Tls => {
                return Err(ctx.invalid("Hysteria runs over QUIC and needs TLS"))
            }
            Protocol::Hysteria => {}
            _ if network == Network::Hysteria => {
                return Err(
                    ctx.invalid("the `hysteria` transport is only for the Hysteria protocol")
                )
            }
            p if !p.has_transport() && (network != Network::Tcp || security != Security::None) => {
                return Err(ctx.invalid(format!(
                    "{} inbounds take no transport or security settings",
                    p.label()
                )))
            }
            _ => {}
        }
        if security == Security::Reality {
            let fits = matches!(protocol, Protocol::Vless | Protocol::Trojan)
                && matches!(network, Network::Tcp | Network::Grpc | Network::Xhttp);
            if !fits {
                return Err(ctx.invalid(format!(
                    "REALITY works only with VLESS or Trojan over RAW (TCP), gRPC or XHTTP, not \
                     {} over {}",
                    protocol.label(),
                    network.label()
                )));
            }
            self.validate_reality(ctx)?;
        }
        if security == Security::Tls {
            self.validate_tls(ctx)?;
        }
        if vision && (network != Network::Tcp || security == Security::None) {
            return Err(ctx.invalid(format!(
                "XTLS Vision flow needs VLESS over RAW (TCP) with TLS or REALITY, not {} with {}",
                network.label(),
                security.label()
            )));
        }
        Ok(())
    }

    fn validate_tls(&self, ctx: Ctx<'_>) -> Result<(), RenderError> {
        let certificates = self
            .raw
            .get("tlsSettings")
            .and_then(|t| t.get("certificates"))
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ctx.invalid("TLS needs a certificate in `tlsSettings.certificates`"))?;
        for cert in certificates {
            let has = |file: &str, inline: &str| {
                cert.get(file)
                    .and_then(Value::as_str)
                    .is_some_and(|f| !f.is_empty())
                    || cert.get(inline).is_some_and(|c| !is_empty(c))
            };
            if !has("certificateFile", "certificate") || !has("keyFile", "key") {
                return Err(ctx.invalid(
                    "each TLS certificate needs `certificateFile` and `keyFile` (or inline \
                     `certificate` and `key`)",
                ));
            }
        }
        Ok(())
    }

    fn validate_reality(&self, ctx: Ctx<'_>) -> Result<(), RenderError> {
        let reality = self.raw.get("realitySettings").unwrap_or(&Value::Null);
        let text = |key: &str| reality.get(key).and_then(Value::as_str).unwrap_or("");
        if text("privateKey").is_empty() {
            return Err(ctx.invalid("REALITY needs `realitySettings.privateKey`"));
        }
        if text("target").is_empty() && text("dest").is_empty() {
            return Err(ctx.invalid(
                "REALITY needs a `realitySettings.target` (the site it borrows TLS from)",
            ));
        }
        if reality.get("serverNames").is_none_or(is_empty) {
            return Err(ctx.invalid("REALITY needs `realitySettings.serverNames`"));
        }
        Ok(())
    }

    /// What v2ray 4.34 lacks, checked against the real binary: it answers
    /// `unknown transport protocol` to `grpc`, `httpupgrade` and `xhttp`, and it *accepts*
    /// `security: reality` but ignores it, serving plain text, so REALITY must be refused here.
    pub fn check_v2ray(&self, ctx: Ctx<'_>) -> Result<(), RenderError> {
        let refuse = |feature: &str| Err(ctx.unsupported(feature, Flavour::V2ray));
        if self.security == Security::Reality {
            return refuse("REALITY");
        }
        match self.network {
            Network::Grpc => return refuse("the gRPC transport"),
            Network::HttpUpgrade => return refuse("the HTTPUpgrade transport"),
            Network::Xhttp => return refuse("the XHTTP transport"),
            _ => {}
        }
        if self.raw.get("finalmask").is_some_and(|m| !is_empty(m)) {
            return refuse("transport masking (`finalmask`)");
        }
        Ok(())
    }

    pub fn to_json(&self, protocol: Protocol, flavour: Flavour) -> Option<Value> {
        let out = match flavour {
            _ if !protocol.has_transport() && protocol != Protocol::Hysteria => {
                // Only socket options mean anything for these.
                let mut out = Map::new();
                if let Some(sockopt) = self.sockopt(flavour) {
                    out.insert("sockopt".into(), sockopt);
                }
                out
            }
            Flavour::Xray => self.xray(),
            Flavour::V2ray => self.v2ray(),
        };
        (!out.is_empty()).then_some(Value::Object(out))
    }

    fn xray(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("network".into(), self.network_name.clone().into());
        if let Some((key, settings)) = self.network_settings() {
            out.insert(key.into(), settings.clone());
        }
        let security = match self.security {
            Security::None => None,
            Security::Tls => Some(("tls", "tlsSettings")),
            Security::Reality => Some(("reality", "realitySettings")),
        };
        if let Some((name, key)) = security {
            out.insert("security".into(), name.into());
            let mut settings = self.raw.get(key).cloned().unwrap_or_else(|| json!({}));
            if let Some(settings) = settings.as_object_mut() {
                // Panel-only: fingerprint, public key, spiderX… for share links.
                settings.remove("settings");
            }
            out.insert(key.into(), settings);
        }
        for key in ["sockopt", "finalmask"] {
            if let Some(value) = self.raw.get(key).filter(|v| !is_empty(v)) {
                out.insert(key.into(), value.clone());
            }
        }
        out
    }

    fn v2ray(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let settings = self.network_settings().map(|(_, s)| s);
        let field = |key: &str| settings.and_then(|s| s.get(key)).filter(|v| !v.is_null());
        // Xray moved acceptProxyProtocol into sockopt; v2ray reads it per transport.
        let proxy_protocol = field("acceptProxyProtocol") == Some(&Value::Bool(true))
            || self
                .raw
                .get("sockopt")
                .and_then(|s| s.get("acceptProxyProtocol"))
                == Some(&Value::Bool(true));
        let (name, key, rebuilt) = match self.network {
            Network::Tcp => {
                let mut tcp = Map::new();
                if let Some(header) = field("header") {
                    tcp.insert("header".into(), header.clone());
                }
                ("tcp", "tcpSettings", tcp)
            }
            Network::Kcp => {
                let kcp = settings
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                ("kcp", "kcpSettings", kcp)
            }
            Network::Ws => {
                let mut ws = Map::new();
                ws.insert("path".into(), field("path").cloned().unwrap_or("/".into()));
                // v2ray 4.34 has no `host` on WebSocket; the Host header does the same.
                let mut headers = field("headers")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Some(host) = field("host")
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                {
                    if !headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
                        headers.insert("Host".into(), host.into());
                    }
                }
                if !headers.is_empty() {
                    ws.insert("headers".into(), Value::Object(headers));
                }
                ("ws", "wsSettings", ws)
            }
            // Refused by `check_v2ray`.
            other => unreachable!("{} on v2ray", other.label()),
        };
        let mut rebuilt = rebuilt;
        if proxy_protocol && matches!(self.network, Network::Tcp | Network::Ws) {
            rebuilt.insert("acceptProxyProtocol".into(), true.into());
        }
        out.insert("network".into(), name.into());
        if !rebuilt.is_empty() {
            out.insert(key.into(), Value::Object(rebuilt));
        }
        if self.security == Security::Tls {
            out.insert("security".into(), "tls".into());
            out.insert("tlsSettings".into(), self.v2ray_tls());
        }
        if let Some(sockopt) = self.sockopt(Flavour::V2ray) {
            out.insert("sockopt".into(), sockopt);
        }
        out
    }

    /// The TLS keys v2ray 4.34 reads. It has no `minVersion`, `maxVersion`, `cipherSuites` or
    /// `rejectUnknownSni`: those only narrow what a server accepts, so it runs with Go's
    /// defaults rather than refusing the inbound.
    fn v2ray_tls(&self) -> Value {
        let tls = self.raw.get("tlsSettings").unwrap_or(&Value::Null);
        let mut out = pick(
            tls,
            &[
                "serverName",
                "alpn",
                "disableSystemRoot",
                "enableSessionResumption",
            ],
        );
        let certificates: Vec<Value> = tls
            .get("certificates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                Value::Object(pick(
                    c,
                    &["certificateFile", "keyFile", "certificate", "key", "usage"],
                ))
            })
            .collect();
        out.insert("certificates".into(), certificates.into());
        Value::Object(out)
    }

    fn sockopt(&self, flavour: Flavour) -> Option<Value> {
        let sockopt = self.raw.get("sockopt").filter(|v| !is_empty(v))?;
        let out = match flavour {
            Flavour::Xray => sockopt.clone(),
            // The socket options v2ray 4.34 has; the rest tune Xray's sockets and are left
            // out. Its `tcpFastOpen` is a plain switch where Xray also takes a queue length.
            Flavour::V2ray => {
                let mut out = pick(sockopt, &["mark", "tcpFastOpen", "tproxy"]);
                if let Some(queue) = out.get("tcpFastOpen").and_then(Value::as_i64) {
                    out.insert("tcpFastOpen".into(), (queue > 0).into());
                }
                Value::Object(out)
            }
        };
        (!is_empty(&out)).then_some(out)
    }

    fn network_settings(&self) -> Option<(&'static str, &Value)> {
        self.network.settings_keys().iter().find_map(|key| {
            self.raw
                .get(*key)
                .filter(|v| !v.is_null())
                .map(|v| (*key, v))
        })
    }
}

/// The listed keys of `value`, skipping nulls.
pub(super) fn pick(value: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            value
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| ((*k).to_owned(), v.clone()))
        })
        .collect()
}

/// Null, `""`, `[]` and `{}`.
pub(super) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
