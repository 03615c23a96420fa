//! Software the controller hands out: the agent binaries it carries ([`agents`]), served by
//! the gateway to new hosts and pushed to enrolled ones, with the signatures that let an agent
//! trust an update ([`sign`]); Xray release zips ([`cores`]) and geo files ([`geo`]), sent to
//! agents over the channel as streams by [`deliver`], so an agent never needs a release site.

pub mod agents;
pub mod cores;
pub mod deliver;
mod error;
pub mod geo;
pub mod sign;

pub use agents::{install_command, AgentBinary, AgentCatalog, CatalogError};
pub use cores::{CoreRelease, CoreShelf};
pub use deliver::{deliver, Transfers};
pub use error::{sha256_hex, DistError};
pub use geo::{GeoShelf, GEO_SETS};
pub use sign::{SignError, UpdateSigner};
