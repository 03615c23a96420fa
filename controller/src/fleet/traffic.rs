//! Applies an agent's traffic batches one after another and acknowledges each by sequence.
//! Batches of one server must not overtake each other: a later sequence committed first
//! would make the earlier one look like a duplicate.
//!
//! An agent speaks only for its own server: before a batch is applied, deltas for clients,
//! inbounds and outbounds that are not the server's are dropped, source addresses that are
//! not addresses are dropped, and each amount is capped at what a fast link could carry.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use xfleet_common::channel::Channel;
use xfleet_common::protocol::Frame;
use xfleet_common::traffic::{Delta, TrafficBatch, TOPIC};

use crate::store::{Ingest, TrafficScope};
use crate::Controller;

/// Batches waiting for the database, and their encoded bytes; beyond either the connection
/// is closed and the agent re-sends what stays unacknowledged. A fleet-wide round's batch is
/// about 100 kB, so the byte bound leaves room for a long replay while keeping what a peer
/// that never reads its acknowledgements can make the controller hold.
const QUEUE: usize = 256;
const QUEUE_BYTES: usize = 32 << 20;

/// Bytes per millisecond of a 100 Gbit/s link (12.5 GB/s), faster than any VPN host's port:
/// no real interval carries more.
const MAX_BYTES_PER_MS: u64 = 12_500_000;
/// Added to the interval since the previous batch: the first batch of a connection has no
/// previous one, an agent's clock may step, and a replayed batch may cover a longer poll.
/// An hour at 100 Gbit/s is 45 TB, so real traffic is never cut.
const RATE_SLACK_MS: u64 = 3_600_000;
/// Outbound tags come from the agent's own core template, which the controller does not
/// know; new ones are accepted up to this many per server, each at most this long.
const MAX_OUTBOUNDS: usize = 256;
const MAX_TAG_LEN: usize = 256;
/// Source addresses kept per client and batch; a real client has a handful.
const MAX_IPS_PER_CLIENT: usize = 64;
/// Names quoted in the log line about a screened batch.
const LOGGED_NAMES: usize = 5;

type Queued = (TrafficBatch, Channel, OwnedSemaphorePermit);

/// The way into a server's ingest task.
pub(super) struct IngestQueue {
    tx: mpsc::Sender<Queued>,
    bytes: Arc<Semaphore>,
}

impl IngestQueue {
    /// Queues a batch that arrived as `encoded_len` bytes; false when the queue is full.
    pub(super) fn try_push(
        &self,
        batch: TrafficBatch,
        encoded_len: usize,
        channel: &Channel,
    ) -> bool {
        let share = encoded_len.clamp(1, QUEUE_BYTES) as u32;
        match self.bytes.clone().try_acquire_many_owned(share) {
            Ok(permit) => self.tx.try_send((batch, channel.clone(), permit)).is_ok(),
            Err(_) => false,
        }
    }
}

pub(super) fn spawn_ingest(ctl: Arc<Controller>, server_id: i64) -> IngestQueue {
    let (tx, mut rx) = mpsc::channel::<Queued>(QUEUE);
    let queue = IngestQueue {
        tx,
        bytes: Arc::new(Semaphore::new(QUEUE_BYTES)),
    };
    tokio::spawn(async move {
        let mut scope: Option<TrafficScope> = None;
        let mut previous_at_ms: Option<i64> = None;
        let mut warned = false;
        while let Some((mut batch, channel, _held)) = rx.recv().await {
            let started = std::time::Instant::now();
            let screened = match screen_batch(
                &ctl,
                server_id,
                &mut scope,
                &mut batch,
                previous_at_ms,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(server_id, seq = batch.seq, error = %e, "traffic batch not checked");
                    channel.close("traffic batch could not be checked");
                    return;
                }
            };
            previous_at_ms = Some(batch.at_ms);
            if !screened.is_clean() {
                // Once per connection at warn, so a misbehaving agent cannot flood the log.
                if warned {
                    tracing::debug!(
                        server_id,
                        seq = batch.seq,
                        ?screened,
                        "traffic batch screened"
                    );
                } else {
                    tracing::warn!(server_id, seq = batch.seq, ?screened, "traffic batch carried names, addresses or amounts not of this server; dropped");
                    warned = true;
                }
            }
            let applied = ctl.store.apply_traffic(server_id, &batch).await;
            crate::telemetry::global().ingest_round(started.elapsed());
            match applied {
                Ok(Ingest::Applied | Ingest::Duplicate) => {
                    let _ = channel
                        .send(&Frame::Ack {
                            topic: TOPIC.to_owned(),
                            seq: batch.seq,
                        })
                        .await;
                }
                Ok(Ingest::Gap { expected }) => {
                    tracing::warn!(
                        server_id,
                        seq = batch.seq,
                        expected,
                        "traffic batches missing; asking for all again"
                    );
                    channel.close("traffic batches arrived out of order");
                    return;
                }
                // Later batches must not be applied past this one: drop the connection so the
                // agent resends everything unacknowledged, in order, when it reconnects.
                Err(e) => {
                    tracing::warn!(server_id, seq = batch.seq, error = %e, "traffic batch not applied");
                    channel.close("traffic batch could not be stored");
                    return;
                }
            }
        }
    });
    queue
}

