//! Shared pieces of xfleet: the agent wire protocol, the channel engine that runs it over any
//! message transport, the enrollment token format and the bodies of the RPC methods.

pub mod channel;
pub mod enrollment;
pub mod methods;
pub mod protocol;
pub mod state;
pub mod time;
pub mod traffic;

/// Version of the xfleet binaries, reported in `Hello` and `agent.info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
