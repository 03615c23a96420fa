//! The browser panel in real headless Chromium (Playwright, `tests/browser/panel.mjs`)
//! against a real controller, a real agent and the v2ray core: log in, add a server, run the
//! enrollment command the page shows, watch it come online without a reload, create a
//! VLESS+WebSocket inbound and a client, proxy a download through the link the page shows,
//! watch the client's traffic grow, disable it, revoke the server; plus the login error, a
//! form validation error, two-factor login and screenshots of every page at desktop and
//! phone width.
//!
//! The script asks this side to act through lines on its stdout and waits for the answer on
//! its stdin (see the top of `panel.mjs`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use xfleet_tests::proxy::{outbound, pattern, v2ray_available, FileServer, V2rayClient};
use xfleet_tests::{free_port, wait_for, Agent, Controller, ControllerOptions};

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
            !browser_dir()
                .join("node_modules/playwright-core/package.json")
                .exists(),
            "playwright-core (npm ci --prefix tests/browser)",
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

/// What a VLESS share link says about a WebSocket inbound: `vless://uuid@host:port?type=ws&path=…`.
#[derive(Debug, PartialEq)]
struct VlessWs {
    uuid: String,
    port: u16,
    path: String,
}

fn parse_vless_ws(link: &str) -> Result<VlessWs, String> {
    let rest = link
        .strip_prefix("vless://")
        .ok_or_else(|| format!("not a VLESS link: {link}"))?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (uuid, host_port) = authority
        .split_once('@')
        .ok_or_else(|| format!("no `uuid@` in {link}"))?;
    let port = host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| format!("no port in {link}"))?;
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(query).map_err(|e| format!("query of {link}: {e}"))?;
    if params.get("type").map(String::as_str) != Some("ws") {
        return Err(format!("not a WebSocket link: {link}"));
    }
    Ok(VlessWs {
        uuid: uuid.to_owned(),
        port,
        path: params.get("path").cloned().unwrap_or_else(|| "/".into()),
    })
}

#[test]
fn vless_ws_links_parse() {
    let link = "vless://0b9e5c5e-2a43-4f4c-9a1f-1f5d1c1c9a11@vpn.example.com:443?type=ws&security=none&path=%2Fws&encryption=none#ws-in-alice";
    assert_eq!(
        parse_vless_ws(link).unwrap(),
        VlessWs {
            uuid: "0b9e5c5e-2a43-4f4c-9a1f-1f5d1c1c9a11".into(),
            port: 443,
            path: "/ws".into(),
        }
    );
    assert!(parse_vless_ws("vmess://abc").is_err());
    assert!(parse_vless_ws("vless://u@h:1?type=grpc").is_err());
}

/// Proxies a download through the inbound with a real v2ray client. The agent runs on this
/// machine, so the link's address (the host's public name) is reached on loopback.
async fn proxy_download(files: &FileServer, target: &VlessWs) -> Result<V2rayClient, String> {
    let client =
        V2rayClient::start(outbound::vless_ws(target.port, &target.uuid, &target.path)).await;
    let body = wait_for("a download through the link", LONG, || async {
        client.fetch(files.port, DOWNLOAD).await.ok()
    })
    .await;
    if body != pattern(DOWNLOAD) {
        return Err("the proxied download came back changed".into());
    }
    Ok(client)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_in_a_real_browser() {
    if !v2ray_available() || !browser_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    let files = FileServer::start().await;
    let inbound_port = free_port();
    let shots = std::env::var_os("XFLEET_PANEL_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/panel-screenshots")
        });
    let mut child = Command::new("node")
        .arg(browser_dir().join("panel.mjs"))
        .current_dir(browser_dir())
        .env("PANEL_URL", ctl.panel_url())
        .env("ADMIN_PASSWORD", &ctl.admin_password)
        .env("INBOUND_PORT", inbound_port.to_string())
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
    let mut vpn: Option<V2rayClient> = None;
    let (mut done, mut link_failure, mut failures) = (false, None, Vec::new());
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
            "LINK" | "PROXY" => {
                let target = if word == "LINK" {
                    parse_vless_ws(rest)
                } else {
                    let parts: Vec<&str> = rest.split(' ').collect();
                    match parts.as_slice() {
                        [uuid, port, path] => Ok(VlessWs {
                            uuid: (*uuid).to_owned(),
                            port: port.parse().unwrap_or(0),
                            path: (*path).to_owned(),
                        }),
                        _ => Err(format!("bad PROXY line: {rest}")),
                    }
                };
                let answer = match target {
                    Ok(t) => match proxy_download(&files, &t).await {
                        Ok(client) => {
                            vpn = Some(client);
                            "OK".to_owned()
                        }
                        Err(e) => format!("ERR {e}"),
                    },
                    Err(e) => format!("ERR {e}"),
                };
                reply(answer);
            }
            "LINKFAIL" => link_failure = Some(rest.to_owned()),
            "DISABLED" => {
                let client = vpn.as_ref().expect("a VPN client from the link step");
                wait_for("the disabled client to be refused", LONG, || async {
                    client.fetch(files.port, 1000).await.is_err().then_some(())
                })
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
    drop(agent);
    assert!(
        status.success() && done && failures.is_empty(),
        "the browser run failed: {failures:?}\ncontroller log:\n{}",
        ctl.output.text()
    );
    assert!(shots_dir.is_some(), "no screenshots were written");
    assert!(
        link_failure.is_none(),
        "the client page showed no share link ({}); the rest of the flow passed with the \
         client's UUID read from the page instead",
        link_failure.unwrap_or_default()
    );
}
