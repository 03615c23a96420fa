//! Traffic ingest benchmark: fleet-wide rounds of traffic batches applied through
//! `Store::apply_traffic`, the controller's own path for an incoming batch, on SQLite and
//! (given a server) PostgreSQL. Prints the figures recorded in BENCHMARKS.md, with the old
//! row-by-row path as the baseline in the same run.
//!
//!     cargo build --release -p xfleet-tests --bin xfleet-ingestbench
//!     target/release/xfleet-ingestbench [--servers 100] [--clients 100000] [--rounds 10]
//!         [--history-hours 24] [--postgres postgres://…/postgres] [--only sqlite|postgres]
//!
//! PostgreSQL is used when `--postgres` or `XFLEET_TEST_POSTGRES_URL` names a server; the
//! benchmark creates a fresh database there and drops it at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::Rng;
use sqlx::Connection;
use xfleet_common::traffic::{ClientIps, Delta, TrafficBatch};
use xfleet_controller::store::{hour_start, Ingest, NewServer, Store, HOUR_MS};
use xfleet_tests::TempDir;

/// The agents' poll interval: a round must be applied well within it.
const POLL_MS: i64 = 10_000;
/// Clients per batch that report source addresses (only clients with an IP limit do).
const IP_CLIENTS: usize = 10;

struct Args {
    servers: usize,
    clients: usize,
    rounds: usize,
    history_hours: usize,
    postgres: Option<String>,
    sqlite: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        servers: 100,
        clients: 100_000,
        rounds: 10,
        history_hours: 24,
        postgres: std::env::var("XFLEET_TEST_POSTGRES_URL").ok(),
        sqlite: true,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut only = None;
    for pair in argv.chunks(2) {
        let value = pair
            .get(1)
            .with_context(|| format!("{} needs a value", pair[0]))?;
        let number = || {
            value
                .parse::<usize>()
                .with_context(|| format!("{} needs a number, not `{value}`", pair[0]))
        };
        match pair[0].as_str() {
            "--servers" => a.servers = number()?,
            "--clients" => a.clients = number()?,
            "--rounds" => a.rounds = number()?,
            "--history-hours" => a.history_hours = number()?,
            "--postgres" => a.postgres = Some(value.clone()),
            "--only" => only = Some(value.clone()),
            other => bail!("unknown argument {other}"),
        }
    }
    match only.as_deref() {
        None => {}
        Some("sqlite") => a.postgres = None,
        Some("postgres") if a.postgres.is_some() => a.sqlite = false,
        Some("postgres") => bail!("--only postgres needs --postgres URL"),
        Some(other) => bail!("--only takes sqlite or postgres, not `{other}`"),
    }
    if a.servers == 0 || a.clients < a.servers || a.rounds == 0 {
        bail!("need at least one server, one client per server and one round");
    }
    Ok(a)
}

/// User plus system CPU time of the processes `pick` selects from /proc (pid, comm).
fn cpu_of(pick: impl Fn(&str, &str) -> bool) -> Duration {
    let mut ticks = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let pid = name.to_string_lossy();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !pick(&pid, &stat[open + 1..close]) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        ticks += fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
    }
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

fn own_cpu() -> Duration {
    let me = std::process::id().to_string();
    cpu_of(|pid, _| pid == me)
}

