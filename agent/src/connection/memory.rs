//! The in-memory transport of single-server mode: the agent runs inside the controller's
//! process and exchanges the same frames as over the WebSocket, through two queues.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Sink;
use tokio_util::sync::{CancellationToken, DropGuard};
use xfleet_common::channel::{Handler, MemoryTransport};
use xfleet_common::protocol::Hello;

use super::{open, Connection, DialError};

/// Passes frames through; dropping it (when the channel's writer ends) fires the guard, as
/// the WebSocket sink does, so a shutdown can wait for the close to go out.
struct GuardedSink<S> {
    inner: S,
    _closed: DropGuard,
}

impl<S: Sink<Vec<u8>> + Unpin> Sink<Vec<u8>> for GuardedSink<S> {
    type Error = S::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Vec<u8>) -> Result<(), S::Error> {
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// `Hello`/`Welcome` over one end of an in-memory pair, then the channel.
pub(crate) async fn open_memory<H: Handler>(
    transport: MemoryTransport,
    hello: Hello,
    handler: Arc<H>,
) -> Result<Connection, DialError> {
    let (sink, stream) = transport;
    let transport_closed = CancellationToken::new();
    let sink = GuardedSink {
        inner: sink,
        _closed: transport_closed.clone().drop_guard(),
    };
    open(sink, stream, transport_closed, hello, handler).await
}
