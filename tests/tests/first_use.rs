//! What a new operator meets in the first hour, end to end against the real binaries and
//! the way an operator sees it (the API, the CLI, the logs); each test names one promise.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use xfleet_common::protocol::{Frame, Hello, SUPPORTED_VERSIONS};
use xfleet_controller::cli::request;
use xfleet_tests::{
    bin, free_port, install, output_text, raw, wait_for, Agent, Controller, ControllerOptions,
    TempDir,
};

const LONG: Duration = Duration::from_secs(60);

async fn enrolled_online(ctl: &Controller, name: &str) -> (i64, Agent) {
    let (id, token) = ctl.add_server(name).await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    (id, agent)
}

/// A stopped agent (SIGTERM, as systemd stops it) says goodbye, and its server shows
/// offline at once, well inside a long grace period; a connection lost without a goodbye
/// (kill -9) keeps the grace period: disconnected, but not offline yet.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_is_offline_at_once_a_lost_one_after_the_grace() {
    let ctl = Controller::start(ControllerOptions {
        offline_grace_secs: 3600,
        ..ControllerOptions::default()
    })
    .await;
    let (id, mut agent) = enrolled_online(&ctl, "stops").await;

    assert_eq!(agent.terminate(LONG).await, Some(0), "a clean exit");
    let server = ctl.wait_status(id, "offline", LONG).await;
    let why = server["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("the agent is stopping"), "{server}");

    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    agent.kill9();
    let server = wait_for(
        "the controller to see the connection gone",
        LONG,
        || async {
            let s = ctl.server(id).await;
            (s["connected"] == json!(false)).then_some(s)
        },
    )
    .await;
    assert_eq!(
        server["status"],
        json!("online"),
        "a silent loss waits out the grace period: {server}"
    );
}

/// A failed task shows its code once: the row keeps the code and the agent's message apart,
/// so `code: message` is not stored inside the message.
#[tokio::test(flavor = "multi_thread")]
async fn task_errors_carry_their_code_once() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, _agent) = enrolled_online(&ctl, "tasks").await;

    // An error a task ends with (a geo file nobody has a source for), whatever its code. Unknown methods and unreadable bodies no longer get this far: the API refuses
    // them (`accepted_input::tasks_and_fleet_calls_take_only_what_agents_answer`).
    let refused = ctl
        .finished_task(id, "geo.update", json!({"files": ["no-such.dat"]}))
        .await;
    assert_eq!(refused["status"], json!("failed"), "{refused}");
    let code = refused["error"]["code"].as_str().unwrap();
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.starts_with(&format!("{code}:")),
        "the message repeats the code: {refused}"
    );
}

/// Reading from an agent (the core log the panel follows every 2 s, system stats, the
/// agent's facts, the core's version) writes no audit entry; a call that changes something
/// still does.
#[tokio::test(flavor = "multi_thread")]
async fn reading_from_an_agent_writes_no_audit_entry() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, _agent) = enrolled_online(&ctl, "reads").await;
    let api = ctl.api();
    for _ in 0..3 {
        for method in ["core.logs", "system.stats", "agent.info", "core.version"] {
            // Whether the agent has a core or not, the call reads only.
            let _ = api.agent_call(id, method, json!({})).await;
        }
    }
    let _ = api.agent_call(id, "core.stop", json!({})).await;
    let audit = api.ok("GET", "/api/v1/audit?limit=1000", None).await;
    let calls: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("server.call"))
        .map(|e| e["details"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(calls.len(), 1, "one audited call, the stop: {calls:?}");
    assert!(calls[0].contains("core.stop"), "{calls:?}");
}

/// Logs written to a pipe (journald, a file, this test) carry no ANSI colour codes, from
/// the controller or the agent.
#[tokio::test(flavor = "multi_thread")]
async fn logs_in_a_pipe_have_no_colour_codes() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (_, agent) = enrolled_online(&ctl, "plain").await;
    wait_for("the agent to log its connection", LONG, || async {
        agent
            .output
            .contains("connected to the controller")
            .then_some(())
    })
    .await;
    assert!(ctl.output.contains("agent connected"));
    for (who, text) in [
        ("xfleet", ctl.output.text()),
        ("xfleet-agent", agent.output.text()),
    ] {
        assert!(!text.contains('\x1b'), "{who} wrote escape codes:\n{text}");
    }
}

