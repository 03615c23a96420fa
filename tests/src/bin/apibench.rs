//! 3x-ui compatible API benchmark on a real controller: `GET /panel/api/inbounds/list` for an
//! inbound with 10,000 clients, on SQLite and (with `XFLEET_TEST_POSTGRES_URL`) PostgreSQL.
//! Printed beside it, from the same run: the native list of the same server (no clients
//! inlined) and a one-client read, the floor for any request.
//!
//!     cargo build --release --workspace --bins
//!     target/release/xfleet-apibench

use std::time::{Duration, Instant};

use serde_json::json;
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{free_port, postgres_database, Controller, ControllerOptions};

const CLIENTS: usize = 10_000;
const ROUNDS: usize = 50;

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
}

#[tokio::main]
async fn main() {
    println!("xfleet-apibench: the 3x-ui inbound list at scale");
    run("SQLite", None).await;
    if let Some(url) = postgres_database().await {
        run("PostgreSQL", Some(url)).await;
    }
}