/// What [`screen`] took out of a batch.
#[derive(Debug, Default)]
pub(super) struct Screened {
    /// Names not of this server, the first few of them (`dropped` counts all).
    names: Vec<String>,
    dropped: usize,
    bad_addresses: usize,
    capped: usize,
}

impl Screened {
    fn is_clean(&self) -> bool {
        self.dropped == 0 && self.bad_addresses == 0 && self.capped == 0
    }

    fn drop_name(&mut self, name: &str) {
        self.dropped += 1;
        if self.names.len() < LOGGED_NAMES {
            self.names.push(crate::util::clip(name, 64));
        }
    }
}

/// Screens `batch` against the server's scope, reading the scope again when the batch names
/// something the cached one lacks (a client attached since, a new inbound).
async fn screen_batch(
    ctl: &Controller,
    server_id: i64,
    scope: &mut Option<TrafficScope>,
    batch: &mut TrafficBatch,
    previous_at_ms: Option<i64>,
) -> Result<Screened, crate::store::StoreError> {
    let stale = match scope {
        None => true,
        Some(s) => {
            batch.users.iter().any(|d| !s.emails.contains(&d.name))
                || batch
                    .inbounds
                    .iter()
                    .any(|d| !s.inbound_tags.contains(&d.name))
                || batch.online.iter().any(|e| !s.emails.contains(e))
                || batch.ips.iter().any(|c| !s.emails.contains(&c.email))
        }
    };
    if stale {
        *scope = Some(ctl.store.traffic_scope(server_id).await?);
    }
    let scope = scope.as_mut().expect("read above");
    Ok(screen(batch, scope, previous_at_ms))
}

