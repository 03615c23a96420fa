//! One connection to the controller: TLS, WebSocket upgrade, `Hello`/`Welcome`, then the
//! channel engine (DESIGN §3). The reconnect loop in [`crate::run`] is built on [`dial`]; a
//! load generator can call it for thousands of simulated agents, so nothing here is
//! per-process heavy: buffers are small and the handler is shared.

pub mod backoff;
mod memory;
mod ws;

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use rustls::ClientConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_util::sync::CancellationToken;
use xfleet_common::channel::{Channel, ChannelConfig, Handler};
use xfleet_common::enrollment::GatewayError;
use xfleet_common::protocol::{
    self, decode, encode, Frame, Hello, Welcome, DEFAULT_MAX_IN_FLIGHT, MAX_FRAME_BYTES,
};

use crate::tls::{self, ConnectError, Target};
pub(crate) use memory::open_memory;
use ws::{FrameSink, FrameStream};

/// Limit for each handshake stage: TCP + TLS, the WebSocket upgrade, `Hello`/`Welcome`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames queued for the writer; heartbeats and answers are small and few.
const SEND_QUEUE: usize = 64;
/// Used when the controller sends no usable heartbeat interval.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(25);
/// tungstenite's defaults are 128 KiB per direction per connection; frames are small, and
/// larger messages still work (the buffer grows), so memory stays low for thousands of agents.
const WS_BUFFER: usize = 8 * 1024;

/// Why one connection attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DialError {
    /// The controller is at its admission limit (503 + `Retry-After`): wait at least this long.
    #[error("controller is busy; retry after {0:?}")]
    RetryAfter(Duration),
    /// The upgrade was refused with an HTTP status (401/403: certificate unknown, revoked or
    /// server disabled).
    #[error("controller refused the connection (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// The controller answered `Hello` with `GoAway`.
    #[error("controller sent GoAway ({reason}); retry after {retry_after:?}")]
    GoAway {
        retry_after: Duration,
        reason: String,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Connects to `url` (the gateway base URL, `https://host:port`), sends `hello`, waits for
/// `Welcome` and starts the channel with `handler` answering the controller's calls.
pub async fn dial<H: Handler>(
    url: &str,
    tls: Arc<ClientConfig>,
    hello: Hello,
    handler: Arc<H>,
) -> Result<(Channel, Welcome), DialError> {
    let connection = dial_connection(url, tls, hello, handler).await?;
    Ok((connection.channel, connection.welcome))
}

/// A live connection as the run loop sees it.
pub(crate) struct Connection {
    pub channel: Channel,
    pub welcome: Welcome,
    /// Fires when the transport is gone (the writer sent its close and dropped the socket).
    pub transport_closed: CancellationToken,
}

pub(crate) async fn dial_connection<H: Handler>(
    url: &str,
    tls: Arc<ClientConfig>,
    hello: Hello,
    handler: Arc<H>,
) -> Result<Connection, DialError> {
    let target = Target::parse(url).map_err(DialError::Protocol)?;
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, target.connect(tls))
        .await
        .map_err(|_| {
            DialError::Io(format!(
                "no TLS connection to {} within {HANDSHAKE_TIMEOUT:?}",
                target.authority
            ))
        })?
        .map_err(|e| match e {
            ConnectError::Tcp(m) => DialError::Io(m),
            ConnectError::Tls(m) => DialError::Tls(m),
        })?;

    let ws_url = format!("wss://{}{}/v1/connect", target.authority, target.base_path);
    let request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| DialError::Protocol(format!("bad URL `{ws_url}`: {e}")))?;
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let upgrade = tokio_tungstenite::client_async_with_config(request, stream, Some(config));
    let (socket, _) = tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade)
        .await
        .map_err(|_| {
            DialError::Protocol(format!("no WebSocket upgrade within {HANDSHAKE_TIMEOUT:?}"))
        })?
        .map_err(upgrade_error)?;
    let transport_closed = CancellationToken::new();
    let (sink, stream) = socket.split();
    open(
        FrameSink::new(sink, transport_closed.clone().drop_guard()),
        FrameStream::new(stream),
        transport_closed,
        hello,
        handler,
    )
    .await
}

