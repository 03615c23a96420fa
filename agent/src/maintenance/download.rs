//! One `GET` over HTTP/1.1, plain or TLS, following redirects, streamed to a temp file next to
//! its destination while it is hashed. Release hosts redirect (GitHub sends every asset to a
//! CDN), bodies are capped, and every wait has a timeout, so a bad mirror fails cleanly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, HOST, IF_MODIFIED_SINCE, LAST_MODIFIED, LOCATION, USER_AGENT};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use crate::fsutil::{TempFile, PUBLIC};

/// GitHub's release links take two hops; five leaves room for a mirror in front.
pub const MAX_REDIRECTS: usize = 5;
pub const DEFAULT_MAX_BYTES: u64 = 200 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("bad URL `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot reach {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    #[error("{url}: redirect from https to plain http refused")]
    Downgrade { url: String },
    #[error("{url} is larger than the {limit}-byte download limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {what} timed out after {after:?}")]
    TimedOut {
        url: String,
        what: &'static str,
        after: Duration,
    },
    #[error("writing the download from {url} to {}: {error}", path.display())]
    Write {
        url: String,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What a conditional `GET` produced.
#[derive(Debug)]
pub enum Fetched {
    Downloaded(Download),
    /// The server answered 304 to `If-Modified-Since`.
    NotModified,
}

/// A complete, fsync'd download in a temp file beside its destination; removed on drop unless
/// [`Download::commit`] renames it into place.
#[derive(Debug)]
pub struct Download {
    file: TempFile,
    dest: PathBuf,
    /// Lower-case hex SHA-256 of the body.
    pub sha256: String,
    pub size: u64,
    /// The server's `Last-Modified`, to send back as `If-Modified-Since` next time.
    pub last_modified: Option<String>,
}

impl Download {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Atomically puts the download at the destination given to [`Downloader::fetch_to`].
    pub fn commit(self) -> std::io::Result<()> {
        self.file.commit(&self.dest)
    }
}

impl AsRef<Path> for Download {
    fn as_ref(&self) -> &Path {
        self.file.path()
    }
}

/// Download settings; one value serves any number of downloads.
#[derive(Debug, Clone)]
pub struct Downloader {
    tls: Arc<ClientConfig>,
    /// Bodies larger than this fail with [`DownloadError::TooLarge`].
    pub max_bytes: u64,
    /// TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Longest wait for the response head or for the next piece of the body.
    pub idle_timeout: Duration,
    /// The whole download, redirects included.
    pub total_timeout: Duration,
}

impl Default for Downloader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

impl Downloader {
    /// Trusts the public web PKI ([`crate::tls::web_pki_config`]).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            tls: crate::tls::web_pki_config(),
            max_bytes,
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(600),
        }
    }

    /// Replaces the TLS trust, e.g. for a mirror with a private CA.
    pub fn with_tls(mut self, tls: Arc<ClientConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// Streams `url` into a temp file beside `dest`; `dest` itself is untouched until
    /// [`Download::commit`]. With `if_modified_since` (a `Last-Modified` value from an earlier
    /// download) a 304 answer gives [`Fetched::NotModified`].
    pub async fn fetch_to(
        &self,
        url: &str,
        dest: &Path,
        if_modified_since: Option<&str>,
    ) -> Result<Fetched, DownloadError> {
        let work = async {
            let (url, response) = self.open(url, if_modified_since).await?;
            if response.status() == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            self.save(&url, response, dest)
                .await
                .map(Fetched::Downloaded)
        };
        timeout(self.total_timeout, work)
            .await
            .map_err(|_| timed_out(url, "the download", self.total_timeout))?
    }

    /// A small text resource (a checksum file), read into memory.
    pub async fn fetch_text(&self, url: &str, max: usize) -> Result<String, DownloadError> {
        let work = async {
            let (url, response) = self.open(url, None).await?;
            let bytes = timeout(
                self.idle_timeout,
                Limited::new(response.into_body(), max).collect(),
            )
            .await
            .map_err(|_| timed_out(&url.to_string(), "reading the body", self.idle_timeout))?
            .map_err(|e| DownloadError::Http {
                url: url.to_string(),
                message: format!("reading the body: {e}"),
            })?
            .to_bytes();
            String::from_utf8(bytes.to_vec()).map_err(|_| DownloadError::Http {
                url: url.to_string(),
                message: "the body is not UTF-8 text".into(),
            })
        };
        timeout(self.total_timeout, work)
            .await
            .map_err(|_| timed_out(url, "the download", self.total_timeout))?
    }

    /// Sends the `GET`, following redirects; returns the final URL and its 2xx or 304 answer.
    async fn open(
        &self,
        url: &str,
        if_modified_since: Option<&str>,
    ) -> Result<(Uri, Response<Incoming>), DownloadError> {
        let mut uri = parse(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let response = self.get(&uri, if_modified_since).await?;
            let status = response.status();
            let not_modified = status == StatusCode::NOT_MODIFIED && if_modified_since.is_some();
            if status.is_success() || not_modified {
                return Ok((uri, response));
            }
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Err(DownloadError::Status {
                    url: uri.to_string(),
                    status: status.as_u16(),
                });
            }
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| DownloadError::Http {
                    url: uri.to_string(),
                    message: format!("HTTP {status} without a Location"),
                })
                .and_then(|location| resolve(&uri, location))?;
            if uri.scheme_str() == Some("https") && next.scheme_str() != Some("https") {
                return Err(DownloadError::Downgrade {
                    url: uri.to_string(),
                });
            }
            tracing::debug!(from = %uri, to = %next, "download redirected");
            uri = next;
        }
        Err(DownloadError::TooManyRedirects {
            url: url.to_owned(),
        })
    }

    /// One request on a fresh connection.
    async fn get(
        &self,
        uri: &Uri,
        if_modified_since: Option<&str>,
    ) -> Result<Response<Incoming>, DownloadError> {
        let url = uri.to_string();
        let authority = uri.authority().expect("parsed URLs have a host");
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let https = uri.scheme_str() == Some("https");
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });

        let mut request = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(HOST, authority.as_str())
            .header(
                USER_AGENT,
                concat!("xfleet-agent/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(since) = if_modified_since {
            request = request.header(IF_MODIFIED_SINCE, since);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| DownloadError::BadUrl {
                url: url.clone(),
                message: e.to_string(),
            })?;

        let connect = async {
            let tcp = TcpStream::connect((host, port))
                .await
                .map_err(|e| e.to_string())?;
            if !https {
                return Ok(Conn::Plain(tcp));
            }
            let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
            TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map(|tls| Conn::Tls(Box::new(tls)))
                .map_err(|e| format!("TLS: {}", crate::tls::describe_io(&e)))
        };
        let conn = timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| timed_out(&url, "connecting", self.connect_timeout))?
            .map_err(|message| DownloadError::Connect {
                url: url.clone(),
                message,
            })?;
        let exchange = async {
            match conn {
                Conn::Plain(tcp) => send(tcp, request).await,
                Conn::Tls(tls) => send(*tls, request).await,
            }
        };
        timeout(self.idle_timeout, exchange)
            .await
            .map_err(|_| timed_out(&url, "waiting for the answer", self.idle_timeout))?
            .map_err(|e| DownloadError::Http {
                url,
                message: e.to_string(),
            })
    }

    /// Streams the body into a temp file beside `dest`, hashing and counting it.
    async fn save(
        &self,
        uri: &Uri,
        response: Response<Incoming>,
        dest: &Path,
    ) -> Result<Download, DownloadError> {
        let url = uri.to_string();
        let file = TempFile::next_to(dest);
        let too_large = || DownloadError::TooLarge {
            url: url.clone(),
            limit: self.max_bytes,
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(too_large());
        }
        let last_modified = response
            .headers()
            .get(LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let write_error = |error| DownloadError::Write {
            url: url.clone(),
            path: file.path().to_owned(),
            error,
        };

        let out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PUBLIC)
            .open(file.path())
            .await
            .map_err(write_error)?;
        // Explicitly: the unit runs with UMask=0077, and a core running as another user must
        // still be able to read its geo files.
        out.set_permissions(std::fs::Permissions::from_mode(PUBLIC))
            .await
            .map_err(write_error)?;
        let mut out = BufWriter::with_capacity(256 << 10, out);
        let mut body = response.into_body();
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        loop {
            let frame = timeout(self.idle_timeout, body.frame())
                .await
                .map_err(|_| timed_out(&url, "reading the body", self.idle_timeout))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| DownloadError::Http {
                url: url.clone(),
                message: format!("reading the body: {e}"),
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            size += data.len() as u64;
            if size > self.max_bytes {
                return Err(too_large());
            }
            hasher.update(&data);
            out.write_all(&data).await.map_err(write_error)?;
        }
        out.flush().await.map_err(write_error)?;
        out.get_ref().sync_all().await.map_err(write_error)?;
        Ok(Download {
            file,
            dest: dest.to_owned(),
            sha256: hex(&hasher.finalize()),
            size,
            last_modified,
        })
    }
}

