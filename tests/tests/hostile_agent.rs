//! What the gateway and the controller owe the fleet when a peer misbehaves: idle sockets in
//! front of the gateway, and a VPN host whose agent certificate is in hostile hands (it can
//! claim any traffic, any addresses, any amount, any text, and never read its answers).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::Message;
use xfleet_common::channel::Channel;
use xfleet_common::protocol::{
    decode, encode, to_body, Frame, GoAway, Hello, Outcome, Request, SUPPORTED_VERSIONS,
};
use xfleet_common::traffic::{ClientIps, Delta, TrafficBatch};
use xfleet_tests::{raw, wait_for, Agent, Api, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);

/// Enrolls an agent for a new server without starting it: its certificate is ours to use.
async fn enrolled(ctl: &Controller, name: &str) -> (i64, Agent) {
    let (id, token) = ctl.add_server(name).await;
    (id, Agent::enroll(&token))
}

/// A raw connection with `agent`'s certificate, past Hello, as a channel.
async fn hostile_channel(ctl: &Controller, id: i64, agent: &Agent) -> Channel {
    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
    let Frame::Welcome(_) = raw::hello(&mut ws, id).await else {
        panic!("no welcome")
    };
    raw::channel(ws, id)
}

/// A VMess inbound on `server`; returns (id, tag).
async fn inbound(api: &Api, server: i64) -> (Value, String) {
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{server}/inbounds"),
            Some(
                json!({"port": xfleet_tests::free_port(), "protocol": "vmess", "settings": {},
                "streamSettings": {"network": "tcp"}}),
            ),
        )
        .await;
    (
        inbound["id"].clone(),
        inbound["tag"].as_str().unwrap().to_owned(),
    )
}

async fn client(api: &Api, email: &str, inbound: &Value, extra: Value) {
    let mut body = json!({"email": email, "inboundIds": [inbound]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    api.ok("POST", "/api/v1/clients", Some(body)).await;
}

fn delta(name: &str, up: u64, down: u64) -> Delta {
    Delta {
        name: name.into(),
        up,
        down,
    }
}

async fn send_batch(channel: &Channel, batch: &TrafficBatch) {
    channel
        .send_event("traffic", Some(batch.seq), to_body(batch).unwrap())
        .await
        .unwrap();
}

/// The recorded (up, down) of `name` in a server's traffic, in `kind` (clients, inbounds,
/// outbounds).
async fn recorded(api: &Api, server: i64, kind: &str, name: &str) -> Option<(u64, u64)> {
    let t = api
        .ok("GET", &format!("/api/v1/servers/{server}/traffic"), None)
        .await;
    t[kind].as_array().unwrap().iter().find_map(|c| {
        (c["name"] == json!(name)).then(|| (c["up"].as_u64().unwrap(), c["down"].as_u64().unwrap()))
    })
}

/// Opens `count` TCP connections from `source` that never send a byte.
async fn idle_sockets(gateway: u16, source: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut sockets = Vec::new();
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(format!("{source}:0").parse::<SocketAddr>().unwrap())
            .unwrap();
        // A refused connection (closed at once by the gateway) is part of the flood too.
        if let Ok(s) = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], gateway)))
            .await
        {
            sockets.push(s);
        }
    }
    sockets
}

/// 400 idle sockets that never send a ClientHello (200 from eight addresses, 200 from one)
/// do not lock agents out: a restarted agent reconnects and a fresh one enrolls and
/// connects, both well within the gateway's 10 s handshake timeout, and an agent already
/// connected keeps its connection. Prints the times measured under the flood.
#[tokio::test(flavor = "multi_thread")]
async fn idle_sockets_do_not_lock_agents_out() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (a, mut agent_a) = enrolled(&ctl, "restarted").await;
    let (b, mut agent_b) = enrolled(&ctl, "connected").await;
    agent_a.start();
    agent_b.start();
    ctl.wait_status(a, "online", LONG).await;
    ctl.wait_status(b, "online", LONG).await;
    let b_since = ctl.server(b).await["live"]["connected_at"].clone();
    let a_since = ctl.server(a).await["live"]["connected_at"].clone();
    let (c, token_c) = ctl.add_server("fresh").await;

    let mut flood = Vec::new();
    for n in 2..=9 {
        flood.extend(idle_sockets(ctl.gateway_port, &format!("127.0.0.{n}"), 25).await);
    }
    flood.extend(idle_sockets(ctl.gateway_port, "127.0.0.10", 200).await);

    let started = Instant::now();
    agent_a.kill9();
    agent_a.start();
    wait_for("the restarted agent to reconnect", LONG, || async {
        let live = &ctl.server(a).await["live"]["connected_at"];
        (!live.is_null() && *live != a_since).then_some(())
    })
    .await;
    let reconnect = started.elapsed();

    let started = Instant::now();
    let mut agent_c = Agent::enroll(&token_c);
    agent_c.start();
    ctl.wait_status(c, "online", LONG).await;
    let fresh = started.elapsed();

    eprintln!(
        "FIGURE gateway under 400 idle sockets: restarted agent reconnected in {} ms; \
         fresh agent enrolled and connected in {} ms",
        reconnect.as_millis(),
        fresh.as_millis()
    );
    let bound = Duration::from_secs(10);
    assert!(reconnect < bound, "restarted agent took {reconnect:?}");
    assert!(fresh < bound, "fresh agent took {fresh:?}");
    let connected = ctl.server(b).await;
    assert_eq!(connected["status"], json!("online"), "{connected}");
    assert_eq!(connected["live"]["connected_at"], b_since, "{connected}");
    drop(flood);
}

