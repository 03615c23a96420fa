//! Fixtures for end-to-end tests: the real `xfleet` and `xfleet-agent` binaries started on
//! ephemeral ports in temporary directories, killed and restarted at will, cleaned up on drop.

pub mod install;
pub mod layers;
pub mod links;
pub mod proxy;
pub mod python;
pub mod raw;
pub mod telegram;
pub mod update;
pub mod warp;
pub mod xui;
pub mod xui_fixture;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
pub use xfleet_controller::util::TempDir;

/// A built binary of this workspace (`cargo build --workspace --bins` puts them beside the
/// test executables' `deps/` folder).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// `target/<profile>/`: test executables live in its `deps/`, the binaries in it.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("profile dir");
    }
    dir.to_path_buf()
}

/// Waits until `check` returns `Some`, polling; panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP port that was free a moment ago (for services that must come back on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The core template of tests whose origins listen on loopback: the default one (Debian's
/// v2ray, no geo files) with `127.0.0.0/8` routed direct ahead of its rules, which block
/// loopback like every private range. The core's API port stays refused: that rule is forced
/// ahead of any template's.
pub fn loopback_direct_template() -> Value {
    let mut template =
        xfleet_common::xray::default_template(xfleet_common::xray::Flavour::V2ray, false);
    template["routing"]["rules"]
        .as_array_mut()
        .expect("the default template has rules")
        .insert(
            0,
            json!({"type": "field", "ip": ["127.0.0.0/8"], "outboundTag": "direct"}),
        );
    template
}

/// Collected output lines of a child process.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    fn capture(&self, stream: impl std::io::Read + Send + 'static, echo: &'static str) {
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if std::env::var_os("XFLEET_TEST_ECHO").is_some() {
                    eprintln!("[{echo}] {line}");
                }
                lines.lock().unwrap().push(line);
            }
        });
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Lines containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// Settings for a controller under test; short timers so tests are quick.
#[derive(Clone)]
pub struct ControllerOptions {
    pub database_url: Option<String>,
    pub heartbeat_secs: u64,
    pub offline_grace_secs: u64,
    pub cert_lifetime_secs: Option<u64>,
    /// Single-server mode. Off by default here, so a test's servers are the ones it adds.
    pub local_server: bool,
    pub extra_env: Vec<(String, String)>,
    /// More arguments for `xfleet run`.
    pub extra_args: Vec<String>,
    /// The address the agent gateway listens on and names in its certificate (its URL's
    /// host); 127.0.0.1 when not given.
    pub gateway_address: Option<String>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            database_url: None,
            heartbeat_secs: 1,
            offline_grace_secs: 2,
            cert_lifetime_secs: None,
            local_server: false,
            extra_env: Vec::new(),
            extra_args: Vec::new(),
            gateway_address: None,
        }
    }
}

/// A running `xfleet run`.
pub struct Controller {
    pub dir: TempDir,
    pub options: ControllerOptions,
    pub gateway_port: u16,
    pub panel_port: u16,
    /// The subscription listener (on 127.0.0.1).
    pub sub_port: u16,
    pub admin_password: String,
    pub output: Output,
    child: Option<Child>,
}

impl Controller {
    pub async fn start(options: ControllerOptions) -> Self {
        let mut c = Self {
            dir: TempDir::new("ctl"),
            options,
            gateway_port: free_port(),
            panel_port: free_port(),
            sub_port: free_port(),
            admin_password: String::new(),
            output: Output::default(),
            child: None,
        };
        c.spawn().await;
        let printed = c
            .output
            .text()
            .lines()
            .find_map(|l| Some(l.split("Password: ").nth(1)?.trim().to_owned()));
        c.admin_password = printed
            .or_else(|| c.admin_password_from_file())
            .expect("first start prints the admin password or writes it to its file");
        c
    }

