use super::*;
use crate::testutil::TestPki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves TLS with the given PKI on 127.0.0.1:0, answering each connection with one byte.
async fn server(pki: &TestPki) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(false));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"!").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

async fn handshake(url: &str, config: Arc<ClientConfig>) -> Result<u8, ConnectError> {
    let mut tls = Target::parse(url).unwrap().connect(config).await?;
    let mut byte = [0u8];
    tls.read_exact(&mut byte)
        .await
        .map_err(|e| ConnectError::Tls(describe_io(&e)))?;
    Ok(byte[0])
}

#[tokio::test]
async fn pinned_verifier_accepts_the_pinned_ca_only() {
    let pki = TestPki::new("right");
    let other = TestPki::new("other");
    let port = server(&pki).await;

    let url = format!("https://127.0.0.1:{port}");
    let ok = handshake(&url, pinned_config(&pki.pin()).unwrap()).await;
    assert_eq!(ok.unwrap(), b'!');
    // Upper-case hex is the same pin.
    let upper = pinned_config(&pki.pin().to_uppercase()).unwrap();
    assert_eq!(handshake(&url, upper).await.unwrap(), b'!');

    let err = handshake(&url, pinned_config(&other.pin()).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not contain the CA pinned"), "{err}");
}

#[tokio::test]
async fn pinned_verifier_still_checks_the_host_name() {
    let pki = TestPki::new("name");
    let port = server(&pki).await;
    // The certificate names localhost and 127.0.0.1, not ::1-less aliases like this one.
    let config = pinned_config(&pki.pin()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("ctl.example.com").unwrap();
    let err = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap_err();
    assert!(
        describe_io(&err).contains("not valid for this host name"),
        "{err}"
    );
}

#[test]
fn bad_pins_and_pem_are_refused() {
    assert!(matches!(pinned_config("abc"), Err(TlsError::BadPin)));
    assert!(matches!(
        pinned_config(&"zz".repeat(32)),
        Err(TlsError::BadPin)
    ));
    assert!(client_config("nope", "nope", "nope").is_err());
}

#[test]
fn targets_parse() {
    let t = Target::parse("https://ctl.example.com:2054/").unwrap();
    assert_eq!((t.host.as_str(), t.port), ("ctl.example.com", 2054));
    let t = Target::parse("https://[::1]:9").unwrap();
    assert_eq!((t.host.as_str(), t.authority.as_str()), ("::1", "[::1]:9"));
    assert_eq!(Target::parse("https://h").unwrap().port, 443);
    assert!(Target::parse("http://h:1").is_err());
    assert!(Target::parse("not a url").is_err());
}
