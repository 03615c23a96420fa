//! What the controller answers on an agent's channel.

use std::sync::Arc;

use xfleet_common::channel::{reply, Channel, Handler, IncomingCall};
use xfleet_common::methods::{self, CertRenewRequest, Heartbeat};
use xfleet_common::protocol::{code, from_body, topic, ErrorBody, Event, Frame};
use xfleet_common::state::{InboundFailures, FAILURES_TOPIC};
use xfleet_common::traffic::{self, TrafficBatch};

use super::traffic::{spawn_ingest, IngestQueue};
use crate::Controller;

/// More listening sockets than any real VPN host has; the rest of a longer list is dropped.
const MAX_LISTENING: usize = 4096;

/// Certificates one server may be issued per hour, enrollment included. A real agent renews
/// once per lifetime (at 70–90 % of it) and retries a failed renewal after 30 s at the
/// earliest, so this leaves room for retries and re-enrollments, not for a stockpile.
const MAX_CERTIFICATES_PER_HOUR: i64 = 6;
/// Cuts kept from one enforcement report, and characters kept of each of its texts. A real
/// report lists the clients of one server the agent cut while alone.
const MAX_CUTS_PER_REPORT: usize = 200;
const MAX_CUT_TEXT: usize = 128;
/// Enforcement reports written to the audit log per connection and minute; a real agent sends
/// one on connecting and one per cut.
const MAX_REPORTS_PER_MINUTE: u32 = 30;

/// Renewals are checked against the count and recorded one at a time, so calls in parallel
/// cannot all pass the check.
static RENEWING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(super) struct AgentLink {
    ctl: Arc<Controller>,
    server_id: i64,
    /// Started with the first traffic batch: an agent without a core never needs it, and an
    /// idle connection should cost as little as possible.
    traffic: std::sync::OnceLock<IngestQueue>,
    /// Start of the current minute and the enforcement reports audited in it.
    reports: std::sync::Mutex<(i64, u32)>,
}

impl AgentLink {
    pub(super) fn new(ctl: Arc<Controller>, server_id: i64) -> Self {
        Self {
            ctl,
            server_id,
            traffic: std::sync::OnceLock::new(),
            reports: std::sync::Mutex::new((0, 0)),
        }
    }

    async fn renew(&self, body: &[u8]) -> Result<Vec<u8>, ErrorBody> {
        let req: CertRenewRequest = from_body(body)?;
        let _one_at_a_time = RENEWING.lock().await;
        let hour_ago = xfleet_common::time::now_ms() - 3_600_000;
        let issued = (self.ctl.store)
            .certificates_issued_since(self.server_id, hour_ago)
            .await
            .map_err(|e| ErrorBody::internal(e.to_string()))?;
        if issued >= MAX_CERTIFICATES_PER_HOUR {
            tracing::warn!(
                server_id = self.server_id,
                issued,
                "certificate renewal refused: too many this hour"
            );
            return Err(ErrorBody {
                retryable: true,
                ..ErrorBody::new(
                    code::RATE_LIMITED,
                    format!(
                        "this server was issued {issued} certificates in the last hour; \
                         at most {MAX_CERTIFICATES_PER_HOUR} are signed per hour, retry later"
                    ),
                )
            });
        }
        let lifetime = std::time::Duration::from_secs(self.ctl.config.cert_lifetime_secs);
        let issued = (self.ctl.ca)
            .issue_recorded(&self.ctl.store, self.server_id, &req.csr_pem, lifetime)
            .await
            .map_err(|e| ErrorBody::invalid(e.to_string()))?;
        tracing::info!(server_id = self.server_id, serial = %issued.serial, "certificate renewed");
        reply(&issued)
    }

