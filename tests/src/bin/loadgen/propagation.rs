//! Revision propagation: how long an operator waits, from saving a change, until every
//! server's agent has acknowledged the new revision. A routing change (the fleet template,
//! `PUT /api/v1/core/template`, one rule added or removed) is measured next to a client
//! change that reaches the same servers (one client attached to an inbound on every server,
//! its quota raised with `PUT /api/v1/clients/{email}`), interleaved in the same run, on
//! SQLite and, with `XFLEET_TEST_POSTGRES_URL`, PostgreSQL.
//!
//! The simulated agents answer like real ones: `state.apply` decodes the state and
//! acknowledges its revision (`Applied`), `state.check` decodes the state and accepts it.
//! The clock stops at the last acknowledgement sent by an agent; the controller's
//! `applied_revision` of every server is then checked to match.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::Notify;
use xfleet_common::channel::{Handler, IncomingCall};
use xfleet_common::protocol::{from_body, to_body, ErrorBody};
use xfleet_common::state::{method, Applied, ApplyState};
use xfleet_tests::{postgres_database, Api, Controller, ControllerOptions};

use super::{connect_many, enroll_all, ms, percentile, wait_connected};

/// The client whose change is the baseline.
const EMAIL: &str = "bench-client";

/// The revision each simulated agent last acknowledged, and when.
#[derive(Default)]
pub struct Acks {
    applied: Mutex<HashMap<i64, (u64, Instant)>>,
    checks: AtomicUsize,
    changed: Notify,
}

impl Acks {
    fn record(&self, server: i64, revision: u64) {
        let now = Instant::now();
        let mut applied = self.applied.lock().unwrap();
        let entry = applied.entry(server).or_insert((0, now));
        // A redelivered state keeps the time its revision first arrived.
        if revision > entry.0 {
            *entry = (revision, now);
        }
        drop(applied);
        self.changed.notify_waiters();
    }

    fn revisions(&self) -> HashMap<i64, u64> {
        let applied = self.applied.lock().unwrap();
        applied.iter().map(|(s, (r, _))| (*s, *r)).collect()
    }

    /// Waits until every server in `targets` acknowledged its target revision; answers
    /// when the last of them did (not before `since`), or the servers that never did.
    async fn reached(
        &self,
        targets: &HashMap<i64, u64>,
        since: Instant,
    ) -> Result<Instant, Vec<i64>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let applied = self.applied.lock().unwrap();
                let mut last = since;
                let mut missing = Vec::new();
                for (server, target) in targets {
                    match applied.get(server) {
                        Some((r, at)) if r >= target => last = last.max(*at),
                        _ => missing.push(*server),
                    }
                }
                if missing.is_empty() {
                    return Ok(last);
                }
                if Instant::now() > deadline {
                    return Err(missing);
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }
}

/// A simulated agent that takes every state it is sent.
pub struct AckingAgent {
    pub server: i64,
    pub acks: Arc<Acks>,
}

impl Handler for AckingAgent {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            method::APPLY => {
                let revision = match from_body::<ApplyState>(&call.body)? {
                    ApplyState::Full(state) => state.revision,
                    ApplyState::Diff(diff) => diff.revision,
                };
                self.acks.record(self.server, revision);
                to_body(&Applied {
                    revision,
                    ..Default::default()
                })
            }
            method::CHECK => {
                from_body::<ApplyState>(&call.body)?;
                self.acks.checks.fetch_add(1, Ordering::Relaxed);
                to_body(&json!({}))
            }
            "echo" => Ok(call.body),
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

/// One kind of change, measured round after round.
#[derive(Default)]
struct Series {
    /// Until the HTTP answer.
    save: Vec<Duration>,
    /// Until the last agent acknowledged.
    all: Vec<Duration>,
    checks: usize,
}

impl Series {
    fn print(&self, what: &str) {
        let line = |label: &str, times: &[Duration]| {
            let mut t = times.to_vec();
            t.sort();
            println!(
                "  {what:<15} {label:<27} p50 {:>11}  p95 {:>11}  max {:>11}",
                ms(percentile(&t, 0.5)),
                ms(percentile(&t, 0.95)),
                ms(t[t.len() - 1])
            );
        };
        line("save (HTTP answer)", &self.save);
        line("all agents acknowledged", &self.all);
        if self.checks > 0 {
            println!(
                "  {what:<15} state.check calls per save: {:.1}",
                self.checks as f64 / self.save.len() as f64
            );
        }
    }
}

pub async fn run(agents: usize, rounds: usize) -> anyhow::Result<()> {
    println!("# xfleet revision propagation: {agents} simulated agents, {rounds} rounds each");
    backend("SQLite", None, agents, rounds).await?;
    if let Some(url) = postgres_database().await {
        backend("PostgreSQL", Some(url), agents, rounds).await?;
    }
    Ok(())
}

async fn backend(
    name: &str,
    database_url: Option<String>,
    agents: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let ctl = Controller::start(ControllerOptions {
        database_url,
        heartbeat_secs: 25,
        offline_grace_secs: 90,
        extra_env: vec![
            ("XFLEET_ENROLL_PER_MINUTE".into(), "1000000".into()),
            ("XFLEET_GATEWAY_PENDING_PER_SOURCE".into(), "1000000".into()),
        ],
        ..Default::default()
    })
    .await;
    let identities = enroll_all(&ctl, agents).await?;
    let gateway = format!("https://127.0.0.1:{}", ctl.gateway_port);
    let acks = Arc::new(Acks::default());
    let mut channels = Vec::new();
    connect_many(&[gateway], &identities, &mut channels, |server| {
        AckingAgent {
            server,
            acks: acks.clone(),
        }
    })
    .await?;
    wait_connected(&ctl, agents).await?;
    let api = ctl.api();
    let servers: Vec<i64> = identities.iter().map(|i| i.server_id).collect();

    // One inbound on every server and one client attached to all of them.
    let mut inbounds = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let body = json!({"remark": "bench", "port": 20_000 + n, "protocol": "vless",
            "settings": {"decryption": "none", "clients": []},
            "streamSettings": {"network": "tcp"}});
        let inbound = api
            .call(
                "POST",
                &format!("/api/v1/servers/{server}/inbounds"),
                Some(body),
            )
            .await?;
        inbounds.push(inbound["id"].as_i64().context("inbound id")?);
    }
    let client = json!({"email": EMAIL, "totalGB": 100u64 << 30, "inboundIds": inbounds});
    api.call("POST", "/api/v1/clients", Some(client)).await?;
    let template = api
        .call("GET", "/api/v1/core/template/default", None)
        .await?;
    settle(&api, &acks).await?;

