//! Xray release zips the controller holds in `DATA/dist/cores/` and sends to agents with
//! `core.install`: fetched once per version and architecture from the release site (the
//! zip and its `.dgst`, the digest checked), or uploaded by the operator. Each zip has its
//! SHA-256 in a `.sha256` file beside it, which the agent checks again after the transfer.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use serde::Serialize;
use xfleet_agent::maintenance::release::{normalize_version, parse_dgst, xray_arch};
use xfleet_agent::maintenance::{Downloader, Fetched};
use xfleet_common::channel::Bytes;

use super::{sha256_hex, DistError};
use crate::config::Config;

/// Largest release zip held (Xray's are about 30 MiB); the agent's default download limit.
pub const MAX_RELEASE_BYTES: u64 = 200 << 20;
/// A `.dgst` file is four lines of hex.
const MAX_DGST_BYTES: usize = 16 << 10;
/// Architectures agents report (Rust's names) that Xray builds for.
const ARCHES: &[&str] = &["x86_64", "aarch64"];

/// One fetch at a time in this process, so tasks asking for the same release at once fetch
/// it once: the second finds it on the shelf.
static FETCHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The release last sent, by its file's path, size and time: a fleet-wide install holds one
/// copy.
static SENDING: std::sync::Mutex<Option<(String, Bytes)>> = std::sync::Mutex::new(None);

/// A release zip the controller holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreRelease {
    pub version: String,
    /// As agents report it: `x86_64`, `aarch64`.
    pub arch: String,
    pub size: u64,
    pub sha256: String,
    #[serde(skip)]
    pub path: PathBuf,
}

/// The folder of release zips and where missing ones come from.
#[derive(Debug, Clone)]
pub struct CoreShelf {
    pub dir: PathBuf,
    /// Release zip URL with `{version}` and `{arch}` (Xray's names: `64`, `arm64-v8a`).
    pub url_template: String,
}

impl CoreShelf {
    pub fn new(config: &Config) -> Self {
        Self {
            dir: config.data_dir.join("dist").join("cores"),
            url_template: config.core_url_template.clone(),
        }
    }

    fn zip_path(&self, version: &str, arch: &str) -> PathBuf {
        self.dir.join(format!("xray-{version}-linux-{arch}.zip"))
    }

