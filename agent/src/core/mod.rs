//! The VPN core (Xray, or v2ray 4.x) as a supervised child process (DESIGN §7).
//!
//! [`CoreBinary`] finds the binary and learns its flavour and version; [`Supervisor`] runs it:
//! tests every configuration with the core's own test mode before using it, restarts it with
//! backoff when it dies without being asked to (a stopped core is left stopped), keeps its
//! output in a bounded [`LogRing`], and publishes its [`CoreState`] on a watch channel.
//! [`generate`] runs Xray's own key generators; [`test_outbound`] tries one outbound in a
//! temporary core.

mod backoff;
mod binary;
mod fetch;
mod generate;
mod logs;
mod outbound_test;
mod process;
mod supervisor;
mod tail;

use std::path::{Path, PathBuf};

use xfleet_common::methods::{CoreState, CoreStatus};

pub use binary::CoreBinary;

/// Where `core.install` puts a core it may not write over: `<data_dir>/core/xray`.
pub const INSTALLED_CORE: &str = "xray";
pub use generate::{generate, GenerateError};
pub use logs::{LogLine, LogRing};
pub use outbound_test::test_outbound;
pub use supervisor::Supervisor;
pub use tail::start_ticks;

use crate::config::CoreConfig;

/// Which core a binary is; the same type the renderer takes.
pub use xfleet_common::xray::Flavour;

/// What the agent needs to know about each flavour to run it.
pub trait FlavourExt {
    /// The variable naming the directory of `geoip.dat` and `geosite.dat`.
    fn asset_env(self) -> &'static str;
}

impl FlavourExt for Flavour {
    fn asset_env(self) -> &'static str {
        match self {
            Flavour::Xray => "XRAY_LOCATION_ASSET",
            Flavour::V2ray => "V2RAY_LOCATION_ASSET",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Discovery found nothing; the message lists where it looked.
    #[error("{0}")]
    NotFound(String),
    /// A binary was found but cannot be used (does not run, unknown output, v2ray 5).
    #[error("{}: {message}", binary.display())]
    Unusable { binary: PathBuf, message: String },
    #[error("no core configuration has been applied yet")]
    NoConfig,
    /// The core's config test refused the configuration; the message is the core's.
    #[error("the core refused the configuration: {0}")]
    InvalidConfig(String),
    /// The configuration passed the test, but the core exited while starting with it.
    #[error("the core exited while starting: {0}")]
    StartFailed(String),
    #[error("{0}")]
    Io(String),
    #[error("the core supervisor has shut down")]
    Gone,
}

/// Where the core's files live.
#[derive(Debug, Clone)]
pub struct CorePaths {
    /// `<data_dir>/core`: the running config and config-test scratch files.
    pub dir: PathBuf,
    pub assets: PathBuf,
}

impl CorePaths {
    pub fn new(data_dir: &Path, assets_dir: Option<&Path>) -> Self {
        let dir = data_dir.join("core");
        let assets = assets_dir.map_or_else(|| dir.join("assets"), Path::to_owned);
        Self { dir, assets }
    }

    /// The configuration the running core reads.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The core's access log, always on (IP limits and the panel read it).
    pub fn access_log(&self) -> PathBuf {
        self.dir.join("access.log")
    }

    /// Creates the core directory (private: configs hold keys and client ids) and the assets
    /// directory.
    fn prepare(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        std::fs::create_dir_all(&self.assets)
    }
}

/// The agent's core: supervised when a usable binary was found, otherwise the reason it was
/// not, which every `core.*` call answers with.
#[derive(Clone)]
pub enum Core {
    Found(Supervisor),
    Missing(String),
}

impl Core {
    /// Finds the binary `config` names (or searches for one) and starts supervising it under
    /// `<data_dir>/core`. The core itself is not started: that needs a configuration.
    pub async fn discover(config: &CoreConfig, data_dir: &Path) -> Core {
        // A version `core.install` put in the data directory, because the configured or found
        // core's directory was not the agent's to write, is what the operator installed last.
        let installed = CorePaths::new(data_dir, None).dir.join(INSTALLED_CORE);
        let named = match installed.is_file() {
            true => Some(installed.as_path()),
            false => config.binary.as_deref(),
        };
        let binary = match CoreBinary::discover(named).await {
            Ok(binary) => binary,
            Err(e) => {
                tracing::warn!(error = %e, "no usable core: core.* calls will fail");
                return Core::Missing(e.to_string());
            }
        };
        let paths = CorePaths::new(data_dir, config.assets_dir.as_deref());
        match Supervisor::new(binary, paths) {
            Ok(supervisor) => {
                let b = supervisor.binary();
                tracing::info!(
                    binary = %b.path.display(),
                    flavour = b.flavour.to_string(),
                    version = %b.version,
                    "found the core"
                );
                Core::Found(supervisor)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot prepare the core directory");
                Core::Missing(e.to_string())
            }
        }
    }

    pub fn supervisor(&self) -> Option<&Supervisor> {
        match self {
            Core::Found(s) => Some(s),
            Core::Missing(_) => None,
        }
    }

    /// The version for `Hello`, when there is a core.
    pub fn version(&self) -> Option<String> {
        self.supervisor().map(|s| s.binary().version.clone())
    }

    /// The core's state as `system.stats` reports it (3x-ui's `xray` object).
    pub fn status(&self) -> CoreStatus {
        match self {
            Core::Found(s) => s.state().status(&s.binary().version),
            Core::Missing(message) => CoreState::Error {
                message: message.clone(),
            }
            .status(""),
        }
    }
}

/// A free loopback port for the core's API inbound: bind `127.0.0.1:0`, read, release. Another
/// process could take it before the core binds it; the core then fails to start and says so.
pub fn pick_api_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests;