/// Keeps what the server's agent may report: see the module's doc. New outbound tags are
/// added to `scope` as they are accepted.
pub(super) fn screen(
    batch: &mut TrafficBatch,
    scope: &mut TrafficScope,
    previous_at_ms: Option<i64>,
) -> Screened {
    let mut out = Screened::default();
    let elapsed = previous_at_ms.map_or(0, |p| batch.at_ms.saturating_sub(p).max(0) as u64);
    let most = elapsed
        .saturating_add(RATE_SLACK_MS)
        .saturating_mul(MAX_BYTES_PER_MS);

    let mut keep = |deltas: &mut Vec<Delta>, allowed: &mut dyn FnMut(&str) -> bool| {
        deltas.retain(|d| {
            let ok = allowed(&d.name);
            if !ok {
                out.drop_name(&d.name);
            }
            ok
        });
        for d in deltas.iter_mut() {
            if d.up > most || d.down > most {
                out.capped += 1;
                d.up = d.up.min(most);
                d.down = d.down.min(most);
            }
        }
    };
    keep(&mut batch.users, &mut |name| scope.emails.contains(name));
    keep(&mut batch.inbounds, &mut |name| {
        scope.inbound_tags.contains(name)
    });
    let outbound_tags = &mut scope.outbound_tags;
    keep(&mut batch.outbounds, &mut |name| {
        if outbound_tags.contains(name) {
            return true;
        }
        let fits =
            outbound_tags.len() < MAX_OUTBOUNDS && !name.is_empty() && name.len() <= MAX_TAG_LEN;
        if fits {
            outbound_tags.insert(name.to_owned());
        }
        fits
    });

    batch.online.retain(|email| {
        let ok = scope.emails.contains(email);
        if !ok {
            out.drop_name(email);
        }
        ok
    });
    batch.ips.retain(|c| {
        let ok = scope.emails.contains(&c.email);
        if !ok {
            out.drop_name(&c.email);
        }
        ok
    });
    for client in &mut batch.ips {
        let before = client.ips.len();
        let mut seen = HashSet::new();
        client.ips = client
            .ips
            .iter()
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_string())
            .filter(|ip| seen.insert(ip.clone()))
            .take(MAX_IPS_PER_CLIENT)
            .collect();
        out.bad_addresses += before - client.ips.len().min(before);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfleet_common::traffic::ClientIps;

    fn delta(name: &str, up: u64, down: u64) -> Delta {
        Delta {
            name: name.into(),
            up,
            down,
        }
    }

    fn scope() -> TrafficScope {
        TrafficScope {
            emails: ["alice".to_owned()].into(),
            inbound_tags: ["in-1".to_owned()].into(),
            outbound_tags: ["direct".to_owned()].into(),
        }
    }

    /// An agent's batch keeps its own clients, inbounds and outbounds exactly and loses the
    /// names of other servers.
    #[test]
    fn only_the_servers_own_names_pass() {
        let mut batch = TrafficBatch {
            at_ms: 10_000,
            users: vec![delta("alice", 5, 7), delta("bob", 6 << 30, 0)],
            inbounds: vec![delta("in-1", 5, 7), delta("in-elsewhere", 1, 1)],
            outbounds: vec![delta("direct", 3, 4), delta("blocked", 1, 0)],
            online: vec!["alice".into(), "bob".into()],
            ips: vec![
                ClientIps {
                    email: "alice".into(),
                    ips: vec![
                        "10.0.0.1".into(),
                        "<script>x</script>".into(),
                        "2001:db8::1".into(),
                        "10.0.0.1".into(),
                    ],
                },
                ClientIps {
                    email: "bob".into(),
                    ips: vec!["10.0.0.2".into()],
                },
            ],
            ..Default::default()
        };
        let mut scope = scope();
        let screened = screen(&mut batch, &mut scope, Some(5_000));
        assert_eq!(batch.users, vec![delta("alice", 5, 7)]);
        assert_eq!(batch.inbounds, vec![delta("in-1", 5, 7)]);
        // Outbounds are the agent's own template's: a new tag is one of its own.
        assert_eq!(batch.outbounds.len(), 2);
        assert_eq!(batch.online, vec!["alice".to_owned()]);
        assert_eq!(batch.ips.len(), 1);
        assert_eq!(batch.ips[0].ips, vec!["10.0.0.1", "2001:db8::1"]);
        assert_eq!(screened.dropped, 4, "{screened:?}");
        assert_eq!(screened.bad_addresses, 2, "{screened:?}");
        assert_eq!(screened.capped, 0);
    }

    /// 2^64-1 bytes in a few seconds is capped at what 100 Gbit/s carries; real amounts are
    /// untouched.
    #[test]
    fn impossible_amounts_are_capped() {
        let mut batch = TrafficBatch {
            at_ms: 10_000,
            users: vec![delta("alice", u64::MAX, 1_000_000_000)],
            ..Default::default()
        };
        let screened = screen(&mut batch, &mut scope(), Some(5_000));
        let most = (5_000 + RATE_SLACK_MS) * MAX_BYTES_PER_MS;
        assert_eq!(batch.users, vec![delta("alice", most, 1_000_000_000)]);
        assert_eq!(screened.capped, 1);
    }

    struct Mute;

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

    /// Batches waiting for the database are bounded in bytes as well as in number: an agent
    /// that floods large batches while they wait is refused (its connection is then closed),
    /// and room comes back as batches are taken.
    #[tokio::test]
    async fn the_ingest_queue_is_bounded_in_bytes() {
        let ((sink, stream), _peer) = xfleet_common::channel::memory_pair(8);
        let channel = Channel::start(
            sink,
            stream,
            Arc::new(Mute),
            xfleet_common::channel::ChannelConfig {
                name: "test".into(),
                max_in_flight: 8,
                send_queue: 8,
                idle_timeout: std::time::Duration::from_secs(30),
                first_request_id: 1,
                protocol_version: xfleet_common::protocol::PROTOCOL_VERSION,
            },
        );
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let queue = IngestQueue {
            tx,
            bytes: Arc::new(Semaphore::new(QUEUE_BYTES)),
        };
        let mib = 1 << 20;
        let fits = QUEUE_BYTES / mib;
        for _ in 0..fits {
            assert!(queue.try_push(TrafficBatch::default(), mib, &channel));
        }
        assert!(!queue.try_push(TrafficBatch::default(), mib, &channel));
        drop(rx.recv().await.unwrap());
        assert!(queue.try_push(TrafficBatch::default(), mib, &channel));
    }

    /// An agent cannot grow a server's outbound list without bound.
    #[test]
    fn outbound_tags_are_bounded() {
        let mut scope = scope();
        let mut batch = TrafficBatch {
            outbounds: (0..1000).map(|i| delta(&format!("o{i}"), 1, 1)).collect(),
            ..Default::default()
        };
        screen(&mut batch, &mut scope, None);
        assert_eq!(batch.outbounds.len(), MAX_OUTBOUNDS - 1);
        assert_eq!(scope.outbound_tags.len(), MAX_OUTBOUNDS);
    }
}
