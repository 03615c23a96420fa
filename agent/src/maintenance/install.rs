//! `core.install`: a core version from its release zip, verified against the release's `.dgst`
//! file, unpacked beside the running binary and checked by the caller before it replaces
//! anything. The replaced binary stays as `<name>.previous` for [`CoreBinary::rollback`].

use std::ffi::OsString;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use xfleet_common::methods::CoreInstallAnswer;

use super::download::{DownloadError, Downloader, Fetched};
use super::received::Received;
#[cfg(doc)]
use super::release::parse_version_output;
use super::release::{normalize_version, parse_dgst, xray_arch, BadVersion};
use crate::config::MaintenanceConfig;
use crate::fsutil::{self, TempFile};

/// The binary's name inside Xray's release zips.
const BINARY_IN_ZIP: &str = "xray";
/// A `.dgst` file is four lines of hex.
const MAX_DGST_BYTES: usize = 16 << 10;
const EXECUTABLE: u32 = 0o755;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    BadVersion(#[from] BadVersion),
    #[error(
        "no Xray build is known for the `{0}` architecture; set maintenance.core_url_template"
    )]
    UnknownArch(String),
    #[error("download failed: {0}")]
    Download(DownloadError),
    #[error("checksum file {url}: {message}")]
    Digest { url: String, message: String },
    #[error("checksum mismatch for {url}: the release says SHA-256 {expected}, the download has {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("checksum mismatch: the controller announced SHA-256 {expected}, the zip it sent has {actual}")]
    SentMismatch { expected: String, actual: String },
    #[error("receiving the release zip from the controller: {0}")]
    Receive(String),
    #[error("unpack failed: {0}")]
    Unpack(String),
    #[error("version check failed: {0}")]
    VersionCheck(String),
    #[error("config test failed: {0}")]
    ConfigTest(String),
    #[error("replacing {}: {error}", path.display())]
    Replace { path: PathBuf, error: io::Error },
    #[error("nothing to roll back to: {} does not exist", .0.display())]
    NoPrevious(PathBuf),
}

impl InstallError {
    /// The step that failed, for logs and error codes.
    pub fn step(&self) -> &'static str {
        match self {
            Self::BadVersion(_) | Self::UnknownArch(_) => "request",
            Self::Download(_) | Self::Receive(_) => "download",
            Self::Digest { .. } | Self::ChecksumMismatch { .. } | Self::SentMismatch { .. } => {
                "checksum"
            }
            Self::Unpack(_) => "unpack",
            Self::VersionCheck(_) => "version_check",
            Self::ConfigTest(_) => "config_test",
            Self::Replace { .. } | Self::NoPrevious(_) => "replace",
        }
    }
}

/// A completed install.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub version: String,
    /// What the replaced binary reported; `None` on a first install or if it could not tell.
    pub previous_version: Option<String>,
    pub path: PathBuf,
}

impl From<Installed> for CoreInstallAnswer {
    fn from(i: Installed) -> Self {
        Self {
            version: i.version,
            previous_version: i.previous_version,
            path: i.path.display().to_string(),
        }
    }
}

/// The core binary on this host and where its releases come from.
#[derive(Debug, Clone)]
pub struct CoreBinary {
    pub path: PathBuf,
    /// Release zip URL with `{version}` and `{arch}` placeholders.
    pub url_template: String,
    pub downloader: Downloader,
}

impl CoreBinary {
    pub fn new(path: PathBuf, config: &MaintenanceConfig) -> Self {
        Self {
            path,
            url_template: config.core_url_template.clone(),
            downloader: Downloader::new(config.download_limit_bytes()),
        }
    }

