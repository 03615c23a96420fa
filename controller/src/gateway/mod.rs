//! The agent gateway (DESIGN §2–3): TLS 1.3 with optional client certificates, serving
//! `POST /v1/enroll`, the installer and the agent binaries (no client certificate) and
//! `GET /v1/connect` (WebSocket upgrade only with a certificate of ours whose serial belongs
//! to an enabled, non-revoked server).

mod admission;
mod enroll;
mod install;

pub use install::script as install_script;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::{SinkExt, Stream, StreamExt};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use xfleet_common::enrollment::GatewayError;
use xfleet_common::protocol::MAX_FRAME_BYTES;

use crate::ca::{controller_of, serial_of, Ca};
use crate::cluster::{error_body, RoutedCall};
use crate::Controller;
use crate::{limit, telemetry};

/// TLS handshakes running at once; the rest wait for a permit.
const MAX_CONCURRENT_HANDSHAKES: usize = 128;
/// From accept to a finished TLS handshake: waiting for the client's first bytes, for a
/// handshake permit, and the handshake itself, all together.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a gateway connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Serial (hex) of the verified client certificate, if one was presented.
    pub cert_serial: Option<String>,
    /// The id of the controller whose certificate was presented, for a routed call.
    pub controller: Option<String>,
}

pub struct GatewayLimits {
    pub admission: limit::TokenBucket,
    pub enroll: limit::PerIpWindow,
    /// The installer and agent downloads, per address.
    pub install: limit::PerIpWindow,
}

impl GatewayLimits {
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            admission: limit::TokenBucket::new(config.handshake_rate, config.handshake_burst),
            enroll: limit::PerIpWindow::new(config.enroll_per_minute, Duration::from_secs(60)),
            install: limit::PerIpWindow::new(
                config.install_requests_per_minute,
                Duration::from_secs(60),
            ),
        }
    }
}

/// The gateway's TLS, and the pin of the key it serves.
pub struct GatewayTls {
    pub config: Arc<ServerConfig>,
    /// Base64 SHA-256 of the served certificate's SubjectPublicKeyInfo: what curl's
    /// `--pinnedpubkey 'sha256//…'` compares. The key is kept across starts
    /// (`Ca::issue_gateway`), so the pin survives a restart.
    pub key_pin: String,
}

/// TLS 1.3 server config: our gateway certificate (sent with the CA so a pinning agent can
/// find it), client certificates optional but verified against our CA when presented.
pub fn tls_config(ca: &Ca, sans: &[String]) -> anyhow::Result<GatewayTls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let (cert, key) = ca.issue_gateway(sans)?;
    let key_pin = spki_pin(&cert)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert, ca.cert_der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(GatewayTls {
        config: Arc::new(config),
        key_pin,
    })
}

/// curl's public key pin of a certificate: base64 of the SHA-256 of its SubjectPublicKeyInfo.
fn spki_pin(cert: &[u8]) -> anyhow::Result<String> {
    use base64::Engine;
    use sha2::Digest;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)?;
    let digest = sha2::Sha256::digest(parsed.tbs_certificate.subject_pki.raw);
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

pub fn router(ctl: Arc<Controller>) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/connect", get(connect))
        .route("/install.sh", get(install::install_script))
        .route("/v1/agent/{version}/{file}", get(install::agent_binary))
        .route(
            crate::cluster::HOP_CALL_PATH,
            post(hop_call).layer(DefaultBodyLimit::max(MAX_FRAME_BYTES)),
        )
        .route(crate::cluster::HOP_LIVE_PATH, post(hop_live))
        .route(crate::cluster::HOP_CPU_PATH, post(hop_cpu))
        .route(
            crate::cluster::HOP_CALL_MANY_PATH,
            post(hop_call_many).layer(DefaultBodyLimit::max(MAX_FRAME_BYTES)),
        )
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(ctl)
}

