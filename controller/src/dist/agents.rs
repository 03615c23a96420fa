//! The agent binaries the controller carries: files named
//! `xfleet-agent-<version>-linux-<arch>` in one folder (`agent_binaries_dir`), or, when none is
//! configured, beside the controller's own executable (`agents/`, `../lib/xfleet/agents/` as
//! the `.deb` lays it out, and a plain `xfleet-agent` taken as this build for this host).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::Bytes;
use serde::Serialize;
use xfleet_common::enrollment::sha256_hex;

const PREFIX: &str = "xfleet-agent-";
/// The architectures an agent is built for, as `uname -m` names them on Linux.
pub const ARCHES: [&str; 2] = ["x86_64", "aarch64"];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("agent binaries folder {}: {error}", dir.display())]
    Folder { dir: PathBuf, error: std::io::Error },
    #[error("cannot read the agent binary {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the agent binary {} changed since the controller started; restart it to hand out the new file", path.display())]
    Changed { path: PathBuf },
}

/// One agent binary the controller can hand out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentBinary {
    pub version: String,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

/// The binaries found at start, each file read once when first asked for.
#[derive(Debug, Default)]
pub struct AgentCatalog {
    binaries: Vec<AgentBinary>,
    /// Where it looked, for the panel and for errors.
    searched: Vec<PathBuf>,
    cache: Mutex<HashMap<PathBuf, Bytes>>,
}

