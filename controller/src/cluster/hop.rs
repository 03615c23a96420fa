//! A call on an agent held by another controller: an HTTPS request to the holder's gateway
//! (`POST /v1/hop/call`), authenticated both ways by the fleet's CA: the holder's gateway
//! certificate, and a client certificate naming this controller. Connections are kept and
//! reused, so a routed call costs one request on an open connection plus the holder's call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use xfleet_common::channel::CallError;
use xfleet_common::protocol::{ErrorBody, MAX_FRAME_BYTES};

use crate::ca::Ca;

/// The gateway's route for routed calls.
pub const HOP_CALL_PATH: &str = "/v1/hop/call";
/// The gateway's route for what a controller knows live of the agents it holds (heartbeat,
/// core state, connection), for the panels of the other controllers.
pub const HOP_LIVE_PATH: &str = "/v1/hop/live";
/// Most servers asked about in one request.
pub const MAX_LIVE_IDS: usize = 10_000;
/// The gateway's route for the CPU history of an agent held there, from its heartbeats.
pub const HOP_CPU_PATH: &str = "/v1/hop/cpu";
/// The gateway's route for one method on many agents held there (a fan-out).
pub const HOP_CALL_MANY_PATH: &str = "/v1/hop/call-many";
/// Requests in flight to one other controller: each holds one connection (HTTP/1.1), so a
/// burst of routed calls opens at most this many; the rest wait for one.
const CONNECTIONS_PER_PEER: usize = 32;

/// One method on many agents held by one controller (MessagePack).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ManyRequest {
    pub method: String,
    pub deadline_ms: u64,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub servers: Vec<i64>,
}

/// Each server's answer to a [`ManyRequest`], in its order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ManyAnswer {
    pub server: i64,
    #[serde(default, with = "serde_bytes")]
    pub ok: Option<Vec<u8>>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}
const SERVER: &str = "x-xfleet-server";
const METHOD: &str = "x-xfleet-method";
const DEADLINE: &str = "x-xfleet-deadline-ms";
/// Open connections kept per other controller.
const IDLE_PER_PEER: usize = 16;

