//! Certificate renewal over the live channel (DESIGN §2): at a random point between 70 % and
//! 90 % of the certificate's lifetime, with a fresh key. The random point spreads a fleet
//! enrolled on the same day; the live connection keeps its old certificate and the next dial
//! uses the new one.

use std::convert::Infallible;
use std::time::Duration;

use rand::Rng;
use xfleet_common::channel::Channel;
use xfleet_common::methods::{controller, CertRenewRequest, IssuedCertificate};
use xfleet_common::protocol::{from_body, to_body};
use xfleet_common::time::now_ms;

use super::Agent;
use crate::config::{AgentFiles, ReconnectConfig};
use crate::connection::backoff::Backoff;
use crate::csr::{self, new_key_and_csr, CertValidity};
use crate::fsutil::{self, PRIVATE, PUBLIC};
use crate::status::format_ms;
use crate::tls;

const RENEW_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest single sleep, so a wall-clock jump is noticed within the hour.
const MAX_NAP: Duration = Duration::from_secs(3600);

pub(super) struct Renewal {
    current: Option<CertValidity>,
    due_ms: i64,
    /// Spacing of retries after a failed renewal: 30 s doubling to 30 min, jittered.
    retry: Backoff,
}

impl Renewal {
    pub fn new() -> Self {
        Self {
            current: None,
            due_ms: i64::MAX,
            retry: Backoff::new(&ReconnectConfig {
                base_ms: 30_000,
                cap_ms: 30 * 60_000,
                healthy_after_ms: 0,
            }),
        }
    }

    /// Learns the certificate in use; a new one gets a new random due time.
    pub fn observe(&mut self, validity: CertValidity) {
        if self.current == Some(validity) {
            return;
        }
        let fraction = rand::rng().random_range(0.7..0.9);
        self.current = Some(validity);
        self.due_ms = validity.at_fraction(fraction);
        self.retry.connection_ended(Duration::MAX);
        tracing::info!(
            not_after = %format_ms(validity.not_after_ms),
            renew_at = %format_ms(self.due_ms),
            "certificate renewal scheduled"
        );
    }

    /// Renews whenever due, for as long as the connection lives (the caller drops it).
    pub async fn run(&mut self, channel: &Channel, agent: &Agent) -> Infallible {
        loop {
            let wait = self.due_ms.saturating_sub(now_ms());
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64).min(MAX_NAP)).await;
                continue;
            }
            let hostname = agent.handler.host().hostname.clone();
            match renew(channel, &agent.files, &hostname, agent.config.server_id).await {
                Ok(validity) => {
                    tracing::info!(
                        not_after = %format_ms(validity.not_after_ms),
                        "certificate renewed"
                    );
                    agent.status.update(|s| {
                        s.cert_not_after_ms = Some(validity.not_after_ms);
                        s.cert_renewal_error = None;
                    });
                    self.observe(validity);
                }
                Err(e) => {
                    let delay = self.retry.next_delay();
                    tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "certificate renewal failed");
                    agent.status.update(|s| s.cert_renewal_error = Some(e));
                    self.due_ms = now_ms() + delay.as_millis() as i64;
                }
            }
        }
    }
}

async fn renew(
    channel: &Channel,
    files: &AgentFiles,
    hostname: &str,
    server_id: i64,
) -> Result<CertValidity, String> {
    let host = hostname.to_owned();
    let made = tokio::task::spawn_blocking(move || new_key_and_csr(&host))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let body = to_body(&CertRenewRequest {
        csr_pem: made.csr_pem,
    })
    .map_err(|e| e.message)?;
    let answer = channel
        .call(controller::CERT_RENEW, body, RENEW_TIMEOUT, None)
        .await
        .map_err(|e| format!("`{}` failed: {e}", controller::CERT_RENEW))?;
    let issued: IssuedCertificate = from_body(&answer).map_err(|e| e.message)?;
    if issued.server_id != server_id {
        return Err(format!(
            "the controller issued a certificate for server {}, we are server {server_id}",
            issued.server_id
        ));
    }
    csr::check_matches_key(&issued.cert_pem, &made.key_pem).map_err(|e| e.to_string())?;
    let validity = csr::validity(&issued.cert_pem).map_err(|e| e.to_string())?;
    if validity.not_after_ms <= now_ms() {
        return Err("the renewed certificate is already expired".into());
    }
    // Proves the three PEMs make a usable configuration before any of them is installed.
    tls::client_config(&issued.cert_pem, &made.key_pem, &issued.ca_pem)
        .map_err(|e| e.to_string())?;
    let files = files.clone();
    tokio::task::spawn_blocking(move || {
        install(&files, &made.key_pem, &issued.cert_pem, &issued.ca_pem)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot install the renewed certificate: {e}"))?;
    Ok(validity)
}

/// Replaces key and certificate. Both are staged durably first, so the only window in which
/// a crash leaves a mismatched pair is between two renames; the key keeps mode 0600 throughout.
fn install(files: &AgentFiles, key_pem: &str, cert_pem: &str, ca_pem: &str) -> std::io::Result<()> {
    let key_tmp = fsutil::stage(&files.key, key_pem.as_bytes(), PRIVATE)?;
    let cert_tmp = match fsutil::stage(&files.cert, cert_pem.as_bytes(), PUBLIC) {
        Ok(tmp) => tmp,
        Err(e) => {
            let _ = std::fs::remove_file(&key_tmp);
            return Err(e);
        }
    };
    fsutil::commit(&key_tmp, &files.key)?;
    fsutil::commit(&cert_tmp, &files.cert)?;
    // The CA only changes if the controller rotated it; keep the file untouched otherwise.
    if std::fs::read_to_string(&files.ca).ok().as_deref() != Some(ca_pem) {
        fsutil::write_atomic(&files.ca, ca_pem.as_bytes(), PUBLIC)?;
    }
    Ok(())
}