    /// Every release held, by version then architecture.
    pub async fn list(&self) -> Result<Vec<CoreRelease>, DistError> {
        let mut releases = Vec::new();
        let mut dir = match tokio::fs::read_dir(&self.dir).await {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(releases),
            Err(e) => return Err(DistError::io(self.dir.display().to_string())(e)),
        };
        while let Ok(Some(entry)) = dir.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((version, arch)) = parse_name(&name) else {
                continue;
            };
            if let Some(release) = self.held(&version, &arch).await? {
                releases.push(release);
            }
        }
        releases.sort_by(|a, b| (&a.version, &a.arch).cmp(&(&b.version, &b.arch)));
        Ok(releases)
    }

    /// The release if held.
    pub async fn held(&self, version: &str, arch: &str) -> Result<Option<CoreRelease>, DistError> {
        let path = self.zip_path(version, arch);
        let meta = match tokio::fs::metadata(&path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DistError::io(path.display().to_string())(e)),
        };
        let sha256 = match tokio::fs::read_to_string(digest_path(&path)).await {
            Ok(text) => text.trim().to_owned(),
            // Written after the zip; a zip without it is recomputed once.
            Err(_) => {
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(DistError::io(path.display().to_string()))?;
                let sha = sha256_hex(&bytes);
                write_file(&digest_path(&path), sha.as_bytes()).await?;
                sha
            }
        };
        Ok(Some(CoreRelease {
            version: version.to_owned(),
            arch: arch.to_owned(),
            size: meta.len(),
            sha256,
            path,
        }))
    }

    /// Stores an uploaded release zip for `version` and `arch`, replacing one held.
    pub async fn put(
        &self,
        version: &str,
        arch: &str,
        zip: &[u8],
    ) -> Result<CoreRelease, DistError> {
        let (version, arch) = check(version, arch)?;
        check_zip(zip)?;
        let path = self.zip_path(&version, &arch);
        write_file(&path, zip).await?;
        write_file(&digest_path(&path), sha256_hex(zip).as_bytes()).await?;
        tracing::info!(%version, %arch, size = zip.len(), "core release stored");
        self.held(&version, &arch).await?.ok_or_else(|| {
            DistError::NotFound(format!("release {version} for {arch} after storing it"))
        })
    }

    /// Removes a release; false if it was not held.
    pub async fn delete(&self, version: &str, arch: &str) -> Result<bool, DistError> {
        let (version, arch) = check(version, arch)?;
        let path = self.zip_path(&version, &arch);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(digest_path(&path)).await;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(DistError::io(path.display().to_string())(e)),
        }
    }

    /// The release, fetched from the release site first if it is not held yet.
    pub async fn ensure(&self, version: &str, arch: &str) -> Result<CoreRelease, DistError> {
        let (version, arch) = check(version, arch)?;
        let _one_fetch = FETCHING.lock().await;
        if let Some(release) = self.held(&version, &arch).await? {
            return Ok(release);
        }
        self.fetch(&version, &arch).await
    }

    async fn fetch(&self, version: &str, arch: &str) -> Result<CoreRelease, DistError> {
        let xarch = xray_arch(arch).expect("checked");
        let url = self
            .url_template
            .replace("{version}", version)
            .replace("{arch}", xarch);
        let failed = |e: &dyn std::fmt::Display| {
            DistError::Fetch(format!(
                "the controller cannot fetch Xray {version} for {arch}: {e}; upload the \
                 release zip instead (`xfleet core upload`, or the panel)"
            ))
        };
        let downloader = Downloader::new(MAX_RELEASE_BYTES);
        let dgst_url = format!("{url}.dgst");
        let dgst = downloader
            .fetch_text(&dgst_url, MAX_DGST_BYTES)
            .await
            .map_err(|e| failed(&e))?;
        let expected =
            parse_dgst(&dgst).ok_or_else(|| failed(&format!("{dgst_url} has no SHA2-256 line")))?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(DistError::io(self.dir.display().to_string()))?;
        let path = self.zip_path(version, arch);
        let Fetched::Downloaded(zip) = downloader
            .fetch_to(&url, &path, None)
            .await
            .map_err(|e| failed(&e))?
        else {
            unreachable!("no If-Modified-Since was sent");
        };
        if zip.sha256 != expected {
            return Err(failed(&format!(
                "checksum mismatch for {url}: the release says SHA-256 {expected}, the download has {}",
                zip.sha256
            )));
        }
        let sha256 = zip.sha256.clone();
        tokio::task::spawn_blocking(move || zip.commit())
            .await
            .map_err(|e| DistError::io(path.display().to_string())(std::io::Error::other(e)))?
            .map_err(DistError::io(path.display().to_string()))?;
        write_file(&digest_path(&path), sha256.as_bytes()).await?;
        tracing::info!(version, arch, %url, "core release fetched");
        self.held(version, arch)
            .await?
            .ok_or_else(|| DistError::NotFound(format!("release {version} for {arch}")))
    }

    /// The zip's bytes, to send: read once and shared by every host it goes to, until the
    /// file on the shelf changes.
    pub async fn bytes(&self, release: &CoreRelease) -> Result<Bytes, DistError> {
        let io = || DistError::io(release.path.display().to_string());
        let meta = tokio::fs::metadata(&release.path).await.map_err(io())?;
        let key = format!(
            "{}:{}:{:?}",
            release.path.display(),
            meta.len(),
            meta.modified().ok()
        );
        let cached = SENDING.lock().unwrap().clone();
        if let Some((_, bytes)) = cached.filter(|(cached, _)| *cached == key) {
            return Ok(bytes);
        }
        let bytes = Bytes::from(tokio::fs::read(&release.path).await.map_err(io())?);
        *SENDING.lock().unwrap() = Some((key, bytes.clone()));
        Ok(bytes)
    }
}

