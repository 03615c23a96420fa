//! Real proxied traffic for end-to-end tests: a local HTTP server to fetch from, a real
//! `v2ray` process as the VPN client (SOCKS in, the protocol under test out), a small
//! SOCKS5 client, and a SOCKS5 server to chain outbounds to.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{free_port, wait_for, TempDir};

/// Whether the real core is installed. Without it, tests that need it are skipped with a
/// message, except under `CI=true`, where that is a failure.
pub fn v2ray_available() -> bool {
    let found = std::process::Command::new("v2ray")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install the `v2ray` package for the core tests"
        );
        eprintln!("v2ray is not installed (apt-get install v2ray): core test skipped");
    }
    found
}

/// Serves `GET /<n>` with `n` bytes of a fixed pattern; counts the bytes it sent.
pub struct FileServer {
    pub port: u16,
    pub sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req);
                    let n: usize = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.trim_start_matches('/').parse().ok())
                        .unwrap_or(0);
                    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\n\r\n");
                    let body = pattern(n);
                    if conn.write_all(head.as_bytes()).await.is_ok()
                        && conn.write_all(&body).await.is_ok()
                    {
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { port, sent, task }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A SOCKS5 server without authentication that relays `CONNECT`s and remembers the
/// destination port of each: the far end of an outbound chain.
pub struct SocksServer {
    pub port: u16,
    seen: Arc<std::sync::Mutex<Vec<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SocksServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let _ = Self::serve(conn, &record).await;
                });
            }
        });
        Self { port, seen, task }
    }

    /// Destination ports of the connections relayed so far.
    pub fn destinations(&self) -> Vec<u16> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve(
        mut conn: TcpStream,
        record: &std::sync::Mutex<Vec<u16>>,
    ) -> std::io::Result<()> {
        let mut greeting = [0u8; 2];
        conn.read_exact(&mut greeting).await?;
        let mut methods = vec![0u8; usize::from(greeting[1])];
        conn.read_exact(&mut methods).await?;
        conn.write_all(&[5, 0]).await?;
        let mut head = [0u8; 4];
        conn.read_exact(&mut head).await?;
        let host = match head[3] {
            1 => {
                let mut ip = [0u8; 4];
                conn.read_exact(&mut ip).await?;
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut len = [0u8; 1];
                conn.read_exact(&mut len).await?;
                let mut name = vec![0u8; usize::from(len[0])];
                conn.read_exact(&mut name).await?;
                String::from_utf8_lossy(&name).into_owned()
            }
            _ => return Err(std::io::Error::other("unsupported address type")),
        };
        let mut port = [0u8; 2];
        conn.read_exact(&mut port).await?;
        let port = u16::from_be_bytes(port);
        record.lock().unwrap().push(port);
        let Ok(mut target) = TcpStream::connect((host.as_str(), port)).await else {
            conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        };
        conn.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        tokio::io::copy_bidirectional(&mut conn, &mut target).await?;
        Ok(())
    }
}

impl Drop for SocksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bytes `GET /<n>` returns.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Opens `127.0.0.1:<target_port>` through a SOCKS5 proxy and sends `GET /<n>`.
async fn socks_get(socks_port: u16, target_port: u16, n: usize) -> std::io::Result<TcpStream> {
    let io = |m: &str| std::io::Error::other(m.to_owned());
    let mut s = TcpStream::connect(("127.0.0.1", socks_port)).await?;
    s.write_all(&[5, 1, 0]).await?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).await?;
    if reply != [5, 0] {
        return Err(io("socks: no acceptable auth"));
    }
    let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
    req.extend_from_slice(&target_port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 10];
    s.read_exact(&mut head).await?;
    if head[1] != 0 {
        return Err(io(&format!("socks: connect failed ({})", head[1])));
    }
    s.write_all(format!("GET /{n} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    Ok(s)
}

/// Fetches `http://127.0.0.1:<port>/<n>` through a SOCKS5 proxy; returns the body.
pub async fn fetch_via_socks(
    socks_port: u16,
    target_port: u16,
    n: usize,
) -> std::io::Result<Vec<u8>> {
    let io = |m: &str| std::io::Error::other(m.to_owned());
    let mut s = socks_get(socks_port, target_port, n).await?;
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .map_err(|_| io("fetch timed out"))??;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io("no HTTP answer through the proxy"))?;
    Ok(all[split + 4..].to_vec())
}

