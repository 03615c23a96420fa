//! Agent binaries for self-update tests: this build's agent under its catalog name, a second
//! build that differs only in its version string (the version slot patched in a copy, no
//! rebuild), and a "binary" that is not an agent at all.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::bin;

/// The version this build's agent reports.
pub fn built_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// This host's architecture as agent binaries are named.
pub fn arch() -> &'static str {
    std::env::consts::ARCH
}

fn catalog_name(dir: &Path, version: &str) -> PathBuf {
    dir.join(format!("xfleet-agent-{version}-linux-{}", arch()))
}

/// Puts this build's agent into `dir` as `version` (its version slot patched when `version`
/// is not the built one); returns the file.
pub fn agent_as(dir: &Path, version: &str) -> PathBuf {
    let mut bytes = std::fs::read(bin("xfleet-agent")).expect("read the built agent");
    if version != built_version() {
        xfleet_agent::update::version::patch(&mut bytes, built_version(), version)
            .expect("patch the version slot");
    }
    write_executable(&catalog_name(dir, version), &bytes)
}

/// A file in `dir` named as agent `version` that is a shell script exiting with status 1:
/// signed and handed out like any agent, it cannot even start.
pub fn failing_agent(dir: &Path, version: &str) -> PathBuf {
    write_executable(&catalog_name(dir, version), b"#!/bin/sh\nexit 1\n")
}

fn write_executable(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// What `binary --version` prints.
pub fn version_of(binary: &Path) -> String {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .expect("run --version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