/// A version and architecture as the shelf names them.
fn check(version: &str, arch: &str) -> Result<(String, String), DistError> {
    let version = normalize_version(version).map_err(|e| DistError::Invalid(e.to_string()))?;
    if !ARCHES.contains(&arch) {
        return Err(DistError::Invalid(format!(
            "unknown architecture `{arch}`; one of {}",
            ARCHES.join(", ")
        )));
    }
    Ok((version, arch.to_owned()))
}

/// Refuses what is not an Xray release zip (a zip with an `xray` entry).
fn check_zip(zip: &[u8]) -> Result<(), DistError> {
    if zip.len() as u64 > MAX_RELEASE_BYTES {
        return Err(DistError::Invalid(format!(
            "the file is larger than {MAX_RELEASE_BYTES} bytes"
        )));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|e| DistError::Invalid(format!("not a zip archive: {e}")))?;
    archive.by_name("xray").map_err(|_| {
        DistError::Invalid("not an Xray release: the zip has no `xray` binary".into())
    })?;
    Ok(())
}

/// `xray-25.3.6-linux-x86_64.zip` → (`25.3.6`, `x86_64`).
fn parse_name(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix("xray-")?.strip_suffix(".zip")?;
    let (version, arch) = rest.rsplit_once("-linux-")?;
    check(version, arch).ok()
}

fn digest_path(zip: &Path) -> PathBuf {
    let mut name = zip.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

async fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DistError> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(DistError::io(dir.display().to_string()))?;
    }
    let (path, bytes) = (path.to_owned(), bytes.to_vec());
    let what = path.display().to_string();
    tokio::task::spawn_blocking(move || crate::util::write_atomic(&path, &bytes, 0o644))
        .await
        .map_err(|e| DistError::io(what.clone())(std::io::Error::other(e)))?
        .map_err(DistError::io(what))
}

/// Xray's name for a version and architecture file, for the CLI: `Xray-linux-64.zip` gives
/// the architecture, a version in the name (`Xray-25.3.6-linux-64.zip`,
/// `xray-v25.3.6-linux-x86_64.zip`) the version.
pub fn guess_from_file_name(name: &str) -> (Option<String>, Option<String>) {
    let lower = name.to_ascii_lowercase();
    let arch = if lower.contains("arm64") || lower.contains("aarch64") {
        Some("aarch64")
    } else if lower.contains("linux-64") || lower.contains("x86_64") || lower.contains("amd64") {
        Some("x86_64")
    } else {
        None
    };
    let version = lower
        .split(['-', '_'])
        .find(|part| {
            let p = part.strip_prefix('v').unwrap_or(part);
            p.contains('.') && p.starts_with(|c: char| c.is_ascii_digit()) && !p.ends_with(".zip")
        })
        .and_then(|v| normalize_version(v).ok());
    (version, arch.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_on_the_shelf_and_uploaded_file_names_parse() {
        assert_eq!(
            parse_name("xray-25.3.6-linux-x86_64.zip"),
            Some(("25.3.6".into(), "x86_64".into()))
        );
        assert_eq!(parse_name("xray-25.3.6-linux-x86_64.zip.sha256"), None);
        assert_eq!(parse_name("xray-../x-linux-x86_64.zip"), None);
        assert_eq!(
            guess_from_file_name("Xray-linux-64.zip"),
            (None, Some("x86_64".into()))
        );
        assert_eq!(
            guess_from_file_name("Xray-v25.3.6-linux-arm64-v8a.zip"),
            (Some("25.3.6".into()), Some("aarch64".into()))
        );
    }

    #[test]
    fn uploads_that_are_no_release_are_refused() {
        assert!(check_zip(b"not a zip")
            .unwrap_err()
            .to_string()
            .contains("not a zip"));
        assert!(check("latest", "x86_64").is_err());
        assert!(check("25.3.6", "sparc")
            .unwrap_err()
            .to_string()
            .contains("x86_64"));
    }
}