/// Accepts connections until shutdown.
pub async fn serve(ctl: Arc<Controller>, listener: TcpListener, tls: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    let pending = admission::Pending::new(ctl.config.gateway_pending_per_source as usize);
    let router = router(ctl.clone());
    loop {
        let (tcp, addr) = tokio::select! {
            _ = ctl.shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Closed at once rather than queued: an agent backs off and comes back.
        let Some(slot) = pending.enter(addr.ip()) else {
            telemetry::global().admission(false, "too_many_pending");
            tracing::debug!(%addr, "gateway connection refused: too many unauthenticated connections from its source or in all");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handshakes = handshakes.clone();
        let router = router.clone();
        tokio::spawn(async move {
            // A socket that sends nothing waits without a handshake permit, so idle sockets
            // cannot hold the permits real handshakes need.
            let handshake = async {
                // A peek returns once the ClientHello's first byte is there (0 on EOF).
                if tcp.peek(&mut [0u8; 1]).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                let permit = handshakes.acquire_owned().await;
                let tls = acceptor.accept(tcp).await;
                drop(permit);
                tls
            };
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%addr, error = %e, "gateway TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%addr, "gateway TLS handshake timed out");
                    return;
                }
            };
            let leaf = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first());
            let cert_serial = leaf.and_then(|cert| serial_of(cert));
            let controller = leaf.and_then(|cert| controller_of(cert));
            // A certificate of our CA authenticates the connection; one without (enrollment)
            // stays counted until it ends.
            let slot = if cert_serial.is_some() {
                drop(slot);
                None
            } else {
                Some(slot)
            };
            let peer = Peer {
                addr,
                cert_serial,
                controller,
            };
            let service = hyper::service::service_fn(move |mut req| {
                req.extensions_mut().insert(peer.clone());
                tower::ServiceExt::oneshot(router.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "gateway connection ended with an error");
            }
            drop(slot);
        });
    }
}

async fn connect(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(serial) = peer.cert_serial.as_deref() else {
        return gateway_error(
            StatusCode::UNAUTHORIZED,
            "certificate_required",
            "connect needs the client certificate issued at enrollment",
        );
    };
    if let Err(wait) = ctl.gateway_limits.admission.try_acquire() {
        telemetry::global().admission(false, "rate_limited");
        let retry = ctl.gateway_limits.admission.retry_after(wait);
        let mut r = gateway_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many agents connecting at once; retry later",
        );
        r.headers_mut()
            .insert("retry-after", retry.to_string().parse().expect("digits"));
        return r;
    }
    let presented = match ctl.store.presented_certificate(serial).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "certificate lookup failed");
            let mut r = gateway_error(StatusCode::SERVICE_UNAVAILABLE, "busy", "try again later");
            r.headers_mut()
                .insert("retry-after", "5".parse().expect("digits"));
            return r;
        }
    };
    let refusal = match &presented {
        None => Some("this certificate is not known to the controller"),
        Some(p) if p.revoked_at.is_some() => Some("this certificate has been revoked"),
        Some(p) if p.server_enabled.is_none() => Some("this server has been removed"),
        Some(p) if p.server_enabled == Some(0) => Some("this server is disabled"),
        Some(_) => None,
    };
    if let Some(reason) = refusal {
        telemetry::global().admission(false, "certificate");
        tracing::warn!(addr = %peer.addr, serial, reason, "agent connection refused");
        return gateway_error(StatusCode::FORBIDDEN, "forbidden", reason);
    }
    let server_id = presented.expect("checked above").server_id;
    telemetry::global().admission(true, "certificate");
    let remote = peer.addr.to_string();
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve_socket(ctl, server_id, socket, remote))
}

/// The refusal of a routed request from anyone but a controller of the fleet (an agent's
/// certificate is of the same CA, and must not reach other agents' channels).
fn only_controllers(peer: &Peer) -> Option<Response> {
    peer.controller.is_none().then(|| {
        gateway_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "routed calls are taken only from the fleet's controllers",
        )
    })
}

