//! Logs and metrics, against a real controller, agent and v2ray core: the controller's own
//! lines and a server's access log with 3x-ui's filters, natively and in 3x-ui's shapes; and
//! the Prometheus listener's scrapes as the fleet changes.

use std::time::Duration;

use serde_json::Value;
use xfleet_tests::proxy::{v2ray_available, FileServer};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{wait_for, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);

/// A connection made through the core shows in the server's access log, natively
/// (`GET /api/v1/servers/{id}/access-log`: time, source, destination, outbound `direct`, the
/// client's email, kind `direct`) and as 3x-ui's `xraylogs` (`LogEntry` fields, `Event` 0
/// for direct, the default server when none is named); hiding direct connections hides it, a
/// text filter finds it and one matching nothing finds nothing; a count out of bounds is
/// refused. The controller's own log has the line it wrote when the agent connected, natively
/// (level and text) and as 3x-ui's `logs` (strings in its `date time LEVEL - message` form),
/// and a level filter keeps only what it asks for.
#[tokio::test(flavor = "multi_thread")]
async fn logs_through_both_apis() {
    if !v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (id, _agent) = ctl.online_server("edge-1").await;
    let api = ctl.api();
    let (_, vpn) = ctl.vless_ws_user(id, "dora@example.com").await;
    wait_for("a download through dora's link", LONG, || async {
        vpn.fetch(files.port, 4096).await.ok()
    })
    .await;
    let destination = format!("127.0.0.1:{}", files.port);

    let path = format!("/api/v1/servers/{id}/access-log?count=50");
    let entry = wait_for("dora's connection in the access log", LONG, || async {
        let log = api.ok("GET", &path, None).await;
        log["entries"]
            .as_array()?
            .iter()
            .find(|e| e["email"] == "dora@example.com")
            .cloned()
    })
    .await;
    assert!(
        entry["destination"]
            .as_str()
            .unwrap()
            .ends_with(&destination),
        "{entry}"
    );
    assert_eq!(entry["outbound"], "direct", "{entry}");
    assert_eq!(entry["event"], "direct", "{entry}");
    assert_eq!(entry["status"], "accepted", "{entry}");
    assert!(
        entry["source"].as_str().unwrap().contains("127.0.0.1"),
        "{entry}"
    );
    assert_eq!(
        entry["time"].as_str().unwrap().as_bytes()[4],
        b'/',
        "{entry}"
    );

    let emails = |log: &Value| -> Vec<String> {
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["email"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let no_direct = api.ok("GET", &format!("{path}&direct=false"), None).await;
    assert!(
        !emails(&no_direct).contains(&"dora@example.com".to_owned()),
        "{no_direct}"
    );
    let found = api
        .ok("GET", &format!("{path}&filter=DORA%40example"), None)
        .await;
    let found = emails(&found);
    assert!(
        !found.is_empty() && found.iter().all(|e| e == "dora@example.com"),
        "{found:?}"
    );
    let none = api
        .ok("GET", &format!("{path}&filter=nobody-at-all"), None)
        .await;
    assert_eq!(none["entries"], serde_json::json!([]));

    let mut native = XuiClient::new(&ctl.panel_url(), "");
    native.bearer = Some(api.0.token.clone());
    let r = native
        .get(&format!("/api/v1/servers/{id}/access-log?count=0"))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.json());
    let r = native.get("/api/v1/logs?level=loud").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`loud`"));

    // The controller's own log.
    let lines = api.ok("GET", "/api/v1/logs?count=2000", None).await;
    let connected = lines["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["text"].as_str().unwrap().contains("agent connected"))
        .cloned()
        .unwrap_or_else(|| panic!("no `agent connected` line: {lines}"));
    assert_eq!(connected["level"], "info", "{connected}");
    assert!(connected["at_ms"].as_i64().unwrap() > 0);
    let warnings = api
        .ok("GET", "/api/v1/logs?count=2000&level=warning", None)
        .await;
    assert!(
        warnings["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["level"] == "warn" || l["level"] == "error"),
        "{warnings}"
    );

    // 3x-ui's shapes.
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await;
    let entries = x
        .post_form(
            "/panel/api/server/xraylogs/100",
            &[
                ("filter", "dora"),
                ("showDirect", "true"),
                ("showBlocked", "true"),
                ("showProxy", "true"),
            ],
        )
        .await
        .obj();
    let first = &entries.as_array().expect("an array of entries")[0];
    for field in [
        "DateTime",
        "FromAddress",
        "ToAddress",
        "Inbound",
        "Outbound",
        "Email",
    ] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert_eq!(first["Email"], "dora@example.com", "{first}");
    assert_eq!(first["Event"], 0, "{first}");
    assert!(first["ToAddress"].as_str().unwrap().ends_with(&destination));
    let hidden = x
        .post_form(
            "/panel/api/server/xraylogs/100",
            &[("filter", "dora"), ("showDirect", "false")],
        )
        .await
        .obj();
    assert_eq!(hidden, serde_json::json!([]));
    let msg = x.post("/panel/api/server/xraylogs/many").await.failure();
    assert!(msg.contains("`many`"), "{msg}");

    let lines = x
        .post_form(
            "/panel/api/server/logs/2000",
            &[("level", "info"), ("syslog", "false")],
        )
        .await
        .obj();
    let lines: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().expect("lines are strings"))
        .collect();
    let line = lines
        .iter()
        .find(|l| l.contains("agent connected"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    // `2006/01/02 15:04:05 INFO - message`
    assert_eq!(line.as_bytes()[4], b'/', "{line}");
    assert!(line.contains(" INFO - "), "{line}");
}

/// An agent from before the access log (here: one that knows no method at all) gets a clear
/// answer on both APIs, naming the server and saying to update its agent, instead of a
/// timeout or a generic failure.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_too_old_for_the_access_log_is_named() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, token) = ctl.add_server("old-1").await;
    let agent = xfleet_tests::Agent::enroll(&token);
    let tls = xfleet_tests::raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
    let mut ws = xfleet_tests::raw::connect(ctl.gateway_port, tls)
        .await
        .unwrap();
    let _welcome = xfleet_tests::raw::hello(&mut ws, id).await;
    let _channel = xfleet_tests::raw::channel(ws, id);
    let api = ctl.api();
    wait_for("the old agent to be connected", LONG, || async {
        let s = api.ok("GET", &format!("/api/v1/servers/{id}"), None).await;
        (s["connected"] == true).then_some(())
    })
    .await;

    let err = api
        .call("GET", &format!("/api/v1/servers/{id}/access-log"), None)
        .await
        .expect_err("an old agent cannot serve the access log")
        .to_string();
    assert!(
        err.contains("old-1") && err.contains("too old") && err.contains("update"),
        "{err}"
    );
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await;
    let msg = x
        .post_form("/panel/api/server/xraylogs/10", &[("filter", "")])
        .await
        .failure();
    assert!(msg.contains("too old"), "{msg}");
}

/// One `GET` on the metrics listener, with basic auth when given: the status, the head and
/// the body.
async fn scrape(port: u16, path: &str, auth: Option<(&str, &str)>) -> (u16, String, String) {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the metrics listener");
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some((user, password)) = auth {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {pair}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).expect("a text answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_owned(), body.to_owned())
}

/// The value of the sample written exactly `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `promtool ARGS` with `input` on its standard input: its output when it succeeded; panics
/// when it failed. `None` when promtool is not installed, which under CI is a failure.
fn promtool(args: &[&str], input: &str) -> Option<String> {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must install Debian's `prometheus` package for promtool: {e}"
            );
            eprintln!("promtool is not installed (apt-get install prometheus): check skipped");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {args:?} refused: {said}\n{input}"
    );
    Some(said)
}

/// `promtool check metrics` on a scrape.
fn promtool_accepts(text: &str) {
    promtool(&["check", "metrics"], text);
}

/// The shipped Grafana dashboard asks only for series a scrape has, and the shipped scrape
/// config is one Prometheus takes.
fn contrib_files_match(scrape: &str) {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../contrib/grafana-xfleet.json"))
            .expect("the dashboard is JSON");
    let mut asked = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("xfleet_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                asked.push(name);
            }
        }
    }
    assert!(asked.len() >= 10, "{asked:?}");
    for name in asked {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            scrape.contains(&format!("# TYPE {family} ")),
            "the dashboard asks for {name}, which no scrape has"
        );
    }
    let dir = xfleet_tests::TempDir::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, include_str!("../../contrib/prometheus.yml")).unwrap();
    promtool(&["check", "config", config.to_str().unwrap()], "");
}

