//! What the APIs accept from a hostile or careless caller, against a running `xfleet` over
//! loopback: read-only tokens by route, server and client names, settings values, traffic
//! updates, the subscription page's headers, tasks and fleet-wide lists. Each test sends
//! the input an outside probe sent and asserts the refusal, and that nothing changed.

use serde_json::{json, Value};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{free_port, Controller, ControllerOptions};

/// A controller whose 3x-ui routes live under `base` (`""` for the root).
async fn controller(base: &str) -> Controller {
    Controller::start(ControllerOptions {
        extra_env: vec![("XFLEET_BASE_PATH".into(), base.into())],
        ..Default::default()
    })
    .await
}

/// A new API token of `scope` (`admin` or `read-only`).
async fn token(ctl: &Controller, name: &str, scope: &str) -> String {
    let t = ctl
        .api()
        .ok(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({"name": name, "scope": scope})),
        )
        .await;
    t["token"].as_str().unwrap().to_owned()
}

/// A 3x-ui client speaking with `token` under `base`.
fn bearer(ctl: &Controller, base: &str, token: &str) -> XuiClient {
    let mut x = XuiClient::new(&ctl.panel_url(), base);
    x.bearer = Some(token.to_owned());
    x
}

/// A VLESS inbound on server `server` with these clients (3x-ui's v3 `add`); its id.
async fn inbound(x: &mut XuiClient, server: i64, clients: Value) -> i64 {
    let body = json!({"remark": "in", "port": free_port(), "protocol": "vless", "enable": true,
        "settings": {"clients": clients, "decryption": "none"},
        "streamSettings": {"network": "tcp", "security": "none"},
        "sniffing": {"enabled": false}});
    let added = x
        .post_json(
            &format!("/panel/api/inbounds/add?server_id={server}"),
            &body,
        )
        .await
        .obj();
    added["id"].as_i64().unwrap()
}

