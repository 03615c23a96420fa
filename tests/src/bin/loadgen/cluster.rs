//! `--cluster N`: N simulated agents (10,000 by default) against one controller, then the
//! same fleet over three controllers on one PostgreSQL database (DESIGN §14). Printed, from
//! the same run: controller memory per connected agent with one and with three controllers;
//! a call through the HTTP API to an agent held by the controller asked (direct) against one
//! held by another controller (routed through its gateway), interleaved; one call to every
//! agent at once (fan-out), from one controller and from three; and `kill -9` of one of three
//! controllers: how long until every agent it held is back on the other two, how many gave up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use xfleet_agent::connection::{backoff::Backoff, dial, DialError};
use xfleet_common::channel::Channel;
use xfleet_tests::{postgres_database, Controller, ControllerOptions};

use super::{
    api_rtt, bench_options, connect_many, ctl_pid, enroll_all, hello, keep_beating, ms, percentile,
    rss_kib, Identity, SimAgent,
};

fn options(db: &str) -> ControllerOptions {
    bench_options(Some(db.to_owned()))
}

fn gateway(ctl: &Controller) -> String {
    format!("https://127.0.0.1:{}", ctl.gateway_port)
}

/// Agents connected to this controller, from its health answer.
async fn connected(ctl: &Controller) -> anyhow::Result<u64> {
    let (_, body) =
        xfleet_controller::cli::request(&ctl.panel_url(), "GET", "/api/v1/health", &[], None)
            .await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    v["data"]["agents_connected"]
        .as_u64()
        .context("agents_connected")
}

