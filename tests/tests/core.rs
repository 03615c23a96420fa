//! The agent runs the real v2ray core: desired state in, real proxied traffic out, counted
//! exactly, through restarts of either side.

use std::time::Duration;

use serde_json::{json, Value};
use xfleet_tests::proxy::{outbound, pattern, FileServer, SocksServer, V2rayClient};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{
    free_port, loopback_direct_template, wait_for, Agent, Controller, ControllerOptions,
};

const LONG: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;

/// A self-signed certificate for `localhost`, as the PEM line arrays v2ray's inline
/// `certificates` take.
fn inline_certificate() -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let lines = |pem: String| pem.lines().map(str::to_owned).collect::<Vec<_>>();
    json!({"certificate": lines(cert.pem()), "key": lines(key.serialize_pem())})
}

struct Ports {
    vless: u16,
    vmess: u16,
    trojan: u16,
    ss: u16,
}

fn inbound(id: i64, tag: &str, port: u16, protocol: &str, settings: Value, stream: Value) -> Value {
    json!({"id": id, "tag": tag, "enable": true, "listen": "127.0.0.1", "port": port,
           "protocol": protocol, "settings": settings, "streamSettings": stream,
           "sniffing": {"enabled": false}})
}

const VLESS_ID: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50";
const VMESS_ID: &str = "0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b";
const LATE_ID: &str = "11111111-2222-4333-8444-555555555555";

fn four_inbounds(p: &Ports, revision: u64, extra_vless_client: bool) -> Value {
    let mut vless_clients = vec![
        json!({"email": "vless-user", "id": VLESS_ID, "enable": true,
        "totalGB": 0, "expiryTime": 0, "limitIp": 0, "subId": "abc", "tgId": 0}),
    ];
    if extra_vless_client {
        vless_clients.push(json!({"email": "late-user", "id": LATE_ID, "enable": true}));
    }
    json!({"full": {
        "revision": revision,
        "stats_interval_ms": 1000,
        "template": loopback_direct_template(),
        "inbounds": [
            inbound(1, "in-vless-ws", p.vless, "vless",
                json!({"clients": vless_clients, "decryption": "none"}),
                json!({"network": "ws", "security": "none", "wsSettings": {"path": "/ws"}})),
            inbound(2, "in-vmess-tcp", p.vmess, "vmess",
                json!({"clients": [{"email": "vmess-user", "id": VMESS_ID, "security": "auto"}]}),
                json!({"network": "tcp", "security": "none"})),
            inbound(3, "in-trojan-tls", p.trojan, "trojan",
                json!({"clients": [{"email": "trojan-user", "password": "trojan-secret"}]}),
                json!({"network": "tcp", "security": "tls",
                       "tlsSettings": {"serverName": "localhost", "certificates": [inline_certificate()]}})),
            inbound(4, "in-ss", p.ss, "shadowsocks",
                json!({"method": "aes-256-gcm", "password": "ss-secret", "network": "tcp,udp",
                       "clients": [{"email": "ss-user", "password": "ss-secret", "method": "aes-256-gcm"}]}),
                json!({"network": "tcp", "security": "none"})),
        ],
    }})
}

async fn apply(ctl: &Controller, server: i64, state: Value) -> Value {
    let api = ctl.api();
    let task = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{server}/tasks"),
            Some(json!({"operation": "state.apply", "request": state})),
        )
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    wait_for("state.apply to finish", LONG, || async {
        let t = api.ok("GET", &format!("/api/v1/tasks/{id}"), None).await;
        matches!(t["status"].as_str(), Some("completed" | "failed")).then_some(t)
    })
    .await
}

/// The core process the agent runs (found by its config path under the agent's data dir).
fn core_pid(agent: &Agent) -> Option<u32> {
    let needle = agent.data_dir.join("core").to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("v2ray") && cmdline.contains(&needle)).then_some(pid)
    })
}

/// The core's own counters, read with Debian's `v2ctl`, independent of xfleet's code.
fn core_counters(api_port: u16) -> Vec<(String, u64)> {
    let out = std::process::Command::new("v2ctl")
        .args([
            "api",
            &format!("--server=127.0.0.1:{api_port}"),
            "StatsService.QueryStats",
            "pattern: \"\" reset: false",
        ])
        .output()
        .expect("v2ctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counters = Vec::new();
    let mut name = None;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("name: ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("value: ") {
            if let Some(n) = name.take() {
                counters.push((n, v.parse().unwrap_or(0)));
            }
        }
    }
    counters
}

fn api_port_of(agent: &Agent) -> u16 {
    let config: Value = serde_json::from_slice(
        &std::fs::read(agent.data_dir.join("core").join("config.json")).unwrap(),
    )
    .unwrap();
    let api = config["inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tag"] == json!("api"))
        .unwrap()
        .clone();
    api["port"].as_u64().unwrap() as u16
}