    /// Counts an enforcement report against [`MAX_REPORTS_PER_MINUTE`].
    fn report_allowed(&self) -> bool {
        let minute = xfleet_common::time::now_ms() / 60_000;
        let mut reports = self.reports.lock().unwrap();
        if reports.0 != minute {
            *reports = (minute, 0);
        }
        reports.1 += 1;
        if reports.1 == MAX_REPORTS_PER_MINUTE + 1 {
            tracing::warn!(server_id = self.server_id, "agent sends enforcement reports faster than {MAX_REPORTS_PER_MINUTE} a minute; the rest of this minute's are not audited");
        }
        reports.1 <= MAX_REPORTS_PER_MINUTE
    }
}

/// An agent's enforcement report as the audit log keeps it: at most
/// [`MAX_CUTS_PER_REPORT`] cuts of `email`, `reason` and `at_ms`, texts shortened to
/// [`MAX_CUT_TEXT`] characters, and how many cuts were left out.
pub(super) fn bounded_cuts(report: serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    let text = |v: &Value| -> Value {
        match v.as_str() {
            Some(s) => Value::String(crate::util::clip(s, MAX_CUT_TEXT)),
            None => Value::Null,
        }
    };
    let Value::Array(list) = report else {
        return json!({"cuts": [], "left_out": 0, "error": "the report is not a list of cuts"});
    };
    let left_out = list.len().saturating_sub(MAX_CUTS_PER_REPORT);
    let cuts: Vec<Value> = list
        .iter()
        .take(MAX_CUTS_PER_REPORT)
        .map(|cut| {
            json!({
                "email": text(&cut["email"]),
                "reason": text(&cut["reason"]),
                "at_ms": cut["at_ms"].as_i64(),
            })
        })
        .collect();
    json!({"cuts": cuts, "left_out": left_out})
}

impl Handler for AgentLink {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            methods::controller::CERT_RENEW => {
                let outcome = self.renew(&call.body).await;
                // A refusal stays visible (dashboard, alerts API) until a renewal succeeds.
                let refused = outcome.as_ref().err().map(|e| e.message.as_str());
                if let Err(e) = self
                    .ctl
                    .store
                    .set_renewal_failure(self.server_id, refused)
                    .await
                {
                    tracing::warn!(server_id = self.server_id, error = %e, "cannot record the renewal outcome");
                }
                outcome
            }
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
                    if !queue.try_push(batch, event.body.len(), channel) {
                        channel.close("traffic queue full");
                    }
                }
                Err(e) => {
                    tracing::warn!(server_id = self.server_id, error = ?e.message, "bad traffic batch")
                }
            }
        } else if event.topic == "core.state" {
            match from_body::<xfleet_common::methods::CoreState>(&event.body) {
                Ok(state) => {
                    tracing::info!(server_id = self.server_id, ?state, "core state");
                    self.ctl.fleet.core_state(self.server_id, state);
                }
                Err(e) => {
                    tracing::warn!(server_id = self.server_id, error = ?e.message, "bad core state")
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
                    tracing::warn!(server_id = self.server_id, error = ?e.message, "bad failed inbounds report")
                }
            }
        } else if event.topic == "enforcement" {
            // Clients the agent cut on its own (expiry or quota) while it was alone.
            if !self.report_allowed() {
                tracing::debug!(
                    server_id = self.server_id,
                    "enforcement report over the rate; not audited"
                );
                return;
            }
            let cuts = bounded_cuts(xfleet_common::protocol::body_to_json(&event.body));
            // The names are in the audit entry; the log line says how many.
            let count = cuts["cuts"].as_array().map_or(0, Vec::len);
            let left_out = &cuts["left_out"];
            tracing::info!(server_id = self.server_id, count, %left_out, "agent cut clients locally");
            let ctl = self.ctl.clone();
            let server = format!("server:{}", self.server_id);
            tokio::spawn(async move {
                let _ = ctl
                    .store
                    .audit("agent", "client.cut", &server, &cuts, "", "ok")
                    .await;
            });
        } else {
            tracing::debug!(server_id = self.server_id, topic = ?event.topic, "event without a consumer");
        }
    }
}