    /// Where the binary an install replaced is kept.
    pub fn previous_path(&self) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(".previous");
        PathBuf::from(name)
    }

    /// The release zip URL for `version` on this machine.
    pub fn release_url(&self, version: &str) -> Result<String, InstallError> {
        let version = normalize_version(version)?;
        let mut url = self.url_template.replace("{version}", &version);
        if url.contains("{arch}") {
            let arch = std::env::consts::ARCH;
            let name = xray_arch(arch).ok_or_else(|| InstallError::UnknownArch(arch.into()))?;
            url = url.replace("{arch}", name);
        }
        Ok(url)
    }

    /// Downloads `version`, checks its SHA-256 against the release's `.dgst` file, unpacks the
    /// binary beside the current one and runs the caller's checks on it: `version_check`
    /// returns the version a binary reports (see [`parse_version_output`]) and must report
    /// the requested one; `config_check` tests the current config with it. Only then the old
    /// binary becomes `<name>.previous` and the new one takes its place in one rename. On any
    /// error the current binary is untouched and no temp file is left.
    ///
    /// The checks run on a blocking thread; once they have started, the install finishes even
    /// if the caller stops waiting. The running core is not restarted. Running the new file
    /// can fail with `ExecutableFileBusy` for a moment while another thread of the process
    /// forks; a check should retry that error briefly (the tests show how).
    pub async fn install<V, C>(
        &self,
        version: &str,
        version_check: V,
        config_check: C,
    ) -> Result<Installed, InstallError>
    where
        V: Fn(&Path) -> Result<String, String> + Send + 'static,
        C: FnOnce(&Path) -> Result<(), String> + Send + 'static,
    {
        let version = normalize_version(version)?;
        let url = self.release_url(&version)?;
        let dgst_url = format!("{url}.dgst");
        let dgst = self
            .downloader
            .fetch_text(&dgst_url, MAX_DGST_BYTES)
            .await
            .map_err(InstallError::Download)?;
        let expected = parse_dgst(&dgst).ok_or_else(|| InstallError::Digest {
            url: dgst_url,
            message: "no SHA2-256 line".into(),
        })?;

        let dir = self.path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|error| InstallError::Replace {
                path: dir.to_owned(),
                error,
            })?;
        let mut zip_name = OsString::from(self.path.as_os_str());
        zip_name.push(".zip");
        let fetched = self
            .downloader
            .fetch_to(&url, Path::new(&zip_name), None)
            .await
            .map_err(InstallError::Download)?;
        let Fetched::Downloaded(zip) = fetched else {
            unreachable!("no If-Modified-Since was sent");
        };
        if zip.sha256 != expected {
            return Err(InstallError::ChecksumMismatch {
                url,
                expected,
                actual: zip.sha256,
            });
        }

        self.swap_in_blocking(zip, version, version_check, config_check)
            .await
    }

    /// The zip the controller sent (`zip`, written beside the binary by
    /// [`super::received::StreamFiles`]) in place of a download: checked against the SHA-256
    /// the controller announced, then the same unpack, checks and swap as [`Self::install`].
    pub async fn install_received<V, C>(
        &self,
        version: &str,
        zip: Received,
        expected_sha256: &str,
        version_check: V,
        config_check: C,
    ) -> Result<Installed, InstallError>
    where
        V: Fn(&Path) -> Result<String, String> + Send + 'static,
        C: FnOnce(&Path) -> Result<(), String> + Send + 'static,
    {
        let version = normalize_version(version)?;
        if !zip.sha256.eq_ignore_ascii_case(expected_sha256) {
            return Err(InstallError::SentMismatch {
                expected: expected_sha256.to_owned(),
                actual: zip.sha256,
            });
        }
        self.swap_in_blocking(zip.file, version, version_check, config_check)
            .await
    }

    /// Where a received release zip is written: beside the binary, as downloads are.
    pub fn zip_path(&self) -> PathBuf {
        let mut zip_name = OsString::from(self.path.as_os_str());
        zip_name.push(".zip");
        PathBuf::from(zip_name)
    }

    async fn swap_in_blocking<V, C>(
        &self,
        zip: impl AsRef<Path> + Send + 'static,
        version: String,
        version_check: V,
        config_check: C,
    ) -> Result<Installed, InstallError>
    where
        V: Fn(&Path) -> Result<String, String> + Send + 'static,
        C: FnOnce(&Path) -> Result<(), String> + Send + 'static,
    {
        let (core, limit) = (self.clone(), self.downloader.max_bytes);
        let swap = move || core.swap_in(zip, &version, limit, version_check, config_check);
        match tokio::task::spawn_blocking(swap).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(InstallError::Replace {
                path: self.path.clone(),
                error: io::Error::other(e.to_string()),
            }),
        }
    }

    /// The blocking half of [`CoreBinary::install`], from the verified zip on.
    fn swap_in<V, C>(
        &self,
        zip: impl AsRef<Path>,
        version: &str,
        limit: u64,
        version_check: V,
        config_check: C,
    ) -> Result<Installed, InstallError>
    where
        V: Fn(&Path) -> Result<String, String>,
        C: FnOnce(&Path) -> Result<(), String>,
    {
        let staged = unpack(zip.as_ref(), &self.path, limit)?;
        drop(zip);
        let reported = version_check(staged.path()).map_err(InstallError::VersionCheck)?;
        if normalize_version(&reported).ok().as_deref() != Some(version) {
            return Err(InstallError::VersionCheck(format!(
                "the new binary reports version `{reported}`, not {version}"
            )));
        }
        config_check(staged.path()).map_err(InstallError::ConfigTest)?;

        let replace = |error| InstallError::Replace {
            path: self.path.clone(),
            error,
        };
        let previous_version = if self.keep_previous().map_err(replace)? {
            version_check(&self.previous_path()).ok()
        } else {
            None
        };
        staged.commit(&self.path).map_err(replace)?;
        tracing::info!(
            path = %self.path.display(),
            version,
            previous = previous_version.as_deref().unwrap_or("none"),
            "core installed"
        );
        Ok(Installed {
            version: version.to_owned(),
            previous_version,
            path: self.path.clone(),
        })
    }

    /// Makes `<name>.previous` a copy of the current binary while the binary stays in place
    /// (a hard link where the file system allows). False when there is no current binary.
    fn keep_previous(&self) -> io::Result<bool> {
        let previous = self.previous_path();
        let staged = TempFile::next_to(&previous);
        match std::fs::hard_link(&self.path, staged.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(_) => {
                std::fs::copy(&self.path, staged.path())?;
                File::open(staged.path())?.sync_all()?;
            }
        }
        staged.commit(&previous)?;
        Ok(true)
    }

    /// Puts `<name>.previous` back in place of the binary, in one rename. The caller restarts
    /// the core.
    pub fn rollback(&self) -> Result<(), InstallError> {
        let previous = self.previous_path();
        match std::fs::rename(&previous, &self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InstallError::NoPrevious(previous))
            }
            Err(error) => {
                return Err(InstallError::Replace {
                    path: self.path.clone(),
                    error,
                })
            }
        }
        fsutil::sync_dir(&self.path).map_err(|error| InstallError::Replace {
            path: self.path.clone(),
            error,
        })?;
        tracing::info!(path = %self.path.display(), "core rolled back to the previous binary");
        Ok(())
    }
}