fn postgres_cpu() -> Duration {
    cpu_of(|_, comm| comm == "postgres")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn email(n: usize) -> String {
    format!("client-{n:06}@bench")
}

/// The fleet: client `n` lives on server `n % servers`.
struct Fleet {
    server_ids: Vec<i64>,
    clients: usize,
    /// Every byte sent so far (up + down), to check nothing was lost or counted twice.
    sent: u128,
    seq: BTreeMap<i64, u64>,
}

impl Fleet {
    /// One round: a batch per server, all taken at `at_ms`.
    fn round(&mut self, at_ms: i64) -> Vec<(i64, TrafficBatch)> {
        let mut rng = rand::rng();
        let servers = self.server_ids.len();
        let mut batches = Vec::with_capacity(servers);
        for (index, &server_id) in self.server_ids.iter().enumerate() {
            let seq = self.seq.entry(server_id).or_insert(0);
            *seq += 1;
            let users: Vec<Delta> = (index..self.clients)
                .step_by(servers)
                .map(|n| Delta {
                    name: email(n),
                    up: rng.random_range(1..1_000_000),
                    down: rng.random_range(1..10_000_000),
                })
                .collect();
            self.sent += users
                .iter()
                .map(|d| u128::from(d.up + d.down))
                .sum::<u128>();
            let (up, down) = users
                .iter()
                .fold((0, 0), |(u, d), x| (u + x.up, d + x.down));
            batches.push((
                server_id,
                TrafficBatch {
                    epoch: format!("bench-{server_id}"),
                    seq: *seq,
                    at_ms,
                    online: users.iter().map(|d| d.name.clone()).collect(),
                    ips: users
                        .iter()
                        .take(IP_CLIENTS)
                        .map(|d| ClientIps {
                            email: d.name.clone(),
                            ips: vec![
                                format!("198.51.100.{}", rng.random_range(1..255)),
                                format!("2001:db8::{:x}", rng.random_range(1..0xffff)),
                            ],
                        })
                        .collect(),
                    inbounds: vec![
                        Delta {
                            name: "inbound-443".into(),
                            up: up / 2,
                            down: down / 2,
                        },
                        Delta {
                            name: "inbound-8443".into(),
                            up: up - up / 2,
                            down: down - down / 2,
                        },
                    ],
                    outbounds: vec![
                        Delta {
                            name: "direct".into(),
                            up,
                            down,
                        },
                        Delta {
                            name: "blocked".into(),
                            up: 0,
                            down: 1,
                        },
                    ],
                    users,
                },
            ));
        }
        batches
    }
}

/// Rows one round writes: counters (client, inbound, outbound), source addresses, journal
/// entries and, on the new path, client and server hours.
fn rows_per_round(args: &Args, with_history: bool) -> usize {
    let users = args.clients / args.servers;
    let history = if with_history { users + 1 } else { 0 };
    args.servers * (users + 2 + 2 + IP_CLIENTS * 2 + 1 + history)
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Bulk,
    Baseline,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Sequential,
    Concurrent,
}

struct Timing {
    wall: Duration,
    own_cpu: Duration,
    server_cpu: Duration,
    failed: usize,
    first_error: Option<String>,
}

/// Applies one round and times it. Concurrent is what the controller does: each connected
/// server has its own ingest task, so batches of different servers are applied at once.
async fn apply_round(
    store: &Store,
    batches: Vec<(i64, TrafficBatch)>,
    path: Path,
    mode: Mode,
    expect: Ingest,
) -> anyhow::Result<Timing> {
    let (cpu0, server0) = (own_cpu(), postgres_cpu());
    let started = Instant::now();
    let outcomes: Vec<Result<Ingest, String>> = match mode {
        Mode::Sequential => {
            let mut out = Vec::new();
            for (server, batch) in &batches {
                out.push(apply(store, *server, batch, path).await);
            }
            out
        }
        Mode::Concurrent => {
            let tasks: Vec<_> = batches
                .into_iter()
                .map(|(server, batch)| {
                    let store = store.clone();
                    tokio::spawn(async move { apply(&store, server, &batch, path).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await?);
            }
            out
        }
    };
    let wall = started.elapsed();
    let timing = Timing {
        wall,
        own_cpu: own_cpu().saturating_sub(cpu0),
        server_cpu: postgres_cpu().saturating_sub(server0),
        failed: outcomes.iter().filter(|o| o.is_err()).count(),
        first_error: outcomes.iter().find_map(|o| o.clone().err()),
    };
    if path == Path::Bulk {
        for outcome in outcomes {
            match outcome {
                Ok(got) if got == expect => {}
                Ok(got) => bail!("a batch came back {got:?}, expected {expect:?}"),
                Err(e) => bail!("a batch failed: {e}"),
            }
        }
    }
    Ok(timing)
}

async fn apply(
    store: &Store,
    server: i64,
    batch: &TrafficBatch,
    path: Path,
) -> Result<Ingest, String> {
    match path {
        Path::Bulk => store
            .apply_traffic(server, batch)
            .await
            .map_err(|e| e.to_string()),
        Path::Baseline => baseline::apply_traffic(store, server, batch)
            .await
            .map_err(|e| e.to_string()),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(label: &str, timings: &[Timing], rows: usize, postgres: bool) {
    let walls: Vec<Duration> = timings.iter().map(|t| t.wall).collect();
    let med = median(walls.clone());
    let max = walls.iter().max().copied().unwrap_or_default();
    let cpu = median(timings.iter().map(|t| t.own_cpu).collect());
    let failed: usize = timings.iter().map(|t| t.failed).sum();
    let mut line = format!(
        "| {label} | {} | {} | {} | {} |",
        timings.len(),
        ms(med),
        ms(max),
        ms(cpu),
    );
    if postgres {
        let server = median(timings.iter().map(|t| t.server_cpu).collect());
        line.push_str(&format!(" {} |", ms(server)));
    }
    line.push_str(&format!(
        " {:.0} |",
        rows as f64 / med.as_secs_f64().max(1e-9)
    ));
    if failed > 0 {
        line.push_str(&format!(" **{failed} batches failed** |"));
    }
    println!("{line}");
    if let Some(e) = timings.iter().find_map(|t| t.first_error.as_ref()) {
        println!("|  | first failure: {e} |");
    }
}

/// Servers, one inbound each, and every client attached to its server's inbound.
async fn populate(store: &Store, args: &Args) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for n in 0..args.servers {
        let server = store
            .create_server(&NewServer {
                name: format!("bench-{n:03}"),
                region: "bench".into(),
                tags: vec![],
                notes: String::new(),
                public_address: String::new(),
            })
            .await?;
        ids.push(server.id);
    }
    let mut tx = store.pool().begin().await?;
    for (n, id) in ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO inbounds (id, server_id, port, protocol, tag, created_at, updated_at) \
             VALUES ($1, $2, 443, 'vless', 'inbound-443', 0, 0)",
        )
        .bind(n as i64 + 1)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    for start in (0..args.clients).step_by(1000) {
        let end = (start + 1000).min(args.clients);
        let mut clients = String::new();
        let mut attach = String::new();
        for n in start..end {
            if n > start {
                clients.push_str(", ");
                attach.push_str(", ");
            }
            let uuid = format!("{n:08x}-0000-4000-8000-{n:012x}");
            clients.push_str(&format!(
                "({}, '{}', '{}', '{uuid}', 0, 0)",
                n + 1,
                email(n),
                format_args!("sub{n:06}")
            ));
            attach.push_str(&format!("({}, {})", n + 1, n % args.servers + 1));
        }
        sqlx::query(&format!(
            "INSERT INTO clients (id, email, sub_id, uuid, created_at, updated_at) VALUES {clients}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO client_inbounds (client_id, inbound_id) VALUES {attach}"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ids)
}

async fn run(store: &Store, args: &Args, postgres: bool) -> anyhow::Result<()> {
    let setup = Instant::now();
    let server_ids = populate(store, args).await?;
    println!(
        "{} servers, {} clients, one inbound each (setup {:.1} s)\n",
        args.servers,
        args.clients,
        setup.elapsed().as_secs_f64()
    );
    let mut fleet = Fleet {
        server_ids,
        clients: args.clients,
        sent: 0,
        seq: BTreeMap::new(),
    };
    // Rounds in the past fill the history; measured rounds follow in the current hour.
    let now_hour = hour_start(xfleet_common::time::now_ms());
    let first_hour = now_hour - args.history_hours as i64 * HOUR_MS;
    let rows = rows_per_round(args, true);

    let header = if postgres {
        "| round | rounds | wall median | wall max | bench CPU (median) | PostgreSQL CPU (median) | rows/s |\n|---|---|---|---|---|---|---|"
    } else {
        "| round | rounds | wall median | wall max | process CPU (median) | rows/s |\n|---|---|---|---|---|---|"
    };
    println!("Each round: {} batches of {} user deltas, 2 inbound and 2 outbound deltas, every user online, {} clients with 2 addresses; {rows} rows written.\n",
        args.servers, args.clients / args.servers, IP_CLIENTS);
    println!("{header}");

    let first = fleet.round(first_hour + HOUR_MS / 2);
    let t = apply_round(store, first, Path::Bulk, Mode::Concurrent, Ingest::Applied).await?;
    report(
        "first round: every row new, concurrent",
        &[t],
        rows,
        postgres,
    );

    let mut new_hours = Vec::new();
    for h in 1..args.history_hours {
        let batches = fleet.round(first_hour + h as i64 * HOUR_MS + HOUR_MS / 2);
        new_hours.push(
            apply_round(
                store,
                batches,
                Path::Bulk,
                Mode::Concurrent,
                Ingest::Applied,
            )
            .await?,
        );
    }
    if !new_hours.is_empty() {
        report(
            "first round of an hour (new history rows), concurrent",
            &new_hours,
            rows,
            postgres,
        );
    }

    let mut at = now_hour + 1_000;
    let mut steady = Vec::new();
    let mut last = Vec::new();
    for _ in 0..args.rounds {
        let batches = fleet.round(at);
        last = batches.clone();
        steady.push(
            apply_round(
                store,
                batches,
                Path::Bulk,
                Mode::Concurrent,
                Ingest::Applied,
            )
            .await?,
        );
        at += POLL_MS;
    }
    report(
        "**steady round, concurrent (as the controller)**",
        &steady,
        rows,
        postgres,
    );

    let mut sequential = Vec::new();
    for _ in 0..args.rounds {
        let batches = fleet.round(at);
        sequential.push(
            apply_round(
                store,
                batches,
                Path::Bulk,
                Mode::Sequential,
                Ingest::Applied,
            )
            .await?,
        );
        at += POLL_MS;
    }
    report(
        "steady round, sequential (one batch after another)",
        &sequential,
        rows,
        postgres,
    );

    let again = apply_round(store, last, Path::Bulk, Mode::Concurrent, Ingest::Duplicate).await?;
    report(
        "redelivered round: every batch a duplicate, concurrent",
        &[again],
        rows,
        postgres,
    );

    let baseline_rows = rows_per_round(args, false);
    let bulk_sent = fleet.sent;
    let batches = fleet.round(at);
    let old_sequential = apply_round(
        store,
        batches,
        Path::Baseline,
        Mode::Sequential,
        Ingest::Applied,
    )
    .await?;
    report(
        "baseline: old row-by-row path, no history, sequential",
        &[old_sequential],
        baseline_rows,
        postgres,
    );
    let batches = fleet.round(at + POLL_MS);
    let old_concurrent = apply_round(
        store,
        batches,
        Path::Baseline,
        Mode::Concurrent,
        Ingest::Applied,
    )
    .await?;
    let baseline_failed = old_concurrent.failed;
    report(
        "baseline: old row-by-row path, no history, concurrent",
        &[old_concurrent],
        baseline_rows,
        postgres,
    );

    // Exactly once: the all-time counters hold every byte of the bulk rounds, once.
    let (counted,): (i64,) =
        sqlx::query_as("SELECT CAST(SUM(all_time) AS BIGINT) FROM client_traffic")
            .fetch_one(store.pool())
            .await?;
    let (history,): (i64,) =
        sqlx::query_as("SELECT CAST(SUM(up + down) AS BIGINT) FROM client_traffic_hourly")
            .fetch_one(store.pool())
            .await?;
    println!(
        "\nCheck, exactly once: bytes sent through the new path {bulk_sent}, in the hourly \
         history {history}; sent in all rounds {}, in the all-time counters {counted}.",
        fleet.sent
    );
    if history as u128 != bulk_sent {
        bail!("hourly history {history} differs from the bytes sent {bulk_sent}");
    }
    if baseline_failed == 0 && counted as u128 != fleet.sent {
        bail!(
            "all-time counters {counted} differ from the bytes sent {}",
            fleet.sent
        );
    }

    let emails: Vec<String> = (0..args.clients).map(email).collect();
    let started = Instant::now();
    let usage = store.clients_usage(&emails).await?;
    println!(
        "clients_usage for all {} clients: {} ({} with traffic)",
        emails.len(),
        ms(started.elapsed()),
        usage.values().filter(|u| u.all_time > 0).count()
    );
    let started = Instant::now();
    let page = store.clients_usage(&emails[..50]).await?;
    println!(
        "clients_usage for a page of {}: {}",
        page.len(),
        ms(started.elapsed())
    );
    let started = Instant::now();
    let hours = store
        .client_history(&emails[0], first_hour, now_hour)
        .await?;
    println!(
        "client_history of one client ({} hours): {}",
        hours.len(),
        ms(started.elapsed())
    );
    let started = Instant::now();
    let pruned = store.prune_history(now_hour).await?;
    println!(
        "prune_history of {} past hours ({pruned} rows): {}",
        args.history_hours,
        ms(started.elapsed())
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    println!(
        "# xfleet traffic ingest benchmark: {} servers, {} clients, {} measured rounds, {} hours of history\n",
        args.servers, args.clients, args.rounds, args.history_hours
    );

    if args.sqlite {
        println!("## SQLite\n");
        let dir = TempDir::new("ingestbench");
        let path = dir.path().join("bench.db");
        let store = Store::open(&xfleet_controller::store::sqlite_url(&path)).await?;
        run(&store, &args, false).await?;
        store.close().await;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("database file: {:.0} MiB", size as f64 / 1048576.0);
    }

    match &args.postgres {
        Some(admin_url) => {
            println!("\n## PostgreSQL\n");
            sqlx::any::install_default_drivers();
            let name = format!("xfleet_bench_{}", std::process::id());
            let mut admin = sqlx::AnyConnection::connect(admin_url)
                .await
                .context("connect to PostgreSQL")?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await?;
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(b, _)| b);
            let outcome = async {
                let store = Store::open(&format!("{base}/{name}")).await?;
                let result = run(&store, &args, true).await;
                store.close().await;
                result
            }
            .await;
            sqlx::query(&format!("DROP DATABASE {name}"))
                .execute(&mut admin)
                .await?;
            outcome?;
        }
        None => {
            println!("\nPostgreSQL skipped: give --postgres URL or set XFLEET_TEST_POSTGRES_URL.")
        }
    }
    Ok(())
}

/// BASELINE ONLY, not production code: the controller's ingest as it was before bulk
/// statements, one upsert per row and no hourly history, kept here to compare against.
mod baseline {
    use xfleet_common::time::now_ms;
    use xfleet_common::traffic::TrafficBatch;
    use xfleet_controller::store::{Ingest, Store};

    pub async fn apply_traffic(
        store: &Store,
        server_id: i64,
        batch: &TrafficBatch,
    ) -> Result<Ingest, sqlx::Error> {
        let now = now_ms();
        let mut tx = store.pool().begin().await?;
        let known: Option<(String, i64)> =
            sqlx::query_as("SELECT epoch, last_seq FROM traffic_journal WHERE server_id = $1")
                .bind(server_id)
                .fetch_optional(&mut *tx)
                .await?;
        let seq = batch.seq as i64;
        let claimed = match &known {
            Some((epoch, last)) if *epoch == batch.epoch => {
                if seq <= *last {
                    return Ok(Ingest::Duplicate);
                }
                if seq != last + 1 {
                    return Ok(Ingest::Gap {
                        expected: (last + 1) as u64,
                    });
                }
                sqlx::query(
                    "UPDATE traffic_journal SET last_seq = $1, updated_at = $2 \
                     WHERE server_id = $3 AND epoch = $4 AND last_seq = $5",
                )
                .bind(seq)
                .bind(now)
                .bind(server_id)
                .bind(epoch)
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            }
            Some((_, _)) => sqlx::query(
                "UPDATE traffic_journal SET epoch = $1, last_seq = $2, updated_at = $3 \
                 WHERE server_id = $4",
            )
            .bind(&batch.epoch)
            .bind(seq)
            .bind(now)
            .bind(server_id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO traffic_journal (server_id, epoch, last_seq, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (server_id) DO NOTHING",
            )
            .bind(server_id)
            .bind(&batch.epoch)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(Ingest::Duplicate);
        }
        let tables = [
            ("client_traffic", "email", &batch.users, true),
            ("inbound_traffic", "tag", &batch.inbounds, true),
            ("outbound_traffic", "tag", &batch.outbounds, false),
        ];
        for (table, key, deltas, all_time) in tables {
            let sql = if all_time {
                format!(
                    "INSERT INTO {table} (server_id, {key}, up, down, all_time) \
                     VALUES ($1, $2, $3, $4, $3 + $4) \
                     ON CONFLICT (server_id, {key}) DO UPDATE SET up = {table}.up + excluded.up, \
                     down = {table}.down + excluded.down, \
                     all_time = {table}.all_time + excluded.all_time"
                )
            } else {
                format!(
                    "INSERT INTO {table} (server_id, {key}, up, down) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (server_id, {key}) DO UPDATE SET up = {table}.up + excluded.up, \
                     down = {table}.down + excluded.down"
                )
            };
            for d in deltas.iter() {
                sqlx::query(&sql)
                    .bind(server_id)
                    .bind(&d.name)
                    .bind(d.up as i64)
                    .bind(d.down as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for email in &batch.online {
            sqlx::query(
                "UPDATE client_traffic SET last_online = $1 WHERE server_id = $2 AND email = $3",
            )
            .bind(batch.at_ms)
            .bind(server_id)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        }
        for client in &batch.ips {
            for ip in &client.ips {
                sqlx::query(
                    "INSERT INTO client_ips (server_id, email, ip, last_seen) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (server_id, email, ip) DO UPDATE SET last_seen = excluded.last_seen",
                )
                .bind(server_id)
                .bind(&client.email)
                .bind(ip)
                .bind(batch.at_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Ingest::Applied)
    }
}
