//! 3x-ui compatible API benchmark on a real controller: `GET /panel/api/inbounds/list` for an
//! inbound with 10,000 clients, on SQLite and (with `XFLEET_TEST_POSTGRES_URL`) PostgreSQL.
//! Printed beside it, from the same run: the native list of the same server (no clients
//! inlined) and a one-client read, the floor for any request. Then, on a second server with
//! 1,000 clients: disabling all of them with one `POST /api/v1/clients/bulk` against
//! 1,000 single `PUT /api/v1/clients/:email` calls.
//!
//!     cargo build --release --workspace --bins
//!     target/release/xfleet-apibench
//!     target/release/xfleet-apibench --clients-list [100000]
//!
//! `--clients-list N` measures the native clients list with N clients instead (`clients`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xfleet_tests::xui::{Reply, XuiClient};
use xfleet_tests::{free_port, postgres_database, Controller, ControllerOptions};

#[path = "apibench/clients.rs"]
mod clients;

const CLIENTS: usize = 10_000;
const ROUNDS: usize = 50;
const BULK_CLIENTS: usize = 1000;

fn uuid(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(x: &mut XuiClient, path: &str) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let r = x.get(path).await;
        times.push(t.elapsed());
        assert_eq!(r.status, 200, "{path}");
        size = r.body.len();
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99), size)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(backend: &str, database_url: Option<String>) {
    let ctl = Controller::start(ControllerOptions {
        database_url,
        ..Default::default()
    })
    .await;
    let (server, _) = ctl.add_server("bench-1").await;
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await.obj();
    let settings = json!({"clients": [], "decryption": "none"}).to_string();
    let port = free_port().to_string();
    let inbound = x
        .post_form(
            "/panel/api/inbounds/add",
            &[
                ("remark", "bench"),
                ("port", &port),
                ("protocol", "vless"),
                ("settings", &settings),
                (
                    "streamSettings",
                    r#"{"network":"ws","wsSettings":{"path":"/ws"}}"#,
                ),
                ("sniffing", "{}"),
            ],
        )
        .await
        .obj();
    let id = inbound["id"].as_i64().unwrap();

    // 10,000 clients through addClient, 1,000 per request, as a migration script would.
    let t = Instant::now();
    for batch in 0..CLIENTS / 1000 {
        let clients: Vec<_> = (batch * 1000..(batch + 1) * 1000)
            .map(|n| {
                json!({"id": uuid(n), "email": format!("user-{n}"), "enable": true,
                            "totalGB": 10_000_000_000u64, "subId": format!("sub{n}")})
            })
            .collect();
        let body = json!({"id": id, "settings": json!({"clients": clients}).to_string()});
        x.post_json("/panel/api/inbounds/addClient", &body)
            .await
            .obj();
    }
    let added = t.elapsed();

    let list = measure(&mut x, "/panel/api/inbounds/list").await;
    let one = measure(&mut x, "/panel/api/inbounds/getClientTraffics/user-5000").await;
    let api = ctl.api();
    let token = api
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "bench"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut native = XuiClient::new(&ctl.panel_url(), "");
    native.bearer = Some(token);
    let native_list = measure(&mut native, &format!("/api/v1/servers/{server}/inbounds")).await;

    println!("\n{backend}: one inbound with {CLIENTS} clients, {ROUNDS} requests each");
    println!(
        "  GET /panel/api/inbounds/list           p50 {}  p99 {}  ({} KiB)",
        ms(list.0),
        ms(list.1),
        list.2 / 1024
    );
    println!(
        "  GET /api/v1/servers/N/inbounds (native) p50 {}  p99 {}  ({} KiB, emails only)",
        ms(native_list.0),
        ms(native_list.1),
        native_list.2 / 1024
    );
    println!(
        "  GET getClientTraffics/:email (floor)    p50 {}  p99 {}",
        ms(one.0),
        ms(one.1)
    );
    println!(
        "  adding the {CLIENTS} clients (10 addClient calls): {:.2} s",
        added.as_secs_f64()
    );

    let (bulk, single) = bulk_versus_single(&ctl, &mut native).await;
    println!("{backend}: disabling {BULK_CLIENTS} clients of one server, in the same run");
    println!(
        "  one POST /api/v1/clients/bulk             {}  ({} new revision)",
        ms(bulk.0),
        bulk.1
    );
    println!(
        "  {BULK_CLIENTS} PUT /api/v1/clients/:email           {}  ({} new revisions, {} per call)",
        ms(single.0),
        single.1,
        ms(single.0 / BULK_CLIENTS as u32)
    );
}

