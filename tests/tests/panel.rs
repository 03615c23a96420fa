//! The browser panel in real headless Chromium (Playwright, `tests/browser/panel.mjs`)
//! against a real controller, a real agent and the v2ray core: log in, add a server, run the
//! enrollment command the page shows, watch it come online without a reload, create a
//! VLESS+WebSocket inbound and a client, see the pages warn while the server has no public
//! address (when the machine gives it none), set it, proxy a download
//! through the link the page shows (which must carry that address), watch the client's
//! traffic grow, disable it, revoke the server and enroll its host again with the command the
//! page then shows; plus the login error, form validation errors,
//! a VLESS+TLS inbound with two certificates and a fallback that serves plain HTTP through
//! the real core, an inbound on a port only the core finds taken (shown failed in its row, on
//! the server page and the dashboard, the form offering only what the v2ray core runs),
//! two-factor login, the core configuration page's outbound traffic (the download counted
//! on `direct`) and delay test (a delay through `direct`, an error through `blocked`), a
//! routing rule added on that page that blocks the
//! client's way to the file server in the running core (and removing it opens it again), a
//! template the core refuses shown with the core's words on that page, and screenshots of
//! every page at desktop and phone width.
//!
//! The script asks this side to act through lines on its stdout and waits for the answer on
//! its stdin (see the top of `panel.mjs`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use xfleet_tests::proxy::{pattern, v2ray_available, FileServer, V2rayClient};
use xfleet_tests::{
    free_port, links, raw, wait_for, Agent, Controller, ControllerOptions, TempDir,
};

const LONG: Duration = Duration::from_secs(60);
const DOWNLOAD: usize = 256 << 10;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into())
}

/// Where screenshots go: `XFLEET_PANEL_SHOTS`, else `target/panel-screenshots`.
fn shot_dir() -> PathBuf {
    std::env::var_os("XFLEET_PANEL_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/panel-screenshots")
        })
}

/// Whether node, Chromium and the script's packages are installed. Without them the test is
/// skipped with a message, except under `CI=true`, where that is a failure.
fn browser_available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = [
        (!node, "node (apt-get install nodejs)"),
        (!chromium().exists(), "chromium (apt-get install chromium)"),
        (
            !["playwright-core", "axe-core"].iter().all(|p| {
                browser_dir()
                    .join("node_modules")
                    .join(p)
                    .join("package.json")
                    .exists()
            }),
            "playwright-core and axe-core (npm ci --prefix tests/browser)",
        ),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect::<Vec<_>>();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must install {} for the browser test",
        missing.join(", ")
    );
    eprintln!("browser test skipped, missing: {}", missing.join(", "));
    false
}

/// Proxies a download through a share link with a real v2ray client, as it is: the page set
/// the server's public address to 127.0.0.1 (the agent runs on this machine), so the link
/// must point there.
async fn proxy_download(files: &FileServer, link: &str) -> Result<V2rayClient, String> {
    let parsed = links::parse(link)?;
    if parsed.scheme != "vless" || !link.contains("type=ws") {
        return Err(format!(
            "not the VLESS+WebSocket link the inbound should give: {link}"
        ));
    }
    let address = &parsed.outbound["settings"]["vnext"][0]["address"];
    if address.as_str() != Some("127.0.0.1") {
        return Err(format!(
            "the link points at {address}, not the public address set on the server page: {link}"
        ));
    }
    let client = V2rayClient::start(parsed.outbound).await;
    let body = wait_for("a download through the link", LONG, || async {
        client.fetch(files.port, DOWNLOAD).await.ok()
    })
    .await;
    if body != pattern(DOWNLOAD) {
        return Err("the proxied download came back changed".into());
    }
    Ok(client)
}

/// Runs an enrollment command read from the page, as given, on the host of an agent that
/// is enrolled already (its directories added, as the host's defaults would be).
fn reenroll(agent: &Agent, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some((&"xfleet-agent", args)) = words.split_first() else {
        return format!("ERR not an agent command: {command}");
    };
    let out = Command::new(xfleet_tests::bin("xfleet-agent"))
        .args(args)
        .arg("--config-dir")
        .arg(&agent.config_dir)
        .arg("--data-dir")
        .arg(&agent.data_dir)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => "OK".into(),
        Ok(out) => format!(
            "ERR the command failed: {}",
            xfleet_tests::output_text(&out).replace('\n', " | ")
        ),
        Err(e) => format!("ERR cannot run xfleet-agent: {e}"),
    }
}

/// Names of the two server certificates the TLS inbound gets, one CA signing both.
const CERT_NAMES: [&str; 2] = ["a.test", "b.test"];

