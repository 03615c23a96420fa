//! Operator commands on the controller host. They act through the running controller's API,
//! authenticated by the local credential it writes to the data directory at start, or (for
//! an import or a password reset) on the database itself.

pub mod admin;
pub mod backup;
pub mod data_dir;
pub mod rollout;

use std::path::Path;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::app::RunInfo;
use crate::import::ImportReport;
use crate::local::NAME as LOCAL_SERVER_NAME;

/// The running controller's API, as seen from its own host.
pub struct LocalApi {
    pub base: String,
    pub token: String,
    /// SHA-256 of the certificate an HTTPS panel serves (from `run.json`).
    pub panel_cert_sha256: Option<String>,
}

impl LocalApi {
    pub fn from_data_dir(dir: &Path) -> anyhow::Result<Self> {
        let run = std::fs::read(dir.join("run.json")).with_context(|| {
            format!(
                "no running controller found in {} (start it with `xfleet run`, or pass --data-dir)",
                dir.display()
            )
        })?;
        let run: RunInfo = serde_json::from_slice(&run).context("run.json is damaged")?;
        let token = std::fs::read_to_string(dir.join("cli.token")).context(
            "cannot read the local CLI credential (cli.token); run as the controller's user",
        )?;
        Ok(Self {
            base: run.panel_url,
            token: token.trim().to_owned(),
            panel_cert_sha256: run.panel_cert_sha256,
        })
    }

    /// Calls the native API; returns `data` or fails with the API's error message.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let body = match body {
            Some(b) => Some(("application/json", Bytes::from(serde_json::to_vec(&b)?))),
            None => None,
        };
        self.send(method, path, body).await
    }

    /// Like [`LocalApi::call`] with a raw body of the given content type.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<Value> {
        let auth = format!("Bearer {}", self.token);
        let (status, bytes) = self
            .request(method, path, &[("authorization", &auth)], body)
            .await?;
        let envelope: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer (HTTP {status})"))?;
        if envelope["success"] == json!(true) {
            Ok(envelope["data"].clone())
        } else {
            bail!(
                "{} ({})",
                envelope["error"]["message"]
                    .as_str()
                    .unwrap_or("request failed"),
                envelope["error"]["code"].as_str().unwrap_or("error")
            )
        }
    }
}

impl LocalApi {
    /// One request to the running controller, over TLS with its pinned certificate when it
    /// serves HTTPS; returns status and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let tls = self
            .panel_cert_sha256
            .as_deref()
            .map(crate::https::pinned::client_config);
        send(&self.base, tls, method, path, headers, body)
            .await
            .with_context(|| format!("cannot reach the controller at {}", self.base))
    }
}

/// One plain HTTP/1.1 request with an optional JSON body; returns status and body.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> anyhow::Result<(u16, Bytes)> {
    let body = match body {
        Some(b) => Some(("application/json", Bytes::from(serde_json::to_vec(&b)?))),
        None => None,
    };
    request_raw(base, method, path, headers, body).await
}

/// One plain HTTP/1.1 request with an optional body of the given content type.
pub async fn request_raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Bytes)>,
) -> anyhow::Result<(u16, Bytes)> {
    send(base, None, method, path, headers, body).await
}

