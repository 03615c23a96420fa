//! `core.install` and `geo.update`: new core versions and geo files, checked before they
//! replace what the running core uses, with a restart only when something changed.

use std::path::Path;
use std::process::Command;

use xfleet_common::methods::{CoreInstallAnswer, CoreInstallRequest, GeoUpdateRequest};
use xfleet_common::protocol::{code, from_body, ErrorBody};
use xfleet_common::xray::Flavour;

use crate::config::MaintenanceConfig;
use crate::core::Supervisor;
use crate::maintenance::release::parse_version_output;
use crate::maintenance::{CoreBinary, GeoFiles};
use xfleet_common::channel::reply;

/// Installs a core release over the binary the supervisor runs, then restarts the core on it.
pub async fn install(
    supervisor: &Supervisor,
    config: &MaintenanceConfig,
    body: &[u8],
) -> Result<Vec<u8>, ErrorBody> {
    let request: CoreInstallRequest = from_body(body)?;
    if supervisor.binary().flavour != Flavour::Xray {
        return Err(ErrorBody::new(
            code::UNSUPPORTED,
            "core.install installs Xray releases; this host runs a v2ray core from its package manager",
        ));
    }
    let target = CoreBinary::new(supervisor.binary().path.clone(), config);
    let running_config = supervisor.paths().config_file();
    let installed = target
        .install(&request.version, version_of, move |new: &Path| {
            config_test(new, &running_config)
        })
        .await
        .map_err(|e| ErrorBody::new(code::CORE_FAILED, format!("{} failed: {e}", e.step())))?;
    if let Err(e) = supervisor.restart().await {
        // The new binary passed its checks but does not run here: put the old one back.
        let _ = target.rollback();
        let _ = supervisor.restart().await;
        return Err(ErrorBody::new(
            code::CORE_FAILED,
            format!("the new core does not start, rolled back: {e}"),
        ));
    }
    reply(&CoreInstallAnswer::from(installed))
}

/// Refreshes geo files in the core's assets directory; restarts the core if any changed.
pub async fn geo_update(
    supervisor: &Supervisor,
    config: &MaintenanceConfig,
    body: &[u8],
) -> Result<Vec<u8>, ErrorBody> {
    let request: GeoUpdateRequest = from_body(body)?;
    let files = GeoFiles::new(supervisor.paths().assets.clone(), config);
    let answer = files
        .update(&request.files)
        .await
        .map_err(|e| ErrorBody::new(code::CORE_FAILED, e.to_string()))?;
    if !answer.changed.is_empty() && supervisor.config().is_some() {
        supervisor
            .restart()
            .await
            .map_err(|e| ErrorBody::new(code::CORE_FAILED, e.to_string()))?;
    }
    reply(&answer)
}

fn version_of(binary: &Path) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("version")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version_output(&text).ok_or_else(|| format!("unexpected version output: {}", text.trim()))
}

fn config_test(binary: &Path, config: &Path) -> Result<(), String> {
    if !config.exists() {
        return Ok(());
    }
    let out = Command::new(binary)
        .args(["run", "-test", "-c"])
        .arg(config)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