/// Writes `a.pem`/`a.key` and `b.pem`/`b.key` (for `a.test` and `b.test`) into a fresh
/// folder; returns it with the CA's PEM, which the fallback check trusts.
fn server_certificates() -> (TempDir, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = TempDir::new("panel-certs");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    for name in CERT_NAMES {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let stem = &name[..1];
        std::fs::write(dir.path().join(format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.path().join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    }
    (dir, ca.pem())
}

/// Opens TLS to the inbound on `port` as `sni`, which must present the certificate for that
/// name, and sends a plain HTTP request: not VLESS, so the core hands the connection to the
/// fallback, the file server, whose answer must come back whole. Retries while the agent
/// applies the new inbound.
async fn through_fallback(port: u16, sni: &str, ca_pem: &str) -> Result<(), String> {
    const SIZE: usize = 4096;
    let attempt = || async {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(raw::tls(ca_pem, None))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS as {sni}: {e}"))?;
        let request = format!("GET /{SIZE} HTTP/1.0\r\nHost: {sni}\r\n\r\n");
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        // The file server closes without a TLS close_notify; what was read counts.
        let _ = tls.read_to_end(&mut answer).await;
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
        match split {
            Some(at) if answer[at + 4..] == pattern(SIZE)[..] => Ok(()),
            _ => Err(format!(
                "the fallback answered {} bytes: {:?}",
                answer.len(),
                String::from_utf8_lossy(&answer[..answer.len().min(120)])
            )),
        }
    };
    let deadline = Instant::now() + LONG;
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// A controller in single-server mode and a VLESS inbound on its local server.
async fn local_server_with_an_inbound() -> (Controller, serde_json::Value) {
    let ctl = Controller::start(ControllerOptions {
        local_server: true,
        ..ControllerOptions::default()
    })
    .await;
    let api = ctl.api();
    let local = wait_for("the local server", LONG, || async {
        let servers = api.ok("GET", "/api/v1/servers", None).await;
        servers
            .as_array()?
            .iter()
            .find(|s| s["local"] == serde_json::json!(true))
            .cloned()
    })
    .await;
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{}/inbounds", local["id"]),
            Some(serde_json::json!({"port": free_port(), "protocol": "vless",
                "settings": {"decryption": "none"}})),
        )
        .await;
    (ctl, inbound)
}

/// The subscription page a VPN user opens (`tests/browser/subpage.mjs`): it follows the
/// visitor's light or dark scheme, shows the expiry in the visitor's time zone (Tehran here),
/// its Copy button copies the subscription URL, its "add to app" links carry that URL, its
/// icon loads, it fits a 390 px phone, and it passes the accessibility checks in both schemes.
/// A browser asking for Persian (`Accept-Language: fa`) gets it right to left, with its usage
/// and expiry labels, expiry date and Copy button and its answer in Persian.
#[tokio::test(flavor = "multi_thread")]
async fn the_subscription_page_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let (ctl, inbound) = local_server_with_an_inbound().await;
    let api = ctl.api();
    // 2030-01-15 12:00 UTC: 15:30 in Tehran.
    let expiry_ms = 1_894_708_800_000i64;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(
            serde_json::json!({"email": "sam", "subId": "sam-subscription", "totalGB": 10u64 << 30,
            "expiryTime": expiry_ms, "inboundIds": [inbound["id"]]}),
        ),
    )
    .await;
    let sub_url = format!("{}/sub/sam-subscription", ctl.sub_url());
    run_script(
        &ctl,
        "subpage.mjs",
        &[
            ("SUB_PAGE_URL", format!("{sub_url}?view=html")),
            ("SUB_URL", sub_url.clone()),
            ("LOCAL_EXPIRY", "15 Jan 2030, 15:30".into()),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let inbound_port = free_port();
    let (certs, ca_pem) = server_certificates();
    let shots = shot_dir();
    let mut child = Command::new("node")
        .arg(browser_dir().join("panel.mjs"))
        .current_dir(browser_dir())
        .env("PANEL_URL", ctl.panel_url())
        .env("ADMIN_PASSWORD", &ctl.admin_password)
        .env("INBOUND_PORT", inbound_port.to_string())
        .env("SECOND_PORT", free_port().to_string())
        .env("TLS_PORT", free_port().to_string())
        .env("FILE_PORT", files.port.to_string())
        .env("CERT_DIR", certs.path())
        .env("CLONE_PORT", free_port().to_string())
        .env("SHOT_DIR", &shots)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut reply = |answer: String| {
        writeln!(stdin, "{answer}").expect("answer the browser script");
        stdin.flush().unwrap();
    };

    let mut agent: Option<Agent> = None;
    let mut taken: Option<std::net::TcpListener> = None;
    let mut vpn: Option<V2rayClient> = None;
    let (mut done, mut failures) = (false, Vec::new());
    let mut shots_dir = None;
    while let Some(line) = rx.recv().await {
        let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match word {
            "STEP" => eprintln!("panel: {rest}"),
            "ENROLL" => {
                let answer = match rest.strip_prefix("xfleet-agent enroll --token ") {
                    Some(token) => {
                        let mut a = Agent::enroll(token.trim());
                        a.start();
                        agent = Some(a);
                        "OK".to_owned()
                    }
                    None => format!("ERR not an enrollment command: {rest}"),
                };
                reply(answer);
            }
            "REENROLL" => {
                let a = agent.as_mut().expect("an agent from the enroll step");
                let answer = reenroll(a, rest);
                // As the page says: restarting the agent uses the new enrollment now, rather
                // than at its next dial, up to its backoff cap (90 s) away after the refusal.
                a.kill9();
                a.start();
                reply(answer);
            }
            "LINK" => {
                let answer = match proxy_download(&files, rest).await {
                    Ok(client) => {
                        vpn = Some(client);
                        "OK".to_owned()
                    }
                    Err(e) => format!("ERR {e}"),
                };
                reply(answer);
            }
            "FALLBACK" => {
                let answer = match rest.split_once(' ') {
                    Some((port, sni)) => match port.parse() {
                        Ok(port) => match through_fallback(port, sni, &ca_pem).await {
                            Ok(()) => "OK".to_owned(),
                            Err(e) => format!("ERR {e}"),
                        },
                        Err(_) => format!("ERR not a port: {port}"),
                    },
                    None => format!("ERR expected FALLBACK <port> <sni>: {rest}"),
                };
                reply(answer);
            }
            "TAKE" => {
                // The agent goes away, and meanwhile another program takes a port: the
                // controller cannot know, only the core finds out.
                let answer = match agent.as_mut() {
                    Some(a) => {
                        a.kill9();
                        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                        let port = listener.local_addr().unwrap().port();
                        taken = Some(listener);
                        format!("OK {port}")
                    }
                    None => "ERR no agent yet".to_owned(),
                };
                reply(answer);
            }
            "AGENT" => {
                let answer = match agent.as_mut() {
                    Some(a) => {
                        a.start();
                        "OK".to_owned()
                    }
                    None => "ERR no agent yet".to_owned(),
                };
                reply(answer);
            }
            "DISABLED" => {
                let client = vpn.as_ref().expect("a VPN client from the link step");
                wait_for("the disabled client to be refused", LONG, || async {
                    client.fetch(files.port, 1000).await.is_err().then_some(())
                })
                .await;
                reply("OK".into());
            }
            "ROUTED" => {
                // Whether the client's traffic to the file server is stopped (`blocked`) or
                // flows (`open`), as the core's routing now says.
                let client = vpn.as_ref().expect("a VPN client from the link step");
                let blocked = rest == "blocked";
                wait_for(
                    &format!("the file server to be {rest} through the core"),
                    LONG,
                    || async {
                        let fetched = client.fetch(files.port, 1000).await;
                        (fetched.is_err() == blocked).then_some(())
                    },
                )
                .await;
                reply("OK".into());
            }
            "SHOTS" => shots_dir = Some(rest.to_owned()),
            "DONE" => done = true,
            "FAIL" => failures.push(rest.to_owned()),
            _ => eprintln!("panel.mjs: {line}"),
        }
    }
    let status = child.wait().expect("wait for node");
    if let Some(dir) = &shots_dir {
        eprintln!("panel screenshots: {dir}");
    }
    drop((agent, taken));
    assert!(
        status.success() && done && failures.is_empty(),
        "the browser run failed: {failures:?}\ncontroller log:\n{}",
        ctl.output.text()
    );
    assert!(shots_dir.is_some(), "no screenshots were written");
}

/// A controller in single-server mode, in the browser (`tests/browser/local.mjs`): the local
/// server's page shows enrollment, revocation and removal disabled with the reason (they were
/// offered, then refused after a confirmation), and where its share links point, with the
/// warning the API gives while no public address is known on the dashboard, the server page
/// and the page of a client on it; those pages pass the accessibility checks in both themes.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_server_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let (ctl, inbound) = local_server_with_an_inbound().await;
    let api = ctl.api();
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(serde_json::json!({"email": "lou", "inboundIds": [inbound["id"]]})),
    )
    .await;
    run_script(&ctl, "local.mjs", &[]);
}

