//! Streams (protocol 2): the bytes that follow a request as `Chunk` frames, paced by
//! `Credit` frames so the receiver never holds more than [`STREAM_WINDOW`] of one stream.
//!
//! The sender starts with [`STREAM_WINDOW`] of credit and sends chunks through the ordinary
//! writer queue, so heartbeats and other calls go out between them. The reader task only
//! appends a received chunk to the stream's buffer (it never waits); the handler takes chunks
//! from there with [`IncomingStream::next_chunk`], and each time half the window has been read
//! the receiver grants that much more.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CallError, Channel};
use crate::protocol::{Frame, MAX_CHUNK_BYTES, STREAM_WINDOW};

/// Why the bytes of a stream stopped coming.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The caller sent `Cancel` (it gave up, or its own deadline passed).
    #[error("the caller cancelled the call before its stream was read")]
    Cancelled,
    /// The call's deadline passed while the stream was being read.
    #[error("the call's deadline passed before its stream was read")]
    DeadlinePassed,
    #[error("connection closed: {0}")]
    Closed(String),
}

/// The sender's side of one stream: the credit the receiver has given so far.
pub(super) struct Outgoing {
    /// Bytes from the start of the stream the sender may have sent.
    granted: AtomicU64,
    more: Notify,
}

impl Outgoing {
    pub(super) fn new() -> Self {
        Self {
            granted: AtomicU64::new(STREAM_WINDOW),
            more: Notify::new(),
        }
    }

    /// Called on the reader task for a `Credit` frame.
    pub(super) fn grant(&self, bytes: u64) {
        let _ = self
            .granted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |g| {
                Some(g.saturating_add(bytes))
            });
        self.more.notify_one();
    }

    /// Waits until the receiver allows bytes beyond `offset`; returns how far it allows.
    async fn beyond(&self, offset: u64, channel: &Channel) -> Result<u64, CallError> {
        loop {
            let granted = self.granted.load(Ordering::Acquire);
            if granted > offset {
                return Ok(granted);
            }
            tokio::select! {
                _ = self.more.notified() => {}
                _ = channel.inner.closed.cancelled() => {
                    return Err(CallError::Offline(channel.close_reason()));
                }
            }
        }
    }
}

/// A rate in bytes per second shared by the streams that take from it: bulk transfers
/// together stay under it, so the sender's CPU and link stay free for calls and heartbeats
/// however many run at once.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: u64,
    /// When the bytes taken so far have been paid for at the rate.
    paid_until: Mutex<Instant>,
}

impl Pacer {
    /// At most `bytes_per_sec` (at least 1 byte per second).
    pub fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1),
            paid_until: Mutex::new(Instant::now()),
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Waits until `bytes` more may be sent. Time nobody used is not saved up beyond
    /// [`Pacer::BURST`], so an idle pacer does not allow a flood after it.
    pub async fn take(&self, bytes: u64) {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let start = {
            let mut paid = self.paid_until.lock().unwrap();
            let earliest = Instant::now().checked_sub(Self::BURST).unwrap_or(*paid);
            let start = (*paid).max(earliest);
            *paid = start + cost;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// Unused time a pacer keeps.
    pub const BURST: Duration = Duration::from_millis(10);
}

/// Sends `data` as the stream of call `id`, within the credit the receiver gives and, with a
/// pacer, its rate.
pub(super) async fn send(
    channel: &Channel,
    id: u64,
    data: &Bytes,
    credit: &Outgoing,
    pacer: Option<&Pacer>,
) -> Result<(), CallError> {
    let len = data.len() as u64;
    let mut offset = 0;
    while offset < len {
        let allowed = credit.beyond(offset, channel).await?;
        let end = allowed.min(len).min(offset + MAX_CHUNK_BYTES as u64);
        if let Some(pacer) = pacer {
            pacer.take(end - offset).await;
        }
        channel
            .send(&Frame::Chunk {
                id,
                offset,
                data: data[offset as usize..end as usize].to_vec(),
            })
            .await?;
        offset = end;
    }
    Ok(())
}

/// The receiver's side of one stream, shared by the reader task and the handler.
pub(super) struct Incoming {
    buffer: Mutex<Buffer>,
    arrived: Notify,
}

struct Buffer {
    chunks: VecDeque<Bytes>,
    /// Bytes received so far: the offset the next chunk must have.
    received: u64,
    /// Bytes from the start the sender may send (its window plus credit granted).
    granted: u64,
    len: u64,
}

impl Incoming {
    pub(super) fn new(len: u64) -> Self {
        Self {
            buffer: Mutex::new(Buffer {
                chunks: VecDeque::new(),
                received: 0,
                granted: STREAM_WINDOW,
                len,
            }),
            arrived: Notify::new(),
        }
    }

    /// Called on the reader task for a `Chunk` frame; an error is why the peer broke the
    /// protocol, and closes the channel.
    pub(super) fn push(&self, id: u64, offset: u64, data: Vec<u8>) -> Result<(), String> {
        let mut b = self.buffer.lock().unwrap();
        let size = data.len() as u64;
        if data.is_empty() || data.len() > MAX_CHUNK_BYTES {
            return Err(format!(
                "stream of call {id}: chunk of {size} bytes (1 to {MAX_CHUNK_BYTES} allowed)"
            ));
        }
        if offset != b.received {
            return Err(format!(
                "stream of call {id}: chunk at offset {offset}, expected {}",
                b.received
            ));
        }
        let end = offset + size;
        if end > b.len {
            return Err(format!(
                "stream of call {id}: chunk ends at {end}, beyond the announced length {}",
                b.len
            ));
        }
        if end > b.granted {
            return Err(format!(
                "stream of call {id}: peer sent up to byte {end} beyond the credit it was given ({} bytes)",
                b.granted
            ));
        }
        b.received = end;
        b.chunks.push_back(Bytes::from(data));
        drop(b);
        self.arrived.notify_one();
        Ok(())
    }
}

/// The bytes that follow a request, read in order by its handler.
pub struct IncomingStream {
    id: u64,
    len: u64,
    read: u64,
    shared: Arc<Incoming>,
    channel: Channel,
    cancel: CancellationToken,
    deadline: Instant,
}

impl std::fmt::Debug for IncomingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingStream")
            .field("id", &self.id)
            .field("len", &self.len)
            .field("read", &self.read)
            .finish()
    }
}

