//! A client as the core's API sees it: an email (the stats key) and a protocol account.
//!
//! Stand-in for `xfleet_common::xray::{User, Account}`, which is being written on another
//! branch with this exact shape; the import switches when the two meet.

/// One client on one inbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique per inbound; also the name of the client's traffic counters.
    pub email: String,
    pub account: Account,
}

/// Protocol-specific credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Vmess {
        id: String,
    },
    Vless {
        id: String,
        flow: String,
    },
    Trojan {
        password: String,
    },
    /// Legacy AEAD ciphers (`aes-128-gcm`, `aes-256-gcm`, `chacha20-poly1305`, …).
    Shadowsocks {
        password: String,
        method: String,
    },
    /// A user key on a multi-user Shadowsocks 2022 inbound (Xray only).
    Shadowsocks2022 {
        key: String,
    },
    /// Hysteria 2 auth string (Xray only).
    Hysteria {
        auth: String,
    },
}