/// A controller whose geo file sources cannot be reached (a closed port on this machine).
async fn controller_without_geo_sources() -> Controller {
    let closed = free_port();
    let geo_urls = format!(
        "geoip.dat=http://127.0.0.1:{closed}/geoip.dat,\
         geosite.dat=http://127.0.0.1:{closed}/geosite.dat"
    );
    Controller::start(ControllerOptions {
        extra_env: vec![("XFLEET_GEO_URLS".into(), geo_urls)],
        ..ControllerOptions::default()
    })
    .await
}

/// Gives the server an inbound `taken` on a port another program holds, created while its
/// agent is away (so only the core finds out), and waits until the agent reports that the
/// core runs without it. Returns the program's listener, which keeps the port.
async fn taken_inbound(ctl: &Controller, server: i64, agent: &mut Agent) -> std::net::TcpListener {
    agent.kill9();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    ctl.api()
        .ok(
            "POST",
            &format!("/api/v1/servers/{server}/inbounds"),
            Some(
                serde_json::json!({"remark": "taken", "port": port, "protocol": "vless",
                "settings": {"decryption": "none"}}),
            ),
        )
        .await;
    agent.start();
    wait_for(
        "the core to run without the taken inbound",
        LONG,
        || async {
            let s = ctl.server(server).await;
            (!s["failed_inbounds"].as_array()?.is_empty()).then_some(())
        },
    )
    .await;
    listener
}