impl IncomingStream {
    pub(super) fn new(
        id: u64,
        len: u64,
        shared: Arc<Incoming>,
        channel: Channel,
        cancel: CancellationToken,
        deadline: Instant,
    ) -> Self {
        Self {
            id,
            len,
            read: 0,
            shared,
            channel,
            cancel,
            deadline,
        }
    }

    /// Length of the whole stream, as the caller announced it.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next bytes in order, `None` once all `len` bytes were read. Fails when the call is
    /// cancelled, its deadline passes or the channel closes.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StreamError> {
        loop {
            if self.cancel.is_cancelled() {
                return Err(self.stopped());
            }
            if self.read == self.len {
                return Ok(None);
            }
            let chunk = self.shared.buffer.lock().unwrap().chunks.pop_front();
            if let Some(chunk) = chunk {
                self.read += chunk.len() as u64;
                self.grant().await?;
                return Ok(Some(chunk));
            }
            tokio::select! {
                _ = self.shared.arrived.notified() => {}
                _ = self.cancel.cancelled() => return Err(self.stopped()),
                _ = tokio::time::sleep_until(self.deadline) => {
                    return Err(StreamError::DeadlinePassed)
                }
            }
        }
    }

    /// Reads the rest of the stream into memory; for callers that take small streams whole
    /// (the length was announced, so check it before calling this).
    pub async fn read_all(&mut self) -> Result<Vec<u8>, StreamError> {
        let mut all = Vec::with_capacity((self.len - self.read) as usize);
        while let Some(chunk) = self.next_chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    /// Grants the sender more once half the window has been read, or the rest of the stream
    /// when that is less (otherwise a tail shorter than half a window is never granted).
    async fn grant(&mut self) -> Result<(), StreamError> {
        let more = {
            let mut b = self.shared.buffer.lock().unwrap();
            let target = (self.read + STREAM_WINDOW).min(self.len);
            let small = target.saturating_sub(b.granted) < STREAM_WINDOW / 2;
            if b.granted >= self.len || (small && target < self.len) {
                return Ok(());
            }
            let more = target - b.granted;
            b.granted = target;
            more
        };
        self.channel
            .send(&Frame::Credit {
                id: self.id,
                bytes: more,
            })
            .await
            .map_err(|_| StreamError::Closed(self.channel.close_reason()))
    }

    fn stopped(&self) -> StreamError {
        if self.channel.is_closed() {
            StreamError::Closed(self.channel.close_reason())
        } else {
            StreamError::Cancelled
        }
    }
}

impl Drop for IncomingStream {
    /// Chunks still coming are dropped on arrival once nobody reads them.
    fn drop(&mut self) {
        self.channel.inner.incoming.lock().unwrap().remove(&self.id);
    }
}
