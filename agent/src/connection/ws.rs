//! Adapts a WebSocket to what `Channel::start` wants: a sink of frame bytes and a stream of
//! frame bytes, one binary message per frame.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::DropGuard;

/// Sends each frame as one binary message. Dropping it (when the channel's writer ends, after
/// the close frame went out) fires the guard, so a shutdown can wait for a clean close.
pub struct FrameSink<S> {
    inner: S,
    _closed: DropGuard,
}

impl<S> FrameSink<S> {
    pub fn new(inner: S, closed: DropGuard) -> Self {
        Self {
            inner,
            _closed: closed,
        }
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin> Sink<Vec<u8>> for FrameSink<S> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Vec<u8>) -> Result<(), WsError> {
        Pin::new(&mut self.inner).start_send(Message::binary(item))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Yields the payload of each binary message. A text message is a protocol error; a close
/// ends the stream; pings and pongs are tungstenite's business (it answers pings itself).
pub struct FrameStream<S> {
    inner: S,
    ended: bool,
}

impl<S> FrameStream<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            ended: false,
        }
    }
}

impl<S: Stream<Item = Result<Message, WsError>> + Unpin> Stream for FrameStream<S> {
    type Item = Result<Vec<u8>, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        loop {
            let item = match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                None => None,
                Some(Ok(Message::Binary(bytes))) => Some(Ok(bytes.into())),
                Some(Ok(Message::Text(_))) => {
                    Some(Err("text message on the binary channel".to_owned()))
                }
                Some(Ok(Message::Close(_))) => None,
                Some(Ok(_)) => continue,
                Some(Err(e)) => Some(Err(super::describe_ws(&e))),
            };
            if item.is_none() {
                self.ended = true;
            }
            return Poll::Ready(item);
        }
    }
}
