//! A client as the core's API sees it: an email (the stats key) and a protocol account, the
//! same types the renderer produces.

pub use xfleet_common::xray::{Account, User};
