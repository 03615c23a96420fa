//! Requests and responses of `HandlerService` (`app/proxyman/command/command.proto`) and
//! `StatsService` (`app/stats/command/command.proto`), plus `common/protocol/user.proto`.
//! Numbering is the same in both namespaces.

use super::TypedMessage;

/// Any message without fields (`AddInboundResponse`, `SysStatsRequest`, …): they all encode
/// to zero bytes, so one type stands for each of them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `common/protocol/user.proto` `User`. Xray adds fields after 3 that xfleet leaves unset.
#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(uint32, tag = "1")]
    pub level: u32,
    #[prost(string, tag = "2")]
    pub email: String,
    /// The protocol's `Account` message (`proxy.vless.Account`, …).
    #[prost(message, optional, tag = "3")]
    pub account: Option<TypedMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddUserOperation {
    #[prost(message, optional, tag = "1")]
    pub user: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveUserOperation {
    #[prost(string, tag = "1")]
    pub email: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AlterInboundRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// `AddUserOperation` or `RemoveUserOperation`.
    #[prost(message, optional, tag = "2")]
    pub operation: Option<TypedMessage>,
}

/// `core/config.proto` (`config.proto` in v2ray) `InboundHandlerConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InboundHandlerConfig {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// `app.proxyman.ReceiverConfig`.
    #[prost(message, optional, tag = "2")]
    pub receiver_settings: Option<TypedMessage>,
    /// The protocol's server config (`proxy.vmess.inbound.Config`, …).
    #[prost(message, optional, tag = "3")]
    pub proxy_settings: Option<TypedMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddInboundRequest {
    #[prost(message, optional, tag = "1")]
    pub inbound: Option<InboundHandlerConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveInboundRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsRequest {
    /// Substring match on the counter name; empty matches every counter.
    #[prost(string, tag = "1")]
    pub pattern: String,
    #[prost(bool, tag = "2")]
    pub reset: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "2")]
    pub value: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsResponse {
    #[prost(message, repeated, tag = "1")]
    pub stat: Vec<Stat>,
}

/// Go runtime figures of the core process.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SysStatsResponse {
    #[prost(uint32, tag = "1")]
    pub num_goroutine: u32,
    #[prost(uint32, tag = "2")]
    pub num_gc: u32,
    #[prost(uint64, tag = "3")]
    pub alloc: u64,
    #[prost(uint64, tag = "4")]
    pub total_alloc: u64,
    #[prost(uint64, tag = "5")]
    pub sys: u64,
    #[prost(uint64, tag = "6")]
    pub mallocs: u64,
    #[prost(uint64, tag = "7")]
    pub frees: u64,
    #[prost(uint64, tag = "8")]
    pub live_objects: u64,
    #[prost(uint64, tag = "9")]
    pub pause_total_ns: u64,
    #[prost(uint32, tag = "10")]
    pub uptime: u32,
}

/// Xray only: the names of the online maps that currently hold an IP
/// (`user>>>EMAIL>>>online`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetAllOnlineUsersResponse {
    #[prost(string, repeated, tag = "1")]
    pub users: Vec<String>,
}