    /// Another controller of the same fleet: its own data directory and ports, the same
    /// PostgreSQL database as `first` (whose admin account it shares).
    pub async fn join(first: &Controller, options: ControllerOptions) -> Self {
        assert!(
            options.database_url.is_some() && options.database_url == first.options.database_url,
            "controllers of one fleet share one PostgreSQL database"
        );
        let mut c = Self {
            dir: TempDir::new("ctl"),
            options,
            gateway_port: free_port(),
            panel_port: free_port(),
            sub_port: free_port(),
            admin_password: first.admin_password.clone(),
            output: Output::default(),
            child: None,
        };
        c.spawn().await;
        c
    }

    /// A controller on a data directory and database filled beforehand (by a restore), its
    /// agent gateway on `gateway_port` (where the restored agents dial): not a first start,
    /// so no admin password is printed.
    pub async fn start_on(dir: TempDir, options: ControllerOptions, gateway_port: u16) -> Self {
        let mut c = Self {
            dir,
            options,
            gateway_port,
            panel_port: free_port(),
            sub_port: free_port(),
            admin_password: String::new(),
            output: Output::default(),
            child: None,
        };
        c.spawn().await;
        c
    }

    /// The admin password from the file named by `--admin-password-file` or
    /// `XFLEET_ADMIN_PASSWORD_FILE`, when the test gave one.
    fn admin_password_from_file(&self) -> Option<String> {
        let from_args = self
            .options
            .extra_args
            .windows(2)
            .find(|w| w[0] == "--admin-password-file")
            .map(|w| w[1].clone());
        let from_env = self
            .options
            .extra_env
            .iter()
            .find(|(k, _)| k == "XFLEET_ADMIN_PASSWORD_FILE")
            .map(|(_, v)| v.clone());
        let text = std::fs::read_to_string(from_args.or(from_env)?).ok()?;
        Some(text.lines().next()?.to_owned())
    }

