//! Test fixtures: temp directories and a small PKI shaped like the controller's (a CA, a
//! gateway certificate for `localhost`/`127.0.0.1` issued by it, client certificates from CSRs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use xfleet_common::channel::{memory_pair, Channel, ChannelConfig, Handler, IncomingCall};
use xfleet_common::enrollment::sha256_hex;
use xfleet_common::protocol::ErrorBody;

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "xfleet-agent-{label}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestPki {
    pub issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub gateway_pem: String,
    pub gateway_key_pem: String,
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(params, ca_key);

        let gw_key = KeyPair::generate().unwrap();
        let gw_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let gateway = gw_params.signed_by(&gw_key, &issuer).unwrap();
        Self {
            issuer,
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            gateway_pem: gateway.pem(),
            gateway_key_pem: gw_key.serialize_pem(),
        }
    }

    pub fn pin(&self) -> String {
        sha256_hex(self.ca_der.as_ref())
    }

    /// Signs a CSR the way the controller does: only the public key is taken from it.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    ) -> String {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        if let Some((not_before, not_after)) = validity {
            csr.params.not_before = not_before;
            csr.params.not_after = not_after;
        }
        csr.signed_by(&self.issuer).unwrap().pem()
    }

    /// A client key and certificate, valid for `lifetime` around now (or back-dated to be
    /// expired when `expired`).
    pub fn client_cert(&self, lifetime: time::Duration, expired: bool) -> (String, String) {
        let made = crate::csr::new_key_and_csr("test-host").unwrap();
        let now = time::OffsetDateTime::now_utc();
        let (not_before, not_after) = if expired {
            (
                now - lifetime - time::Duration::hours(1),
                now - time::Duration::hours(1),
            )
        } else {
            (now - time::Duration::minutes(1), now + lifetime)
        };
        let cert = self.sign_csr(&made.csr_pem, Some((not_before, not_after)));
        (cert, made.key_pem)
    }

    /// The gateway's TLS config: chain `[gateway, ca]`, optionally requiring a client
    /// certificate issued by the CA.
    pub fn server_config(&self, client_auth: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![
            CertificateDer::from_pem_slice(self.gateway_pem.as_bytes()).unwrap(),
            self.ca_der.clone(),
        ];
        let key = PrivateKeyDer::from_pem_slice(self.gateway_key_pem.as_bytes()).unwrap();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap();
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(builder.with_single_cert(chain, key).unwrap())
    }
}

mod gateway;
mod release_host;
pub use gateway::{Gateway, GatewayMode};
pub use release_host::{ReleaseHost, Route};

/// The core of a handler test that does not need one.
pub fn no_core() -> crate::core::Core {
    crate::core::Core::Missing("no core in this test".into())
}

/// A controller-side channel talking to `handler` over memory; returns (controller, agent).
pub fn connect_handler(handler: Arc<crate::handler::AgentHandler>) -> (Channel, Channel) {
    struct Nobody;
    impl Handler for Nobody {
        async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
            Err(ErrorBody::unsupported(&call.method))
        }
    }
    let config = |name: &str, first| ChannelConfig {
        name: name.into(),
        max_in_flight: 16,
        send_queue: 16,
        idle_timeout: std::time::Duration::from_secs(60),
        first_request_id: first,
        protocol_version: xfleet_common::protocol::PROTOCOL_VERSION,
    };
    let ((a_sink, a_stream), (b_sink, b_stream)) = memory_pair(16);
    let agent = Channel::start(b_sink, b_stream, handler, config("agent", 2));
    let ctl = Channel::start(a_sink, a_stream, Arc::new(Nobody), config("controller", 1));
    (ctl, agent)
}

/// Polls `cond` every few milliseconds until it holds; panics after 20 s. Tests wait on
/// conditions, never for fixed times.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