/// Runs `xfleet` with `args` in `cwd`, without `XFLEET_*` from the test's environment;
/// returns success and the output.
fn xfleet_in(cwd: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut cmd = Command::new(bin("xfleet"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("XFLEET_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd.spawn().expect("run xfleet");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), output_text(&out))
}

/// Without `--data-dir` the CLI finds the running controller's data directory
/// (`./xfleet-data` here; `/var/lib/xfleet`, the systemd unit's, is the other place it
/// looks), and when there is none it names the places it looked.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_finds_the_data_directory_or_says_where_it_looked() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.add_server("found").await;
    let cwd = TempDir::new("cli-cwd");

    let (ok, text) = xfleet_in(cwd.path(), &["server", "list"], "");
    assert!(!ok, "{text}");
    assert!(
        text.contains("./xfleet-data") && text.contains("/var/lib/xfleet"),
        "the error names where it looked: {text}"
    );
    assert!(text.contains("--data-dir"), "{text}");

    std::os::unix::fs::symlink(ctl.dir.path(), cwd.path().join("xfleet-data")).unwrap();
    let (ok, text) = xfleet_in(cwd.path(), &["server", "list"], "");
    assert!(ok && text.contains("found"), "{text}");
}

/// Logs in through the native API; the session cookie, or the HTTP status of a refusal.
async fn login(ctl: &Controller, username: &str, password: &str) -> Result<String, u16> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ctl.panel_port))
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let body = json!({"username": username, "password": password}).to_string();
    let req = hyper::Request::post("/api/v1/auth/login")
        .header("host", "x")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    if resp.status() != 200 {
        return Err(resp.status().as_u16());
    }
    Ok(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned())
}

async fn me_status(ctl: &Controller, cookie: &str) -> u16 {
    request(
        &ctl.panel_url(),
        "GET",
        "/api/v1/auth/me",
        &[("cookie", cookie)],
        None,
    )
    .await
    .unwrap()
    .0
}

/// `xfleet admin reset-password` sets a new admin password from the host, with the
/// controller running (its sessions end at once) or stopped; it reads the password from
/// stdin or a file, or generates one and prints it once; it prints no password it was given,
/// refuses a too short one without changing anything, and is in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_password_is_reset_from_the_host() {
    let mut ctl = Controller::start(ControllerOptions::default()).await;
    let dir = ctl.dir.path().to_string_lossy().into_owned();
    let cwd = TempDir::new("reset-cwd");
    let reset = |extra: &[&str], stdin: &str| {
        let mut args = vec!["--data-dir", &dir, "admin", "reset-password"];
        args.extend_from_slice(extra);
        xfleet_in(cwd.path(), &args, stdin)
    };
    let old_session = login(&ctl, "admin", &ctl.admin_password).await.unwrap();
    assert_eq!(me_status(&ctl, &old_session).await, 200);

    let (ok, text) = reset(&[], "short\n");
    assert!(!ok && text.contains("at least 8 characters"), "{text}");
    assert_eq!(me_status(&ctl, &old_session).await, 200, "nothing changed");

    // Running controller, password on stdin.
    let (ok, text) = reset(&[], "first new password\n");
    assert!(ok, "{text}");
    assert!(!text.contains("first new password"), "echoed: {text}");
    assert!(text.contains("1 session(s)"), "{text}");
    assert_eq!(
        me_status(&ctl, &old_session).await,
        401,
        "the session ended"
    );
    assert_eq!(login(&ctl, "admin", &ctl.admin_password).await, Err(403));
    login(&ctl, "admin", "first new password").await.unwrap();

    // Generated: printed once, and it works.
    let (ok, text) = reset(&["--generate"], "");
    assert!(ok, "{text}");
    let generated = text
        .lines()
        .find_map(|l| l.strip_prefix("New password: "))
        .expect("the generated password is printed")
        .trim()
        .to_owned();
    login(&ctl, "admin", &generated).await.unwrap();

    // Stopped controller, password from a file, unknown account refused.
    assert_eq!(ctl.terminate(LONG), Some(0));
    let file = cwd.path().join("password");
    std::fs::write(&file, "from a file 123\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let (ok, text) = reset(&["--username", "nobody", "--password-file", &file], "");
    assert!(!ok && text.contains("no admin account `nobody`"), "{text}");
    let (ok, text) = reset(&["--username", "admin", "--password-file", &file], "");
    assert!(ok && !text.contains("from a file 123"), "{text}");
    ctl.restart().await;
    assert_eq!(login(&ctl, "admin", &generated).await, Err(403));
    login(&ctl, "admin", "from a file 123").await.unwrap();

    let audit = ctl.api().ok("GET", "/api/v1/audit?limit=1000", None).await;
    let resets: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("auth.password_reset"))
        .collect();
    assert_eq!(resets.len(), 3, "{audit}");
    for entry in resets {
        assert_eq!(entry["actor"], json!("cli"), "{entry}");
        let details = entry["details"].as_str().unwrap();
        assert!(details.contains("\"username\":\"admin\""), "{details}");
        for secret in ["first new password", &generated, "from a file 123"] {
            assert!(!details.contains(secret), "{details}");
        }
    }
}