/// One server's certificate speaks only for that server: traffic reported for a client and
/// an inbound of another server is dropped (the client keeps its usage and stays enabled
/// after the limits job ran), fake source addresses never reach IP-limit slots, and the
/// server's own client is counted exactly.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_certificate_speaks_only_for_its_own_server() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (elsewhere, _) = enrolled(&ctl, "elsewhere").await;
    let (hostile, agent) = enrolled(&ctl, "hostile").await;
    let (victim_inbound, victim_tag) = inbound(&api, elsewhere).await;
    let (own_inbound, own_tag) = inbound(&api, hostile).await;
    client(
        &api,
        "victim",
        &victim_inbound,
        json!({"totalGB": 1u64 << 30, "limitIp": 1}),
    )
    .await;
    // A small quota: the limits job disabling it shows the job has run over this batch.
    client(
        &api,
        "own",
        &own_inbound,
        json!({"totalGB": 1u64 << 20, "limitIp": 2}),
    )
    .await;

    let channel = hostile_channel(&ctl, hostile, &agent).await;
    let batch = TrafficBatch {
        epoch: "e".into(),
        seq: 1,
        at_ms: xfleet_common::time::now_ms(),
        users: vec![delta("victim", 0, 6 << 30), delta("own", 1000, 2 << 20)],
        inbounds: vec![
            delta(&victim_tag, 0, 6 << 30),
            delta(&own_tag, 1000, 2 << 20),
        ],
        outbounds: vec![delta("direct", 1000, 2 << 20)],
        online: vec!["victim".into(), "own".into()],
        ips: vec![
            ClientIps {
                email: "victim".into(),
                ips: vec!["<script>x</script>".into(), "10.9.9.9".into()],
            },
            ClientIps {
                email: "own".into(),
                ips: vec![
                    "<script>x</script>".into(),
                    "not an address".into(),
                    "10.0.0.1".into(),
                ],
            },
        ],
    };
    send_batch(&channel, &batch).await;

    wait_for("the limits job to disable the own client", LONG, || async {
        let own = api.ok("GET", "/api/v1/clients/own", None).await;
        (own["enable"] == json!(false)).then_some(own)
    })
    .await;
    let own = api.ok("GET", "/api/v1/clients/own", None).await;
    assert_eq!(
        (own["up"].clone(), own["down"].clone()),
        (json!(1000), json!(2 << 20))
    );
    let victim = api.ok("GET", "/api/v1/clients/victim", None).await;
    assert_eq!(victim["used"], json!(0), "{victim}");
    assert_eq!(victim["enable"], json!(true), "{victim}");
    assert_eq!(recorded(&api, hostile, "inbounds", &victim_tag).await, None);
    assert_eq!(
        recorded(&api, elsewhere, "inbounds", &victim_tag).await,
        None
    );
    assert_eq!(
        recorded(&api, hostile, "inbounds", &own_tag).await,
        Some((1000, 2 << 20))
    );

    let ips = |email: &'static str| {
        let api = &api;
        async move {
            api.ok("GET", &format!("/api/v1/clients/{email}/ips"), None)
                .await
        }
    };
    let victim_ips = ips("victim").await;
    assert!(!victim_ips.to_string().contains("10.9.9.9"), "{victim_ips}");
    let own_ips = ips("own").await.to_string();
    assert!(own_ips.contains("10.0.0.1"), "{own_ips}");
    assert!(
        !own_ips.contains("script") && !own_ips.contains("not an address"),
        "{own_ips}"
    );
}

