//! `core.install` and `geo.update` with the files sent over the channel (protocol 2).

use std::time::Duration;

use xfleet_common::channel::{CallError, Channel, Pacer};
use xfleet_common::methods::{agent, CoreInstallRequest, GeoUpdateAnswer, GeoUpdateRequest};
use xfleet_common::protocol::{code, from_body, to_body, STREAM_VERSION};

use super::{CoreShelf, DistError, GeoShelf};
use crate::Controller;

impl From<DistError> for CallError {
    fn from(e: DistError) -> Self {
        let code = match &e {
            DistError::Invalid(_) | DistError::NotFound(_) => code::INVALID_REQUEST,
            DistError::Fetch(_) => FETCH_FAILED,
            DistError::Io { .. } => code::INTERNAL,
        };
        CallError::Remote {
            code: code.into(),
            message: e.to_string(),
            details: None,
            retryable: false,
        }
    }
}

/// The files this controller sends over channels (agent updates, core releases, geo files):
/// how many transfers run at once and how fast they go together. Each holds one credit
/// window beyond the shared file, so memory stays bounded however many hosts a fleet-wide
/// operation reaches; the shared rate keeps CPU and uplink for calls, heartbeats and the
/// panel, whatever the number of transfers.
pub struct Transfers {
    turns: tokio::sync::Semaphore,
    pacer: Option<Pacer>,
}

/// Transfers running at once on this controller. A transfer to a far host waits on the
/// network most of the time, so several run beside each other; the rate bounds the work.
pub const MAX_TRANSFERS: usize = 16;

impl Transfers {
    /// At most `mib_per_sec` MiB/s together; 0 for no limit.
    pub fn new(mib_per_sec: u32) -> Self {
        Self {
            turns: tokio::sync::Semaphore::new(MAX_TRANSFERS),
            pacer: (mib_per_sec > 0).then(|| Pacer::new(u64::from(mib_per_sec) << 20)),
        }
    }

    /// Waits for a transfer's turn, held until the permit is dropped.
    pub async fn turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.turns.acquire().await.expect("never closed")
    }

    /// Calls `method` with `data` as its stream, at the shared rate; the caller holds a turn.
    pub async fn send(
        &self,
        channel: &Channel,
        method: &str,
        body: Vec<u8>,
        data: axum::body::Bytes,
        timeout: Duration,
        key: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        channel
            .call_with_paced_stream(method, body, data, self.pacer.as_ref(), timeout, key)
            .await
    }
}

/// The controller could not fetch what it was to send; the message names the URL.
pub const FETCH_FAILED: &str = "fetch_failed";

/// Runs `core.install` or `geo.update` with the files sent over the channel, when the agent
/// speaks protocol 2; `None` when the call goes out as it is: another method, an agent of
/// protocol 1 (it downloads itself, as before), or `core.install` on a v2ray host (which the
/// agent refuses in its own words).
pub async fn deliver(
    ctl: &Controller,
    channel: &Channel,
    server_id: i64,
    operation: &str,
    request: &serde_json::Value,
    deadline: Duration,
    key: Option<String>,
) -> Option<Result<Vec<u8>, CallError>> {
    if channel.protocol_version() < STREAM_VERSION {
        return None;
    }
    match operation {
        agent::CORE_INSTALL => {
            let request: CoreInstallRequest = serde_json::from_value(request.clone()).ok()?;
            let server = match ctl.store.server(server_id).await {
                Ok(server) => server,
                Err(e) => return Some(Err(CallError::Offline(e.to_string()))),
            };
            if server.core_flavour.as_deref() == Some("v2ray") {
                return None;
            }
            let os: serde_json::Value = server
                .os_info
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or_default();
            let arch = os["arch"].as_str().unwrap_or_default();
            Some(install(ctl, channel, &request.version, arch, deadline, key).await)
        }
        agent::GEO_UPDATE => {
            let request: GeoUpdateRequest = serde_json::from_value(request.clone()).ok()?;
            Some(update_geo(ctl, channel, &request.files, deadline, key).await)
        }
        _ => None,
    }
}

async fn install(
    ctl: &Controller,
    channel: &Channel,
    version: &str,
    arch: &str,
    deadline: Duration,
    key: Option<String>,
) -> Result<Vec<u8>, CallError> {
    let shelf = CoreShelf::new(&ctl.config);
    let release = shelf.ensure(version, arch).await?;
    let _turn = ctl.transfers.turn().await;
    let zip = shelf.bytes(&release).await?;
    let body = to_body(&CoreInstallRequest {
        version: release.version.clone(),
        sha256: Some(release.sha256.clone()),
    })
    .map_err(CallError::from_body)?;
    (ctl.transfers)
        .send(channel, agent::CORE_INSTALL, body, zip, deadline, key)
        .await
}

async fn update_geo(
    ctl: &Controller,
    channel: &Channel,
    files: &[String],
    deadline: Duration,
    key: Option<String>,
) -> Result<Vec<u8>, CallError> {
    let bundle = GeoShelf::new(&ctl.config).bundle(files).await?;
    let failed = |updated: &str| {
        let mut message = bundle.failures.join("; ");
        if !updated.is_empty() {
            message.push_str(&format!("; updated anyway: {updated}"));
        }
        CallError::from(DistError::Fetch(message))
    };
    if bundle.parts.is_empty() {
        return Err(failed(""));
    }
    let body = to_body(&GeoUpdateRequest {
        files: bundle.parts.iter().map(|p| p.name.clone()).collect(),
        streamed: bundle.parts.clone(),
    })
    .map_err(CallError::from_body)?;
    let answer = {
        let _turn = ctl.transfers.turn().await;
        let data = bundle.data.clone();
        (ctl.transfers)
            .send(channel, agent::GEO_UPDATE, body, data, deadline, key)
            .await?
    };
    if bundle.failures.is_empty() {
        return Ok(answer);
    }
    // What was sent is in place (the agent restarted its core if it needed to); the task
    // still fails, naming what is missing.
    let answer: GeoUpdateAnswer = from_body(&answer).unwrap_or_default();
    Err(failed(&answer.changed.join(", ")))
}