    let (mut routing, mut clients) = (Series::default(), Series::default());
    for round in 0..rounds {
        let mut with_rule = template.clone();
        if round % 2 == 0 {
            let rule = json!({"type": "field", "ip": [format!("198.51.100.{}", round + 1)],
                "outboundTag": "blocked"});
            with_rule["routing"]["rules"]
                .as_array_mut()
                .context("routing rules")?
                .push(rule);
        }
        let body = json!({ "config": with_rule });
        measure(
            &api,
            &acks,
            &servers,
            &mut routing,
            "PUT",
            "/api/v1/core/template",
            body,
        )
        .await?;
        let body = json!({ "totalGB": (100 + round as u64 + 1) << 30 });
        let path = format!("/api/v1/clients/{EMAIL}");
        measure(&api, &acks, &servers, &mut clients, "PUT", &path, body).await?;
    }

    println!(
        "\n{name}: one change reaching all {agents} servers, {rounds} rounds each, interleaved"
    );
    routing.print("routing change");
    clients.print("client change");
    Ok(())
}

/// Saves one change and waits until every server's agent acknowledged the revision it
/// made, then checks the controller recorded them.
async fn measure(
    api: &Api,
    acks: &Acks,
    servers: &[i64],
    series: &mut Series,
    verb: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<()> {
    let before = acks.revisions();
    let targets: HashMap<i64, u64> = servers
        .iter()
        .map(|s| (*s, before.get(s).copied().unwrap_or(0) + 1))
        .collect();
    let checks = acks.checks.load(Ordering::Relaxed);
    let started = Instant::now();
    api.call(verb, path, Some(body)).await?;
    series.save.push(started.elapsed());
    let last = match acks.reached(&targets, started).await {
        Ok(last) => last,
        Err(missing) => return Err(never_acknowledged(api, &targets, &missing).await),
    };
    series.all.push(last.duration_since(started));
    series.checks += acks.checks.load(Ordering::Relaxed) - checks;
    recorded(api, &targets).await
}

/// Waits until every server's acknowledged revision is the one the controller holds.
async fn settle(api: &Api, acks: &Acks) -> anyhow::Result<()> {
    let listed = api.call("GET", "/api/v1/servers", None).await?;
    let targets: HashMap<i64, u64> = listed
        .as_array()
        .context("server list")?
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap_or(0),
                s["revision"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    if let Err(missing) = acks.reached(&targets, Instant::now()).await {
        return Err(never_acknowledged(api, &targets, &missing).await);
    }
    recorded(api, &targets).await
}

/// What the controller says about servers whose agents never acknowledged their revision.
async fn never_acknowledged(
    api: &Api,
    targets: &HashMap<i64, u64>,
    missing: &[i64],
) -> anyhow::Error {
    let mut why = format!(
        "{} of {} agents never acknowledged their revision",
        missing.len(),
        targets.len()
    );
    for server in missing.iter().take(3) {
        let row = api
            .call("GET", &format!("/api/v1/servers/{server}"), None)
            .await;
        let tasks = api
            .call("GET", &format!("/api/v1/servers/{server}/tasks"), None)
            .await;
        why += &format!(
            "\nserver {server}, expected revision {}: {row:?}\ntasks: {tasks:?}",
            targets[server]
        );
    }
    anyhow::anyhow!(why)
}

/// Checks that each server is at its target revision and the controller recorded the
/// acknowledgement (`applied_revision`), waiting for answers still on their way.
async fn recorded(api: &Api, targets: &HashMap<i64, u64>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = api.call("GET", "/api/v1/servers", None).await?;
        let mut behind = 0;
        for s in listed.as_array().context("server list")? {
            let Some(target) = s["id"].as_i64().and_then(|id| targets.get(&id)) else {
                continue;
            };
            if s["revision"].as_u64() != Some(*target) {
                bail!(
                    "server {} is at revision {}, expected {target}: one change bumps it exactly once",
                    s["id"],
                    s["revision"]
                );
            }
            if s["applied_revision"].as_u64() != Some(*target) {
                behind += 1;
            }
        }
        if behind == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{behind} servers' acknowledgements were never recorded");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
