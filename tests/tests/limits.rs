//! Limits that need the real core: a disabled client's open connections are closed (one
//! debounced core restart), and an IP limit refuses a client's second source address.

use std::time::Duration;

use serde_json::{json, Value};
use xfleet_tests::proxy::{outbound, pattern, FileServer, SlowDownload, V2rayClient};
use xfleet_tests::{free_port, wait_for, Agent, Api, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);
/// One test at a time: the first keeps two long downloads running through two proxies, the
/// second restarts its core on every refusal. Side by side on a 2-core machine, the first
/// missed its 60 s waits for traffic to be counted in about one run in four.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A controller, one enrolled agent (with `agent_toml` added to its config) and a VMess
/// inbound on it; returns the inbound's port and id.
async fn fleet_of_one(agent_toml: &str) -> (Controller, Agent, u16, Value) {
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.configure(agent_toml);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    let port = free_port();
    let inbound = ctl
        .api()
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"port": port, "protocol": "vmess", "settings": {},
                "streamSettings": {"network": "tcp"}})),
        )
        .await;
    (ctl, agent, port, inbound["id"].clone())
}

async fn add_client(api: &Api, email: &str, extra: Value, inbound: &Value) -> String {
    let mut body = json!({"email": email, "inboundIds": [inbound]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let client = api.ok("POST", "/api/v1/clients", Some(body)).await;
    client["uuid"].as_str().unwrap().to_owned()
}

/// Disabling clients through the API closes their running downloads: the core restarts
/// once for the burst, and other clients connect again right after.
#[tokio::test(flavor = "multi_thread")]
async fn disabled_clients_lose_their_open_connections() {
    let _turn = ONE_AT_A_TIME.lock().await;
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (ctl, agent, port, inbound) =
        fleet_of_one("[session_cut]\nquiet_ms = 1500\nmin_interval_ms = 10000\n").await;
    let api = ctl.api();
    let files = FileServer::start().await;
    let mut clients = Vec::new();
    for email in ["alice", "bob", "carol"] {
        let uuid = add_client(&api, email, json!({}), &inbound).await;
        let v2 = V2rayClient::start(outbound::vmess_tcp(port, &uuid)).await;
        wait_for(&format!("{email} to reach the core"), LONG, || async {
            v2.fetch(files.port, 1000).await.ok()
        })
        .await;
        clients.push(v2);
    }
    // Long downloads, read slowly so they stay open: 2 GiB at 8 MiB/s. (Not slower: what the
    // proxies and socket buffers hold when the connection is cut still arrives first.)
    let size = 2 << 30;
    let mut downloads = Vec::new();
    for v2 in &clients[..2] {
        downloads.push(
            SlowDownload::start(v2.socks_port, files.port, size, 8 << 20)
                .await
                .unwrap(),
        );
    }
    // Both are online as far as the agent knows: their traffic reached the controller.
    for email in ["alice", "bob"] {
        wait_for(&format!("{email} to be online"), LONG, || async {
            let c = api
                .ok("GET", &format!("/api/v1/clients/{email}"), None)
                .await;
            (c["lastOnline"].as_i64().unwrap_or(0) > 0 && c["used"].as_u64().unwrap_or(0) > 1 << 20)
                .then_some(())
        })
        .await;
    }
    let core = agent.core_pid().expect("core running");

    for email in ["alice", "bob"] {
        api.ok(
            "PUT",
            &format!("/api/v1/clients/{email}"),
            Some(json!({"enable": false})),
        )
        .await;
    }
    // The bound: a poll, the quiet period and a restart fit well within it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !downloads.iter().all(SlowDownload::ended) {
        assert!(
            std::time::Instant::now() < deadline,
            "the open downloads were not cut; agent output:\n{}",
            agent.output.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for d in &downloads {
        assert!(d.received() < size as u64, "cut before the end");
    }
    assert_ne!(agent.core_pid(), Some(core), "the core restarted");
    assert_eq!(
        agent
            .output
            .count("restarting the core to close the connections"),
        1,
        "one restart for both: {}",
        agent.output.text()
    );
    // Carol's new connections work after the restart; alice's are refused.
    let body = wait_for("carol to connect after the restart", LONG, || async {
        clients[2].fetch(files.port, 64 << 10).await.ok()
    })
    .await;
    assert_eq!(body, pattern(64 << 10));
    assert!(clients[0].fetch(files.port, 1000).await.is_err());
}

/// A client with an IP limit of one: its first address works, a second one is refused and
/// shown as refused, and the first keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn an_ip_limit_refuses_a_second_address() {
    let _turn = ONE_AT_A_TIME.lock().await;
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (ctl, _agent, port, inbound) = fleet_of_one("").await;
    let api = ctl.api();
    let files = FileServer::start().await;
    let uuid = add_client(&api, "dave", json!({"limitIp": 1}), &inbound).await;
    let from = |source: &str| {
        let mut o = outbound::vmess_tcp(port, &uuid);
        o["sendThrough"] = json!(source);
        o
    };
    let first = V2rayClient::start(from("127.0.0.1")).await;
    let second = V2rayClient::start(from("127.0.0.2")).await;
    let ips = || async {
        api.ok("GET", "/api/v1/clients/dave/ips", None)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["ip"].as_str().unwrap().to_owned(),
                    r["refused"] == json!(true),
                )
            })
            .collect::<Vec<_>>()
    };
    wait_for("the first address to be recorded", LONG, || async {
        let _ = first.fetch(files.port, 1000).await;
        ips()
            .await
            .contains(&("127.0.0.1".to_string(), false))
            .then_some(())
    })
    .await;

    // The second address may get through until it is seen; then it is refused.
    wait_for("the second address to be refused", LONG, || async {
        let _ = second.fetch(files.port, 1000).await;
        ips()
            .await
            .contains(&("127.0.0.2".to_string(), true))
            .then_some(())
    })
    .await;
    wait_for("the core to refuse the second address", LONG, || async {
        second.fetch(files.port, 1000).await.is_err().then_some(())
    })
    .await;
    let body = wait_for("the first address to keep working", LONG, || async {
        first.fetch(files.port, 32 << 10).await.ok()
    })
    .await;
    assert_eq!(body, pattern(32 << 10));
    assert!(
        second.fetch(files.port, 1000).await.is_err(),
        "still refused after the first address was used again"
    );
    let mut recorded = ips().await;
    recorded.sort();
    assert_eq!(
        recorded,
        [
            ("127.0.0.1".to_string(), false),
            ("127.0.0.2".to_string(), true)
        ]
    );
    let audit = api.ok("GET", "/api/v1/audit", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "client.ip_refused"
                && e["details"].as_str().unwrap_or("").contains("127.0.0.2")),
        "{audit}"
    );
}