/// A real Prometheus (Debian's), killed on drop.
struct Prometheus {
    port: u16,
    child: std::process::Child,
    _dir: xfleet_tests::TempDir,
}

impl Prometheus {
    /// Prometheus on the shipped scrape config, pointed at `target` with the password in
    /// `password_file` and scraping every second; `None` where it is not installed (a
    /// failure under CI).
    fn start(target: &str, password_file: &std::path::Path) -> Option<Self> {
        let dir = xfleet_tests::TempDir::new("prometheus");
        let config = include_str!("../../contrib/prometheus.yml")
            .replace("10.0.0.5:9464", target)
            .replace(
                "/etc/prometheus/xfleet-metrics.password",
                password_file.to_str().unwrap(),
            )
            .replace("30s", "1s");
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = xfleet_tests::free_port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(Self {
                port,
                child,
                _dir: dir,
            }),
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI must install Debian's `prometheus` package: {e}"
                );
                eprintln!(
                    "prometheus is not installed (apt-get install prometheus): real scrape skipped"
                );
                None
            }
        }
    }

    /// The answer to an instant query; empty while Prometheus is not listening yet.
    async fn query(&self, query: &str) -> String {
        if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            return String::new();
        }
        scrape(self.port, &format!("/api/v1/query?query={query}"), None)
            .await
            .2
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The metrics listener (`--metrics-listen`, basic auth from `metrics_user` and
/// `metrics_password_file`) answers a scrape without or with a wrong credential with 401 and
/// `WWW-Authenticate`, any other path with 404, and never logs the password. With the
/// credential, a scrape shows what an operator watches: after an agent enrolls and connects,
/// its server up with a fresh heartbeat age, one agent connected to this controller, the
/// enrollment, RPC counts and latency for the methods the controller called on it, and
/// after real traffic through its core the bytes of its server and of its inbound (by tag),
/// while no client's email appears in any series; a refused login is counted by its reason.
/// After `kill -9` of the agent and the offline deadline the same scrape shows the server
/// down and no agent connected. Every scrape passes `promtool check metrics`; the shipped
/// Grafana dashboard asks only for series the scrape has, and Debian's Prometheus, run on the
/// shipped scrape config, stores the server's series.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_follow_the_fleet() {
    if !v2ray_available() {
        return;
    }
    let secrets = xfleet_tests::TempDir::new("metrics");
    let password = "scrape-Secret-9147";
    let password_file = secrets.path().join("metrics.password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let port = xfleet_tests::free_port();
    let ctl = Controller::start(ControllerOptions {
        extra_args: vec!["--metrics-listen".into(), format!("127.0.0.1:{port}")],
        extra_env: vec![
            ("XFLEET_METRICS_USER".into(), "prometheus".into()),
            (
                "XFLEET_METRICS_PASSWORD_FILE".into(),
                password_file.display().to_string(),
            ),
        ],
        ..ControllerOptions::default()
    })
    .await;
    let auth = Some(("prometheus", password));

    let (status, head, _) = scrape(port, "/metrics", None).await;
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    let (status, _, _) = scrape(port, "/metrics", Some(("prometheus", "wrong"))).await;
    assert_eq!(status, 401);
    let (status, _, _) = scrape(port, "/other", auth).await;
    assert_eq!(status, 404);
    let (status, head, empty) = scrape(port, "/metrics", auth).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert_eq!(
        sample(&empty, "xfleet_agents_connected"),
        Some(0.0),
        "{empty}"
    );
    promtool_accepts(&empty);

    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (id, mut agent) = ctl.online_server("edge-1").await;
    let api = ctl.api();
    api.agent_call(id, "echo", serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let (inbound, vpn) = ctl.vless_ws_user(id, "dora@example.com").await;
    let tag = inbound["tag"]
        .as_str()
        .expect("the inbound's tag")
        .to_owned();
    wait_for("a download through dora's link", LONG, || async {
        vpn.fetch(files.port, 64 * 1024).await.ok()
    })
    .await;
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", "not-the-password").await;

    let server = format!("server=\"edge-1\",server_id=\"{id}\"");
    let up = format!("xfleet_server_up{{{server}}}");
    let age = format!("xfleet_server_heartbeat_age_seconds{{{server}}}");
    let down_bytes = format!("xfleet_server_traffic_bytes_total{{{server},direction=\"down\"}}");
    let inbound_down = format!(
        "xfleet_inbound_traffic_bytes_total{{{server},inbound=\"{tag}\",direction=\"down\"}}"
    );
    let text = wait_for(
        "the download in the server's traffic series",
        LONG,
        || async {
            let (_, _, text) = scrape(port, "/metrics", auth).await;
            (sample(&text, &down_bytes)? >= 64.0 * 1024.0).then_some(text)
        },
    )
    .await;
    assert_eq!(sample(&text, &up), Some(1.0), "{text}");
    let heartbeat_age = sample(&text, &age).unwrap_or_else(|| panic!("{age} missing: {text}"));
    assert!((0.0..30.0).contains(&heartbeat_age), "{text}");
    assert_eq!(
        sample(&text, "xfleet_agents_connected"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, &inbound_down).unwrap_or(0.0) >= 64.0 * 1024.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "xfleet_enrollments_total{outcome=\"ok\"}"),
        Some(1.0),
        "{text}"
    );
    for method in ["echo", "state.apply"] {
        let calls = format!("xfleet_agent_calls_total{{method=\"{method}\",outcome=\"ok\"}}");
        assert!(
            sample(&text, &calls).unwrap_or(0.0) >= 1.0,
            "{calls}: {text}"
        );
        let count = format!(
            "xfleet_agent_call_duration_seconds_count{{method=\"{method}\",outcome=\"ok\"}}"
        );
        assert!(
            sample(&text, &count).unwrap_or(0.0) >= 1.0,
            "{count}: {text}"
        );
    }
    assert!(
        sample(&text, "xfleet_logins_total{outcome=\"wrong_credentials\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "xfleet_gateway_admissions_total{outcome=\"admitted\",reason=\"certificate\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "xfleet_traffic_ingest_round_duration_seconds_count").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "xfleet_tasks{state=\"completed\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        !text.contains("dora@example.com"),
        "a client's email in a series: {text}"
    );
    promtool_accepts(&text);
    contrib_files_match(&text);
    if let Some(prometheus) = Prometheus::start(&format!("127.0.0.1:{port}"), &password_file) {
        wait_for(
            "Prometheus to store the server's up series",
            LONG,
            || async {
                let answer = prometheus.query("xfleet_server_up").await;
                (answer.contains("\"server\":\"edge-1\"") && answer.contains("\"job\":\"xfleet\""))
                    .then_some(())
            },
        )
        .await;
    }

    agent.kill9();
    let text = wait_for(
        "the killed agent's server down in the scrape",
        LONG,
        || async {
            let (_, _, text) = scrape(port, "/metrics", auth).await;
            (sample(&text, &up) == Some(0.0)).then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(&text, "xfleet_agents_connected"),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, &age).is_some(),
        "the last heartbeat's age stays: {text}"
    );
    promtool_accepts(&text);
    assert!(
        !ctl.output.contains(password),
        "the metrics password was logged"
    );
}
