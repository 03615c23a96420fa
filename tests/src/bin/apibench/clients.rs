//! `xfleet-apibench --clients-list [N]`: the native clients list with N clients (default
//! 100,000) over 4 servers and 8 inbounds, on a real controller. The clients, their
//! attachments and their usage are written straight into the database in batches (the
//! list is what is measured, not adding); then the first page, a search, a page far into a
//! sort by usage and by email, and (same run) the unpaged list, each p50 and p95.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{free_port, Controller, ControllerOptions};

use super::{data, ms, percentile};

const SERVERS: i64 = 4;
const INBOUNDS_PER_SERVER: i64 = 2;
const ROWS_PER_INSERT: usize = 1000;

fn database_url(ctl: &Controller) -> String {
    ctl.options.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            ctl.dir.path().join("xfleet.db").to_str().unwrap()
        )
    })
}

/// Client `n`'s row: a quota on two of three, an expiry on half, a comment on a third,
/// a Telegram id on a tenth, every sixth disabled.
fn client_row(n: usize, now: i64) -> String {
    let i = n as i64;
    let total = if n % 3 == 0 { 0 } else { (i % 50 + 1) << 30 };
    let expiry = if n % 2 == 0 {
        0
    } else {
        now + (i % 90 - 10) * 86_400_000
    };
    let comment = if n % 3 == 1 {
        format!("customer {}", n % 997)
    } else {
        String::new()
    };
    let tg = if n % 10 == 0 { 100_000_000 + i } else { 0 };
    format!(
        "('user-{n:06}', 'sub-{n:010}', '{n:08x}-0000-4000-8000-{n:012x}', 'pw{n}', '', '', 0, \
         {total}, {expiry}, {}, {tg}, '{comment}', 0, {now}, {now})",
        i64::from(n % 6 != 0)
    )
}

/// Fills the database: `n` clients, each on one inbound (every fourth on two servers),
/// with usage on each server it is on.
async fn fill(ctl: &Controller, n: usize, inbounds: &[(i64, i64)]) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database_url(ctl)).await?;
    let now = xfleet_common::time::now_ms();
    let mut tx = db.begin().await?;
    for start in (0..n).step_by(ROWS_PER_INSERT) {
        let rows: Vec<String> = (start..(start + ROWS_PER_INSERT).min(n))
            .map(|i| client_row(i, now))
            .collect();
        let sql = format!(
            "INSERT INTO clients (email, sub_id, uuid, password, auth, flow, limit_ip, \
             total_bytes, expiry_time, enable, tg_id, comment, reset_days, created_at, \
             updated_at) VALUES {}",
            rows.join(", ")
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    let count = inbounds.len() as i64;
    for (k, (inbound, _)) in inbounds.iter().enumerate() {
        let sql = format!(
            "INSERT INTO client_inbounds (client_id, inbound_id) \
             SELECT id, {inbound} FROM clients WHERE id % {count} = {k}"
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
        // Every fourth client also on the next server's first inbound.
        let other = inbounds[(k + INBOUNDS_PER_SERVER as usize) % inbounds.len()].0;
        let sql = format!(
            "INSERT INTO client_inbounds (client_id, inbound_id) \
             SELECT id, {other} FROM clients WHERE id % {count} = {k} AND id % 4 = 0"
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    for server in inbounds
        .iter()
        .map(|(_, s)| *s)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let sql = format!(
            "INSERT INTO client_traffic (server_id, email, up, down, all_time, last_online) \
             SELECT {server}, c.email, (c.id * 7919) % 3000000000, (c.id * 104729) % 9000000000, \
             (c.id * 7919) % 3000000000 + (c.id * 104729) % 9000000000, {now} - (c.id % 600) * 1000 \
             FROM clients c WHERE c.id IN (SELECT a.client_id FROM client_inbounds a \
             JOIN inbounds i ON i.id = a.inbound_id WHERE i.server_id = {server})"
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    db.close().await?;
    Ok(())
}

/// What `rounds` sequential requests took.
struct Figures {
    p50: Duration,
    p95: Duration,
    bytes: usize,
    /// Clients matching (`total` of a page; the length of the unpaged list).
    matching: u64,
}

async fn measure(x: &mut XuiClient, path: &str, rounds: usize) -> Figures {
    let mut times = Vec::new();
    let (mut bytes, mut matching) = (0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let r = x.get(path).await;
        times.push(t.elapsed());
        let answer = data(&r);
        matching = answer["total"]
            .as_u64()
            .or(answer.as_array().map(|a| a.len() as u64))
            .unwrap_or(0);
        bytes = r.body.len();
    }
    times.sort();
    Figures {
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        bytes,
        matching,
    }
}

pub async fn run(backend: &str, database_url: Option<String>, n: usize) {
    let ctl = Controller::start(ControllerOptions {
        database_url,
        // The limits job would disable the depleted thousands mid-run: a write storm that
        // is not what is measured.
        extra_env: vec![("XFLEET_LIMITS_CHECK_SECS".into(), "86400".into())],
        ..Default::default()
    })
    .await;
    let api = ctl.api();
    let mut inbounds = Vec::new();
    for s in 0..SERVERS {
        let (server, _) = ctl.add_server(&format!("list-{s}")).await;
        for k in 0..INBOUNDS_PER_SERVER {
            let body = json!({"remark": format!("in-{s}-{k}"), "port": free_port(),
                "protocol": "vless", "settings": {"decryption": "none", "clients": []},
                "streamSettings": {"network": "tcp"}});
            let inbound = api
                .ok(
                    "POST",
                    &format!("/api/v1/servers/{server}/inbounds"),
                    Some(body),
                )
                .await;
            inbounds.push((inbound["id"].as_i64().unwrap(), server));
        }
    }
    let t = Instant::now();
    fill(&ctl, n, &inbounds).await.expect("fill the database");
    let filled = t.elapsed();
    let token = api
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "bench"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.bearer = Some(token);
    let far = n / 50 / 2;
    let searched = format!("user-{:06}", n / 2);
    let cases = [
        (
            "first page (50, id order)",
            "/api/v1/clients?page=1&pageSize=50".to_owned(),
            50,
        ),
        (
            "search (email, remark, sub id, tgId)",
            format!("/api/v1/clients?search={searched}&page=1&pageSize=50"),
            50,
        ),
        (
            "search, filter online, one server",
            format!(
                "/api/v1/clients?search=customer&state=online&server={}&page=1&pageSize=50",
                inbounds[0].1
            ),
            50,
        ),
        (
            "page far in, sorted by used desc",
            format!("/api/v1/clients?sort=used&order=desc&page={far}&pageSize=50"),
            20,
        ),
        (
            "page far in, sorted by email",
            format!("/api/v1/clients?sort=email&page={far}&pageSize=50"),
            50,
        ),
        (
            "unpaged list (every client)",
            "/api/v1/clients".to_owned(),
            5,
        ),
    ];
    println!(
        "\n{backend}: {n} clients on {SERVERS} servers, {} inbounds (filled in {:.1} s)",
        inbounds.len(),
        filled.as_secs_f64()
    );
    for (what, path, rounds) in cases {
        let f = measure(&mut x, &path, rounds).await;
        println!(
            "  {what:<38} p50 {:>10}  p95 {:>10}  ({} matching, {} KiB, {rounds} requests)",
            ms(f.p50),
            ms(f.p95),
            f.matching,
            f.bytes / 1024
        );
    }
}
