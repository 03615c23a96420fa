//! Single-server mode: `xfleet run` on a host with a core serves it as "Local server" through
//! the agent built into the controller, managed like any remote server.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use xfleet_tests::proxy::{outbound, pattern, FileServer, V2rayClient};
use xfleet_tests::{free_port, wait_for, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);

fn local_options(core: &str) -> ControllerOptions {
    ControllerOptions {
        local_server: true,
        extra_env: vec![("XFLEET_LOCAL_CORE_PATH".into(), core.into())],
        ..Default::default()
    }
}

/// The `v2ray` binary on PATH.
fn v2ray_path() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("v2ray"))
        .find(|p| p.is_file())
        .expect("v2ray on PATH")
}

/// The core the embedded agent runs (found by its config path under the controller's data
/// directory).
fn core_pid(ctl: &Controller) -> Option<u32> {
    let needle = ctl.dir.path().join("local-agent").join("core");
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("v2ray") && cmdline.contains(&needle)).then_some(pid)
    })
}

async fn servers(ctl: &Controller) -> Vec<Value> {
    let list = ctl.api().ok("GET", "/api/v1/servers", None).await;
    list.as_array().unwrap().clone()
}

/// Waits until server 1 holds a live channel (`true`) or none (`false`).
async fn wait_connected(ctl: &Controller, connected: bool) -> Value {
    wait_for(
        &format!("server 1 connected: {connected}"),
        LONG,
        || async {
            let s = ctl.server(1).await;
            (s["connected"] == json!(connected)).then_some(s)
        },
    )
    .await
}

async fn used(ctl: &Controller, email: &str) -> u64 {
    let c = ctl
        .api()
        .ok("GET", &format!("/api/v1/clients/{email}"), None)
        .await;
    c["used"].as_u64().unwrap_or(0)
}

/// The whole path of a 3x-ui-like install: server 1 is this host, an inbound and a client
/// made through the API carry real traffic, and the traffic is counted; a kill -9 of the
/// controller leaves users served and nothing counted twice; a clean stop stops the core.
#[tokio::test(flavor = "multi_thread")]
async fn this_host_is_server_1_and_carries_counted_traffic() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let mut ctl = Controller::start(local_options(&v2ray_path().to_string_lossy())).await;
    let api = ctl.api();
    let local = wait_connected(&ctl, true).await;
    assert_eq!(local["status"], json!("online"), "{local}");
    assert_eq!(local["name"], json!("Local server"), "{local}");
    assert_eq!(local["local"], json!(true), "{local}");
    assert!(
        local["core_version"]
            .as_str()
            .is_some_and(|v| v.starts_with('4')),
        "{local}"
    );
    assert_eq!(servers(&ctl).await.len(), 1);
    wait_for("the local core to run", LONG, || async {
        let s = ctl.server(1).await;
        (s["live"]["core"]["state"] == json!("running")).then_some(())
    })
    .await;
    // The origin below listens on loopback, which the default template blocks.
    ctl.route_loopback_direct().await;
    ctl.wait_applied(1, LONG).await;
    let info = api.agent_call(1, "agent.info", json!({})).await.unwrap();
    assert_eq!(
        info["pid"],
        json!(ctl.pid().unwrap()),
        "the agent runs in-process: {info}"
    );

    let port = free_port();
    let inbound = api
        .ok(
            "POST",
            "/api/v1/servers/1/inbounds",
            Some(json!({"remark": "ws", "port": port, "protocol": "vless",
                "settings": {"decryption": "none"},
                "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}})),
        )
        .await;
    let client = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "alice", "inboundIds": [inbound["id"]]})),
        )
        .await;
    let uuid = client["uuid"].as_str().unwrap().to_owned();
    let files = FileServer::start().await;
    let v2 = V2rayClient::start(outbound::vless_ws(port, &uuid, "/ws")).await;
    let body = wait_for("alice to reach the local core", LONG, || async {
        v2.fetch(files.port, 64 << 10).await.ok()
    })
    .await;
    assert_eq!(body, pattern(64 << 10));
    let before = wait_for("alice's traffic to count", LONG, || async {
        let used = used(&ctl, "alice").await;
        (used >= 64 << 10).then_some(used)
    })
    .await;
    // Revisions: the core template, the inbound, the client.
    wait_for("server 1 to report revision 3", LONG, || async {
        (ctl.server(1).await["applied_revision"] == json!(3)).then_some(())
    })
    .await;

    // kill -9: the core keeps serving without the controller, and the next start adopts it.
    let core = core_pid(&ctl).expect("the local core runs");
    ctl.kill9();
    let body = v2
        .fetch(files.port, 128 << 10)
        .await
        .expect("served while down");
    assert_eq!(body.len(), 128 << 10);
    ctl.restart().await;
    wait_connected(&ctl, true).await;
    assert_eq!(core_pid(&ctl), Some(core), "the running core was adopted");
    let after = wait_for("traffic from while it was down to count", LONG, || async {
        let used = used(&ctl, "alice").await;
        (used >= before + (128 << 10)).then_some(used)
    })
    .await;
    // Counted once: the bytes carried, plus protocol overhead well under a second copy.
    assert!(after < before + (256 << 10), "{before} → {after}");
    assert_eq!(servers(&ctl).await.len(), 1, "no second local server");

    // A clean stop takes the embedded agent down with the controller, and its core with it,
    // as a stopped agent does.
    assert_eq!(ctl.terminate(Duration::from_secs(20)), Some(0));
    wait_for("the core to stop with the controller", LONG, || async {
        core_pid(&ctl).is_none().then_some(())
    })
    .await;
}

