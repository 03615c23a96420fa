//! The xfleet agent: dials out to the controller's agent gateway over mutual-TLS WebSocket,
//! keeps one multiplexed RPC channel and answers the controller's calls (DESIGN §3, §7).
//! It never listens on a port.
//!
//! Layout: [`enroll`] turns a token into credentials, [`connection`] makes one connection
//! ([`connection::dial`]), [`run()`] keeps one up, [`handler`] answers calls, [`status`] is what
//! `status` and `healthcheck` read, [`maintenance`] installs core versions and geo files.
//!
//! The controller embeds this library for single-server mode: [`run_over`] with
//! [`Link::Local`] runs the same agent over an in-memory channel.

pub mod config;
pub mod connection;
pub mod core;
pub mod csr;
pub mod enroll;
pub mod fsutil;
pub mod handler;
pub mod maintenance;
mod run;
pub mod state;
pub mod status;
pub mod tls;
pub mod traffic;
pub mod update;
pub mod xray_api;

pub use run::{run, run_over, AgentError, Link};

#[cfg(test)]
mod testutil;