/// `Hello`/`Welcome` over a transport that carries whole frames (the WebSocket, or the
/// in-memory pipe of single-server mode), then the channel. `transport_closed` must fire
/// when the sink is dropped.
pub(crate) async fn open<S, R, H>(
    mut sink: S,
    mut stream: R,
    transport_closed: CancellationToken,
    hello: Hello,
    handler: Arc<H>,
) -> Result<Connection, DialError>
where
    S: Sink<Vec<u8>> + Send + Unpin + 'static,
    S::Error: Display + Send,
    R: Stream<Item = Result<Vec<u8>, String>> + Send + Unpin + 'static,
    H: Handler,
{
    let handshake = async {
        sink.send(encode(&Frame::Hello(hello)))
            .await
            .map_err(|e| DialError::Io(e.to_string()))?;
        let bytes = stream
            .next()
            .await
            .ok_or_else(|| DialError::Io("controller closed the connection before Welcome".into()))?
            .map_err(DialError::Io)?;
        match decode(&bytes).map_err(|e| DialError::Protocol(e.to_string()))? {
            Frame::Welcome(welcome) => Ok(welcome),
            Frame::GoAway(g) => Err(DialError::GoAway {
                retry_after: Duration::from_millis(g.retry_after_ms),
                reason: g.reason,
            }),
            other => Err(DialError::Protocol(format!(
                "expected Welcome, got {}",
                frame_kind(&other)
            ))),
        }
    };
    let welcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| DialError::Protocol(format!("no Welcome within {HANDSHAKE_TIMEOUT:?}")))??;
    if !protocol::SUPPORTED_VERSIONS.contains(&welcome.protocol_version) {
        return Err(DialError::Protocol(format!(
            "controller chose protocol version {}, we speak {:?}",
            welcome.protocol_version,
            protocol::SUPPORTED_VERSIONS
        )));
    }
    let channel = Channel::start(
        sink,
        stream,
        handler,
        ChannelConfig {
            name: "controller".into(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT as usize,
            send_queue: SEND_QUEUE,
            idle_timeout: heartbeat_interval(&welcome) * 3,
            first_request_id: 2,
            protocol_version: welcome.protocol_version,
        },
    );
    Ok(Connection {
        channel,
        welcome,
        transport_closed,
    })
}

/// The heartbeat interval the controller asked for, with a sane floor.
pub fn heartbeat_interval(welcome: &Welcome) -> Duration {
    match welcome.heartbeat_interval_ms {
        0 => DEFAULT_HEARTBEAT,
        ms => Duration::from_millis(ms.max(100)),
    }
}

fn frame_kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "Hello",
        Frame::Welcome(_) => "Welcome",
        Frame::Request(_) => "Request",
        Frame::Response(_) => "Response",
        Frame::Cancel { .. } => "Cancel",
        Frame::Event(_) => "Event",
        Frame::Ack { .. } => "Ack",
        Frame::GoAway(_) => "GoAway",
        Frame::Chunk { .. } => "Chunk",
        Frame::Credit { .. } => "Credit",
    }
}

/// Maps a failed upgrade: HTTP refusals by status, TLS alerts (a refused or expired client
/// certificate shows up here, on the first read after a TLS 1.3 handshake) as TLS.
fn upgrade_error(e: WsError) -> DialError {
    let WsError::Http(response) = e else {
        return transport_error(e);
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if let (503 | 429, Some(wait)) = (status, retry_after) {
        return DialError::RetryAfter(wait);
    }
    let body = response.body().as_deref().unwrap_or_default();
    let message = match serde_json::from_slice::<GatewayError>(body) {
        Ok(e) => format!("{}: {}", e.code, e.message),
        Err(_) if body.is_empty() => response
            .status()
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_owned(),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_owned(),
    };
    DialError::Refused { status, message }
}

fn transport_error(e: WsError) -> DialError {
    match &e {
        WsError::Io(io) if tls::is_tls(io) => DialError::Tls(tls::describe_io(io)),
        WsError::Io(io) => DialError::Io(io.to_string()),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            DialError::Io("connection closed".into())
        }
        _ => DialError::Protocol(e.to_string()),
    }
}

/// One line for a transport error on an established connection.
pub(crate) fn describe_ws(e: &WsError) -> String {
    match e {
        WsError::Io(io) => tls::describe_io(io),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
