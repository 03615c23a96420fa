//! Keeping the core's files on the host current (DESIGN §7, updater): a new core version from
//! its release zip, checked before it replaces the running one ([`install`]), and fresh geo
//! files ([`geo`]), both fetched by [`download`] or sent by the controller over the channel
//! ([`received`]); [`release`] knows Xray's file formats.
//!
//! Independent of the core supervisor: callers pass the paths and the checks to run, and
//! decide what to restart afterwards.

pub mod download;
pub mod geo;
pub mod install;
pub mod received;
pub mod release;

pub use download::{Download, DownloadError, Downloader, Fetched};
pub use geo::{GeoError, GeoFiles};
pub use install::{CoreBinary, InstallError, Installed};

#[cfg(test)]
mod tests;