/// After a revoke, the new enrollment command the controller gives carries the `--force`
/// the agent demands to replace its old enrollment, and run as given on that host it brings
/// the server back; a server never enrolled gets the plain command.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_enrollment_after_a_revoke_works_as_given() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (id, token) = ctl.add_server("again").await;
    let mut agent = Agent::enroll(&token);
    // Refused after the revoke, the agent dials again at its backoff cap: a short one here.
    agent.reconnect_within(200, 1000);
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    api.ok("POST", &format!("/api/v1/servers/{id}/revoke"), None)
        .await;
    wait_for("the agent to be refused", LONG, || async {
        agent.output.contains("has been revoked").then_some(())
    })
    .await;
    ctl.wait_status(id, "offline", LONG).await;

    let t = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/enrollment-tokens"),
            None,
        )
        .await;
    let command = t["command"].as_str().unwrap();
    assert_eq!(t["replaces_enrollment"], json!(true), "{t}");
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(
        args[..3],
        ["xfleet-agent", "enroll", "--force"],
        "{command}"
    );
    let out = Command::new(bin("xfleet-agent"))
        .args(&args[1..])
        .arg("--config-dir")
        .arg(&agent.config_dir)
        .arg("--data-dir")
        .arg(&agent.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    // The running agent, refused until now, dials again with the new certificate.
    ctl.wait_status(id, "online", LONG).await;
    assert!(agent.pid().is_some(), "the same agent process");

    let (fresh, _) = ctl.add_server("fresh").await;
    let t = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{fresh}/enrollment-tokens"),
            None,
        )
        .await;
    assert_eq!(t["replaces_enrollment"], json!(false));
    assert!(t["command"]
        .as_str()
        .unwrap()
        .starts_with("xfleet-agent enroll --token "));
}

