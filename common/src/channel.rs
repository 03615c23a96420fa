//! The channel engine: runs the frame protocol over any message transport (a TLS WebSocket
//! between controller and agent, or an in-memory pipe in single-server mode).
//!
//! One reader task decodes frames and dispatches them; it never awaits a handler, so a slow
//! request cannot delay a heartbeat or another response. Incoming requests run as their own
//! tasks, bounded by `max_in_flight` (excess gets `busy`). One writer task owns the sink and
//! batches queued frames into a single flush. Both sides may call.
//!
//! Bytes are bounded too, so a peer that sends requests and never reads the answers cannot
//! make this side hold them: frames queued for the writer stay within
//! [`MAX_QUEUED_BYTES`] (senders wait, `try_send` fails), and the bodies of the peer's
//! requests being handled or answered within [`MAX_REQUEST_BYTES`] (excess gets `busy`).
//!
//! From protocol 2 a call may carry a stream of bytes after its request
//! ([`Channel::call_with_stream`], [`IncomingCall::stream`]); see [`stream`] for how credit
//! keeps a large one from crowding out everything else.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    self, code, decode, encode, ErrorBody, Event, Frame, GoAway, Outcome, Request, Response,
    STREAM_VERSION, STREAM_WINDOW,
};

mod stream;

pub use bytes::Bytes;
pub use stream::{IncomingStream, Pacer, StreamError};

/// Longest deadline a peer may ask for (an install takes minutes, nothing takes an hour).
const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// Bytes of frames waiting for the writer, per channel: two of the largest frames.
pub const MAX_QUEUED_BYTES: usize = 2 * protocol::MAX_FRAME_BYTES;
/// Bytes of the peer's requests held at once (running, or their answers waiting to be
/// queued), per channel. A larger single request still runs when nothing else does.
pub const MAX_REQUEST_BYTES: usize = 2 * protocol::MAX_FRAME_BYTES;

/// A frame on its way to the writer, holding its share of [`MAX_QUEUED_BYTES`] until the
/// writer has handed it to the transport.
struct Queued {
    bytes: Vec<u8>,
    _budget: OwnedSemaphorePermit,
}

/// A frame's share of a byte budget of `limit`: its length, or the whole budget for a frame
/// larger than it (which then waits for the budget to empty).
fn share(len: usize, limit: usize) -> u32 {
    len.clamp(1, limit) as u32
}

/// Tuning of one channel.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Used in log lines, e.g. `server 7`.
    pub name: String,
    /// Requests from the peer that may run at once; more get `busy`.
    pub max_in_flight: usize,
    /// Frames queued for the writer before senders wait.
    pub send_queue: usize,
    /// Close when nothing at all arrives for this long.
    pub idle_timeout: Duration,
    /// 1 on the controller (odd ids), 2 on the agent (even ids).
    pub first_request_id: u64,
    /// The version agreed in Hello/Welcome; streams need [`STREAM_VERSION`].
    pub protocol_version: u32,
}

/// Why a call failed, as the caller sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("offline: {0}")]
    Offline(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("busy: too many requests in flight")]
    Busy,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{code}: {message}")]
    Remote {
        code: String,
        message: String,
        details: Option<serde_json::Value>,
        retryable: bool,
    },
}

impl CallError {
    /// Maps a wire error to the typed variants.
    pub fn from_body(body: ErrorBody) -> Self {
        match body.code.as_str() {
            code::BUSY => Self::Busy,
            code::UNSUPPORTED => Self::Unsupported(body.message),
            code::CANCELLED => Self::Cancelled,
            code::TIMEOUT => Self::Timeout(Duration::ZERO),
            code::OFFLINE => Self::Offline(body.message),
            _ => Self::Remote {
                code: body.code,
                message: body.message,
                details: body.details,
                retryable: body.retryable,
            },
        }
    }

    /// The stable code of this error, as used in APIs and the task table.
    pub fn code(&self) -> &str {
        match self {
            Self::Offline(_) => code::OFFLINE,
            Self::Timeout(_) => code::TIMEOUT,
            Self::Cancelled => code::CANCELLED,
            Self::Busy => code::BUSY,
            Self::Unsupported(_) => code::UNSUPPORTED,
            Self::Remote { code, .. } => code,
        }
    }