/// An HTTP/1.1 request to `http://…`, or to `https://…` with the given TLS client.
async fn send(
    base: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Bytes)>,
) -> anyhow::Result<(u16, Bytes)> {
    let (authority, tls) = match (base.split_once("://"), tls) {
        (Some(("http", rest)), _) => (rest, None),
        (Some(("https", rest)), Some(tls)) => (rest, Some(tls)),
        (Some(("https", _)), None) => {
            bail!("{base} is HTTPS, but run.json names no certificate to trust")
        }
        _ => bail!("{base} is not an http:// or https:// URL"),
    };
    let authority = authority.trim_end_matches('/');
    let tcp = tokio::net::TcpStream::connect(authority).await?;
    let mut sender = match tls {
        Some(tls) => {
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(h, _)| h)
                .trim_matches(['[', ']']);
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .with_context(|| format!("{host} is not a host name or address"))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            sender
        }
        None => {
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            sender
        }
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let payload = match body {
        Some((content_type, bytes)) => {
            req = req.header("content-type", content_type);
            bytes
        }
        None => Bytes::new(),
    };
    let resp = sender.send_request(req.body(Full::new(payload))?).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

pub async fn server_add(
    api: &LocalApi,
    name: &str,
    region: &str,
    tags: &[String],
) -> anyhow::Result<()> {
    let s = api
        .call(
            "POST",
            "/api/v1/servers",
            Some(json!({"name": name, "region": region, "tags": tags})),
        )
        .await?;
    println!(
        "Added server {} (id {}).",
        s["name"].as_str().unwrap_or(name),
        s["id"]
    );
    println!("Next: xfleet token create --server {name}");
    Ok(())
}

pub async fn server_list(api: &LocalApi) -> anyhow::Result<()> {
    let servers = api.call("GET", "/api/v1/servers", None).await?;
    println!(
        "{:<5} {:<24} {:<10} {:<8} {:<14} LAST ERROR",
        "ID", "NAME", "REGION", "STATUS", "VERSION"
    );
    for s in servers.as_array().into_iter().flatten() {
        println!(
            "{:<5} {:<24} {:<10} {:<8} {:<14} {}",
            s["id"],
            s["name"].as_str().unwrap_or(""),
            s["region"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            s["version"].as_str().unwrap_or("-"),
            s["last_error"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub async fn server_revoke(api: &LocalApi, name: &str) -> anyhow::Result<()> {
    let r = api
        .call(
            "POST",
            &format!("/api/v1/servers/{}/revoke", encode(name)),
            None,
        )
        .await?;
    println!(
        "Revoked {} certificate(s) of {name}{}.",
        r["certificates_revoked"],
        if r["disconnected"] == json!(true) {
            "; its live connection was closed"
        } else {
            ""
        }
    );
    Ok(())
}

pub async fn server_remove(api: &LocalApi, name: &str) -> anyhow::Result<()> {
    api.call("DELETE", &format!("/api/v1/servers/{}", encode(name)), None)
        .await?;
    println!("Removed server {name}.");
    Ok(())
}

/// Uploads a release zip; the version and architecture come from the flags or the file name.
pub async fn core_upload(
    api: &LocalApi,
    file: &Path,
    version: Option<String>,
    arch: Option<String>,
) -> anyhow::Result<()> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let (named_version, named_arch) = crate::dist::cores::guess_from_file_name(&name);
    let Some(version) = version.or(named_version) else {
        bail!(
            "which Xray version is {name}? Give --version (the file name has none, and the \
             zip's binary cannot be asked: it may be built for another architecture)"
        );
    };
    let arch = arch
        .or(named_arch)
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let zip = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let query = format!("version={}&arch={}", encode(&version), encode(&arch));
    let r = api
        .send(
            "POST",
            &format!("/api/v1/core/releases?{query}"),
            Some(("application/zip", Bytes::from(zip))),
        )
        .await?;
    println!(
        "Xray {} for {} stored ({} bytes, SHA-256 {})",
        r["version"].as_str().unwrap_or_default(),
        r["arch"].as_str().unwrap_or_default(),
        r["size"],
        r["sha256"].as_str().unwrap_or_default()
    );
    Ok(())
}

pub async fn core_list(api: &LocalApi) -> anyhow::Result<()> {
    let releases = api.call("GET", "/api/v1/core/releases", None).await?;
    println!("{:<16} {:<8} {:>12} SHA-256", "VERSION", "ARCH", "BYTES");
    for r in releases.as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<8} {:>12} {}",
            r["version"].as_str().unwrap_or_default(),
            r["arch"].as_str().unwrap_or_default(),
            r["size"],
            r["sha256"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn token_create(api: &LocalApi, server: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let body = ttl.map(|t| json!({"ttl_secs": t}));
    let t = api
        .call(
            "POST",
            &format!("/api/v1/servers/{}/enrollment-tokens", encode(server)),
            body,
        )
        .await?;
    eprintln!("Run this on the VPN host (the token works once, until it expires):");
    println!("{}", t["command"].as_str().unwrap_or_default());
    if let Some(line) = t["install_command"].as_str() {
        eprintln!(
            "Or, on a fresh host, download the agent from this controller, install and enroll it:"
        );
        println!("{line}");
    }
    Ok(())
}

pub async fn healthcheck(dir: &Path) -> anyhow::Result<()> {
    let api = LocalApi::from_data_dir(dir)?;
    let (status, body) = api.request("GET", "/api/v1/health", &[], None).await?;
    if status != 200 {
        bail!("controller answered HTTP {status}");
    }
    let v: Value = serde_json::from_slice(&body)?;
    println!(
        "ok: xfleet {} with {} agent(s) connected",
        v["data"]["version"].as_str().unwrap_or("?"),
        v["data"]["agents_connected"]
    );
    Ok(())
}

/// Percent-encodes a path segment. A segment of dots is encoded too: sent plain, `.` and
/// `..` would be path steps, and a server stored under such a name (before names were
/// checked) would be missed or another route reached.
fn encode(segment: &str) -> String {
    let dots = segment.bytes().all(|b| b == b'.');
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            b'.' if !dots => ".".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `xfleet import-3xui`: through the running controller when there is one, otherwise
/// straight into the database (the server gets its state when the controller next runs).
pub async fn import_3xui(
    config: &crate::config::Config,
    db: &Path,
    server: Option<&str>,
) -> anyhow::Result<()> {
    let snapshot = snapshot_sqlite(db).await?;
    match running_controller(&config.data_dir)? {
        Some(api) => {
            let server = match server {
                Some(s) => s.to_owned(),
                None => {
                    let servers = api.call("GET", "/api/v1/servers", None).await?;
                    let list: Vec<(i64, String, bool)> = servers
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| {
                            (
                                s["id"].as_i64().unwrap_or(0),
                                s["name"].as_str().unwrap_or("").to_owned(),
                                s["local"] == json!(true),
                            )
                        })
                        .collect();
                    default_server(&list)?.to_string()
                }
            };
            let bytes = std::fs::read(snapshot.path())?;
            if bytes.len() > crate::import::MAX_DB_BYTES {
                bail!(
                    "{} is larger than the controller takes ({} MiB); stop the controller and \
                     run the import again to write to the database directly",
                    db.display(),
                    crate::import::MAX_DB_BYTES >> 20
                );
            }
            let data = api
                .send(
                    "POST",
                    &format!("/api/v1/servers/{}/import/3xui", encode(&server)),
                    Some(("application/octet-stream", Bytes::from(bytes))),
                )
                .await?;
            let report: ImportReport =
                serde_json::from_value(data).context("unexpected import report")?;
            print_report(&report);
            if let Some(rev) = report.revision {
                println!("Queued revision {rev} for the server.");
            }
        }
        None => {
            let url = config.database_url();
            if !url.starts_with("postgres") && !config.data_dir.join("xfleet.db").exists() {
                bail!(
                    "no xfleet database in {} (run `xfleet run` once, or pass --data-dir/--config)",
                    config.data_dir.display()
                );
            }
            let store = crate::store::Store::open(&url)
                .await
                .with_context(|| format!("open database {}", crate::config::mask_url(&url)))?;
            let row = match server {
                Some(s) => match s.parse::<i64>() {
                    Ok(id) => store.server(id).await,
                    Err(_) => store.server_by_name(s).await,
                }
                .with_context(|| format!("no server `{s}`"))?,
                None => {
                    let list: Vec<(i64, String, bool)> = store
                        .list_servers()
                        .await?
                        .into_iter()
                        .map(|s| (s.id, s.name, s.is_local != 0))
                        .collect();
                    store.server(default_server(&list)?).await?
                }
            };
            let report = crate::import::import_3xui(&store, snapshot.path(), &row).await?;
            store.close().await;
            print_report(&report);
            if let Some(rev) = report.revision {
                println!(
                    "The controller is not running: server `{}` gets this state (revision {rev}) \
                     when the controller runs and its agent connects.",
                    row.name
                );
            }
        }
    }
    Ok(())
}

/// The server to import into when none is named: the local one, or else one named like it
/// (a controller run with the local server off may still have been given such a server).
fn default_server(servers: &[(i64, String, bool)]) -> anyhow::Result<i64> {
    let local = servers
        .iter()
        .find(|s| s.2)
        .or_else(|| servers.iter().find(|s| s.1 == LOCAL_SERVER_NAME));
    match local {
        Some(s) => Ok(s.0),
        None => bail!(
            "there is no `{LOCAL_SERVER_NAME}`; name the server to import into with --server ({})",
            if servers.is_empty() {
                "no servers yet: add one with `xfleet server add`".to_owned()
            } else {
                format!(
                    "one of: {}",
                    servers
                        .iter()
                        .map(|s| s.1.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    }
}

/// The controller serving this data directory, if one is running; an error if it runs but
/// does not answer (importing beside it would leave it unaware of the change).
fn running_controller(dir: &Path) -> anyhow::Result<Option<LocalApi>> {
    if data_dir::running_pid(dir).is_none() {
        return Ok(None);
    }
    LocalApi::from_data_dir(dir).map(Some)
}

/// A consistent single-file copy of an SQLite database (changes still in its write-ahead
/// log included), made without writing to it.
async fn snapshot_sqlite(path: &Path) -> anyhow::Result<TempFile> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    let dir = crate::import::private_temp_dir().context("create a temporary directory")?;
    let copy = dir.path().join("x-ui.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("{} is not a readable SQLite database", path.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(copy.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .with_context(|| format!("{} is not a readable SQLite database", path.display()))?;
    let _ = conn.close().await;
    Ok(TempFile {
        _dir: dir,
        path: copy,
    })
}

/// A file in its own temporary directory, removed on drop.
struct TempFile {
    _dir: crate::util::TempDir,
    path: std::path::PathBuf,
}

impl TempFile {
    fn path(&self) -> &Path {
        &self.path
    }
}

fn print_report(r: &ImportReport) {
    println!(
        "Imported from a {} database into server `{}` (id {}): {}.",
        r.source,
        r.server_name,
        r.server_id,
        r.imported.summary()
    );
    for item in &r.items {
        println!("  + {item}");
    }
    if !r.unchanged.is_empty() {
        println!("Already there, left as is: {}.", r.unchanged.summary());
    }
    if r.imported.is_empty() {
        println!("Nothing new to import.");
    }
    if !r.skipped.is_empty() {
        println!("Skipped ({}):", r.skipped.len());
        for s in &r.skipped {
            println!("  - {}: {}", s.item, s.reason);
        }
    }
    for note in &r.notes {
        println!("Note: {note}");
    }
}
