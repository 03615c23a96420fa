//! Load generator for the agent channel: many simulated agents (real TLS, WebSocket and
//! protocol, thousands per process) against a real `xfleet` controller process. Prints the
//! figures recorded in BENCHMARKS.md.
//!
//!     cargo build --release --workspace --bins
//!     target/release/xfleet-loadgen [--agents 5000] [--fanout 1000] [--storm 2000]
//!     target/release/xfleet-loadgen --propagation 100 [--rounds 20]
//!     target/release/xfleet-loadgen --cluster 10000
//!     target/release/xfleet-loadgen --stream-latency 10 [--rounds 20]
//!     target/release/xfleet-loadgen --rollout 1000 [--others 50] [--mib 10] [--fleet-nice 19]
//!         [--echo-rate 200]
//!
//! It enrolls every simulated agent through the real enrollment endpoint, so the controller's
//! database and CA do the same work as for real agents. `--propagation N` measures instead
//! how long a routing change and a client change take to reach N agents (`propagation`).
//! `--stream-latency MIB` measures a call's latency while a stream of MIB MiB shares its
//! channel (`stream`). `--rollout N` pushes an agent update to N agents through the rollout
//! API and measures echo latency to other agents meanwhile (`rollout`). `--cluster N` runs N
//! agents on one controller, then on three sharing one PostgreSQL database, and kills one
//! (`cluster`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;
use xfleet_agent::connection::{backoff::Backoff, dial, heartbeat_interval, DialError};
use xfleet_common::channel::{Channel, Handler, IncomingCall};
use xfleet_common::methods::Heartbeat;
use xfleet_common::protocol::{self, to_body, ErrorBody, Hello, Welcome};
use xfleet_tests::{Controller, ControllerOptions, TempDir};

#[path = "loadgen/cluster.rs"]
mod cluster;
#[path = "loadgen/propagation.rs"]
mod propagation;
#[path = "loadgen/rollout.rs"]
mod rollout;
#[path = "loadgen/stream.rs"]
mod stream;

/// What a simulated agent answers: `echo`, like the real agent.
struct SimAgent;

impl Handler for SimAgent {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            "echo" => Ok(call.body),
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

/// One enrolled simulated agent.
struct Identity {
    server_id: i64,
    tls: Arc<rustls::ClientConfig>,
}

fn hello(server_id: i64) -> Hello {
    Hello {
        agent_version: xfleet_common::VERSION.into(),
        protocol_versions: protocol::SUPPORTED_VERSIONS.to_vec(),
        server_id,
        hostname: format!("sim-{server_id}"),
        // One core version fleet-wide: a template is tested by one core (`state.check`).
        core_flavour: Some("xray".into()),
        core_version: Some("25.1.30".into()),
        ..Default::default()
    }
}

struct Args {
    agents: usize,
    fanout: usize,
    storm: usize,
    /// Agents for the propagation benchmark; 0 runs the channel benchmark.
    propagation: usize,
    /// Agents spread over three controllers on PostgreSQL; 0 runs the channel benchmark.
    cluster: usize,
    /// MiB streamed by the stream latency benchmark; 0 runs the channel benchmark.
    stream_latency: usize,
    rounds: usize,
    /// Agents a rollout pushes an update to; 0 runs the channel benchmark.
    rollout: usize,
    /// Agents outside the rollout whose echo latency is measured.
    others: usize,
    /// Size of the pushed agent binary in MiB.
    mib: usize,
    /// CPU priority of the simulated agents a rollout updates.
    fleet_nice: i32,
    /// Echo calls per second during a rollout; 0: back to back.
    echo_rate: u32,
}

fn args() -> Args {
    let mut a = Args {
        agents: 5000,
        fanout: 1000,
        storm: 2000,
        propagation: 0,
        cluster: 0,
        stream_latency: 0,
        rounds: 20,
        rollout: 0,
        others: 50,
        mib: 10,
        fleet_nice: 19,
        echo_rate: 200,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        match pair[0].as_str() {
            "--agents" => a.agents = value,
            "--fanout" => a.fanout = value,
            "--storm" => a.storm = value,
            "--propagation" => a.propagation = value,
            "--cluster" => a.cluster = value,
            "--stream-latency" => a.stream_latency = value,
            "--rounds" => a.rounds = value.max(1),
            "--rollout" => a.rollout = value,
            "--others" => a.others = value.max(1),
            "--mib" => a.mib = value.max(1),
            "--fleet-nice" => a.fleet_nice = value.min(19) as i32,
            "--echo-rate" => a.echo_rate = value as u32,
            other => panic!("unknown argument {other}"),
        }
    }
    a.fanout = a.fanout.min(a.agents);
    a.storm = a.storm.min(a.agents);
    a
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--echo-server") {
        return echo_server().await;
    }
    raise_open_files();
    let args = args();
    if args.cluster > 0 {
        return cluster::run(args.cluster).await;
    }
    if args.propagation > 0 {
        return propagation::run(args.propagation, args.rounds).await;
    }
    if args.rollout > 0 {
        return rollout::run(
            args.rollout,
            args.others,
            args.mib,
            args.fleet_nice,
            args.echo_rate,
        )
        .await;
    }
    if args.stream_latency > 0 {
        return stream::run(args.stream_latency, args.rounds).await;
    }
    println!("# xfleet channel benchmark");
    println!(
        "machine: {} cores; controller: release build, SQLite",
        std::thread::available_parallelism()?.get()
    );