pub(super) struct HopClient {
    tls: tokio_rustls::TlsConnector,
    idle: Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl HopClient {
    pub(super) fn new(ca: &Ca, id: &str) -> anyhow::Result<Self> {
        let (cert, key) = ca.issue_controller(id)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            idle: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
        })
    }

    /// A turn to send to `base`: at most [`CONNECTIONS_PER_PEER`] at once.
    async fn turn(&self, base: &str) -> tokio::sync::OwnedSemaphorePermit {
        let turns = (self.turns.lock().unwrap())
            .entry(base.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_PER_PEER)))
            .clone();
        turns.acquire_owned().await.expect("never closed")
    }

    /// Sends one request to `base` on a kept or new connection; the answer's status and
    /// body (at most a frame's size).
    async fn send(
        &self,
        base: &str,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::StatusCode, Bytes), String> {
        let _turn = self.turn(base).await;
        let mut sender = match self.take_idle(base) {
            Some(sender) => sender,
            None => self.connect(base).await?,
        };
        let response = (sender.send_request(request).await).map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_FRAME_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        self.give_back(base, sender);
        Ok((status, bytes))
    }

    /// A JSON request (`body`) to `path` of the controller at `base`, and its JSON answer.
    pub(super) async fn json(
        &self,
        base: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, authority(base).unwrap_or_default())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let (status, bytes) = self.send(base, request).await?;
        if !status.is_success() {
            return Err(format!("answer {status}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    /// One method on many agents held by the controller at `base`: their answers by server.
    pub(super) async fn call_many(
        &self,
        base: &str,
        request: &ManyRequest,
    ) -> Result<Vec<ManyAnswer>, String> {
        let body = rmp_serde::to_vec_named(request).map_err(|e| e.to_string())?;
        let request = hyper::Request::post(HOP_CALL_MANY_PATH)
            .header(hyper::header::HOST, authority(base).unwrap_or_default())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, bytes) = self.send(base, request).await?;
        if !status.is_success() {
            return Err(format!(
                "answer {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        rmp_serde::from_slice(&bytes).map_err(|e| e.to_string())
    }

    pub(super) async fn call(
        &self,
        base: &str,
        server_id: i64,
        method: &str,
        body: Vec<u8>,
        deadline: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let unreachable = |e: String| {
            CallError::Offline(format!(
                "the controller holding server {server_id} ({base}) cannot be reached: {e}"
            ))
        };
        let request = hyper::Request::post(HOP_CALL_PATH)
            .header(hyper::header::HOST, authority(base).unwrap_or_default())
            .header(SERVER, server_id)
            .header(METHOD, method)
            .header(DEADLINE, deadline.as_millis() as u64)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable(e.to_string()))?;
        // The holder answers within the call's deadline; this only bounds a holder that hangs.
        let answer =
            tokio::time::timeout(deadline + Duration::from_secs(5), self.send(base, request)).await;
        let (status, bytes) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(unreachable(e)),
            Err(_) => return Err(CallError::Timeout(deadline)),
        };
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(CallError::from_body(body)),
            Err(_) => Err(unreachable(format!("answer {status}"))),
        }
    }

    /// The live facts the controller at `base` holds about `ids` (JSON object by id).
    pub(super) async fn live(&self, base: &str, ids: &[i64]) -> Result<serde_json::Value, String> {
        let body = serde_json::to_vec(ids).map_err(|e| e.to_string())?;
        let request = hyper::Request::post(HOP_LIVE_PATH)
            .header(hyper::header::HOST, authority(base).unwrap_or_default())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, bytes) = self.send(base, request).await?;
        if !status.is_success() {
            return Err(format!("answer {status}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    fn take_idle(&self, base: &str) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(base)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn give_back(&self, base: &str, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(base.to_owned()).or_default();
        if list.len() < IDLE_PER_PEER {
            list.push(sender);
        }
    }

    async fn connect(&self, base: &str) -> Result<SendRequest<Full<Bytes>>, String> {
        let authority = authority(base).ok_or("not an https:// address")?;
        let host = host_of(&authority);
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&authority),
        )
        .await
        .map_err(|_| "no connection within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// `host:port` of an `https://host:port/…` address (port 443 when absent).
fn authority(base: &str) -> Option<String> {
    let rest = base.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Some(match has_port {
        true => authority.to_owned(),
        false => format!("{authority}:443"),
    })
}

/// The host of `host:port` (an IPv6 address without its brackets).
fn host_of(authority: &str) -> &str {
    let host = match authority.rfind(':') {
        Some(i) => &authority[..i],
        None => authority,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A routed call as the holder's gateway reads it.
pub struct RoutedCall {
    pub server_id: i64,
    pub method: String,
    pub deadline: Duration,
}

impl RoutedCall {
    /// Reads the call from the request's headers (the body is the call's body).
    pub fn from_headers(headers: &hyper::HeaderMap) -> Result<Self, ErrorBody> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let bad = |what: &str| {
            ErrorBody::new("bad_request", format!("routed call without a valid {what}"))
        };
        let server_id = (header(SERVER).and_then(|v| v.parse().ok())).ok_or_else(|| bad(SERVER))?;
        let method = (header(METHOD).filter(|m| !m.is_empty())).ok_or_else(|| bad(METHOD))?;
        let deadline: u64 =
            (header(DEADLINE).and_then(|v| v.parse().ok())).ok_or_else(|| bad(DEADLINE))?;
        Ok(Self {
            server_id,
            method: method.to_owned(),
            deadline: Duration::from_millis(deadline.min(3_600_000)),
        })
    }
}

/// A call's error as it travels back to the controller that routed it.
pub fn error_body(e: &CallError) -> ErrorBody {
    let mut body = ErrorBody::new(e.code(), e.message());
    if let CallError::Remote {
        details, retryable, ..
    } = e
    {
        body.details = details.clone();
        body.retryable = *retryable;
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_other_controllers() {
        assert_eq!(
            authority("https://ctl-b:2054").as_deref(),
            Some("ctl-b:2054")
        );
        assert_eq!(authority("https://ctl-b/x").as_deref(), Some("ctl-b:443"));
        assert_eq!(authority("https://[::1]:9").as_deref(), Some("[::1]:9"));
        assert_eq!(authority("https://[::1]").as_deref(), Some("[::1]:443"));
        assert_eq!(authority("http://ctl-b:1"), None);
        assert_eq!(host_of("[::1]:9"), "::1");
        assert_eq!(host_of("ctl-b:2054"), "ctl-b");
    }
}
