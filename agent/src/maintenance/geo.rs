//! `geo.update`: refreshes the core's geo files (`geoip.dat`, `geosite.dat`, or whatever the
//! agent is configured with) in its assets directory. Each file is fetched with
//! `If-Modified-Since` and replaced atomically, and the answer says which ones changed, so the
//! caller restarts the core only when one did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xfleet_common::channel::IncomingStream;
use xfleet_common::methods::{GeoFilePart, GeoUpdateAnswer};

use super::download::{hex, Downloader, Fetched};
use super::received::StreamFiles;
use crate::config::{is_plain_file_name, MaintenanceConfig};
use crate::fsutil::{self, PUBLIC};

/// Remembers each file's `Last-Modified` beside the files; hidden, so it can never be taken
/// for a geo file (configured names are plain, not dotted).
const SOURCES_FILE: &str = ".xfleet-geo.json";

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("unknown geo file {}; this agent is configured for {}", list(.unknown), list(.known))]
    Unknown {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error("assets directory {}: {error}", path.display())]
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("`{0}` is not a geo file name (a plain name ending in .dat)")]
    BadName(String),
    /// Some files failed; the others were still updated, and `changed` says which.
    #[error("{}", failed(.failures, .changed))]
    Failed {
        failures: Vec<(String, String)>,
        changed: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    names.join(", ")
}

fn failed(failures: &[(String, String)], changed: &[String]) -> String {
    let mut message: Vec<String> = failures.iter().map(|(f, e)| format!("{f}: {e}")).collect();
    if !changed.is_empty() {
        message.push(format!("updated anyway: {}", list(changed)));
    }
    message.join("; ")
}

/// Where a file was last fetched from and the `Last-Modified` that came with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Source {
    url: String,
    last_modified: String,
}

/// The core's geo files in its assets directory and where each comes from.
#[derive(Debug, Clone)]
pub struct GeoFiles {
    pub dir: PathBuf,
    /// File name → URL; only these names are served.
    pub sources: BTreeMap<String, String>,
    pub downloader: Downloader,
}

impl GeoFiles {
    pub fn new(dir: PathBuf, config: &MaintenanceConfig) -> Self {
        Self {
            dir,
            sources: config.geo_urls.clone(),
            downloader: Downloader::new(config.download_limit_bytes()),
        }
    }

