//! Client for the core's gRPC API (DESIGN §4, §7): add and remove users and inbounds without a
//! restart, and read traffic counters and runtime figures.
//!
//! The core is Xray (services under `xray.`) or v2ray 4.x (`v2ray.core.`); [`Namespace`]
//! picks the prefix for service paths and for the type names inside `TypedMessage`s, which the
//! core resolves against its own registry.
//!
//! **Hand-written protobuf messages.** The build must not need `protoc` (DESIGN §1). Code
//! generated once and checked in would still need `protoc` for every update, would pull in
//! Xray's whole proto tree (hundreds of messages) for the few dozen used here, and would have
//! to exist twice, once per namespace, while most messages travel as opaque `TypedMessage`
//! bytes that generated types would not check anyway. So [`proto`] declares each message we
//! use with `#[derive(prost::Message)]` and explicit tags, and calls go through
//! `tonic::client::Grpc` with [`tonic_prost::ProstCodec`]; there is no generated client. The
//! numbers come from the cores' own `.proto` files: Xray-core's repository for `xray.`, and for
//! `v2ray.core.` the descriptors compiled into Debian's v2ray 4.34 binary, which the
//! integration tests run against. [`proto`] lists the files and where the two cores differ.
//!
//! One [`CoreApi`] holds one HTTP/2 channel to `127.0.0.1:<port>`; calls are multiplexed on it
//! and it reconnects by itself after the core restarts. Every call gives up after
//! [`CALL_TIMEOUT`].

mod account;
mod client;
mod inbound;
mod outbound;
pub mod proto;
mod user;

#[cfg(test)]
mod core_tests;

use std::fmt;

use http::uri::PathAndQuery;

pub use account::{account_message, cipher_type};
pub use client::{CoreApi, CALL_TIMEOUT};
pub use inbound::inbound_config;
pub use outbound::outbound_config;
pub use user::{Account, User};

/// Which core answers, and so which proto package names it registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// Xray-core: `xray.app.…`, `xray.proxy.…`.
    Xray,
    /// v2ray-core 4.x: `v2ray.core.app.…`, `v2ray.core.proxy.…`.
    V2ray,
}

impl Namespace {
    /// The full proto name of `name` (given without prefix, e.g. `"proxy.vless.Account"`).
    pub fn type_name(self, name: &str) -> String {
        match self {
            Namespace::Xray => format!("xray.{name}"),
            Namespace::V2ray => format!("v2ray.core.{name}"),
        }
    }

    fn method_path(self, service: &str, method: &str) -> PathAndQuery {
        let path = format!("/{}/{method}", self.type_name(service));
        PathAndQuery::try_from(path).expect("service and method names are valid URI paths")
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Namespace::Xray => "Xray",
            Namespace::V2ray => "v2ray",
        })
    }
}

/// Why an API call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The core did not answer: not running, API not configured, or too slow. Retry later.
    #[error("core API unavailable: {0}")]
    Unavailable(String),
    /// The core or this client cannot express the change through the API; apply it with a
    /// validated restart instead.
    #[error("not possible through the core API: {0}")]
    Unsupported(String),
    /// The core refused the call; the text is the core's.
    #[error("core refused: {0}")]
    Rejected(String),
}

/// Go runtime figures of the core process (`GetSysStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SysStats {
    pub num_goroutine: u32,
    pub num_gc: u32,
    pub alloc: u64,
    pub total_alloc: u64,
    pub sys: u64,
    pub mallocs: u64,
    pub frees: u64,
    pub live_objects: u64,
    pub pause_total_ns: u64,
    /// Seconds since the API started.
    pub uptime: u32,
}
