//! Logs through the APIs, against a real controller, agent and v2ray core: the controller's
//! own lines and a server's access log with 3x-ui's filters, natively and in 3x-ui's shapes.

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