/// A read-only token cannot delete, reset, detach or change a client through the 3x-ui
/// routes whatever the client is called: `statusbot`, `onlines-user` and `logs` contain the
/// words of the read routes, and a decision by substring let those writes through. The
/// genuine reads (POST routes 3x-ui reads with) still answer the token, under a base path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_write_nothing_whatever_the_client_is_called() {
    let ctl = controller("/base/").await;
    let (server, _) = ctl.add_server("edge-1").await;
    let mut admin = bearer(&ctl, "/base", &token(&ctl, "admin", "admin").await);
    let names = ["statusbot", "onlines-user", "logs"];
    let clients: Vec<Value> = names
        .iter()
        .map(|n| json!({"email": n, "enable": true}))
        .collect();
    let id = inbound(&mut admin, server, json!(clients)).await;
    for name in names {
        admin
            .post_json(
                &format!("/panel/api/clients/updateTraffic/{name}"),
                &json!({"upload": 100, "download": 200}),
            )
            .await
            .obj();
    }
    let mut reader = bearer(&ctl, "/base", &token(&ctl, "watch", "read-only").await);

    for name in names {
        let writes = [
            (format!("/panel/api/clients/del/{name}"), json!({})),
            (format!("/panel/api/clients/resetTraffic/{name}"), json!({})),
            (
                format!("/panel/api/clients/{name}/detach"),
                json!({"inboundIds": [id]}),
            ),
            (
                format!("/panel/api/clients/update/{name}"),
                json!({"enable": false}),
            ),
            (
                format!("/panel/api/clients/updateTraffic/{name}"),
                json!({"upload": 0, "download": 0}),
            ),
            (format!("/panel/api/clients/clearIps/{name}"), json!({})),
            (
                format!("/panel/api/inbounds/{id}/delClientByEmail/{name}"),
                json!({}),
            ),
            (
                format!("/panel/api/inbounds/{id}/resetClientTraffic/{name}"),
                json!({}),
            ),
            (
                format!("/panel/api/inbounds/updateClientTraffic/{name}"),
                json!({"upload": 0, "download": 0}),
            ),
            (
                format!("/panel/api/inbounds/clearClientIps/{name}"),
                json!({}),
            ),
        ];
        for (path, body) in writes {
            let r = reader.post_json(&path, &body).await;
            assert_eq!(
                r.status,
                403,
                "{path} with a read-only token: {:?}",
                String::from_utf8_lossy(&r.body)
            );
            assert!(r.json()["msg"].as_str().unwrap().contains("can only read"));
        }
    }
    // Every client is still there, attached, enabled, with its usage.
    for name in names {
        let c = admin
            .get(&format!("/panel/api/clients/get/{name}"))
            .await
            .obj();
        assert_eq!(c["client"]["enable"], json!(true), "{name}: {c}");
        assert_eq!(c["usedTraffic"], json!(300), "{name}: {c}");
        assert_eq!(c["inboundIds"], json!([id]), "{name}: {c}");
    }

    // The reads 3x-ui makes with POST still answer a read-only token.
    for path in [
        "/panel/api/clients/onlines".to_owned(),
        "/panel/api/clients/lastOnline".to_owned(),
        "/panel/api/inbounds/onlines".to_owned(),
        "/panel/api/inbounds/lastOnline".to_owned(),
        "/panel/api/inbounds/clientIps/statusbot".to_owned(),
        "/panel/api/clients/ips/logs".to_owned(),
        "/panel/api/server/status".to_owned(),
        "/panel/setting/factoryDefaults".to_owned(),
    ] {
        let r = reader.post(&path).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        reader
            .get("/panel/api/clients/list")
            .await
            .obj()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A server cannot be named with digits only (every command and route reads those as an
/// id, so `--server 2` acted on another server) or `.`/`..` (path steps), through the API
/// or the CLI; renames are checked too. Rows stored before the rule keep working: digits
/// still mean the id, such a row can be edited with its name sent back unchanged and
/// renamed, and the CLI reaches a row named `..`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_names_that_read_as_ids_or_path_steps_are_refused() {
    let ctl = controller("").await;
    let api = ctl.api();
    let cli = |args: &[&str]| ctl.cli(args);
    for (name, says) in [
        ("2", "all digits"),
        ("0042", "all digits"),
        (".", "path step"),
        ("..", "path step"),
        ("a/b", "not allowed"),
        ("a\nb", "not allowed"),
    ] {
        let err = api
            .call("POST", "/api/v1/servers", Some(json!({"name": name})))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(says) && err.contains("name"),
            "{name:?}: {err}"
        );
    }
    let (ok, text) = cli(&["server", "add", "7"]);
    assert!(!ok && text.contains("all digits"), "{text}");
    let (a, _) = ctl.add_server("vpn-a").await;
    let (b, _) = ctl.add_server("vpn-b").await;
    let err = api
        .call("PATCH", "/api/v1/servers/vpn-a", Some(json!({"name": "9"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("all digits"), "{err}");
    let listed = api.ok("GET", "/api/v1/servers", None).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vpn-a", "vpn-b"]);

    // Rows an older release or an import stored: one named like vpn-b's id, one named `..`.
    sqlx::any::install_default_drivers();
    let url = format!(
        "sqlite://{}",
        ctl.dir.path().join("xfleet.db").to_str().unwrap()
    );
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for name in [b.to_string(), "..".to_owned()] {
        sqlx::query("INSERT INTO servers (name, created_at, updated_at) VALUES ($1, 0, 0)")
            .bind(name)
            .execute(&mut db)
            .await
            .unwrap();
    }
    let (digits_id,): (i64,) = sqlx::query_as("SELECT id FROM servers WHERE name = $1")
        .bind(b.to_string())
        .fetch_one(&mut db)
        .await
        .unwrap();
    drop(db);
    // Digits are the id: vpn-b, not the row named after it.
    let found = api.ok("GET", &format!("/api/v1/servers/{b}"), None).await;
    assert_eq!(found["name"], json!("vpn-b"));
    let (ok, text) = cli(&["token", "create", "--server", &b.to_string()]);
    assert!(ok, "{text}");
    // The old row, by its id: its name sent back unchanged is no rename; a new name is.
    let same = api
        .ok(
            "PATCH",
            &format!("/api/v1/servers/{digits_id}"),
            Some(json!({"name": b.to_string(), "region": "eu"})),
        )
        .await;
    assert_eq!(same["region"], json!("eu"));
    let renamed = api
        .ok(
            "PATCH",
            &format!("/api/v1/servers/{digits_id}"),
            Some(json!({"name": "vpn-old"})),
        )
        .await;
    assert_eq!(renamed["name"], json!("vpn-old"));
    // The CLI reaches `..` (not the list route above it) and removes only it.
    let (ok, text) = cli(&["server", "remove", ".."]);
    assert!(ok, "{text}");
    let listed = api.ok("GET", "/api/v1/servers", None).await;
    let ids: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [a, b, digits_id]);
}

/// `PATCH /settings` and 3x-ui's `setting/update` refuse unknown keys and values the parts
/// reading them could not use (`subPath` `/` would take every path as a subscription id),
/// naming every bad key and why in one answer, and store none of the request: the
/// subscription keeps answering. 3x-ui's whole `AllSetting` object sent
/// back is still taken, and good values are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_refuse_values_their_readers_cannot_use() {
    let ctl = controller("").await;
    let api = ctl.api();
    let (server, _) = ctl.add_server("edge-1").await;
    let mut admin = bearer(&ctl, "", &token(&ctl, "admin", "admin").await);
    inbound(
        &mut admin,
        server,
        json!([{"email": "alice", "subId": "alice-sub-0001"}]),
    )
    .await;
    let mut sub = XuiClient::new(&ctl.sub_url(), "");
    assert_eq!(sub.get("/sub/alice-sub-0001").await.status, 200);
    let before = api.ok("GET", "/api/v1/settings", None).await;

    let bad = json!({"subDomain": "a b", "subPath": "/", "timeLocation": "Mars/Olympus",
        "subUpdates": -1, "subPort": 70000, "subURI": "javascript:alert(1)",
        "subJsonRules": "{not json", "bogusKey": 1, "subEnable": "perhaps"});
    let err = api
        .call("PATCH", "/api/v1/settings", Some(bad.clone()))
        .await
        .unwrap_err()
        .to_string();
    eprintln!("PATCH /settings refused: {err}");
    for key in bad.as_object().unwrap().keys() {
        assert!(err.contains(&format!("{key}:")), "{key} not named: {err}");
    }
    assert!(
        err.contains("Mars/Olympus") && err.contains("not a setting"),
        "{err}"
    );
    assert_eq!(api.ok("GET", "/api/v1/settings", None).await, before);
    assert_eq!(sub.get("/sub/alice-sub-0001").await.status, 200);

    // 3x-ui: the whole object back is taken; with one bad value, nothing is stored.
    let all = admin.post("/panel/setting/all").await.obj();
    admin.post_json("/panel/setting/update", &all).await.obj();
    let mut broken = all.clone();
    broken["subPath"] = json!("/");
    broken["subTitle"] = json!("changed");
    let msg = admin
        .post_json("/panel/setting/update", &broken)
        .await
        .failure();
    assert!(msg.contains("subPath") && msg.contains("/sub/"), "{msg}");
    assert_eq!(
        admin.post("/panel/setting/all").await.obj()["subTitle"],
        all["subTitle"]
    );
    let zone = if std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        "Europe/Berlin"
    } else {
        "UTC"
    };
    let mut good = all;
    good["timeLocation"] = json!(zone);
    good["subPath"] = json!("/s3cret/");
    good["subUpdates"] = json!(6);
    admin.post_json("/panel/setting/update", &good).await.obj();
    let stored = api.ok("GET", "/api/v1/settings", None).await;
    assert_eq!(
        (
            &stored["timeLocation"],
            &stored["subPath"],
            &stored["subUpdates"]
        ),
        (&json!(zone), &json!("/s3cret/"), &json!("6"))
    );
    assert_eq!(sub.get("/s3cret/alice-sub-0001").await.status, 200);
    // Empty is the default, as the panel's form sends a key left unset.
    api.ok("PATCH", "/api/v1/settings", Some(json!({"subPath": ""})))
        .await;
    assert_eq!(sub.get("/sub/alice-sub-0001").await.status, 200);
}