async fn wait_counts(ctls: &[&Controller], want: &[u64]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut have = Vec::new();
        for c in ctls {
            have.push(connected(c).await?);
        }
        if have == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("agents connected {have:?}, expected {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One fleet call to every server from `ctl`, five times: the median inside the controller
/// and with the HTTP request.
async fn fan_out(ctl: &Controller, n: usize) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let answer = ctl
            .api()
            .call(
                "POST",
                "/api/v1/fleet/call",
                Some(json!({"method": "echo", "body": {"x": 1}})),
            )
            .await?;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        if answer["succeeded"].as_u64() != Some(n as u64) {
            bail!(
                "fan-out: {} of {n} answered",
                answer["succeeded"].as_u64().unwrap_or(0)
            );
        }
        times.push((answer["elapsed_ms"].as_f64().unwrap_or(0.0), wall));
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(times[2])
}

pub async fn run(n: usize) -> anyhow::Result<()> {
    let db = postgres_database()
        .await
        .context("--cluster needs XFLEET_TEST_POSTGRES_URL (a PostgreSQL server)")?;
    println!("# xfleet: {n} simulated agents on one and on three controllers");
    println!(
        "machine: {} cores; controllers: release build, one PostgreSQL database",
        std::thread::available_parallelism()?.get()
    );
    let a = Controller::start(options(&db)).await;
    let identities = enroll_all(&a, n).await?;

    println!("\n## One controller");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_a = rss_kib(ctl_pid(&a)?);
    let started = Instant::now();
    let mut channels: Vec<Channel> = Vec::new();
    connect_many(&[gateway(&a)], &identities, &mut channels, |_| SimAgent).await?;
    wait_counts(&[&a], &[n as u64]).await?;
    println!(
        "{n} agents connected in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_a = rss_kib(ctl_pid(&a)?);
    println!(
        "controller RSS {rss_a} KiB → {:.1} KiB per agent (RSS with none connected: {base_a} KiB)",
        rss_a.saturating_sub(base_a) as f64 / n as f64
    );
    let (inside, wall) = fan_out(&a, n).await?;
    println!("fan-out to all {n}: median of 5 {inside:.1} ms inside the controller, {wall:.1} ms with the HTTP request");

    println!("\n## Three controllers");
    let b = Controller::join(&a, options(&db)).await;
    let c = Controller::join(&a, options(&db)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (base_b, base_c) = (rss_kib(ctl_pid(&b)?), rss_kib(ctl_pid(&c)?));
    // Two thirds of the agents move: agent i goes to controller i % 3.
    let moving: Vec<usize> = (0..n).filter(|i| i % 3 != 0).collect();
    for &i in &moving {
        channels[i].close("benchmark: moving to another controller");
    }
    let gateways = [gateway(&a), gateway(&b), gateway(&c)];
    let started = Instant::now();
    let mut moved: Vec<Channel> = Vec::new();
    let per = |k: usize| (0..n).filter(|i| i % 3 == k).count() as u64;
    let copy = |i: usize| Identity {
        server_id: identities[i].server_id,
        tls: identities[i].tls.clone(),
    };
    let to_b: Vec<Identity> = moving
        .iter()
        .filter(|&&i| i % 3 == 1)
        .map(|&i| copy(i))
        .collect();
    let to_c: Vec<Identity> = moving
        .iter()
        .filter(|&&i| i % 3 == 2)
        .map(|&i| copy(i))
        .collect();
    connect_many(&gateways[1..2], &to_b, &mut moved, |_| SimAgent).await?;
    let mut on_c: Vec<Channel> = Vec::new();
    connect_many(&gateways[2..3], &to_c, &mut on_c, |_| SimAgent).await?;
    wait_counts(&[&a, &b, &c], &[per(0), per(1), per(2)]).await?;
    println!(
        "{} agents moved to two more controllers in {:.1} s",
        moving.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (name, ctl, base, count) in [("B", &b, base_b, per(1)), ("C", &c, base_c, per(2))] {
        let rss = rss_kib(ctl_pid(ctl)?);
        println!(
            "controller {name}: {count} agents, RSS {rss} KiB → {:.1} KiB per agent (before any: {base} KiB)",
            rss.saturating_sub(base) as f64 / count as f64
        );
    }

    // Direct: B's API for an agent B holds. Routed: A's API for the same agent.
    let held_by_b = identities[1].server_id;
    let (mut direct, mut routed) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        direct.push(api_rtt(&b, held_by_b, 50).await?);
        routed.push(api_rtt(&a, held_by_b, 50).await?);
    }
    let median = |mut v: Vec<(Duration, Duration)>| {
        v.sort();
        v[v.len() / 2]
    };
    let (d, r) = (median(direct), median(routed));
    println!(
        "call through the HTTP API (POST /api/v1/servers/{{id}}/call echo), 10 interleaved rounds of 50:"
    );
    println!(
        "  direct (asked of the controller holding the agent): p50 {} p99 {}",
        ms(d.0),
        ms(d.1)
    );
    println!(
        "  routed (asked of another controller): p50 {} p99 {}  ({:.2}× direct p50)",
        ms(r.0),
        ms(r.1),
        r.0.as_secs_f64() / d.0.as_secs_f64()
    );
    let (inside, wall) = fan_out(&a, n).await?;
    println!("fan-out to all {n} from A (a third held there, two thirds routed): median of 5 {inside:.1} ms inside, {wall:.1} ms with the HTTP request");

    println!("\n## kill -9 of controller C with {} agents", per(2));
    let n_c = on_c.len();
    let admitted: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let kill_at = Instant::now();
    let mut c = c;
    c.kill9();
    let mut back = Vec::new();
    for (channel, id) in on_c.into_iter().zip(&to_c) {
        let gateways = gateways.clone();
        let (tls, server_id, admitted) = (id.tls.clone(), id.server_id, admitted.clone());
        back.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(120), channel.closed()).await;
            // The agent's own policy: full jitter (base 1 s, cap 90 s), Retry-After honoured,
            // its own controller first, then the next one it knows after each failed dial.
            let mut backoff = Backoff::new(&xfleet_agent::config::ReconnectConfig::default());
            let mut at = 2;
            let mut attempts = 0u32;
            loop {
                tokio::time::sleep(backoff.next_delay()).await;
                attempts += 1;
                let gateway = &gateways[at % gateways.len()];
                match dial(gateway, tls.clone(), hello(server_id), Arc::new(SimAgent)).await {
                    Ok((channel, welcome)) => {
                        keep_beating(channel.clone(), &welcome);
                        admitted.lock().unwrap().push(Instant::now());
                        return (channel, attempts);
                    }
                    Err(DialError::RetryAfter(d)) => {
                        tokio::time::sleep(d + xfleet_agent::connection::backoff::jitter(d / 2))
                            .await
                    }
                    Err(_) => at += 1,
                }
            }
        }));
    }
    let mut attempts = Vec::new();
    let mut kept = Vec::new();
    for handle in back {
        let (channel, tries) = tokio::time::timeout(Duration::from_secs(600), handle)
            .await
            .context("an agent never came back")??;
        attempts.push(tries);
        kept.push(channel);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut total = 0;
    while Instant::now() < deadline {
        total = connected(&a).await? + connected(&b).await?;
        if total == n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_at = Instant::now();
    attempts.sort();
    println!(
        "all {n_c} agents of C back on A and B {:.1} s after the kill; A and B hold {total} of {n}",
        all_at.duration_since(kill_at).as_secs_f64()
    );
    let times = admitted.lock().unwrap().clone();
    let mut sorted: Vec<Duration> = times.iter().map(|t| t.duration_since(kill_at)).collect();
    sorted.sort();
    println!(
        "back after the kill: p50 {:.1} s, p99 {:.1} s; dial attempts per agent: median {}, max {}; gave up: 0 of {n_c}",
        percentile(&sorted, 0.5).as_secs_f64(),
        percentile(&sorted, 0.99).as_secs_f64(),
        attempts[attempts.len() / 2],
        attempts[attempts.len() - 1]
    );
    if total != n as u64 {
        bail!("after the kill, A and B hold {total} of {n} agents");
    }
    drop((channels, moved, kept));
    Ok(())
}