/// The controller's recorded (up, down) per client email.
async fn recorded(ctl: &Controller, server: i64) -> Vec<(String, u64, u64)> {
    let t = ctl
        .api()
        .ok("GET", &format!("/api/v1/servers/{server}/traffic"), None)
        .await;
    t["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["up"].as_u64().unwrap(),
                c["down"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Waits until the controller's numbers equal the core's own user counters.
async fn assert_exact(ctl: &Controller, server: i64, agent: &Agent) {
    let port = api_port_of(agent);
    wait_for(
        "recorded traffic to equal the core's counters",
        LONG,
        || async {
            let core = core_counters(port);
            let mine = recorded(ctl, server).await;
            let users: Vec<(String, u64, u64)> = {
                let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
                for (name, v) in &core {
                    let parts: Vec<&str> = name.split(">>>").collect();
                    if parts.len() == 4 && parts[0] == "user" {
                        let e = by.entry(parts[1].to_owned()).or_default();
                        if parts[3] == "uplink" {
                            e.0 += v
                        } else {
                            e.1 += v
                        }
                    }
                }
                by.into_iter()
                    .filter(|(_, (u, d))| u + d > 0)
                    .map(|(n, (u, d))| (n, u, d))
                    .collect()
            };
            let mine: Vec<_> = mine.into_iter().filter(|(_, u, d)| u + d > 0).collect();
            (!users.is_empty() && users == mine).then_some(())
        },
    )
    .await;
}

async fn setup() -> (Controller, i64, Agent, Ports, FileServer) {
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    let ports = Ports {
        vless: free_port(),
        vmess: free_port(),
        trojan: free_port(),
        ss: free_port(),
    };
    let task = apply(&ctl, id, four_inbounds(&ports, 1, false)).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    (ctl, id, agent, ports, FileServer::start().await)
}

async fn clients(p: &Ports) -> Vec<(&'static str, V2rayClient)> {
    vec![
        (
            "vless-user",
            V2rayClient::start(outbound::vless_ws(p.vless, VLESS_ID, "/ws")).await,
        ),
        (
            "vmess-user",
            V2rayClient::start(outbound::vmess_tcp(p.vmess, VMESS_ID)).await,
        ),
        (
            "trojan-user",
            V2rayClient::start(outbound::trojan_tls(p.trojan, "trojan-secret", "localhost")).await,
        ),
        (
            "ss-user",
            V2rayClient::start(outbound::shadowsocks(p.ss, "aes-256-gcm", "ss-secret")).await,
        ),
    ]
}

/// 1–3. Four protocols carry real traffic; the bytes recorded equal the core's counters; a
/// client added live connects without a core restart, and one removed cannot.
#[tokio::test(flavor = "multi_thread")]
async fn real_traffic_counted_exactly_and_live_client_changes() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (ctl, id, agent, ports, files) = setup().await;
    for (who, client) in clients(&ports).await {
        // A first handshake on a loaded machine may miss; what counts is that the bytes
        // that went through are the bytes recorded, checked below.
        let body = wait_for(&format!("a download as {who}"), LONG, || async {
            client.fetch(files.port, MIB).await.ok()
        })
        .await;
        assert!(body == pattern(MIB), "{who}: body intact");
    }
    assert_exact(&ctl, id, &agent).await;
    for (who, _, down) in recorded(&ctl, id).await {
        assert!(
            down >= MIB as u64,
            "{who}: at least the body was counted ({down})"
        );
    }

    let pid = core_pid(&agent).expect("core running");
    let server = ctl.server(id).await;
    assert_eq!(
        server["live"]["core"]["state"],
        json!("running"),
        "{server}"
    );
    assert_eq!(server["live"]["core"]["pid"], json!(pid));
    let task = apply(&ctl, id, four_inbounds(&ports, 2, true)).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    assert_eq!(task["response"]["restarted"], json!(false), "{task}");
    let late = V2rayClient::start(outbound::vless_ws(ports.vless, LATE_ID, "/ws")).await;
    assert_eq!(late.fetch(files.port, 1000).await.unwrap(), pattern(1000));
    assert_eq!(
        core_pid(&agent),
        Some(pid),
        "no core restart for a new client"
    );

    let task = apply(&ctl, id, four_inbounds(&ports, 3, false)).await;
    assert_eq!(task["response"]["restarted"], json!(false), "{task}");
    assert!(
        late.fetch(files.port, 1000).await.is_err(),
        "a removed client is refused"
    );
    assert_eq!(core_pid(&agent), Some(pid));
    assert_exact(&ctl, id, &agent).await;

    // A change only a restart applies, with traffic the poller may not have read yet: the
    // counters are read before the restart zeroes them.
    let vmess = V2rayClient::start(outbound::vmess_tcp(ports.vmess, VMESS_ID)).await;
    vmess.fetch(files.port, 512 << 10).await.unwrap();
    let port = api_port_of(&agent);
    let at_restart: u64 = core_counters(port)
        .iter()
        .filter(|(n, _)| n.starts_with("user>>>vmess-user>>>"))
        .map(|(_, v)| v)
        .sum();
    let mut templated = four_inbounds(&ports, 4, false);
    templated["full"]["template"] = json!({
        "log": {"loglevel": "warning"},
        "outbounds": [{"tag": "direct", "protocol": "freedom"}, {"tag": "blocked", "protocol": "blackhole"}],
        "routing": {"rules": []}
    });
    let task = apply(&ctl, id, templated).await;
    assert_eq!(task["response"]["restarted"], json!(true), "{task}");
    assert_ne!(core_pid(&agent), Some(pid));
    wait_for(
        "the bytes before the restart to be recorded",
        LONG,
        || async {
            let mine: u64 = recorded(&ctl, id)
                .await
                .iter()
                .filter(|(n, _, _)| n == "vmess-user")
                .map(|(_, u, d)| u + d)
                .sum();
            (mine == at_restart).then_some(())
        },
    )
    .await;
}

/// 4. kill -9 of the agent mid-traffic, and of the controller: totals stay exact.
#[tokio::test(flavor = "multi_thread")]
async fn restarts_of_either_side_lose_nothing() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (mut ctl, id, mut agent, ports, files) = setup().await;
    let client = V2rayClient::start(outbound::vless_ws(ports.vless, VLESS_ID, "/ws")).await;
    let socks = client.socks_port;
    let port = files.port;
    let traffic = tokio::spawn(async move {
        for _ in 0..20 {
            let _ = xfleet_tests::proxy::fetch_via_socks(socks, port, 256 << 10).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let core_before = core_pid(&agent).expect("core running");
    agent.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.start();
    traffic.await.unwrap();
    assert_exact(&ctl, id, &agent).await;
    assert_eq!(
        core_pid(&agent),
        Some(core_before),
        "the restarted agent adopted the core that kept serving"
    );

    ctl.kill9();
    for _ in 0..5 {
        client
            .fetch(files.port, 256 << 10)
            .await
            .expect("traffic continues without the controller");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctl.restart().await;
    assert_exact(&ctl, id, &agent).await;
}

/// 5. Controller unreachable and the agent restarted: the core comes back from the persisted
/// state and proxies traffic.
#[tokio::test(flavor = "multi_thread")]
async fn last_known_good_without_the_controller() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (mut ctl, _id, mut agent, ports, files) = setup().await;
    ctl.kill9();
    agent.kill9();
    if let Some(pid) = core_pid(&agent) {
        // Also lose the core, as after a reboot.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    wait_for("the old core to be gone", LONG, || async {
        core_pid(&agent).is_none().then_some(())
    })
    .await;
    agent.start();
    let client = V2rayClient::start(outbound::vmess_tcp(ports.vmess, VMESS_ID)).await;
    let body = wait_for(
        "the core to serve from the persisted state",
        LONG,
        || async { client.fetch(files.port, 4096).await.ok() },
    )
    .await;
    assert_eq!(body, pattern(4096));
}

/// 6. One inbound the core cannot take does not hold back the rest of the state: an inbound
/// on a port another program holds, and one whose certificate file the host lacks, are left
/// out with the core's own words while the rest applies live (a client added beside them is
/// served, the core is not restarted) and each is tried once only; a state the core refuses
/// as a whole (its template) leaves the previous configuration serving and the server
/// showing the refusal.
#[tokio::test(flavor = "multi_thread")]
async fn an_inbound_the_core_refuses_fails_alone() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (ctl, id, agent, ports, files) = setup().await;
    let pid = core_pid(&agent).expect("core running");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = taken.local_addr().unwrap().port();
    let busy = |clients: Value| {
        inbound(
            5,
            "in-busy",
            busy_port,
            "vmess",
            json!({"clients": clients}),
            json!({"network": "tcp"}),
        )
    };
    let mut state = four_inbounds(&ports, 2, true);
    let list = state["full"]["inbounds"].as_array_mut().unwrap();
    list.push(busy(json!([{"email": "x", "id": LATE_ID}])));
    list.push(inbound(
        6,
        "in-no-cert",
        free_port(),
        "trojan",
        json!({"clients": [{"email": "t2", "password": "p"}]}),
        json!({"network": "tcp", "security": "tls", "tlsSettings": {"certificates": [
            {"certificateFile": "/nonexistent/cert.pem", "keyFile": "/nonexistent/key.pem"}]}}),
    ));
    let task = apply(&ctl, id, state.clone()).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    assert_eq!(task["response"]["restarted"], json!(false), "{task}");
    let failed = task["response"]["failed"].as_array().unwrap().clone();
    let tags: Vec<&str> = failed.iter().map(|f| f["tag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["in-busy", "in-no-cert"], "{task}");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("address already in use"),
        "{task}"
    );
    assert!(
        failed[1]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/cert.pem"),
        "{task}"
    );
    // The client added in the same state reached the core, without a restart.
    let late = V2rayClient::start(outbound::vless_ws(ports.vless, LATE_ID, "/ws")).await;
    assert_eq!(late.fetch(files.port, 1000).await.unwrap(), pattern(1000));
    assert_eq!(
        core_pid(&agent),
        Some(pid),
        "no restart for a refused inbound"
    );
    let server = ctl.server(id).await;
    assert_eq!(server["applied_revision"], json!(2), "{server}");
    let shown: Vec<&str> = server["failed_inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tag"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["in-busy", "in-no-cert"], "{server}");

    // A client more on the inbound whose port is taken frees no port: it is not tried again.
    let mut more = state.clone();
    more["full"]["revision"] = json!(3);
    more["full"]["inbounds"][4] = busy(json!([{"email": "x", "id": LATE_ID},
        {"email": "y", "id": VMESS_ID}]));
    let task = apply(&ctl, id, more).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    assert_eq!(
        task["response"]["failed"].as_array().unwrap().len(),
        2,
        "{task}"
    );
    assert_eq!(
        agent.output.count("the core cannot take this inbound"),
        2,
        "each refusal is found once: {}",
        agent.output.text()
    );

    // The whole state refused (the core knows no such outbound): the last one keeps serving.
    let mut broken = four_inbounds(&ports, 4, true);
    broken["full"]["template"] = json!({"outbounds": [{"tag": "direct", "protocol": "teleport"}]});
    let task = apply(&ctl, id, broken).await;
    assert_eq!(task["status"], json!("failed"), "{task}");
    let message = task["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the core refused the configuration"),
        "{message}"
    );
    assert_eq!(core_pid(&agent), Some(pid));
    assert_eq!(late.fetch(files.port, 1000).await.unwrap(), pattern(1000));
    let server = ctl.server(id).await;
    assert_eq!(server["applied_revision"], json!(3), "{server}");
    assert!(
        server["apply_error"]
            .as_str()
            .unwrap()
            .contains("revision 4 was refused"),
        "{server}"
    );
    // Errors counts what went wrong: the two inbounds the core runs without and the refused
    // state (its failed task is the same failure, said once).
    let dashboard = ctl.dashboard().await;
    assert_eq!(dashboard["totals"]["error"], json!(3), "{dashboard}");
    assert_eq!(
        dashboard["servers"][0]["state"],
        json!("error"),
        "{dashboard}"
    );
}

/// A change that needs a core restart, while the port of a new inbound is taken: the core
/// restarts without that inbound (the rest serving again, the failure in the core's words),
/// and later changes go through the core's API: it is not restarted again for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_leaves_out_the_inbound_whose_port_is_taken() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (ctl, id, agent, ports, files) = setup().await;
    let before = core_pid(&agent).expect("core running");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = taken.local_addr().unwrap().port();
    // HTTP header obfuscation is beyond what the agent adds through the core's API.
    let obfuscated = inbound(
        5,
        "in-http-header",
        busy_port,
        "vmess",
        json!({"clients": [{"email": "h", "id": LATE_ID}]}),
        json!({"network": "tcp", "tcpSettings": {"header": {"type": "http"}}}),
    );
    let with = |revision: u64, late: bool| {
        let mut state = four_inbounds(&ports, revision, late);
        state["full"]["inbounds"]
            .as_array_mut()
            .unwrap()
            .push(obfuscated.clone());
        state
    };
    let task = apply(&ctl, id, with(2, false)).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    assert_eq!(task["response"]["restarted"], json!(true), "{task}");
    assert_eq!(
        task["response"]["failed"][0]["tag"],
        json!("in-http-header"),
        "{task}"
    );
    let words = task["response"]["failed"][0]["message"].as_str().unwrap();
    assert!(words.contains("address already in use"), "{words}");
    let after = core_pid(&agent).expect("the core runs again");
    assert_ne!(after, before);
    let vmess = V2rayClient::start(outbound::vmess_tcp(ports.vmess, VMESS_ID)).await;
    let body = wait_for("the other inbounds to serve again", LONG, || async {
        vmess.fetch(files.port, 4096).await.ok()
    })
    .await;
    assert_eq!(body, pattern(4096));

    let task = apply(&ctl, id, with(3, true)).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    assert_eq!(task["response"]["restarted"], json!(false), "{task}");
    assert_eq!(
        task["response"]["failed"][0]["tag"],
        json!("in-http-header"),
        "{task}"
    );
    let late = V2rayClient::start(outbound::vless_ws(ports.vless, LATE_ID, "/ws")).await;
    assert_eq!(late.fetch(files.port, 1000).await.unwrap(), pattern(1000));
    assert_eq!(core_pid(&agent), Some(after), "no second restart for it");
    assert_eq!(agent.output.count("the core cannot take this inbound"), 1);
}

/// The fleet model keeps an inbound off a port another program holds on the server's host
/// (the agent reports it, its core's own ports left out, so an inbound can be changed on
/// its own port); when only the core can find the port taken, the inbound fails
/// alone: the other inbound keeps serving real traffic, a client added later reaches the core,
/// the core is neither restarted nor made to try the refused inbound again, the API and the
/// dashboard show the failure in the core's own words, and moved to a free port it serves.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_refused_at_the_api_or_fails_its_inbound_alone() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    let files = FileServer::start().await;
    let api = ctl.api();
    let vless = |port: u16| {
        json!({"remark": format!("ws-{port}"), "listen": "127.0.0.1", "port": port,
               "protocol": "vless", "settings": {"decryption": "none"},
               "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}})
    };
    let healthy_port = free_port();
    let healthy = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(vless(healthy_port)),
        )
        .await;
    let alice = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "alice", "inboundIds": [healthy["id"]]})),
        )
        .await;
    let as_alice = V2rayClient::start(outbound::vless_ws(
        healthy_port,
        alice["uuid"].as_str().unwrap(),
        "/ws",
    ))
    .await;
    wait_for("alice to be served", LONG, || async {
        as_alice.fetch(files.port, 1000).await.ok()
    })
    .await;

    // A port the agent reported taken is refused at the API, on the port field.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    wait_for("the agent to report the held port", LONG, || async {
        let server = ctl.server(id).await;
        let listening = server["listening"].as_array().cloned()?;
        listening
            .iter()
            .any(|s| s["protocol"] == json!("tcp") && s["port"] == json!(held_port))
            .then_some(())
    })
    .await;
    // The core's own listener is not reported: its inbound can be changed on its port.
    let reported = ctl.server(id).await["listening"].clone();
    assert!(
        !reported
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["port"] == json!(healthy_port)),
        "{reported}"
    );
    let mut renamed = vless(healthy_port);
    renamed["remark"] = json!("renamed");
    api.ok(
        "PUT",
        &format!("/api/v1/inbounds/{}", healthy["id"]),
        Some(renamed),
    )
    .await;
    let err = api
        .call(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(vless(held_port)),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_request")
            && err.contains(&format!(
                "port: port {held_port} is already in use on this server's host"
            ))
            && err.contains(&format!("TCP 127.0.0.1:{held_port}")),
        "{err}"
    );

    // Taken while the agent was away, the controller cannot know: the core finds out.
    let core = agent.core_pid().expect("core running");
    agent.kill9();
    let late = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let late_port = late.local_addr().unwrap().port();
    let refused = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(vless(late_port)),
        )
        .await;
    agent.start();
    let path = format!("/api/v1/inbounds/{}", refused["id"]);
    let words = wait_for("the inbound to show the core's refusal", LONG, || async {
        let inbound = api.ok("GET", &path, None).await;
        inbound["coreError"].as_str().map(str::to_owned)
    })
    .await;
    assert!(words.contains("address already in use"), "{words}");
    assert_eq!(
        agent.core_pid(),
        Some(core),
        "the core kept running, adopted"
    );
    as_alice
        .fetch(files.port, 64 << 10)
        .await
        .expect("the healthy inbound keeps serving");
    let server = ctl.server(id).await;
    assert_eq!(server["applied_revision"], server["revision"], "{server}");
    assert_eq!(
        server["failed_inbounds"][0]["inbound_id"], refused["id"],
        "{server}"
    );
    assert_eq!(
        server["failed_inbounds"][0]["message"],
        json!(words),
        "{server}"
    );
    let dashboard = ctl.dashboard().await;
    assert_eq!(dashboard["totals"]["error"], json!(1), "{dashboard}");
    assert_eq!(
        dashboard["servers"][0]["state"],
        json!("error"),
        "{dashboard}"
    );

    // A client added later, on both inbounds, reaches the core; the refused inbound is not
    // tried again (a client frees no port).
    let bob = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "bob", "inboundIds": [healthy["id"], refused["id"]]})),
        )
        .await;
    let bob_uuid = bob["uuid"].as_str().unwrap().to_owned();
    let as_bob = V2rayClient::start(outbound::vless_ws(healthy_port, &bob_uuid, "/ws")).await;
    wait_for("bob to be served", LONG, || async {
        as_bob.fetch(files.port, 1000).await.ok()
    })
    .await;
    assert_eq!(
        agent.core_pid(),
        Some(core),
        "no restart for the refused inbound"
    );
    assert_eq!(agent.output.count("the core cannot take this inbound"), 1);

    // Moved to a free port, it is tried again and serves.
    let moved_port = free_port();
    api.ok("PUT", &path, Some(vless(moved_port))).await;
    wait_for("the moved inbound to run", LONG, || async {
        api.ok("GET", &path, None).await["coreError"]
            .is_null()
            .then_some(())
    })
    .await;
    let moved = V2rayClient::start(outbound::vless_ws(moved_port, &bob_uuid, "/ws")).await;
    let body = wait_for("bob to be served on the moved inbound", LONG, || async {
        moved.fetch(files.port, 1000).await.ok()
    })
    .await;
    assert_eq!(body, pattern(1000));
    assert_eq!(ctl.dashboard().await["totals"]["error"], json!(0));
    drop((held, late));
}