impl AgentCatalog {
    /// The binaries in `dir` (files named `xfleet-agent-<version>-linux-<arch>`).
    pub fn scan(dir: &Path) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        catalog.add_folder(dir)?;
        Ok(catalog)
    }

    /// What the configuration names (`agent_binaries_dir`), else the default search around
    /// the running executable.
    pub fn from_config(configured: &str) -> Result<Self, CatalogError> {
        if !configured.is_empty() {
            return Self::scan(Path::new(configured));
        }
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.canonicalize().ok());
        match exe.as_deref().and_then(Path::parent) {
            Some(dir) => Self::beside(dir),
            None => Ok(Self::default()),
        }
    }

    /// The default search from the folder holding `xfleet`: `agents/`, `../lib/xfleet/agents/`,
    /// then `xfleet-agent` in the folder itself as this build's version for this host. Folders
    /// that do not exist are skipped.
    pub fn beside(exe_dir: &Path) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for dir in [exe_dir.join("agents"), exe_dir.join("../lib/xfleet/agents")] {
            if dir.is_dir() {
                catalog.add_folder(&dir)?;
            }
        }
        let own = exe_dir.join("xfleet-agent");
        catalog.searched.push(own.clone());
        if own.is_file() {
            if let Some(arch) = ARCHES.iter().find(|a| **a == std::env::consts::ARCH) {
                catalog.add_file(&own, xfleet_common::VERSION, arch)?;
            }
        }
        Ok(catalog)
    }

    fn add_folder(&mut self, dir: &Path) -> Result<(), CatalogError> {
        let folder = |error| CatalogError::Folder {
            dir: dir.to_owned(),
            error,
        };
        self.searched.push(dir.to_owned());
        let mut found: Vec<(PathBuf, String, &'static str)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(folder)? {
            let entry = entry.map_err(folder)?;
            let name = entry.file_name();
            let Some((version, arch)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            if entry.path().is_file() {
                found.push((entry.path(), version, arch));
            }
        }
        found.sort();
        for (path, version, arch) in found {
            self.add_file(&path, &version, arch)?;
        }
        Ok(())
    }

    /// The first file found for a version and architecture is the one handed out.
    fn add_file(&mut self, path: &Path, version: &str, arch: &str) -> Result<(), CatalogError> {
        if self.get(version, arch).is_some() {
            return Ok(());
        }
        let bytes = std::fs::read(path).map_err(|error| CatalogError::Read {
            path: path.to_owned(),
            error,
        })?;
        self.binaries.push(AgentBinary {
            version: version.to_owned(),
            arch: arch.to_owned(),
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
        Ok(())
    }

    /// Every binary, newest version first, then by architecture.
    pub fn list(&self) -> Vec<AgentBinary> {
        let mut all = self.binaries.clone();
        all.sort_by(|a, b| compare_versions(&b.version, &a.version).then(a.arch.cmp(&b.arch)));
        all
    }

    /// Where the catalog looked for binaries.
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }

    /// The newest version for `arch`.
    pub fn latest(&self, arch: &str) -> Option<&AgentBinary> {
        self.binaries
            .iter()
            .filter(|b| b.arch == arch)
            .max_by(|a, b| compare_versions(&a.version, &b.version))
    }

    pub fn get(&self, version: &str, arch: &str) -> Option<&AgentBinary> {
        self.binaries
            .iter()
            .find(|b| b.version == version && b.arch == arch)
    }

    /// The file's contents, read once and kept; a file that no longer matches the digest
    /// taken at start is refused rather than handed out under the old digest.
    pub fn bytes(&self, binary: &AgentBinary) -> Result<Bytes, CatalogError> {
        if let Some(b) = self.cache.lock().unwrap().get(&binary.path) {
            return Ok(b.clone());
        }
        let read = std::fs::read(&binary.path).map_err(|error| CatalogError::Read {
            path: binary.path.clone(),
            error,
        })?;
        if sha256_hex(&read) != binary.sha256 {
            return Err(CatalogError::Changed {
                path: binary.path.clone(),
            });
        }
        let bytes = Bytes::from(read);
        self.cache
            .lock()
            .unwrap()
            .insert(binary.path.clone(), bytes.clone());
        Ok(bytes)
    }
}

/// The line an operator pastes on a fresh host: the gateway's installer, fetched over TLS
/// trusted only by the pin of the gateway's key (`-k` turns off the public CAs, which do not
/// know the controller's private CA; the pin is still enforced), run with the token.
pub fn install_command(gateway_url: &str, key_pin: &str, token: &str) -> String {
    // A failed download (a pin of another key, no route) feeds `sh` two commands that say so
    // and exit non-zero, so the line as a whole fails, not only curl; a cut-short script is
    // never run either, as it does nothing before its last line.
    format!(
        "(curl -fsSL -k --pinnedpubkey 'sha256//{key_pin}' {}/install.sh || echo \"echo \
         'xfleet install: error: the installer could not be downloaded (curl said why above)' \
         >&2; exit 1\") | sh -s -- --token {token}",
        gateway_url.trim_end_matches('/')
    )
}

/// An architecture as `uname -m` or Debian names it, in the catalog's spelling.
pub fn canonical_arch(name: &str) -> Option<&'static str> {
    match name {
        "x86_64" | "amd64" => Some("x86_64"),
        "aarch64" | "arm64" => Some("aarch64"),
        _ => None,
    }
}

/// `xfleet-agent-<version>-linux-<arch>` into its version and architecture.
fn parse_name(name: &str) -> Option<(String, &'static str)> {
    let rest = name.strip_prefix(PREFIX)?;
    ARCHES.iter().find_map(|arch| {
        let version = rest.strip_suffix(&format!("-linux-{arch}") as &str)?;
        let plausible = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
        plausible.then(|| (version.to_owned(), *arch))
    })
}