    let mut ctl = Controller::start(bench_options(None)).await;
    let pid = ctl_pid(&ctl)?;
    let identities = enroll_all(&ctl, args.agents).await?;
    let gateway = format!("https://127.0.0.1:{}", ctl.gateway_port);
    let gateways = [gateway.clone()];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_base = rss_kib(pid);
    println!("\n## Memory per idle agent connection");
    println!(
        "controller RSS with {} servers enrolled, none connected: {} KiB",
        args.agents, rss_base
    );

    let mut channels: Vec<Channel> = Vec::new();
    let mut sizes = vec![1000usize.min(args.agents), args.agents];
    sizes.dedup();
    for n in sizes {
        let started = Instant::now();
        connect_many(
            &gateways,
            &identities[channels.len()..n],
            &mut channels,
            |_| SimAgent,
        )
        .await?;
        wait_connected(&ctl, n).await?;
        let took = started.elapsed();
        // Let buffers settle as on an idle fleet.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss = rss_kib(pid);
        println!(
            "N = {n}: controller RSS {rss} KiB → {:.1} KiB per agent (connected in {:.1} s)",
            (rss.saturating_sub(rss_base)) as f64 / n as f64,
            took.as_secs_f64()
        );
    }

    println!("\n## Call round trip (64-byte body, one call at a time)");
    let echo_port = spawn_echo_server()?;
    // Interleaved rounds, so both see the same machine conditions.
    let mut raw_ws = raw_echo_client(echo_port).await?;
    let (mut raw_times, mut chan_times) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        raw_times.extend(raw_echo_rtt(&mut raw_ws, 300).await?);
        chan_times.extend(channel_rtt(&channels[0], 300).await?);
    }
    let (raw, chan) = (quantiles(raw_times), quantiles(chan_times));
    println!(
        "raw TLS WebSocket echo (separate process): p50 {} p99 {}",
        ms(raw.0),
        ms(raw.1)
    );
    println!(
        "xfleet channel call (agent→controller echo): p50 {} p99 {}  ({:.2}× raw p50)",
        ms(chan.0),
        ms(chan.1),
        chan.0.as_secs_f64() / raw.0.as_secs_f64()
    );
    let api = api_rtt(&ctl, identities[0].server_id, 500).await?;
    println!("HTTP API → controller → agent → back (POST /api/v1/servers/{{id}}/call echo): p50 {} p99 {}", ms(api.0), ms(api.1));

    println!("\n## Throughput on one channel, 64 calls in flight");
    let rate = throughput(&channels[0], 64, Duration::from_secs(5)).await;
    println!("{rate:.0} calls/s");

    println!("\n## Fan-out: one call to {} agents at once", args.fanout);
    let ids: Vec<i64> = identities[..args.fanout]
        .iter()
        .map(|i| i.server_id)
        .collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let answer = ctl
            .api()
            .ok(
                "POST",
                "/api/v1/fleet/call",
                // The route names at most 1,000 servers; without a list it calls them all.
                Some(if ids.len() == identities.len() {
                    json!({"method": "echo", "body": {"x": 1}})
                } else {
                    json!({"method": "echo", "body": {"x": 1}, "servers": ids})
                }),
            )
            .await;
        let wall = started.elapsed();
        if answer["succeeded"].as_u64() != Some(ids.len() as u64) {
            bail!("fan-out: not every agent answered: {}", answer["failed"]);
        }
        times.push((answer["elapsed_ms"].as_f64().unwrap_or(0.0), wall));
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (inside, wall) = times[2];
    println!(
        "median of 5: {inside:.1} ms inside the controller, {:.1} ms including the HTTP request",
        wall.as_secs_f64() * 1000.0
    );

    println!(
        "\n## Reconnect storm: kill -9 and restart the controller with {} agents connected",
        args.storm
    );
    for c in &channels[args.storm..] {
        c.close("benchmark: not part of the storm");
    }
    channels.truncate(args.storm);
    wait_connected(&ctl, args.storm).await?;
    storm(
        &mut ctl,
        &gateway,
        identities[..args.storm].iter().collect(),
        channels,
    )
    .await?;
    Ok(())
}