fn timed_out(url: &str, what: &'static str, after: Duration) -> DownloadError {
    DownloadError::TimedOut {
        url: url.to_owned(),
        what,
        after,
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn send<S>(io: S, request: Request<Empty<Bytes>>) -> hyper::Result<Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // Ends by itself once the body is read (or dropped) and `sender` is gone.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(request).await
}

/// An absolute `http://` or `https://` URL with a host.
fn parse(url: &str) -> Result<Uri, DownloadError> {
    web_url(url).map_err(|message| DownloadError::BadUrl {
        url: url.to_owned(),
        message,
    })
}

/// An absolute `http://` or `https://` URL with a host and no credentials in it, or why not.
pub fn web_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("only http:// and https:// are supported".into());
    }
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => Err("credentials in URLs are not supported".into()),
        Some(a) if !a.host().is_empty() => Ok(uri),
        _ => Err("no host".into()),
    }
}

/// Resolves a `Location` header against the URL that sent it (absolute, scheme-relative,
/// absolute-path or relative-path forms).
fn resolve(base: &Uri, location: &str) -> Result<Uri, DownloadError> {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let absolute = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{scheme}://{authority}{dir}/{location}")
    };
    parse(&absolute)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_url_that_sent_them() {
        let base: Uri = "https://github.com/XTLS/Xray-core/releases/download/v1/x.zip"
            .parse()
            .unwrap();
        let cases = [
            ("https://cdn.example/a?b=c", "https://cdn.example/a?b=c"),
            ("//cdn.example/a", "https://cdn.example/a"),
            ("/other/path", "https://github.com/other/path"),
            (
                "y.zip",
                "https://github.com/XTLS/Xray-core/releases/download/v1/y.zip",
            ),
        ];
        for (location, want) in cases {
            assert_eq!(resolve(&base, location).unwrap().to_string(), want);
        }
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        for url in [
            "ftp://x/y",
            "file:///etc/passwd",
            "https://user:pw@x/y",
            "x/y",
        ] {
            assert!(
                matches!(parse(url), Err(DownloadError::BadUrl { .. })),
                "{url}"
            );
        }
        assert!(parse("http://127.0.0.1:8080/a").is_ok());
        assert!(parse("https://[::1]/a").is_ok());
    }
}
