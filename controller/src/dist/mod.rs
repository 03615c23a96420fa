//! Software the controller hands out to agents, so an agent never needs a release site:
//! Xray release zips ([`cores`]) and geo files ([`geo`]), sent over the channel as streams by
//! [`deliver`].

pub mod cores;
pub mod deliver;
mod error;
pub mod geo;

pub use cores::{CoreRelease, CoreShelf};
pub use deliver::deliver;
pub use error::{sha256_hex, DistError};
pub use geo::{GeoShelf, GEO_SETS};
