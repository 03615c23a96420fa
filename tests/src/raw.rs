//! Hand-driven clients of the agent gateway, for tests that must misbehave: no client
//! certificate, a certificate of another CA, garbage frames, raw enrollment requests.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::WebSocketStream;
use xfleet_common::protocol::{decode, encode, Frame, Hello, SUPPORTED_VERSIONS};

pub type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// TLS client trusting `ca_pem`, presenting `identity` (cert PEM, key PEM) if given.
pub fn tls(ca_pem: &str, identity: Option<(&str, &str)>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

async fn tls_stream(port: u16, tls: Arc<ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    TlsConnector::from(tls)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
}

/// Opens `/v1/connect`; `Err` carries the refusal (TLS alert or HTTP status) as text.
pub async fn connect(port: u16, tls: Arc<ClientConfig>) -> Result<Ws, String> {
    let stream = tls_stream(port, tls)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let url = format!("wss://127.0.0.1:{port}/v1/connect");
    match tokio_tungstenite::client_async(url, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .to_string();
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" (retry-after {v})"))
                .unwrap_or_default();
            Err(format!("http {}{retry}: {body}", resp.status().as_u16()))
        }
        Err(e) => Err(format!("{e}")),
    }
}

/// Sends Hello for `server_id` and returns the controller's answer frame.
pub async fn hello(ws: &mut Ws, server_id: i64) -> Frame {
    send_hello(
        ws,
        Hello {
            agent_version: "test".into(),
            protocol_versions: SUPPORTED_VERSIONS.to_vec(),
            server_id,
            ..Default::default()
        },
    )
    .await
}

/// Sends this Hello and returns the controller's answer frame.
pub async fn send_hello(ws: &mut Ws, hello: Hello) -> Frame {
    let hello = Frame::Hello(hello);
    ws.send(Message::Binary(encode(&hello).into()))
        .await
        .unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return decode(&b).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no answer to Hello: {other:?}"),
        }
    }
}

/// Reads until the controller closes the connection; true if it did within the timeout.
pub async fn closed_by_peer(ws: &mut Ws, timeout: std::time::Duration) -> bool {
    tokio::time::timeout(timeout, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// `POST /v1/enroll` with an arbitrary JSON body, trusting `ca_pem`.
pub async fn post_enroll(port: u16, ca_pem: &str, body: &Value) -> (u16, Value) {
    let req = hyper::Request::post("/v1/enroll")
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    send(port, tls(ca_pem, None), req).await
}

/// A routed call (`POST /v1/hop/call`, what controllers send each other) made with
/// `identity`: its status and body.
pub async fn post_hop_call(
    port: u16,
    ca_pem: &str,
    identity: (&str, &str),
    server_id: i64,
    method: &str,
) -> (u16, Value) {
    let req = hyper::Request::post("/v1/hop/call")
        .header("host", format!("127.0.0.1:{port}"))
        .header("x-xfleet-server", server_id.to_string())
        .header("x-xfleet-method", method)
        .header("x-xfleet-deadline-ms", "5000")
        .body(Full::new(Bytes::from(
            xfleet_common::protocol::json_to_body(&Value::Null),
        )))
        .unwrap();
    send(port, tls(ca_pem, Some(identity)), req).await
}

/// One request to the gateway on a new connection: the status, and the body as JSON (or as
/// a JSON string when it is not JSON).
async fn send(port: u16, tls: Arc<ClientConfig>, req: hyper::Request<Full<Bytes>>) -> (u16, Value) {
    let stream = tls_stream(port, tls).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

/// A CA of our own and a client certificate it signed: (ca_pem, cert_pem, key_pem).
pub fn foreign_identity() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["server-1.agents.xfleet".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A fresh key and CSR PEM; `as_ca` asks (in vain) to become a CA.
pub fn csr(as_ca: bool) -> String {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
    if as_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// Answers nothing; for a test-driven channel that only calls the controller.
pub struct Mute;

impl xfleet_common::channel::Handler for Mute {
    async fn request(
        &self,
        call: xfleet_common::channel::IncomingCall,
    ) -> Result<Vec<u8>, xfleet_common::protocol::ErrorBody> {
        Err(xfleet_common::protocol::ErrorBody::unsupported(
            &call.method,
        ))
    }
}

/// Runs the channel engine over a raw connection that has finished Hello/Welcome.
pub fn channel(ws: Ws, server_id: i64) -> xfleet_common::channel::Channel {
    ws_channel(
        ws,
        Arc::new(Mute),
        xfleet_common::channel::ChannelConfig {
            name: format!("test client of server {server_id}"),
            max_in_flight: 16,
            send_queue: 16,
            idle_timeout: std::time::Duration::from_secs(60),
            first_request_id: 2,
            // The controller chooses the newest version this build offers in its Hello.
            protocol_version: xfleet_common::protocol::PROTOCOL_VERSION,
        },
    )
}

/// The channel engine over any WebSocket (either end), one binary message per frame.
pub fn ws_channel<S, H>(
    ws: WebSocketStream<S>,
    handler: Arc<H>,
    config: xfleet_common::channel::ChannelConfig,
) -> xfleet_common::channel::Channel
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: xfleet_common::channel::Handler,
{
    let (sink, stream) = ws.split();
    let sink = sink.with(|b: Vec<u8>| {
        futures_util::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(
            Message::Binary(b.into()),
        ))
    });
    let stream = Box::pin(stream.filter_map(|m| async move {
        match m {
            Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    }));
    xfleet_common::channel::Channel::start(Box::pin(sink), stream, handler, config)
}
