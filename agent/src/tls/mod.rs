//! TLS for both ways the agent talks to the controller: enrollment (trust by the CA pin from
//! the token, no client certificate) and the channel (mutual TLS against the enrolled CA);
//! plus the public web PKI for downloads.
//!
//! The ring provider is passed explicitly everywhere: the process never installs a default,
//! so a library user (the load generator, the controller's tests) cannot end up with two.

mod pinned;

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub use pinned::PinnedCaVerifier;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {message}")]
    Pem { what: &'static str, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("the CA pin must be 64 hex digits")]
    BadPin,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Mutual-TLS configuration for the channel: presents the agent's certificate and trusts only
/// the controller CA.
pub fn client_config(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> Result<Arc<ClientConfig>, TlsError> {
    let certs = parse_certs(cert_pem, "agent certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "agent key",
        message: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    for ca in parse_certs(ca_pem, "CA certificate")? {
        roots.add(ca)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// Enrollment configuration: the server is trusted only if its chain contains the CA whose
/// SHA-256 is `ca_pin`, and the normal chain and host-name checks pass against that CA.
pub fn pinned_config(ca_pin: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = PinnedCaVerifier::new(ca_pin, provider())?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Downloads from the public web (core releases, geo files): Mozilla's root store as shipped
/// in `webpki-roots`, so the host's CA bundle, or its absence, does not matter.
pub fn web_pki_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// All certificates in a PEM text, in order; at least one.
pub fn parse_certs(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            message: "no certificate in PEM".into(),
        });
    }
    Ok(certs)
}

/// Where a controller URL points.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or IP, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// `host:port` as written in the URL, for `Host` headers and `wss://` URLs.
    pub authority: String,
    /// Path prefix of the URL without a trailing `/` (usually empty).
    pub base_path: String,
    pub server_name: ServerName<'static>,
}

impl Target {
    /// Parses `https://host[:port][/…]`; `wss://` is accepted too. Plain HTTP is refused: the
    /// channel is always TLS.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("bad controller URL `{url}`: {e}"))?;
        match uri.scheme_str() {
            Some("https") | Some("wss") => {}
            _ => return Err(format!("controller URL `{url}` must start with https://")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("controller URL `{url}` has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(443);
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| format!("controller URL `{url}`: bad host `{host}`: {e}"))?;
        Ok(Self {
            host,
            port,
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            server_name,
        })
    }

    /// Opens TCP and runs the TLS handshake.
    pub async fn connect(
        &self,
        tls: Arc<ClientConfig>,
    ) -> Result<TlsStream<TcpStream>, ConnectError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ConnectError::Tcp(format!("cannot reach {}: {e}", self.authority)))?;
        // Frames are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        TlsConnector::from(tls)
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                ConnectError::Tls(format!(
                    "TLS handshake with {} failed: {}",
                    self.authority,
                    describe_io(&e)
                ))
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Tcp(String),
    #[error("{0}")]
    Tls(String),
}

/// The rustls error inside an I/O error, if that is what it is.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Explains an I/O error from a TLS stream in operator terms: an expired or refused client
/// certificate shows up as an alert from the controller, often only on the first read.
pub fn describe_io(e: &io::Error) -> String {
    match rustls_error(e) {
        Some(err) => describe(err),
        None => e.to_string(),
    }
}

pub fn describe(err: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::AlertReceived(A::CertificateExpired) => {
            "the controller refused our client certificate because it has expired; \
             enroll again with a new token"
                .into()
        }
        E::AlertReceived(
            alert @ (A::BadCertificate
            | A::CertificateRevoked
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied),
        ) => format!("the controller refused our client certificate ({alert:?})"),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the controller's certificate has expired".into()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the controller's certificate is not valid for this host name".into()
        }
        E::InvalidCertificate(C::UnknownIssuer) => {
            "the controller's certificate is not issued by the enrolled CA".into()
        }
        other => other.to_string(),
    }
}

/// Whether an I/O error is a TLS-level failure (so it is reported as such, not as I/O).
pub fn is_tls(e: &io::Error) -> bool {
    rustls_error(e).is_some()
}

#[cfg(test)]
mod tests;
