//! Software the controller hands out: the agent binaries it carries ([`agents`]), served by
//! the gateway to new hosts and pushed to enrolled ones.

pub mod agents;

pub use agents::{install_command, AgentBinary, AgentCatalog, CatalogError};
