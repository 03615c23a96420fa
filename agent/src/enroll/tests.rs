use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use xfleet_common::enrollment::{EnrollRequest, EnrollmentToken, GatewayError};
use xfleet_common::methods::IssuedCertificate;

use super::*;
use crate::testutil::{TempDir, TestPki};

type Reply = (u16, Option<u64>, String);
type Behaviour = Arc<dyn Fn(&TestPki, EnrollRequest) -> Reply + Send + Sync>;

/// A stand-in for the controller's `POST /v1/enroll` on 127.0.0.1:0.
async fn gateway(pki: Arc<TestPki>, behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(false));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let (pki, behaviour) = (pki.clone(), behaviour.clone());
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (pki, behaviour) = (pki.clone(), behaviour.clone());
                async move {
                    assert_eq!(req.uri().path(), "/v1/enroll");
                    assert!(req.headers().contains_key(hyper::header::HOST));
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let (status, retry, text) =
                        behaviour(&pki, serde_json::from_slice(&body).unwrap());
                    let mut resp = Response::builder().status(status);
                    if let Some(s) = retry {
                        resp = resp.header("retry-after", s.to_string());
                    }
                    Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(text))).unwrap())
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service),
            );
        }
    });
    format!("https://127.0.0.1:{port}")
}

fn token(url: &str, pin: &str) -> String {
    EnrollmentToken {
        url: url.into(),
        ca_pin: pin.into(),
        secret: "secret-secret-secret-secret".into(),
        also: Vec::new(),
    }
    .encode()
}

fn issue() -> Behaviour {
    Arc::new(|pki: &TestPki, req: EnrollRequest| {
        assert!(req.token.starts_with("xft1_"));
        assert_eq!(req.agent_version, xfleet_common::VERSION);
        let issued = IssuedCertificate {
            server_id: 42,
            cert_pem: pki.sign_csr(&req.csr_pem, None),
            ca_pem: pki.ca_pem.clone(),
            serial: "01".into(),
            not_after_ms: 0,
        };
        (200, None, serde_json::to_string(&issued).unwrap())
    })
}

fn refuse(code: &'static str) -> Behaviour {
    Arc::new(move |_: &TestPki, _| {
        let body = GatewayError {
            code: code.into(),
            message: "nope".into(),
        };
        (410, None, serde_json::to_string(&body).unwrap())
    })
}

#[tokio::test]
async fn enrollment_writes_key_certificate_and_config() {
    let pki = Arc::new(TestPki::new("enroll"));
    let url = gateway(pki.clone(), issue()).await;
    let dir = TempDir::new("enroll");
    let (config_dir, data_dir) = (dir.path().join("etc"), dir.path().join("var"));

    let config = enroll(&token(&url, &pki.pin()), &config_dir, &data_dir, false)
        .await
        .unwrap();
    assert_eq!(config.server_id, 42);
    assert_eq!(config.controller_url, url);
    assert_eq!(AgentConfig::load(&config_dir).unwrap(), config);
    let files = config.files();
    let mode = std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let cert = std::fs::read_to_string(&files.cert).unwrap();
    let key = std::fs::read_to_string(&files.key).unwrap();
    crate::csr::check_matches_key(&cert, &key).unwrap();
    assert_eq!(std::fs::read_to_string(&files.ca).unwrap(), pki.ca_pem);
    assert!(data_dir.is_dir());

    // A second enrollment must be forced.
    let err = enroll(&token(&url, &pki.pin()), &config_dir, &data_dir, false)
        .await
        .unwrap_err();
    assert!(matches!(err, EnrollError::AlreadyEnrolled(_)), "{err}");
    enroll(&token(&url, &pki.pin()), &config_dir, &data_dir, true)
        .await
        .unwrap();
    assert_ne!(std::fs::read_to_string(&files.key).unwrap(), key);
}

#[tokio::test]
async fn refusals_are_explained() {
    let pki = Arc::new(TestPki::new("refuse"));
    let dir = TempDir::new("refuse");
    for (code, expect) in [
        ("token_used", "already been used"),
        ("token_expired", "has expired"),
        ("token_invalid", "does not know this enrollment token"),
        ("server_removed", "has been removed"),
        ("weird", "(weird): nope"),
    ] {
        let url = gateway(pki.clone(), refuse(code)).await;
        let err = enroll(&token(&url, &pki.pin()), dir.path(), dir.path(), false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{code}: {err}");
    }
    assert!(!dir.path().join("agent.toml").exists());
}

#[tokio::test]
async fn a_foreign_controller_or_garbled_token_is_refused_before_anything_is_sent() {
    let pki = Arc::new(TestPki::new("real"));
    let impostor = Arc::new(TestPki::new("impostor"));
    let url = gateway(impostor, issue()).await;
    let dir = TempDir::new("foreign");
    let err = enroll(&token(&url, &pki.pin()), dir.path(), dir.path(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, EnrollError::Tls(_)), "{err}");
    assert!(err.to_string().contains("pinned"), "{err}");

    let err = enroll("xft1_garbage!", dir.path(), dir.path(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("token is damaged"), "{err}");
    let err = enroll("hello", dir.path(), dir.path(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("xft1_"), "{err}");
}

#[tokio::test]
async fn a_long_rate_limit_is_reported() {
    let pki = Arc::new(TestPki::new("busy"));
    let url = gateway(
        pki.clone(),
        Arc::new(|_: &TestPki, _| (429, Some(600), String::new())),
    )
    .await;
    let dir = TempDir::new("busy");
    let err = enroll(&token(&url, &pki.pin()), dir.path(), dir.path(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EnrollError::RateLimited(d) if d.as_secs() == 600),
        "{err}"
    );
}