    async fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.dir.path().join("run.json"));
        let gateway = self
            .options
            .gateway_address
            .as_deref()
            .unwrap_or("127.0.0.1");
        let mut cmd = Command::new(bin("xfleet"));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--panel-listen")
            .arg(format!("127.0.0.1:{}", self.panel_port))
            .arg("--gateway-listen")
            .arg(format!("{gateway}:{}", self.gateway_port))
            .arg("--gateway-san")
            .arg(gateway)
            .env(
                "XFLEET_HEARTBEAT_SECS",
                self.options.heartbeat_secs.to_string(),
            )
            .env(
                "XFLEET_OFFLINE_GRACE_SECS",
                self.options.offline_grace_secs.to_string(),
            )
            .env("XFLEET_LAST_SEEN_FLUSH_SECS", "1")
            .env("XFLEET_SUB_LISTEN", "127.0.0.1")
            .env("XFLEET_SUB_PORT", self.sub_port.to_string())
            .env("XFLEET_LIMITS_CHECK_SECS", "1")
            .env("XFLEET_STATS_INTERVAL_SECS", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = &self.options.database_url {
            cmd.arg("--database-url").arg(url);
        }
        if !self.options.local_server {
            cmd.arg("--no-local-server");
        }
        if let Some(secs) = self.options.cert_lifetime_secs {
            cmd.env("XFLEET_CERT_LIFETIME_SECS", secs.to_string());
        }
        for (k, v) in &self.options.extra_env {
            cmd.env(k, v);
        }
        cmd.args(&self.options.extra_args);
        let mut child = cmd.spawn().expect("start xfleet");
        self.output.capture(child.stdout.take().unwrap(), "xfleet");
        self.output.capture(child.stderr.take().unwrap(), "xfleet");
        let pid = child.id();
        self.child = Some(child);
        // Started once it writes run.json; a controller that exits first, or never gets
        // there, fails the test with what it printed.
        let run_json = self.dir.path().join("run.json");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let info: Option<Value> = std::fs::read(&run_json)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if info.is_some_and(|i| i["pid"] == json!(pid)) {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "xfleet exited ({status}) before it started:\n{}",
                    self.output.text()
                );
            }
            if Instant::now() > deadline {
                panic!("xfleet did not start within 120 s:\n{}", self.output.text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no goodbye, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// SIGTERM, as systemd stops it; the exit code, or `None` if it did not exit in time
    /// (then it is killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn api(&self) -> Api {
        Api(
            xfleet_controller::cli::LocalApi::from_data_dir(self.dir.path())
                .expect("local API credentials"),
        )
    }

    pub fn panel_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.panel_port)
    }

    /// `xfleet --data-dir <this controller's> ARGS`: whether it succeeded, and all it printed.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(bin("xfleet"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), output_text(&out))
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ca.pem")).unwrap()
    }

    pub fn sub_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sub_port)
    }

    /// Sets the fleet's core template through the settings API; `None` goes back to the
    /// default. Every server gets a new revision: wait for it to be applied
    /// ([`Controller::wait_applied`]) before relying on the new routing.
    pub async fn set_core_template(&self, template: Option<&Value>) {
        let text = template.map(Value::to_string).unwrap_or_default();
        self.api()
            .ok(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"xrayTemplateConfig": text})),
            )
            .await;
    }

    /// For tests with origins on 127.0.0.1: routes loopback direct for every server
    /// ([`loopback_direct_template`]). Call it before servers are added, so their first state
    /// carries it; with servers already there, wait for their applied revision afterwards.
    pub async fn route_loopback_direct(&self) {
        self.set_core_template(Some(&loopback_direct_template()))
            .await;
    }

    /// Queues `operation` for `server` as a task and returns its row once it has ended
    /// (completed or failed).
    pub async fn finished_task(&self, server: i64, operation: &str, request: Value) -> Value {
        let api = self.api();
        let task = api
            .ok(
                "POST",
                &format!("/api/v1/servers/{server}/tasks"),
                Some(json!({"operation": operation, "request": request})),
            )
            .await;
        let id = task["id"].as_str().unwrap().to_owned();
        wait_for(
            &format!("task {operation} to end"),
            Duration::from_secs(60),
            || async {
                let t = api.ok("GET", &format!("/api/v1/tasks/{id}"), None).await;
                matches!(t["status"].as_str(), Some("completed" | "failed")).then_some(t)
            },
        )
        .await
    }

    /// Waits until the server has applied its latest revision; returns the server.
    pub async fn wait_applied(&self, id: i64, timeout: Duration) -> Value {
        let what = format!("server {id} to apply its latest revision");
        wait_for(&what, timeout, || async {
            let s = self.server(id).await;
            (s["applied_revision"] == s["revision"]).then_some(s)
        })
        .await
    }

    /// Adds a server, enrolls and starts its agent, and waits until it is online.
    pub async fn online_server(&self, name: &str) -> (i64, Agent) {
        let (id, token) = self.add_server(name).await;
        let mut agent = Agent::enroll(&token);
        agent.start();
        self.wait_status(id, "online", Duration::from_secs(60))
            .await;
        (id, agent)
    }

    /// A VLESS-over-WebSocket inbound (path `/ws`) on a free port of the server, named
    /// `remark` (none when empty), as created.
    pub async fn vless_ws_inbound(&self, server_id: i64, remark: &str) -> Value {
        let mut body = json!({"port": free_port(), "protocol": "vless",
            "settings": {"decryption": "none"},
            "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}});
        if !remark.is_empty() {
            body["remark"] = json!(remark);
        }
        self.api()
            .ok(
                "POST",
                &format!("/api/v1/servers/{server_id}/inbounds"),
                Some(body),
            )
            .await
    }

    /// A VLESS-over-WebSocket inbound (path `/ws`) on the server with one client, `email`,
    /// and a real v2ray client for it: the inbound as created and the client.
    pub async fn vless_ws_user(&self, server_id: i64, email: &str) -> (Value, proxy::V2rayClient) {
        let api = self.api();
        let inbound = self.vless_ws_inbound(server_id, "").await;
        let port = inbound["port"].as_u64().expect("the inbound's port") as u16;
        let client = api
            .ok(
                "POST",
                "/api/v1/clients",
                Some(json!({"email": email, "inboundIds": [inbound["id"]]})),
            )
            .await;
        let uuid = client["uuid"].as_str().expect("a VLESS client has a uuid");
        let v2 = proxy::V2rayClient::start(proxy::outbound::vless_ws(port, uuid, "/ws")).await;
        (inbound, v2)
    }

    /// Adds a server and returns its id and a fresh enrollment token.
    pub async fn add_server(&self, name: &str) -> (i64, String) {
        let api = self.api();
        let server = api
            .ok("POST", "/api/v1/servers", Some(json!({"name": name})))
            .await;
        let id = server["id"].as_i64().unwrap();
        (id, self.token(id).await)
    }

    pub async fn token(&self, server_id: i64) -> String {
        let t = self
            .api()
            .ok(
                "POST",
                &format!("/api/v1/servers/{server_id}/enrollment-tokens"),
                None,
            )
            .await;
        t["token"].as_str().unwrap().to_owned()
    }

    pub async fn server(&self, id: i64) -> Value {
        self.api()
            .ok("GET", &format!("/api/v1/servers/{id}"), None)
            .await
    }

    /// The fleet as the dashboard shows it: the first snapshot of the panel's event stream
    /// (`/api/v1/events`), read as the browser reads it.
    pub async fn dashboard(&self) -> Value {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let addr = format!("127.0.0.1:{}", self.panel_port);
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect to the panel");
        let request = format!(
            "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Accept: text/event-stream\r\nConnection: close\r\n\r\n",
            self.api().0.token
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut lines = tokio::io::BufReader::new(tcp).lines();
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                // Chunked framing puts sizes between lines; the snapshot is one `data:` line.
                if let Some(data) = line.strip_prefix("data: ") {
                    return serde_json::from_str(data).expect("a JSON snapshot");
                }
            }
            panic!("the event stream ended without a snapshot")
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("a snapshot within 30 s")
    }

    pub async fn wait_status(&self, id: i64, status: &str, timeout: Duration) -> Value {
        let what = format!("server {id} to be {status}");
        wait_for(&what, timeout, || async {
            let s = self.server(id).await;
            (s["status"] == json!(status)).then_some(s)
        })
        .await
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        // A local server's core would outlive a kill -9; a clean stop takes it down.
        if self.options.local_server {
            self.terminate(Duration::from_secs(10));
        }
        self.kill9();
    }
}

/// The controller's native API as the local admin.
pub struct Api(pub xfleet_controller::cli::LocalApi);

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.0.call(method, path, body).await
    }

    /// Like [`Api::call`] but panics on failure.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Calls an agent method through the controller.
    pub async fn agent_call(
        &self,
        server_id: i64,
        method: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        self.call(
            "POST",
            &format!("/api/v1/servers/{server_id}/call"),
            Some(json!({"method": method, "body": body})),
        )
        .await
    }
}

