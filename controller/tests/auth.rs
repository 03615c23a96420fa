//! Login, two-factor codes, the login block, bcrypt hashes from 3x-ui and session revocation,
//! over real HTTP against a controller started in-process on port 0.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use xfleet_controller::config::Config;
use xfleet_controller::front::auth::{hash_password, totp};
use xfleet_controller::util::TempDir;
use xfleet_controller::{Controller, Running};

const PASSWORD: &str = "first-password";

struct Panel {
    base: String,
    ctl: Arc<Controller>,
    stop: CancellationToken,
    _running: Running,
    _dir: TempDir,
}

impl Panel {
    /// A controller whose `admin` has a known password.
    async fn start() -> Self {
        let dir = TempDir::new("auth");
        let config = Config {
            data_dir: dir.path().to_owned(),
            panel_listen: "127.0.0.1:0".into(),
            gateway_listen: "127.0.0.1:0".into(),
            gateway_sans: vec!["127.0.0.1".into()],
            // Its own subscription port, so parallel controllers do not race for 2096.
            sub_listen: "127.0.0.1".into(),
            sub_port: std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port(),
            ..Config::default()
        };
        let stop = CancellationToken::new();
        let running = xfleet_controller::start(config, stop.clone())
            .await
            .expect("start the controller");
        let ctl = running.controller.clone();
        let admin = ctl.store.user_by_name("admin").await.unwrap().unwrap();
        ctl.store
            .set_password_hash(admin.id, &hash_password(PASSWORD))
            .await
            .unwrap();
        Self {
            base: running.info.panel_url.clone(),
            ctl,
            stop,
            _running: running,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let authority = self.base.strip_prefix("http://").unwrap().to_owned();
        let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(payload))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn login(&self, username: &str, password: &str, code: Option<&str>) -> Reply {
        let mut body = json!({"username": username, "password": password});
        if let Some(code) = code {
            body["twoFactorCode"] = json!(code);
        }
        self.call("POST", "/api/v1/auth/login", &[], Some(body))
            .await
    }

    /// Logs in and returns the `name=value` session cookie.
    async fn session(&self, password: &str, code: Option<&str>) -> String {
        let reply = self.login("admin", password, code).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.cookie()
    }

    async fn audit_actions(&self) -> Vec<(String, String)> {
        let entries = self.ctl.store.audit_entries(500).await.unwrap();
        entries.into_iter().map(|e| (e.action, e.result)).collect()
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn cookie(&self) -> String {
        let set = self.headers["set-cookie"].to_str().unwrap();
        let pair = set.split(';').next().unwrap().to_owned();
        assert!(pair.starts_with("xfleet_session="), "{set}");
        pair
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn code(secret: &str, at: u64) -> String {
    totp::code_at(&totp::base32_decode(secret).unwrap(), at)
}

/// A 6-digit code that is not `right`.
fn wrong(right: &str) -> String {
    format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn setup_two_factor(panel: &Panel, cookie: &str) -> String {
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/setup",
            &[("cookie", cookie)],
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let secret = reply.body["data"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.body["data"]["uri"],
        json!(format!(
            "otpauth://totp/xfleet:admin?secret={secret}&issuer=xfleet"
        ))
    );
    secret
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_login_needs_a_fresh_code() {
    let panel = Panel::start().await;
    let cookie = panel.session(PASSWORD, None).await;
    let auth = [("cookie", cookie.as_str())];

    // Setting up is not enough: only a matching code turns it on.
    let secret = setup_two_factor(&panel, &cookie).await;
    let now = unix_now();
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/enable",
            &auth,
            Some(json!({"code": wrong(&code(&secret, now))})),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.message().contains("does not match"), "{}", reply.body);
    assert_eq!(panel.login("admin", PASSWORD, None).await.status, 200);
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/enable",
            &auth,
            Some(json!({"code": code(&secret, now)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let me = panel.call("GET", "/api/v1/auth/me", &auth, None).await;
    assert_eq!(me.body["data"]["two_factor_enabled"], json!(true));
    assert!(
        xfleet_controller::front::auth::two_factor_enabled(&panel.ctl)
            .await
            .unwrap()
    );
    let again = panel
        .call("POST", "/api/v1/auth/totp/setup", &auth, None)
        .await;
    assert_eq!(again.status, 409, "no new secret while one is on");

    // Turning it off needs a code too; the next step's code is within the allowed skew.
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/disable",
            &auth,
            Some(json!({"code": code(&secret, now)})),
        )
        .await;
    assert_eq!(reply.status, 403, "the enabling code is used up");
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/disable",
            &auth,
            Some(json!({"code": code(&secret, now + 30)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        !xfleet_controller::front::auth::two_factor_enabled(&panel.ctl)
            .await
            .unwrap()
    );
    assert_eq!(panel.login("admin", PASSWORD, None).await.status, 200);

    // On again, then log in with it.
    let secret = setup_two_factor(&panel, &cookie).await;
    let now = unix_now();
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/totp/enable",
            &auth,
            Some(json!({"code": code(&secret, now)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let reply = panel.login("admin", PASSWORD, None).await;
    assert_eq!(reply.status, 403);
    assert!(reply.message().contains("two-factor"), "{}", reply.body);
    assert!(reply.headers.get("set-cookie").is_none());
    let next = code(&secret, now + 30);
    let reply = panel.login("admin", PASSWORD, Some(&wrong(&next))).await;
    assert_eq!(reply.status, 403);
    assert!(reply.message().contains("wrong or already used"));
    let reply = panel.login("admin", "not-the-password", Some(&next)).await;
    assert_eq!(
        reply.status, 403,
        "a good code does not replace the password"
    );
    assert!(reply.message().contains("wrong username or password"));

    let cookie = panel.session(PASSWORD, Some(&next)).await;
    let me = panel
        .call("GET", "/api/v1/auth/me", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(me.status, 200);
    let replay = panel.login("admin", PASSWORD, Some(&next)).await;
    assert_eq!(replay.status, 403, "a used code is refused");
    assert!(replay.message().contains("already used"), "{}", replay.body);
    let earlier = panel
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(json!({"username": "admin", "password": PASSWORD, "totp": code(&secret, now)})),
        )
        .await;
    assert_eq!(earlier.status, 403, "codes before the used one are refused");

    let actions = panel.audit_actions().await;
    for (action, result) in [
        ("auth.totp.setup", "ok"),
        ("auth.totp.enable", "ok"),
        ("auth.totp.enable", "invalid_request"),
        ("auth.totp.disable", "ok"),
        ("auth.totp.disable", "forbidden"),
        ("auth.login", "two_factor_required"),
        ("auth.login", "two_factor_invalid"),
    ] {
        assert!(
            actions.contains(&(action.into(), result.into())),
            "{action} {result} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failures_block_that_name_from_that_address() {
    let panel = Panel::start().await;
    panel
        .ctl
        .store
        .create_user("ops", &hash_password("ops-password"))
        .await
        .unwrap();
    for _ in 0..5 {
        let reply = panel.login("admin", "guess", None).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.message(), "wrong username or password");
    }
    let reply = panel.login("admin", PASSWORD, None).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.message().contains("temporarily blocked"),
        "{}",
        reply.body
    );
    assert!(reply.headers.get("set-cookie").is_none());
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=901).contains(&retry), "Retry-After {retry}");

    let reply = panel.login("ops", "ops-password", None).await;
    assert_eq!(reply.status, 200, "another name from the same address");

    let actions = panel.audit_actions().await;
    assert!(actions.contains(&("auth.login".into(), "login_blocked".into())));
    assert!(actions.contains(&("auth.login".into(), "wrong_credentials".into())));
}

#[tokio::test(flavor = "multi_thread")]
async fn bcrypt_hash_from_3x_ui_logs_in_and_becomes_argon2id() {
    let panel = Panel::start().await;
    let store = &panel.ctl.store;
    let admin = store.user_by_name("admin").await.unwrap().unwrap();
    let bcrypt = bcrypt::hash("from-3x-ui", 4).unwrap();
    store.set_password_hash(admin.id, &bcrypt).await.unwrap();

    assert_eq!(panel.login("admin", "wrong-one", None).await.status, 403);
    let stored = store.user_by_name("admin").await.unwrap().unwrap();
    assert_eq!(stored.password_hash, bcrypt, "no rehash on a failed login");

    panel.session("from-3x-ui", None).await;
    let stored = store.user_by_name("admin").await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "{}",
        stored.password_hash
    );
    panel.session("from-3x-ui", None).await;
    assert_eq!(panel.login("admin", "wrong-one", None).await.status, 403);
    let entries = store.audit_entries(50).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.action == "auth.login" && e.details.contains("\"rehashed\":true")));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_sessions_stop_working_at_once() {
    let panel = Panel::start().await;
    let a = panel.session(PASSWORD, None).await;
    let b = panel.session(PASSWORD, None).await;
    let with_a = [("cookie", a.as_str())];
    let with_b = [("cookie", b.as_str())];

    let listed = panel.call("GET", "/api/v1/sessions", &with_a, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let sessions = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let mine: Vec<_> = sessions
        .iter()
        .filter(|s| s["current"] == json!(true))
        .collect();
    assert_eq!(mine.len(), 1);
    let other = sessions
        .iter()
        .find(|s| s["current"] == json!(false))
        .unwrap();
    assert_eq!(other["username"], json!("admin"));
    assert_eq!(other["source_ip"], json!("127.0.0.1"));
    assert!(other["expires_at"].as_i64() > other["created_at"].as_i64());

    let other_id = other["id"].as_str().unwrap();
    let reply = panel
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{other_id}"),
            &with_a,
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let me = panel.call("GET", "/api/v1/auth/me", &with_b, None).await;
    assert_eq!(me.status, 401, "the revoked cookie is refused");
    let me = panel.call("GET", "/api/v1/auth/me", &with_a, None).await;
    assert_eq!(me.status, 200);
    let again = panel
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{other_id}"),
            &with_a,
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    let bad = panel
        .call("DELETE", "/api/v1/sessions/not-an-id", &with_a, None)
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("hex"), "{}", bad.body);

    // A password change keeps the caller's session and ends the others.
    let c = panel.session(PASSWORD, None).await;
    for (body, status, needle) in [
        (
            json!({"current": "nope", "new": "a-new-password"}),
            403,
            "current password",
        ),
        (
            json!({"current": PASSWORD, "new": "short"}),
            400,
            "at least 8",
        ),
        (json!({"current": PASSWORD}), 400, "new"),
    ] {
        let reply = panel
            .call("POST", "/api/v1/auth/password", &with_a, Some(body))
            .await;
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(reply.message().contains(needle), "{}", reply.body);
    }
    let me = panel
        .call("GET", "/api/v1/auth/me", &[("cookie", &c)], None)
        .await;
    assert_eq!(me.status, 200, "refused changes end nothing");
    let reply = panel
        .call(
            "POST",
            "/api/v1/auth/password",
            &with_a,
            Some(json!({"current": PASSWORD, "new": "a-new-password"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["data"]["sessions_revoked"], json!(1));
    let me = panel
        .call("GET", "/api/v1/auth/me", &[("cookie", &c)], None)
        .await;
    assert_eq!(me.status, 401);
    let me = panel.call("GET", "/api/v1/auth/me", &with_a, None).await;
    assert_eq!(me.status, 200);
    assert_eq!(panel.login("admin", PASSWORD, None).await.status, 403);
    panel.session("a-new-password", None).await;

    let actions = panel.audit_actions().await;
    for (action, result) in [
        ("session.revoke", "ok"),
        ("session.revoke", "not_found"),
        ("auth.password", "ok"),
        ("auth.password", "forbidden"),
    ] {
        assert!(
            actions.contains(&(action.into(), result.into())),
            "{action} {result} in {actions:?}"
        );
    }
}