/// A server whose agent runs v2ray refuses at the API what only Xray runs: a REALITY inbound
/// gets a field error naming the server's core, from the native API and the 3x-ui one, and
/// nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn reality_is_refused_for_a_v2ray_server() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    let server = ctl.wait_status(id, "online", LONG).await;
    assert_eq!(server["core_flavour"], json!("v2ray"), "{server}");
    let stream = json!({"network": "tcp", "security": "reality", "realitySettings": {
        "target": "www.example.com:443", "serverNames": ["www.example.com"],
        "privateKey": "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I=", "shortIds": ["ab"]}});
    let body = json!({"port": free_port(), "protocol": "vless",
        "settings": {"decryption": "none"}, "streamSettings": stream});
    let mut x = xfleet_tests::xui::XuiClient::new(&ctl.panel_url(), "");
    x.bearer = Some(ctl.api().0.token.clone());
    let r = x
        .post_json(&format!("/api/v1/servers/{id}/inbounds"), &body)
        .await;
    assert_eq!(r.status, 400);
    let fields = r.json()["error"]["details"]["fields"].clone();
    assert_eq!(
        fields[0]["field"],
        json!("streamSettings.security"),
        "{fields}"
    );
    let message = fields[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("REALITY is not available on this server's core (v2ray 4."),
        "{message}"
    );
    let mut form = vec![
        ("port", free_port().to_string()),
        ("protocol", "vless".to_owned()),
        ("enable", "true".to_owned()),
        (
            "settings",
            json!({"decryption": "none", "clients": []}).to_string(),
        ),
        ("streamSettings", stream.to_string()),
    ];
    form.push(("sniffing", "{}".to_owned()));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut compat = xfleet_tests::xui::XuiClient::new(&ctl.panel_url(), "");
    compat.login("admin", &ctl.admin_password).await.obj();
    let msg = compat
        .post_form("/panel/api/inbounds/add", &fields)
        .await
        .failure();
    assert!(msg.contains("REALITY is not available"), "{msg}");
    let list = ctl
        .api()
        .ok("GET", &format!("/api/v1/servers/{id}/inbounds"), None)
        .await;
    assert_eq!(list, json!([]));
}

/// 7. A client whose expiry passes while the controller is away is cut off by the agent.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_enforces_expiry_on_its_own() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let (mut ctl, id, agent, ports, files) = setup().await;
    let expiry = xfleet_common::time::now_ms() + 6_000;
    let mut state = four_inbounds(&ports, 2, false);
    state["full"]["limits"] = json!([{"email": "vmess-user", "expiry_ms": expiry}]);
    let task = apply(&ctl, id, state).await;
    assert_eq!(task["status"], json!("completed"), "{task}");
    let client = V2rayClient::start(outbound::vmess_tcp(ports.vmess, VMESS_ID)).await;
    assert!(
        client.fetch(files.port, 1000).await.is_ok(),
        "before expiry it works"
    );
    ctl.kill9();
    wait_for("the expired client to be cut", LONG, || async {
        (xfleet_common::time::now_ms() > expiry && client.fetch(files.port, 1000).await.is_err())
            .then_some(())
    })
    .await;
    let other = V2rayClient::start(outbound::vless_ws(ports.vless, VLESS_ID, "/ws")).await;
    assert!(
        other.fetch(files.port, 1000).await.is_ok(),
        "other clients keep working"
    );
    drop(agent);
}

/// The fleet model drives the core: an inbound and a client created through the API reach
/// the agent as a new revision, carry traffic, and count it against the client.
#[tokio::test(flavor = "multi_thread")]
async fn inbounds_and_clients_from_the_api_reach_the_core() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    let files = FileServer::start().await;
    let api = ctl.api();
    let port = free_port();
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"remark": "ws", "port": port, "protocol": "vless",
                "settings": {"decryption": "none"},
                "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}})),
        )
        .await;
    assert_eq!(inbound["tag"], json!(format!("inbound-{port}")));
    let clash = api
        .call(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"port": port, "protocol": "vmess"})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        clash.contains("already used") && clash.contains("invalid_request"),
        "{clash}"
    );
    let client = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "alice", "inboundIds": [inbound["id"]]})),
        )
        .await;
    let uuid = client["uuid"].as_str().unwrap().to_owned();
    let v2 = V2rayClient::start(outbound::vless_ws(port, &uuid, "/ws")).await;
    let body = wait_for("the client to reach the core", LONG, || async {
        v2.fetch(files.port, 64 << 10).await.ok()
    })
    .await;
    assert_eq!(body, pattern(64 << 10));
    wait_for("alice's traffic to count", LONG, || async {
        let c = api.ok("GET", "/api/v1/clients/alice", None).await;
        (c["used"].as_u64().unwrap_or(0) >= 64 << 10).then_some(())
    })
    .await;
    // The same bytes are in the hourly history, of the client and of the server.
    let bytes = |hours: &Value| -> u64 {
        hours
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["up"].as_u64().unwrap() + h["down"].as_u64().unwrap())
            .sum()
    };
    let (alice, used) = wait_for("alice's history to equal her usage", LONG, || async {
        let used = api.ok("GET", "/api/v1/clients/alice", None).await["used"]
            .as_u64()
            .unwrap();
        let alice = api
            .ok("GET", "/api/v1/clients/alice/history?hours=2", None)
            .await;
        (bytes(&alice) == used).then_some((alice, used))
    })
    .await;
    assert!(
        alice
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["serverId"] == json!(id) && h["hour"].as_i64().unwrap() % 3_600_000 == 0),
        "{alice}"
    );
    let server = api
        .ok("GET", "/api/v1/servers/vpn-1/history?hours=2", None)
        .await;
    assert!(
        bytes(&server) >= used,
        "inbound bytes include alice's: {server}"
    );
    for (path, expected) in [
        (
            "/api/v1/clients/alice/history?hours=0",
            "hours must be between",
        ),
        (
            "/api/v1/servers/vpn-1/history?hours=soon",
            "invalid_request",
        ),
        ("/api/v1/servers/vpn-1/history?days=2", "invalid_request"),
        ("/api/v1/clients/nobody/history", "client not found"),
    ] {
        let err = api.call("GET", path, None).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{path}: {err}");
    }
    let server = ctl.server(id).await;
    assert_eq!(server["revision"], json!(2), "{server}");
    wait_for("the agent to report revision 2", LONG, || async {
        (ctl.server(id).await["applied_revision"] == json!(2)).then_some(())
    })
    .await;

    api.ok(
        "DELETE",
        &format!("/api/v1/inbounds/{}", inbound["id"]),
        None,
    )
    .await;
    wait_for("the removed inbound to stop serving", LONG, || async {
        v2.fetch(files.port, 1000).await.is_err().then_some(())
    })
    .await;
    agent.kill9();
}

/// One client on two servers: usage is the sum, and over quota it is cut on both.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_wide_quota_cuts_the_client_on_every_server() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let api = ctl.api();
    let files = FileServer::start().await;
    let mut agents = Vec::new();
    let mut inbound_ids = Vec::new();
    let mut ports = Vec::new();
    for name in ["ams-1", "fra-1"] {
        let (id, token) = ctl.add_server(name).await;
        let mut agent = Agent::enroll(&token);
        agent.start();
        ctl.wait_status(id, "online", LONG).await;
        let port = free_port();
        let inbound = api
            .ok(
                "POST",
                &format!("/api/v1/servers/{id}/inbounds"),
                Some(json!({"port": port, "protocol": "vmess", "settings": {},
                    "streamSettings": {"network": "tcp"}})),
            )
            .await;
        inbound_ids.push(inbound["id"].clone());
        ports.push(port);
        agents.push(agent);
    }
    let quota = 300 << 10;
    let client = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "bob", "totalGB": quota, "inboundIds": inbound_ids})),
        )
        .await;
    let uuid = client["uuid"].as_str().unwrap().to_owned();
    let clients = [
        V2rayClient::start(outbound::vmess_tcp(ports[0], &uuid)).await,
        V2rayClient::start(outbound::vmess_tcp(ports[1], &uuid)).await,
    ];
    for c in &clients {
        let body = wait_for("bob to reach each server", LONG, || async {
            c.fetch(files.port, 200 << 10).await.ok()
        })
        .await;
        assert_eq!(body.len(), 200 << 10);
    }
    let used = wait_for("usage from both servers to add up", LONG, || async {
        let c = api.ok("GET", "/api/v1/clients/bob", None).await;
        let used = c["used"].as_u64().unwrap_or(0);
        (used >= 400 << 10).then_some(used)
    })
    .await;
    assert!(used > quota, "{used}");
    // A refused VMess user is held open by the server (against probing) until the client
    // gives up, so both servers are checked at once.
    let cut = clients.iter().enumerate().map(|(n, c)| {
        let port = files.port;
        async move {
            wait_for(&format!("bob to be cut on server {n}"), LONG, || async {
                c.fetch(port, 1000).await.is_err().then_some(())
            })
            .await
        }
    });
    futures_util::future::join_all(cut).await;
    let bob = api.ok("GET", "/api/v1/clients/bob", None).await;
    assert_eq!(bob["enable"], json!(false), "{bob}");
    drop(agents);
}

async fn server_status(xui: &xfleet_tests::xui::XuiClient) -> Value {
    xui.clone().get("/panel/api/server/status").await.envelope()
}

async fn core_running(xui: &xfleet_tests::xui::XuiClient) -> Option<Value> {
    let s = server_status(xui).await;
    (s["success"] == true && s["obj"]["xray"]["state"] == json!("running"))
        .then_some(s["obj"].clone())
}

