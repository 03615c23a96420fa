//! The panel listener over HTTPS: from `panel_cert_file`/`panel_key_file`, or from 3x-ui's
//! `webCertFile`/`webKeyFile` settings at the next start. A client trusting only the test CA
//! gets the login page and logs in through the 3x-ui API with a `Secure` cookie; plain HTTP
//! on the port gets no page; the local CLI keeps working; files that cannot serve TLS stop
//! the start with the file and the reason.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use xfleet_tests::{
    bin, free_port, output_text, read_json, Controller, ControllerOptions, TempDir,
};

/// A CA of the test's own and a certificate it signed for `localhost` and 127.0.0.1:
/// (ca_pem, cert_pem, key_pem).
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// Writes the certificate and key; returns their paths.
fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("panel.crt"), dir.join("panel.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key)
}

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Answer {
    fn cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

/// One HTTPS request to 127.0.0.1:`port` as `localhost`, trusting only `ca_pem`.
async fn https(
    port: u16,
    ca_pem: &str,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<(&str, &str)>,
) -> Answer {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(xfleet_tests::raw::tls(ca_pem, None))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS with the panel, trusting only the test CA");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("localhost:{port}"))
        .header("cookie", cookie);
    if let Some((content_type, _)) = body {
        req = req.header("content-type", content_type);
    }
    let body = Full::new(Bytes::from(body.map_or("", |(_, b)| b).to_owned()));
    let resp = sender.send_request(req.body(body).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// What a plain HTTP request to the port gets back before the connection ends.
fn plain_http(port: u16) -> String {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

fn tls_env(cert: &Path, key: &Path) -> Vec<(String, String)> {
    vec![
        ("XFLEET_PANEL_CERT_FILE".into(), cert.display().to_string()),
        ("XFLEET_PANEL_KEY_FILE".into(), key.display().to_string()),
    ]
}

/// Checks a controller serving HTTPS on its panel port: login page, 3x-ui login with a
/// `Secure` cookie, no page for plain HTTP, run.json and the CLI.
async fn assert_serves_https(ctl: &Controller, ca_pem: &str) {
    let port = ctl.panel_port;
    let run = read_json(&ctl.dir.path().join("run.json")).unwrap();
    assert_eq!(run["panel_url"], json!(format!("https://127.0.0.1:{port}")));

    let login = https(port, ca_pem, "GET", "/", "", None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("id=\"login-form\""), "{}", login.body);

    let form = format!("username=admin&password={}", ctl.admin_password);
    let form = ("application/x-www-form-urlencoded", form.as_str());
    let xui = https(port, ca_pem, "POST", "/login", "", Some(form)).await;
    let answer: Value = serde_json::from_str(&xui.body).unwrap();
    assert_eq!(answer["success"], json!(true), "{}", xui.body);
    let session = xui
        .cookies()
        .into_iter()
        .find(|c| c.contains("HttpOnly"))
        .unwrap_or_else(|| panic!("no session cookie: {:?}", xui.cookies()))
        .to_owned();
    assert!(session.contains("; Secure"), "{session}");

    // The panel's own login too; its settings page shows where the certificate came from.
    let login = json!({"username": "admin", "password": ctl.admin_password}).to_string();
    let native = https(
        port,
        ca_pem,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(("application/json", &login)),
    )
    .await;
    assert_eq!(native.status, 200, "{}", native.body);
    let session = native
        .cookies()
        .first()
        .expect("a session cookie")
        .to_string();
    assert!(session.contains("; Secure"), "{session}");
    let cookie = session.split(';').next().unwrap().to_owned();
    let page = https(port, ca_pem, "GET", "/panel/settings", &cookie, None).await;
    assert!(page.body.contains("\"panel_tls\":{"), "{}", page.body);

    let plain = plain_http(port);
    assert!(
        !plain.contains("HTTP/1.") && !plain.contains("login-form"),
        "plain HTTP got an answer: {plain:?}"
    );

    // The local CLI reaches the panel over TLS through run.json.
    let servers = ctl.api().ok("GET", "/api/v1/servers", None).await;
    assert!(servers.is_array(), "{servers}");
    let health = Command::new(bin("xfleet"))
        .arg("--data-dir")
        .arg(ctl.dir.path())
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(health.status.success(), "{}", output_text(&health));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_serves_https_from_the_configured_files() {
    let (ca, cert, key) = test_pki();
    let files = TempDir::new("panel-tls");
    let (cert_file, key_file) = write_pair(files.path(), &cert, &key);
    let ctl = Controller::start(ControllerOptions {
        extra_env: tls_env(&cert_file, &key_file),
        ..Default::default()
    })
    .await;
    assert_serves_https(&ctl, &ca).await;

    // A client that does not trust the test CA is refused.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ctl.panel_port))
        .await
        .unwrap();
    let (other_ca, _, _) = test_pki();
    let refused = tokio_rustls::TlsConnector::from(xfleet_tests::raw::tls(&other_ca, None))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(
        refused.is_err(),
        "a client of another CA accepted the panel"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_3xui_certificate_settings_apply_at_the_next_start() {
    let (ca, cert, key) = test_pki();
    let files = TempDir::new("panel-tls");
    let (cert_file, key_file) = write_pair(files.path(), &cert, &key);
    let mut ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();

    // Files that would stop the next start are refused when saved, next to the field.
    let missing = files.path().join("missing.crt");
    let err = api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"webCertFile": missing.display().to_string(),
                "webKeyFile": key_file.display().to_string()})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("webCertFile") && err.contains("missing.crt"),
        "{err}"
    );
    let err = api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"webCertFile": cert_file.display().to_string()})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("webKeyFile"), "{err}");
    let settings = api.ok("GET", "/api/v1/settings", None).await;
    assert!(settings.get("webCertFile").is_none(), "{settings}");

    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"webCertFile": cert_file.display().to_string(),
            "webKeyFile": key_file.display().to_string()})),
    )
    .await;
    // Still plain HTTP until the next start.
    let run = read_json(&ctl.dir.path().join("run.json")).unwrap();
    assert!(run["panel_url"].as_str().unwrap().starts_with("http://"));

    ctl.restart().await;
    assert_serves_https(&ctl, &ca).await;
}