    /// What went wrong, without the code: [`CallError::code`] gives that, and the two are
    /// stored and shown side by side (the `Display` text starts with the code).
    pub fn message(&self) -> String {
        match self {
            Self::Offline(message) | Self::Unsupported(message) => message.clone(),
            Self::Remote { message, .. } => message.clone(),
            Self::Timeout(after) => format!("no answer within {after:?}"),
            Self::Cancelled => "the call was cancelled".into(),
            Self::Busy => "too many requests in flight".into(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Offline(_) | Self::Timeout(_) | Self::Busy => true,
            Self::Remote { retryable, .. } => *retryable,
            Self::Cancelled | Self::Unsupported(_) => false,
        }
    }
}

/// A request from the peer, handed to [`Handler::request`] on its own task.
pub struct IncomingCall {
    pub id: u64,
    pub method: String,
    pub body: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub deadline: Instant,
    /// Fires when the peer sends `Cancel`, the deadline passes or the channel closes.
    pub cancel: CancellationToken,
    pub channel: Channel,
    /// The bytes the caller sends after the request (protocol 2), if it sends any. A handler
    /// may stop reading early; the rest is dropped as it arrives.
    pub stream: Option<IncomingStream>,
}

/// What one side does with the peer's requests and events.
pub trait Handler: Send + Sync + 'static {
    fn request(
        &self,
        call: IncomingCall,
    ) -> impl Future<Output = Result<Vec<u8>, ErrorBody>> + Send;

    /// Called on the reader task: must not block. Forward to a queue or spawn.
    fn event(&self, _channel: &Channel, _event: Event) {}

    /// Called on the reader task when the peer acknowledges a journaled event.
    fn ack(&self, _topic: &str, _seq: u64) {}

    /// The peer is going away and asks us to wait before coming back.
    fn go_away(&self, _go_away: &GoAway) {}
}

type Reply = oneshot::Sender<Result<Vec<u8>, CallError>>;

struct Inner {
    name: String,
    out: mpsc::Sender<Queued>,
    /// Bytes of [`MAX_QUEUED_BYTES`] still free.
    queued_budget: Arc<Semaphore>,
    /// Bytes of [`MAX_REQUEST_BYTES`] still free.
    request_budget: Arc<Semaphore>,
    pending: Mutex<HashMap<u64, Reply>>,
    running: Mutex<HashMap<u64, CancellationToken>>,
    /// Streams of our calls being sent, by call id: the credit the peer gave.
    outgoing: Mutex<HashMap<u64, Arc<stream::Outgoing>>>,
    /// Streams of the peer's calls being received, by call id.
    incoming: Mutex<HashMap<u64, Arc<stream::Incoming>>>,
    protocol_version: u32,
    in_flight: AtomicUsize,
    max_in_flight: usize,
    next_id: AtomicU64,
    closed: CancellationToken,
    reason: Mutex<Option<String>>,
    /// The peer ended the channel on purpose: a `GoAway`, or its transport closed cleanly.
    peer_closed: std::sync::atomic::AtomicBool,
}

