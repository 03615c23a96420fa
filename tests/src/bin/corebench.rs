//! Agent and core benchmarks with the real v2ray core: idle agent memory, a live apply of
//! 1,000 new clients, and the cost of one traffic round for 10,000 clients. Prints the figures
//! recorded in BENCHMARKS.md.
//!
//!     cargo build --release --workspace --bins
//!     target/release/xfleet-corebench

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use xfleet_tests::{free_port, Agent, Controller, ControllerOptions, TempDir};

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

fn core_pid(agent: &Agent) -> Option<u32> {
    let needle = agent.data_dir.join("core").to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).ok()?)
            .into_owned();
        (cmdline.contains("v2ray") && cmdline.contains(&needle)).then_some(pid)
    })
}

fn uuid(n: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", n, n)
}

fn state(revision: u64, port: u16, clients: usize) -> Value {
    let clients: Vec<Value> = (0..clients)
        .map(|n| json!({"email": format!("user-{n}"), "id": uuid(n), "enable": true}))
        .collect();
    json!({"full": {"revision": revision, "stats_interval_ms": 10000, "inbounds": [{
        "id": 1, "tag": "in-vless", "enable": true, "listen": "127.0.0.1", "port": port,
        "protocol": "vless", "settings": {"clients": clients, "decryption": "none"},
        "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}, "sniffing": {}}]}})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "# xfleet agent and core benchmark (v2ray {} from Debian)",
        v2ray_version()
    );
    let ctl = Controller::start(ControllerOptions {
        heartbeat_secs: 25,
        offline_grace_secs: 90,
        ..Default::default()
    })
    .await;
    let (id, token) = ctl.add_server("bench").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", Duration::from_secs(30)).await;
    let api = ctl.api();
    let port = free_port();
    let answer = api
        .agent_call(id, "state.apply", state(1, port, 10))
        .await?;
    if answer["revision"] != json!(1) {
        bail!("apply failed: {answer}");
    }

    println!("\n## Agent memory, idle, core running, connected");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let agent_pid = agent.pid().context("agent pid")?;
    let core = core_pid(&agent).context("core pid")?;
    println!(
        "xfleet-agent RSS {} KiB (peak {} KiB); the v2ray core it runs: RSS {} KiB",
        status_kib(agent_pid, "VmRSS:"),
        status_kib(agent_pid, "VmHWM:"),
        status_kib(core, "VmRSS:")
    );

    println!("\n## Apply a state adding 1,000 clients to a running inbound");
    let mut times = Vec::new();
    for round in 0..3u64 {
        let before = core_pid(&agent);
        let started = Instant::now();
        let answer = api
            .agent_call(id, "state.apply", state(2 + 2 * round, port, 1010))
            .await?;
        let took = started.elapsed();
        let restarted = answer["restarted"].as_bool().unwrap_or(true) || core_pid(&agent) != before;
        println!(
            "round {}: {:.0} ms, {} live changes, core restarted: {restarted}",
            round + 1,
            took.as_secs_f64() * 1000.0,
            answer["live_changes"]
        );
        times.push(took);
        // Back to 10 clients for the next round (1,000 removals, also live).
        api.agent_call(id, "state.apply", state(3 + 2 * round, port, 10))
            .await?;
    }
    times.sort();
    println!("median {:.0} ms", times[1].as_secs_f64() * 1000.0);
    // Baselines in the same run: the same 1,000 clients arriving with the inbound itself
    // changed, once as the API can express it (inbound removed and added whole) and once as
    // it cannot (mKCP transport: config test and restart).
    let mut replace_state = state(20, port, 1010);
    replace_state["full"]["inbounds"][0]["streamSettings"] = json!({"network": "tcp"});
    let started = Instant::now();
    let answer = api.agent_call(id, "state.apply", replace_state).await?;
    println!(
        "baseline, same clients with the inbound replaced through the API: {:.0} ms (restarted: {})",
        started.elapsed().as_secs_f64() * 1000.0,
        answer["restarted"]
    );
    let mut restart_state = state(21, port, 1010);
    restart_state["full"]["inbounds"][0]["streamSettings"] = json!({"network": "kcp"});
    let started = Instant::now();
    let answer = api.agent_call(id, "state.apply", restart_state).await?;
    println!(
        "baseline, same clients with a change only a restart applies: {:.0} ms (restarted: {})",
        started.elapsed().as_secs_f64() * 1000.0,
        answer["restarted"]
    );
    agent.kill9();
    drop(ctl);

    println!("\n## One traffic round for 10,000 clients (agent side)");
    traffic_round(10_000)?;
    Ok(())
}

/// Counter deltas, journal append (fsync) and encoding of one round, as the agent does it
/// after reading the core's counters; CPU time per round.
fn traffic_round(clients: usize) -> anyhow::Result<()> {
    use xfleet_agent::traffic::{compute, Journal};
    let dir = TempDir::new("corebench");
    let mut journal = Journal::open(&dir.path().join("journal"))?;
    let counters = |round: i64| -> Vec<(String, i64)> {
        let mut v = Vec::with_capacity(clients * 2 + 4);
        for n in 0..clients {
            v.push((
                format!("user>>>user-{n}@example.com>>>traffic>>>uplink"),
                round * 1000 + n as i64,
            ));
            v.push((
                format!("user>>>user-{n}@example.com>>>traffic>>>downlink"),
                round * 50_000 + n as i64,
            ));
        }
        v.push((
            "inbound>>>in-vless>>>traffic>>>uplink".into(),
            round * 1_000_000,
        ));
        v.push((
            "inbound>>>in-vless>>>traffic>>>downlink".into(),
            round * 50_000_000,
        ));
        v
    };
    let rounds = 20;
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let mut bytes = 0;
    for round in 1..=rounds {
        let stats = counters(round);
        let (batch, baseline) = compute(journal.baseline(), "core-1", &stats);
        let batch = journal.append(batch, baseline)?;
        bytes = xfleet_common::protocol::to_body(&batch)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .len();
        journal.ack(batch.seq)?;
    }
    let cpu = cpu_time() - cpu0;
    let wall = wall0.elapsed();
    println!(
        "{clients} clients: {:.1} ms CPU and {:.1} ms wall per round (delta, journal with fsync, \
         ack, encode); batch on the wire {} KiB; poll interval 10,000 ms",
        cpu.as_secs_f64() * 1000.0 / rounds as f64,
        wall.as_secs_f64() * 1000.0 / rounds as f64,
        bytes / 1024
    );
    Ok(())
}

fn v2ray_version() -> String {
    std::process::Command::new("v2ray")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}
