//! The browser panel in real headless Chromium (Playwright, `tests/browser/panel.mjs`)
//! against a real controller, a real agent and the v2ray core: log in, add a server, run the
//! enrollment command the page shows, watch it come online without a reload, create a
//! VLESS+WebSocket inbound and a client, set the server's public address, proxy a download
//! through the link the page shows (which must carry that address), watch the client's
//! traffic grow, disable it, revoke the server; plus the login error, form validation errors,
//! two-factor login and screenshots of every page at desktop and phone width.
//!
//! The script asks this side to act through lines on its stdout and waits for the answer on
//! its stdin (see the top of `panel.mjs`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use xfleet_tests::links;
use xfleet_tests::proxy::{pattern, v2ray_available, FileServer, V2rayClient};
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
        .env("SECOND_PORT", free_port().to_string())
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
}