/// The emails of every client, sorted.
async fn emails(ctl: &Controller) -> Vec<String> {
    let list = ctl.api().ok("GET", "/api/v1/clients", None).await;
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// Client emails refuse NUL and other controls, line breaks, spaces, a second `@`,
/// bidirectional overrides, `/`, `\` and the names `.`/`..`, while any other visible name (non-ASCII too) is taken;
/// expiry, IP limit and sub id must be in range. Refusals name the field, through the
/// 3x-ui API and the native one, and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_fields_are_checked_as_3x_ui_users_expect() {
    let ctl = controller("").await;
    let api = ctl.api();
    let (server, _) = ctl.add_server("edge-1").await;
    let mut x = bearer(&ctl, "", &token(&ctl, "admin", "admin").await);
    let id = inbound(&mut x, server, json!([])).await;
    let add = |client: Value| json!({"client": client, "inboundIds": [id]});

    for (email, says) in [
        ("nul\u{0}byte", "control character"),
        ("two\nlines", "line break"),
        ("evil\u{202E}gpj.exe", "bidirectional"),
        ("iso\u{2066}late", "bidirectional"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        (".", "path step"),
        ("..", "path step"),
        ("bad user@@", "spaces"),
        ("a@b@c", "more than one `@`"),
    ] {
        let msg = x
            .post_json("/panel/api/clients/add", &add(json!({"email": email})))
            .await
            .failure();
        assert!(
            msg.contains("email") && msg.contains(says),
            "{email:?}: {msg}"
        );
        let err = api
            .call(
                "POST",
                "/api/v1/clients",
                Some(json!({"email": email, "inboundIds": [id]})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{email:?}: {err}");
    }
    for (field, value, says) in [
        ("expiryTime", json!(i64::MAX), "after the year 9999"),
        ("expiryTime", json!(i64::MIN), "days after first use"),
        ("limitIp", json!(1i64 << 40), "0 (no limit) to 10000"),
        ("subId", json!("a"), "8–64"),
        ("subId", json!("short"), "8–64"),
    ] {
        let mut client = json!({"email": "ranged"});
        client[field] = value.clone();
        let msg = x
            .post_json("/panel/api/clients/add", &add(client))
            .await
            .failure();
        assert!(
            msg.contains(field) && msg.contains(says),
            "{field}={value}: {msg}"
        );
    }
    assert!(emails(&ctl).await.is_empty());

    // Visible names of any script pass, and sane limits, a delayed start included.
    for (email, extra) in [
        ("Ålesund-01", json!({})),
        ("пользователь", json!({"expiryTime": -7 * 86_400_000i64})),
        (
            "用户@example.com",
            json!({"limitIp": 3, "subId": "alicesub"}),
        ),
        ("a.b", json!({"expiryTime": 4_102_444_800_000i64})),
    ] {
        let mut client = extra;
        client["email"] = json!(email);
        x.post_json("/panel/api/clients/add", &add(client))
            .await
            .obj();
    }
    assert_eq!(
        emails(&ctl).await,
        ["a.b", "Ålesund-01", "пользователь", "用户@example.com"]
    );
    // A rename is checked like a new name.
    let msg = x
        .post_json("/panel/api/clients/update/a.b", &json!({"email": "a/b"}))
        .await
        .failure();
    assert!(msg.contains("path separator"), "{msg}");
}

/// 3x-ui's `updateClientTraffic` (v2 and v3 routes) with a body of `[]`, `{}`, one field or
/// an empty form answers `success:false` naming what is missing and leaves the usage as it
/// was; a whole body still sets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_update_without_its_fields_changes_nothing() {
    let ctl = controller("").await;
    let (server, _) = ctl.add_server("edge-1").await;
    let mut x = bearer(&ctl, "", &token(&ctl, "admin", "admin").await);
    inbound(&mut x, server, json!([{"email": "carol"}])).await;
    let used = |x: &mut XuiClient| {
        let mut x = x.clone();
        async move { x.get("/panel/api/clients/get/carol").await.obj()["usedTraffic"].clone() }
    };
    x.post_json(
        "/panel/api/inbounds/updateClientTraffic/carol",
        &json!({"upload": 10, "download": 20}),
    )
    .await
    .obj();
    assert_eq!(used(&mut x).await, json!(30));
    for route in [
        "/panel/api/inbounds/updateClientTraffic/carol",
        "/panel/api/clients/updateTraffic/carol",
    ] {
        for body in [json!([]), json!({}), json!({"upload": 0}), json!([0, 0])] {
            let msg = x.post_json(route, &body).await.failure();
            assert!(
                msg.contains("upload") || msg.contains("download"),
                "{route} {body}: {msg}"
            );
            assert_eq!(used(&mut x).await, json!(30), "{route} {body}");
        }
        let msg = x.post_form(route, &[]).await.failure();
        assert!(msg.contains("upload: is required"), "{msg}");
        let msg = x.post(route).await.failure();
        assert!(msg.contains("download: is required"), "{msg}");
        assert_eq!(used(&mut x).await, json!(30), "{route}");
    }
    x.post_form(
        "/panel/api/clients/updateTraffic/carol",
        &[("upload", "1"), ("download", "2")],
    )
    .await
    .obj();
    assert_eq!(used(&mut x).await, json!(3));
}

/// The subscription page a browser gets carries the panel's headers: its
/// Content-Security-Policy (with `frame-ancestors 'none'`), `nosniff` and no framing; the
/// plain link list gets `nosniff` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_page_carries_the_panel_headers() {
    let ctl = controller("").await;
    let (server, _) = ctl.add_server("edge-1").await;
    let mut x = bearer(&ctl, "", &token(&ctl, "admin", "admin").await);
    inbound(
        &mut x,
        server,
        json!([{"email": "dave", "subId": "dave-sub-0001"}]),
    )
    .await;
    let mut panel = XuiClient::new(&ctl.panel_url(), "");
    let login = panel.get("/").await;
    assert_eq!(login.status, 200);
    let panel_csp = login.headers["content-security-policy"].clone();

    let mut sub = XuiClient::new(&ctl.sub_url(), "");
    sub.headers = vec![("accept".into(), "text/html".into())];
    let page = sub.get("/sub/dave-sub-0001").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    assert!(String::from_utf8_lossy(&page.body).contains("dave"));
    let csp = page.headers.get("content-security-policy");
    assert_eq!(csp, Some(&panel_csp), "{:?}", page.headers);
    assert!(panel_csp.contains("frame-ancestors 'none'"), "{panel_csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");

    sub.headers.clear();
    let links = sub.get("/sub/dave-sub-0001").await;
    assert_eq!(links.status, 200);
    assert_eq!(links.headers["x-content-type-options"], "nosniff");
}

/// Tasks with an operation no agent answers (`bogus.op`), or a body the agent could not
/// read (`state.apply` with garbage), are refused with the field named and nothing queued;
/// a fleet call naming 20,000 servers, or one twice, is refused naming the cap before any
/// server is called; so are 3x-ui's bulk lists past theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_fleet_calls_take_only_what_agents_answer() {
    let ctl = controller("").await;
    let api = ctl.api();
    let (server, _) = ctl.add_server("edge-1").await;
    let tasks = format!("/api/v1/servers/{server}/tasks");
    for (body, says) in [
        (
            json!({"operation": "bogus.op"}),
            "operation: `bogus.op` is not a method",
        ),
        (
            json!({"operation": "state.apply", "request": "garbage"}),
            "request: is not a `state.apply` body",
        ),
        (
            json!({"operation": "state.apply", "request": {"full": {"revision": "x"}}}),
            "request: is not a `state.apply` body",
        ),
        (
            json!({"operation": "core.logs", "request": {"level": 5}}),
            "request: is not a `core.logs` body",
        ),
    ] {
        let err = api
            .call("POST", &tasks, Some(body.clone()))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{body}: {err}");
    }
    assert_eq!(api.ok("GET", &tasks, None).await, json!([]));
    let queued = api
        .ok("POST", &tasks, Some(json!({"operation": "agent.info"})))
        .await;
    assert_eq!(queued["status"], json!("pending"));

    let many: Vec<i64> = (1..=20_000).collect();
    let err = api
        .call(
            "POST",
            "/api/v1/fleet/call",
            Some(json!({"method": "echo", "body": 1, "servers": many})),
        )
        .await
        .unwrap_err()
        .to_string();
    eprintln!("fleet call with 20000 server ids: {err}");
    assert!(
        err.contains("servers: names 20000 servers; at most 1000"),
        "{err}"
    );
    let err = api
        .call(
            "POST",
            "/api/v1/fleet/call",
            Some(json!({"method": "core.restart", "servers": [server, server]})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("twice"), "{err}");
    let err = api
        .call(
            "POST",
            "/api/v1/fleet/call",
            Some(json!({"method": "bogus.op", "servers": [server]})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("method: `bogus.op`"), "{err}");
    let answer = api
        .ok(
            "POST",
            "/api/v1/fleet/call",
            Some(json!({"method": "echo", "body": 1, "servers": [server]})),
        )
        .await;
    assert_eq!(answer["results"][0]["server_id"], json!(server));

    // Lists through the other doors.
    let err = api
        .call(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "eve", "inboundIds": many})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("inboundIds: names 20000 inbounds; at most 1000"),
        "{err}"
    );
    let mut x = bearer(&ctl, "", &token(&ctl, "admin", "admin").await);
    let msg = x
        .post_json("/panel/api/inbounds/bulkDel", &json!({"ids": many}))
        .await
        .failure();
    assert!(msg.contains("at most 1000"), "{msg}");
    let names: Vec<String> = (0..6000).map(|n| format!("u{n}")).collect();
    let msg = x
        .post_json("/panel/api/clients/bulkDel", &json!({"emails": names}))
        .await
        .failure();
    assert!(msg.contains("at most 5000"), "{msg}");
    assert!(emails(&ctl).await.is_empty());
}