/// 3x-ui's `/panel/api/server/*` over real HTTP with a session cookie, driving a real agent
/// and v2ray: status, core stop and restart, logs, the running config, geo files fetched by
/// the controller and sent to the agent, the database download, generators, and the refusals around them.
#[tokio::test(flavor = "multi_thread")]
async fn compat_server_routes_drive_the_agent() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use xfleet_tests::xui::XuiClient;

    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let files = FileServer::start().await;
    // A mirror that accepts and never answers, until it is dropped.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    // The controller fetches geo files from local servers instead of GitHub, and sends them
    // to the agent.
    let closed = free_port();
    let geo_urls = format!(
        "geosite.dat=http://127.0.0.1:{}/4096,geoip.dat=http://127.0.0.1:{silent_port}/geoip.dat,\
         geoip_RU.dat=http://127.0.0.1:{closed}/geoip.dat",
        files.port
    );
    let ctl = Controller::start(ControllerOptions {
        extra_env: vec![
            ("XFLEET_COMPAT_TASK_WAIT_SECS".into(), "5".into()),
            ("XFLEET_GEO_URLS".into(), geo_urls),
        ],
        ..Default::default()
    })
    .await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;

    const S: &str = "/panel/api/server";
    let mut stranger = XuiClient::new(&ctl.panel_url(), "");
    for (method, path) in [("GET", "/status"), ("POST", "/stopXrayService")] {
        let r = stranger.send(method, &format!("{S}{path}"), None).await;
        assert_eq!((r.status, r.body.len()), (404, 0), "{method} {path}");
    }
    let mut xui = XuiClient::new(&ctl.panel_url(), "");
    assert!(xui.login("admin", "wrong").await.envelope()["success"] == false);
    let login = xui.login("admin", &ctl.admin_password).await.envelope();
    assert!(login["success"] == true, "{login:?}");
    assert!(xui.cookies.contains_key("3x-ui"));

    // An inbound added through the compatible API starts the core.
    let port = free_port();
    let added = xui
        .post_form(
            "/panel/api/inbounds/add",
            &[
                ("remark", "ws"),
                ("enable", "true"),
                ("port", &port.to_string()),
                ("protocol", "vmess"),
                ("settings", r#"{"clients": []}"#),
                ("streamSettings", r#"{"network": "tcp"}"#),
                ("sniffing", "{}"),
            ],
        )
        .await
        .envelope();
    assert!(added["success"] == true, "{added:?}");
    // The running config has the inbound once the agent applied the new revision.
    let config = wait_for("the inbound to reach the core", LONG, || {
        let mut xui = xui.clone();
        async move {
            let config = xui.get(&format!("{S}/getConfigJson")).await.obj();
            let inbounds = config["inbounds"].as_array().cloned().unwrap_or_default();
            inbounds
                .iter()
                .any(|i| i["port"] == json!(port))
                .then_some(config)
        }
    })
    .await;
    assert!(config["outbounds"].is_array(), "{config}");
    let status = wait_for("the core to run", LONG, || core_running(&xui)).await;
    assert!(status["cpu"].is_number() && status["cpuCores"].as_u64() > Some(0));
    assert!(status["mem"]["total"].as_u64() > Some(0), "{status}");
    assert!(status["mem"]["current"].as_u64() > Some(0), "{status}");
    let version = status["xray"]["version"].as_str().unwrap().to_owned();
    assert!(
        version.starts_with(|c: char| c.is_ascii_digit()),
        "{status}"
    );

    let versions = xui.get(&format!("{S}/getXrayVersion")).await.obj();
    assert_eq!(versions, json!([format!("v{version}")]));

    let lines = wait_for("the core's log lines", LONG, || {
        let mut xui = xui.clone();
        async move {
            let r = xui
                .post_form(
                    &format!("{S}/logs/20"),
                    &[("level", "debug"), ("syslog", "false")],
                )
                .await
                .obj();
            let lines = r.as_array().cloned().unwrap_or_default();
            (!lines.is_empty()).then_some(lines)
        }
    })
    .await;
    assert!(lines.len() <= 20);
    for line in &lines {
        let line = line.as_str().expect("lines are strings");
        // `2006/01/02 15:04:05 LEVEL - message`
        assert_eq!(line.as_bytes().get(4), Some(&b'/'), "{line}");
        assert!(line.contains(" - "), "{line}");
    }
    let errors = xui
        .post_form(&format!("{S}/logs/20"), &[("level", "error")])
        .await
        .obj();
    assert!(
        errors
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_str().unwrap().contains(" ERROR - ")),
        "{errors}"
    );
    let bad = xui
        .post_form(&format!("{S}/logs/many"), &[("level", "info")])
        .await
        .envelope();
    assert!(
        bad["success"] == false && bad["msg"].as_str().unwrap().contains("`many`"),
        "{bad:?}"
    );

    // Stop and restart, as the panel's buttons do.
    let stopped = xui.post(&format!("{S}/stopXrayService")).await.envelope();
    assert!(stopped["success"] == true, "{stopped:?}");
    let status = server_status(&xui).await;
    assert_eq!(status["obj"]["xray"]["state"], json!("stop"), "{status:?}");
    wait_for("the core process to be gone", LONG, || async {
        core_pid(&agent).is_none().then_some(())
    })
    .await;
    let restarted = xui
        .post(&format!("{S}/restartXrayService"))
        .await
        .envelope();
    assert!(restarted["success"] == true, "{restarted:?}");
    wait_for("the core to run again", LONG, || core_running(&xui)).await;
    assert!(core_pid(&agent).is_some());

    // Geo files: the controller fetches them and sends them over the channel; names outside
    // 3x-ui's list are refused before anything is sent.
    let geo = xui
        .post(&format!("{S}/updateGeofile/geosite.dat"))
        .await
        .envelope();
    assert!(geo["success"] == true, "{geo:?}");
    assert_eq!(geo["obj"]["changed"], json!(["geosite.dat"]), "{geo:?}");
    let on_disk = std::fs::read(agent.data_dir.join("core/assets/geosite.dat")).unwrap();
    assert!(
        on_disk == pattern(4096),
        "the fetched file is in the assets dir"
    );
    let again = xui
        .post(&format!("{S}/updateGeofile/geosite.dat"))
        .await
        .envelope();
    assert!(again["success"] == true, "{again:?}");
    assert_eq!(
        again["obj"]["unchanged"],
        json!(["geosite.dat"]),
        "{again:?}"
    );
    let unknown = xui
        .post(&format!("{S}/updateGeofile/geoip_RU.dat"))
        .await
        .envelope();
    assert!(
        unknown["success"] == false
            && unknown["msg"]
                .as_str()
                .unwrap()
                .contains("cannot fetch geoip_RU.dat"),
        "{unknown:?}"
    );
    let evil = xui
        .post(&format!("{S}/updateGeofile/..%2Fagent.toml"))
        .await
        .envelope();
    assert!(
        evil["success"] == false && evil["msg"].as_str().unwrap().contains("not a geo file"),
        "{evil:?}"
    );
    wait_for("the core to run after the geo update", LONG, || {
        core_running(&xui)
    })
    .await;
    // The default set (geoip.dat, geosite.dat), geoip.dat from the silent mirror: past the
    // wait the answer names the task that carries on; when the mirror goes away the task
    // fails and the queue moves on.
    let slow = xui.post(&format!("{S}/updateGeofile")).await.envelope();
    assert!(
        slow["success"] == true
            && slow["msg"]
                .as_str()
                .unwrap()
                .contains("still running as task"),
        "{slow:?}"
    );
    let task_id = slow["obj"]["taskId"].as_str().unwrap().to_owned();
    silent.abort();
    let task = wait_for("the geo task to end", LONG, || async {
        let t = ctl
            .api()
            .ok("GET", &format!("/api/v1/tasks/{task_id}"), None)
            .await;
        (t["status"] != json!("running")).then_some(t)
    })
    .await;
    assert_eq!(task["status"], json!("failed"), "{task}");
    assert!(
        task["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot fetch geoip.dat"),
        "{task}"
    );

    // This host's core is v2ray from the package manager: installing Xray is refused by the
    // agent, and a nonsense version by the controller.
    let install = xui
        .post(&format!("{S}/installXray/v25.3.6"))
        .await
        .envelope();
    assert!(
        install["success"] == false && install["msg"].as_str().unwrap().contains("v2ray"),
        "{install:?}"
    );
    let nonsense = xui
        .post(&format!("{S}/installXray/latest"))
        .await
        .envelope();
    assert!(
        nonsense["success"] == false
            && nonsense["msg"]
                .as_str()
                .unwrap()
                .contains("not a release version"),
        "{nonsense:?}"
    );

    let audit = ctl.api().ok("GET", "/api/v1/audit?limit=100", None).await;
    for action in [
        "server.core.stop",
        "server.core.restart",
        "server.geo.update",
        "server.core.install",
    ] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == json!(action) && e["actor"] == json!("admin")),
            "{action} audited: {audit}"
        );
    }

    // The database: a consistent SQLite file that opens and holds the fleet.
    let db = xui.get(&format!("{S}/getDb")).await;
    assert_eq!(db.status, 200, "{}", String::from_utf8_lossy(&db.body));
    assert_eq!(
        db.headers.get("content-type").map(String::as_str),
        Some("application/octet-stream")
    );
    assert_eq!(
        db.headers.get("content-disposition").map(String::as_str),
        Some("attachment; filename=xfleet.db")
    );
    assert!(db.body.starts_with(b"SQLite format 3\0"));
    let copy_dir = xfleet_tests::TempDir::new("getdb");
    let copy = copy_dir.path().join("x-ui.db");
    std::fs::write(&copy, &db.body).unwrap();
    let store = xfleet_controller::store::Store::open(&xfleet_controller::store::sqlite_url(&copy))
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["vpn-1"]);
    let leftovers: Vec<_> = std::fs::read_dir(ctl.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".export-"))
        .collect();
    assert!(leftovers.is_empty(), "the copy is not left on disk");
    let reader = ctl
        .api()
        .ok(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({"name": "monitor", "scope": "read-only"})),
        )
        .await;
    let mut monitor = XuiClient::new(&ctl.panel_url(), "");
    monitor.bearer = reader["token"].as_str().map(str::to_owned);
    let refused = monitor.get(&format!("{S}/getDb")).await.envelope();
    assert!(
        refused["success"] == false && refused["msg"].as_str().unwrap().contains("read-only"),
        "{refused:?}"
    );
    assert!(monitor.get(&format!("{S}/status")).await.envelope()["success"] == true);

    // Generators.
    let uuid = xui.get(&format!("{S}/getNewUUID")).await.obj();
    let uuid = uuid["uuid"].as_str().unwrap();
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
    assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    let pair = xui.get(&format!("{S}/getNewX25519Cert")).await.obj();
    for key in ["privateKey", "publicKey"] {
        let k = pair[key].as_str().unwrap();
        assert_eq!(k.len(), 43, "{pair}");
        assert_eq!(URL_SAFE_NO_PAD.decode(k).unwrap().len(), 32, "{pair}");
    }
    assert_ne!(pair["privateKey"], pair["publicKey"]);
    // The generators 3x-ui runs Xray for: Debian's v2ray has none, and the answer says so.
    for path in ["getNewmldsa65", "getNewmlkem768", "getNewVlessEnc"] {
        let msg = xui.get(&format!("{S}/{path}")).await.failure();
        assert!(
            msg.contains(&format!("v2ray {version}"))
                && msg.contains("Xray's `xray ")
                && msg.contains("core.binary"),
            "{path}: {msg}"
        );
    }
    let msg = xui
        .post_form(&format!("{S}/getNewEchCert"), &[("sni", "cdn.example.com")])
        .await
        .failure();
    assert!(
        msg.contains("ECH keys are made by Xray's `xray tls ech`"),
        "{msg}"
    );

    // Two servers: a call naming none acts on the default server (the first added), and an
    // unconnected one says so.
    ctl.api()
        .ok("POST", "/api/v1/servers", Some(json!({"name": "vpn-2"})))
        .await;
    let default = server_status(&xui).await;
    assert!(default["success"] == true, "{default:?}");
    let picked = xui
        .get(&format!("{S}/status?server_id=vpn-1"))
        .await
        .envelope();
    assert!(picked["success"] == true, "{picked:?}");
    let absent = xui
        .get(&format!("{S}/status?server_id=vpn-2"))
        .await
        .envelope();
    assert!(
        absent["success"] == false
            && absent["msg"].as_str().unwrap().contains("vpn-2")
            && absent["msg"].as_str().unwrap().contains("not connected"),
        "{absent:?}"
    );

    agent.kill9();
    let offline = wait_for("vpn-1 to be reported offline", LONG, || {
        let mut xui = xui.clone();
        async move {
            let s = xui
                .get(&format!("{S}/status?server_id={id}"))
                .await
                .envelope();
            (s["success"] == false).then_some(s)
        }
    })
    .await;
    assert!(
        offline["msg"].as_str().unwrap().contains("vpn-1"),
        "{offline:?}"
    );
    let stop = xui
        .post(&format!("{S}/stopXrayService?server_id=vpn-1"))
        .await
        .envelope();
    assert!(
        stop["success"] == false && stop["msg"].as_str().unwrap().contains("vpn-1"),
        "{stop:?}"
    );

    // On PostgreSQL there is no file to hand out.
    if let Some(url) = xfleet_tests::postgres_database().await {
        let pg = Controller::start(ControllerOptions {
            database_url: Some(url),
            ..Default::default()
        })
        .await;
        let mut client = XuiClient::new(&pg.panel_url(), "");
        assert!(client.login("admin", &pg.admin_password).await.envelope()["success"] == true);
        let db = client.get(&format!("{S}/getDb")).await.envelope();
        assert!(
            db["success"] == false && db["msg"].as_str().unwrap().contains("pg_dump"),
            "{db:?}"
        );
    }
}