/// Orders versions by their numeric parts (`0.10.0` after `0.9.1`); a pre-release
/// (`1.0.0-rc1`) comes before its release.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (Vec<u64>, Option<String>) {
        let (core, pre) = match v.split_once('-') {
            Some((core, pre)) => (core.to_owned(), Some(pre.to_owned())),
            None => (v.to_owned(), None),
        };
        let core = core.split('+').next().unwrap_or_default().to_owned();
        (
            core.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
            pre,
        )
    };
    let (a_core, a_pre) = split(a);
    let (b_core, b_pre) = split(b);
    a_core.cmp(&b_core).then_with(|| match (a_pre, b_pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::TempDir;

    fn put(dir: &Path, name: &str, body: &[u8]) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    /// Only well-named files count; the newest version per architecture is `latest`, and the
    /// digest and size are those of the file.
    #[test]
    fn scan_reads_names_versions_and_digests() {
        let dir = TempDir::new("catalog");
        put(dir.path(), "xfleet-agent-0.9.1-linux-x86_64", b"old");
        put(dir.path(), "xfleet-agent-0.10.0-linux-x86_64", b"new");
        put(dir.path(), "xfleet-agent-0.10.0-rc1-linux-x86_64", b"rc");
        put(dir.path(), "xfleet-agent-0.9.1-linux-aarch64", b"arm");
        put(dir.path(), "xfleet-agent-0.9.1-linux-mips", b"no");
        put(dir.path(), "README", b"no");
        let catalog = AgentCatalog::scan(dir.path()).unwrap();
        assert_eq!(catalog.list().len(), 4);
        let latest = catalog.latest("x86_64").unwrap();
        assert_eq!(latest.version, "0.10.0");
        assert_eq!(latest.size, 3);
        assert_eq!(latest.sha256, sha256_hex(b"new"));
        assert_eq!(catalog.latest("aarch64").unwrap().version, "0.9.1");
        assert_eq!(
            catalog.list()[0].version,
            "0.10.0",
            "newest first in the list"
        );
        assert!(catalog.get("0.10.0-rc1", "x86_64").is_some());
        assert_eq!(catalog.bytes(latest).unwrap(), Bytes::from_static(b"new"));
    }

    /// A file replaced after the scan is refused, not served under the digest it no longer has.
    #[test]
    fn a_changed_file_is_refused() {
        let dir = TempDir::new("catalog");
        put(dir.path(), "xfleet-agent-1.0.0-linux-x86_64", b"one");
        let catalog = AgentCatalog::scan(dir.path()).unwrap();
        put(dir.path(), "xfleet-agent-1.0.0-linux-x86_64", b"two");
        let binary = catalog.latest("x86_64").unwrap();
        assert!(matches!(
            catalog.bytes(binary),
            Err(CatalogError::Changed { .. })
        ));
    }

    /// Without a configured folder: `agents/` beside the executable, then the `.deb`'s
    /// `../lib/xfleet/agents/`, then `xfleet-agent` itself as this build for this host.
    #[test]
    fn default_search_beside_the_executable() {
        let root = TempDir::new("catalog");
        let bin = root.path().join("bin");
        let lib = root.path().join("lib/xfleet/agents");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        put(&lib, "xfleet-agent-0.0.1-linux-aarch64", b"deb");
        put(&bin, "xfleet-agent", b"this build");
        let catalog = AgentCatalog::beside(&bin).unwrap();
        assert_eq!(
            catalog.get("0.0.1", "aarch64").unwrap().sha256,
            sha256_hex(b"deb")
        );
        if let Some(arch) = ARCHES.iter().find(|a| **a == std::env::consts::ARCH) {
            let own = catalog.get(xfleet_common::VERSION, arch).unwrap();
            assert_eq!(own.sha256, sha256_hex(b"this build"));
        }
    }

    /// A configured folder that cannot be read is an error at start, not an empty catalog.
    #[test]
    fn a_missing_configured_folder_is_an_error() {
        let err = AgentCatalog::from_config("/nonexistent/xfleet-agents").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/xfleet-agents"),
            "{err}"
        );
    }

    #[test]
    fn arch_names_and_version_order() {
        assert_eq!(canonical_arch("amd64"), Some("x86_64"));
        assert_eq!(canonical_arch("arm64"), Some("aarch64"));
        assert_eq!(canonical_arch("riscv64"), None);
        assert_eq!(compare_versions("0.10.0", "0.9.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0.0-rc1", "1.0.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0.0", "1.0.0"), Ordering::Equal);
    }
}