/// A cheap, clonable handle to one live channel.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Channel {
    /// Starts the reader and writer tasks over a transport whose stream yields whole frames.
    pub fn start<S, R, H>(sink: S, stream: R, handler: Arc<H>, config: ChannelConfig) -> Self
    where
        S: Sink<Vec<u8>> + Send + Unpin + 'static,
        S::Error: Display + Send,
        R: Stream<Item = Result<Vec<u8>, String>> + Send + Unpin + 'static,
        H: Handler,
    {
        let (out, rx) = mpsc::channel(config.send_queue.max(1));
        let channel = Self {
            inner: Arc::new(Inner {
                name: config.name,
                out,
                queued_budget: Arc::new(Semaphore::new(MAX_QUEUED_BYTES)),
                request_budget: Arc::new(Semaphore::new(MAX_REQUEST_BYTES)),
                pending: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                outgoing: Mutex::new(HashMap::new()),
                incoming: Mutex::new(HashMap::new()),
                protocol_version: config.protocol_version,
                in_flight: AtomicUsize::new(0),
                max_in_flight: config.max_in_flight,
                next_id: AtomicU64::new(config.first_request_id),
                closed: CancellationToken::new(),
                reason: Mutex::new(None),
                peer_closed: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        tokio::spawn(write_loop(channel.clone(), sink, rx));
        tokio::spawn(read_loop(
            channel.clone(),
            stream,
            handler,
            config.idle_timeout,
        ));
        channel
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The protocol version agreed with the peer.
    pub fn protocol_version(&self) -> u32 {
        self.inner.protocol_version
    }

    /// Calls a method on the peer and waits for its answer. Dropping the future before it
    /// completes sends `Cancel` to the peer.
    pub async fn call(
        &self,
        method: &str,
        body: Vec<u8>,
        timeout: Duration,
        idempotency_key: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        self.call_inner(method, body, None, timeout, idempotency_key)
            .await
    }

    /// Calls a method on the peer and sends `data` after the request as a stream, paced by
    /// the peer's credit; the answer may come before all of it was sent (the handler stopped
    /// reading), which ends the sending. `timeout` covers the whole call; dropping the future
    /// cancels it, on both sides. Needs protocol 2: a peer that speaks only 1 is never sent a
    /// stream, the call fails as `unsupported` instead.
    pub async fn call_with_stream(
        &self,
        method: &str,
        body: Vec<u8>,
        data: Bytes,
        timeout: Duration,
        idempotency_key: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        self.call_with_paced_stream(method, body, data, None, timeout, idempotency_key)
            .await
    }

    /// [`Channel::call_with_stream`], its chunks sent no faster than `pacer` allows (a pacer
    /// shared by several streams holds them to its rate together).
    pub async fn call_with_paced_stream(
        &self,
        method: &str,
        body: Vec<u8>,
        data: Bytes,
        pacer: Option<&Pacer>,
        timeout: Duration,
        idempotency_key: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        let version = self.protocol_version();
        if version < STREAM_VERSION {
            return Err(CallError::Unsupported(format!(
                "{} speaks protocol {version}; `{method}` sends a stream, which needs protocol \
                 {STREAM_VERSION} (a newer agent)",
                self.name()
            )));
        }
        self.call_inner(method, body, Some((data, pacer)), timeout, idempotency_key)
            .await
    }

    async fn call_inner(
        &self,
        method: &str,
        body: Vec<u8>,
        data: Option<(Bytes, Option<&Pacer>)>,
        timeout: Duration,
        idempotency_key: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        if self.is_closed() {
            return Err(CallError::Offline(self.close_reason()));
        }
        let id = self.inner.next_id.fetch_add(2, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        self.inner.pending.lock().unwrap().insert(id, tx);
        let _guard = PendingGuard { channel: self, id };
        let credit = data.as_ref().map(|_| {
            let credit = Arc::new(stream::Outgoing::new());
            self.inner
                .outgoing
                .lock()
                .unwrap()
                .insert(id, credit.clone());
            credit
        });
        let frame = encode(&Frame::Request(Request {
            id,
            method: method.to_owned(),
            deadline_ms: timeout.as_millis() as u64,
            idempotency_key,
            body,
            stream_len: data.as_ref().map(|(d, _)| d.len() as u64),
        }));
        let offline = || CallError::Offline(self.close_reason());
        let outcome = tokio::time::timeout(timeout, async {
            self.queue(frame).await?;
            if let (Some((data, pacer)), Some(credit)) = (&data, &credit) {
                // An early answer (the handler stopped reading, or failed) ends the sending.
                tokio::select! {
                    biased;
                    answer = &mut rx => return answer.unwrap_or_else(|_| Err(offline())),
                    sent = stream::send(self, id, data, credit, *pacer) => sent?,
                }
            }
            rx.await.unwrap_or_else(|_| Err(offline()))
        })
        .await;
        outcome.unwrap_or(Err(CallError::Timeout(timeout)))
    }

    /// Queues a frame, waiting while the send queue is full.
    pub async fn send(&self, frame: &Frame) -> Result<(), CallError> {
        self.queue(encode(frame)).await
    }

    /// Queues encoded bytes once the byte budget and the queue have room for them.
    async fn queue(&self, bytes: Vec<u8>) -> Result<(), CallError> {
        let offline = || CallError::Offline(self.close_reason());
        let budget = self.inner.queued_budget.clone();
        let budget = tokio::select! {
            permit = budget.acquire_many_owned(share(bytes.len(), MAX_QUEUED_BYTES)) => {
                permit.map_err(|_| offline())?
            }
            _ = self.inner.closed.cancelled() => return Err(offline()),
        };
        self.inner
            .out
            .send(Queued {
                bytes,
                _budget: budget,
            })
            .await
            .map_err(|_| offline())
    }

    /// Queues a frame unless the send queue is full; for the reader task, which must not wait.
    pub fn try_send(&self, frame: &Frame) -> bool {
        let bytes = encode(frame);
        let Ok(budget) = (self.inner.queued_budget.clone())
            .try_acquire_many_owned(share(bytes.len(), MAX_QUEUED_BYTES))
        else {
            return false;
        };
        self.inner
            .out
            .try_send(Queued {
                bytes,
                _budget: budget,
            })
            .is_ok()
    }

    pub async fn send_event(
        &self,
        topic: &str,
        seq: Option<u64>,
        body: Vec<u8>,
    ) -> Result<(), CallError> {
        self.send(&Frame::Event(Event {
            topic: topic.to_owned(),
            seq,
            body,
        }))
        .await
    }

    /// Sends `GoAway` (best effort) and closes.
    pub fn go_away(&self, retry_after: Duration, reason: &str) {
        self.try_send(&Frame::GoAway(GoAway {
            retry_after_ms: retry_after.as_millis() as u64,
            reason: reason.to_owned(),
        }));
        self.close(reason);
    }

    /// Closes the channel: pending calls fail with `offline`, running handlers are cancelled,
    /// queued frames are flushed and the transport is closed. The first reason wins.
    pub fn close(&self, reason: &str) {
        {
            let mut r = self.inner.reason.lock().unwrap();
            if r.is_some() {
                return;
            }
            *r = Some(reason.to_owned());
        }
        self.inner.closed.cancel();
        let pending: Vec<Reply> = self
            .inner
            .pending
            .lock()
            .unwrap()
            .drain()
            .map(|(_, v)| v)
            .collect();
        for reply in pending {
            let _ = reply.send(Err(CallError::Offline(format!(
                "connection closed: {reason}"
            ))));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Waits until the channel is closed and returns why.
    pub async fn closed(&self) -> String {
        self.inner.closed.cancelled().await;
        self.close_reason()
    }

    /// Whether the peer ended the channel on purpose (it sent `GoAway`, or closed its
    /// transport cleanly), rather than going silent, failing or being closed by this side: a
    /// peer that says goodbye is gone, one that went quiet may be coming back.
    pub fn closed_by_peer(&self) -> bool {
        self.inner.peer_closed.load(Ordering::Acquire)
    }

    pub fn close_reason(&self) -> String {
        self.inner
            .reason
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "connection closed".into())
    }

    /// Requests from the peer running right now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    fn dispatch<H: Handler>(&self, frame: Frame, handler: &Arc<H>) -> Result<(), String> {
        let streams = self.protocol_version() >= STREAM_VERSION;
        match frame {
            Frame::Request(req) if req.stream_len.is_some() && !streams => {
                return Err(format!(
                    "a request with a stream on a protocol {} channel",
                    self.protocol_version()
                ));
            }
            Frame::Request(req) => self.start_request(req, handler),
            Frame::Response(Response { id, outcome }) => {
                let reply = self.inner.pending.lock().unwrap().remove(&id);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(match outcome {
                            Outcome::Ok(body) => Ok(body),
                            Outcome::Err(e) => Err(CallError::from_body(e)),
                        });
                    }
                    None => {
                        tracing::debug!(channel = %self.name(), id, "answer to a call nobody waits for")
                    }
                }
            }
            Frame::Cancel { id } => {
                if let Some(token) = self.inner.running.lock().unwrap().get(&id) {
                    token.cancel();
                }
            }
            Frame::Event(event) => handler.event(self, event),
            Frame::Ack { topic, seq } => handler.ack(&topic, seq),
            Frame::GoAway(go_away) => {
                handler.go_away(&go_away);
                self.inner.peer_closed.store(true, Ordering::Release);
                return Err(format!("peer is going away: {}", go_away.reason));
            }
            Frame::Hello(_) | Frame::Welcome(_) => {
                return Err("handshake frame on an established channel".into());
            }
            Frame::Chunk { .. } | Frame::Credit { .. } if !streams => {
                return Err(format!(
                    "a stream frame on a protocol {} channel",
                    self.protocol_version()
                ));
            }
            Frame::Chunk { id, offset, data } => {
                let incoming = self.inner.incoming.lock().unwrap().get(&id).cloned();
                match incoming {
                    Some(incoming) => incoming.push(id, offset, data)?,
                    // The call ended (answered, cancelled, refused): the rest is not wanted.
                    None => {
                        tracing::debug!(channel = %self.name(), id, "chunk of a stream nobody reads")
                    }
                }
            }
            Frame::Credit { id, bytes } => {
                if let Some(outgoing) = self.inner.outgoing.lock().unwrap().get(&id) {
                    outgoing.grant(bytes);
                }
            }
        }
        Ok(())
    }

    fn start_request<H: Handler>(&self, req: Request, handler: &Arc<H>) {
        let inner = &self.inner;
        let busy = |message: String| {
            let busy = ErrorBody {
                retryable: true,
                ..ErrorBody::new(code::BUSY, message)
            };
            self.try_send(&Frame::Response(Response {
                id: req.id,
                outcome: Outcome::Err(busy),
            }));
        };
        // Held until the answer is queued, where the queue's own budget takes over. A stream
        // holds at most its window in the buffer, counted from the start.
        let buffered = req
            .stream_len
            .map_or(0, |len| len.min(STREAM_WINDOW) as usize);
        let Ok(held) = (inner.request_budget.clone())
            .try_acquire_many_owned(share(req.body.len() + buffered, MAX_REQUEST_BYTES))
        else {
            return busy(format!(
                "{MAX_REQUEST_BYTES} bytes of requests already in flight"
            ));
        };
        if inner.in_flight.fetch_add(1, Ordering::AcqRel) >= inner.max_in_flight {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            return busy(format!(
                "{} requests already in flight",
                inner.max_in_flight
            ));
        }
        let cancel = inner.closed.child_token();
        inner.running.lock().unwrap().insert(req.id, cancel.clone());
        let deadline = Instant::now() + Duration::from_millis(req.deadline_ms).min(MAX_DEADLINE);
        // Registered before the next frame is read, so no chunk of it can be missed.
        let stream = req.stream_len.map(|len| {
            let shared = Arc::new(stream::Incoming::new(len));
            inner
                .incoming
                .lock()
                .unwrap()
                .insert(req.id, shared.clone());
            IncomingStream::new(req.id, len, shared, self.clone(), cancel.clone(), deadline)
        });
        let channel = self.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let id = req.id;
            let method = req.method.clone();
            let call = IncomingCall {
                id,
                method: req.method,
                body: req.body,
                idempotency_key: req.idempotency_key,
                deadline,
                cancel: cancel.clone(),
                channel: channel.clone(),
                stream,
            };
            let result = tokio::select! {
                r = handler.request(call) => Some(r),
                _ = cancel.cancelled() => None,
                _ = tokio::time::sleep_until(deadline) => Some(Err(ErrorBody::new(
                    code::TIMEOUT,
                    format!("`{method}` did not finish before its deadline"),
                ))),
            };
            channel.inner.running.lock().unwrap().remove(&id);
            channel.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            if let Some(result) = result {
                let outcome = match result {
                    Ok(body) => Outcome::Ok(body),
                    Err(e) => Outcome::Err(e),
                };
                let _ = channel
                    .send(&Frame::Response(Response { id, outcome }))
                    .await;
            }
            drop(held);
        });
    }
}