/// One bulk call on clients of two servers: a refusal changes nothing, each affected server
/// gets one new revision, the core follows (a disabled client is refused, a reset one is
/// served again), and each call is one audit entry.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_client_actions_reach_the_core_in_one_revision_per_server() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    // Never connects: its new states wait for it.
    let (far, _) = ctl.add_server("vpn-2").await;
    let files = FileServer::start().await;
    let api = ctl.api();
    let port = free_port();
    let vless = |port: u16| {
        json!({"port": port, "protocol": "vless", "settings": {"decryption": "none"},
               "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}})
    };
    let near_in = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(vless(port)),
        )
        .await;
    let far_in = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{far}/inbounds"),
            Some(vless(free_port())),
        )
        .await;
    let mut uuid = String::new();
    for (email, inbounds) in [
        ("alice", json!([near_in["id"]])),
        ("bob", json!([near_in["id"], far_in["id"]])),
        ("carol", json!([far_in["id"]])),
    ] {
        let c = api
            .ok(
                "POST",
                "/api/v1/clients",
                Some(json!({"email": email, "inboundIds": inbounds})),
            )
            .await;
        if email == "alice" {
            uuid = c["uuid"].as_str().unwrap().to_owned();
        }
    }
    let v2 = V2rayClient::start(outbound::vless_ws(port, &uuid, "/ws")).await;
    wait_for("alice to be served", LONG, || async {
        v2.fetch(files.port, 1000).await.ok()
    })
    .await;
    let revisions = || async {
        (
            ctl.server(id).await["revision"].as_i64().unwrap(),
            ctl.server(far).await["revision"].as_i64().unwrap(),
        )
    };
    let disabled = || async {
        let list = api.ok("GET", "/api/v1/clients?filter=disabled", None).await;
        let mut emails: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect();
        emails.sort();
        emails
    };
    let bulk = |body: Value| api.call("POST", "/api/v1/clients/bulk", Some(body));
    let before = revisions().await;

    let too_many: Vec<String> = (0..=5000).map(|n| format!("u{n}")).collect();
    for (body, expected) in [
        (
            json!({"emails": [], "action": "disable"}),
            "emails: must name at least one client",
        ),
        (
            json!({"emails": ["alice", "nobody", "alice"], "action": "disable"}),
            "emails[1]: no client has email `nobody`; \
             emails[2]: `alice` appears twice (also emails[0])",
        ),
        (
            json!({"emails": ["alice"], "action": "pause"}),
            "action: `pause` is not an action; use one of enable, disable, reset-traffic, \
             delete, extend",
        ),
        (
            json!({"emails": ["alice", "bob"], "action": "extend"}),
            "days: is required for extend",
        ),
        (
            json!({"emails": too_many, "action": "disable"}),
            "names 5001 clients; at most 5000 fit in one call",
        ),
        (
            json!({"emails": ["alice"], "action": "disable", "when": "now"}),
            "unknown field `when`",
        ),
    ] {
        let err = bulk(body).await.unwrap_err().to_string();
        assert!(
            err.contains(expected) && err.contains("invalid_request"),
            "{err}"
        );
    }
    assert_eq!(revisions().await, before, "refusals push nothing");
    assert!(disabled().await.is_empty());
    v2.fetch(files.port, 1000)
        .await
        .expect("alice is still served");

    let out = bulk(json!({"emails": ["alice", "bob"], "action": "disable"}))
        .await
        .unwrap();
    assert_eq!(out["count"], json!(2), "{out}");
    let pushed: Vec<(i64, i64)> = out["pushes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["serverId"].as_i64().unwrap(),
                p["revision"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pushed, [(id, before.0 + 1), (far, before.1 + 1)], "{out}");
    assert_eq!(revisions().await, (before.0 + 1, before.1 + 1));
    assert_eq!(disabled().await, ["alice", "bob"]);
    wait_for("the core to refuse alice", LONG, || async {
        v2.fetch(files.port, 1000).await.is_err().then_some(())
    })
    .await;
    // The core drops alice as soon as the agent applies; its report of the applied revision
    // follows on the channel a moment later.
    wait_for(
        "the server to report the bulk revision applied",
        LONG,
        || async {
            (ctl.server(id).await["applied_revision"] == json!(before.0 + 1)).then_some(())
        },
    )
    .await;

    // Reset switches alice on again, as the single route does; only her server changes.
    let out = bulk(json!({"emails": ["alice"], "action": "reset-traffic"}))
        .await
        .unwrap();
    assert_eq!(out["pushes"].as_array().unwrap().len(), 1, "{out}");
    let alice = api.ok("GET", "/api/v1/clients/alice", None).await;
    assert_eq!(
        (alice["enable"].clone(), alice["used"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(disabled().await, ["bob"]);
    wait_for("alice to be served again", LONG, || async {
        v2.fetch(files.port, 1000).await.ok()
    })
    .await;

    let asked = xfleet_common::time::now_ms();
    bulk(json!({"emails": ["alice", "carol"], "action": "extend", "days": 7}))
        .await
        .unwrap();
    for email in ["alice", "carol"] {
        let c = api
            .ok("GET", &format!("/api/v1/clients/{email}"), None)
            .await;
        let days = (c["expiryTime"].as_i64().unwrap() - asked) as f64 / 86_400_000.0;
        assert!((6.99..7.01).contains(&days), "{email}: {days} days");
    }
    v2.fetch(files.port, 1000)
        .await
        .expect("an extended client is served");

    let out = bulk(json!({"emails": ["bob", "carol"], "action": "delete"}))
        .await
        .unwrap();
    assert_eq!(out["count"], json!(2), "{out}");
    for email in ["bob", "carol"] {
        let err = api
            .call("GET", &format!("/api/v1/clients/{email}"), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("client not found"), "{err}");
    }
    api.ok("GET", "/api/v1/clients/alice", None).await;

    let audit = api.ok("GET", "/api/v1/audit", None).await;
    let entries: Vec<(String, Value)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("client.bulk"))
        .map(|e| {
            (
                e["result"].as_str().unwrap().to_owned(),
                serde_json::from_str(e["details"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    // A body that is not a bulk request at all (the unknown field) is refused before it
    // names anything to audit.
    assert_eq!(entries.len(), 9, "one entry per call: {entries:?}");
    assert_eq!(
        entries[0],
        (
            "ok".to_owned(),
            json!({"action": "delete", "count": 2, "emails": ["bob", "carol"]})
        )
    );
    assert_eq!(
        entries
            .iter()
            .filter(|(result, _)| result == "invalid_request")
            .count(),
        5
    );
    let (_, over) = &entries[4];
    assert_eq!(
        over,
        &json!({"action": "disable", "count": 5001}),
        "an oversized list is not copied into the log"
    );
    agent.kill9();
}

/// The first bytes an HTTP/2 client sends: the preface and an empty SETTINGS frame. The
/// core's gRPC API answers them with its own SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Issue 15, item 1: a VPN user reaches neither the core's API nor the host's loopback. With
/// the tests' template (127.0.0.0/8 routed direct) a loopback origin answers through an
/// ordinary client connection (VLESS+WS) but the core's gRPC API, asked by address, as
/// `localhost` or as an IPv4-mapped IPv6 address, sends back no byte; with the default
/// template neither answers (a name resolving to loopback neither, nor IPv6 loopback); with an operator's
/// template that routes everything direct under `AsIs`, the origin answers again and the API
/// still does not. Each probe is a real request through the real core; the origin counts
/// what it sent.
#[tokio::test(flavor = "multi_thread")]
async fn vpn_users_reach_neither_the_core_api_nor_loopback() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    let files = FileServer::start().await;
    // An origin on IPv6 loopback: answers a request with a greeting.
    let v6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let v6_port = v6.local_addr().unwrap().port();
    let _v6 = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = v6.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(b"v6 origin").await;
                let _ = conn.shutdown().await;
            });
        }
    });
    let api = ctl.api();
    let port = free_port();
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(
                json!({"port": port, "protocol": "vless", "settings": {"decryption": "none"},
                "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}}),
            ),
        )
        .await;
    let client = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "mallory", "inboundIds": [inbound["id"]]})),
        )
        .await;
    let uuid = client["uuid"].as_str().unwrap().to_owned();
    let v2 = V2rayClient::start(outbound::vless_ws(port, &uuid, "/ws")).await;
    let quiet = Duration::from_secs(3);
    let ask = |host: &'static str, to: u16, request: &'static [u8]| {
        let socks = v2.socks_port;
        async move {
            xfleet_tests::proxy::exchange_via_socks(socks, host, to, request, quiet)
                .await
                .unwrap_or_default()
        }
    };
    let get: &[u8] = b"GET /1000 HTTP/1.0\r\nHost: origin\r\n\r\n";
    // Ready: the state is applied and the core takes connections on the inbound.
    let ready = || async {
        ctl.wait_applied(id, LONG).await;
        wait_for("the core to listen on the inbound", LONG, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
    };
    let api_port = || api_port_of(&agent);
    let assert_api_silent = |phase: &'static str| async move {
        let api_port = api_port();
        for host in ["127.0.0.1", "localhost", "::ffff:127.0.0.1"] {
            let answer = ask(host, api_port, H2_PREFACE).await;
            eprintln!(
                "{phase}: core API at {host}:{api_port} sent {} bytes",
                answer.len()
            );
            assert!(
                answer.is_empty(),
                "{phase}: the core's API answered a VPN user at {host}: {:?}",
                &answer[..answer.len().min(32)]
            );
        }
    };

    // The tests' template: loopback direct; the API stays closed.
    ready().await;
    let body = wait_for("the loopback origin through the VPN", LONG, || async {
        let answer = ask("127.0.0.1", files.port, get).await;
        answer.ends_with(&pattern(1000)).then_some(answer)
    })
    .await;
    assert!(body.starts_with(b"HTTP/1.0 200"), "{body:?}");
    assert!(
        ask("::1", v6_port, get).await.is_empty(),
        "only IPv4 loopback is routed direct"
    );
    assert_api_silent("loopback-direct template").await;

    // The default: neither the API nor loopback, however the destination is named. A
    // template change is a new revision of every server.
    let before = ctl.server(id).await["revision"].as_i64().unwrap();
    ctl.set_core_template(None).await;
    assert_eq!(ctl.server(id).await["revision"], json!(before + 1));
    ready().await;
    let sent = files.sent.load(std::sync::atomic::Ordering::SeqCst);
    for host in ["127.0.0.1", "localhost", "::ffff:127.0.0.1"] {
        let answer = ask(host, files.port, get).await;
        eprintln!(
            "default template: loopback origin at {host} sent {} bytes",
            answer.len()
        );
        assert!(
            answer.is_empty(),
            "the loopback origin answered at {host} by default: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(64)])
        );
    }
    assert_eq!(
        files.sent.load(std::sync::atomic::Ordering::SeqCst),
        sent,
        "the origin was reached"
    );
    assert!(
        ask("::1", v6_port, get).await.is_empty(),
        "IPv6 loopback answered by default"
    );
    // Names are resolved before the address rules give up on them (`localhost` above).
    let config: Value = serde_json::from_slice(
        &std::fs::read(agent.data_dir.join("core").join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["routing"]["domainStrategy"], json!("IPIfNonMatch"));
    assert_api_silent("default template").await;

    // An operator's template that lets everything through still cannot open the API.
    let open = json!({
        "outbounds": [{"tag": "direct", "protocol": "freedom", "settings": {}}],
        "routing": {"domainStrategy": "AsIs", "rules": [
            {"type": "field", "port": "1-65535", "outboundTag": "direct"},
        ]},
    });
    ctl.set_core_template(Some(&open)).await;
    ready().await;
    for host in ["127.0.0.1", "localhost"] {
        wait_for(
            &format!("the origin at {host} with the open template"),
            LONG,
            || async {
                ask(host, files.port, get)
                    .await
                    .ends_with(&pattern(1000))
                    .then_some(())
            },
        )
        .await;
    }
    wait_for("the origin on ::1 with the open template", LONG, || async {
        (ask("::1", v6_port, get).await == b"v6 origin").then_some(())
    })
    .await;
    assert_api_silent("open operator template").await;
    agent.kill9();
}

