//! Names: inbound protocols, Shadowsocks methods, and the error helpers every part shares.

use super::{Flavour, RenderError};

/// An inbound protocol 3x-ui offers and a core can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Vmess,
    Vless,
    Trojan,
    Shadowsocks,
    Socks,
    /// SOCKS and HTTP on one port.
    Mixed,
    Http,
    /// Formerly `dokodemo-door`.
    Tunnel,
    Wireguard,
    /// Hysteria 2 (`hysteria2` is 3x-ui's alias).
    Hysteria,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "vmess" => Self::Vmess,
            "vless" => Self::Vless,
            "trojan" => Self::Trojan,
            "shadowsocks" => Self::Shadowsocks,
            "socks" => Self::Socks,
            "mixed" => Self::Mixed,
            "http" => Self::Http,
            "tunnel" | "dokodemo-door" => Self::Tunnel,
            "wireguard" => Self::Wireguard,
            "hysteria" | "hysteria2" => Self::Hysteria,
            _ => return None,
        })
    }

    /// For messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Vmess => "VMess",
            Self::Vless => "VLESS",
            Self::Trojan => "Trojan",
            Self::Shadowsocks => "Shadowsocks",
            Self::Socks => "SOCKS",
            Self::Mixed => "mixed (SOCKS + HTTP)",
            Self::Http => "HTTP",
            Self::Tunnel => "tunnel",
            Self::Wireguard => "WireGuard",
            Self::Hysteria => "Hysteria",
        }
    }

    /// Whether the inbound has a choice of transport and security (3x-ui's `canEnableStream`).
    pub fn has_transport(self) -> bool {
        matches!(
            self,
            Self::Vmess | Self::Vless | Self::Trojan | Self::Shadowsocks
        )
    }

    /// Whether `settings.clients` holds users with emails.
    pub fn has_clients(self) -> bool {
        matches!(
            self,
            Self::Vmess | Self::Vless | Self::Trojan | Self::Shadowsocks | Self::Hysteria
        )
    }
}

/// A Shadowsocks method, sorted by how the core serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SsMethod {
    /// AEAD or `none`; every user carries its own method.
    Legacy,
    /// `2022-blake3-*`: base64 keys of `key_len` bytes; the chacha20 one serves a single key.
    Aead2022 { key_len: usize, multi_user: bool },
}

impl SsMethod {
    pub fn parse(method: &str) -> Option<Self> {
        Some(match method {
            "aes-128-gcm"
            | "aes-256-gcm"
            | "chacha20-poly1305"
            | "chacha20-ietf-poly1305"
            | "xchacha20-poly1305"
            | "xchacha20-ietf-poly1305"
            | "none"
            | "plain" => Self::Legacy,
            "2022-blake3-aes-128-gcm" => Self::Aead2022 {
                key_len: 16,
                multi_user: true,
            },
            "2022-blake3-aes-256-gcm" => Self::Aead2022 {
                key_len: 32,
                multi_user: true,
            },
            "2022-blake3-chacha20-poly1305" => Self::Aead2022 {
                key_len: 32,
                multi_user: false,
            },
            _ => return None,
        })
    }
}

/// Methods v2ray 4.34 knows; it answers `unknown cipher method` to the XChaCha20 ones.
pub(super) fn v2ray_knows_ss_method(method: &str) -> bool {
    matches!(
        method,
        "aes-128-gcm"
            | "aes-256-gcm"
            | "chacha20-poly1305"
            | "chacha20-ietf-poly1305"
            | "none"
            | "plain"
    )
}

/// Builds errors that name one inbound.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub tag: &'a str,
}

impl Ctx<'_> {
    pub fn invalid(&self, message: impl Into<String>) -> RenderError {
        RenderError::Invalid {
            tag: self.tag.to_owned(),
            message: message.into(),
        }
    }

    pub fn unsupported(&self, feature: impl Into<String>, flavour: Flavour) -> RenderError {
        RenderError::Unsupported {
            tag: self.tag.to_owned(),
            feature: feature.into(),
            flavour,
        }
    }
}

/// Xray's rule for user ids: a UUID, or any 1–30 byte string it maps to a UUIDv5.
pub(super) fn xray_accepts_id(id: &str) -> bool {
    (1..=30).contains(&id.len()) || is_uuid(id)
}

/// `8-4-4-4-12` hex, or the 32 hex digits alone (what v2ray's `uuid.ParseString` accepts).
pub(super) fn is_uuid(id: &str) -> bool {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let dashed = id.len() == 36
        && id
            .char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && (dashed || id.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shapes() {
        assert!(is_uuid("b831381d-6324-4d53-ad4f-8cda48b30811"));
        assert!(is_uuid("b831381d63244d53ad4f8cda48b30811"));
        assert!(!is_uuid("b831381d-6324-4d53-ad4f-8cda48b3081"));
        assert!(!is_uuid("b831381d6-324-4d53-ad4f-8cda48b30811"));
        assert!(!is_uuid("g831381d-6324-4d53-ad4f-8cda48b30811"));
        assert!(xray_accepts_id("alice"));
        assert!(!xray_accepts_id(""));
        assert!(!xray_accepts_id("this-string-is-longer-than-thirty-bytes"));
    }
}
