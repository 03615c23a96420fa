//! Accounts and inbound (server) configs of the proxies xfleet can hot-apply.

use std::collections::BTreeMap;

use super::{IpOrDomain, User};

/// `proxy/vmess/account.proto` `Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VmessAccount {
    #[prost(string, tag = "1")]
    pub id: String,
    /// v2ray only (Xray removed field 2 with legacy MD5 auth). Zero selects VMessAEAD, the only
    /// mode Xray speaks, so it is left zero unless a v2ray inbound asks for `alterId`.
    #[prost(uint32, tag = "2")]
    pub alter_id: u32,
}

/// `proxy/vless/account.proto` `Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VlessAccount {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub flow: String,
}

/// `proxy/trojan/config.proto` `Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrojanAccount {
    #[prost(string, tag = "1")]
    pub password: String,
}

/// `proxy/shadowsocks/config.proto` `Account`. The `CipherType` numbers differ between the two
/// cores: see [`cipher`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct ShadowsocksAccount {
    #[prost(string, tag = "1")]
    pub password: String,
    #[prost(int32, tag = "2")]
    pub cipher_type: i32,
    /// Xray only.
    #[prost(bool, tag = "3")]
    pub iv_check: bool,
}

/// `proxy/shadowsocks/config.proto` `CipherType`.
pub mod cipher {
    /// Xray: `AES_128_GCM = 5` … `NONE = 9`.
    pub mod xray {
        pub const AES_128_GCM: i32 = 5;
        pub const AES_256_GCM: i32 = 6;
        pub const CHACHA20_POLY1305: i32 = 7;
        pub const XCHACHA20_POLY1305: i32 = 8;
        pub const NONE: i32 = 9;
    }
    /// v2ray 4.34: `AES_128_GCM = 1` … `NONE = 4`; no XChaCha.
    pub mod v2ray {
        pub const AES_128_GCM: i32 = 1;
        pub const AES_256_GCM: i32 = 2;
        pub const CHACHA20_POLY1305: i32 = 3;
        pub const NONE: i32 = 4;
    }
}

/// Xray `proxy/shadowsocks_2022/config.proto` `Account`: a user of a multi-user 2022 inbound.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Shadowsocks2022Account {
    #[prost(string, tag = "1")]
    pub key: String,
}

/// Xray `proxy/hysteria/account/config.proto` `Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HysteriaAccount {
    #[prost(string, tag = "1")]
    pub auth: String,
}

/// `proxy/vmess/inbound/config.proto` `Config`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VmessInboundConfig {
    #[prost(message, repeated, tag = "1")]
    pub user: Vec<User>,
    /// v2ray only (`disableInsecureEncryption`); Xray's field 4 is retired.
    #[prost(bool, tag = "4")]
    pub secure_encryption_only: bool,
}

/// `proxy/vless/inbound/config.proto` `Config`. Field 1 is `clients` in both; after that the
/// cores differ (v2ray: `decryption = 2`, `fallbacks = 3`; Xray today: `fallbacks = 2`,
/// `decryption = 3`). `decryption` is therefore set for v2ray only, where its JSON loader
/// insists on `"none"`; Xray treats an absent value as no VLESS encryption.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VlessInboundConfig {
    #[prost(message, repeated, tag = "1")]
    pub clients: Vec<User>,
    #[prost(string, tag = "2")]
    pub decryption_v2ray: String,
}

/// `proxy/trojan/config.proto` `ServerConfig` (fallbacks, field 3, are not hot-applied).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrojanServerConfig {
    #[prost(message, repeated, tag = "1")]
    pub users: Vec<User>,
}

/// v2ray 4.34 `proxy/shadowsocks/config.proto` `ServerConfig`: one user per inbound.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ShadowsocksServerConfigV2ray {
    #[prost(bool, tag = "1")]
    pub udp_enabled: bool,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(int32, repeated, tag = "3")]
    pub network: Vec<i32>,
}

/// Xray `proxy/shadowsocks/config.proto` `ServerConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ShadowsocksServerConfigXray {
    #[prost(message, repeated, tag = "1")]
    pub users: Vec<User>,
    #[prost(int32, repeated, tag = "2")]
    pub network: Vec<i32>,
}

/// `proxy/socks/config.proto` `ServerConfig` (`AuthType`: `NO_AUTH = 0`, `PASSWORD = 1`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SocksServerConfig {
    #[prost(int32, tag = "1")]
    pub auth_type: i32,
    /// user → password.
    #[prost(btree_map = "string, string", tag = "2")]
    pub accounts: BTreeMap<String, String>,
    /// The address announced for UDP associate.
    #[prost(message, optional, tag = "3")]
    pub address: Option<IpOrDomain>,
    #[prost(bool, tag = "4")]
    pub udp_enabled: bool,
    #[prost(uint32, tag = "6")]
    pub user_level: u32,
}

/// `proxy/dokodemo/config.proto` `Config` (`tunnel` in newer Xray, same message). Field 3 is
/// a deprecated network list in v2ray and a port map in Xray; both read `networks = 7`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DokodemoConfig {
    #[prost(message, optional, tag = "1")]
    pub address: Option<IpOrDomain>,
    #[prost(uint32, tag = "2")]
    pub port: u32,
    #[prost(bool, tag = "5")]
    pub follow_redirect: bool,
    #[prost(uint32, tag = "6")]
    pub user_level: u32,
    #[prost(int32, repeated, tag = "7")]
    pub networks: Vec<i32>,
}