/// Share links say where they point and warn while no public address is known: with only
/// a host name from the agent, the server view and the client's links carry a warning;
/// addresses the agent reports reachable are used without one, and the operator's public
/// address comes first.
#[tokio::test(flavor = "multi_thread")]
async fn share_links_warn_while_no_public_address_is_known() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let (id, token) = ctl.add_server("edge").await;
    let agent = Agent::enroll(&token);
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"port": free_port(), "protocol": "vless",
                "settings": {"decryption": "none"}})),
        )
        .await;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "dora", "inboundIds": [inbound["id"]]})),
    )
    .await;

    // The agent's connection, by hand: what its Hello reports is the point here.
    let connect_as = |addresses: Vec<String>| {
        let tls = raw::tls(&agent.ca_pem(), Some((&agent.cert_pem(), &agent.key_pem())));
        let port = ctl.gateway_port;
        async move {
            let mut ws = raw::connect(port, tls).await.unwrap();
            let hello = Hello {
                agent_version: "test".into(),
                protocol_versions: SUPPORTED_VERSIONS.to_vec(),
                server_id: id,
                hostname: "vm".into(),
                public_addresses: addresses,
                ..Default::default()
            };
            let answer = raw::send_hello(&mut ws, hello).await;
            assert!(matches!(answer, Frame::Welcome(_)), "{answer:?}");
            ws
        }
    };
    let links = || async { api.ok("GET", "/api/v1/clients/dora/links", None).await };

    // The facts of a Hello are stored just after the Welcome.
    let ws = connect_as(Vec::new()).await;
    let server = wait_for("the agent's host name", LONG, || async {
        let s = ctl.server(id).await;
        (s["hostname"] == json!("vm")).then_some(s)
    })
    .await;
    assert_eq!(
        (&server["link_host"], &server["link_host_source"]),
        (&json!("vm"), &json!("hostname")),
        "{server}"
    );
    let warning = server["link_warning"].as_str().expect("a warning");
    assert!(
        warning.contains("No public address") && warning.contains("`vm`"),
        "{warning}"
    );
    let l = links().await;
    assert_eq!(l["warnings"], json!([warning]), "{l}");
    assert!(
        l["links"][0]["url"].as_str().unwrap().contains("@vm:"),
        "{l}"
    );
    drop(ws);

    let _ws = connect_as(vec!["198.51.100.7".into(), "2001:db8::7".into()]).await;
    let server = wait_for("the reported addresses", LONG, || async {
        let s = ctl.server(id).await;
        (s["reported_addresses"] == json!(["198.51.100.7", "2001:db8::7"])).then_some(s)
    })
    .await;
    assert_eq!(
        (&server["link_host"], &server["link_host_source"]),
        (&json!("198.51.100.7"), &json!("agent")),
        "{server}"
    );
    assert_eq!(server["link_warning"], Value::Null);
    let l = links().await;
    assert_eq!(l["warnings"], json!([]), "{l}");
    assert!(
        l["links"][0]["url"]
            .as_str()
            .unwrap()
            .contains("@198.51.100.7:"),
        "{l}"
    );

    let server = api
        .ok(
            "PATCH",
            &format!("/api/v1/servers/{id}"),
            Some(json!({"public_address": "vpn.example.com"})),
        )
        .await;
    assert_eq!(
        (&server["link_host"], &server["link_host_source"]),
        (&json!("vpn.example.com"), &json!("public_address"))
    );
    let l = links().await;
    assert!(
        l["links"][0]["url"]
            .as_str()
            .unwrap()
            .contains("@vpn.example.com:"),
        "{l}"
    );
}

/// The install line `xfleet token create` prints, run on a fresh host (here a prefix, no
/// service), downloads the agent from the controller alone, checks it, installs and enrolls
/// it; the installed agent comes online. Run again, the line changes nothing and says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_install_line_makes_a_fresh_host_a_managed_one_once() {
    let catalog = install::agent_catalog();
    let ctl = install::controller_with_agents(&catalog, ControllerOptions::default()).await;
    let (id, _) = ctl.add_server("fresh-host").await;
    let line = install::install_line(&ctl, "fresh-host");
    assert!(line.contains("--pinnedpubkey 'sha256//"), "{line}");
    assert!(
        line.contains("/install.sh || echo ") && line.contains(") | sh -s -- --token xft1_"),
        "{line}"
    );

    let host = TempDir::new("host");
    let prefix = format!("--prefix {} --no-service", host.path().display());
    let out = install::run_line(&line, &prefix, &[]);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("enrolled as server {id}")), "{text}");
    let installed = install::Installed::under(host.path());
    assert_eq!(
        std::fs::read(&installed.binary).unwrap(),
        std::fs::read(bin("xfleet-agent")).unwrap(),
        "the binary the controller carries"
    );
    assert!(installed.config_dir.join("agent.toml").is_file());
    assert!(installed.data_dir.is_dir());

    let _agent = installed.start(&[]);
    ctl.wait_status(id, "online", LONG).await;

    let before = install::files_under(&host.path().join("etc"));
    let binary_before = std::fs::metadata(&installed.binary)
        .unwrap()
        .modified()
        .unwrap();
    let again = install::run_line(&line, &prefix, &[]);
    let text = output_text(&again);
    assert!(again.status.success(), "{text}");
    assert!(
        text.contains(&format!("already enrolled as server {id}"))
            && text.contains("nothing changed"),
        "{text}"
    );
    assert_eq!(install::files_under(&host.path().join("etc")), before);
    assert_eq!(
        std::fs::metadata(&installed.binary)
            .unwrap()
            .modified()
            .unwrap(),
        binary_before
    );
}

