//! Processes and helpers for the real-core tests: the destination HTTP server, a SOCKS5
//! client, `v2ray` processes (killed on drop) and their configs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::testutil::TempDir;
use crate::xray_api::CoreApi;

/// Served by [`Destination`]; long enough that downlink counters clearly move.
const BODY: &str = "xfleet through the core\n";
const BODY_REPEAT: usize = 64;
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn body() -> String {
    BODY.repeat(BODY_REPEAT)
}

/// The `v2ray` binary on `PATH`, or `None` (with the reason printed) when it is missing.
pub fn v2ray_or_skip(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("v2ray"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must provide the v2ray binary for the core API tests"
        );
        eprintln!("skipping {test}: no v2ray binary on PATH (apt install v2ray)");
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns `Some`; panics with `what` after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_listening(port: u16) {
    wait_for(&format!("127.0.0.1:{port} to accept"), || async {
        TcpStream::connect(("127.0.0.1", port)).await.ok().map(drop)
    })
    .await;
}

/// A plain HTTP server on loopback answering every request with [`body`].
pub struct Destination {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Destination {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = body();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { port, task }
    }

    fn request(&self) -> String {
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends the HTTP request on `stream` and returns the body, or an error when the answer is
/// not the expected one (a refused user shows up as a closed or silent connection).
pub async fn http_get(mut stream: TcpStream, destination: &Destination) -> Result<(), String> {
    stream
        .write_all(destination.request().as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    match response.split_once("\r\n\r\n") {
        Some((head, got)) if head.starts_with("HTTP/1.1 200") && got == body() => Ok(()),
        _ => Err(format!("unexpected answer: {:?}", truncate(&response))),
    }
}

fn truncate(text: &str) -> &str {
    &text[..text.len().min(120)]
}

/// Fetches [`body`] from `destination` through the SOCKS5 proxy on `socks_port` (no auth,
/// CONNECT to an IPv4 address). Gives up after 10 s.
pub async fn fetch_via_socks(socks_port: u16, destination: &Destination) -> Result<(), String> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", socks_port))
            .await
            .map_err(|e| e.to_string())?;
        let io = |e: std::io::Error| e.to_string();
        stream.write_all(&[5, 1, 0]).await.map_err(io)?;
        let mut choice = [0u8; 2];
        stream.read_exact(&mut choice).await.map_err(io)?;
        if choice != [5, 0] {
            return Err(format!("socks method refused: {choice:?}"));
        }
        let [hi, lo] = destination.port.to_be_bytes();
        stream
            .write_all(&[5, 1, 0, 1, 127, 0, 0, 1, hi, lo])
            .await
            .map_err(io)?;
        let mut reply = [0u8; 10];
        stream.read_exact(&mut reply).await.map_err(io)?;
        if reply[1] != 0 {
            return Err(format!("socks connect refused: {}", reply[1]));
        }
        http_get(stream, destination).await
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer within 10 s".into()))
}

/// One `v2ray` process, killed when dropped; its output goes to a log file in its directory.
pub struct Core {
    _process: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Core {
    /// Starts `v2ray -config` with `config` and waits until every port in `ports` accepts.
    pub async fn start(bin: &Path, label: &str, config: &Value, ports: &[u16]) -> Self {
        let dir = TempDir::new(label);
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log = dir.path().join("core.log");
        let out = std::fs::File::create(&log).unwrap();
        let process = Command::new(bin)
            .arg("-config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let core = Self {
            _process: process,
            log,
            _dir: dir,
        };
        for port in ports {
            tokio::select! {
                _ = wait_listening(*port) => {}
                _ = tokio::time::sleep(DEADLINE) => panic!("{label} did not listen on {port}:\n{}", core.log()),
            }
        }
        core
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A server core: the API on `api_port` plus `inbounds`, with user and inbound counters on.
/// A short handshake timeout makes a refused user a closed connection within seconds rather
/// than a silent one.
pub fn server_config(api_port: u16, inbounds: Vec<Value>) -> Value {
    let mut all = vec![json!({
        "tag": "api", "listen": "127.0.0.1", "port": api_port,
        "protocol": "dokodemo-door", "settings": {"address": "127.0.0.1"}
    })];
    all.extend(inbounds);
    json!({
        "log": {"loglevel": "warning"},
        "api": {"tag": "api", "services": ["HandlerService", "StatsService"]},
        "stats": {},
        "policy": {
            "levels": {"0": {"statsUserUplink": true, "statsUserDownlink": true, "handshake": 2}},
            "system": {
                "statsInboundUplink": true, "statsInboundDownlink": true,
                "statsOutboundUplink": true, "statsOutboundDownlink": true
            }
        },
        "inbounds": all,
        "outbounds": [{"tag": "direct", "protocol": "freedom"}],
        "routing": {"rules": [{"type": "field", "inboundTag": ["api"], "outboundTag": "api"}]}
    })
}

/// A client core: socks inbound `i` on `socks_ports[i]` goes out through `outbounds[i]`.
pub fn client_config(socks_ports: &[u16], outbounds: Vec<Value>) -> Value {
    let inbounds: Vec<Value> = socks_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            json!({"tag": format!("socks-{i}"), "listen": "127.0.0.1", "port": port,
                   "protocol": "socks", "settings": {"auth": "noauth"}})
        })
        .collect();
    let rules: Vec<Value> = (0..outbounds.len())
        .map(|i| json!({"type": "field", "inboundTag": [format!("socks-{i}")], "outboundTag": format!("out-{i}")}))
        .collect();
    let outbounds: Vec<Value> = outbounds
        .into_iter()
        .enumerate()
        .map(|(i, mut outbound)| {
            outbound["tag"] = json!(format!("out-{i}"));
            outbound
        })
        .collect();
    json!({
        "log": {"loglevel": "warning"},
        "inbounds": inbounds,
        "outbounds": outbounds,
        "routing": {"rules": rules}
    })
}

pub fn counter(stats: &[(String, i64)], name: &str) -> i64 {
    stats
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, value)| *value)
}

/// Waits until the counter `name` is above zero.
pub async fn wait_counter(api: &CoreApi, name: &str) -> i64 {
    wait_for(&format!("{name} > 0"), || async {
        let stats = api.query_stats("", false).await.unwrap();
        Some(counter(&stats, name)).filter(|value| *value > 0)
    })
    .await
}
