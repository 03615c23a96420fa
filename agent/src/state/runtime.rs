//! The agent's side of desired state (DESIGN §4–5): applies states to the running core with
//! the least disruption, starts the core from the last state on its own, polls its counters
//! into the journal, and cuts clients past their limits while the controller is away.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xfleet_common::channel::Channel;
use xfleet_common::protocol::{ErrorBody, Frame};
use xfleet_common::state::{Applied, ApplyState, DesiredState, InboundFailures, FAILURES_TOPIC};
use xfleet_common::time::now_ms;
use xfleet_common::traffic::{TrafficBatch, TOPIC};
use xfleet_common::xray::{render, Flavour, RenderOptions};

use super::enforce::{self, Cut};
use super::plan::{dropped_users, plan};
use super::refusals::{self, Refusals, Refused};
use super::session_cut::{Activity, CutSchedule};
use super::store::StateFiles;
use crate::config::SessionCutConfig;
use crate::core::Supervisor;
use crate::fsutil::{self, PUBLIC};
use crate::traffic::access_log::AccessLog;
use crate::traffic::{compute, Journal};
use crate::xray_api::{CoreApi, Namespace};

mod apply;

/// Core API calls for user changes in flight at once.
const USER_CALLS_IN_FLIGHT: usize = 32;

/// Topic of the event listing clients the agent cut on its own.
pub const ENFORCEMENT_TOPIC: &str = "enforcement";
/// Topic of core state changes (running / stopped / error with the core's message).
pub const CORE_STATE_TOPIC: &str = "core.state";

/// What local enforcement remembers across agent restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Enforcement {
    /// The state revision `used` counts from; a new state resets it (its limits are fresh).
    revision: u64,
    used: BTreeMap<String, u64>,
    cut: BTreeMap<String, Cut>,
}

/// What the ordered traffic sender does next.
enum Outgoing {
    /// A new connection: send every unacknowledged batch, oldest first.
    Resend,
    Batch(TrafficBatch),
}

struct Inner {
    desired: DesiredState,
    /// `desired` minus the clients cut locally and the inbounds the core refused: what the
    /// core runs.
    effective: DesiredState,
    enforcement: Enforcement,
    refusals: Refusals,
}

pub struct CoreRuntime {
    supervisor: Supervisor,
    flavour: Flavour,
    api: CoreApi,
    api_port: u16,
    files: StateFiles,
    enforcement_file: PathBuf,
    refusals_file: PathBuf,
    access_log_path: PathBuf,
    inner: tokio::sync::Mutex<Inner>,
    /// Ports of the inbounds the core runs (those of both states while one replaces the
    /// other), readable without waiting for an apply: the core's own listeners are not
    /// reported as taken.
    core_ports: Mutex<BTreeSet<u16>>,
    /// Digest of the last configuration the core failed to start on, with why: it is not
    /// started again.
    refused_start: Mutex<Option<(String, String)>>,
    /// `inner.desired.revision`, readable without waiting for an apply.
    revision: std::sync::atomic::AtomicU64,
    journal: Mutex<Journal>,
    access_log: Mutex<AccessLog>,
    link: Mutex<Option<Channel>>,
    /// Batches go out through one task, in sequence order: the controller takes a gap as a
    /// reason to have everything sent again, never as something to skip.
    outgoing: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    session_cut: SessionCutConfig,
    /// Who had traffic lately, to tell whether taking a user out leaves connections open.
    activity: Mutex<Activity>,
    cut_schedule: Mutex<CutSchedule>,
    cut_wake: tokio::sync::Notify,
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::internal(e.to_string())
}

