//! Shared pieces of xfleet: the agent wire protocol, the channel engine that runs it over any
//! message transport, the enrollment token format, the bodies of the RPC methods, and the
//! rendering of a server's desired state into a core configuration.

pub mod channel;
pub mod enrollment;
pub mod methods;
pub mod protocol;
pub mod state;
pub mod time;
pub mod traffic;
pub mod xray;

/// Version of the xfleet binaries, reported in `Hello` and `agent.info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
