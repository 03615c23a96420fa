//! `core.install` and `geo.update`: new core versions and geo files, checked before they
//! replace what the running core uses, with a restart only when something changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use xfleet_common::methods::{CoreInstallAnswer, CoreInstallRequest, GeoUpdateRequest};
use xfleet_common::protocol::{code, from_body, ErrorBody};
use xfleet_common::xray::Flavour;

use crate::config::MaintenanceConfig;
use crate::core::{Supervisor, INSTALLED_CORE};
use crate::maintenance::received::StreamFiles;
use crate::maintenance::release::parse_version_output;
use crate::maintenance::{CoreBinary, GeoFiles, InstallError};
use xfleet_common::channel::{reply, IncomingStream};

/// Installs a core release over the binary the supervisor runs, then restarts the core on it.
/// The release zip is the call's stream when the controller sends it (with its SHA-256 in
/// the body), else downloaded from `maintenance.core_url_template`.
pub async fn install(
    supervisor: &Supervisor,
    config: &MaintenanceConfig,
    body: &[u8],
    stream: Option<IncomingStream>,
) -> Result<Vec<u8>, ErrorBody> {
    let request: CoreInstallRequest = from_body(body)?;
    if supervisor.binary().flavour != Flavour::Xray {
        return Err(ErrorBody::new(
            code::UNSUPPORTED,
            "core.install installs Xray releases; this host runs a v2ray core from its package manager",
        ));
    }
    let running = supervisor.binary();
    let path = install_path(&running.path, &supervisor.paths().dir);
    let target = CoreBinary::new(path.clone(), config);
    let running_config = supervisor.paths().config_file();
    let config_check = move |new: &Path| config_test(new, &running_config);
    let installed = match (stream, request.sha256) {
        (Some(mut stream), Some(sha256)) => {
            let (len, limit) = (stream.len(), config.download_limit_bytes());
            if len > limit {
                return Err(ErrorBody::invalid(format!(
                    "the release zip is {len} bytes, over this agent's download limit of {limit}"
                )));
            }
            let zip = StreamFiles::new(&mut stream)
                .next_file(len, &target.zip_path())
                .await
                .map_err(InstallError::Receive);
            match zip {
                Ok(zip) => {
                    target
                        .install_received(&request.version, zip, &sha256, version_of, config_check)
                        .await
                }
                Err(e) => Err(e),
            }
        }
        (None, None) => {
            target
                .install(&request.version, version_of, config_check)
                .await
        }
        _ => {
            return Err(ErrorBody::invalid(
                "a release zip sent with core.install needs its sha256, and a sha256 its zip",
            ))
        }
    }
    .map_err(|e| ErrorBody::new(code::CORE_FAILED, format!("{} failed: {e}", e.step())))?;
    // From now on the supervisor runs the new binary, and reports its version.
    let probed = crate::core::CoreBinary::probe(&path).await;
    let started = match probed {
        Ok(binary) => {
            supervisor.use_binary(binary);
            supervisor.restart().await.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = started {
        // The new binary passed its checks but does not run here: put the old one back.
        if path == running.path {
            let _ = target.rollback();
        } else {
            let _ = std::fs::remove_file(&path);
        }
        supervisor.use_binary(running);
        let _ = supervisor.restart().await;
        return Err(ErrorBody::new(
            code::CORE_FAILED,
            format!("the new core does not start, rolled back: {e}"),
        ));
    }
    reply(&CoreInstallAnswer::from(installed))
}

/// Where an install puts the new binary: over the running one when its directory is the
/// agent's to write, else `<data_dir>/core/xray`. Agents run as their own system user, and a
/// core in a system directory (`/usr/local/bin`) is not theirs to replace; the supervisor
/// runs the binary in the data directory from then on, and `core::Core::discover` prefers it
/// at every later start.
fn install_path(running: &Path, core_dir: &Path) -> PathBuf {
    let dir = running.parent().unwrap_or(Path::new("."));
    let probe = dir.join(format!(".xfleet-write-test-{}", std::process::id()));
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok();
    if writable {
        let _ = std::fs::remove_file(&probe);
        running.to_owned()
    } else {
        core_dir.join(INSTALLED_CORE)
    }
}

/// Refreshes geo files in the core's assets directory, from the call's stream when the
/// controller sends them, else from their sources; restarts the core if any changed.
pub async fn geo_update(
    supervisor: &Supervisor,
    config: &MaintenanceConfig,
    body: &[u8],
    stream: Option<IncomingStream>,
) -> Result<Vec<u8>, ErrorBody> {
    let request: GeoUpdateRequest = from_body(body)?;
    let files = GeoFiles::new(supervisor.paths().assets.clone(), config);
    let answer = match stream {
        Some(mut stream) => {
            let total: u64 = request.streamed.iter().map(|p| p.size).sum();
            if total != stream.len() {
                return Err(ErrorBody::invalid(format!(
                    "the geo files listed add up to {total} bytes, the stream has {}",
                    stream.len()
                )));
            }
            files.receive(&request.streamed, &mut stream).await
        }
        None => files.update(&request.files).await,
    }
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