/// A server's own template reaches its core and only its core: a routing rule sends one
/// origin to a blackhole while another still passes, removing the rule opens it again, a
/// template v2ray refuses is refused at saving with v2ray's words (an offline server meets it
/// on its return, keeps serving on its last good configuration and says why), and 3x-ui's
/// `/panel/xray/` routes read and write the same template.
#[tokio::test(flavor = "multi_thread")]
async fn a_servers_template_routes_its_traffic_and_a_refused_one_changes_nothing() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, mut agent) = ctl.online_server("vpn-1").await;
    let (other, _) = ctl.add_server("vpn-2").await;
    let (open, closed) = (FileServer::start().await, FileServer::start().await);
    let api = ctl.api();
    let (inbound, v2) = ctl.vless_ws_user(id, "router").await;
    let get: &[u8] = b"GET /2000 HTTP/1.0\r\nHost: origin\r\n\r\n";
    let reaches = |to: u16| {
        let socks = v2.socks_port;
        async move {
            let answer = xfleet_tests::proxy::exchange_via_socks(
                socks,
                "127.0.0.1",
                to,
                get,
                Duration::from_secs(3),
            )
            .await
            .unwrap_or_default();
            answer.ends_with(&pattern(2000))
        }
    };
    let ctl = &ctl;
    let reaches = &reaches;
    let wait_reaches = |to: u16, expected: bool, what: &'static str| async move {
        wait_for(what, LONG, || async {
            ctl.wait_applied(id, LONG).await;
            (reaches(to).await == expected).then_some(())
        })
        .await
    };
    wait_reaches(open.port, true, "the first origin through the VPN").await;
    wait_reaches(closed.port, true, "the second origin through the VPN").await;

    // A template of its own for vpn-1 alone: the second origin goes to a blackhole.
    let mut blocking = loopback_direct_template();
    blocking["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"type": "field", "ip": ["127.0.0.1"], "port": closed.port.to_string(),
            "outboundTag": "blocked"}),
    );
    let other_revision = ctl.server(other).await["revision"].clone();
    let created = api
        .ok(
            "POST",
            "/api/v1/core/templates",
            Some(json!({"name": "block-one", "config": blocking, "servers": ["vpn-1"]})),
        )
        .await;
    assert_eq!(created["servers"], json!([{"id": id, "name": "vpn-1"}]));
    assert_eq!(
        created["saved"]["checked_on"],
        json!([{"id": id, "name": "vpn-1"}]),
        "the online core tested it"
    );
    let template = created["id"].as_i64().unwrap();
    let runs = api
        .ok("GET", &format!("/api/v1/servers/{id}/core-template"), None)
        .await;
    assert_eq!(runs["source"], json!("template"), "{runs}");
    assert_eq!(runs["template"]["name"], json!("block-one"));
    assert_eq!(
        ctl.server(id).await["core_template"],
        json!({"id": template, "name": "block-one"}),
        "the server says which template it runs"
    );
    wait_reaches(closed.port, false, "the rule to close the second origin").await;
    assert!(reaches(open.port).await, "the first origin still passes");
    assert_eq!(
        ctl.server(other).await["revision"],
        other_revision,
        "a server without the template has no new revision"
    );
    let fleet = api.ok("GET", "/api/v1/core/template", None).await;
    assert_eq!(fleet["servers"], json!([{"id": other, "name": "vpn-2"}]));

    // A rule v2ray cannot parse: refused with its words, nothing changes.
    let revision = ctl.server(id).await["revision"].clone();
    let mut broken = blocking.clone();
    broken["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"type": "field", "ip": ["not-an-ip"], "outboundTag": "direct"}),
    );
    let refused = api
        .call(
            "PUT",
            &format!("/api/v1/core/templates/{template}"),
            Some(json!({"config": broken})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("vpn-1") && refused.contains("invalid IP: not-an-ip"),
        "{refused}"
    );
    assert_eq!(ctl.server(id).await["revision"], revision);
    let kept = api
        .ok("GET", &format!("/api/v1/core/templates/{template}"), None)
        .await;
    assert_eq!(kept["config"], blocking, "the stored template is unchanged");
    assert!(reaches(open.port).await && !reaches(closed.port).await);

    // Offline, the same template is saved; back online, the core refuses it, keeps its
    // last good configuration and the server (and 3x-ui's getXrayResult) says why.
    agent.terminate(LONG).await;
    ctl.wait_status(id, "offline", LONG).await;
    let saved = api
        .ok(
            "PUT",
            &format!("/api/v1/core/templates/{template}"),
            Some(json!({"config": broken})),
        )
        .await;
    assert_eq!(saved["saved"]["checked_on"], json!([]));
    agent.start();
    let server = wait_for("the refusal on the server row", LONG, || async {
        let s = ctl.server(id).await;
        s["apply_error"]
            .as_str()
            .is_some_and(|e| e.contains("not-an-ip"))
            .then_some(s)
    })
    .await;
    assert_ne!(server["applied_revision"], server["revision"]);
    assert!(reaches(open.port).await && !reaches(closed.port).await);
    let mut xui = xfleet_tests::xui::XuiClient::new(&ctl.panel_url(), "");
    xui.login("admin", &ctl.admin_password).await.obj();
    let said = xui
        .get(&format!("/panel/api/xray/getXrayResult?server_id={id}"))
        .await
        .obj();
    assert!(
        said.as_str().unwrap().contains("invalid IP: not-an-ip"),
        "{said}"
    );

    // 3x-ui's page: reads the server's template, saves it without the rules, and the second
    // origin opens again.
    let page = xui
        .post(&format!("/panel/xray/?server_id={id}"))
        .await
        .obj();
    let page: Value = serde_json::from_str(page.as_str().unwrap()).unwrap();
    assert_eq!(page["xraySetting"], broken);
    assert_eq!(page["inboundTags"], json!([inbound["tag"]]));
    let fixed = loopback_direct_template();
    xui.post_form(
        &format!("/panel/api/xray/update?server_id={id}"),
        &[("xraySetting", &fixed.to_string())],
    )
    .await
    .obj();
    wait_reaches(closed.port, true, "the second origin without the rule").await;
    let server = ctl.server(id).await;
    assert_eq!(server["apply_error"], Value::Null, "{server}");
    let kept = api
        .ok("GET", &format!("/api/v1/core/templates/{template}"), None)
        .await;
    assert_eq!(kept["config"], fixed, "the server's own template changed");

    // A template in use is not deleted; given back to the fleet template, it can be.
    let refused = api
        .call(
            "DELETE",
            &format!("/api/v1/core/templates/{template}"),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("is used by vpn-1"), "{refused}");
    api.ok(
        "PUT",
        "/api/v1/servers/vpn-1/core-template",
        Some(json!({"template": null})),
    )
    .await;
    api.ok(
        "DELETE",
        &format!("/api/v1/core/templates/{template}"),
        None,
    )
    .await;
    ctl.wait_applied(id, LONG).await;
    assert!(reaches(closed.port).await);
}

