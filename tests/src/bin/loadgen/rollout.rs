//! An agent update pushed to a fleet through the rollout API: `--rollout N` simulated agents
//! (real TLS, WebSocket and protocol 2 channels to a real release controller) are sent a
//! `--mib` MiB agent binary in one batch of all of them (`canary` 0, `batch` N; the engine
//! caps transfers at 8 at once). Each simulated agent answers `agent.update` as the real one
//! checks it: it reads the whole stream, hashes it, compares the digest and verifies the
//! signature against the CA certificate, then closes and reconnects reporting the new
//! version. Meanwhile `--others` more agents, not in the rollout, answer `echo` calls made
//! through the native API (`POST /servers/{id}/call`); their latency is measured while the
//! controller is idle and during the push, in the same run.
//!
//! On a real fleet the agents that decrypt, hash and verify 10 GB run on 1,000 other hosts.
//! Here they share this machine's cores with the controller, so the updating agents run on
//! their own runtime whose threads have the lowest CPU priority (`--fleet-nice 19`, the
//! default): the figure is then the controller's own latency, not how the kernel shares two
//! cores between it and the simulated fleet. `--fleet-nice 0` runs them as before, at the
//! controller's priority; the benchmark prints which it used.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use sha2::{Digest, Sha256};
use xfleet_agent::connection::{dial, DialError};
use xfleet_common::channel::{Channel, Handler, IncomingCall};
use xfleet_common::methods::{AgentUpdateAnswer, AgentUpdateRequest};
use xfleet_common::protocol::{from_body, to_body, ErrorBody, Hello};
use xfleet_tests::{Controller, ControllerOptions, TempDir};

use super::{connect_many, ctl_pid, enroll_all, hello, ms, percentile, wait_connected, SimAgent};

const VERSION: &str = "9.9.9";

/// What the simulated fleet shares: the channels to keep, and how many agents took the update.
#[derive(Default)]
struct Fleet {
    channels: Mutex<Vec<Channel>>,
    accepted: AtomicUsize,
    reconnected: AtomicUsize,
}

/// A simulated agent that takes an update as the real one checks it.
#[derive(Clone)]
struct UpdatingAgent {
    server: i64,
    gateway: String,
    tls: Arc<rustls::ClientConfig>,
    ca_pem: Arc<String>,
    fleet: Arc<Fleet>,
}

fn hello_as(server: i64, version: &str) -> Hello {
    Hello {
        agent_version: version.into(),
        arch: std::env::consts::ARCH.into(),
        ..hello(server)
    }
}