/// A running `xfleet-agent`, enrolled into its own temporary directories.
pub struct Agent {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    _root: TempDir,
    pub output: Output,
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Agent {
    /// Enrolls with `token` (the real `enroll` command); panics if that fails.
    pub fn enroll(token: &str) -> Self {
        let root = TempDir::new("agent");
        let agent = Self {
            config_dir: root.path().join("etc"),
            data_dir: root.path().join("var"),
            _root: root,
            output: Output::default(),
            env: Vec::new(),
            child: None,
        };
        let out = agent.enroll_command(token).output().expect("run enroll");
        assert!(
            out.status.success(),
            "enroll failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Reconnect quickly in tests; the production defaults are 1 s base and 90 s cap.
        let toml = agent.config_dir.join("agent.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap();
        if !text.contains("[reconnect]") {
            text.push_str("\n[reconnect]\nbase_ms = 200\ncap_ms = 1000\nhealthy_after_ms = 5000\n");
        }
        std::fs::write(&toml, text).unwrap();
        agent
    }

    pub fn enroll_command(&self, token: &str) -> Command {
        let mut cmd = Command::new(bin("xfleet-agent"));
        cmd.arg("enroll")
            .arg("--token")
            .arg(token)
            .arg("--config-dir")
            .arg(&self.config_dir)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null());
        cmd
    }

    pub fn start(&mut self) {
        let mut cmd = Command::new(bin("xfleet-agent"));
        cmd.arg("run")
            .arg("--config-dir")
            .arg(&self.config_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start xfleet-agent");
        self.output.capture(child.stdout.take().unwrap(), "agent");
        self.output.capture(child.stderr.take().unwrap(), "agent");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, as systemd stops it; waits for the exit and returns its code (`None` if it
    /// did not exit in time).
    pub async fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let pid = self.pid()?;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        self.wait_exit(timeout).await
    }

    /// Waits for the process to exit on its own; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The core process this agent runs (found by its config path under the data dir).
    pub fn core_pid(&self) -> Option<u32> {
        let needle = self.data_dir.join("core").to_string_lossy().into_owned();
        std::fs::read_dir("/proc").ok()?.find_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.contains("v2ray") && cmdline.contains(&needle)).then_some(pid)
        })
    }

    /// Processes other than the test's child whose command line names this agent's
    /// directories: an agent restarted by a self-update rollback, its update guard.
    pub fn strays(&self) -> Vec<u32> {
        let needle = self._root.path().to_string_lossy().into_owned();
        let own = self.pid();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| {
                let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline);
                (Some(pid) != own && cmdline.contains(&needle) && cmdline.contains("xfleet-agent"))
                    .then_some(pid)
            })
            .collect()
    }

    /// Sets the `[reconnect]` table `enroll` wrote in `agent.toml` (read at the next start):
    /// dials at most `cap_ms` apart, also after a refusal.
    pub fn reconnect_within(&self, base_ms: u64, cap_ms: u64) {
        let path = self.config_dir.join("agent.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut table = None;
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                if line.starts_with('[') {
                    table = Some(line.trim().to_owned());
                }
                match (table.as_deref(), line.split_once(" = ")) {
                    (Some("[reconnect]"), Some(("base_ms", _))) => format!("base_ms = {base_ms}"),
                    (Some("[reconnect]"), Some(("cap_ms", _))) => format!("cap_ms = {cap_ms}"),
                    _ => line.to_owned(),
                }
            })
            .collect();
        assert!(
            lines.contains(&format!("cap_ms = {cap_ms}")),
            "no [reconnect] table in {}:\n{text}",
            path.display()
        );
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// Appends TOML to `agent.toml` (read at the next start).
    pub fn configure(&self, toml: &str) {
        let path = self.config_dir.join("agent.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        text.push_str(toml);
        std::fs::write(&path, text).unwrap();
    }

    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(self.config_dir.join("agent.pem")).unwrap()
    }

    pub fn key_pem(&self) -> String {
        std::fs::read_to_string(self.config_dir.join("agent.key")).unwrap()
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.config_dir.join("ca.pem")).unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The core outlives a kill -9 of its agent (its users keep their connections); a test
        // that is over takes it down too, so no core runs on from a removed directory.
        let core = self.core_pid();
        self.kill9();
        if let Some(pid) = core {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        // An agent a self-update restarted (and its update guard) is no child of the test.
        for pid in self.strays() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The backends a test should run on: SQLite always (`None`: the controller's default
/// file), and a fresh PostgreSQL database when one is configured; each with its name.
pub async fn backends() -> Vec<(&'static str, Option<String>)> {
    let mut backends = vec![("sqlite", None)];
    if let Some(pg) = postgres_database().await {
        backends.push(("postgres", Some(pg)));
    }
    backends
}

/// A fresh, empty PostgreSQL database when `XFLEET_TEST_POSTGRES_URL` names a server.
/// Returns `None` (and says so) otherwise; under `CI=true` it is required.
pub async fn postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin_url = match std::env::var("XFLEET_TEST_POSTGRES_URL") {
        Ok(u) => u,
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI must set XFLEET_TEST_POSTGRES_URL")
        }
        Err(_) => {
            eprintln!("XFLEET_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped");
            return None;
        }
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "xfleet_e2e_{}",
        xfleet_controller::util::random_secret(6)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
    Some(format!("{base}/{name}"))
}

/// Text of a failed command's output.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}

/// TCP sockets in LISTEN state owned by process `pid` (from /proc).
pub fn listening_sockets(pid: u32) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[")?
                        .strip_suffix(']')
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.get(3) == Some(&"0A") && cols.get(9).is_some_and(|i| inodes.contains(*i))
        })
        .count()
}