/// The fleet's alerts are one list, through the native API and the dashboard's snapshot
/// alike: a failed `geo.update` with the controller's words, the inbound the core runs
/// without with the core's; the snapshot's error count is that list's errors; a refused
/// request is no alert (the caller was told, the audit log keeps it); a server that never
/// connected is pending, not offline, and no alert. A later success of the same operation
/// clears its failure.
#[tokio::test(flavor = "multi_thread")]
async fn alerts_say_what_failed_in_its_own_words() {
    if !v2ray_available() {
        return;
    }
    let ctl = controller_without_geo_sources().await;
    let (id, mut agent) = ctl.online_server("edge-1").await;
    ctl.add_server("never-1").await;
    let _held = taken_inbound(&ctl, id, &mut agent).await;
    let api = ctl.api();
    let geo = ctl
        .finished_task(
            id,
            "geo.update",
            serde_json::json!({"files": ["geoip.dat"]}),
        )
        .await;
    assert_eq!(geo["status"], "failed", "{geo}");
    let refused = api
        .call(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(serde_json::json!({"port": 70000, "protocol": "vless"})),
        )
        .await;
    assert!(refused.is_err(), "port 70000 was taken: {refused:?}");

    let alerts = api.ok("GET", "/api/v1/alerts", None).await;
    let list = alerts.as_array().expect("a list of alerts");
    let kinds: Vec<(&str, &str)> = list
        .iter()
        .map(|a| (a["severity"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("error", "inbound_failed"), ("error", "task_failed")],
        "{alerts:#}"
    );
    let (inbound, task) = (&list[0], &list[1]);
    assert_eq!(
        (&inbound["server"], &inbound["server_id"], &inbound["text"]),
        (
            &serde_json::json!("edge-1"),
            &serde_json::json!(id),
            &serde_json::json!("Inbound taken is not running")
        ),
        "{inbound}"
    );
    assert!(
        inbound["reason"]
            .as_str()
            .unwrap()
            .contains("address already in use"),
        "{inbound}"
    );
    assert_eq!(task["operation"], "geo.update", "{task}");
    assert_eq!(task["subject"], geo["id"], "{task}");
    assert!(
        task["reason"]
            .as_str()
            .unwrap()
            .contains("cannot fetch geoip.dat"),
        "{task}"
    );
    let audit = api.ok("GET", "/api/v1/audit?limit=50", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["result"] != "ok"),
        "the refused request is in the audit log: {audit:#}"
    );

    let snapshot = ctl.dashboard().await;
    assert_eq!(
        snapshot["alerts"], alerts,
        "the dashboard and the API disagree"
    );
    let totals = &snapshot["totals"];
    assert_eq!(
        (
            &totals["error"],
            &totals["online"],
            &totals["offline"],
            &totals["pending"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(0),
            &serde_json::json!(1)
        ),
        "{totals}"
    );

    // The core stopped on request is a warning, not an error; started again, it is gone.
    ctl.finished_task(id, "core.stop", serde_json::json!({}))
        .await;
    wait_for("the stopped core to be reported", LONG, || async {
        let alerts = ctl.api().ok("GET", "/api/v1/alerts", None).await;
        alerts
            .as_array()?
            .iter()
            .any(|a| a["kind"] == "core_stopped" && a["severity"] == "warning")
            .then_some(())
    })
    .await;
    ctl.finished_task(id, "core.start", serde_json::json!({}))
        .await;
    wait_for("the started core's warning to go", LONG, || async {
        let alerts = ctl.api().ok("GET", "/api/v1/alerts", None).await;
        (!alerts
            .as_array()?
            .iter()
            .any(|a| a["kind"] == "core_stopped"))
        .then_some(())
    })
    .await;
}

/// The failures the panel must not hide, in the browser (`tests/browser/failures.mjs`): the
/// inbound the core cannot run and a failed geo update on the dashboard with their reasons,
/// counted in Errors and matching the alerts API, the geo update's failure as a toast, a
/// refused submission kept off the dashboard, a never-enrolled server pending and not
/// offline; confirmations before a core stop or restart and before a traffic reset (Cancel
/// changes nothing, confirming resets); a disabled client that carried traffic without an
/// online badge; bulk actions off with nothing selected; a malformed email refused in the
/// form; the panel's own not-found page (404) for an unknown address; axe-core clean.
#[tokio::test(flavor = "multi_thread")]
async fn failures_are_visible_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = controller_without_geo_sources().await;
    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (id, mut agent) = ctl.online_server("edge-1").await;
    ctl.add_server("never-1").await;
    let api = ctl.api();
    // dora carries traffic, then is disabled.
    let (_, vpn) = ctl.vless_ws_user(id, "dora").await;
    wait_for("a download through dora's link", LONG, || async {
        vpn.fetch(files.port, DOWNLOAD).await.ok()
    })
    .await;
    wait_for("dora's traffic to be counted", LONG, || async {
        let c = api.ok("GET", "/api/v1/clients/dora", None).await;
        (c["used"].as_i64()? > 0).then_some(())
    })
    .await;
    api.ok(
        "PUT",
        "/api/v1/clients/dora",
        Some(serde_json::json!({"enable": false})),
    )
    .await;
    let _held = taken_inbound(&ctl, id, &mut agent).await;
    run_script(&ctl, "failures.mjs", &[]);
    drop(agent);
}