/// Deltas of 2^64-1 bytes, twice, for a client, an inbound and an outbound, over a real
/// agent connection: each is cut to what a 100 Gbit/s link carries, the sums stay integers,
/// and the traffic, client, history, list and dashboard answers keep working with those
/// values, on SQLite and PostgreSQL. (The ceiling of 2^53-1 that long sums stop at is proved
/// on both backends by the store's `counters_saturate_instead_of_overflowing`.)
#[tokio::test(flavor = "multi_thread")]
async fn extreme_counters_saturate_and_pages_still_answer() {
    for (label, database_url) in xfleet_tests::backends().await {
        let ctl = Controller::start(ControllerOptions {
            database_url,
            ..Default::default()
        })
        .await;
        let api = ctl.api();
        let (server, agent) = enrolled(&ctl, "heavy").await;
        let (inbound_id, tag) = inbound(&api, server).await;
        client(&api, "heavy", &inbound_id, json!({})).await;
        let channel = hostile_channel(&ctl, server, &agent).await;
        let now = xfleet_common::time::now_ms();
        for seq in 1..=2 {
            let batch = TrafficBatch {
                epoch: "e".into(),
                seq,
                at_ms: now + seq as i64,
                users: vec![delta("heavy", u64::MAX, u64::MAX)],
                inbounds: vec![delta(&tag, u64::MAX, u64::MAX)],
                outbounds: vec![delta("direct", u64::MAX, u64::MAX)],
                online: vec!["heavy".into()],
                ..Default::default()
            };
            send_batch(&channel, &batch).await;
        }
        // Before the fix the second batch overflowed: wait until its sequence is recorded.
        wait_for("both batches to be applied", LONG, || async {
            let t = api
                .ok("GET", &format!("/api/v1/servers/{server}/traffic"), None)
                .await;
            (t["last_seq"] == json!(2)).then_some(())
        })
        .await;
        // Each batch is capped at what 100 Gbit/s carries in the time since the previous
        // one plus an hour (none before the first, 1 ms before the second): 45 TB each.
        let capped = 45_000_000_000_000 + 45_000_012_500_000;
        let both = Some((capped, capped));
        assert_eq!(
            recorded(&api, server, "clients", "heavy").await,
            both,
            "{label}"
        );
        assert_eq!(
            recorded(&api, server, "inbounds", &tag).await,
            both,
            "{label}"
        );
        assert_eq!(
            recorded(&api, server, "outbounds", "direct").await,
            both,
            "{label}"
        );

        let heavy = api.ok("GET", "/api/v1/clients/heavy", None).await;
        assert_eq!(heavy["used"], json!(2 * capped), "{label}: {heavy}");
        assert_eq!(heavy["allTime"], json!(2 * capped), "{label}: {heavy}");
        let list = api.ok("GET", "/api/v1/clients", None).await;
        assert!(list.to_string().contains("heavy"), "{label}");
        api.ok("GET", &format!("/api/v1/servers/{server}/history"), None)
            .await;
        api.ok("GET", &format!("/api/v1/servers/{server}"), None)
            .await;
        let history = api.ok("GET", "/api/v1/clients/heavy/history", None).await;
        assert!(
            history.to_string().contains(&capped.to_string()),
            "{label}: {history}"
        );
        ctl.dashboard().await;
        channel.close("test done");
    }
}

/// A server cannot stockpile certificates: renewals past six certificates an hour are
/// refused with a clear, retryable error, and the ones before succeed; the refusal is among
/// the fleet's alerts.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_renewals_are_rate_limited() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, agent) = enrolled(&ctl, "renewer").await;
    let channel = hostile_channel(&ctl, id, &agent).await;
    let mut issued = 0;
    let mut refusal = None;
    for _ in 0..20 {
        let body = to_body(&xfleet_common::methods::CertRenewRequest {
            csr_pem: raw::csr(false),
        })
        .unwrap();
        match channel.call("cert.renew", body, LONG, None).await {
            Ok(_) => issued += 1,
            Err(e) => refusal = Some(e),
        }
    }
    // The enrollment's certificate counts: five renewals make six this hour.
    assert_eq!(issued, 5);
    let refusal = refusal.expect("renewals past the limit are refused");
    assert_eq!(refusal.code(), "rate_limited", "{refusal}");
    assert!(refusal.is_transient(), "{refusal}");
    assert!(
        refusal.message().contains("at most 6 are signed per hour"),
        "{refusal}"
    );
    // The operator sees the refusal among the fleet's alerts, in the controller's words.
    let alerts = ctl.api().ok("GET", "/api/v1/alerts", None).await;
    let certificate = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "certificate" && a["server_id"] == json!(id))
        .unwrap_or_else(|| panic!("no certificate alert: {alerts:#}"));
    assert!(
        certificate["reason"]
            .as_str()
            .unwrap()
            .contains("at most 6 are signed per hour"),
        "{certificate}"
    );
}