/// The `data` of a native answer that must have succeeded.
fn data(r: &Reply) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"].clone()
}

/// Disables [`BULK_CLIENTS`] clients of a fresh server twice, switching them on again in
/// between: one call each, then all in one bulk call. Returns both times and the revisions
/// each way cost the server.
async fn bulk_versus_single(
    ctl: &Controller,
    native: &mut XuiClient,
) -> ((Duration, i64), (Duration, i64)) {
    let (server, _) = ctl.add_server("bench-bulk").await;
    let emails: Vec<String> = (0..BULK_CLIENTS).map(|n| format!("bulk-{n}")).collect();
    let clients: Vec<_> = emails
        .iter()
        .enumerate()
        .map(|(n, e)| json!({"id": uuid(CLIENTS + n), "email": e, "enable": true}))
        .collect();
    let body = json!({"remark": "bulk", "port": free_port(), "protocol": "vless",
        "settings": {"decryption": "none", "clients": clients},
        "streamSettings": {"network": "ws", "wsSettings": {"path": "/bulk"}}});
    let inbound = data(
        &native
            .post_json(&format!("/api/v1/servers/{server}/inbounds"), &body)
            .await,
    );
    let inbound = inbound["id"].as_i64().expect("the bench inbound");
    let revision = || async { ctl.server(server).await["revision"].as_i64().unwrap() };
    let disabled = async |native: &mut XuiClient| {
        let path = format!("/api/v1/clients?filter=disabled&inbound={inbound}");
        data(&native.get(&path).await)
            .as_array()
            .map_or(0, Vec::len)
    };

    let before = revision().await;
    let t = Instant::now();
    for email in &emails {
        let r = native
            .send(
                "PUT",
                &format!("/api/v1/clients/{email}"),
                Some(("application/json", br#"{"enable": false}"#.to_vec())),
            )
            .await;
        data(&r);
    }
    let single = (t.elapsed(), revision().await - before);
    assert_eq!(disabled(native).await, BULK_CLIENTS);

    let on = json!({"emails": emails, "action": "enable"});
    data(&native.post_json("/api/v1/clients/bulk", &on).await);
    assert_eq!(disabled(native).await, 0);

    let off = json!({"emails": emails, "action": "disable"});
    let before = revision().await;
    let t = Instant::now();
    let r = native.post_json("/api/v1/clients/bulk", &off).await;
    let bulk = (t.elapsed(), revision().await - before);
    assert_eq!(data(&r)["count"], json!(BULK_CLIENTS));
    assert_eq!(disabled(native).await, BULK_CLIENTS);
    (bulk, single)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients-list") {
        let n = args
            .get(1)
            .map_or(100_000, |n| n.parse().expect("a number of clients"));
        println!("xfleet-apibench: the native clients list at scale");
        clients::run("SQLite", None, n).await;
        if let Some(url) = postgres_database().await {
            clients::run("PostgreSQL", Some(url), n).await;
        }
        return;
    }
    println!("xfleet-apibench: the 3x-ui inbound list at scale");
    run("SQLite", None).await;
    if let Some(url) = postgres_database().await {
        run("PostgreSQL", Some(url)).await;
    }
}