/// The panel on a phone (`tests/browser/phone.mjs`), against a real controller and agent with
/// an inbound whose clients have long addresses and comments, an extra outbound, a task and
/// an API token: at 390 px, in the light and the dark theme, no main page scrolls sideways;
/// every row of the lists (servers, the server's tasks, inbounds, clients, tasks, audit,
/// tokens and sessions, the core's outbounds and routing rules) keeps its buttons, links and switches on the
/// screen, at least 24 px each way and not covered; the menu opens and leads to a page; a
/// client's switch tapped there disables and enables the client, as the API then says, and
/// an inbound's switch and Edit button work; the pages pass the accessibility checks at that
/// width. At desktop width the stat tiles wrap into even rows (ten: 5 + 5) and the lists'
/// action cells line up with the borders of their rows. The server's CPU and memory are kept
/// a minute at a time from its heartbeats (the API returns them, and refuses more hours than
/// are kept), and its page charts them with a percent axis, a time axis and a tooltip reached
/// by the pointer and the keyboard.
#[tokio::test(flavor = "multi_thread")]
async fn the_panel_on_a_phone_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    const OUTBOUND: &str = "direct-over-ipv4-for-the-long-tag";
    let ctl = Controller::start(ControllerOptions::default()).await;
    let mut template = xfleet_tests::loopback_direct_template();
    template["outbounds"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"tag": OUTBOUND, "protocol": "freedom", "settings": {"domainStrategy": "UseIPv4"}}
        ));
    ctl.set_core_template(Some(&template)).await;
    let (server_id, _agent) = ctl.online_server("phone-vpn-1").await;
    let api = ctl.api();
    let remark = "VLESS over WebSocket for the phones";
    let inbound = ctl.vless_ws_inbound(server_id, remark).await;
    let emails: Vec<String> = (1..=3)
        .map(|i| format!("subscriber-number-{i}-with-a-long-address@mobile-customers.example.com"))
        .collect();
    for email in &emails {
        api.ok(
            "POST",
            "/api/v1/clients",
            Some(
                serde_json::json!({"email": email, "inboundIds": [inbound["id"]],
                "comment": "family plan, renews monthly"}),
            ),
        )
        .await;
    }
    api.ok(
        "POST",
        "/api/v1/api-tokens",
        Some(serde_json::json!({"name": "phone-dashboard-widget", "scope": "read-only"})),
    )
    .await;
    ctl.finished_task(server_id, "core.restart", serde_json::json!({}))
        .await;
    ctl.wait_applied(server_id, LONG).await;
    // The server's minutes of CPU and memory, from its heartbeats: the first is there once a
    // minute has ended.
    let samples = wait_for(
        "a minute of CPU and memory samples",
        Duration::from_secs(150),
        || async {
            let samples = api
                .ok(
                    "GET",
                    &format!("/api/v1/servers/{server_id}/samples?hours=1"),
                    None,
                )
                .await;
            samples.as_array().filter(|s| !s.is_empty()).cloned()
        },
    )
    .await;
    for s in &samples {
        let (cpu, used, total) = (&s["cpu_tenths"], &s["mem_used"], &s["mem_total"]);
        assert!(
            cpu.as_i64().is_some_and(|c| (0..=1000).contains(&c))
                && total.as_i64().is_some_and(|t| t > 0)
                && used
                    .as_i64()
                    .is_some_and(|u| (0..=total.as_i64().unwrap()).contains(&u)),
            "not a minute of a real host: {s}"
        );
    }
    // More than the two days kept is refused, saying what is allowed.
    let refused = api
        .call(
            "GET",
            &format!("/api/v1/servers/{server_id}/samples?hours=49"),
            None,
        )
        .await
        .expect_err("49 hours of samples");
    assert!(
        refused
            .to_string()
            .contains("hours must be between 1 and 48"),
        "{refused}"
    );
    run_script(
        &ctl,
        "phone.mjs",
        &[
            ("SERVER_ID", server_id.to_string()),
            ("SERVER_NAME", "phone-vpn-1".into()),
            ("INBOUND_ID", inbound["id"].to_string()),
            ("INBOUND_REMARK", remark.to_string()),
            ("EMAILS", emails.join(",")),
            ("OUTBOUND", OUTBOUND.to_string()),
        ],
    );
}

