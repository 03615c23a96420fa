//! The spine, end to end: real `xfleet` and `xfleet-agent` processes, real TLS, SQLite and
//! (when `XFLEET_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::Message;
use xfleet_common::protocol::Frame;
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{raw, wait_for, Agent, Controller, ControllerOptions};

const ONLINE: Duration = Duration::from_secs(30);

async fn enrolled_online(ctl: &Controller, name: &str) -> (i64, Agent) {
    let (id, token) = ctl.add_server(name).await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", ONLINE).await;
    (id, agent)
}

/// 1. server + token → enroll → connect → online → calls both ways, on both backends.
#[tokio::test(flavor = "multi_thread")]
async fn enroll_connect_and_call_both_ways() {
    for (label, database_url) in xfleet_tests::backends().await {
        let ctl = Controller::start(ControllerOptions {
            database_url,
            ..Default::default()
        })
        .await;
        let (id, agent) = enrolled_online(&ctl, "ams-1").await;
        let api = ctl.api();

        // The key never left the host and is private to its owner.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(agent.config_dir.join("agent.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{label}");

        // The agent holds a connection but listens on nothing; the controller listens for the
        // panel, the agent gateway and subscriptions.
        assert_eq!(
            xfleet_tests::listening_sockets(agent.pid().unwrap()),
            0,
            "{label}"
        );
        let ctl_pid = xfleet_tests::read_json(&ctl.dir.path().join("run.json")).unwrap()["pid"]
            .as_u64()
            .unwrap() as u32;
        assert_eq!(xfleet_tests::listening_sockets(ctl_pid), 3, "{label}");

        // controller → agent
        let info = api.agent_call(id, "agent.info", json!({})).await.unwrap();
        assert_eq!(info["version"], json!(xfleet_common::VERSION), "{label}");
        assert_eq!(info["pid"], json!(agent.pid().unwrap()), "{label}");
        let echo = api
            .agent_call(id, "echo", json!({"hello": [1, 2, 3]}))
            .await
            .unwrap();
        assert_eq!(echo, json!({"hello": [1, 2, 3]}));
        let stats = api.agent_call(id, "system.stats", json!({})).await.unwrap();
        assert!(stats["mem"]["total"].as_u64().unwrap() > 0, "{stats}");
        let err = api
            .agent_call(id, "no.such.method", json!({}))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported"), "{err}");
        // The channel survives an unknown method.
        assert!(api.agent_call(id, "echo", json!(1)).await.is_ok());

        let server = ctl.server(id).await;
        assert_eq!(server["version"], json!(xfleet_common::VERSION));
        assert!(server["hostname"].as_str().is_some_and(|h| !h.is_empty()));

        // agent → controller: a second connection with the same identity replaces the first,
        // and asks the controller to sign a new certificate over the channel.
        let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
        let mut ws = raw::connect(ctl.gateway_port, tls).await.unwrap();
        let Frame::Welcome(welcome) = raw::hello(&mut ws, id).await else {
            panic!("no welcome")
        };
        assert_eq!(welcome.heartbeat_interval_ms, 1000);
        let channel = raw::channel(ws, id);
        let body = rmp_serde::to_vec_named(&xfleet_common::methods::CertRenewRequest {
            csr_pem: raw::csr(false),
        })
        .unwrap();
        let answer = channel
            .call("cert.renew", body, Duration::from_secs(10), None)
            .await
            .unwrap();
        let issued: xfleet_common::methods::IssuedCertificate =
            rmp_serde::from_slice(&answer).unwrap();
        assert_eq!(issued.server_id, id);
        assert!(issued.cert_pem.contains("BEGIN CERTIFICATE"));
        channel.close("test done");
        // The real agent comes back.
        ctl.wait_status(id, "online", ONLINE).await;
        wait_for("the agent to reconnect", ONLINE, || async {
            api.agent_call(id, "echo", json!(2)).await.ok()
        })
        .await;
    }
}