impl CoreRuntime {
    /// Loads the persisted state and journal, and brings the core up from them (adopting a
    /// core a previous run left serving), whether or not the controller is reachable.
    pub async fn start(
        supervisor: Supervisor,
        flavour: Flavour,
        data_dir: &Path,
        session_cut: SessionCutConfig,
    ) -> std::io::Result<Arc<Self>> {
        let files = StateFiles::new(data_dir);
        let desired = files.load().unwrap_or_default();
        let api_port = match running_api_port(&supervisor.paths().config_file()) {
            Some(port) => port,
            None => crate::core::pick_api_port()?,
        };
        let namespace = match flavour {
            Flavour::Xray => Namespace::Xray,
            Flavour::V2ray => Namespace::V2ray,
        };
        let api = CoreApi::connect(api_port, namespace)
            .await
            .map_err(std::io::Error::other)?;
        let enforcement_file = data_dir.join("enforcement.json");
        let enforcement: Enforcement = std::fs::read(&enforcement_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let refusals_file = refusals::file(data_dir);
        let refusals = Refusals::load(&refusals_file);
        let access_log_path = supervisor.paths().access_log();
        let (outgoing, outgoing_rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime = Arc::new(Self {
            outgoing,
            journal: Mutex::new(Journal::open(&data_dir.join("journal"))?),
            access_log: Mutex::new(AccessLog::new(access_log_path.clone())),
            supervisor,
            flavour,
            api,
            api_port,
            files,
            enforcement_file,
            refusals_file,
            access_log_path,
            revision: std::sync::atomic::AtomicU64::new(desired.revision),
            inner: tokio::sync::Mutex::new(Inner {
                effective: desired.clone(),
                desired,
                enforcement,
                refusals,
            }),
            core_ports: Mutex::new(BTreeSet::new()),
            refused_start: Mutex::new(None),
            link: Mutex::new(None),
            activity: Mutex::new(Activity::default()),
            cut_schedule: Mutex::new(CutSchedule::new(&session_cut)),
            cut_wake: tokio::sync::Notify::new(),
            session_cut,
        });
        runtime.boot().await;
        tokio::spawn(runtime.clone().cut_loop());
        tokio::spawn(runtime.clone().send_loop(outgoing_rx));
        tokio::spawn(runtime.clone().poll_loop());
        tokio::spawn(runtime.clone().forward_core_states());
        Ok(runtime)
    }

    async fn boot(&self) {
        let mut inner = self.inner.lock().await;
        let cut: BTreeSet<String> = inner.enforcement.cut.keys().cloned().collect();
        let desired = inner.desired.clone();
        let options = self.options();
        let mut refusals = inner.refusals.clone();
        refusals.keep_unchanged(&desired);
        let mut run = match self.runnable(&desired, &cut, &mut refusals, &options).await {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(error = %e.message, "the persisted state does not render; the core stays down");
                return;
            }
        };
        loop {
            let e = match self.supervisor.adopt_or_start(run.config.clone()).await {
                Ok(_) => {
                    tracing::info!(
                        revision = desired.revision,
                        "core running from the persisted state"
                    );
                    break;
                }
                Err(e) => e,
            };
            // A port another program took while the core was down: the rest still starts.
            let words = apply::start_failure(&e);
            let culprits = refusals::named_listeners(&words, &run.effective);
            let rerun = if culprits.is_empty() {
                None
            } else {
                for tag in &culprits {
                    if let Some(spec) = desired.inbounds.iter().find(|i| &i.tag == tag) {
                        refusals.refuse(spec, Refused::Listener, words.clone());
                    }
                }
                self.render_runnable(&desired, &cut, &mut refusals, &options)
                    .ok()
            };
            if let Some(next) = rerun {
                run = next;
                continue;
            }
            tracing::error!(error = %e, "the core does not start from the persisted state");
            if let Some(previous) = self.files.load_previous() {
                if let Ok(config) = render(&previous, &self.options()) {
                    if self.supervisor.start(config).await.is_ok() {
                        tracing::warn!(
                            revision = previous.revision,
                            "running the previous state instead"
                        );
                        inner.effective = previous.clone();
                        self.revision
                            .store(previous.revision, std::sync::atomic::Ordering::Relaxed);
                        inner.desired = previous;
                        inner.refusals = Refusals::default();
                        inner.refusals.save(&self.refusals_file);
                        self.set_core_ports(&[&inner.effective]);
                    }
                }
            }
            return;
        }
        inner.effective = run.effective;
        inner.refusals = refusals;
        inner.refusals.save(&self.refusals_file);
        self.set_core_ports(&[&inner.effective]);
    }

    /// The access log is always on: IP limits read it, and the panel shows it. The agent keeps
    /// it bounded (`AccessLog::read_and_rotate`).
    fn options(&self) -> RenderOptions {
        RenderOptions {
            flavour: self.flavour,
            api_port: self.api_port,
            access_log: Some(self.access_log_path.display().to_string()),
            log_level: "warning".into(),
            geoip_available: self.supervisor.paths().assets.join("geoip.dat").exists(),
        }
    }

    /// Ports the core's inbounds listen on (see `core_ports`).
    pub fn core_ports(&self) -> BTreeSet<u16> {
        self.core_ports.lock().unwrap().clone()
    }

    fn set_core_ports(&self, states: &[&DesiredState]) {
        let ports = states
            .iter()
            .flat_map(|s| s.inbounds.iter().filter(|i| i.enable).map(|i| i.port))
            .collect();
        *self.core_ports.lock().unwrap() = ports;
    }

    /// The revision the core runs, for `Hello`.
    pub fn applied_revision(&self) -> u64 {
        self.revision.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn lowest_unacked(&self) -> Option<u64> {
        self.journal.lock().unwrap().lowest_unacked()
    }

    /// `state.apply`: persists the new state, then changes the core through its API where it
    /// can and restarts it (after its own config test) only where it must. A state the core
    /// refuses leaves the running one in place and comes back as an error with the core's
    /// words. Runs to the end even if the caller gives up, so no half-applied state remains.
    pub async fn apply(self: &Arc<Self>, apply: ApplyState) -> Result<Applied, ErrorBody> {
        let this = self.clone();
        tokio::spawn(async move { this.apply_inner(apply).await })
            .await
            .map_err(internal)?
    }

    /// Whether the core would run `desired`, tested by the core and applied nowhere: an
    /// inbound the core refuses alone fails alone when applied and does not fail the check;
    /// a template (or anything around the inbounds) the core refuses is answered with its
    /// words.
    pub async fn check(&self, desired: DesiredState) -> Result<(), ErrorBody> {
        let options = self.options();
        let mut refusals = Refusals::default();
        self.runnable(&desired, &BTreeSet::new(), &mut refusals, &options)
            .await
            .map(|_| ())
    }

    fn save_enforcement(&self, enforcement: &Enforcement) {
        let bytes = serde_json::to_vec(enforcement).expect("serializes");
        if let Err(e) = fsutil::write_atomic(&self.enforcement_file, &bytes, PUBLIC) {
            tracing::warn!(error = %e, "cannot save local enforcement state");
        }
    }

    /// A connection to the controller is up: unacknowledged batches go first, in order, then
    /// the core's state and any clients cut while alone.
    pub fn attach(&self, channel: Channel) {
        *self.link.lock().unwrap() = Some(channel.clone());
        let _ = self.outgoing.send(Outgoing::Resend);
        let core_state = self.supervisor.state();
        // Busy applying: the apply's answer says the same.
        let (cuts, failures): (Vec<Cut>, Option<InboundFailures>) = self
            .inner
            .try_lock()
            .map(|i| {
                let failures = InboundFailures {
                    revision: i.desired.revision,
                    failed: i.refusals.failures(),
                };
                (
                    i.enforcement.cut.values().cloned().collect(),
                    Some(failures),
                )
            })
            .unwrap_or_default();
        tokio::spawn(async move {
            if let Ok(body) = xfleet_common::protocol::to_body(&core_state) {
                let _ = channel.send_event(CORE_STATE_TOPIC, None, body).await;
            }
            if let Some(Ok(body)) = failures.map(|f| xfleet_common::protocol::to_body(&f)) {
                let _ = channel.send_event(FAILURES_TOPIC, None, body).await;
            }
            if !cuts.is_empty() {
                if let Ok(body) = xfleet_common::protocol::to_body(&cuts) {
                    let _ = channel.send_event(ENFORCEMENT_TOPIC, None, body).await;
                }
            }
        });
    }

    async fn send_loop(self: Arc<Self>, mut queue: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
        let mut last_sent = 0;
        while let Some(next) = queue.recv().await {
            // Not connected: the batch waits in the journal for the next connection's resend.
            let Some(channel) = self.link.lock().unwrap().clone() else {
                continue;
            };
            match next {
                Outgoing::Resend => {
                    last_sent = 0;
                    let pending: Vec<TrafficBatch> =
                        self.journal.lock().unwrap().pending().cloned().collect();
                    for batch in pending {
                        if send_batch(&channel, &batch).await.is_err() {
                            break;
                        }
                        last_sent = batch.seq;
                    }
                }
                Outgoing::Batch(batch) if batch.seq > last_sent => {
                    if send_batch(&channel, &batch).await.is_ok() {
                        last_sent = batch.seq;
                    }
                }
                Outgoing::Batch(_) => {}
            }
        }
    }

    pub fn detach(&self) {
        *self.link.lock().unwrap() = None;
    }

    pub fn ack(&self, topic: &str, seq: u64) {
        if topic == TOPIC {
            if let Err(e) = self.journal.lock().unwrap().ack(seq) {
                tracing::warn!(error = %e, seq, "cannot record a traffic acknowledgement");
            }
        }
    }

    /// Tells the controller whenever the core starts, stops or fails.
    async fn forward_core_states(self: Arc<Self>) {
        let mut states = self.supervisor.subscribe();
        while states.changed().await.is_ok() {
            let state = states.borrow_and_update().clone();
            let channel = self.link.lock().unwrap().clone();
            if let (Some(channel), Ok(body)) = (channel, xfleet_common::protocol::to_body(&state)) {
                let _ = channel.send_event(CORE_STATE_TOPIC, None, body).await;
            }
        }
    }

    async fn poll_loop(self: Arc<Self>) {
        loop {
            let interval = {
                let inner = self.inner.lock().await;
                inner.desired.stats_interval_ms.clamp(500, 3_600_000)
            };
            tokio::time::sleep(Duration::from_millis(interval)).await;
            self.poll_once().await;
            self.enforce().await;
        }
    }

    /// One round on its own: journal the core's new traffic, count it against local limits
    /// and send it if connected.
    pub async fn poll_once(&self) {
        if let Some(batch) = self.journal_round().await {
            let mut inner = self.inner.lock().await;
            self.account(&mut inner, &batch);
        }
    }

    /// Reads the core's counters and journals the deltas (durable before anything else sees
    /// them); the batch, if there was traffic. Takes no state lock, so callers holding it
    /// (an apply about to restart the core, enforcement) can call it.
    async fn journal_round(&self) -> Option<TrafficBatch> {
        let xfleet_common::methods::CoreState::Running { pid, .. } = self.supervisor.state() else {
            return None;
        };
        let instance = format!("{pid}-{}", crate::core::start_ticks(pid).unwrap_or(0));
        let stats = match self.api.query_stats("", false).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the core's counters");
                return None;
            }
        };
        let ips = self
            .access_log
            .lock()
            .unwrap()
            .read_and_rotate()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read or rotate the core's access log");
                Vec::new()
            });
        // Xray knows who is connected even without traffic in this interval.
        let online = self
            .api
            .online_users()
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut journal = self.journal.lock().unwrap();
        let (mut batch, baseline) = compute(journal.baseline(), &instance, &stats);
        batch.ips = ips;
        for email in online {
            if !batch.online.contains(&email) {
                batch.online.push(email);
            }
        }
        {
            let now = Instant::now();
            let mut activity = self.activity.lock().unwrap();
            for d in batch.users.iter().filter(|d| d.up + d.down > 0) {
                activity.saw(&d.name, now);
            }
            for email in &batch.online {
                activity.saw(email, now);
            }
        }
        if batch.is_empty() && batch.ips.is_empty() {
            journal.advance_baseline(baseline);
            return None;
        }
        match journal.append(batch, baseline) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!(error = %e, "cannot journal traffic; it stays on the core's counters");
                None
            }
        }
    }

    /// Counts a journaled batch against local limits and sends it if connected.
    fn account(&self, inner: &mut Inner, batch: &TrafficBatch) {
        for d in &batch.users {
            *inner.enforcement.used.entry(d.name.clone()).or_default() += d.up + d.down;
        }
        let _ = self.outgoing.send(Outgoing::Batch(batch.clone()));
    }

    /// Cuts clients whose expiry passed or whose quota ran out, through the core's API.
    async fn enforce(&self) {
        let mut inner = self.inner.lock().await;
        let fresh: Vec<Cut> = enforce::cuts(&inner.desired, &inner.enforcement.used, now_ms())
            .into_iter()
            .filter(|c| !inner.enforcement.cut.contains_key(&c.email))
            .collect();
        if fresh.is_empty() {
            return;
        }
        for cut in &fresh {
            tracing::warn!(email = %cut.email, reason = %cut.reason, "cutting a client locally");
            inner.enforcement.cut.insert(cut.email.clone(), cut.clone());
        }
        let cut: BTreeSet<String> = inner.enforcement.cut.keys().cloned().collect();
        let desired = inner.desired.clone();
        let options = self.options();
        let mut refusals = inner.refusals.clone();
        let mut pending = None;
        let applied = async {
            let mut run = self
                .render_runnable(&desired, &cut, &mut refusals, &options)
                .map_err(|e| e.message)?;
            let changes =
                plan(&inner.effective, &run.effective, self.flavour).map_err(|e| e.to_string())?;
            let went_live = match self.change_live(&changes, &run.config).await {
                Ok(refused) => {
                    for (tag, words) in refused {
                        if let Some(spec) = desired.inbounds.iter().find(|i| i.tag == tag) {
                            refusals.refuse(spec, Refused::Listener, words);
                        }
                    }
                    run = self
                        .render_runnable(&desired, &cut, &mut refusals, &options)
                        .map_err(|e| e.message)?;
                    self.supervisor.record_config(run.config.clone()).await
                }
                Err(reason) => Err(crate::core::CoreError::Io(reason)),
            };
            if went_live.is_err() {
                if let Some(batch) = self.journal_round().await {
                    pending = Some(batch);
                }
                self.supervisor
                    .replace_config(run.config.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok((true, run));
            }
            Ok::<_, String>((false, run))
        }
        .await;
        match applied {
            Ok((restarted, run)) => {
                if restarted {
                    self.cut_schedule
                        .lock()
                        .unwrap()
                        .core_restarted(Instant::now());
                } else if inner.desired.restart_on_client_disable {
                    self.cut_sessions_of(&inner.effective, &run.effective);
                }
                inner.effective = run.effective;
                inner.refusals = refusals;
                inner.refusals.save(&self.refusals_file);
                self.set_core_ports(&[&inner.effective]);
            }
            Err(e) => tracing::error!(error = %e, "could not cut clients from the core"),
        }
        if let Some(batch) = pending {
            self.account(&mut inner, &batch);
        }
        self.save_enforcement(&inner.enforcement);
        let channel = self.link.lock().unwrap().clone();
        if let (Some(channel), Ok(body)) = (channel, xfleet_common::protocol::to_body(&fresh)) {
            let _ = channel.try_send(&Frame::Event(xfleet_common::protocol::Event {
                topic: ENFORCEMENT_TOPIC.into(),
                seq: None,
                body,
            }));
        }
    }
}