    /// Creates the assets directory if it is missing.
    async fn create_dir(&self) -> Result<(), GeoError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|error| GeoError::Dir {
                path: self.dir.clone(),
                error,
            })
    }

    /// Refreshes `files` (every configured file when empty). Unknown names are refused before
    /// anything is fetched. A file whose source answers 304, or sends the bytes already on
    /// disk, is unchanged. Calls for one directory are meant to run one at a time.
    pub async fn update(&self, files: &[String]) -> Result<GeoUpdateAnswer, GeoError> {
        let names = self.select(files)?;
        self.create_dir().await?;
        let mut known = self.load_sources().await;
        let (mut answer, mut failures) = (GeoUpdateAnswer::default(), Vec::new());
        for name in names {
            let url = &self.sources[&name];
            match self.refresh(&name, url, known.get(&name)).await {
                Ok((changed, last_modified)) => {
                    match last_modified {
                        Some(last_modified) => known.insert(
                            name.clone(),
                            Source {
                                url: url.clone(),
                                last_modified,
                            },
                        ),
                        None => known.remove(&name),
                    };
                    if changed {
                        answer.changed.push(name);
                    } else {
                        answer.unchanged.push(name);
                    }
                }
                Err(message) => failures.push((name, message)),
            }
        }
        self.save_sources(&known).await;
        if !failures.is_empty() {
            return Err(GeoError::Failed {
                failures,
                changed: answer.changed,
            });
        }
        Ok(answer)
    }

    /// Puts the files the controller sent (`parts`, one after another in `stream`) in place,
    /// each checked against its SHA-256 and replaced atomically. A file already on disk with
    /// the same content is unchanged; when all are, the stream is not read at all (the
    /// controller stops sending when the answer comes). Any plain `.dat` name is accepted:
    /// the controller chose the set, not this agent's `geo_urls`.
    pub async fn receive(
        &self,
        parts: &[GeoFilePart],
        stream: &mut IncomingStream,
    ) -> Result<GeoUpdateAnswer, GeoError> {
        if let Some(bad) = parts
            .iter()
            .find(|p| !is_plain_file_name(&p.name) || !p.name.ends_with(".dat"))
        {
            return Err(GeoError::BadName(bad.name.clone()));
        }
        self.create_dir().await?;
        let mut present = Vec::new();
        for part in parts {
            let sha = file_sha256(&self.dir.join(&part.name)).await;
            present.push(sha.as_deref() == Some(part.sha256.as_str()));
        }
        let (mut answer, mut failures) = (GeoUpdateAnswer::default(), Vec::new());
        if present.iter().all(|p| *p) {
            answer.unchanged = parts.iter().map(|p| p.name.clone()).collect();
            return Ok(answer);
        }
        let mut files = StreamFiles::new(stream);
        for (part, present) in parts.iter().zip(present) {
            let dest = self.dir.join(&part.name);
            if present {
                if let Err(e) = files.skip(part.size).await {
                    failures.push((part.name.clone(), e));
                    break;
                }
                answer.unchanged.push(part.name.clone());
                continue;
            }
            let received = match files.next_file(part.size, &dest).await {
                Ok(received) => received,
                Err(e) => {
                    failures.push((part.name.clone(), e));
                    break;
                }
            };
            if received.sha256 != part.sha256 || received.size == 0 {
                failures.push((
                    part.name.clone(),
                    format!(
                        "checksum mismatch: the controller announced SHA-256 {}, the file it sent has {}",
                        part.sha256, received.sha256
                    ),
                ));
                continue;
            }
            let file = received.file;
            let committed = tokio::task::spawn_blocking(move || file.commit(&dest))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match committed {
                Ok(()) => {
                    tracing::info!(file = %part.name, size = part.size, "geo file updated from the controller");
                    answer.changed.push(part.name.clone());
                }
                Err(e) => failures.push((part.name.clone(), format!("replacing it: {e}"))),
            }
        }
        if !failures.is_empty() {
            return Err(GeoError::Failed {
                failures,
                changed: answer.changed,
            });
        }
        Ok(answer)
    }

    /// The requested names, deduplicated in request order, or all configured ones.
    fn select(&self, files: &[String]) -> Result<Vec<String>, GeoError> {
        if files.is_empty() {
            return Ok(self.sources.keys().cloned().collect());
        }
        let unknown: Vec<String> = files
            .iter()
            .filter(|f| !self.sources.contains_key(*f))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(GeoError::Unknown {
                unknown,
                known: self.sources.keys().cloned().collect(),
            });
        }
        let mut names: Vec<String> = Vec::new();
        for f in files {
            if !names.contains(f) {
                names.push(f.clone());
            }
        }
        Ok(names)
    }

    /// Fetches one file; returns whether it changed and the `Last-Modified` to remember.
    async fn refresh(
        &self,
        name: &str,
        url: &str,
        known: Option<&Source>,
    ) -> Result<(bool, Option<String>), String> {
        let dest = self.dir.join(name);
        let present = tokio::fs::try_exists(&dest).await.unwrap_or(false);
        // A stored date only counts for the URL it came from and a file that is still there.
        let since = known
            .filter(|s| present && s.url == url)
            .map(|s| s.last_modified.clone());
        let fetched = self
            .downloader
            .fetch_to(url, &dest, since.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let download = match fetched {
            Fetched::NotModified => return Ok((false, since)),
            Fetched::Downloaded(download) => download,
        };
        if download.size == 0 {
            return Err(format!("{url} sent an empty file"));
        }
        let last_modified = download.last_modified.clone();
        if present && file_sha256(&dest).await.as_deref() == Some(download.sha256.as_str()) {
            return Ok((false, last_modified));
        }
        let size = download.size;
        tokio::task::spawn_blocking(move || download.commit())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("replacing {}: {e}", dest.display()))?;
        tracing::info!(file = name, size, "geo file updated");
        Ok((true, last_modified))
    }

    fn sources_path(&self) -> PathBuf {
        self.dir.join(SOURCES_FILE)
    }

    /// A missing or unreadable record only costs a full download.
    async fn load_sources(&self) -> BTreeMap<String, Source> {
        match tokio::fs::read(self.sources_path()).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring an unreadable {SOURCES_FILE}");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        }
    }

    async fn save_sources(&self, sources: &BTreeMap<String, Source>) {
        let path = self.sources_path();
        let bytes = serde_json::to_vec_pretty(sources).expect("sources serialize");
        let result =
            tokio::task::spawn_blocking(move || fsutil::write_atomic(&path, &bytes, PUBLIC))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record geo file dates; the next update downloads again");
        }
    }
}

async fn file_sha256(path: &Path) -> Option<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path).ok()?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).ok()?;
        Some(hex(&hasher.finalize()))
    })
    .await
    .ok()
    .flatten()
}