/// A used token and a line that pins another key both fail with a clear message and leave
/// nothing on the host: no binary, no half enrollment.
#[tokio::test(flavor = "multi_thread")]
async fn the_install_line_refuses_a_used_token_and_a_wrong_pin_leaving_nothing() {
    let catalog = install::agent_catalog();
    let ctl = install::controller_with_agents(&catalog, ControllerOptions::default()).await;
    ctl.add_server("second").await;
    let line = install::install_line(&ctl, "second");
    let token = line.rsplit(' ').next().unwrap();
    // Someone used the token first.
    let _first = Agent::enroll(token);

    let host = TempDir::new("host");
    let prefix = format!("--prefix {} --no-service", host.path().display());
    let out = install::run_line(&line, &prefix, &[]);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("this enrollment token has already been used"),
        "{text}"
    );
    assert!(text.contains("nothing was installed"), "{text}");
    assert_eq!(install::files_under(host.path()), vec![], "{text}");
    assert_eq!(
        std::fs::read_dir(host.path()).unwrap().count(),
        0,
        "no folders either"
    );

    // A service needs the default prefix and systemd: asked for one where it cannot be, the
    // line says why before it writes anything (the token stays unused).
    ctl.add_server("service").await;
    let line = install::install_line(&ctl, "service");
    let out = install::run_line(&line, &format!("--prefix {}", host.path().display()), &[]);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("a service is installed only with the default prefix; add --no-service"),
        "{text}"
    );
    if !Path::new("/run/systemd/system").exists() {
        let out = install::run_line(&line, "", &[]);
        let text = output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("this host does not run systemd; install with --no-service"),
            "{text}"
        );
    }
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);

    // A pin of another key: curl refuses the controller before a byte of the script runs.
    ctl.add_server("third").await;
    let line = install::install_line(&ctl, "third");
    let pin = install::pin_of(&line);
    let wrong = line.replace(&pin, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let out = install::run_line(&wrong, &prefix, &[]);
    let text = output_text(&out);
    assert!(
        text.contains("(90)") && text.contains("pinned public key"),
        "{text}"
    );
    assert!(!out.status.success(), "the line as a whole fails: {text}");
    assert!(
        text.contains("the installer could not be downloaded"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0, "{text}");
    // The installer itself pins the same key for the agent it downloads: fetched as is, then
    // pointed at another key, it stops with its own words and exit status.
    let script = curl_gateway(&ctl, &pin, "/install.sh");
    assert!(script.status.success());
    let script = String::from_utf8(script.stdout).unwrap();
    let tampered = script.replace(
        &format!("KEY_PIN='{pin}'"),
        "KEY_PIN='AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='",
    );
    assert_ne!(tampered, script, "the script carries the pin");
    let out = sh_script(
        &tampered,
        &[
            "--token",
            token,
            "--prefix",
            &host.path().display().to_string(),
            "--no-service",
        ],
        None,
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("did not present the key this install line pins"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0, "{text}");
}

/// The gateway serves the installer and the agent (with its SHA-256) to anyone holding the
/// pin, without a client certificate; an architecture it has no agent for gets a plain 404
/// the installer prints; a host of an architecture no agent is built for, a clear error; both
/// before anything is written; past the per-address limit the gateway answers 429. After a restart (a new
/// gateway certificate) the same pin still holds.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_hands_out_the_installer_and_agents_within_a_limit() {
    let catalog = install::agent_catalog();
    let mut ctl = install::controller_with_agents(
        &catalog,
        ControllerOptions {
            extra_env: vec![("XFLEET_INSTALL_REQUESTS_PER_MINUTE".into(), "7".into())],
            ..ControllerOptions::default()
        },
    )
    .await;
    ctl.add_server("probe").await;
    let line = install::install_line(&ctl, "probe");
    let pin = install::pin_of(&line);
    let arch = std::env::consts::ARCH;

    let digest = curl_gateway(&ctl, &pin, &format!("/v1/agent/latest/{arch}.sha256"));
    assert!(digest.status.success(), "{}", output_text(&digest));
    let want = xfleet_common::enrollment::sha256_hex(&std::fs::read(bin("xfleet-agent")).unwrap());
    assert!(String::from_utf8_lossy(&digest.stdout).starts_with(&want));

    let missing = curl_gateway(&ctl, &pin, "/v1/agent/latest/mips64");
    let body = String::from_utf8_lossy(&missing.stdout);
    assert!(
        body.starts_with("404 no agent for architecture 'mips64'"),
        "{body}"
    );

    // A host whose `uname -m` is not one agents are built for.
    let fake = TempDir::new("uname");
    std::fs::write(fake.path().join("uname"), "#!/bin/sh\necho riscv64\n").unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(fake.path().join("uname"))
        .status()
        .unwrap();
    let host = TempDir::new("host");
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = install::run_line(
        &line,
        &format!("--prefix {} --no-service", host.path().display()),
        &[("PATH", &path)],
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("unsupported architecture 'riscv64'"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);

    // An architecture agents are built for, which this controller carries none of: the
    // installer prints the controller's words.
    let other = if arch == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    std::fs::write(
        fake.path().join("uname"),
        format!("#!/bin/sh\necho {other}\n"),
    )
    .unwrap();
    let out = install::run_line(
        &line,
        &format!("--prefix {} --no-service", host.path().display()),
        &[("PATH", &path)],
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "answered HTTP 404: this controller carries no {other} agent"
        )),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);

    // 5 requests so far (the digest, the 404, two installers, one digest); the limit is 7.
    for _ in 0..2 {
        let out = curl_gateway(&ctl, &pin, "/install.sh");
        assert!(
            out.stdout.starts_with(b"#!/bin/sh\n"),
            "{}",
            output_text(&out)
        );
    }
    let limited = curl_gateway(&ctl, &pin, "/install.sh");
    let body = String::from_utf8_lossy(&limited.stdout);
    assert!(
        body.starts_with("429 too many install requests from this address"),
        "{body}"
    );

    ctl.restart().await;
    let script = curl_gateway(&ctl, &pin, "/install.sh");
    assert!(
        script.stdout.starts_with(b"#!/bin/sh\n"),
        "the line printed before the restart pins the key served after it: {}",
        output_text(&script)
    );
}

