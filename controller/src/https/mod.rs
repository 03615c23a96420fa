//! HTTP listeners that may speak TLS from an administrator's PEM files: the panel's
//! (`panel_cert_file`/`panel_key_file`, or 3x-ui's `webCertFile`/`webKeyFile`) and the
//! subscription server's (`subCertFile`/`subKeyFile`). A file that cannot be used is an error
//! naming it and the reason, so a listener the admin asked to protect never starts in plain
//! HTTP.
//!
//! Beside them, [`client`]: the controller's own calls to a web API, bounded in time and size.

pub mod client;
pub mod headers;
pub mod pinned;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A certificate chain file and its key file, with the settings that named them (for errors).
#[derive(Debug, Clone)]
pub struct PemFiles {
    pub cert_file: String,
    pub key_file: String,
    /// e.g. `panel_cert_file` or `subCertFile`.
    pub cert_setting: String,
    pub key_setting: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {setting} {path}: {source}")]
    Read {
        setting: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{cert_setting} and {key_setting} must be set together")]
    Half {
        cert_setting: String,
        key_setting: String,
    },
    #[error("{setting} {path} is not a PEM certificate chain: {reason}")]
    Certificate {
        setting: String,
        path: String,
        reason: String,
    },
    #[error("{setting} {path} is not a PEM private key: {reason}")]
    Key {
        setting: String,
        path: String,
        reason: String,
    },
    #[error("{cert_setting} {cert_file} and {key_setting} {key_file} cannot serve TLS together: {reason}")]
    Pair {
        cert_setting: String,
        cert_file: String,
        key_setting: String,
        key_file: String,
        reason: String,
    },
}

/// A TLS server configuration and the certificate it presents.
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the end-entity certificate (DER), lowercase hex: what a local client that
    /// cannot check the name (it dials loopback) pins.
    pub leaf_sha256: String,
}

/// Reads the files and builds the server side of TLS (HTTP/1.1).
pub fn server_tls(files: &PemFiles) -> Result<ServerTls, TlsFileError> {
    if files.cert_file.trim().is_empty() || files.key_file.trim().is_empty() {
        return Err(TlsFileError::Half {
            cert_setting: files.cert_setting.clone(),
            key_setting: files.key_setting.clone(),
        });
    }
    let read = |setting: &str, path: &str| {
        std::fs::read(path).map_err(|source| TlsFileError::Read {
            setting: setting.to_owned(),
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(&files.cert_setting, &files.cert_file)?;
    let key_pem = read(&files.key_setting, &files.key_file)?;
    let bad_cert = |reason: String| TlsFileError::Certificate {
        setting: files.cert_setting.clone(),
        path: files.cert_file.clone(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad_cert(e.to_string()))?;
    let Some(leaf) = certs.first() else {
        return Err(bad_cert("it holds no CERTIFICATE block".into()));
    };
    let leaf_sha256 = hex(&Sha256::digest(leaf.as_ref()));
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsFileError::Key {
        setting: files.key_setting.clone(),
        path: files.key_file.clone(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "it holds no PRIVATE KEY block".into(),
            other => other.to_string(),
        },
    })?;
    let pair_error = |reason: String| TlsFileError::Pair {
        cert_setting: files.cert_setting.clone(),
        cert_file: files.cert_file.clone(),
        key_setting: files.key_setting.clone(),
        key_file: files.key_file.clone(),
        reason,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| pair_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            pair_error(match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key does not match the certificate".into()
                }
                other => other.to_string(),
            })
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        leaf_sha256,
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `router` on `listener` until `shutdown`, with TLS when `tls` is given. Every
/// request carries the peer address as `ConnectInfo<SocketAddr>`. At shutdown, open
/// connections finish the request they are on and close, and this returns once they have
/// (or after [`DRAIN`]): the caller may then close what handlers use, such as the database.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
    what: &'static str,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(listener = what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let result = match acceptor {
                Some(acceptor) => {
                    // A client that does not speak TLS (plain HTTP included) gets no answer.
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => connection(tls, addr, router, shutdown).await,
                        Ok(Err(e)) => {
                            tracing::debug!(listener = what, %addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => connection(tcp, addr, router, shutdown).await,
            };
            if let Err(e) = result {
                tracing::debug!(listener = what, %addr, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = what,
            open = connections.len(),
            "connections still open at shutdown"
        );
    }
}

/// How long a stopping listener waits for its open connections.
pub const DRAIN: Duration = Duration::from_secs(4);

async fn connection<I>(
    io: I,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req| {
        req.extensions_mut().insert(ConnectInfo(addr));
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}