/// What comes back through a SOCKS5 proxy for `request` sent to `host:port`: an IPv4 or IPv6
/// address goes as one, anything else as a domain name the proxy's far end resolves. Reads
/// until the far side closes or nothing more arrives for `quiet`; an error means the proxy
/// refused the destination outright.
pub async fn exchange_via_socks(
    socks_port: u16,
    host: &str,
    port: u16,
    request: &[u8],
    quiet: Duration,
) -> std::io::Result<Vec<u8>> {
    let io = |m: &str| std::io::Error::other(m.to_owned());
    let mut s = TcpStream::connect(("127.0.0.1", socks_port)).await?;
    s.write_all(&[5, 1, 0]).await?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).await?;
    if reply != [5, 0] {
        return Err(io("socks: no acceptable auth"));
    }
    let mut req = vec![5, 1, 0];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            req.extend_from_slice(&[3, host.len() as u8]);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[1] != 0 {
        return Err(io(&format!("socks: connect failed ({})", head[1])));
    }
    let bound = match head[3] {
        1 => 4,
        4 => 16,
        _ => usize::from(s.read_u8().await?),
    };
    let mut rest = vec![0u8; bound + 2];
    s.read_exact(&mut rest).await?;
    s.write_all(request).await?;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(read) = tokio::time::timeout(quiet, s.read(&mut buf)).await {
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    Ok(all)
}

/// A download through a SOCKS5 proxy read at a bounded rate, so the connection stays open
/// for as long as the test needs; it ends when the far side closes it.
pub struct SlowDownload {
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowDownload {
    /// Starts `GET /<n>` and reads it at about `bytes_per_sec`.
    pub async fn start(
        socks_port: u16,
        target_port: u16,
        n: usize,
        bytes_per_sec: u64,
    ) -> std::io::Result<Self> {
        let mut s = socks_get(socks_port, target_port, n).await?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            let pause = Duration::from_secs_f64(buf.len() as f64 / bytes_per_sec as f64);
            while let Ok(read) = s.read(&mut buf).await {
                if read == 0 {
                    return;
                }
                counter.fetch_add(read as u64, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
            }
        });
        Ok(Self { received, task })
    }

    /// Bytes received so far (the HTTP head included).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    /// Whether the connection has ended.
    pub fn ended(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for SlowDownload {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A real `v2ray` process used as a VPN client: SOCKS on a local port, `outbound` out.
pub struct V2rayClient {
    pub socks_port: u16,
    child: Child,
    _dir: TempDir,
}

impl V2rayClient {
    pub async fn start(outbound: Value) -> Self {
        let socks_port = free_port();
        let config = json!({
            "log": {"loglevel": "warning"},
            "inbounds": [{"listen": "127.0.0.1", "port": socks_port, "protocol": "socks",
                          "settings": {"auth": "noauth", "udp": false}}],
            "outbounds": [outbound],
        });
        Self::with_config(config, socks_port).await
    }

    /// Runs a whole client config whose SOCKS inbound listens on `socks_port`.
    pub async fn with_config(config: Value, socks_port: u16) -> Self {
        let dir = TempDir::new("v2client");
        let path: PathBuf = dir.path().join("client.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let child = Command::new("v2ray")
            .arg("-config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("v2ray must be installed (Debian package `v2ray`)");
        wait_for(
            "the v2ray client to listen",
            Duration::from_secs(20),
            || async {
                TcpStream::connect(("127.0.0.1", socks_port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        Self {
            socks_port,
            child,
            _dir: dir,
        }
    }

    pub async fn fetch(&self, target_port: u16, n: usize) -> std::io::Result<Vec<u8>> {
        fetch_via_socks(self.socks_port, target_port, n).await
    }
}

impl Drop for V2rayClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Client outbounds for the protocols under test.
pub mod outbound {
    use serde_json::{json, Value};

    pub fn vmess_tcp(port: u16, id: &str) -> Value {
        json!({"protocol": "vmess", "settings": {"vnext": [{"address": "127.0.0.1", "port": port,
            "users": [{"id": id, "alterId": 0, "security": "aes-128-gcm"}]}]},
            "streamSettings": {"network": "tcp"}})
    }

    pub fn vless_ws(port: u16, id: &str, path: &str) -> Value {
        json!({"protocol": "vless", "settings": {"vnext": [{"address": "127.0.0.1", "port": port,
            "users": [{"id": id, "encryption": "none"}]}]},
            "streamSettings": {"network": "ws", "wsSettings": {"path": path}}})
    }

    pub fn trojan_tls(port: u16, password: &str, server_name: &str) -> Value {
        json!({"protocol": "trojan", "settings": {"servers": [{"address": "127.0.0.1", "port": port,
            "password": password}]},
            "streamSettings": {"network": "tcp", "security": "tls",
                "tlsSettings": {"serverName": server_name, "allowInsecure": true}}})
    }

    pub fn shadowsocks(port: u16, method: &str, password: &str) -> Value {
        json!({"protocol": "shadowsocks", "settings": {"servers": [{"address": "127.0.0.1",
            "port": port, "method": method, "password": password}]}})
    }
}
