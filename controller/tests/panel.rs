//! The panel's pages over real HTTP against a controller started in-process on port 0 with
//! a base path: sessions, redirects, the login page's two-factor field, the embedded assets,
//! the live event stream, and 3x-ui's compatible routes beside them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use xfleet_controller::config::Config;
use xfleet_controller::front::auth::{hash_password, totp};
use xfleet_controller::util::TempDir;
use xfleet_controller::Running;

const PASSWORD: &str = "panel-password";

struct Panel {
    addr: String,
    stop: CancellationToken,
    _running: Running,
    _dir: TempDir,
}

impl Drop for Panel {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request on its own connection; reads until the server closes it, or for at
/// most `read_for` (event streams do not close).
async fn send(
    addr: &str,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
    read_for: Duration,
) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(read_for, tcp.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

impl Panel {
    async fn start() -> Self {
        let dir = TempDir::new("panel");
        let config = Config {
            data_dir: dir.path().to_owned(),
            panel_listen: "127.0.0.1:0".into(),
            gateway_listen: "127.0.0.1:0".into(),
            gateway_sans: vec!["127.0.0.1".into()],
            base_path: "/xui/".into(),
            local_server: false,
            ..Config::default()
        };
        let stop = CancellationToken::new();
        let running = xfleet_controller::start(config, stop.clone())
            .await
            .expect("start the controller");
        let store = &running.controller.store;
        let admin = store.user_by_name("admin").await.unwrap().unwrap();
        store
            .set_password_hash(admin.id, &hash_password(PASSWORD))
            .await
            .unwrap();
        Self {
            addr: running
                .info
                .panel_url
                .trim_start_matches("http://")
                .to_owned(),
            stop,
            _running: running,
            _dir: dir,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: &str,
        read_for: Duration,
    ) -> Reply {
        send(&self.addr, method, path, cookie, body, read_for).await
    }

    async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.send("GET", path, cookie, "", Duration::from_secs(10))
            .await
    }

    async fn login(&self, code: Option<&str>) -> String {
        let body = match code {
            Some(c) => {
                format!(r#"{{"username":"admin","password":"{PASSWORD}","twoFactorCode":"{c}"}}"#)
            }
            None => format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#),
        };
        let reply = self
            .send(
                "POST",
                "/api/v1/auth/login",
                "",
                &body,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let set = reply.header("set-cookie").expect("a session cookie");
        set.split(';').next().unwrap().to_owned()
    }
}

#[tokio::test]
async fn pages_need_a_session_and_live_under_the_base_path() {
    let panel = Panel::start().await;

    let page = panel.get("/xui/panel/servers?x=1", "").await;
    assert_eq!(page.status, 303, "{}", page.head);
    assert_eq!(
        page.header("location"),
        Some("/xui/?next=%2Fpanel%2Fservers%3Fx%3D1")
    );

    let login = panel.get("/xui/", "").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("id=\"login-form\""), "{}", login.body);
    assert!(
        !login.body.contains("two-factor"),
        "no account has two-factor login yet"
    );
    assert!(login
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(panel.get("/xui", "").await.status, 200);
    assert!(panel
        .get("/xui/?expired=1", "")
        .await
        .body
        .contains("Your session has ended"));

    let cookie = panel.login(None).await;
    let page = panel.get("/xui/panel/servers", &cookie).await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains("data-page=\"servers\""));
    assert!(page.body.contains("data-base=\"/xui\""));
    assert!(
        page.body
            .contains("href=\"/xui/panel/servers\" aria-current=\"page\""),
        "{}",
        page.body
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let detail = panel.get("/xui/panel/inbound?id=3", &cookie).await;
    assert!(detail
        .body
        .contains("href=\"/xui/panel/inbounds\" aria-current=\"page\""));
    let settings = panel.get("/xui/panel/settings", &cookie).await;
    assert!(
        settings.body.contains("\"base_path\":\"/xui/\""),
        "{}",
        settings.body
    );

    let again = panel.get("/xui/", &cookie).await;
    assert_eq!(
        (again.status, again.header("location")),
        (303, Some("/xui/panel/"))
    );
    let bare = panel.get("/xui/panel", &cookie).await;
    assert_eq!(bare.header("location"), Some("/xui/panel/"));

    // The entry script is an ES module under a versioned folder; its imports resolve there.
    let src = login
        .body
        .split("<script type=\"module\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login page loads the panel's module")
        .to_owned();
    let folder = src.strip_suffix("/app.js").expect("entry is app.js");
    assert!(folder.starts_with("/xui/panel/static/"), "{src}");
    let js = panel.get(&src, "").await;
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.header("cache-control").unwrap().contains("immutable"));
    assert!(js.body.contains("from './live.js'"), "{}", js.body);
    let live = panel.get(&format!("{folder}/live.js"), "").await;
    assert!(live.body.contains("EventSource"));
    // Another build's folder gets this build's file, not to be kept.
    let stale = panel.get("/xui/panel/static/000000/live.js", "").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("cache-control"), Some("no-cache"));
    assert_eq!(
        panel.get(&format!("{folder}/nope.js"), "").await.status,
        404
    );
    // Nothing is served outside the base path.
    assert_eq!(panel.get("/panel/servers", &cookie).await.status, 404);

    // 3x-ui's routes under the same base path still answer as 3x-ui does.
    let compat = panel
        .send(
            "POST",
            "/xui/login",
            "",
            r#"{"username":"admin","password":"wrong"}"#,
            Duration::from_secs(10),
        )
        .await;
    assert!(compat.body.contains("\"success\":false"), "{}", compat.body);
    assert_eq!(
        panel.get("/xui/panel/api/inbounds/list", "").await.status,
        404
    );
}

#[tokio::test]
async fn the_login_page_asks_for_a_code_once_two_factor_is_on() {
    let panel = Panel::start().await;
    let cookie = panel.login(None).await;
    let setup = panel
        .send(
            "POST",
            "/api/v1/auth/totp/setup",
            &cookie,
            "",
            Duration::from_secs(10),
        )
        .await;
    let secret = setup
        .body
        .split("\"secret\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a secret")
        .to_owned();
    let key = totp::base32_decode(&secret).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = totp::code_at(&key, now - 30);
    let enabled = panel
        .send(
            "POST",
            "/api/v1/auth/totp/enable",
            &cookie,
            &format!(r#"{{"code":"{code}"}}"#),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let login = panel.get("/xui/", "").await;
    assert!(login.body.contains("id=\"two-factor\""), "{}", login.body);
    assert!(login.body.contains("autocomplete=\"one-time-code\""));
}

#[tokio::test]
async fn the_event_stream_sends_a_snapshot_to_signed_in_callers() {
    let panel = Panel::start().await;
    assert_eq!(panel.get("/api/v1/events", "").await.status, 401);
    let cookie = panel.login(None).await;
    let events = panel
        .send("GET", "/api/v1/events", &cookie, "", Duration::from_secs(3))
        .await;
    assert_eq!(events.status, 200, "{}", events.head);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    assert!(events.body.contains("event: snapshot"), "{}", events.body);
    let data = events
        .body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let snap: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(snap["totals"]["servers"], 0, "{snap}");
    assert!(snap["servers"].as_array().unwrap().is_empty());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `started_at` of the run answering on `addr`, once one does.
async fn run_started_at(addr: &str) -> i64 {
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            let reply = send(
                addr,
                "GET",
                "/api/v1/health",
                "",
                "",
                Duration::from_secs(5),
            )
            .await;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&reply.body) {
                return v["data"]["started_at"].as_i64().expect("started_at");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing answers on {addr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_port_and_base_path_apply_after_a_restart_in_place() {
    let dir = TempDir::new("restart");
    let db = xfleet_controller::store::sqlite_url(&dir.path().join("xfleet.db"));
    let (first, second) = (free_port(), free_port());
    let store = xfleet_controller::store::Store::open(&db).await.unwrap();
    store
        .set_setting("webPort", &first.to_string())
        .await
        .unwrap();
    // No panel_listen or base_path in the configuration: the settings decide.
    let config = Config {
        data_dir: dir.path().to_owned(),
        gateway_listen: "127.0.0.1:0".into(),
        gateway_sans: vec!["127.0.0.1".into()],
        local_server: false,
        ..Config::default()
    };
    let stop = CancellationToken::new();
    let running = tokio::spawn(xfleet_controller::run(config, stop.clone()));
    let old = format!("127.0.0.1:{first}");
    let started = run_started_at(&old).await;
    let admin = store.user_by_name("admin").await.unwrap().unwrap();
    store
        .set_password_hash(admin.id, &hash_password(PASSWORD))
        .await
        .unwrap();
    let body = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let login = send(
        &old,
        "POST",
        "/api/v1/auth/login",
        "",
        &body,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let call = |method: &'static str, path: &'static str, body: String| {
        let (old, cookie) = (old.clone(), cookie.clone());
        async move { send(&old, method, path, &cookie, &body, Duration::from_secs(10)).await }
    };
    let page = send(
        &old,
        "GET",
        "/panel/settings",
        &cookie,
        "",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        page.body.contains(r#""listen_fixed":false"#),
        "{}",
        page.body
    );

    // Values that would not work are refused, each by name, and nothing is stored.
    let bad = call(
        "PATCH",
        "/api/v1/settings",
        r#"{"webListen":"panel.example.com","webPort":"70000","webBasePath":"/a b/"}"#.into(),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    for field in ["webListen", "webPort", "webBasePath"] {
        assert!(
            bad.body.contains(&format!(r#""field":"{field}""#)),
            "{field}: {}",
            bad.body
        );
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = taken.local_addr().unwrap().port();
    let busy = call(
        "PATCH",
        "/api/v1/settings",
        format!(r#"{{"webPort":{busy_port}}}"#),
    )
    .await;
    assert_eq!(busy.status, 400, "{}", busy.body);
    assert!(
        busy.body
            .contains(&format!("cannot listen on 127.0.0.1:{busy_port}")),
        "{}",
        busy.body
    );
    assert_eq!(
        store.setting("webPort").await.unwrap(),
        Some(first.to_string())
    );

    let saved = call(
        "PATCH",
        "/api/v1/settings",
        format!(r#"{{"webPort":"{second}","webBasePath":"moved"}}"#),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(
        saved.body.contains(r#""webBasePath":"/moved/""#),
        "{}",
        saved.body
    );
    // Saved, not applied: the panel is where it was until the restart.
    assert_eq!(run_started_at(&old).await, started);

    let restart = call("POST", "/api/v1/panel/restart", String::new()).await;
    assert_eq!(restart.status, 200, "{}", restart.body);
    assert!(
        restart.body.contains(&format!(r#""port":{second}"#))
            && restart.body.contains(r#""base_path":"/moved/""#),
        "{}",
        restart.body
    );
    let new = format!("127.0.0.1:{second}");
    assert_ne!(run_started_at(&new).await, started, "a new run");
    assert!(
        TcpStream::connect(&old).await.is_err(),
        "the old port is closed"
    );
    // The session outlives the restart; pages moved under the new base path.
    let page = send(
        &new,
        "GET",
        "/moved/panel/settings",
        &cookie,
        "",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains(r#""base_path":"/moved/""#));
    let gone = send(
        &new,
        "GET",
        "/panel/settings",
        &cookie,
        "",
        Duration::from_secs(10),
    )
    .await;
    assert_ne!(gone.status, 200, "the old base path serves no page");

    stop.cancel();
    running
        .await
        .unwrap()
        .expect("the controller stops cleanly");
}

#[tokio::test]
async fn configured_places_win_and_a_restart_that_could_not_come_back_is_refused() {
    let panel = Panel::start().await;
    let cookie = panel.login(None).await;
    let fixed = panel
        .send(
            "PATCH",
            "/api/v1/settings",
            &cookie,
            r#"{"webPort":"8080","webBasePath":"/x/"}"#,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(fixed.status, 400, "{}", fixed.body);
    assert!(
        fixed.body.contains("panel_listen") && fixed.body.contains("base_path"),
        "{}",
        fixed.body
    );
    // Files that went missing since they were saved: the next start could not serve TLS.
    let store = &panel._running.controller.store;
    store
        .set_setting("webCertFile", "/nonexistent/panel.crt")
        .await
        .unwrap();
    store
        .set_setting("webKeyFile", "/nonexistent/panel.key")
        .await
        .unwrap();
    let refused = panel
        .send(
            "POST",
            "/api/v1/panel/restart",
            &cookie,
            "",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("would not come back")
            && refused.body.contains("/nonexistent/panel.crt"),
        "{}",
        refused.body
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !panel._running.controller.shutdown.is_cancelled(),
        "still running"
    );
    assert_eq!(panel.get("/xui/", "").await.status, 200);
}