/// An agent's enforcement reports reach the audit log bounded: a report of 5,000 cuts with
/// 300-character texts (3 MB) becomes one entry of 200 shortened cuts that says how many were left out,
/// and a burst of reports writes at most the per-minute allowance.
#[tokio::test(flavor = "multi_thread")]
async fn enforcement_reports_are_bounded_in_the_audit_log() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (id, agent) = enrolled(&ctl, "reporter").await;
    let channel = hostile_channel(&ctl, id, &agent).await;
    let long = "x".repeat(300);
    let cuts: Vec<Value> = (0..5000)
        .map(|i| json!({"email": format!("{i}{long}"), "reason": long, "at_ms": i}))
        .collect();
    let big = to_body(&cuts).unwrap();
    channel.send_event("enforcement", None, big).await.unwrap();
    for i in 0..100 {
        let small =
            to_body(&json!([{"email": format!("c{i}"), "reason": "quota", "at_ms": 1}])).unwrap();
        channel
            .send_event("enforcement", None, small)
            .await
            .unwrap();
    }
    // An answer to a later call means every report before it was read.
    channel
        .call("echo", to_body(&1).unwrap(), LONG, None)
        .await
        .unwrap();
    let entries = wait_for("the reports in the audit log", LONG, || async {
        let log = api.ok("GET", "/api/v1/audit?limit=1000", None).await;
        let cuts: Vec<Value> = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == json!("client.cut"))
            .cloned()
            .collect();
        (cuts.len() >= 30).then_some(cuts)
    })
    .await;
    assert!(entries.len() <= 60, "{} reports audited", entries.len());
    let largest = entries
        .iter()
        .map(|e| e["details"].as_str().unwrap().len())
        .max()
        .unwrap();
    eprintln!(
        "FIGURE largest enforcement audit entry: {largest} bytes (report sent: 5,000 cuts, 3 MB)"
    );
    assert!(largest < 100_000, "{largest} bytes");
    let first: Value = entries
        .iter()
        .map(|e| serde_json::from_str::<Value>(e["details"].as_str().unwrap()).unwrap())
        .find(|d| d["left_out"] != json!(0))
        .expect("the large report is audited");
    assert_eq!(first["cuts"].as_array().unwrap().len(), 200);
    assert_eq!(first["left_out"], json!(4800));
    assert_eq!(
        first["cuts"][0]["email"].as_str().unwrap().chars().count(),
        128
    );
}

/// Text an agent sends (its version in Hello, the reason of its GoAway) is logged escaped: a
/// newline in it cannot start a forged log line.
#[tokio::test(flavor = "multi_thread")]
async fn agent_text_cannot_forge_log_lines() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, agent) = enrolled(&ctl, "liar").await;
    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
    let answer = raw::send_hello(
        &mut ws,
        Hello {
            agent_version: "1.0\nFORGED INFO admin logged in".into(),
            protocol_versions: SUPPORTED_VERSIONS.to_vec(),
            server_id: id,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(answer, Frame::Welcome(_)), "{answer:?}");
    let go_away = Frame::GoAway(GoAway {
        retry_after_ms: 1000,
        reason: "bye\nFORGED WARN certificate revoked".into(),
    });
    ws.send(Message::Binary(encode(&go_away).into()))
        .await
        .unwrap();
    wait_for("the controller to log the goodbye", LONG, || async {
        ctl.output
            .contains("FORGED WARN certificate revoked")
            .then_some(())
    })
    .await;
    let text = ctl.output.text();
    let forged: Vec<&str> = text.lines().filter(|l| l.starts_with("FORGED")).collect();
    assert!(forged.is_empty(), "forged lines: {forged:?}");
    assert!(text.contains(r"1.0\nFORGED INFO admin logged in"), "{text}");
}