/// A call routed here by another controller of the fleet for an agent connected here.
async fn hop_call(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = only_controllers(&peer) {
        return refused;
    }
    let call = match RoutedCall::from_headers(&headers) {
        Ok(call) => call,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(e)).into_response(),
    };
    // Only an agent connected here: a routed call never goes round between controllers.
    match (ctl.fleet)
        .call(call.server_id, &call.method, body.to_vec(), call.deadline)
        .await
    {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(error_body(&e))).into_response(),
    }
}

/// One method on many agents held here, for another controller's fan-out: each called at
/// once, every answer returned in one body.
async fn hop_call_many(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = only_controllers(&peer) {
        return refused;
    }
    let request: crate::cluster::ManyRequest = match rmp_serde::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return gateway_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    let deadline = Duration::from_millis(request.deadline_ms.min(3_600_000));
    let calls = (request.servers.iter())
        .take(crate::cluster::MAX_LIVE_IDS)
        .map(|&id| {
            let (ctl, method, body) = (&ctl, &request.method, request.body.clone());
            async move {
                // Only agents connected here: a routed call never goes round.
                let (ok, error) = match ctl.fleet.call(id, method, body, deadline).await {
                    Ok(bytes) => (Some(bytes), None),
                    Err(e) => (None, Some(error_body(&e))),
                };
                crate::cluster::ManyAnswer {
                    server: id,
                    ok,
                    error,
                }
            }
        });
    let answers = futures_util::future::join_all(calls).await;
    match rmp_serde::to_vec_named(&answers) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

/// The CPU history of an agent held here, for another controller's 3x-ui API.
async fn hop_cpu(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    Json(ask): Json<serde_json::Value>,
) -> Response {
    if let Some(refused) = only_controllers(&peer) {
        return refused;
    }
    let (Some(server), Some(bucket), Some(points)) = (
        ask["server"].as_i64(),
        ask["bucket"].as_i64().filter(|b| *b > 0),
        ask["points"].as_u64().filter(|p| *p <= 10_000),
    ) else {
        return gateway_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "server, bucket, points",
        );
    };
    let points = ctl.fleet.cpu_history(server, bucket, points as usize);
    Json(points.unwrap_or_default()).into_response()
}

/// What this controller knows live of the agents it holds, for another controller's panel.
async fn hop_live(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    Json(ids): Json<Vec<i64>>,
) -> Response {
    if let Some(refused) = only_controllers(&peer) {
        return refused;
    }
    let live: serde_json::Map<String, serde_json::Value> = (ids.iter())
        .take(crate::cluster::MAX_LIVE_IDS)
        .filter_map(|&id| {
            let info = ctl.fleet.live_info(id)?;
            Some((id.to_string(), serde_json::to_value(info).ok()?))
        })
        .collect();
    Json(live).into_response()
}

/// Runs an upgraded agent connection as a fleet session, one binary message per frame.
async fn serve_socket(ctl: Arc<Controller>, server_id: i64, socket: WebSocket, remote: String) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|bytes: Vec<u8>| {
        futures_util::future::ready(Ok::<_, axum::Error>(Message::Binary(bytes.into())))
    });
    crate::fleet::run_session(ctl, server_id, sink, frames(stream), remote).await;
}

/// Binary WebSocket messages as frames; a Close ends the stream, text is a protocol error.
fn frames(
    stream: futures_util::stream::SplitStream<WebSocket>,
) -> std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>> + Send>> {
    Box::pin(futures_util::stream::unfold(
        (stream, false),
        |(mut stream, done)| async move {
            if done {
                return None;
            }
            loop {
                return match stream.next().await? {
                    Ok(Message::Binary(b)) => Some((Ok(b.to_vec()), (stream, false))),
                    Ok(Message::Text(_)) => Some((
                        Err("text message on a binary channel".into()),
                        (stream, true),
                    )),
                    Ok(Message::Close(_)) => None,
                    Ok(_) => continue,
                    Err(e) => Some((Err(e.to_string()), (stream, true))),
                };
            }
        },
    ))
}

pub(crate) fn gateway_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(GatewayError {
            code: code.to_owned(),
            message: message.to_owned(),
        }),
    )
        .into_response()
}
