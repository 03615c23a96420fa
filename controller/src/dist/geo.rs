//! Geo files the controller holds in `DATA/dist/geo/` and sends to agents with `geo.update`:
//! the sets 3x-ui offers, each fetched from its source with `If-Modified-Since` and kept, so
//! a fleet's update asks the source once, not once per host.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use xfleet_agent::maintenance::{Downloader, Fetched};
use xfleet_common::channel::Bytes;
use xfleet_common::methods::GeoFilePart;

use super::{sha256_hex, DistError};
use crate::config::Config;

/// The geo files 3x-ui offers, by name, and their sources.
pub const GEO_SETS: &[(&str, &str)] = &[
    (
        "geoip.dat",
        "https://github.com/Loyalsoldier/v2ray-rules-dat/releases/latest/download/geoip.dat",
    ),
    (
        "geosite.dat",
        "https://github.com/Loyalsoldier/v2ray-rules-dat/releases/latest/download/geosite.dat",
    ),
    (
        "geoip_IR.dat",
        "https://github.com/chocolate4u/Iran-v2ray-rules/releases/latest/download/geoip.dat",
    ),
    (
        "geosite_IR.dat",
        "https://github.com/chocolate4u/Iran-v2ray-rules/releases/latest/download/geosite.dat",
    ),
    (
        "geoip_RU.dat",
        "https://github.com/runetfreedom/russia-v2ray-rules-dat/releases/latest/download/geoip.dat",
    ),
    (
        "geosite_RU.dat",
        "https://github.com/runetfreedom/russia-v2ray-rules-dat/releases/latest/download/geosite.dat",
    ),
];
/// What `geo.update` without names sends: the set every core uses.
pub const DEFAULT_FILES: &[&str] = &["geoip.dat", "geosite.dat"];
/// Largest geo file accepted from a source.
const MAX_GEO_BYTES: u64 = 200 << 20;
/// Each file's source, `Last-Modified` and digest, beside the files.
const INDEX_FILE: &str = "index.json";

/// A file checked against its source this recently is sent as held, without asking again:
/// a fleet-wide update asks each source once, not once per host.
const RECHECK_MS: i64 = 10 * 60 * 1000;

static FETCHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The last bundle built, by its files' names and digests: every host of a fleet-wide update
/// is sent the same bytes, held once.
static LAST_BUNDLE: std::sync::Mutex<Option<(String, GeoBundle)>> = std::sync::Mutex::new(None);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Held {
    url: String,
    last_modified: Option<String>,
    size: u64,
    sha256: String,
    /// When the source was last asked (ms since the epoch).
    #[serde(default)]
    checked_ms: i64,
}

/// Geo files to send in one stream, one after another, and those that could not be had.
#[derive(Debug, Default, Clone)]
pub struct GeoBundle {
    pub parts: Vec<GeoFilePart>,
    pub data: Bytes,
    /// Why a file is missing, one message each (naming the file and its URL).
    pub failures: Vec<String>,
}

/// The folder of geo files and their sources.
#[derive(Debug, Clone)]
pub struct GeoShelf {
    pub dir: PathBuf,
    /// File name → URL: [`GEO_SETS`], with `geo_urls` from the configuration over it.
    pub sources: BTreeMap<String, String>,
}

impl GeoShelf {
    pub fn new(config: &Config) -> Self {
        let mut sources: BTreeMap<String, String> = GEO_SETS
            .iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect();
        for entry in &config.geo_urls {
            if let Some((name, url)) = entry.split_once('=') {
                sources.insert(name.trim().to_owned(), url.trim().to_owned());
            }
        }
        Self {
            dir: config.data_dir.join("dist").join("geo"),
            sources,
        }
    }