/// `curl -k --pinnedpubkey` against the controller's gateway, no client certificate: the
/// body, prefixed by the HTTP status and a space when it is not 200.
fn curl_gateway(ctl: &Controller, pin: &str, path: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "body=$(mktemp); code=$(curl -sS -k --pinnedpubkey 'sha256//{pin}' -o \"$body\" -w '%{{http_code}}' https://127.0.0.1:{}{path}) || exit $?; \
             [ \"$code\" = 200 ] || printf '%s ' \"$code\"; cat \"$body\"; rm -f \"$body\"",
            ctl.gateway_port
        ))
        .output()
        .unwrap()
}

/// Runs a script text with `sh -s -- ARGS`, as the install line does.
fn sh_script(script: &str, args: &[&str], env: Option<(&str, &str)>) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-s")
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The firewalled host, for real: a network namespace whose firewall (Debian's nftables)
/// drops every new inbound connection but the one VPN port the operator opened, reaching the
/// controller only outward. The install line runs in it, its agent enrolls and comes online,
/// takes an inbound and a client from the controller, and a v2ray client outside carries
/// traffic through the opened port to a target beside the controller; from outside, nothing
/// else on that host answers, not even the core's second inbound.
#[tokio::test(flavor = "multi_thread")]
async fn a_firewalled_outbound_only_host_is_managed_through_one_open_port() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let has_nft = Command::new("nft").arg("--version").output().is_ok();
    if !has_nft {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install the `nftables` package for the firewalled host test"
        );
        eprintln!("nft is not installed (apt-get install nftables): firewalled host test skipped");
        return;
    }
    let ns = match install::Netns::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("cannot make a network namespace ({why}): firewalled host test skipped");
            return;
        }
    };
    let vpn_port = free_port();
    let closed_port = free_port();
    ns.nft(&format!(
        "table inet host {{
            chain input {{
                type filter hook input priority 0; policy drop;
                ct state established,related accept
                iif lo accept
                tcp dport {vpn_port} accept
            }}
        }}"
    ))
    .expect("nftables rules");

    let catalog = install::agent_catalog();
    let ctl = install::controller_with_agents(
        &catalog,
        ControllerOptions {
            gateway_address: Some(ns.outside.clone()),
            ..ControllerOptions::default()
        },
    )
    .await;
    // The default template sends private ranges nowhere; the target beside the controller is
    // in one.
    let mut template = xfleet_tests::loopback_direct_template();
    template["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"type": "field", "ip": [format!("{}/32", ns.outside)], "outboundTag": "direct"}),
    );
    ctl.set_core_template(Some(&template)).await;
    let (id, _) = ctl.add_server("behind-nat").await;
    let line = install::install_line(&ctl, "behind-nat");
    assert!(line.contains(&format!("https://{}:", ns.outside)), "{line}");

    let host = TempDir::new("fw-host");
    let mut exec = ns.exec();
    exec.extend(["sh".into(), "-c".into()]);
    exec.push(format!(
        "{line} --prefix {} --no-service",
        host.path().display()
    ));
    let out = Command::new(&exec[0]).args(&exec[1..]).output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let installed = install::Installed::under(host.path());
    let _agent = installed.start(&ns.exec());
    ctl.wait_status(id, "online", LONG).await;

    // A target beside the controller, reachable from the host only outward.
    let target = tokio::net::TcpListener::bind((ns.outside.as_str(), 0))
        .await
        .unwrap();
    let target_port = target.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = target.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.0 200 OK\r\n\r\nthrough the one open port")
                    .await;
            });
        }
    });

    let api = ctl.api();
    let mut inbound_ids = Vec::new();
    for port in [vpn_port, closed_port] {
        let inbound = api
            .ok(
                "POST",
                &format!("/api/v1/servers/{id}/inbounds"),
                Some(json!({"port": port, "protocol": "vless",
                    "settings": {"decryption": "none"},
                    "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}})),
            )
            .await;
        inbound_ids.push(inbound["id"].clone());
    }
    let client = api
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "roamer", "inboundIds": inbound_ids})),
        )
        .await;
    let uuid = client["uuid"].as_str().unwrap();
    ctl.wait_applied(id, LONG).await;

    let mut outbound = xfleet_tests::proxy::outbound::vless_ws(vpn_port, uuid, "/ws");
    outbound["settings"]["vnext"][0]["address"] = json!(ns.inside);
    let vpn = xfleet_tests::proxy::V2rayClient::start(outbound).await;
    let body = wait_for("traffic through the open port", LONG, || async {
        let got = xfleet_tests::proxy::exchange_via_socks(
            vpn.socks_port,
            &ns.outside,
            target_port,
            b"GET / HTTP/1.0\r\n\r\n",
            Duration::from_secs(2),
        )
        .await
        .ok()?;
        let text = String::from_utf8_lossy(&got).into_owned();
        text.contains("through the one open port").then_some(text)
    })
    .await;
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");

    // From outside: the open port answers; every other port anything listens on inside (the
    // core's second inbound on all addresses, its API), SSH and the gateway's port do not.
    let answers = |port: u16| {
        let addr = format!("{}:{port}", ns.inside);
        async move {
            matches!(
                tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
                    .await,
                Ok(Ok(_))
            )
        }
    };
    assert!(answers(vpn_port).await, "the opened port answers");
    let listening = Command::new("ip")
        .args(["netns", "exec", &ns.name, "ss", "-Htln"])
        .output()
        .unwrap();
    let mut ports: Vec<u16> = String::from_utf8_lossy(&listening.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .filter(|p| *p != vpn_port)
        .collect();
    assert!(
        ports.contains(&closed_port),
        "the second inbound listens inside: {ports:?}"
    );
    ports.extend([22, ctl.gateway_port]);
    for port in ports {
        assert!(
            !answers(port).await,
            "port {port} of the host answered from outside"
        );
    }
}