/// Removes a pending call and tells the peer to stop when the caller gives up early (timeout
/// or a dropped future); an answered call is no longer pending and sends nothing.
struct PendingGuard<'a> {
    channel: &'a Channel,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let was_pending = self
            .channel
            .inner
            .pending
            .lock()
            .unwrap()
            .remove(&self.id)
            .is_some();
        // Its stream, if any, stops with it.
        self.channel.inner.outgoing.lock().unwrap().remove(&self.id);
        if was_pending && !self.channel.is_closed() {
            self.channel.try_send(&Frame::Cancel { id: self.id });
        }
    }
}

async fn read_loop<R, H>(channel: Channel, mut stream: R, handler: Arc<H>, idle: Duration)
where
    R: Stream<Item = Result<Vec<u8>, String>> + Send + Unpin + 'static,
    H: Handler,
{
    let closed = channel.inner.closed.clone();
    let timer = tokio::time::sleep(idle);
    tokio::pin!(timer);
    let reason = loop {
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = &mut timer => break format!("nothing received for {idle:?}"),
            next = stream.next() => {
                let bytes = match next {
                    None => {
                        channel.inner.peer_closed.store(true, Ordering::Release);
                        break "peer closed the connection".to_owned();
                    }
                    Some(Err(e)) => break format!("transport error: {e}"),
                    Some(Ok(bytes)) => bytes,
                };
                timer.as_mut().reset(Instant::now() + idle);
                let frame = match decode(&bytes) {
                    Ok(frame) => frame,
                    Err(e) => break e.to_string(),
                };
                if let Err(reason) = channel.dispatch(frame, &handler) {
                    break reason;
                }
            }
        }
    };
    tracing::info!(channel = %channel.name(), ?reason, "channel closed");
    channel.close(&reason);
}