/// A controller as in production but for the enrollment rate and the per-source connection
/// cap: every simulated agent enrolls and dials from this one address.
fn bench_options(database_url: Option<String>) -> ControllerOptions {
    ControllerOptions {
        database_url,
        heartbeat_secs: 25,
        offline_grace_secs: 90,
        extra_env: vec![
            ("XFLEET_ENROLL_PER_MINUTE".into(), "1000000".into()),
            ("XFLEET_GATEWAY_PENDING_PER_SOURCE".into(), "1000000".into()),
        ],
        ..Default::default()
    }
}

fn ctl_pid(ctl: &Controller) -> anyhow::Result<u32> {
    let run = xfleet_tests::read_json(&ctl.dir.path().join("run.json"))?;
    run["pid"]
        .as_u64()
        .map(|p| p as u32)
        .context("pid in run.json")
}

/// Creates servers and enrolls one simulated agent for each, 16 at a time.
async fn enroll_all(ctl: &Controller, n: usize) -> anyhow::Result<Vec<Identity>> {
    let started = Instant::now();
    let dir = Arc::new(TempDir::new("loadgen"));
    let limit = Arc::new(Semaphore::new(16));
    let mut jobs = Vec::new();
    for i in 0..n {
        let permit = limit.clone().acquire_owned().await?;
        let api = ctl.api();
        let dir = dir.clone();
        jobs.push(tokio::spawn(async move {
            let _permit = permit;
            let server = api
                .call(
                    "POST",
                    "/api/v1/servers",
                    Some(json!({"name": format!("sim-{i}")})),
                )
                .await?;
            let id = server["id"].as_i64().context("server id")?;
            let t = api
                .call(
                    "POST",
                    &format!("/api/v1/servers/{id}/enrollment-tokens"),
                    None,
                )
                .await?;
            let token = t["token"].as_str().context("token")?;
            let config_dir = dir.path().join(format!("a{i}"));
            let config =
                xfleet_agent::enroll::enroll(token, &config_dir, &config_dir, false).await?;
            let read = |f: &str| std::fs::read_to_string(config_dir.join(f));
            let tls = xfleet_agent::tls::client_config(
                &read("agent.pem")?,
                &read("agent.key")?,
                &read("ca.pem")?,
            )?;
            anyhow::Ok(Identity {
                server_id: config.server_id,
                tls,
            })
        }));
    }
    let mut out = Vec::with_capacity(n);
    for j in jobs {
        out.push(j.await??);
    }
    println!(
        "enrolled {n} simulated agents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Dials each identity with the handler `agent` makes for its server, 64 at a time,
/// honouring the admission limit's Retry-After. Agent `i` starts with gateway
/// `i % gateways.len()` and moves to the next one when a dial fails; each heartbeats from
/// its first connection on.
async fn connect_many<H: Handler + Send + Sync + 'static>(
    gateways: &[String],
    ids: &[Identity],
    out: &mut Vec<Channel>,
    agent: impl Fn(i64) -> H,
) -> anyhow::Result<()> {
    let limit = Arc::new(Semaphore::new(64));
    let gateways: Arc<[String]> = gateways.into();
    let mut jobs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let permit = limit.clone().acquire_owned().await?;
        let (gateways, tls, server_id) = (gateways.clone(), id.tls.clone(), id.server_id);
        let handler = Arc::new(agent(server_id));
        jobs.push(tokio::spawn(async move {
            let _permit = permit;
            connect_one(&gateways, i, tls, server_id, handler).await
        }));
    }
    for j in jobs {
        out.push(j.await??);
    }
    Ok(())
}