/// Without a core the local server is still there and online; core calls say why they fail.
/// It cannot be revoked, enrolled or removed; disabling it cuts it like any server.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_core_the_local_server_is_online_and_says_why() {
    let ctl = Controller::start(local_options("/nonexistent/xray")).await;
    let api = ctl.api();
    let local = wait_connected(&ctl, true).await;
    assert_eq!(local["status"], json!("online"), "{local}");
    assert_eq!(local["core_version"], Value::Null, "{local}");
    let err = api
        .agent_call(1, "core.version", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("core_unavailable"), "{err}");
    let stats = api.agent_call(1, "system.stats", json!({})).await.unwrap();
    assert_eq!(stats["xray"]["state"], json!("error"), "{stats}");

    for (method, path, what) in [
        (
            "POST",
            "/api/v1/servers/1/revoke",
            "no certificate to revoke",
        ),
        (
            "POST",
            "/api/v1/servers/1/enrollment-tokens",
            "needs no enrollment",
        ),
        ("DELETE", "/api/v1/servers/1", "single-server mode is on"),
    ] {
        let err = api.call(method, path, None).await.unwrap_err().to_string();
        assert!(
            err.contains(what) && err.contains("(conflict)"),
            "{path}: {err}"
        );
    }
    assert_eq!(ctl.server(1).await["status"], json!("online"));

    // A remote server added next gets the next id.
    let (id, _) = ctl.add_server("vpn-2").await;
    assert_eq!(id, 2);

    api.ok(
        "PATCH",
        "/api/v1/servers/1",
        Some(json!({"enabled": false})),
    )
    .await;
    wait_connected(&ctl, false).await;
    api.ok("PATCH", "/api/v1/servers/1", Some(json!({"enabled": true})))
        .await;
    wait_connected(&ctl, true).await;
}

/// A controller for remote agents only has no servers of its own; turning single-server mode
/// off later leaves the local server listed, offline, and removable.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_local_server_off_only_added_servers_exist() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    assert!(servers(&ctl).await.is_empty());
    assert!(!ctl.dir.path().join("local-agent").exists());
    drop(ctl);

    let mut ctl = Controller::start(local_options("/nonexistent/xray")).await;
    wait_connected(&ctl, true).await;
    ctl.options.local_server = false;
    ctl.restart().await;
    let local = ctl.wait_status(1, "offline", LONG).await;
    assert_eq!(local["local"], json!(true), "{local}");
    assert!(
        local["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("local_server = false")),
        "{local}"
    );
    ctl.api().ok("DELETE", "/api/v1/servers/1", None).await;
    assert!(servers(&ctl).await.is_empty());
}