/// Writes the zip's `xray` entry to an executable temp file beside `binary`.
fn unpack(zip: &Path, binary: &Path, limit: u64) -> Result<TempFile, InstallError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| InstallError::Unpack(format!("{what}: {e}"));
    let file = File::open(zip).map_err(|e| fail("opening the zip", &e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| fail("not a zip archive", &e))?;
    let mut entry = archive
        .by_name(BINARY_IN_ZIP)
        .map_err(|e| fail(&format!("no `{BINARY_IN_ZIP}` in the release zip"), &e))?;
    if entry.size() > limit {
        return Err(InstallError::Unpack(format!(
            "`{BINARY_IN_ZIP}` unpacks to {} bytes, over the {limit}-byte limit",
            entry.size()
        )));
    }
    let staged = TempFile::next_to(binary);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(EXECUTABLE)
        .open(staged.path())
        .map_err(|e| fail("creating the binary", &e))?;
    // Explicitly, past the service's UMask=0077: the core may run as another user.
    out.set_permissions(Permissions::from_mode(EXECUTABLE))
        .map_err(|e| fail("making the binary executable", &e))?;
    // The zip reader checks the entry's CRC-32 as it reaches the end.
    let copied = io::copy(&mut (&mut entry).take(limit + 1), &mut out)
        .map_err(|e| fail(&format!("extracting `{BINARY_IN_ZIP}`"), &e))?;
    if copied > limit {
        return Err(InstallError::Unpack(format!(
            "`{BINARY_IN_ZIP}` unpacks to more than the {limit}-byte limit"
        )));
    }
    out.sync_all().map_err(|e| fail("writing the binary", &e))?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_urls_follow_the_template() {
        let core = CoreBinary::new("/opt/xray/xray".into(), &MaintenanceConfig::default());
        let url = core.release_url("v25.3.6").unwrap();
        let arch = xray_arch(std::env::consts::ARCH).unwrap();
        assert_eq!(
            url,
            format!(
                "https://github.com/XTLS/Xray-core/releases/download/v25.3.6/Xray-linux-{arch}.zip"
            )
        );
        assert_eq!(core.previous_path(), Path::new("/opt/xray/xray.previous"));
        assert_eq!(xray_arch("x86_64"), Some("64"));
        assert_eq!(xray_arch("aarch64"), Some("arm64-v8a"));
        assert_eq!(xray_arch("sparc64"), None);
    }
}
