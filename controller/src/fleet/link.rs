//! What the controller answers on an agent's channel.

use std::sync::Arc;

use xfleet_common::channel::{reply, Channel, Handler, IncomingCall};
use xfleet_common::methods::{self, CertRenewRequest, Heartbeat};
use xfleet_common::protocol::{from_body, topic, ErrorBody, Event, Frame};
use xfleet_common::state::{InboundFailures, FAILURES_TOPIC};
use xfleet_common::traffic::{self, TrafficBatch};

use super::traffic::{spawn_ingest, IngestQueue};
use crate::Controller;

/// More listening sockets than any real VPN host has; the rest of a longer list is dropped.
const MAX_LISTENING: usize = 4096;

pub(super) struct AgentLink {
    ctl: Arc<Controller>,
    server_id: i64,
    /// Started with the first traffic batch: an agent without a core never needs it, and an
    /// idle connection should cost as little as possible.
    traffic: std::sync::OnceLock<IngestQueue>,
}

impl AgentLink {
    pub(super) fn new(ctl: Arc<Controller>, server_id: i64) -> Self {
        Self {
            ctl,
            server_id,
            traffic: std::sync::OnceLock::new(),
        }
    }

    async fn renew(&self, body: &[u8]) -> Result<Vec<u8>, ErrorBody> {
        let req: CertRenewRequest = from_body(body)?;
        let lifetime = std::time::Duration::from_secs(self.ctl.config.cert_lifetime_secs);
        let issued = (self.ctl.ca)
            .issue_recorded(&self.ctl.store, self.server_id, &req.csr_pem, lifetime)
            .await
            .map_err(|e| ErrorBody::invalid(e.to_string()))?;
        tracing::info!(server_id = self.server_id, serial = %issued.serial, "certificate renewed");
        reply(&issued)
    }
}

impl Handler for AgentLink {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            methods::controller::CERT_RENEW => self.renew(&call.body).await,
            // Lets an agent measure the channel's round trip.
            methods::controller::ECHO => Ok(call.body),
            other => Err(ErrorBody::unsupported(other)),
        }
    }

    fn event(&self, channel: &Channel, event: Event) {
        if event.topic == topic::HEARTBEAT {
            let mut heartbeat: Option<Heartbeat> = from_body(&event.body).ok();
            // An agent's word on its host's sockets is kept, and stored, only up to a bound.
            if let Some(h) = heartbeat.as_mut() {
                h.listening.truncate(MAX_LISTENING);
            }
            let listening = heartbeat.as_ref().map(|h| h.listening.clone());
            if self.ctl.fleet.heartbeat(self.server_id, heartbeat) {
                // Kept for when the server is offline; written only when it changes.
                let (ctl, server_id) = (self.ctl.clone(), self.server_id);
                let listening = listening.unwrap_or_default();
                tokio::spawn(async move {
                    if let Err(e) = ctl.store.set_listening(server_id, &listening).await {
                        tracing::warn!(server_id, error = %e, "cannot record the host's listening sockets");
                    }
                });
            }
            // The answer is the agent's proof that the controller is alive; an idle channel
            // carries nothing else.
            channel.try_send(&Frame::Ack {
                topic: topic::HEARTBEAT.to_owned(),
                seq: event.seq.unwrap_or(0),
            });
        } else if event.topic == traffic::TOPIC {
            match from_body::<TrafficBatch>(&event.body) {
                Ok(batch) => {
                    // Skipping one batch and applying later ones would lose it (acks are
                    // cumulative), so a full queue ends the connection; the agent resends.
                    let queue = self
                        .traffic
                        .get_or_init(|| spawn_ingest(self.ctl.clone(), self.server_id));
                    if queue.try_send((batch, channel.clone())).is_err() {
                        channel.close("traffic queue full");
                    }
                }
                Err(e) => {
                    tracing::warn!(server_id = self.server_id, error = %e.message, "bad traffic batch")
                }
            }
        } else if event.topic == "core.state" {
            match from_body::<xfleet_common::methods::CoreState>(&event.body) {
                Ok(state) => {
                    tracing::info!(server_id = self.server_id, ?state, "core state");
                    self.ctl.fleet.core_state(self.server_id, state);
                }
                Err(e) => {
                    tracing::warn!(server_id = self.server_id, error = %e.message, "bad core state")
                }
            }
        } else if event.topic == FAILURES_TOPIC {
            match from_body::<InboundFailures>(&event.body) {
                Ok(report) => {
                    let (ctl, server_id) = (self.ctl.clone(), self.server_id);
                    tokio::spawn(async move {
                        let revision = report.revision as i64;
                        if let Err(e) = ctl
                            .store
                            .record_inbound_failures(server_id, revision, &report.failed)
                            .await
                        {
                            tracing::warn!(server_id, error = %e, "cannot record failed inbounds");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(server_id = self.server_id, error = %e.message, "bad failed inbounds report")
                }
            }
        } else if event.topic == "enforcement" {
            // Clients the agent cut on its own (expiry or quota) while it was alone.
            let cuts: serde_json::Value = xfleet_common::protocol::body_to_json(&event.body);
            tracing::info!(server_id = self.server_id, %cuts, "agent cut clients locally");
            let ctl = self.ctl.clone();
            let server = format!("server:{}", self.server_id);
            tokio::spawn(async move {
                let _ = ctl
                    .store
                    .audit("agent", "client.cut", &server, &cuts, "", "ok")
                    .await;
            });
        } else {
            tracing::debug!(server_id = self.server_id, topic = %event.topic, "event without a consumer");
        }
    }
}