impl Handler for UpdatingAgent {
    async fn request(&self, mut call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            "echo" => Ok(call.body),
            "agent.update" => {
                let request: AgentUpdateRequest = from_body(&call.body)?;
                let stream = call
                    .stream
                    .as_mut()
                    .ok_or(ErrorBody::invalid("no stream"))?;
                let mut hasher = Sha256::new();
                let mut read = 0u64;
                while let Some(chunk) = stream
                    .next_chunk()
                    .await
                    .map_err(|e| ErrorBody::internal(e.to_string()))?
                {
                    read += chunk.len() as u64;
                    hasher.update(&chunk);
                }
                let digest: String = hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if digest != request.sha256 || read != stream.len() {
                    return Err(ErrorBody::invalid("SHA-256 mismatch"));
                }
                xfleet_agent::update::verify::verify(
                    &self.ca_pem,
                    &request.sha256,
                    &request.version,
                    &request.arch,
                    &request.signature,
                )
                .map_err(ErrorBody::invalid)?;
                self.fleet.accepted.fetch_add(1, Ordering::Relaxed);
                // Like the real agent: answer, then go and come back as the new version.
                let (old, me) = (call.channel.clone(), self.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    old.go_away(Duration::ZERO, "restarting into the update");
                    me.reconnect().await;
                });
                to_body(&AgentUpdateAnswer {
                    from_version: xfleet_common::VERSION.into(),
                    version: request.version,
                    trial_ms: 60_000,
                })
            }
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

impl UpdatingAgent {
    async fn reconnect(self) {
        let handler = Arc::new(self.clone());
        loop {
            let hello = hello_as(self.server, VERSION);
            match dial(&self.gateway, self.tls.clone(), hello, handler.clone()).await {
                Ok((channel, _)) => {
                    self.fleet.channels.lock().unwrap().push(channel);
                    self.fleet.reconnected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    eprintln!("agent {} reconnecting: {e}", self.server);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// Echo calls through the API to `servers` from `workers` callers, at most `rate` a second
/// together (0: each caller back to back), until `stop` is set or `samples` were taken.
async fn echo_latency(
    ctl: &Controller,
    servers: &[i64],
    workers: usize,
    rate: u32,
    samples: Option<usize>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Duration>> {
    let taken = Arc::new(AtomicUsize::new(0));
    let mut jobs = Vec::new();
    for w in 0..workers {
        let (api, servers, stop, taken) =
            (ctl.api(), servers.to_vec(), stop.clone(), taken.clone());
        let mut pace = (rate > 0).then(|| {
            let period = Duration::from_secs_f64(workers as f64 / f64::from(rate));
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        jobs.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed)
                && samples.is_none_or(|n| taken.fetch_add(1, Ordering::Relaxed) < n)
            {
                if let Some(ticks) = pace.as_mut() {
                    ticks.tick().await;
                }
                let server = servers[i % servers.len()];
                i += workers;
                let t = Instant::now();
                api.agent_call(server, "echo", json!({"x": "y"})).await?;
                times.push(t.elapsed());
            }
            anyhow::Ok(times)
        }));
    }
    let mut all = Vec::new();
    for j in jobs {
        all.extend(j.await??);
    }
    all.sort();
    Ok(all)
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A runtime for the updating agents whose worker threads run at CPU priority `nice`.
fn fleet_runtime(nice: i32) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleet")
        .on_thread_start(move || {
            if nice == 0 {
                return;
            }
            // On Linux a priority set on a thread id applies to that thread alone.
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
            let status = tid.and_then(|tid| {
                std::process::Command::new("renice")
                    .args(["-n", &nice.to_string(), "-p", &tid])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .ok()
            });
            if !status.is_some_and(|s| s.success()) {
                eprintln!("cannot lower the priority of a fleet thread");
            }
        })
        .enable_all()
        .build()?)
}

pub async fn run(
    agents: usize,
    others: usize,
    mib: usize,
    nice: i32,
    echo_rate: u32,
) -> anyhow::Result<()> {
    println!(
        "# xfleet agent rollout: a {mib} MiB agent to {agents} simulated agents, \
         echo calls to {others} others"
    );
    println!(
        "updating agents: own runtime, 2 threads at nice {nice}; controller, echo agents and \
         API client at nice 0"
    );
    let pace = match echo_rate {
        0 => "4 callers back to back".to_owned(),
        r => format!("{r} calls/s from 4 callers"),
    };
    println!("echo calls: {pace}");
    let fleet_rt = fleet_runtime(nice)?;
    let binaries = TempDir::new("rollout-bin");
    let binary: Vec<u8> = (0..(mib as u32) << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let name = format!("xfleet-agent-{VERSION}-linux-{}", std::env::consts::ARCH);
    std::fs::write(binaries.path().join(name), &binary)?;
    let ctl = Controller::start(ControllerOptions {
        // Long enough that idle simulated agents need no heartbeats during the run.
        heartbeat_secs: 600,
        offline_grace_secs: 90,
        extra_env: vec![
            ("XFLEET_ENROLL_PER_MINUTE".into(), "1000000".into()),
            ("XFLEET_GATEWAY_PENDING_PER_SOURCE".into(), "1000000".into()),
            (
                "XFLEET_AGENT_BINARIES_DIR".into(),
                binaries.path().display().to_string(),
            ),
        ],
        ..Default::default()
    })
    .await;
    let pid = ctl_pid(&ctl)?;
    let identities = enroll_all(&ctl, agents + others).await?;
    let (updating, echoing) = identities.split_at(agents);
    let gateway = format!("https://127.0.0.1:{}", ctl.gateway_port);
    let fleet = Arc::new(Fleet::default());
    let ca_pem = Arc::new(ctl.ca_pem());
    let dials = updating.iter().map(|id| {
        let agent = UpdatingAgent {
            server: id.server_id,
            gateway: gateway.clone(),
            tls: id.tls.clone(),
            ca_pem: ca_pem.clone(),
            fleet: fleet.clone(),
        };
        (id.server_id, id.tls.clone(), agent)
    });
    let dials: Vec<_> = dials.collect();
    let gw = gateway.clone();
    // Dialled from the fleet runtime, so each channel's tasks (and its reconnects) run there.
    let mut channels = fleet_rt
        .spawn(async move {
            let mut channels = Vec::new();
            for (server, tls, agent) in dials {
                let handler = Arc::new(agent);
                let channel = loop {
                    let hello = hello_as(server, xfleet_common::VERSION);
                    match dial(&gw, tls.clone(), hello, handler.clone()).await {
                        Ok((channel, _)) => break channel,
                        // The controller's admission limit.
                        Err(DialError::RetryAfter(wait)) => tokio::time::sleep(wait).await,
                        Err(e) => bail!("agent {server}: {e}"),
                    }
                };
                channels.push(channel);
            }
            anyhow::Ok(channels)
        })
        .await??;
    connect_many(
        std::slice::from_ref(&gateway),
        echoing,
        &mut channels,
        |_| SimAgent,
    )
    .await?;
    wait_connected(&ctl, agents + others).await?;
    let api = ctl.api();
    let others: Vec<i64> = echoing.iter().map(|i| i.server_id).collect();
    let workers = 4;

    let idle = echo_latency(
        &ctl,
        &others,
        workers,
        echo_rate,
        Some(2000),
        Arc::default(),
    )
    .await?;
    let rss_before = vm_kib(pid, "VmRSS:");

    let stop = Arc::new(AtomicBool::new(false));
    let servers: Vec<i64> = updating.iter().map(|i| i.server_id).collect();
    let started = Instant::now();
    let push = async {
        let body = json!({"version": VERSION, "servers": servers, "canary": 0, "batch": agents});
        let rollout = api.call("POST", "/api/v1/agent/rollouts", Some(body)).await;
        let result = async {
            let id = rollout?["id"].as_i64().context("rollout id")?;
            let mut peak_rss = 0;
            loop {
                peak_rss = peak_rss.max(vm_kib(pid, "VmRSS:"));
                let r = api
                    .call("GET", &format!("/api/v1/agent/rollouts/{id}"), None)
                    .await?;
                if r["state"] != "running" {
                    return Ok((r, started.elapsed(), peak_rss));
                }
                if started.elapsed() > Duration::from_secs(1800) {
                    bail!("the rollout did not finish in 30 min: {}", r["counts"]);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        .await;
        stop.store(true, Ordering::Relaxed);
        result
    };
    let (during, pushed) = tokio::join!(
        echo_latency(&ctl, &others, workers, echo_rate, None, stop.clone()),
        push
    );
    let (during, (finished, total, peak_rss)) = (during?, pushed?);
    let hwm = vm_kib(pid, "VmHWM:");
    drop(channels);
    fleet.channels.lock().unwrap().clear();
    fleet_rt.shutdown_background();

    println!(
        "\nrollout {}: {} in {:.1} s ({} accepted and reconnected: {}/{})",
        finished["state"],
        finished["counts"],
        total.as_secs_f64(),
        agents,
        fleet.accepted.load(Ordering::Relaxed),
        fleet.reconnected.load(Ordering::Relaxed)
    );
    println!(
        "  data pushed: {:.0} MiB, {:.1} MiB/s",
        (agents * mib) as f64,
        (agents * mib) as f64 / total.as_secs_f64()
    );
    println!(
        "  controller RSS: {:.1} MiB before the push, sampled peak during it {:.1} MiB, \
         VmHWM (whole run) {:.1} MiB",
        rss_before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let line = |label: &str, t: &[Duration]| {
        println!(
            "  echo to other agents via API, {label:<12} n={:<6} p50 {:>11}  p99 {:>11}",
            t.len(),
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99))
        );
    };
    line("idle", &idle);
    line("during push", &during);
    println!(
        "  p99 during / idle: {:.2}x",
        percentile(&during, 0.99).as_secs_f64() / percentile(&idle, 0.99).as_secs_f64()
    );
    Ok(())
}