/// An outbound changed in the template goes live through the core's API: the core keeps
/// running (same process, open connections kept) while traffic follows the new outbound (a
/// freedom redirect moved, a direct hop turned into a SOCKS hop) and is counted on it; a routing change, which v2ray's API cannot make, restarts that core.
#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_change_goes_live_and_a_routing_change_restarts_the_core() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, agent) = ctl.online_server("vpn-1").await;
    let (first, second) = (FileServer::start().await, FileServer::start().await);
    let api = ctl.api();
    let (_, v2) = ctl.vless_ws_user(id, "detoured").await;
    // Nothing listens on `nowhere`: only the detour's redirect answers there.
    let nowhere = free_port();
    // `hop` carries the third origin's traffic: direct at first, then through a SOCKS server.
    let third = FileServer::start().await;
    let socks = xfleet_tests::proxy::SocksServer::start().await;
    let direct_hop = json!({"tag": "hop", "protocol": "freedom", "settings": {}});
    let socks_hop = json!({"tag": "hop", "protocol": "socks", "settings": {"servers": [
        {"address": "127.0.0.1", "port": socks.port}]}});
    let template = |to: u16, hop: &Value, routed: bool| {
        let mut t = loopback_direct_template();
        let outbounds = t["outbounds"].as_array_mut().unwrap();
        outbounds.push(json!({"tag": "detour", "protocol": "freedom",
            "settings": {"redirect": format!("127.0.0.1:{to}")}}));
        outbounds.push(hop.clone());
        let rules = t["routing"]["rules"].as_array_mut().unwrap();
        rules.insert(
            0,
            json!({"type": "field", "port": third.port.to_string(), "outboundTag": "hop"}),
        );
        if routed {
            rules.insert(
                0,
                json!({"type": "field", "port": nowhere.to_string(), "outboundTag": "detour"}),
            );
        }
        t
    };
    let fetch_from = |to: u16| {
        let socks = v2.socks_port;
        async move {
            xfleet_tests::proxy::exchange_via_socks(
                socks,
                "127.0.0.1",
                to,
                b"GET /3000 HTTP/1.0\r\nHost: origin\r\n\r\n",
                Duration::from_secs(3),
            )
            .await
            .unwrap_or_default()
            .ends_with(&pattern(3000))
        }
    };
    let fetch = || fetch_from(nowhere);
    let sent = |files: &FileServer| files.sent.load(std::sync::atomic::Ordering::SeqCst);
    let ctl = &ctl;
    let set = |config: Value| {
        let api = ctl.api();
        async move {
            api.ok(
                "PUT",
                "/api/v1/core/template",
                Some(json!({ "config": config })),
            )
            .await;
            ctl.wait_applied(id, LONG).await;
        }
    };

    set(template(first.port, &direct_hop, true)).await;
    wait_for("the detour to the first origin", LONG, || async {
        fetch().await.then_some(())
    })
    .await;
    assert!(sent(&first) > 0 && sent(&second) == 0);
    let pid = agent.core_pid();
    assert!(pid.is_some());

    // The detour now leads to the second origin, without a restart.
    let before = sent(&first);
    set(template(second.port, &direct_hop, true)).await;
    assert!(fetch().await, "the detour answers at once");
    assert!(sent(&second) > 0, "the new outbound carried it");
    assert_eq!(sent(&first), before, "the old outbound is gone");
    assert_eq!(agent.core_pid(), pid, "the core was not restarted");
    let counted = wait_for("traffic counted on the detour", LONG, || async {
        let traffic = api
            .ok("GET", &format!("/api/v1/servers/{id}/traffic"), None)
            .await;
        traffic["outbounds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == json!("detour") && o["down"].as_i64().unwrap_or(0) > 0)
            .cloned()
    })
    .await;
    eprintln!("detour counted: {counted}");

    // The third origin's hop becomes a SOCKS hop, again without a restart.
    assert!(fetch_from(third.port).await);
    assert!(socks.destinations().is_empty());
    set(template(second.port, &socks_hop, true)).await;
    assert!(fetch_from(third.port).await, "through the SOCKS hop");
    assert_eq!(
        socks.destinations(),
        vec![third.port],
        "the SOCKS server carried it"
    );
    assert_eq!(agent.core_pid(), pid, "the core was not restarted");

    // Without the rule nothing answers there, and the core was restarted to say so.
    set(template(second.port, &socks_hop, false)).await;
    assert!(!fetch().await, "the rule is gone");
    assert_ne!(agent.core_pid(), pid, "a routing change restarts the core");
}

/// The `chain` counters as a server's outbound list shows them: `(up, down)`.
fn chain_usage(outbounds: &Value) -> Option<(u64, u64)> {
    let row = outbounds
        .as_array()?
        .iter()
        .find(|o| o["tag"] == json!("chain"))?;
    Some((row["up"].as_u64()?, row["down"].as_u64()?))
}

/// An outbound chain: the fleet template sends one destination port through a `socks`
/// outbound (`chain`) to a SOCKS server the test runs. A real client's download from that
/// destination arrives through the SOCKS server and is counted on `chain` exactly as the
/// core counted it, in the native API (per server and fleet-wide) and in 3x-ui's
/// `getOutboundsTraffic` (v2 and v3 paths, fleet and `server_id`); a download from another
/// destination does not go through it; a reset of `chain` zeroes it alone, and 3x-ui's
/// `-alltags-` every outbound.
#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_chain_carries_and_counts_its_destination() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let socks = SocksServer::start().await;
    let chained = FileServer::start().await;
    let direct = FileServer::start().await;
    let mut template = loopback_direct_template();
    template["outbounds"].as_array_mut().unwrap().push(json!({
        "tag": "chain", "protocol": "socks",
        "settings": {"servers": [{"address": "127.0.0.1", "port": socks.port}]}
    }));
    template["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"type": "field", "ip": ["127.0.0.1"], "port": chained.port.to_string(),
               "outboundTag": "chain"}),
    );
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.set_core_template(Some(&template)).await;
    let (id, agent) = ctl.online_server("vpn-1").await;
    let api = ctl.api();
    let (_, v2) = ctl.vless_ws_user(id, "alice").await;

    let n = 256 << 10;
    let body = wait_for("the chained destination to answer", LONG, || async {
        v2.fetch(chained.port, n).await.ok()
    })
    .await;
    assert_eq!(body, pattern(n));
    assert!(
        socks.destinations().contains(&chained.port),
        "the SOCKS server relayed it: {:?}",
        socks.destinations()
    );
    assert_eq!(v2.fetch(direct.port, n).await.unwrap(), pattern(n));
    assert!(
        !socks.destinations().contains(&direct.port),
        "the other destination went direct: {:?}",
        socks.destinations()
    );

    // Recorded as the core itself counted the outbound, once every batch is in.
    let api_port = api_port_of(&agent);
    let counted = |name: &str| {
        core_counters(api_port)
            .into_iter()
            .find(|(n, _)| n == &format!("outbound>>>chain>>>traffic>>>{name}"))
            .map(|(_, v)| v)
    };
    let traffic = wait_for("chain's bytes to be recorded", LONG, || async {
        let core = (counted("uplink")?, counted("downlink")?);
        let t = api
            .ok(
                "GET",
                &format!("/api/v1/core/outbounds/traffic?server={id}"),
                None,
            )
            .await;
        (core.1 >= n as u64 && chain_usage(&t["servers"][0]["outbounds"]) == Some(core))
            .then_some(t)
    })
    .await;
    let (up, down) = chain_usage(&traffic["servers"][0]["outbounds"]).unwrap();
    assert_eq!(traffic["servers"][0]["name"], json!("vpn-1"));
    assert_eq!(
        chain_usage(&traffic["fleet"]),
        Some((up, down)),
        "{traffic}"
    );
    let fleet = api.ok("GET", "/api/v1/core/outbounds/traffic", None).await;
    assert_eq!(chain_usage(&fleet["fleet"]), Some((up, down)), "{fleet}");

    let mut xui = XuiClient::new(&ctl.panel_url(), "");
    xui.login("admin", &ctl.admin_password).await.obj();
    for path in [
        "/panel/api/xray/getOutboundsTraffic".to_owned(),
        format!("/panel/xray/getOutboundsTraffic?server_id={id}"),
    ] {
        let rows = xui.get(&path).await.obj();
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tag"] == json!("chain"))
            .unwrap_or_else(|| panic!("{path}: {rows}"))
            .clone();
        assert_eq!(
            (&row["up"], &row["down"], &row["total"]),
            (&json!(up), &json!(down), &json!(up + down)),
            "{path}: {rows}"
        );
        assert!(row["id"].as_u64().is_some(), "{row}");
    }

    // A reset of `chain` leaves `direct`; 3x-ui's `-alltags-` zeroes every outbound.
    let reset = api
        .ok(
            "POST",
            "/api/v1/core/outbounds/traffic/reset",
            Some(json!({"server": "vpn-1", "tag": "chain"})),
        )
        .await;
    assert_eq!(reset["reset"], json!(1));
    let after = api.ok("GET", "/api/v1/core/outbounds/traffic", None).await;
    assert_eq!(chain_usage(&after["fleet"]), Some((0, 0)), "{after}");
    let direct_total = |t: &Value| {
        t["fleet"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["tag"] == json!("direct"))
            .map_or(0, |o| o["total"].as_u64().unwrap())
    };
    assert!(direct_total(&after) >= n as u64, "{after}");
    xui.post_form("/panel/xray/resetOutboundsTraffic", &[("tag", "-alltags-")])
        .await
        .obj();
    let after = api.ok("GET", "/api/v1/core/outbounds/traffic", None).await;
    assert_eq!(direct_total(&after), 0, "{after}");
    assert_eq!(chain_usage(&after["fleet"]), Some((0, 0)), "{after}");
}

/// An outbound test runs in a temporary core on the server's agent: a freedom outbound
/// fetching a loopback HTTP server answers success with a delay and the status code
/// (native API with its own URL, 3x-ui's `testOutbound` with the `xrayOutboundTestUrl`
/// setting); a SOCKS outbound to a closed port answers failure with the reason; an outbound
/// the core refuses answers failure in the core's own words; the running core is not
/// restarted, and no temporary directory is left behind. Bad input is refused with every
/// reason.
#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_test_answers_delay_failure_or_the_cores_words() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    ctl.wait_applied(id, LONG).await;
    let pid = wait_for("the core to run", LONG, || async { core_pid(&agent) }).await;
    let files = FileServer::start().await;
    let api = ctl.api();
    let url = format!("http://127.0.0.1:{}/16", files.port);
    let path = format!("/api/v1/servers/{id}/outbounds/test");
    let test = |body: Value| api.ok("POST", &path, Some(body));

    let passed =
        test(json!({"outbound": {"protocol": "freedom", "tag": "direct"}, "url": url})).await;
    assert_eq!(passed["success"], json!(true), "{passed}");
    assert_eq!(passed["statusCode"], json!(200), "{passed}");
    assert!(passed["delay"].as_u64().is_some(), "{passed}");
    assert!(files.sent.load(std::sync::atomic::Ordering::SeqCst) >= 16);

    let closed = free_port();
    let failed = test(
        json!({"url": url, "outbound": {"protocol": "socks", "tag": "hop",
        "settings": {"servers": [{"address": "127.0.0.1", "port": closed}]}}}),
    )
    .await;
    assert_eq!(failed["success"], json!(false), "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("127.0.0.1:{closed}: connect: connection refused")),
        "the core's own words: {failed}"
    );

    let refused =
        test(json!({"url": url, "outbound": {"protocol": "warp-drive", "tag": "x"}})).await;
    assert_eq!(refused["success"], json!(false), "{refused}");
    let words = refused["error"].as_str().unwrap_or("");
    assert!(
        words.contains("unknown config id: warp-drive"),
        "v2ray's own words: {refused}"
    );

    // Bad input is refused with every reason, before any agent is asked.
    let bad = api
        .call(
            "POST",
            &path,
            Some(json!({"outbound": {"tag": "x"}, "url": "ftp://example.com/"})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("`protocol`") && bad.contains("must start with http:// or https://"),
        "{bad}"
    );
    let bad = api
        .call(
            "POST",
            "/api/v1/core/outbounds/traffic/reset",
            Some(json!({"tag": ""})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("leave it out to reset every outbound"),
        "{bad}"
    );

    // 3x-ui's route fetches the URL of the `xrayOutboundTestUrl` setting.
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"xrayOutboundTestUrl": url})),
    )
    .await;
    let mut xui = XuiClient::new(&ctl.panel_url(), "");
    xui.login("admin", &ctl.admin_password).await.obj();
    let answer = xui
        .post_form(
            &format!("/panel/api/xray/testOutbound?server_id={id}"),
            &[
                ("outbound", r#"{"protocol":"freedom","tag":"direct"}"#),
                (
                    "allOutbounds",
                    r#"[{"protocol":"blackhole","tag":"blocked"}]"#,
                ),
            ],
        )
        .await
        .obj();
    assert_eq!(answer["success"], json!(true), "{answer}");
    assert_eq!(answer["statusCode"], json!(200), "{answer}");
    let bad = xui
        .post_form("/panel/xray/testOutbound", &[("outbound", "{not json")])
        .await
        .failure();
    assert!(bad.contains("JSON"), "{bad}");

    assert_eq!(
        core_pid(&agent),
        Some(pid),
        "the running core was not restarted"
    );
    let core_dir = agent.data_dir.join("core");
    let left: Vec<_> = std::fs::read_dir(&core_dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".outbound-test-")
        })
        .collect();
    assert!(left.is_empty(), "temporary directories left: {left:?}");

    // The host fetched what callers named: each test is in the audit log, native and 3x-ui.
    let audit = api.ok("GET", "/api/v1/audit?limit=200", None).await;
    let tests: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("outbound.test"))
        .collect();
    let by = |actor: &str| {
        tests
            .iter()
            .filter(|e| e["actor"] == json!(actor) && e["target"] == json!(format!("server:{id}")))
            .count()
    };
    assert_eq!(
        (by("admin (token local-cli)"), by("admin")),
        (4, 1),
        "native tests (three run, one refused) and the 3x-ui one: {tests:?}"
    );
}