/// One simulated agent's connection: dials the gateways in turn from `first`, waits out
/// Retry-After, and keeps heartbeating once connected.
async fn connect_one<H: Handler + Send + Sync + 'static>(
    gateways: &[String],
    first: usize,
    tls: Arc<rustls::ClientConfig>,
    server_id: i64,
    handler: Arc<H>,
) -> anyhow::Result<Channel> {
    let mut failures = 0;
    for n in first.. {
        let gateway = &gateways[n % gateways.len()];
        match dial(gateway, tls.clone(), hello(server_id), handler.clone()).await {
            Ok((channel, welcome)) => {
                keep_beating(channel.clone(), &welcome);
                return Ok(channel);
            }
            Err(DialError::RetryAfter(d)) => tokio::time::sleep(d).await,
            Err(e) => {
                failures += 1;
                if failures >= 3 * gateways.len() {
                    bail!("agent {server_id}: {e}");
                }
            }
        }
    }
    unreachable!("the gateway loop only ends by returning")
}

async fn wait_connected(ctl: &Controller, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, body) =
            xfleet_controller::cli::request(&ctl.panel_url(), "GET", "/api/v1/health", &[], None)
                .await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        if v["data"]["agents_connected"].as_u64() == Some(n as u64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} agents connected",
                v["data"]["agents_connected"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Heartbeats on a channel from now until it closes, at the interval the controller's
/// Welcome asked for, as the real agent does from its first connection on.
fn keep_beating(channel: Channel, welcome: &Welcome) {
    let interval = heartbeat_interval(welcome);
    tokio::spawn(async move {
        let body = to_body(&Heartbeat::default()).expect("encodes");
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = channel.closed() => break,
                _ = tick.tick() => {}
            }
            if channel
                .send_event(protocol::topic::HEARTBEAT, None, body.clone())
                .await
                .is_err()
            {
                break;
            }
        }
    });
}

/// Raises this process's open-files soft limit to its hard limit (one socket per simulated
/// agent; the controller it starts inherits the limit) and prints what it got.
fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        println!("open files: limit unknown");
        return;
    };
    if soft < hard {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            println!("open files: soft limit stays {soft} (raising to {hard}: {e})");
            return;
        }
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((soft, hard));
    println!("open files: soft limit {soft} (hard {hard})");
}

async fn channel_rtt(channel: &Channel, samples: usize) -> anyhow::Result<Vec<Duration>> {
    let body = vec![7u8; 64];
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let t = Instant::now();
        channel
            .call("echo", body.clone(), Duration::from_secs(5), None)
            .await?;
        if i >= 20 {
            times.push(t.elapsed());
        }
    }
    Ok(times)
}

fn quantiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

