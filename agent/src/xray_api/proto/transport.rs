//! How an inbound listens: `app/proxyman/config.proto` (receiver, sniffing), `common/net`
//! (addresses, ports), `transport/internet/config.proto` (stream) and the tcp, websocket and
//! tls settings it carries.

use super::TypedMessage;

/// `common/net/address.proto` `IPOrDomain`. The real message is a `oneof`; two plain fields
/// encode the same bytes because only the non-empty one is written.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpOrDomain {
    /// 4 or 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub ip: Vec<u8>,
    #[prost(string, tag = "2")]
    pub domain: String,
}

/// `common/net/port.proto` `PortRange` (inclusive).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PortRange {
    #[prost(uint32, tag = "1")]
    pub from: u32,
    #[prost(uint32, tag = "2")]
    pub to: u32,
}

/// `common/net/port.proto` `PortList` (Xray's receiver takes a list).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PortList {
    #[prost(message, repeated, tag = "1")]
    pub range: Vec<PortRange>,
}

/// v2ray 4.34 `app/proxyman/config.proto` `ReceiverConfig` (allocation strategy, 3, and the
/// deprecated domain override, 7, are left unset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiverConfigV2ray {
    #[prost(message, optional, tag = "1")]
    pub port_range: Option<PortRange>,
    #[prost(message, optional, tag = "2")]
    pub listen: Option<IpOrDomain>,
    #[prost(message, optional, tag = "4")]
    pub stream_settings: Option<StreamConfig>,
    #[prost(bool, tag = "5")]
    pub receive_original_destination: bool,
    #[prost(message, optional, tag = "8")]
    pub sniffing_settings: Option<SniffingConfig>,
}

/// Xray `app/proxyman/config.proto` `ReceiverConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiverConfigXray {
    #[prost(message, optional, tag = "1")]
    pub port_list: Option<PortList>,
    #[prost(message, optional, tag = "2")]
    pub listen: Option<IpOrDomain>,
    #[prost(message, optional, tag = "3")]
    pub stream_settings: Option<StreamConfig>,
    #[prost(bool, tag = "4")]
    pub receive_original_destination: bool,
    #[prost(message, optional, tag = "6")]
    pub sniffing_settings: Option<SniffingConfig>,
}

/// `app/proxyman/config.proto` `SniffingConfig`. v2ray 4.34 has fields 1 and 2 only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SniffingConfig {
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    #[prost(string, repeated, tag = "2")]
    pub destination_override: Vec<String>,
    /// Xray only.
    #[prost(bool, tag = "4")]
    pub metadata_only: bool,
    /// Xray only.
    #[prost(bool, tag = "5")]
    pub route_only: bool,
}

/// `transport/internet/config.proto` `StreamConfig` (same numbers in both cores; the
/// deprecated enum `protocol = 1` is replaced by the name in field 5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamConfig {
    /// `"tcp"`, `"websocket"`, …
    #[prost(string, tag = "5")]
    pub protocol_name: String,
    #[prost(message, repeated, tag = "2")]
    pub transport_settings: Vec<TransportConfig>,
    /// The full name of the security settings message, e.g. `xray.transport.internet.tls.Config`.
    #[prost(string, tag = "3")]
    pub security_type: String,
    #[prost(message, repeated, tag = "4")]
    pub security_settings: Vec<TypedMessage>,
}

/// `transport/internet/config.proto` `TransportConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransportConfig {
    #[prost(string, tag = "3")]
    pub protocol_name: String,
    #[prost(message, optional, tag = "2")]
    pub settings: Option<TypedMessage>,
}

/// `transport/internet/tcp/config.proto` `Config` (header settings, 2, are not hot-applied).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TcpConfig {
    #[prost(bool, tag = "3")]
    pub accept_proxy_protocol: bool,
}

/// `transport/internet/websocket/config.proto` `Header`; also the wire form of an entry of
/// Xray's later `map<string, string> header = 3`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebSocketHeader {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `transport/internet/websocket/config.proto` `Config`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebSocketConfig {
    /// Xray only; v2ray gets the host as a `Host` header instead. Number 1 was reserved at
    /// b2f1e051; that later Xray put `host` there is taken from its JSON loader (which fills a
    /// `Host` field) and from other encoders of the message, not from a `.proto`, so check it
    /// against a real Xray before relying on Host filtering.
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(string, tag = "2")]
    pub path: String,
    #[prost(message, repeated, tag = "3")]
    pub header: Vec<WebSocketHeader>,
    #[prost(bool, tag = "4")]
    pub accept_proxy_protocol: bool,
}

/// `transport/internet/tls/config.proto` `Certificate`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TlsCertificate {
    /// PEM bytes; the core does not read files named in a protobuf config, the JSON loader does.
    #[prost(bytes = "vec", tag = "1")]
    pub certificate: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// Xray only.
    #[prost(uint64, tag = "4")]
    pub ocsp_stapling: u64,
    /// Xray only: with `one_time_loading` false, Xray reloads the files when they change.
    #[prost(string, tag = "5")]
    pub certificate_path: String,
    /// Xray only.
    #[prost(string, tag = "6")]
    pub key_path: String,
    /// Xray only.
    #[prost(bool, tag = "7")]
    pub one_time_loading: bool,
}

/// `transport/internet/tls/config.proto` `Config` (server side).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TlsConfig {
    #[prost(message, repeated, tag = "2")]
    pub certificate: Vec<TlsCertificate>,
    #[prost(string, tag = "3")]
    pub server_name: String,
    /// ALPN.
    #[prost(string, repeated, tag = "4")]
    pub next_protocol: Vec<String>,
    /// Xray only.
    #[prost(string, tag = "7")]
    pub min_version: String,
    /// Xray only.
    #[prost(string, tag = "8")]
    pub max_version: String,
    /// Xray only.
    #[prost(string, tag = "9")]
    pub cipher_suites: String,
}