/// Runs `tests/browser/<script>` with the controller's address, password, Chromium and the
/// screenshot folder, and `envs`; fails the test, with the controller's log, unless the script
/// ends with `DONE`. Its `STEP` lines are printed as `<script>: <step>`.
fn run_script(ctl: &Controller, script: &str, envs: &[(&str, String)]) {
    let mut command = Command::new("node");
    command
        .arg(browser_dir().join(script))
        .current_dir(browser_dir())
        .env("PANEL_URL", ctl.panel_url())
        .env("ADMIN_PASSWORD", &ctl.admin_password)
        .env("CHROMIUM", chromium())
        .env("SHOT_DIR", shot_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in envs {
        command.env(name, value);
    }
    let out = command.output().expect("run node");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| l.starts_with("STEP ")) {
        eprintln!("{script}: {}", &line[5..]);
    }
    assert!(
        out.status.success() && text.lines().any(|l| l == "DONE"),
        "the browser run of {script} failed:\n{text}\ncontroller log:\n{}",
        ctl.output.text()
    );
}

/// The panel in every language it speaks (`tests/browser/languages.mjs`): the login page's
/// menu switches the language and the choice is remembered; Persian pages are right to left
/// with no English left, at desktop and phone width; Russian and Chinese pages have no English
/// left; dates are Jalali in Persian digits (the calendar chosen) and day.month.year in
/// Russian; Accept-Language chooses when nothing was chosen, also on the subscription page;
/// every page passes the accessibility checks in every language.
#[tokio::test(flavor = "multi_thread")]
async fn the_panel_in_every_language() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (server_id, _agent) = ctl.online_server("vpn-tehran-1").await;
    let api = ctl.api();
    let remark = "vless-ws-main";
    let inbound = ctl.vless_ws_inbound(server_id, remark).await;
    let emails = ["sara@example.com", "ivan@example.com", "li@example.com"];
    for (i, email) in emails.iter().enumerate() {
        api.ok(
            "POST",
            "/api/v1/clients",
            Some(
                serde_json::json!({"email": email, "inboundIds": [inbound["id"]],
                "subId": format!("subscription-{i}"), "totalGB": 50u64 << 30,
                "expiryTime": 1_894_708_800_000i64}),
            ),
        )
        .await;
    }
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(serde_json::json!({"datepicker": "jalalian"})),
    )
    .await;
    ctl.finished_task(server_id, "core.restart", serde_json::json!({}))
        .await;
    ctl.wait_applied(server_id, LONG).await;
    run_script(
        &ctl,
        "languages.mjs",
        &[
            ("SERVER_ID", server_id.to_string()),
            ("SERVER_NAME", "vpn-tehran-1".into()),
            ("INBOUND_ID", inbound["id"].to_string()),
            ("INBOUND_REMARK", remark.into()),
            ("EMAILS", emails.join(",")),
            (
                "HOST_NAME",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ),
            (
                "SUB_PAGE_URL",
                format!("{}/sub/subscription-0?view=html", ctl.sub_url()),
            ),
        ],
    );
}