/// Runs `xfleet run` with these panel files; it must exit on its own with an error.
fn failed_start(cert: &Path, key: &Path) -> String {
    let dir = TempDir::new("ctl-bad-tls");
    let mut child = Command::new(bin("xfleet"))
        .arg("run")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--panel-listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--gateway-listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--no-local-server")
        .env("XFLEET_SUB_PORT", free_port().to_string())
        .env("XFLEET_SUB_LISTEN", "127.0.0.1")
        .envs(tls_env(cert, key))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the controller started with unusable panel TLS files");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        !dir.path().join("run.json").exists(),
        "run.json written by a failed start"
    );
    output_text(&out)
}

#[test]
fn unusable_panel_tls_files_stop_the_start() {
    let (_, cert, key) = test_pki();
    let files = TempDir::new("panel-tls");
    let (cert_file, key_file) = write_pair(files.path(), &cert, &key);

    let missing = files.path().join("nope.crt");
    let text = failed_start(&missing, &key_file);
    assert!(
        text.contains("panel TLS")
            && text.contains("panel_cert_file")
            && text.contains(&missing.display().to_string())
            && text.contains("No such file"),
        "{text}"
    );

    let garbage = files.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let text = failed_start(&garbage, &key_file);
    assert!(
        text.contains(&garbage.display().to_string()) && text.contains("no CERTIFICATE"),
        "{text}"
    );

    // A key of another certificate.
    let (_, _, other_key) = test_pki();
    let wrong_key = files.path().join("other.key");
    std::fs::write(&wrong_key, other_key).unwrap();
    let text = failed_start(&cert_file, &wrong_key);
    assert!(
        text.contains(&wrong_key.display().to_string()) && text.contains("cannot serve TLS"),
        "{text}"
    );
}
