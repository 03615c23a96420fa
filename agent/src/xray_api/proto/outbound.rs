//! Outbound handlers: `core/config.proto` `OutboundHandlerConfig`, `app/proxyman/config.proto`
//! `SenderConfig`, the `HandlerService` outbound requests, and the client configs of the
//! outbounds that change live (freedom, blackhole, socks, http). Xray's newer loaders take one
//! server (and one user) where v2ray 4.34 takes a list; a repeated field holding one element
//! encodes exactly like the singular one, so one struct serves both.

use super::{IpOrDomain, TypedMessage, User};

/// `core/config.proto` `OutboundHandlerConfig` (`expire`, 4, and `comment`, 5, unset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutboundHandlerConfig {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// `app.proxyman.SenderConfig`.
    #[prost(message, optional, tag = "2")]
    pub sender_settings: Option<TypedMessage>,
    /// The protocol's client config (`proxy.freedom.Config`, …).
    #[prost(message, optional, tag = "3")]
    pub proxy_settings: Option<TypedMessage>,
}

/// `app/proxyman/config.proto` `SenderConfig`. Every field (via, stream, proxy and mux
/// settings) is left unset: only outbounds without them change live.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderConfig {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddOutboundRequest {
    #[prost(message, optional, tag = "1")]
    pub outbound: Option<OutboundHandlerConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveOutboundRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
}

/// `common/protocol/server_spec.proto` `ServerEndpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerEndpoint {
    #[prost(message, optional, tag = "1")]
    pub address: Option<IpOrDomain>,
    #[prost(uint32, tag = "2")]
    pub port: u32,
    #[prost(message, repeated, tag = "3")]
    pub user: Vec<User>,
}

/// `proxy/freedom/config.proto` `DestinationOverride`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DestinationOverride {
    #[prost(message, optional, tag = "1")]
    pub server: Option<ServerEndpoint>,
}

/// `proxy/freedom/config.proto` `Config`. `DomainStrategy`: `AS_IS = 0`, `USE_IP = 1`,
/// `USE_IP4 = 2`, `USE_IP6 = 3` in both cores (Xray's later enum keeps these four). Field 2
/// is v2ray's deprecated timeout.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FreedomConfig {
    #[prost(int32, tag = "1")]
    pub domain_strategy: i32,
    #[prost(message, optional, tag = "3")]
    pub destination_override: Option<DestinationOverride>,
    #[prost(uint32, tag = "4")]
    pub user_level: u32,
}

/// `proxy/blackhole/config.proto` `Config`: `response` is a `NoneResponse` or an
/// `HTTPResponse`, both without fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlackholeConfig {
    #[prost(message, optional, tag = "1")]
    pub response: Option<TypedMessage>,
}

/// `proxy/socks/config.proto` and `proxy/http/config.proto` `ClientConfig` (Xray's http
/// headers, 2, unset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProxyClientConfig {
    #[prost(message, repeated, tag = "1")]
    pub server: Vec<ServerEndpoint>,
}

/// `proxy/socks/config.proto` and `proxy/http/config.proto` `Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PasswordAccount {
    #[prost(string, tag = "1")]
    pub username: String,
    #[prost(string, tag = "2")]
    pub password: String,
}