/// An `xray` that answers `version` as Xray does and runs the real v2ray for `run`: Xray's
/// `run -c FILE` and `run -test -c FILE` in v2ray 4's words, on a copy of the config with
/// Xray's name for the API inbound's protocol (`tunnel`) put back to v2ray's.
fn xray_over_v2ray(version: &str) -> Vec<u8> {
    format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         version) echo 'Xray {version} (Xray, Penetrates Everything.) 3f1e0c2 (go1.24.1 linux/amd64)'; exit 0 ;;\n\
         run) shift\n\
           if [ \"$1\" = -test ]; then f=\"$3\"; else f=\"$2\"; fi\n\
           sed 's/\"tunnel\"/\"dokodemo-door\"/g' \"$f\" > \"$f.v2ray.json\" || exit 1\n\
           if [ \"$1\" = -test ]; then exec v2ray -test -config \"$f.v2ray.json\"; fi\n\
           exec v2ray -config \"$f.v2ray.json\" ;;\n\
         esac\n\
         echo \"unexpected arguments: $*\" >&2; exit 1\n"
    )
    .into_bytes()
}

/// A release zip shaped like Xray's, holding `xray`.
fn release_zip(xray: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("README.md", options.unix_permissions(0o644))
        .unwrap();
    zip.write_all(b"# Project X\n").unwrap();
    zip.start_file("xray", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(xray).unwrap();
    zip.finish().unwrap().into_inner()
}

fn reported_version(binary: &std::path::Path) -> String {
    let out = std::process::Command::new(binary)
        .arg("version")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The VPN host reaches nothing but its controller (its own release URL is a closed port):
/// `core.install` takes the release zip the controller holds (uploaded with
/// `xfleet core upload`) over the channel, and the new core runs; a zip that does not match
/// the digest the controller announces is refused with both digests named, and the old core
/// keeps running; `geo.update` lands the geo file the controller fetched on the agent.
#[tokio::test(flavor = "multi_thread")]
async fn core_and_geo_files_come_from_the_controller() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let files = FileServer::start().await;
    let closed = free_port();
    let ctl = Controller::start(ControllerOptions {
        extra_env: vec![
            (
                "XFLEET_CORE_URL_TEMPLATE".into(),
                format!("http://127.0.0.1:{closed}/v{{version}}/Xray-linux-{{arch}}.zip"),
            ),
            (
                "XFLEET_GEO_URLS".into(),
                format!(
                    "geosite.dat=http://127.0.0.1:{}/4096,geoip_RU.dat=http://127.0.0.1:{closed}/geoip.dat",
                    files.port
                ),
            ),
        ],
        ..Default::default()
    })
    .await;
    let (id, token) = ctl.add_server("vpn-x").await;
    let mut agent = Agent::enroll(&token);
    let binary = agent.config_dir.join("bin/xray");
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    std::fs::write(&binary, xray_over_v2ray("1.0.0")).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // `enroll` writes an empty `[core]` table; the agent is to run the stand-in, and its
    // own release source is a closed port.
    let toml = agent.config_dir.join("agent.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let core = format!("[core]\nbinary = \"{}\"\n", binary.display());
    let mut text = text.replacen("[core]\n", &core, 1);
    text.push_str(&format!(
        "\n[maintenance]\n\
         core_url_template = \"http://127.0.0.1:{closed}/{{version}}/Xray-linux-{{arch}}.zip\"\n"
    ));
    std::fs::write(&toml, text).unwrap();
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    wait_for("the core to run", LONG, || async { core_pid(&agent) }).await;

    // A release the controller cannot fetch is refused, naming where it looked.
    let unreachable = ctl
        .finished_task(id, "core.install", json!({"version": "9.9.7"}))
        .await;
    assert_eq!(unreachable["status"], json!("failed"), "{unreachable}");
    let message = unreachable["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{closed}")) && message.contains("upload"),
        "{unreachable}"
    );

    let dir = xfleet_tests::TempDir::new("release");
    let zip_path = dir.path().join("Xray-linux-64.zip");
    std::fs::write(&zip_path, release_zip(&xray_over_v2ray("9.9.9"))).unwrap();
    let zip = zip_path.to_str().unwrap();
    let (ok, said) = ctl.cli(&["core", "upload", zip]);
    assert!(!ok && said.contains("--version"), "{said}");
    let (ok, said) = ctl.cli(&[
        "core",
        "upload",
        zip,
        "--version",
        "9.9.9",
        "--arch",
        std::env::consts::ARCH,
    ]);
    assert!(ok, "{said}");
    let held = ctl.api().ok("GET", "/api/v1/core/releases", None).await;
    assert_eq!(held[0]["version"], json!("9.9.9"), "{held}");

    let installed = ctl
        .finished_task(id, "core.install", json!({"version": "9.9.9"}))
        .await;
    assert_eq!(installed["status"], json!("completed"), "{installed}");
    assert_eq!(
        installed["response"]["version"],
        json!("9.9.9"),
        "{installed}"
    );
    assert_eq!(
        installed["response"]["previous_version"],
        json!("1.0.0"),
        "{installed}"
    );
    assert!(reported_version(&binary).contains("Xray 9.9.9"));
    let running = wait_for("the new core to run", LONG, || async { core_pid(&agent) }).await;
    let version = ctl
        .api()
        .agent_call(id, "core.version", json!({}))
        .await
        .unwrap();
    assert_eq!(
        version["version"],
        json!("9.9.9"),
        "the agent runs and reports 9.9.9"
    );

    // The controller's copy of 9.9.8 is swapped for other bytes after it was stored: the
    // agent finds the digest wrong and keeps 9.9.9 running.
    std::fs::write(&zip_path, release_zip(&xray_over_v2ray("9.9.8"))).unwrap();
    let (ok, said) = ctl.cli(&["core", "upload", zip, "--version", "9.9.8"]);
    assert!(ok, "{said}");
    let shelf = ctl.dir.path().join("dist/cores");
    let stored = shelf.join(format!("xray-9.9.8-linux-{}.zip", std::env::consts::ARCH));
    std::fs::write(&stored, release_zip(&xray_over_v2ray("6.6.6"))).unwrap();
    let refused = ctl
        .finished_task(id, "core.install", json!({"version": "9.9.8"}))
        .await;
    assert_eq!(refused["status"], json!("failed"), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("checksum mismatch"), "{refused}");
    assert!(reported_version(&binary).contains("Xray 9.9.9"));
    assert_eq!(core_pid(&agent), Some(running), "the old core still runs");

    let geo = ctl
        .finished_task(id, "geo.update", json!({"files": ["geosite.dat"]}))
        .await;
    assert_eq!(geo["status"], json!("completed"), "{geo}");
    assert_eq!(geo["response"]["changed"], json!(["geosite.dat"]), "{geo}");
    let on_disk = std::fs::read(agent.data_dir.join("core/assets/geosite.dat")).unwrap();
    assert!(
        on_disk == pattern(4096),
        "the controller's file is on the agent"
    );
    let again = ctl
        .finished_task(id, "geo.update", json!({"files": ["geosite.dat"]}))
        .await;
    assert_eq!(
        again["response"]["unchanged"],
        json!(["geosite.dat"]),
        "{again}"
    );

    // A file the controller cannot fetch fails the task, naming it and its URL; the ones it
    // has still go.
    let files = json!({"files": ["geoip_RU.dat", "geosite.dat"]});
    let partial = ctl.finished_task(id, "geo.update", files).await;
    assert_eq!(partial["status"], json!("failed"), "{partial}");
    let message = partial["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot fetch geoip_RU.dat")
            && message.contains(&format!("127.0.0.1:{closed}")),
        "{partial}"
    );

    // The operator removes the tampered release; it is no longer listed.
    let arch = std::env::consts::ARCH;
    let path = format!("/api/v1/core/releases?version=9.9.8&arch={arch}");
    ctl.api().ok("DELETE", &path, None).await;
    let gone = ctl.api().call("DELETE", &path, None).await.unwrap_err();
    assert!(gone.to_string().contains("not found"), "{gone}");
    let held = ctl.api().ok("GET", "/api/v1/core/releases", None).await;
    let versions: Vec<&str> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["9.9.9"], "{held}");
}

/// An agent that speaks only protocol 1 keeps working as before: `core.install` reaches it as
/// the old request (no stream, no digest; it downloads the release itself), although the
/// controller holds that release.
#[tokio::test(flavor = "multi_thread")]
async fn a_protocol_1_agent_gets_core_install_as_before() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use xfleet_common::protocol::{decode, encode, Frame, Hello, Outcome, Response};
    use xfleet_tests::raw;

    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, token) = ctl.add_server("old-agent").await;
    let agent = Agent::enroll(&token);
    let dir = xfleet_tests::TempDir::new("release");
    let zip_path = dir.path().join("Xray-v9.9.9-linux-64.zip");
    std::fs::write(&zip_path, release_zip(&xray_over_v2ray("9.9.9"))).unwrap();
    let (ok, said) = ctl.cli(&["core", "upload", zip_path.to_str().unwrap()]);
    assert!(ok, "{said}");

    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
    let hello = Hello {
        agent_version: "0.0.9".into(),
        protocol_versions: vec![1],
        server_id: id,
        arch: std::env::consts::ARCH.into(),
        core_flavour: Some("xray".into()),
        core_version: Some("1.0.0".into()),
        ..Default::default()
    };
    let Frame::Welcome(welcome) = raw::send_hello(&mut ws, hello).await else {
        panic!("no welcome")
    };
    assert_eq!(welcome.protocol_version, 1);

    let api = ctl.api();
    let task = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/tasks"),
            Some(json!({"operation": "core.install", "request": {"version": "9.9.9"}})),
        )
        .await;
    let request = tokio::time::timeout(LONG, async {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Binary(bytes) = message else {
                continue;
            };
            match decode(&bytes).unwrap() {
                Frame::Request(r) if r.method == "core.install" => return r,
                Frame::Chunk { .. } | Frame::Credit { .. } => {
                    panic!("a stream frame on protocol 1")
                }
                _ => {}
            }
        }
        panic!("the connection closed before core.install came")
    })
    .await
    .expect("core.install reaches the agent");
    assert_eq!(request.stream_len, None);
    let body: Value = rmp_serde::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"version": "9.9.9"}), "the old body, no digest");

    let answer = json!({"version": "9.9.9", "path": "/usr/local/bin/xray"});
    let response = Frame::Response(Response {
        id: request.id,
        outcome: Outcome::Ok(rmp_serde::to_vec_named(&answer).unwrap()),
    });
    ws.send(Message::Binary(encode(&response).into()))
        .await
        .unwrap();
    let task_id = task["id"].as_str().unwrap().to_owned();
    let done = wait_for("the task to complete", LONG, || async {
        let t = api
            .ok("GET", &format!("/api/v1/tasks/{task_id}"), None)
            .await;
        (t["status"] == json!("completed")).then_some(t)
    })
    .await;
    assert_eq!(done["response"]["version"], json!("9.9.9"), "{done}");
}
