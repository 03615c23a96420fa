//! One agent connection from its first frame to close: Hello/Welcome, then the channel.
//! The transport is the gateway's WebSocket for a remote agent, or the in-memory pipe of the
//! local server; everything past the bytes is the same.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use xfleet_common::channel::{Channel, ChannelConfig};
use xfleet_common::protocol::{
    self, decode, encode, negotiate, Frame, GoAway, Hello, Welcome, MAX_FRAME_BYTES,
};
use xfleet_common::time::now_ms;

use super::link::AgentLink;
use crate::store::servers::AgentFacts;
use crate::Controller;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the channel of `server_id` (already authenticated: by its certificate, or as the
/// local server) until it closes. `sink` and `stream` carry whole frames.
pub async fn run_session<S, R>(
    ctl: Arc<Controller>,
    server_id: i64,
    mut sink: S,
    mut stream: R,
    remote: String,
) where
    S: Sink<Vec<u8>> + Send + Unpin + 'static,
    S::Error: Display + Send,
    R: Stream<Item = Result<Vec<u8>, String>> + Send + Unpin + 'static,
{
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
    let controllers = match ctl.cluster.is_shared() {
        true => ctl.cluster.gateways(&ctl.store).await,
        false => Vec::new(),
    };
    let welcome = Frame::Welcome(Welcome {
        controllers,
        protocol_version: version,
        heartbeat_interval_ms: heartbeat.as_millis() as u64,
        max_frame_bytes: MAX_FRAME_BYTES as u64,
        max_in_flight: ctl.config.max_in_flight,
        server_time_ms: now_ms(),
    });
    if sink.send(encode(&welcome)).await.is_err() {
        return;
    }

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
            protocol_version: version,
        },
    );
    // The agent's facts (versions, applied revision) are stored before the channel is listed,
    // so a server never shows as connected without them.
    let facts = facts_of(&hello);
    if let Err(e) = ctl.store.mark_online(server_id, &facts).await {
        tracing::warn!(server_id, error = %e, "could not mark server online");
    }
    take_hold(&ctl, server_id).await;
    let conn_id = ctl
        .fleet
        .register(server_id, channel.clone(), remote.clone());
    super::rollout::on_hello(&ctl, server_id, &hello).await;
    tracing::info!(server_id, %remote, agent = ?hello.agent_version, "agent connected");
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
        tracing::info!(server_id, ?reason, "agent disconnected");
        let reason = format!("agent disconnected: {reason}");
        // The grace period is for a connection lost in silence, which may come back; an
        // agent that closed its connection (stopped, restarted) is offline now.
        if channel.closed_by_peer() {
            super::mark_offline_now(&ctl, server_id, &reason).await;
        } else {
            super::schedule_offline_check(ctl, server_id, reason);
        }
    }
}

/// Records that this controller holds the session. Tasks a connection on another controller
/// left running are delivered again: that controller can no longer put them back (it died,
/// or its connection is gone), and the agent answers a repeated task from its result cache.
async fn take_hold(ctl: &Controller, server_id: i64) {
    match ctl.store.take_hold(server_id, &ctl.cluster.id).await {
        Ok(Some(before)) if before != ctl.cluster.id => {
            match ctl.store.requeue_running_tasks_of(server_id).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(server_id, count = n, from = %before, "tasks left running by the agent's last controller are queued again")
                }
                Err(e) => {
                    tracing::warn!(server_id, error = %e, "cannot queue the agent's running tasks again")
                }
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(server_id, error = %e, "could not record who holds the server"),
    }
}

/// What the server row keeps of an agent's Hello: each text cut to a length no real one
/// reaches (a DNS name is at most 253 characters), at most [`MAX_PUBLIC_ADDRESSES`] addresses,
/// so a host holding a valid certificate cannot fill the database through its Hello.
fn facts_of(hello: &Hello) -> AgentFacts {
    use crate::util::clip;
    AgentFacts {
        version: clip(&hello.agent_version, MAX_VERSION),
        core_version: hello.core_version.as_deref().map(|v| clip(v, MAX_VERSION)),
        core_flavour: hello.core_flavour.as_deref().map(|f| clip(f, MAX_VERSION)),
        os_info: serde_json::json!({
            "os": clip(&hello.os, MAX_VERSION),
            "arch": clip(&hello.arch, MAX_VERSION),
        })
        .to_string(),
        hostname: clip(&hello.hostname, MAX_HOSTNAME),
        applied_revision: hello.applied_revision as i64,
        public_addresses: hello
            .public_addresses
            .iter()
            .take(MAX_PUBLIC_ADDRESSES)
            .map(|a| clip(a, MAX_HOSTNAME))
            .collect(),
    }
}

/// Longest host name kept (a DNS name's limit).
pub(crate) const MAX_HOSTNAME: usize = 253;
/// Longest version, flavour, OS or architecture text kept.
pub(crate) const MAX_VERSION: usize = 64;
const MAX_PUBLIC_ADDRESSES: usize = 16;

/// Says why, then closes; the agent backs off and tries again later.
async fn refuse<S>(sink: S, server_id: i64, reason: &str)
where
    S: Sink<Vec<u8>> + Unpin,
{
    refuse_with(sink, server_id, reason, Duration::from_secs(60)).await;
}

/// [`refuse`] with the wait the agent is asked for.
pub(crate) async fn refuse_with<S>(mut sink: S, server_id: i64, reason: &str, retry: Duration)
where
    S: Sink<Vec<u8>> + Unpin,
{
    tracing::warn!(server_id, ?reason, "agent handshake refused");
    let go_away = Frame::GoAway(GoAway {
        retry_after_ms: retry.as_millis() as u64,
        reason: reason.to_owned(),
    });
    let _ = sink.send(encode(&go_away)).await;
    let _ = sink.close().await;
}