async fn write_loop<S>(channel: Channel, mut sink: S, mut rx: mpsc::Receiver<Queued>)
where
    S: Sink<Vec<u8>> + Send + Unpin + 'static,
    S::Error: Display + Send,
{
    let closed = channel.inner.closed.clone();
    loop {
        tokio::select! {
            biased;
            next = rx.recv() => {
                let Some(queued) = next else { break };
                let mut result = sink.feed(queued.bytes).await;
                while result.is_ok() {
                    match rx.try_recv() {
                        Ok(queued) => result = sink.feed(queued.bytes).await,
                        Err(_) => break,
                    }
                }
                if let Err(e) = result.and(sink.flush().await) {
                    channel.close(&format!("write failed: {e}"));
                    return;
                }
            }
            _ = closed.cancelled() => break,
        }
    }
    // Flush what was queued before the close (a GoAway, final answers), then close the
    // transport, without letting a stuck peer hold this task forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(queued) = rx.try_recv() {
            if sink.feed(queued.bytes).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    })
    .await;
}

/// The two ends of an in-memory transport, for single-server mode and tests.
pub type MemoryTransport = (
    tokio_util::sync::PollSender<Vec<u8>>,
    std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>> + Send>>,
);

/// Two connected in-memory transports.
pub fn memory_pair(capacity: usize) -> (MemoryTransport, MemoryTransport) {
    fn end(tx: mpsc::Sender<Vec<u8>>, rx: mpsc::Receiver<Vec<u8>>) -> MemoryTransport {
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok(b), rx))
        });
        (tokio_util::sync::PollSender::new(tx), Box::pin(stream))
    }
    let (a_tx, b_rx) = mpsc::channel(capacity);
    let (b_tx, a_rx) = mpsc::channel(capacity);
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

/// Encodes a typed answer; shorthand for handlers.
pub fn reply<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ErrorBody> {
    protocol::to_body(value)
}

#[cfg(test)]
mod tests;