async fn api_rtt(
    ctl: &Controller,
    server_id: i64,
    samples: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let api = ctl.api();
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        api.agent_call(server_id, "echo", json!({"x": "y"})).await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

async fn throughput(channel: &Channel, in_flight: usize, length: Duration) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Instant::now() + length;
    let workers = (0..in_flight).map(|_| {
        let (channel, done) = (channel.clone(), done.clone());
        tokio::spawn(async move {
            while Instant::now() < stop {
                if channel
                    .call("echo", vec![1u8; 64], Duration::from_secs(5), None)
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    futures_util::future::join_all(workers).await;
    done.load(Ordering::Relaxed) as f64 / length.as_secs_f64()
}

/// Kills the controller with every agent connected, restarts it, and watches them return.
async fn storm(
    ctl: &mut Controller,
    gateway: &str,
    ids: Vec<&Identity>,
    channels: Vec<Channel>,
) -> anyhow::Result<()> {
    let n = ids.len();
    let admitted: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let kill_at = Instant::now();
    ctl.kill9();
    for c in &channels {
        let _ = tokio::time::timeout(Duration::from_secs(30), c.closed()).await;
    }
    let restart_at = Instant::now();
    let mut agents = Vec::new();
    for id in ids {
        let (gateway, tls, server_id, admitted) = (
            gateway.to_owned(),
            id.tls.clone(),
            id.server_id,
            admitted.clone(),
        );
        // The agent's own reconnect policy: full jitter, base 1 s, cap 90 s, Retry-After honoured.
        agents.push(tokio::spawn(async move {
            let mut backoff = Backoff::new(&xfleet_agent::config::ReconnectConfig::default());
            let mut attempts = 0u32;
            loop {
                tokio::time::sleep(backoff.next_delay()).await;
                attempts += 1;
                match dial(&gateway, tls.clone(), hello(server_id), Arc::new(SimAgent)).await {
                    Ok((channel, welcome)) => {
                        keep_beating(channel.clone(), &welcome);
                        admitted.lock().unwrap().push(Instant::now());
                        return (channel, attempts);
                    }
                    Err(DialError::RetryAfter(d)) => {
                        tokio::time::sleep(d + xfleet_agent::connection::backoff::jitter(d / 2))
                            .await
                    }
                    Err(_) => {}
                }
            }
        }));
    }
    ctl.restart().await;
    let ready_at = Instant::now();
    let mut attempts = Vec::new();
    let mut kept = Vec::new();
    for a in agents {
        let (channel, n_attempts) = tokio::time::timeout(Duration::from_secs(600), a)
            .await
            .context("an agent never came back")??;
        attempts.push(n_attempts);
        kept.push(channel);
    }
    wait_connected(ctl, n).await?;
    let all_at = Instant::now();
    let times = admitted.lock().unwrap().clone();
    let mut per_second = std::collections::BTreeMap::<u64, usize>::new();
    for t in &times {
        *per_second
            .entry(t.duration_since(restart_at).as_secs())
            .or_default() += 1;
    }
    let peak = per_second.values().max().copied().unwrap_or(0);
    attempts.sort();
    println!(
        "controller down {:.1} s (kill -9 to healthy again)",
        ready_at.duration_since(kill_at).as_secs_f64()
    );
    println!(
        "all {n} agents online {:.1} s after the controller was back ({:.1} s after the kill)",
        all_at.duration_since(ready_at).as_secs_f64(),
        all_at.duration_since(kill_at).as_secs_f64()
    );
    println!(
        "peak admitted handshakes: {peak}/s; dial attempts per agent: median {}, max {}",
        attempts[attempts.len() / 2],
        attempts[attempts.len() - 1]
    );
    println!("agents that gave up: 0 of {n} (every agent reconnected)");
    Ok(())
}

// --- raw TLS WebSocket echo, the baseline -------------------------------------------------

fn spawn_echo_server() -> anyhow::Result<u16> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--echo-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    // The echo server exits when its stdin closes, i.e. when this process ends.
    std::mem::forget(child);
    Ok(line.trim().parse()?)
}

/// TLS 1.3 with a fresh self-signed certificate for 127.0.0.1.
fn self_signed_acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.self_signed(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn echo_server() -> anyhow::Result<()> {
    let acceptor = self_signed_acceptor()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_binary() && ws.send(msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn raw_echo_client(port: u16) -> anyhow::Result<RawWs> {
    #[derive(Debug)]
    struct AnyCert;
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls::pki_types::ServerName::try_from("127.0.0.1")?, tcp)
        .await?;
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/"), tls).await?;
    Ok(ws)
}

async fn raw_echo_rtt(ws: &mut RawWs, samples: usize) -> anyhow::Result<Vec<Duration>> {
    // Same size as an encoded xfleet echo request with a 64-byte body.
    let frame = protocol::encode(&protocol::Frame::Request(protocol::Request {
        id: 1,
        method: "echo".into(),
        deadline_ms: 5000,
        idempotency_key: None,
        body: vec![7u8; 64],
        stream_len: None,
    }));
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let t = Instant::now();
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            frame.clone().into(),
        ))
        .await?;
        ws.next().await.context("echo closed")??;
        if i >= 20 {
            times.push(t.elapsed());
        }
    }
    Ok(times)
}