/// 2. Replayed, expired, removed-server and foreign tokens, and bad CSRs.
#[tokio::test(flavor = "multi_thread")]
async fn enrollment_refusals_are_clear() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, token) = ctl.add_server("n1").await;
    let first = Agent::enroll(&token);

    // Replayed token.
    let again = first
        .enroll_command(&token)
        .arg("--force")
        .output()
        .unwrap();
    let text = xfleet_tests::output_text(&again);
    assert!(!again.status.success());
    assert!(text.contains("already been used"), "{text}");

    // Expired token.
    let t = ctl
        .api()
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/enrollment-tokens"),
            Some(json!({"ttl_secs": 1})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = first
        .enroll_command(t["token"].as_str().unwrap())
        .arg("--force")
        .output()
        .unwrap();
    let text = xfleet_tests::output_text(&out);
    assert!(!out.status.success() && text.contains("expired"), "{text}");

    // Token of a server removed since.
    let (gone, token) = ctl.add_server("gone").await;
    ctl.api()
        .ok("DELETE", &format!("/api/v1/servers/{gone}"), None)
        .await;
    let out = first
        .enroll_command(&token)
        .arg("--force")
        .output()
        .unwrap();
    let text = xfleet_tests::output_text(&out);
    assert!(!out.status.success() && text.contains("removed"), "{text}");

    // A token of another controller: the pin does not match this gateway's CA.
    let other = Controller::start(ControllerOptions::default()).await;
    let (_, foreign) = other.add_server("x").await;
    let mut forged = xfleet_common::enrollment::EnrollmentToken::parse(&foreign).unwrap();
    forged.url = format!("https://127.0.0.1:{}", ctl.gateway_port);
    let out = first
        .enroll_command(&forged.encode())
        .arg("--force")
        .output()
        .unwrap();
    let text = xfleet_tests::output_text(&out).to_lowercase();
    assert!(!out.status.success() && text.contains("pin"), "{text}");

    // Garbage token and garbage CSR straight at the endpoint; the token survives the bad CSR.
    let good = ctl.token(id).await;
    let (status, body) = raw::post_enroll(
        ctl.gateway_port,
        &ctl.ca_pem(),
        &json!({"token": good, "csr_pem": "not a csr", "hostname": "h", "agent_version": "t"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_csr")),
        "{body}"
    );
    let (status, body) = raw::post_enroll(
        ctl.gateway_port,
        &ctl.ca_pem(),
        &json!({"token": "xft1_garbage", "csr_pem": raw::csr(false), "hostname": "h", "agent_version": "t"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_invalid")),
        "{body}"
    );

    // A CSR asking to be a CA still yields a leaf client certificate.
    let (status, body) = raw::post_enroll(
        ctl.gateway_port,
        &ctl.ca_pem(),
        &json!({"token": good, "csr_pem": raw::csr(true), "hostname": "h", "agent_version": "t"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let pem = body["cert_pem"].as_str().unwrap();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(!cert.is_ca());
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .client_auth
    );

    // Every attempt is in the audit log.
    let audit = ctl.api().ok("GET", "/api/v1/audit?limit=100", None).await;
    let enrolls = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("server.enroll"))
        .count();
    assert!(enrolls >= 6, "{audit}");
}

/// 3. No certificate, another CA's certificate, a revoked one: no channel. Revoking a
/// connected server cuts it at once and its reconnects fail.
#[tokio::test(flavor = "multi_thread")]
async fn only_our_live_certificates_get_a_channel() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, mut agent) = enrolled_online(&ctl, "n1").await;

    let refused = raw::connect(ctl.gateway_port, raw::tls(&ctl.ca_pem(), None))
        .await
        .unwrap_err();
    assert!(refused.contains("http 401"), "{refused}");

    let (_, cert, key) = raw::foreign_identity();
    let refused = raw::connect(
        ctl.gateway_port,
        raw::tls(&ctl.ca_pem(), Some((&cert, &key))),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(
        !refused.starts_with("http"),
        "refused in the TLS handshake: {refused}"
    );

    let cert = agent.cert_pem();
    let key = agent.key_pem();
    ctl.api()
        .ok("POST", &format!("/api/v1/servers/{id}/revoke"), None)
        .await;
    // Cut at once: no grace period for a deliberate revocation.
    let server = ctl.server(id).await;
    assert_eq!(server["connected"], json!(false));
    assert_eq!(server["status"], json!("offline"));

    let refused = raw::connect(
        ctl.gateway_port,
        raw::tls(&ctl.ca_pem(), Some((&cert, &key))),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(
        refused.contains("http 403") && refused.contains("revoked"),
        "{refused}"
    );
    // The agent keeps trying and keeps being refused.
    wait_for("the agent to report the refusal", ONLINE, || async {
        agent.output.contains("revoked").then_some(())
    })
    .await;
    assert!(!ctl.server(id).await["connected"].as_bool().unwrap());
    agent.kill9();
}

/// 4. kill -9 the controller → the agent comes back; agent gone → offline after the grace;
/// tasks queued while offline arrive in order, exactly once even across an agent crash.
#[tokio::test(flavor = "multi_thread")]
async fn restarts_and_the_durable_task_queue() {
    let mut ctl = Controller::start(ControllerOptions::default()).await;
    let (id, mut agent) = enrolled_online(&ctl, "n1").await;

    ctl.restart().await;
    wait_for("the agent to reconnect after kill -9", ONLINE, || async {
        ctl.api().agent_call(id, "echo", json!("back")).await.ok()
    })
    .await;

    agent.kill9();
    let offline = ctl
        .wait_status(id, "offline", Duration::from_secs(20))
        .await;
    assert!(offline["last_error"]
        .as_str()
        .unwrap()
        .contains("disconnected"));

    // Queue while offline.
    let api = ctl.api();
    let mut ids = Vec::new();
    for n in 0..5 {
        let t = api
            .ok(
                "POST",
                &format!("/api/v1/servers/{id}/tasks"),
                Some(json!({"operation": "echo", "request": {"n": n}})),
            )
            .await;
        assert_eq!(t["status"], json!("pending"));
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    agent.start();
    let done: Vec<Value> = wait_for("queued tasks to complete", ONLINE, || async {
        let mut all = Vec::new();
        for t in &ids {
            let task = api.ok("GET", &format!("/api/v1/tasks/{t}"), None).await;
            if task["status"] != json!("completed") {
                return None;
            }
            all.push(task);
        }
        Some(all)
    })
    .await;
    for (n, task) in done.iter().enumerate() {
        assert_eq!(task["response"], json!({"n": n}));
        assert_eq!(task["attempts"], json!(1));
    }
    let started: Vec<i64> = done
        .iter()
        .map(|t| t["started_at"].as_i64().unwrap())
        .collect();
    assert!(
        started.windows(2).all(|w| w[0] <= w[1]),
        "delivered in creation order: {started:?}"
    );

    // The agent dies after running a task but before its answer is recorded.
    agent.kill9();
    agent.env = vec![("XFLEET_AGENT_FAILPOINT".into(), "exit-after-task".into())];
    agent.start();
    let crashed_pid = agent.pid().unwrap();
    ctl.wait_status(id, "online", ONLINE).await;
    let task = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/tasks"),
            Some(json!({"operation": "agent.info"})),
        )
        .await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(
        agent.wait_exit(ONLINE).await,
        Some(99),
        "the failpoint fired"
    );
    agent.env.clear();
    agent.start();
    let task = wait_for("the redelivered task to complete", ONLINE, || async {
        let t = api
            .ok("GET", &format!("/api/v1/tasks/{task_id}"), None)
            .await;
        (t["status"] == json!("completed")).then_some(t)
    })
    .await;
    // Answered from the result cache: the process that ran it is the one that crashed.
    assert_eq!(task["response"]["pid"], json!(crashed_pid), "{task}");
    assert_eq!(task["attempts"], json!(2));
}

/// 5. 100 concurrent calls on one channel while one handler is slow: none waits for it.
#[tokio::test(flavor = "multi_thread")]
async fn no_head_of_line_blocking() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, _agent) = enrolled_online(&ctl, "n1").await;
    let api = std::sync::Arc::new(ctl.api());
    let slow = {
        let api = api.clone();
        tokio::spawn(async move { api.agent_call(id, "sleep", json!({"ms": 4000})).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = (0..100).map(|n| {
        let api = api.clone();
        async move { api.agent_call(id, "echo", json!({"n": n})).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    assert!(
        !slow.is_finished(),
        "all 100 answered while the slow call still runs"
    );
    for (n, a) in answers.into_iter().enumerate() {
        assert_eq!(a.unwrap(), json!({"n": n}));
    }
    assert_eq!(slow.await.unwrap().unwrap(), json!(4000));
}

/// 6. Garbage, oversized frames and unknown frame kinds close that connection, with a reason
/// in the log; other agents are unaffected.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_frames_close_only_their_connection() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (good, _agent) = enrolled_online(&ctl, "good").await;
    let (bad, token) = ctl.add_server("bad").await;
    let bad_agent = Agent::enroll(&token);
    let tls = raw::tls(
        &bad_agent.ca_pem(),
        Some((&bad_agent.cert_pem(), &bad_agent.key_pem())),
    );

    #[derive(serde::Serialize)]
    enum Unknown {
        #[serde(rename = "teleport")]
        Teleport { id: u64 },
    }
    let unknown = rmp_serde::to_vec_named(&Unknown::Teleport { id: 1 }).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", vec![0xc1, 0xff, 0x00, 0x13], "malformed frame"),
        ("unknown kind", unknown, "malformed frame"),
        ("oversized", vec![0u8; 5 << 20], "transport error"),
    ];
    for (what, bytes, reason) in cases {
        let mut ws = raw::connect(ctl.gateway_port, tls.clone()).await.unwrap();
        assert!(matches!(raw::hello(&mut ws, bad).await, Frame::Welcome(_)));
        let _ = ws.send(Message::Binary(bytes.into())).await;
        assert!(
            raw::closed_by_peer(&mut ws, Duration::from_secs(10)).await,
            "{what}: connection closed"
        );
        wait_for(
            &format!("{what}: logged reason"),
            Duration::from_secs(10),
            || async { ctl.output.contains(reason).then_some(()) },
        )
        .await;
        // The good agent never noticed.
        assert_eq!(
            ctl.api()
                .agent_call(good, "echo", json!(what))
                .await
                .unwrap(),
            json!(what)
        );
    }
    assert_eq!(ctl.server(good).await["connected"], json!(true));
}

/// 7. Short certificate lifetime → the agent renews before expiry, stays connected, and
/// reconnects with the new certificate after the old one has expired.
#[tokio::test(flavor = "multi_thread")]
async fn certificates_renew_before_expiry() {
    let mut ctl = Controller::start(ControllerOptions {
        cert_lifetime_secs: Some(20),
        ..Default::default()
    })
    .await;
    let (id, agent) = enrolled_online(&ctl, "n1").await;
    let first = agent.cert_pem();
    let connected_at = ctl.server(id).await["live"]["connected_at"].clone();
    wait_for(
        "the agent to renew its certificate",
        Duration::from_secs(25),
        || async { (agent.cert_pem() != first).then_some(()) },
    )
    .await;
    assert_eq!(
        ctl.server(id).await["live"]["connected_at"],
        connected_at,
        "renewal does not drop the connection"
    );
    // Past the first certificate's expiry, a fresh connection must use the new one.
    tokio::time::sleep(Duration::from_secs(8)).await;
    ctl.restart().await;
    wait_for(
        "the agent to reconnect with its renewed certificate",
        ONLINE,
        || async { ctl.api().agent_call(id, "echo", json!(7)).await.ok() },
    )
    .await;
}

/// The operator CLI acts through the running controller.
#[tokio::test(flavor = "multi_thread")]
async fn operator_cli() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let xfleet = |args: &[&str]| ctl.cli(args);
    let (ok, text) = xfleet(&["healthcheck"]);
    assert!(ok && text.contains("ok"), "{text}");
    let (ok, text) = xfleet(&["server", "add", "ams-1", "--region", "eu", "--tags", "a,b"]);
    assert!(ok && text.contains("ams-1"), "{text}");
    let (ok, text) = xfleet(&["server", "add", "ams-1"]);
    assert!(!ok && text.contains("already exists"), "{text}");
    let (ok, text) = xfleet(&["token", "create", "--server", "ams-1", "--ttl", "600"]);
    assert!(ok, "{text}");
    let command = text
        .lines()
        .find(|l| l.starts_with("xfleet-agent enroll --token "))
        .expect("the one-line agent command");
    let token = command.rsplit(' ').next().unwrap();
    let mut agent = Agent::enroll(token);
    agent.start();
    let id = ctl.api().ok("GET", "/api/v1/servers/ams-1", None).await["id"]
        .as_i64()
        .unwrap();
    ctl.wait_status(id, "online", ONLINE).await;
    let (ok, text) = xfleet(&["server", "list"]);
    assert!(
        ok && text.contains("ams-1") && text.contains("online"),
        "{text}"
    );

    // The agent's own view.
    let status = std::process::Command::new(xfleet_tests::bin("xfleet-agent"))
        .args(["status", "--config-dir"])
        .arg(&agent.config_dir)
        .output()
        .unwrap();
    let text = xfleet_tests::output_text(&status);
    assert!(text.to_lowercase().contains("connected"), "{text}");
    let health = std::process::Command::new(xfleet_tests::bin("xfleet-agent"))
        .args(["healthcheck", "--config-dir"])
        .arg(&agent.config_dir)
        .status()
        .unwrap();
    assert!(health.success());

    let (ok, text) = xfleet(&["server", "revoke", "ams-1"]);
    assert!(ok && text.contains("closed"), "{text}");
    let (ok, text) = xfleet(&["server", "remove", "ams-1"]);
    assert!(ok, "{text}");
    let (ok, text) = xfleet(&["server", "remove", "ams-1"]);
    assert!(!ok && text.contains("not found"), "{text}");
    wait_for("the agent healthcheck to fail", ONLINE, || async {
        let health = std::process::Command::new(xfleet_tests::bin("xfleet-agent"))
            .args(["healthcheck", "--config-dir"])
            .arg(&agent.config_dir)
            .status()
            .unwrap();
        (!health.success()).then_some(())
    })
    .await;
    agent.kill9();
}

/// Sessions, API tokens with scopes, error envelopes and the audit trail of the native API.
#[tokio::test(flavor = "multi_thread")]
async fn native_api_auth_and_errors() {
    use xfleet_controller::cli::request;
    let ctl = Controller::start(ControllerOptions::default()).await;
    let base = ctl.panel_url();

    let (status, body) = request(&base, "GET", "/api/v1/servers", &[], None)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert!(body["trace_id"].as_str().is_some());

    let login = |password: String| {
        let base = base.clone();
        async move {
            request(
                &base,
                "POST",
                "/api/v1/auth/login",
                &[],
                Some(json!({"username": "admin", "password": password})),
            )
            .await
            .unwrap()
        }
    };
    let (status, _) = login("wrong".into()).await;
    assert_eq!(status, 403);

    // A session cookie from a successful login.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ctl.panel_port))
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("/api/v1/auth/login")
        .header("host", "x")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(
            json!({"username": "admin", "password": ctl.admin_password}).to_string(),
        )))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("xfleet_session="));
    let (status, body) = request(
        &base,
        "GET",
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // Tokens: the secret is shown once; read-only tokens cannot change anything.
    let (status, body) = request(
        &base,
        "POST",
        "/api/v1/api-tokens",
        &[("cookie", &cookie)],
        Some(json!({"name": "grafana", "scope": "read-only"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let read_only = format!("Bearer {}", body["data"]["token"].as_str().unwrap());
    let (status, _) = request(
        &base,
        "GET",
        "/api/v1/servers",
        &[("authorization", &read_only)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, body) = request(
        &base,
        "POST",
        "/api/v1/servers",
        &[("authorization", &read_only)],
        Some(json!({"name": "x"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let listed = ctl.api().ok("GET", "/api/v1/api-tokens", None).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none()),
        "{listed}"
    );

    // Bad input: clear 4xx, nothing stored.
    let api = ctl.api();
    for (body, needle) in [
        (json!({"name": ""}), "name: must be"),
        (json!({"name": "a b"}), "name: ` ` is not allowed"),
        (json!({"name": 7}), "invalid type"),
    ] {
        let err = api
            .call("POST", "/api/v1/servers", Some(body))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("invalid_request"),
            "{err}"
        );
    }
    let (status, body) = request(
        &base,
        "POST",
        "/api/v1/servers",
        &[
            ("authorization", &format!("Bearer {}", api.0.token)),
            ("content-type", "application/json"),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let huge = json!({"name": "x".repeat(2 << 20)});
    let err = api
        .call("POST", "/api/v1/servers", Some(huge))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid_request"), "{err}");
    assert!(api
        .ok("GET", "/api/v1/servers", None)
        .await
        .as_array()
        .unwrap()
        .is_empty());
    let err = api
        .call("GET", "/api/v1/servers/nope", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not_found"), "{err}");
    let err = api
        .agent_call(999, "echo", json!(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not_found"), "{err}");

    // Generators for inbound and client forms, without any core.
    let pair = api.ok("GET", "/api/v1/generate/x25519", None).await;
    let private = pair["privateKey"].as_str().unwrap();
    assert_eq!(
        xfleet_controller::generate::x25519_public(private).as_deref(),
        pair["publicKey"].as_str()
    );
    let ids = api
        .ok("GET", "/api/v1/generate/short-ids?count=3", None)
        .await;
    assert_eq!(ids.as_array().unwrap().len(), 3);
    let err = api
        .call(
            "GET",
            "/api/v1/generate/ss2022-key?method=aes-256-gcm",
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a Shadowsocks 2022 method"), "{err}");
    let (status, _) = request(
        &base,
        "GET",
        "/api/v1/generate/uuid",
        &[("authorization", &read_only)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "read-only tokens may generate");

    let (status, _) = request(
        &base,
        "POST",
        "/api/v1/auth/logout",
        &[("cookie", &cookie)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, _) = request(
        &base,
        "GET",
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "the session is gone after logout");

    let audit = api.ok("GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"auth.login")
            && actions.contains(&"api_token.create")
            && actions.contains(&"server.create"),
        "{actions:?}"
    );
    let failed_login = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == json!("auth.login") && e["result"] != json!("ok"))
        .unwrap();
    assert_eq!(failed_login["source_ip"], json!("127.0.0.1"));
}

/// Past the admission rate, connecting agents get 503 with Retry-After instead of a channel.
#[tokio::test(flavor = "multi_thread")]
async fn admission_limit_answers_503() {
    let ctl = Controller::start(ControllerOptions {
        extra_env: vec![
            ("XFLEET_HANDSHAKE_RATE".into(), "1".into()),
            ("XFLEET_HANDSHAKE_BURST".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    let (id, token) = ctl.add_server("n1").await;
    let agent = Agent::enroll(&token);
    let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut refused = None;
    for _ in 0..5 {
        match raw::connect(ctl.gateway_port, tls.clone()).await {
            Ok(mut ws) => {
                raw::hello(&mut ws, id).await;
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a burst of connections is refused");
    assert!(
        refused.contains("http 503 (retry-after ") && refused.contains("retry later"),
        "{refused}"
    );
}

/// A controller that carries agent binaries in `dir` (`XFLEET_AGENT_BINARIES_DIR`), and one
/// server whose agent, this build, tries an update for at most 20 s before it rolls back.
async fn update_fleet(dir: &std::path::Path) -> (Controller, i64, Agent) {
    let ctl = Controller::start(ControllerOptions {
        extra_env: vec![(
            "XFLEET_AGENT_BINARIES_DIR".into(),
            dir.display().to_string(),
        )],
        ..Default::default()
    })
    .await;
    let (id, token) = ctl.add_server("upd-1").await;
    let mut agent = Agent::enroll(&token);
    agent.configure("[update]\ntrial_ms = 20000\n");
    agent.start();
    ctl.wait_status(id, "online", ONLINE).await;
    (ctl, id, agent)
}

/// Waits until the rollout's row for `server` is no longer pending or in flight; returns
/// the rollout as the API shows it and that row.
async fn settled_row(ctl: &Controller, rollout: i64, server: i64) -> (Value, Value) {
    wait_for(
        "the rollout's row to settle",
        Duration::from_secs(120),
        || async {
            let r = ctl
                .api()
                .ok("GET", &format!("/api/v1/agent/rollouts/{rollout}"), None)
                .await;
            let row = r["servers"]
                .as_array()?
                .iter()
                .find(|s| s["server_id"] == json!(server))?
                .clone();
            let open = ["pending", "sending", "waiting"];
            (!open.contains(&row["state"].as_str()?)).then_some((r, row))
        },
    )
    .await
}

/// Self-update across a real channel: the controller streams a second build of the agent
/// (same code, another version string), the agent checks and swaps to it in the same
/// process, and comes back as the new version: Hello, `agent.info`, the server view and the
/// committed binary's `--version` all say so, the rollout row says `updated`, and a restart
/// of the agent keeps the new version.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_updates_itself_over_its_channel() {
    let binaries = xfleet_tests::TempDir::new("agents");
    xfleet_tests::update::agent_as(binaries.path(), "0.1.0-b");
    let (ctl, id, mut agent) = update_fleet(binaries.path()).await;
    let api = ctl.api();
    let pid = agent.pid().unwrap();

    let rollout = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/agent-update"),
            Some(json!({"version": "0.1.0-b"})),
        )
        .await;
    let (rollout, row) = settled_row(&ctl, rollout["id"].as_i64().unwrap(), id).await;
    assert_eq!(
        row["state"],
        "updated",
        "{rollout:#}\n{}",
        agent.output.text()
    );
    assert_eq!(row["from_version"], xfleet_tests::update::built_version());
    let done = wait_for("the rollout to finish", ONLINE, || async {
        let r = api
            .ok(
                "GET",
                &format!("/api/v1/agent/rollouts/{}", rollout["id"]),
                None,
            )
            .await;
        (r["state"] == "done").then_some(r)
    })
    .await;
    assert!(done["finished_at"].is_i64(), "{done:#}");

    assert_eq!(ctl.server(id).await["version"], "0.1.0-b");
    let info = api.agent_call(id, "agent.info", json!(null)).await.unwrap();
    assert_eq!(info["version"], "0.1.0-b");
    assert_eq!(
        info["pid"],
        json!(pid),
        "the same process, so systemd keeps tracking it"
    );
    let committed = agent.data_dir.join("bin/xfleet-agent");
    assert_eq!(
        xfleet_tests::update::version_of(&committed),
        "xfleet-agent 0.1.0-b"
    );
    assert!(!agent.data_dir.join("update.json").exists());
    let (ok, listed) = ctl.cli(&["agent", "rollouts"]);
    assert!(
        ok && listed.contains("0.1.0-b") && listed.contains("done"),
        "{listed}"
    );

    // A restart runs the installed binary, which hands over to the committed update.
    agent.terminate(Duration::from_secs(10)).await;
    ctl.wait_status(id, "offline", ONLINE).await;
    agent.start();
    ctl.wait_status(id, "online", ONLINE).await;
    wait_for("the restarted agent to report 0.1.0-b", ONLINE, || async {
        let info = api.agent_call(id, "agent.info", json!(null)).await.ok()?;
        (info["version"] == "0.1.0-b").then_some(())
    })
    .await;
}

/// A new agent that exits at start (a signed script exiting 1) is rolled back by the old
/// one's guard: the old agent runs again, the server is online as before, and the rollout is
/// paused with the reason on the server's row.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_that_cannot_start_is_rolled_back() {
    let binaries = xfleet_tests::TempDir::new("agents");
    xfleet_tests::update::failing_agent(binaries.path(), "0.1.0-c");
    let (ctl, id, agent) = update_fleet(binaries.path()).await;
    let api = ctl.api();

    let rollout = api
        .ok(
            "POST",
            "/api/v1/agent/rollouts",
            Some(json!({"version": "0.1.0-c", "servers": ["upd-1"]})),
        )
        .await;
    let rollout_id = rollout["id"].as_i64().unwrap();
    let (rollout, row) = settled_row(&ctl, rollout_id, id).await;
    assert_eq!(
        row["state"],
        "rolled_back",
        "{rollout:#}\n{}",
        agent.output.text()
    );
    let message = row["message"].as_str().unwrap();
    assert!(
        message.contains("0.1.0-c") && message.contains("exited before it connected"),
        "{message}"
    );
    let paused = wait_for("the rollout to pause", ONLINE, || async {
        let r = api
            .ok("GET", &format!("/api/v1/agent/rollouts/{rollout_id}"), None)
            .await;
        (r["state"] == "paused").then_some(r)
    })
    .await;
    assert!(
        paused["message"].as_str().unwrap().contains("upd-1"),
        "{paused:#}"
    );

    ctl.wait_status(id, "online", ONLINE).await;
    let info = wait_for("the old agent to answer", ONLINE, || async {
        api.agent_call(id, "agent.info", json!(null)).await.ok()
    })
    .await;
    assert_eq!(info["version"], xfleet_tests::update::built_version());
    assert!(!agent.data_dir.join("bin/xfleet-agent").exists());
    assert!(!agent.data_dir.join("bin/xfleet-agent.trial").exists());
    let server = ctl.server(id).await;
    assert_eq!(server["agent_update"]["state"], "rolled_back", "{server:#}");
    let audit = api.ok("GET", "/api/v1/audit", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "agent.update" && e["result"] == "rolled_back"),
        "{audit:#}"
    );
}

/// The first controller's URL of agents, as the others' agents learn them.
fn gateway_of(ctl: &Controller) -> String {
    format!("https://127.0.0.1:{}", ctl.gateway_port)
}

/// Which controller holds a server's agent, as any controller of the fleet says.
async fn holder(ctl: &Controller, server: i64) -> Option<String> {
    let s = ctl.server(server).await;
    (s["status"] == json!("online") && s["connected"] == json!(true))
        .then(|| s["controller"].as_str().map(str::to_owned))
        .flatten()
}

/// Several controllers on one PostgreSQL are one fleet (DESIGN §14): each joins with nothing
/// but the database URL, the CLI of the first keeps working when the others start, a client
/// added on one controller reaches an agent held by another and its core carries the
/// client's traffic, calls and tasks for an agent are routed to its holder and run once, and
/// when the controller holding an agent and running the periodic jobs is killed with
/// `kill -9`, the agent is back on another controller, no task is lost or run twice, and the
/// jobs go on under a new leader. A second controller on one SQLite file is refused.
#[tokio::test(flavor = "multi_thread")]
async fn three_controllers_share_one_fleet() {
    use xfleet_tests::proxy::{pattern, FileServer};
    let Some(db) = xfleet_tests::postgres_database().await else {
        return;
    };
    let options = || ControllerOptions {
        database_url: Some(db.clone()),
        ..ControllerOptions::default()
    };
    let mut a = Controller::start(options()).await;
    a.route_loopback_direct().await;
    let b = Controller::join(&a, options()).await;
    let c = Controller::join(&a, options()).await;

    // The first controller's CLI credential survives the others' starts.
    let controllers = a.api().ok("GET", "/api/v1/controllers", None).await;
    assert_eq!(controllers.as_array().unwrap().len(), 3, "{controllers}");
    assert_eq!(
        controllers
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["leader"] == json!(true))
            .count(),
        1,
        "exactly one runs the periodic jobs: {controllers}"
    );
    assert_eq!(
        controllers[0]["leader"],
        json!(true),
        "the first to start leads"
    );
    let (ok, out) = a.cli(&["server", "add", "from-a"]);
    assert!(ok, "the first controller's CLI still works: {out}");
    // One CA for the fleet, read from the database by each.
    assert_eq!(a.ca_pem(), b.ca_pem());
    assert_eq!(a.ca_pem(), c.ca_pem());

    // An agent enrolled through A, with a token naming the others too; one through B.
    let (s1, token) = a.add_server("held-by-a").await;
    let mut agent1 = Agent::enroll(&token);
    agent1.start();
    let (s2, token) = b.add_server("held-by-b").await;
    let mut agent2 = Agent::enroll(&token);
    agent2.start();
    let a_id = controllers[0]["id"].as_str().unwrap().to_owned();
    wait_for("agent 1 held by A", ONLINE, || async {
        (holder(&c, s1).await? == a_id).then_some(())
    })
    .await;
    let b_id = wait_for("agent 2 held by B", ONLINE, || async {
        let h = holder(&a, s2).await?;
        (h != a_id).then_some(h)
    })
    .await;
    let b_listed = controllers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["gatewayUrl"] == json!(gateway_of(&b)));
    assert_eq!(
        b_listed.unwrap()["id"],
        json!(b_id),
        "agent 2 is on B: {controllers}"
    );
    let learned = std::fs::read_to_string(agent1.data_dir.join("controllers.json")).unwrap();
    for ctl in [&a, &b, &c] {
        assert!(
            learned.contains(&gateway_of(ctl)),
            "agent 1 knows {}: {learned}",
            gateway_of(ctl)
        );
    }

    // A controller started later is announced to the connected agents.
    let d = Controller::join(&a, options()).await;
    wait_for(
        "agent 1 to learn of the fourth controller",
        ONLINE,
        || async {
            let learned = std::fs::read_to_string(agent1.data_dir.join("controllers.json")).ok()?;
            learned.contains(&gateway_of(&d)).then_some(())
        },
    )
    .await;

    // C's panel shows what A knows live of its agent: heartbeats, the core's state.
    let live = wait_for("agent 1's live facts on C", ONLINE, || async {
        let s = c.server(s1).await;
        s["live"]["heartbeat"].is_object().then_some(s)
    })
    .await;
    assert_eq!(live["controller"], json!(a_id), "{live}");
    assert!(live["live"]["connected_at"].as_i64().unwrap() > 0, "{live}");
    // So does C's 3x-ui API: the CPU history A keeps from the agent's heartbeats.
    let mut x = XuiClient::new(&c.panel_url(), "");
    x.login("admin", &a.admin_password).await.obj();
    let cpu = x
        .get(&format!("/panel/api/server/history/cpu/2?server_id={s1}"))
        .await
        .obj();
    assert!(cpu.as_array().is_some_and(|p| !p.is_empty()), "{cpu}");

    // A client added on C reaches the agent held by A, whose core carries its traffic.
    let files = FileServer::start().await;
    let (_, v2) = c.vless_ws_user(s1, "alice@fleet").await;
    let fetched = wait_for("alice's traffic through agent 1's core", ONLINE, || async {
        v2.fetch(files.port, 4096).await.ok()
    })
    .await;
    assert_eq!(fetched, pattern(4096));

    // A call made on C for the agent held by A answers as if local.
    let echoed = c
        .api()
        .agent_call(s1, "echo", json!({"via": "c"}))
        .await
        .unwrap();
    assert_eq!(echoed, json!({"via": "c"}));
    // A fan-out from C reaches agents held by A and by B, one request to each.
    let fanned = c
        .api()
        .ok(
            "POST",
            "/api/v1/fleet/call",
            Some(json!({"method": "echo", "body": {"x": 1}, "servers": [s1, s2]})),
        )
        .await;
    assert_eq!(fanned["succeeded"], json!(2), "{fanned}");
    assert_eq!(fanned["results"][0]["data"], json!({"x": 1}), "{fanned}");
    // A task queued on A for the agent held by B runs once.
    let task = a
        .api()
        .ok(
            "POST",
            &format!("/api/v1/servers/{s2}/tasks"),
            Some(json!({"operation": "echo", "request": {"n": 1}})),
        )
        .await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    let done = wait_for("the task for B's agent to complete", ONLINE, || async {
        let t = c
            .api()
            .ok("GET", &format!("/api/v1/tasks/{task_id}"), None)
            .await;
        (t["status"] == json!("completed")).then_some(t)
    })
    .await;
    assert_eq!(done["response"], json!({"n": 1}));
    assert_eq!(done["attempts"], json!(1), "{done}");

    // Routed calls are taken from the fleet's controllers only: an agent's own certificate
    // (of the same CA) cannot use another agent's channel through the gateway.
    let read = |f: &str| std::fs::read_to_string(agent2.config_dir.join(f)).unwrap();
    let (status, body) = xfleet_tests::raw::post_hop_call(
        a.gateway_port,
        &a.ca_pem(),
        (&read("agent.pem"), &read("agent.key")),
        s1,
        "echo",
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Failed logins add up over the controllers: two on A, two on B and one on C block the
    // name on all three, even with the right password.
    for (ctl, n) in [(&a, 2), (&b, 2), (&c, 1)] {
        for _ in 0..n {
            let mut x = XuiClient::new(&ctl.panel_url(), "");
            x.login("admin", "wrong-password").await.failure();
        }
    }
    for ctl in [&a, &b, &c] {
        let mut x = XuiClient::new(&ctl.panel_url(), "");
        let refused = x.login("admin", &a.admin_password).await.failure();
        assert!(
            refused.contains("temporarily blocked"),
            "blocked everywhere: {refused}"
        );
    }

    // Changes queued for agent 1 just before its controller (also the leader) dies.
    let mut queued = Vec::new();
    for n in 0..5 {
        let t = b
            .api()
            .ok(
                "POST",
                &format!("/api/v1/servers/{s1}/tasks"),
                Some(json!({"operation": "echo", "request": {"n": n}})),
            )
            .await;
        queued.push(t["id"].as_str().unwrap().to_owned());
    }
    // A client that expires in a few seconds: only a running leader disables it.
    let soon = xfleet_common::time::now_ms() + 4000;
    let inbound = b.vless_ws_inbound(s2, "").await;
    b.api()
        .ok("POST", "/api/v1/clients", Some(json!({"email": "expires@fleet", "inboundIds": [inbound["id"]], "expiryTime": soon})))
        .await;
    a.kill9();

    let new_holder = wait_for("agent 1 back on another controller", ONLINE, || async {
        let h = holder(&b, s1).await?;
        (h != a_id).then_some(h)
    })
    .await;
    assert_ne!(new_holder, a_id);
    let after = wait_for("a new leader", ONLINE, || async {
        let list = b.api().ok("GET", "/api/v1/controllers", None).await;
        let list = list.as_array().unwrap().clone();
        (list.len() == 3 && list.iter().any(|c| c["leader"] == json!(true))).then_some(list)
    })
    .await;
    assert!(
        after.iter().all(|c| c["id"] != json!(a_id)),
        "A's lease ran out: {after:?}"
    );
    for id in &queued {
        let t = wait_for(
            "the queued task to complete after the failover",
            ONLINE,
            || async {
                let t = c
                    .api()
                    .ok("GET", &format!("/api/v1/tasks/{id}"), None)
                    .await;
                (t["status"] == json!("completed")).then_some(t)
            },
        )
        .await;
        let n = queued.iter().position(|q| q == id).unwrap();
        assert_eq!(t["response"], json!({"n": n}), "{t}");
        assert!(
            t["attempts"].as_i64().unwrap() <= 2,
            "delivered at most once more after the kill: {t}"
        );
    }
    // The periodic jobs go on under the new leader: the client is disabled at expiry.
    wait_for(
        "the expired client to be disabled by the new leader",
        ONLINE,
        || async {
            let client = c
                .api()
                .ok("GET", "/api/v1/clients/expires@fleet", None)
                .await;
            (client["enable"] == json!(false)).then_some(())
        },
    )
    .await;
    // Alice still gets through agent 1, now held elsewhere, and a change made on B reaches it.
    let fetched = wait_for("alice's traffic after the failover", ONLINE, || async {
        v2.fetch(files.port, 2048).await.ok()
    })
    .await;
    assert_eq!(fetched, pattern(2048));
    let (_, bob) = b.vless_ws_user(s1, "bob@fleet").await;
    let fetched = wait_for(
        "bob's traffic through agent 1 after the failover",
        ONLINE,
        || async { bob.fetch(files.port, 1024).await.ok() },
    )
    .await;
    assert_eq!(fetched, pattern(1024));
    drop((agent2, b, c, d));
    agent1.kill9();
}

/// SQLite serves one controller: a second `xfleet run` on the same database file is refused
/// with a message naming the running one, and the first keeps running.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_controller_on_one_sqlite_file_is_refused() {
    let a = Controller::start(ControllerOptions::default()).await;
    let db = a.dir.path().join("xfleet.db");
    let other = xfleet_tests::TempDir::new("second");
    let out = std::process::Command::new(xfleet_tests::bin("xfleet"))
        .args([
            "run",
            "--no-local-server",
            "--panel-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(other.path())
        .arg("--database-url")
        .arg(format!("sqlite://{}?mode=rwc", db.display()))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("another xfleet controller is running on this SQLite database"),
        "{text}"
    );
    assert!(
        text.contains("PostgreSQL"),
        "says where several controllers can run: {text}"
    );
    a.api().ok("GET", "/api/v1/servers", None).await;
}