impl CoreRuntime {
    /// Users who were online and are no longer served going from `before` to `after` keep
    /// their open connections: schedule the one core restart that closes them.
    fn cut_sessions_of(&self, before: &DesiredState, after: &DesiredState) {
        let dropped = dropped_users(before, after, self.flavour);
        if dropped.is_empty() {
            return;
        }
        let now = Instant::now();
        let window = Duration::from_millis(self.session_cut.online_window_ms);
        let online = self
            .activity
            .lock()
            .unwrap()
            .online_among(&dropped, window, now);
        if online.is_empty() {
            return;
        }
        tracing::info!(clients = ?online, "online clients were taken out; the core will restart to close their connections");
        self.cut_schedule.lock().unwrap().request(online, now);
        self.cut_wake.notify_one();
    }

    /// Restarts the core when the schedule says so (see `session_cut`).
    async fn cut_loop(self: Arc<Self>) {
        loop {
            let due = self.cut_schedule.lock().unwrap().due();
            match due {
                None => self.cut_wake.notified().await,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = self.cut_wake.notified() => continue,
                    }
                }
            }
            let emails = self.cut_schedule.lock().unwrap().take(Instant::now());
            if let Some(emails) = emails {
                self.restart_to_cut(emails).await;
            }
        }
    }

    async fn restart_to_cut(&self, emails: BTreeSet<String>) {
        let mut inner = self.inner.lock().await;
        if !matches!(
            self.supervisor.state(),
            xfleet_common::methods::CoreState::Running { .. }
        ) {
            return;
        }
        tracing::info!(clients = ?emails, "restarting the core to close the connections of clients taken out");
        // Read the counters first: a restart zeroes them.
        if let Some(batch) = self.journal_round().await {
            self.account(&mut inner, &batch);
        }
        if let Err(e) = self.supervisor.restart().await {
            tracing::error!(error = %e, "the core did not restart to close connections");
        }
    }
}

async fn send_batch(
    channel: &Channel,
    batch: &TrafficBatch,
) -> Result<(), xfleet_common::channel::CallError> {
    let body = xfleet_common::protocol::to_body(batch).expect("batch encodes");
    channel.send_event(TOPIC, Some(batch.seq), body).await
}

/// The API port of the config the core ran last, so an adopted core keeps its port.
fn running_api_port(config_file: &Path) -> Option<u16> {
    let config: Value = serde_json::from_slice(&std::fs::read(config_file).ok()?).ok()?;
    config["inbounds"]
        .as_array()?
        .iter()
        .find(|i| i["tag"] == "api")?["port"]
        .as_u64()
        .map(|p| p as u16)
}