/// Resident memory of a process in kB: (current, peak).
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A peer that sends 100 echo requests of 1 MiB and reads none of the answers does not make
/// the controller hold them: its peak memory grows by far less than the 100 MiB asked for,
/// and once the peer reads again the connection still answers. Prints the growth.
#[tokio::test(flavor = "multi_thread")]
async fn unread_answers_are_bounded_per_connection() {
    let ctl = Controller::start(ControllerOptions {
        heartbeat_secs: 30,
        offline_grace_secs: 60,
        ..Default::default()
    })
    .await;
    let (id, agent) = enrolled(&ctl, "hoarder").await;
    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
    let Frame::Welcome(_) = raw::hello(&mut ws, id).await else {
        panic!("no welcome")
    };
    let pid = xfleet_tests::read_json(&ctl.dir.path().join("run.json")).unwrap()["pid"]
        .as_u64()
        .unwrap() as u32;
    let (before, _) = memory_kb(pid);
    let request = |id: u64, body: Vec<u8>| {
        Message::Binary(
            encode(&Frame::Request(Request {
                id,
                method: "echo".into(),
                deadline_ms: 60_000,
                idempotency_key: None,
                body,
                stream_len: None,
            }))
            .into(),
        )
    };
    let mib = to_body(&"x".repeat(1 << 20)).unwrap();
    for n in 0..100u64 {
        ws.send(request(2 + 2 * n, mib.clone())).await.unwrap();
    }
    // Read again: small echoes, one after another, until one is answered, which shows the
    // controller has dealt with every request before it. (A refused request's `busy` answer
    // is dropped while the answers fill the connection's budget, hence more than one.)
    let deadline = Instant::now() + LONG;
    let mut marker = 1001u64;
    loop {
        assert!(
            Instant::now() < deadline,
            "the connection never answered again"
        );
        marker += 2;
        ws.send(request(marker, to_body(&"ping").unwrap()))
            .await
            .unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Binary(b) = message {
                    if let Ok(Frame::Response(r)) = decode(&b) {
                        if r.id == marker {
                            return matches!(r.outcome, Outcome::Ok(_));
                        }
                    }
                }
            }
            false
        })
        .await;
        if answered == Ok(true) {
            break;
        }
    }
    let (_, peak) = memory_kb(pid);
    let grew_mib = peak.saturating_sub(before) / 1024;
    eprintln!("FIGURE controller peak memory growth with 100 unread 1 MiB echoes: {grew_mib} MiB");
    assert!(grew_mib < 50, "peak memory grew by {grew_mib} MiB");
}

/// What a host says about itself is kept bounded: a Hello carrying a 1 MiB host name and
/// version and 10,000 "public addresses" leaves a server row with a host name of at most
/// 253 characters, a version of at most 64 and 16 addresses; an enrollment attempt with a
/// 30 kB host name and version (the gateway takes 64 KiB bodies) is audited bounded.
#[tokio::test(flavor = "multi_thread")]
async fn what_a_host_says_about_itself_is_kept_bounded() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (id, agent) = enrolled(&ctl, "boastful").await;
    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
    let huge = "h".repeat(1 << 20);
    let answer = raw::send_hello(
        &mut ws,
        Hello {
            agent_version: huge.clone(),
            hostname: huge.clone(),
            os: huge.clone(),
            public_addresses: (0..10_000)
                .map(|i| format!("203.0.113.{}", i % 250))
                .collect(),
            protocol_versions: SUPPORTED_VERSIONS.to_vec(),
            server_id: id,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(answer, Frame::Welcome(_)), "{answer:?}");
    let server = wait_for("the Hello on the server row", LONG, || async {
        let s = api.ok("GET", &format!("/api/v1/servers/{id}"), None).await;
        s["hostname"]
            .as_str()
            .is_some_and(|h| h.starts_with('h'))
            .then_some(s)
    })
    .await;
    assert_eq!(server["hostname"].as_str().unwrap().chars().count(), 253);
    assert_eq!(server["version"].as_str().unwrap().chars().count(), 64);
    assert!(
        server["os_info"].to_string().len() < 300,
        "{}",
        server["os_info"]
    );
    assert_eq!(server["reported_addresses"].as_array().unwrap().len(), 16);

    let (status, _) = raw::post_enroll(
        ctl.gateway_port,
        &ctl.ca_pem(),
        &json!({"token": "xft1_not-a-token", "csr_pem": "", "hostname": "e".repeat(30_000),
                "agent_version": "v".repeat(30_000)}),
    )
    .await;
    assert_eq!(status, 401);
    let log = api.ok("GET", "/api/v1/audit?limit=50", None).await;
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "server.enroll")
        .cloned()
        .expect("the refused enrollment is audited");
    let text = entry.to_string();
    assert!(
        text.len() < 1_000,
        "audited {} bytes: {}",
        text.len(),
        &text[..200]
    );
}