/// The inbound form's and list's 3x-ui features in a real browser
/// (`tests/browser/inboundx.mjs`): "use panel certificate" fills in the panel's own
/// certificate files (and says when there are none); Xray's full sniffing options and an
/// `externalProxy` entry survive save and reload; a first client is created with the inbound
/// and its share link goes through the external proxy; "copy links" copies one link per
/// enabled client; and an inbound exported as 3x-ui's JSON, deleted and imported again is the
/// same inbound with the same clients. Expanding an inbound's row lists its clients with
/// their states: the client that just carried traffic online, the one disabled after carrying
/// traffic not online; a client's "copy link" copies exactly its link on that inbound, its
/// QR opens the image of that link, the expanded row survives the live refresh, and the
/// expanded list passes the accessibility checks, also in Persian at phone width, where the
/// clients are loaded only for the row expanded.
#[tokio::test(flavor = "multi_thread")]
async fn inbound_features_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (server_id, _agent) = ctl.online_server("cdn-vpn-1").await;
    let api = ctl.api();
    api.ok(
        "PATCH",
        &format!("/api/v1/servers/{server_id}"),
        Some(serde_json::json!({"public_address": "127.0.0.1"})),
    )
    .await;
    let remark = "VLESS for export";
    let port = free_port();
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{server_id}/inbounds"),
            Some(
                serde_json::json!({"port": port, "protocol": "vless", "remark": remark,
                "settings": {"decryption": "none"},
                "streamSettings": {"network": "ws", "wsSettings": {"path": "/export"}},
                "sniffing": {"enabled": true, "destOverride": ["http", "tls"]}}),
            ),
        )
        .await;
    let emails: Vec<String> = (1..=3).map(|i| format!("exported-{i}")).collect();
    let (certs, _) = server_certificates();
    let mut uuids = std::collections::HashMap::new();
    for email in emails.iter().map(String::as_str).chain(["switched-off"]) {
        let client = api
            .ok(
                "POST",
                "/api/v1/clients",
                Some(serde_json::json!({"email": email, "inboundIds": [inbound["id"]]})),
            )
            .await;
        uuids.insert(email, client["uuid"].as_str().unwrap().to_string());
    }
    // The first client and the one switched off afterwards carry traffic through the core.
    for email in [emails[0].as_str(), "switched-off"] {
        let link = xfleet_tests::proxy::outbound::vless_ws(port, &uuids[email], "/export");
        let vpn = V2rayClient::start(link).await;
        wait_for(
            &format!("a download through {email}'s link"),
            LONG,
            || async { vpn.fetch(files.port, DOWNLOAD).await.ok() },
        )
        .await;
        wait_for(
            &format!("{email}'s traffic to be counted"),
            LONG,
            || async {
                let c = api
                    .ok("GET", &format!("/api/v1/clients/{email}"), None)
                    .await;
                (c["used"].as_i64()? > 0).then_some(())
            },
        )
        .await;
    }
    api.ok(
        "PUT",
        "/api/v1/clients/switched-off",
        Some(serde_json::json!({"enable": false})),
    )
    .await;
    run_script(
        &ctl,
        "inboundx.mjs",
        &[
            ("SERVER_ID", server_id.to_string()),
            ("PORT", free_port().to_string()),
            ("INBOUND_REMARK", remark.to_string()),
            ("EMAILS", emails.join(",")),
            ("ONLINE", emails[0].clone()),
            (
                "CERT_FILE",
                certs.path().join("a.pem").display().to_string(),
            ),
            ("KEY_FILE", certs.path().join("a.key").display().to_string()),
        ],
    );
}

