//! One agent connection from upgrade to close: Hello/Welcome, then the channel.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, Stream, StreamExt};
use xfleet_common::channel::{Channel, ChannelConfig};
use xfleet_common::protocol::{
    self, decode, encode, negotiate, Frame, GoAway, Hello, Welcome, MAX_FRAME_BYTES,
};
use xfleet_common::time::now_ms;

use super::link::AgentLink;
use crate::store::servers::AgentFacts;
use crate::Controller;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the channel of `server_id` (already authenticated by its certificate) until it closes.
pub async fn run_session(ctl: Arc<Controller>, server_id: i64, socket: WebSocket, remote: String) {
    let (mut sink, stream) = socket.split();
    let mut stream = frames(stream);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(bytes))) => match decode(&bytes) {
            Ok(Frame::Hello(hello)) => hello,
            Ok(_) => return refuse(sink, server_id, "the first frame must be Hello").await,
            Err(e) => return refuse(sink, server_id, &e.to_string()).await,
        },
        Ok(_) => return,
        Err(_) => return refuse(sink, server_id, "no Hello within 10 s").await,
    };
    if hello.server_id != server_id {
        let reason = format!(
            "this certificate belongs to server {server_id}, not {}",
            hello.server_id
        );
        return refuse(sink, server_id, &reason).await;
    }
    let Some(version) = negotiate(&hello.protocol_versions) else {
        let reason = format!(
            "no common protocol version (agent speaks {:?}, controller {:?})",
            hello.protocol_versions,
            protocol::SUPPORTED_VERSIONS
        );
        return refuse(sink, server_id, &reason).await;
    };
    let heartbeat = Duration::from_secs(ctl.config.heartbeat_secs.max(1));
    let welcome = Frame::Welcome(Welcome {
        protocol_version: version,
        heartbeat_interval_ms: heartbeat.as_millis() as u64,
        max_frame_bytes: MAX_FRAME_BYTES as u64,
        max_in_flight: ctl.config.max_in_flight,
        server_time_ms: now_ms(),
    });
    if sink
        .send(Message::Binary(encode(&welcome).into()))
        .await
        .is_err()
    {
        return;
    }

    let sink = sink.with(|bytes: Vec<u8>| {
        futures_util::future::ready(Ok::<_, axum::Error>(Message::Binary(bytes.into())))
    });
    let channel = Channel::start(
        sink,
        stream,
        Arc::new(AgentLink::new(ctl.clone(), server_id)),
        ChannelConfig {
            name: format!("server {server_id}"),
            max_in_flight: ctl.config.max_in_flight as usize,
            send_queue: 32,
            idle_timeout: heartbeat * 3,
            first_request_id: 1,
        },
    );
    let conn_id = ctl
        .fleet
        .register(server_id, channel.clone(), remote.clone());
    let facts = facts_of(&hello);
    if let Err(e) = ctl.store.mark_online(server_id, &facts).await {
        tracing::warn!(server_id, error = %e, "could not mark server online");
    }
    tracing::info!(server_id, %remote, agent = %hello.agent_version, "agent connected");
    if let Err(e) = super::desired::repair(&ctl, server_id, hello.applied_revision).await {
        tracing::warn!(server_id, error = %e, "cannot check the agent's state revision");
    }
    ctl.tasks
        .start_worker(ctl.clone(), server_id, channel.clone());

    let reason = tokio::select! {
        reason = channel.closed() => reason,
        _ = ctl.shutdown.cancelled() => return,
    };
    if ctl.fleet.unregister(server_id, conn_id) {
        tracing::info!(server_id, %reason, "agent disconnected");
        super::schedule_offline_check(ctl, server_id, format!("agent disconnected: {reason}"));
    }
}

fn facts_of(hello: &Hello) -> AgentFacts {
    AgentFacts {
        version: hello.agent_version.clone(),
        core_version: hello.core_version.clone(),
        os_info: serde_json::json!({"os": hello.os, "arch": hello.arch}).to_string(),
        hostname: hello.hostname.clone(),
        applied_revision: hello.applied_revision as i64,
    }
}

/// Says why, then closes; the agent backs off and tries again later.
async fn refuse<S>(mut sink: S, server_id: i64, reason: &str)
where
    S: futures_util::Sink<Message> + Unpin,
{
    tracing::warn!(server_id, %reason, "agent handshake refused");
    let go_away = Frame::GoAway(GoAway {
        retry_after_ms: 60_000,
        reason: reason.to_owned(),
    });
    let _ = sink.send(Message::Binary(encode(&go_away).into())).await;
    let _ = sink.close().await;
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