    /// `files` (the default set when empty), each checked against its source, as one stream
    /// with the list of what is in it. A file whose source fails is left out and named in
    /// `failures`; the others still go.
    pub async fn bundle(&self, files: &[String]) -> Result<GeoBundle, DistError> {
        let mut names: Vec<String> = Vec::new();
        let wanted = match files.is_empty() {
            true => DEFAULT_FILES.iter().map(|f| f.to_string()).collect(),
            false => files.to_vec(),
        };
        for name in wanted {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if let Some(unknown) = names.iter().find(|n| !self.sources.contains_key(*n)) {
            return Err(DistError::Invalid(format!(
                "`{unknown}` is not a geo file the controller has a source for; one of {}",
                self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let _one_fetch = FETCHING.lock().await;
        let mut index = self.load_index().await;
        let (mut held, mut failures) = (Vec::new(), Vec::new());
        for name in &names {
            match self.refresh(name, &mut index).await {
                Ok(h) => held.push((name.clone(), h.sha256)),
                Err(e) => failures.push(e.to_string()),
            }
        }
        self.save_index(&index).await?;
        let key = bundle_key(held.iter().map(|(n, s)| (n.as_str(), s.as_str())));
        if let Some((cached, bundle)) = LAST_BUNDLE.lock().unwrap().as_ref() {
            if *cached == key {
                return Ok(GeoBundle {
                    failures,
                    ..bundle.clone()
                });
            }
        }
        let mut bundle = GeoBundle::default();
        let mut data = Vec::new();
        for (name, _) in &held {
            let path = self.dir.join(name);
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(DistError::io(path.display().to_string()))?;
            bundle.parts.push(GeoFilePart {
                name: name.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
            data.extend_from_slice(&bytes);
        }
        bundle.data = Bytes::from(data);
        let key = bundle_key(
            bundle
                .parts
                .iter()
                .map(|p| (p.name.as_str(), p.sha256.as_str())),
        );
        *LAST_BUNDLE.lock().unwrap() = Some((key, bundle.clone()));
        bundle.failures = failures;
        Ok(bundle)
    }

    /// Asks the source whether the file changed since it was fetched; fetches it if so.
    async fn refresh(
        &self,
        name: &str,
        index: &mut BTreeMap<String, Held>,
    ) -> Result<Held, DistError> {
        let url = &self.sources[name];
        let dest = self.dir.join(name);
        let known = index
            .get(name)
            .filter(|h| &h.url == url && dest.exists())
            .cloned();
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(DistError::io(self.dir.display().to_string()))?;
        let now = xfleet_common::time::now_ms();
        if let Some(known) = known.as_ref().filter(|k| now - k.checked_ms < RECHECK_MS) {
            return Ok(known.clone());
        }
        let since = known.as_ref().and_then(|k| k.last_modified.clone());
        let fetched = Downloader::new(MAX_GEO_BYTES)
            .fetch_to(url, &dest, since.as_deref())
            .await
            .map_err(|e| DistError::Fetch(format!("the controller cannot fetch {name}: {e}")))?;
        let download = match (fetched, known) {
            (Fetched::NotModified, Some(known)) => {
                let known = Held {
                    checked_ms: now,
                    ..known
                };
                index.insert(name.to_owned(), known.clone());
                return Ok(known);
            }
            (Fetched::NotModified, None) => {
                return Err(DistError::Fetch(format!(
                    "{url} answered 304 Not Modified to a first request"
                )))
            }
            (Fetched::Downloaded(download), _) => download,
        };
        if download.size == 0 {
            return Err(DistError::Fetch(format!("{url} sent an empty file")));
        }
        let held = Held {
            url: url.clone(),
            last_modified: download.last_modified.clone(),
            size: download.size,
            sha256: download.sha256.clone(),
            checked_ms: now,
        };
        tokio::task::spawn_blocking(move || download.commit())
            .await
            .map_err(|e| DistError::io(name)(std::io::Error::other(e)))?
            .map_err(DistError::io(dest.display().to_string()))?;
        tracing::info!(file = name, size = held.size, "geo file fetched");
        index.insert(name.to_owned(), held.clone());
        Ok(held)
    }

    async fn load_index(&self) -> BTreeMap<String, Held> {
        match tokio::fs::read(self.dir.join(INDEX_FILE)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        }
    }

    async fn save_index(&self, index: &BTreeMap<String, Held>) -> Result<(), DistError> {
        let path = self.dir.join(INDEX_FILE);
        let bytes = serde_json::to_vec_pretty(index).expect("index serializes");
        let what = path.display().to_string();
        tokio::task::spawn_blocking(move || crate::util::write_atomic(&path, &bytes, 0o644))
            .await
            .map_err(|e| DistError::io(what.clone())(std::io::Error::other(e)))?
            .map_err(DistError::io(what))
    }
}
/// What identifies a bundle: its files, in order, with their digests.
fn bundle_key<'a>(files: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    files
        .map(|(name, sha256)| format!("{name}={sha256}"))
        .collect::<Vec<_>>()
        .join(",")
}
