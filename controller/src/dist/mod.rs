//! Software the controller hands out: the agent binaries it carries ([`agents`]), served by
//! the gateway to new hosts and pushed to enrolled ones, and the signatures that let an agent
//! trust an update ([`sign`]).

pub mod agents;
pub mod sign;

pub use agents::{install_command, AgentBinary, AgentCatalog, CatalogError};
pub use sign::{SignError, UpdateSigner};
