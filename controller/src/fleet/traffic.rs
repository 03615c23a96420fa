//! Applies an agent's traffic batches one after another and acknowledges each by sequence.
//! Batches of one server must not overtake each other: a later sequence committed first
//! would make the earlier one look like a duplicate.

use std::sync::Arc;

use tokio::sync::mpsc;
use xfleet_common::channel::Channel;
use xfleet_common::protocol::Frame;
use xfleet_common::traffic::{TrafficBatch, TOPIC};

use crate::store::Ingest;
use crate::Controller;

/// Batches waiting for the database; beyond this the agent re-sends what stays unacknowledged.
const QUEUE: usize = 256;

pub(super) type IngestQueue = mpsc::Sender<(TrafficBatch, Channel)>;

pub(super) fn spawn_ingest(ctl: Arc<Controller>, server_id: i64) -> IngestQueue {
    let (tx, mut rx) = mpsc::channel::<(TrafficBatch, Channel)>(QUEUE);
    tokio::spawn(async move {
        while let Some((batch, channel)) = rx.recv().await {
            match ctl.store.apply_traffic(server_id, &batch).await {
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
    tx
}