/// The Logs page (`tests/browser/logs.mjs`) against a real controller, agent and core, while
/// a client keeps downloading through the core: the server page links to its access log,
/// which shows the client's connection with its destination and email; following brings new
/// connections without a reload and keeps the newest in view; unchecking "direct" hides the
/// connection and the page says why it is empty; the text filter finds it and nothing for
/// text no line has; the controller's log shows the line it wrote when the agent connected,
/// and a level filter hides it; at 390 px in both themes the page fits; axe-core clean.
#[tokio::test(flavor = "multi_thread")]
async fn the_logs_page_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (id, _agent) = ctl.online_server("edge-1").await;
    let email = "dora@example.com";
    let (_, vpn) = ctl.vless_ws_user(id, email).await;
    wait_for("a download through dora's link", LONG, || async {
        vpn.fetch(files.port, 4096).await.ok()
    })
    .await;
    // Connections keep coming while the page follows the log.
    let port = files.port;
    let traffic = tokio::spawn(async move {
        loop {
            let _ = vpn.fetch(port, 4096).await;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
    run_script(
        &ctl,
        "logs.mjs",
        &[
            ("SERVER_ID", id.to_string()),
            ("EMAIL", email.into()),
            ("DESTINATION", format!("127.0.0.1:{port}")),
        ],
    );
    traffic.abort();
}

/// Backups on the Settings page (`tests/browser/backups.mjs`): the Telegram card shows a
/// refused bot token in Telegram's words; the download is a backup archive named by its time; restoring asks first, and cancelling changes nothing; a file
/// that is not a backup is refused with what is wrong, in English and in Russian; the
/// downloaded backup restores, the controller restarts in place and the page comes back with
/// the fleet; axe-core clean.
#[tokio::test(flavor = "multi_thread")]
async fn backups_from_the_settings_page_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.api()
        .ok(
            "POST",
            "/api/v1/servers",
            Some(serde_json::json!({"name": "edge-kept"})),
        )
        .await;
    // The bot, on a token Telegram refuses: the Telegram card says so in its words.
    let telegram = xfleet_tests::telegram::FakeTelegram::start("1:right").await;
    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(
                serde_json::json!({"tgBotEnable": true, "tgBotToken": "1:wrong",
                "tgBotAPIServer": telegram.url, "tgBotChatId": "42"}),
            ),
        )
        .await;
    run_script(&ctl, "backups.mjs", &[("SERVER_NAME", "edge-kept".into())]);
    let servers = ctl.api().call("GET", "/api/v1/servers", None).await;
    let servers = servers.unwrap_or_else(|e| panic!("{e}\n{}", ctl.output.text()));
    assert_eq!(servers[0]["name"], "edge-kept", "{servers}");
}

/// The clients list at scale (`tests/browser/clients-list.mjs`): with 60 clients and a page
/// size of 25 the panel asks the server for one page at a time and shows how many match;
/// a column header sorts by it both ways (with `aria-sort`), the next page continues that
/// order, the search box and the state filter are answered by the server; axe-core clean.
#[tokio::test(flavor = "multi_thread")]
async fn the_clients_list_pages_sorts_and_searches_on_the_server() {
    if !browser_available() {
        return;
    }
    const COUNT: usize = 60;
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (server, _) = ctl.add_server("edge-1").await;
    let body = serde_json::json!({"remark": "list", "port": free_port(), "protocol": "vless",
        "settings": {"decryption": "none", "clients": []}, "streamSettings": {"network": "tcp"}});
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{server}/inbounds"),
            Some(body),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let email = |n: usize| format!("c-{n:03}");
    let clients: Vec<serde_json::Value> = (0..COUNT)
        .map(|n| serde_json::json!({"email": email(n), "enable": n % 7 != 3}))
        .collect();
    api.ok(
        "POST",
        "/api/v1/clients/add-many",
        Some(serde_json::json!({"clients": clients, "inboundIds": [inbound]})),
    )
    .await;
    // Usage as ingest leaves it: client n has n MiB up and 2n MiB down.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", ctl.dir.path().join("xfleet.db").display());
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        for n in 0..COUNT as i64 {
            sqlx::query(
                "INSERT INTO client_traffic (server_id, email, up, down, all_time, last_online) \
                 VALUES ($1, $2, $3, $4, $5, 0)",
            )
            .bind(server)
            .bind(email(n as usize))
            .bind(n << 20)
            .bind((2 * n) << 20)
            .bind((3 * n) << 20)
            .execute(&mut db)
            .await
            .unwrap();
        }
        db.close().await.unwrap();
    }
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(serde_json::json!({"pageSize": "25"})),
    )
    .await;
    let disabled: Vec<String> = (0..COUNT).filter(|n| n % 7 == 3).map(email).collect();
    run_script(
        &ctl,
        "clients-list.mjs",
        &[
            ("COUNT", COUNT.to_string()),
            ("DISABLED", disabled.join(",")),
        ],
    );
}
