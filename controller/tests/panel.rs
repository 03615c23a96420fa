//! The panel's pages over real HTTP against a controller started in-process on port 0 with
//! a base path: sessions, redirects, the login page's two-factor field, the embedded assets,
//! the live event stream, and 3x-ui's compatible routes beside them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use xfleet_controller::api::{hash_password, totp};
use xfleet_controller::config::Config;
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

    /// One HTTP/1.1 request on its own connection; reads until the server closes it, or
    /// for at most `read_for` (event streams do not close).
    async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: &str,
        read_for: Duration,
    ) -> Reply {
        let mut tcp = TcpStream::connect(&self.addr).await.unwrap();
        let cookie = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{cookie}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
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
