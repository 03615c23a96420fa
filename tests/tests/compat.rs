//! The 3x-ui compatible API over real HTTP against a running `xfleet`, on SQLite and on
//! PostgreSQL: every inbound and client route of v2 and v3 as a script would call it, and
//! the error shapes scripts see (200 with `success:false`, the empty 404).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use xfleet_tests::python::{run_script, sdk_python};
use xfleet_tests::warp::{self, FakeWarp};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::xui_fixture::XuiDb;
use xfleet_tests::{free_port, postgres_database, wait_for, Agent, Controller, ControllerOptions};

/// Controllers to run a scenario on: SQLite, and PostgreSQL when available (always on CI).
async fn backends(base_path: &str) -> Vec<(String, Controller)> {
    let env = vec![("XFLEET_BASE_PATH".to_owned(), base_path.to_owned())];
    let mut out = vec![(
        "sqlite".to_owned(),
        Controller::start(ControllerOptions {
            extra_env: env.clone(),
            ..Default::default()
        })
        .await,
    )];
    if let Some(url) = postgres_database().await {
        out.push((
            "postgres".to_owned(),
            Controller::start(ControllerOptions {
                database_url: Some(url),
                extra_env: env,
                ..Default::default()
            })
            .await,
        ));
    }
    out
}

const UUID_A: &str = "0a8c7e34-2b54-4c1c-9c2f-3e5b0f1d2a01";
const UUID_B: &str = "0a8c7e34-2b54-4c1c-9c2f-3e5b0f1d2a02";
const UUID_C: &str = "0a8c7e34-2b54-4c1c-9c2f-3e5b0f1d2a03";

fn vless_ws_settings(clients: Value) -> String {
    json!({"clients": clients, "decryption": "none", "fallbacks": []}).to_string()
}

const WS_STREAM: &str =
    r#"{"network":"ws","security":"none","wsSettings":{"path":"/ws","headers":{}}}"#;
const SNIFFING: &str = r#"{"enabled":true,"destOverride":["http","tls"]}"#;

/// The inbound `add` form a v2 script posts.
fn add_form(port: u16, remark: &str, clients: Value) -> Vec<(String, String)> {
    vec![
        ("up".into(), "0".into()),
        ("down".into(), "0".into()),
        ("total".into(), "0".into()),
        ("remark".into(), remark.into()),
        ("enable".into(), "true".into()),
        ("expiryTime".into(), "0".into()),
        ("listen".into(), String::new()),
        ("port".into(), port.to_string()),
        ("protocol".into(), "vless".into()),
        ("settings".into(), vless_ws_settings(clients)),
        ("streamSettings".into(), WS_STREAM.into()),
        ("sniffing".into(), SNIFFING.into()),
    ]
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn settings_of(inbound: &Value) -> Value {
    let text = inbound["settings"]
        .as_str()
        .expect("v2 returns settings as a JSON string");
    serde_json::from_str(text).expect("settings string is JSON")
}

fn emails(inbound: &Value) -> Vec<String> {
    settings_of(inbound)["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_inbound_routes_as_scripts_use_them() {
    for (backend, ctl) in backends("/secret-path/").await {
        eprintln!("--- {backend}");
        v2_scenario(&ctl).await;
    }
}

async fn v2_scenario(ctl: &Controller) {
    let (server, _) = ctl.add_server("vpn-1").await;
    let mut x = XuiClient::new(&ctl.panel_url(), "/secret-path");

    // Hidden before login: an empty 404; an XHR gets 401 JSON. Outside the base path: 404.
    let r = x.get("/panel/api/inbounds/list").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    x.headers = vec![("X-Requested-With".into(), "XMLHttpRequest".into())];
    let r = x.get("/panel/api/inbounds/list").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["success"], json!(false));
    x.headers.clear();
    let mut outside = XuiClient::new(&ctl.panel_url(), "");
    assert_eq!(
        outside.login("admin", &ctl.admin_password).await.status,
        404
    );

    // Login: failures are 200 with success:false; success sets the `3x-ui` cookie.
    let msg = x.login("admin", "wrong-password").await.failure();
    assert!(msg.contains("wrong username or password"), "{msg}");
    assert!(x
        .post_form("/login", &[("username", "admin")])
        .await
        .failure()
        .contains("required"));
    let r = x.login("admin", &ctl.admin_password).await;
    r.obj();
    let cookie = r.headers["set-cookie"].clone();
    assert!(
        cookie.starts_with("3x-ui=")
            && cookie.contains("Path=/secret-path/")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(x.get("/panel/api/inbounds/list").await.obj(), json!([]));

    // add: a form with JSON strings, clients inside settings; the tag is recomputed.
    let port = free_port();
    let clients = json!([
        {"id": UUID_A, "email": "alice", "flow": "", "limitIp": 0, "totalGB": 0,
         "expiryTime": 0, "enable": true, "tgId": "", "subId": "alicesub", "reset": 0},
        {"id": UUID_B, "email": "bob", "totalGB": 1000, "expiryTime": -86400000 * 7,
         "enable": true, "tgId": 12345, "subId": "bobsub01"}
    ]);
    let mut form = add_form(port, "ws-in", clients);
    form.push(("tag".into(), "ignored".into()));
    let inbound = x
        .post_form("/panel/api/inbounds/add", &pairs(&form))
        .await
        .obj();
    let id = inbound["id"].as_i64().unwrap();
    assert_eq!(inbound["tag"], json!(format!("inbound-{port}")));
    assert_eq!(inbound["serverId"], json!(server));
    assert!(inbound["streamSettings"].is_string() && inbound["sniffing"].is_string());
    assert_eq!(emails(&inbound), ["alice", "bob"]);
    let stats = inbound["clientStats"].as_array().unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[1]["email"], json!("bob"));
    assert_eq!(stats[1]["total"], json!(1000));
    assert_eq!(stats[1]["expiryTime"], json!(-86400000i64 * 7));
    assert_eq!(stats[0]["uuid"], json!(UUID_A));
    assert_eq!(settings_of(&inbound)["clients"][1]["tgId"], json!(12345));

    // Refusals: success:false with the field named, and nothing stored.
    let clash = x
        .post_form(
            "/panel/api/inbounds/add",
            &pairs(&add_form(port, "again", json!([]))),
        )
        .await
        .failure();
    assert!(
        clash.contains("port") && clash.contains("already used"),
        "{clash}"
    );
    let dup = x
        .post_form(
            "/panel/api/inbounds/add",
            &pairs(&add_form(
                free_port(),
                "dup",
                json!([{"id": UUID_C, "email": "alice"}]),
            )),
        )
        .await
        .failure();
    assert!(
        dup.contains("alice") && dup.contains("already exists"),
        "{dup}"
    );
    let mut bad = add_form(free_port(), "bad-json", json!([]));
    bad[9].1 = "{not json".into();
    assert!(x
        .post_form("/panel/api/inbounds/add", &pairs(&bad))
        .await
        .failure()
        .contains("settings"));
    let mut bad = add_form(free_port(), "bad-proto", json!([]));
    bad[8].1 = "carrier-pigeon".into();
    assert!(x
        .post_form("/panel/api/inbounds/add", &pairs(&bad))
        .await
        .failure()
        .contains("unknown protocol"));
    let mut bad = add_form(free_port(), "bad-port", json!([]));
    bad[7].1 = "eighty".into();
    assert!(x
        .post_form("/panel/api/inbounds/add", &pairs(&bad))
        .await
        .failure()
        .contains("whole number"));
    let wrong_type = x
        .post_json(
            "/panel/api/inbounds/add",
            &json!({"port": [1], "protocol": "vless"}),
        )
        .await
        .failure();
    assert!(wrong_type.contains("whole number"), "{wrong_type}");
    let malformed = x
        .post_raw(
            "/panel/api/inbounds/add",
            "application/json",
            b"{\"port\":".to_vec(),
        )
        .await
        .failure();
    assert!(!malformed.is_empty());
    let huge = x
        .post_raw(
            "/panel/api/inbounds/add",
            "application/json",
            vec![b' '; 3 << 20],
        )
        .await
        .failure();
    assert!(huge.contains("larger than"), "{huge}");
    let bad_client = x
        .post_form(
            "/panel/api/inbounds/add",
            &pairs(&add_form(
                free_port(),
                "bad-uuid",
                json!([{"id": "nope", "email": "z"}]),
            )),
        )
        .await
        .failure();
    assert!(
        bad_client.contains("settings.clients[0].id"),
        "{bad_client}"
    );
    assert_eq!(
        x.get("/panel/api/inbounds/list")
            .await
            .obj()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // get, JSON bodies, and the same inbound given as JSON with string fields.
    let got = x.get(&format!("/panel/api/inbounds/get/{id}")).await.obj();
    assert_eq!(got["remark"], json!("ws-in"));
    assert!(x
        .get("/panel/api/inbounds/get/999999")
        .await
        .failure()
        .contains("not found"));

    // addClient / updateClient / getClientTraffics*.
    let add_client = json!({"id": id, "settings": json!({"clients": [
        {"id": UUID_C, "email": "carol", "limitIp": 2, "totalGB": 0, "expiryTime": 0, "enable": true}
    ]}).to_string()});
    x.post_json("/panel/api/inbounds/addClient", &add_client)
        .await
        .obj();
    assert!(x
        .post_json("/panel/api/inbounds/addClient", &add_client)
        .await
        .failure()
        .contains("already exists"));
    let update = json!({"id": id, "settings": json!({"clients": [
        {"id": UUID_C, "email": "carol", "limitIp": 5, "totalGB": 2048, "expiryTime": 0, "enable": true, "comment": "vip"}
    ]}).to_string()});
    x.post_form(
        &format!("/panel/api/inbounds/updateClient/{UUID_C}"),
        &[
            ("id", &id.to_string()),
            ("settings", update["settings"].as_str().unwrap()),
        ],
    )
    .await
    .obj();
    let carol = x
        .get("/panel/api/inbounds/getClientTraffics/carol")
        .await
        .obj();
    assert_eq!(
        (carol["total"].clone(), carol["inboundId"].clone()),
        (json!(2048), json!(id))
    );
    assert_eq!(
        (carol["up"].clone(), carol["down"].clone()),
        (json!(0), json!(0))
    );
    let by_id = x
        .get(&format!(
            "/panel/api/inbounds/getClientTrafficsById/{UUID_C}"
        ))
        .await
        .obj();
    assert_eq!(by_id.as_array().unwrap().len(), 1);
    assert_eq!(by_id[0]["email"], json!("carol"));
    assert!(x
        .get("/panel/api/inbounds/getClientTraffics/nobody")
        .await
        .failure()
        .contains("not found"));

    // Counters: set, reset, delete depleted.
    x.post_json(
        "/panel/api/inbounds/updateClientTraffic/bob",
        &json!({"upload": 700, "download": 400}),
    )
    .await
    .obj();
    let bob = x
        .get("/panel/api/inbounds/getClientTraffics/bob")
        .await
        .obj();
    assert_eq!(
        (bob["up"].clone(), bob["down"].clone()),
        (json!(700), json!(400))
    );
    assert!(x
        .post_json(
            "/panel/api/inbounds/updateClientTraffic/bob",
            &json!({"upload": -1})
        )
        .await
        .failure()
        .contains("upload"));
    x.post(&format!(
        "/panel/api/inbounds/{id}/resetClientTraffic/carol"
    ))
    .await
    .obj();
    x.post_json(
        "/panel/api/inbounds/updateClientTraffic/carol",
        &json!({"upload": 1, "download": 1}),
    )
    .await
    .obj();
    x.post("/panel/api/inbounds/resetAllClientTraffics/-1")
        .await
        .obj();
    let carol = x
        .get("/panel/api/inbounds/getClientTraffics/carol")
        .await
        .obj();
    assert_eq!(carol["up"], json!(0));
    x.post_json(
        "/panel/api/inbounds/updateClientTraffic/bob",
        &json!({"upload": 700, "download": 400}),
    )
    .await
    .obj();
    x.post(&format!("/panel/api/inbounds/delDepletedClients/{id}"))
        .await
        .obj();
    let after = x.get(&format!("/panel/api/inbounds/get/{id}")).await.obj();
    assert_eq!(
        emails(&after),
        ["alice", "carol"],
        "bob was over his 1000 bytes"
    );
    x.post("/panel/api/inbounds/resetAllTraffics").await.obj();

    // IPs, onlines, last online.
    assert_eq!(
        x.post("/panel/api/inbounds/clientIps/alice").await.obj(),
        json!("No IP Record")
    );
    x.post("/panel/api/inbounds/clearClientIps/alice")
        .await
        .obj();
    assert_eq!(x.post("/panel/api/inbounds/onlines").await.obj(), json!([]));
    assert_eq!(
        x.post("/panel/api/inbounds/lastOnline").await.obj(),
        json!({})
    );

    // setEnable, update (fields and client list), delClient by key and by email.
    x.post_form(
        &format!("/panel/api/inbounds/setEnable/{id}"),
        &[("enable", "false")],
    )
    .await
    .obj();
    assert_eq!(
        x.get(&format!("/panel/api/inbounds/get/{id}")).await.obj()["enable"],
        json!(false)
    );
    let mut form = add_form(
        port,
        "renamed",
        json!([
            {"id": UUID_A, "email": "alice-renamed", "enable": true},
            {"id": UUID_C, "email": "carol", "enable": true},
            {"id": UUID_B, "email": "dave", "enable": true}
        ]),
    );
    form[4].1 = "true".into();
    let updated = x
        .post_form(&format!("/panel/api/inbounds/update/{id}"), &pairs(&form))
        .await
        .obj();
    assert_eq!(updated["remark"], json!("renamed"));
    assert_eq!(
        emails(&updated),
        ["alice-renamed", "carol", "dave"],
        "alice was renamed by her UUID"
    );
    x.post(&format!("/panel/api/inbounds/{id}/delClient/{UUID_C}"))
        .await
        .obj();
    x.post(&format!("/panel/api/inbounds/{id}/delClientByEmail/dave"))
        .await
        .obj();
    assert!(x
        .post(&format!("/panel/api/inbounds/{id}/delClientByEmail/dave"))
        .await
        .failure()
        .contains("not found"));
    assert_eq!(
        emails(&x.get(&format!("/panel/api/inbounds/get/{id}")).await.obj()),
        ["alice-renamed"]
    );

    // import: the whole inbound as JSON in form field `data`.
    let mut data = x.get(&format!("/panel/api/inbounds/get/{id}")).await.obj();
    data["port"] = json!(free_port());
    data["settings"] = json!(vless_ws_settings(json!([{"id": UUID_B, "email": "erin"}])));
    let imported = x
        .post_form("/panel/api/inbounds/import", &[("data", &data.to_string())])
        .await
        .obj();
    assert_ne!(imported["id"], json!(id));
    assert!(x
        .post_form("/panel/api/inbounds/import", &[("data", "{broken")])
        .await
        .failure()
        .contains("data"));

    // Several servers: lists cover the fleet, `?server_id=` narrows them to one.
    let (second, _) = ctl.add_server("vpn-2").await;
    let fleet = x.get("/panel/api/inbounds/list").await.obj();
    assert_eq!(fleet.as_array().unwrap().len(), 2, "{fleet}");
    assert_eq!(
        x.get(&format!("/panel/api/inbounds/list?server_id={server}"))
            .await
            .obj()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        x.get(&format!("/panel/api/inbounds/list?server_id={second}"))
            .await
            .obj(),
        json!([])
    );
    assert!(x
        .get("/panel/api/inbounds/list?server_id=424242")
        .await
        .failure()
        .contains("not found"));

    // del removes the inbound and the clients it alone carried.
    assert_eq!(
        x.post(&format!("/panel/api/inbounds/del/{id}")).await.obj(),
        json!(id)
    );
    assert!(x
        .get(&format!("/panel/api/inbounds/get/{id}"))
        .await
        .failure()
        .contains("not found"));
    assert!(x
        .get("/panel/api/inbounds/getClientTraffics/alice-renamed")
        .await
        .failure()
        .contains("not found"));

    // Every change above reached the audit log under the admin's name.
    let audit = ctl.api().ok("GET", "/api/v1/audit?limit=200", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "inbound.create",
        "inbound.update",
        "inbound.delete",
        "client.create",
        "client.set_traffic",
        "client.delete_depleted",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }

    // v2's `GET /logout` still goes to the base path, but a GET any page can make ends
    // nothing; `POST /logout` ends the session.
    let r = x.get("/logout").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.headers["location"], "/secret-path/");
    assert_eq!(x.get("/panel/api/inbounds/list").await.status, 200);
    x.post("/logout").await.obj();
    assert_eq!(x.get("/panel/api/inbounds/list").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_csrf_bearer_and_the_clients_api() {
    for (backend, ctl) in backends("/").await {
        eprintln!("--- {backend}");
        v3_scenario(&ctl).await;
    }
}

async fn v3_scenario(ctl: &Controller) {
    let api = ctl.api();
    let (s1, _) = ctl.add_server("edge-1").await;
    let (s2, _) = ctl.add_server("edge-2").await;
    let mut x = XuiClient::new(&ctl.panel_url(), "");

    // CSRF: the token from /csrf-token (also a cookie) must match when sent.
    let token = x
        .get("/csrf-token")
        .await
        .obj()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        x.cookies.contains_key("3x-ui"),
        "the token lives with the `3x-ui` cookie"
    );
    x.headers = vec![("X-CSRF-Token".into(), "forged".into())];
    assert_eq!(x.login("admin", &ctl.admin_password).await.status, 403);
    x.headers = vec![("X-CSRF-Token".into(), token.clone())];
    x.post_json(
        "/login",
        &json!({"username": "admin", "password": ctl.admin_password, "twoFactorCode": ""}),
    )
    .await
    .obj();

    // Inbounds on two servers, as v3 sends them: JSON objects instead of strings.
    let mut inbound_ids = Vec::new();
    for server in [s1, s2] {
        let body = json!({"remark": "v3", "port": free_port(), "protocol": "vless", "enable": true,
            "settings": {"clients": [], "decryption": "none"},
            "streamSettings": {"network": "tcp", "security": "none"},
            "sniffing": {"enabled": false}});
        let inbound = x
            .post_json(
                &format!("/panel/api/inbounds/add?server_id={server}"),
                &body,
            )
            .await
            .obj();
        assert!(
            inbound["settings"].is_string(),
            "returned as strings, like v2"
        );
        inbound_ids.push(inbound["id"].as_i64().unwrap());
    }

    // A cookie request from another site is refused even with the cookie.
    x.headers = vec![("Origin".into(), "https://evil.example".into())];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 403);
    // So is one from a page that hides its origin, and, without Origin, one whose Referer
    // is another site; the panel's own Referer passes.
    x.headers = vec![("Origin".into(), "null".into())];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 403);
    x.headers = vec![("Referer".into(), "https://evil.example/page".into())];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 403);
    x.headers = vec![("Referer".into(), format!("{}/panel/", ctl.panel_url()))];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 200);
    x.headers = vec![("X-CSRF-Token".into(), "forged".into())];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 403);
    x.headers = vec![("X-CSRF-Token".into(), token.clone())];

    // clients: add attached to both servers; secrets generated when missing.
    let added = x
        .post_json("/panel/api/clients/add", &json!({"client": {"email": "zoe", "totalGB": 5000, "limitIp": 1}, "inboundIds": [inbound_ids[0]]}))
        .await
        .obj();
    assert_eq!(added["client"]["email"], json!("zoe"));
    assert_eq!(added["client"]["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(added["inboundIds"], json!([inbound_ids[0]]));
    assert!(x
        .post_json(
            "/panel/api/clients/add",
            &json!({"client": {"email": "zoe"}, "inboundIds": []})
        )
        .await
        .failure()
        .contains("already exists"));
    assert!(x
        .post_json(
            "/panel/api/clients/add",
            &json!({"client": {"email": "ghost"}, "inboundIds": [999999]})
        )
        .await
        .failure()
        .contains("inboundIds[0]"));
    let attached = x
        .post_json(
            "/panel/api/clients/zoe/attach",
            &json!({"inboundIds": [inbound_ids[1]]}),
        )
        .await
        .obj();
    assert_eq!(attached["inboundIds"], json!(inbound_ids));
    for server in [s1, s2] {
        let list = x
            .get(&format!("/panel/api/inbounds/list?server_id={server}"))
            .await
            .obj();
        assert_eq!(emails(&list[0]), ["zoe"], "zoe is on server {server}");
    }

    // get, update (rename keeps the identity), list, filters.
    let got = x.get("/panel/api/clients/get/zoe").await.obj();
    assert_eq!(got["usedTraffic"], json!(0));
    let updated = x
        .post_json(
            "/panel/api/clients/update/zoe",
            &json!({"email": "zoe2", "comment": "moved", "enable": true}),
        )
        .await
        .obj();
    assert_eq!(updated["client"]["comment"], json!("moved"));
    assert_eq!(updated["client"]["id"], got["client"]["id"]);
    assert!(x
        .post_json("/panel/api/clients/update/nobody", &json!({}))
        .await
        .failure()
        .contains("not found"));
    let list = x.get("/panel/api/clients/list").await.obj();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        x.get("/panel/api/clients/list?filter=online").await.obj(),
        json!([])
    );

    // Traffic and IPs.
    api.ok("GET", "/api/v1/clients/zoe2", None).await;
    x.post_json(
        "/panel/api/inbounds/updateClientTraffic/zoe2",
        &json!({"upload": 10, "download": 20}),
    )
    .await
    .obj();
    assert_eq!(
        x.get("/panel/api/clients/get/zoe2").await.obj()["usedTraffic"],
        json!(30)
    );
    x.post("/panel/api/clients/resetTraffic/zoe2").await.obj();
    assert_eq!(
        x.get("/panel/api/clients/get/zoe2").await.obj()["usedTraffic"],
        json!(0)
    );
    assert_eq!(
        x.post("/panel/api/clients/ips/zoe2").await.obj(),
        json!("No IP Record")
    );
    x.post("/panel/api/clients/clearIps/zoe2").await.obj();
    assert_eq!(x.post("/panel/api/clients/onlines").await.obj(), json!([]));
    assert_eq!(
        x.post("/panel/api/clients/lastOnline").await.obj(),
        json!({})
    );
    x.post("/panel/api/clients/resetAllTraffics").await.obj();

    // Bearer tokens: no cookie, no CSRF; a read-only token may only read.
    let admin_token = api
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "sdk"})))
        .await;
    let ro_token = api
        .ok(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({"name": "ro", "scope": "read-only"})),
        )
        .await;
    let mut bot = XuiClient::new(&ctl.panel_url(), "");
    bot.bearer = admin_token["token"].as_str().map(str::to_owned);
    assert_eq!(
        bot.get("/panel/api/clients/list")
            .await
            .obj()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    bot.post_json(
        "/panel/api/clients/add",
        &json!({"client": {"email": "yuri", "expiryTime": 1}, "inboundIds": inbound_ids}),
    )
    .await
    .obj();
    let mut reader = XuiClient::new(&ctl.panel_url(), "");
    reader.bearer = ro_token["token"].as_str().map(str::to_owned);
    assert_eq!(
        reader.get("/panel/api/clients/get/yuri").await.obj()["client"]["email"],
        json!("yuri")
    );
    assert_eq!(
        reader
            .post_json("/panel/api/clients/del/yuri", &json!({}))
            .await
            .status,
        403
    );
    bot.bearer = Some("not-a-token".into());
    assert_eq!(bot.get("/panel/api/clients/list").await.status, 404);

    // detach, delDepleted (yuri expired long ago), del.
    let detached = x
        .post_json(
            "/panel/api/clients/zoe2/detach",
            &json!({"inboundIds": [inbound_ids[0]]}),
        )
        .await
        .obj();
    assert_eq!(detached["inboundIds"], json!([inbound_ids[1]]));
    // An email no client has is `obj: null`, saying so (py3xui's "no such client").
    assert_eq!(
        x.post("/panel/api/clients/delDepleted").await.obj(),
        json!({"deleted": 1})
    );
    let gone = x.get("/panel/api/clients/get/yuri").await.envelope();
    assert_eq!(gone["obj"], Value::Null);
    assert!(
        gone["msg"].as_str().unwrap().contains("no client"),
        "{gone}"
    );
    x.post("/panel/api/clients/del/zoe2").await.obj();
    assert_eq!(x.get("/panel/api/clients/list").await.obj(), json!([]));

    // Generators, the Telegram backup trigger, unknown routes, v3 logout.
    let uuid = x.get("/panel/api/server/getNewUUID").await.obj();
    assert_eq!(uuid["uuid"].as_str().unwrap().len(), 36);
    assert!(x
        .get("/panel/api/backuptotgbot")
        .await
        .failure()
        .contains("Telegram"));
    let r = x.get("/panel/api/no/such/route").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    x.post("/logout").await.obj();
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 404);
    // The token belonged to the ended session: sent again without it, it is refused.
    assert_eq!(x.login("admin", &ctl.admin_password).await.status, 403);
    x.headers.clear();

    // Two-factor login through the compatible /login (`twoFactorCode`).
    use xfleet_controller::front::auth::totp;
    assert_eq!(x.post("/getTwoFactorEnable").await.obj(), json!(false));
    let setup = api.ok("POST", "/api/v1/auth/totp/setup", None).await;
    let key = totp::base32_decode(setup["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    api.ok(
        "POST",
        "/api/v1/auth/totp/enable",
        Some(json!({"code": totp::code_at(&key, now)})),
    )
    .await;
    assert_eq!(x.post("/getTwoFactorEnable").await.obj(), json!(true));
    let msg = x.login("admin", &ctl.admin_password).await.failure();
    assert!(msg.contains("two-factor"), "{msg}");
    let next = totp::code_at(&key, now + 30);
    let login = [
        ("username", "admin"),
        ("password", ctl.admin_password.as_str()),
        ("twoFactorCode", next.as_str()),
    ];
    x.post_form("/login", &login).await.obj();
    assert!(x.cookies.contains_key("3x-ui"));
    x.post("/logout").await.obj();
    let replay = x.post_form("/login", &login).await.failure();
    assert!(replay.contains("already used"), "{replay}");
}

/// The OpenAPI document lists every native route, and every route it lists exists: each is
/// called on a running controller and must reach a handler (not the unknown-route answer,
/// not 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let token = api
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "probe"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    let doc = x.get("/api/v1/openapi.json").await.json();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    x.bearer = Some(token);
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
            // The event stream never ends; controller/tests/panel.rs reads its first event.
            if path == "/auth/logout" || path == "/events" {
                continue;
            }
            let concrete = path
                .replace("{server}", "424242")
                .replace("{id}", "424242")
                .replace("{email}", "nobody@example")
                .replace("{kind}", "uuid");
            let r = x
                .send(
                    &method.to_uppercase(),
                    &format!("/api/v1{concrete}"),
                    Some(("application/json", b"{}".to_vec())),
                )
                .await;
            assert_ne!(r.status, 405, "{method} {path}: no such method");
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains("route not found"),
                "{method} {path}: documented but not routed"
            );
            checked += 1;
        }
    }
    // And an undocumented path is the unknown-route answer.
    let r = x.get("/api/v1/no-such-thing").await;
    assert!(String::from_utf8_lossy(&r.body).contains("route not found"));
    assert!(checked >= 40, "{checked} operations checked");
}

/// The native API's refusals: 4xx with the bad fields listed, never a 500, nothing stored.
/// Two clients whose emails differ only in letter case would be one user to the core (it
/// keys users by lower-case email) and make it refuse the whole state of their server: the
/// native API and the 3x-ui one refuse the second spelling, in a new client, in an inbound's
/// client list or in a rename, with a message saying why, and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_that_differ_only_in_letter_case_are_refused() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (server, _) = ctl.add_server("vpn-1").await;
    let api = ctl.api();
    let inbounds = format!("/api/v1/servers/{server}/inbounds");
    let vless = |clients: Value| {
        json!({"port": free_port(), "protocol": "vless",
               "settings": {"decryption": "none", "clients": clients}})
    };
    let inbound = api.ok("POST", &inbounds, Some(vless(json!([])))).await;
    let ids = json!([inbound["id"]]);
    for email in ["alice", "carol"] {
        api.ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": email, "inboundIds": ids})),
        )
        .await;
    }
    let refused = |err: anyhow::Error, field: &str, email: &str, other: &str| {
        let err = err.to_string();
        assert!(
            err.contains("invalid_request")
                && err.contains(&format!(
                    "{field}: `{email}` differs from client `{other}` only in letter case; \
                     the core keys clients by lower-case email"
                )),
            "{err}"
        );
    };
    let err = api
        .call(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "ALICE", "inboundIds": ids})),
        )
        .await
        .unwrap_err();
    refused(err, "email", "ALICE", "alice");
    let err = api
        .call(
            "POST",
            &inbounds,
            Some(vless(json!([{"email": "bob"}, {"email": "Bob"}]))),
        )
        .await
        .unwrap_err();
    refused(err, "settings.clients[1].email", "Bob", "bob");
    let err = api
        .call(
            "PUT",
            "/api/v1/clients/carol",
            Some(json!({"email": "Alice"})),
        )
        .await
        .unwrap_err();
    refused(err, "email", "Alice", "alice");
    // A client may change the case of its own email.
    api.ok(
        "PUT",
        "/api/v1/clients/carol",
        Some(json!({"email": "Carol"})),
    )
    .await;

    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await.obj();
    let add = json!({"id": inbound["id"], "settings": json!({"clients": [
        {"id": UUID_A, "email": "aLiCe", "enable": true}
    ]}).to_string()});
    let msg = x
        .post_json("/panel/api/inbounds/addClient", &add)
        .await
        .failure();
    assert!(
        msg.contains("`aLiCe` differs from client `alice` only in letter case"),
        "{msg}"
    );

    let clients = api.ok("GET", "/api/v1/clients", None).await;
    let mut emails: Vec<&str> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    emails.sort_unstable();
    assert_eq!(emails, ["Carol", "alice"], "nothing else was stored");
    assert_eq!(
        api.ok("GET", &inbounds, None)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_api_refuses_bad_input_and_stores_nothing() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (server, _) = ctl.add_server("vpn-1").await;
    let api = ctl.api();
    let token = api
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "t"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.bearer = Some(token);
    let path = format!("/api/v1/servers/{server}/inbounds");
    let port = free_port();
    x.post_json(
        &path,
        &json!({"port": port, "protocol": "vless", "settings": {"decryption": "none"}}),
    )
    .await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", b"{\"port\": 1".to_vec(), "invalid_request"),
        ("wrong type", br#"{"port": "many", "protocol": "vless"}"#.to_vec(), "invalid_request"),
        ("unknown protocol", br#"{"port": 20001, "protocol": "pigeon"}"#.to_vec(), "protocol"),
        ("port clash", format!(r#"{{"port": {port}, "protocol": "vmess"}}"#).into_bytes(), "already used"),
        ("bad stream", br#"{"port": 20002, "protocol": "vless", "settings": {"decryption": "none"}, "streamSettings": {"network": "carrier"}}"#.to_vec(), "streamSettings"),
        ("bad client", br#"{"port": 20003, "protocol": "vless", "settings": {"decryption": "none", "clients": [{"email": "a", "id": "x"}]}}"#.to_vec(), "settings.clients[0].id"),
        ("oversized", vec![b' '; 2 << 20], ""),
    ];
    for (what, body, expect) in cases {
        let r = x
            .send("POST", &path, Some(("application/json", body)))
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{what}: status {}",
            r.status
        );
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert!(text.contains(expect), "{what}: {text}");
    }
    // Field errors come as a list a form can show next to each field.
    let r = x
        .post_json(
            &path,
            &json!({"port": 0, "protocol": "nope", "trafficReset": "yearly"}),
        )
        .await;
    let fields: Vec<String> = r.json()["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["port", "protocol", "trafficReset"]);
    // Fallbacks, certificates and socket options are named down to the entry and key.
    let r = x
        .post_json(
            &path,
            &json!({"port": free_port(), "protocol": "vless",
                "settings": {"decryption": "none", "fallbacks": [{"dest": 80}, {"dest": "", "xver": 5}]},
                "streamSettings": {"network": "tcp", "security": "tls", "sockopt": {"mark": "x"},
                    "tlsSettings": {"certificates": [
                        {"certificateFile": "/etc/ssl/a.pem", "keyFile": "/etc/ssl/a.key"},
                        {"certificateFile": "/etc/ssl/b.pem"}]}}}),
        )
        .await;
    let fields: Vec<String> = r.json()["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        [
            "settings.fallbacks[1].dest",
            "settings.fallbacks[1].xver",
            "streamSettings.tlsSettings.certificates[1].keyFile",
            "streamSettings.sockopt.mark",
        ]
    );
    let list = x.get(&path).await.json();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
    // A client refused for one bad inbound id is not created at all.
    let r = x
        .post_json(
            "/api/v1/clients",
            &json!({"email": "half", "inboundIds": [list["data"][0]["id"], 987654]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(x.get("/api/v1/clients/half").await.status, 404);
}

/// py3xui 0.7.0, the SDK most 3x-ui bots and scripts use, unchanged against a fleet of two
/// servers (one never connected): it logs in through its CSRF flow keeping only the `3x-ui`
/// cookie, and every call its users make succeeds with answers it parses, acting on the
/// default server (the first one added) since py3xui cannot name a server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py3xui_works_unchanged_against_a_fleet() {
    use xfleet_tests::python::{run_script, sdk_python};
    use xfleet_tests::Agent;
    const LONG: std::time::Duration = std::time::Duration::from_secs(60);

    let Some(python) = sdk_python() else {
        return;
    };
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (first, token) = ctl.add_server("vpn-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(first, "online", LONG).await;
    let (pending, _) = ctl.add_server("never-connected").await;
    let pending_revision = ctl.server(pending).await["revision"].clone();
    let core_before = agent.core_pid();

    let port = free_port();
    let backup = ctl.dir.path().join("backup.db");
    let steps = run_script(
        python,
        "py3xui_steps.py",
        vec![
            ctl.panel_url(),
            "admin".into(),
            ctl.admin_password.clone(),
            port.to_string(),
            backup.display().to_string(),
        ],
    )
    .await;
    let by_name = |name: &str| -> Value {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no step {name} in {steps:#?}"))
    };
    let failed: Vec<&Value> = steps.iter().filter(|s| s["ok"] != json!(true)).collect();
    assert!(failed.is_empty(), "steps failed: {failed:#?}");
    assert_eq!(steps.len(), 20, "{steps:#?}");

    assert_eq!(by_name("login")["cookie"], json!("3x-ui"));
    assert_eq!(by_name("inbound.get")["port"], json!(port));
    assert_eq!(by_name("inbound.update")["remark"], json!("py3xui-renamed"));
    let client = by_name("client.get");
    assert_eq!(client["email"], json!("py-alice"));
    assert_eq!(client["total_gb"], json!(10u64 << 30));
    assert_eq!(client["inbound_id"], by_name("inbound.list")["id"]);
    assert_eq!(by_name("client.update")["total_gb"], json!(20u64 << 30));
    assert_eq!(
        by_name("client.traffic_by_id")["emails"],
        json!(["py-alice"])
    );
    assert_eq!(by_name("client.ips")["ips"], json!([]));
    assert_eq!(by_name("server.status")["xray_state"], json!("running"));
    assert_eq!(by_name("server.backup")["sqlite"], json!(true));
    assert_eq!(by_name("client.delete")["gone"], json!(true));
    assert_eq!(by_name("inbound.delete")["left"], json!([]));

    // The calls acted on the default server: the inbound was made there, and its core
    // restarted; the pending server was left alone.
    let audit = ctl.api().ok("GET", "/api/v1/audit", None).await.to_string();
    assert!(audit.contains("py3xui"), "the inbound was audited");
    assert_ne!(agent.core_pid(), core_before, "the core restarted");
    assert_eq!(ctl.server(pending).await["revision"], pending_revision);
}

/// 3x-ui's settings routes on both paths (v2 `/panel/setting`, v3.3 `/panel/api/setting`) and
/// the default server, as scripts use them: the whole form sent back is taken, a bad key
/// refuses everything and stores nothing (a core template that is not a JSON object too,
/// named), a good core template is stored, the admin's credentials change with the old ones,
/// and calls without `server_id` act on the default server while lists cover the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_routes_and_the_default_server() {
    for (backend, ctl) in backends("/").await {
        eprintln!("--- {backend}");
        settings_scenario(&ctl).await;
    }
}

async fn settings_scenario(ctl: &Controller) {
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    // Without a session, v2's settings path sends to the login page; v3's API path hides.
    let r = x.post("/panel/setting/all").await;
    assert_eq!((r.status, r.headers["location"].as_str()), (307, "/"));
    assert_eq!(x.post("/panel/api/setting/all").await.status, 404);
    x.login("admin", &ctl.admin_password).await.obj();

    // `all`: 3x-ui's keys in its types, on both paths; the session secret is never shown.
    let all = x.post("/panel/setting/all").await.obj();
    assert_eq!(all, x.post("/panel/api/setting/all").await.obj());
    assert_eq!(all["subPort"], json!(2096));
    assert_eq!(all["tgBotEnable"], json!(false));
    assert_eq!(all["pageSize"], json!(25));
    assert!(all.get("secret").is_none(), "{all}");

    // The whole form back, with one change, as 3x-ui's page sends it.
    let mut form = all.clone();
    form["pageSize"] = json!(50);
    form["subTitle"] = json!("Fleet");
    x.post_json("/panel/api/setting/update", &form).await.obj();
    let now = x.post("/panel/setting/all").await.obj();
    assert_eq!(
        (now["pageSize"].clone(), now["subTitle"].clone()),
        (json!(50), json!("Fleet"))
    );
    // As a form, too.
    x.post_form("/panel/setting/update", &[("pageSize", "30")])
        .await
        .obj();
    assert_eq!(
        x.post("/panel/setting/all").await.obj()["pageSize"],
        json!(30)
    );

    // One bad key refuses the whole update, by name, and stores nothing.
    for (body, says) in [
        (
            json!({"pageSize": 99, "pageSzie": 10}),
            "pageSzie: is not a setting",
        ),
        (
            json!({"pageSize": 99, "webPort": "high"}),
            "webPort: must be a whole number",
        ),
        (
            json!({"pageSize": 99, "ldapEnable": true}),
            "LDAP sync has no counterpart",
        ),
        (
            json!({"pageSize": 99, "twoFactorEnable": true}),
            "two-factor login is set up per user",
        ),
        (
            json!({"pageSize": 99, "defaultServer": "nowhere"}),
            "defaultServer: names no server",
        ),
        (
            json!({"pageSize": 99, "xrayTemplateConfig": "[1]"}),
            "xrayTemplateConfig: must be a JSON object",
        ),
        (
            json!({"pageSize": 99, "xrayTemplateConfig": r#"{"routing": []}"#}),
            "xrayTemplateConfig: core template: `routing` must be an object",
        ),
    ] {
        let failure = x.post_json("/panel/setting/update", &body).await.failure();
        assert!(failure.contains(says), "{failure}");
    }
    // The fleet's core template is set here like any other key, and stored compact.
    x.post_json(
        "/panel/setting/update",
        &json!({"xrayTemplateConfig": "{\"log\": {\"loglevel\": \"info\"}}"}),
    )
    .await
    .obj();
    let stored = ctl.api().ok("GET", "/api/v1/settings", None).await;
    assert_eq!(
        stored["xrayTemplateConfig"],
        json!(r#"{"log":{"loglevel":"info"}}"#)
    );
    assert_eq!(
        x.post("/panel/setting/all").await.obj()["pageSize"],
        json!(30)
    );

    // v3's factoryDefaults reads the shipped defaults (3x-ui's pages mark values that differ);
    // it changes nothing, and shows no secret.
    let factory = x.post("/panel/api/setting/factoryDefaults").await.obj();
    assert_eq!(
        factory,
        x.post("/panel/setting/factoryDefaults").await.obj()
    );
    assert_eq!(
        (factory["pageSize"].clone(), factory["subPort"].clone()),
        (json!("25"), json!("2096"))
    );
    for hidden in [
        "tgBotToken",
        "secret",
        "twoFactorToken",
        "xrayTemplateConfig",
    ] {
        assert!(factory.get(hidden).is_none(), "{hidden}: {factory}");
    }
    assert_eq!(
        x.post("/panel/setting/all").await.obj()["pageSize"],
        json!(30)
    );
    let defaults = x.post("/panel/api/setting/defaultSettings").await.obj();
    assert!(
        defaults["subURI"].as_str().unwrap().ends_with("/sub/"),
        "{defaults}"
    );
    assert_eq!(defaults["pageSize"], json!(30));
    let template = x.get("/panel/setting/getDefaultJsonConfig").await.obj();
    assert_eq!(template["inbounds"][0]["tag"], json!("api"));
    assert_eq!(template["routing"]["rules"][0]["outboundTag"], json!("api"));

    // Default server: the first added, then the one the setting names; lists cover both.
    let (s1, _) = ctl.add_server("first").await;
    let (s2, _) = ctl.add_server("second").await;
    let add = |port: u16| add_form(port, "default", json!([]));
    let on_first = x
        .post_form("/panel/api/inbounds/add", &pairs(&add(free_port())))
        .await
        .obj();
    x.post_json("/panel/setting/update", &json!({"defaultServer": "second"}))
        .await
        .obj();
    let on_second = x
        .post_form("/panel/api/inbounds/add", &pairs(&add(free_port())))
        .await
        .obj();
    let api = ctl.api();
    for (server, inbound) in [(s1, &on_first), (s2, &on_second)] {
        let listed = api
            .ok("GET", &format!("/api/v1/servers/{server}/inbounds"), None)
            .await;
        let ids: Vec<&Value> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["id"])
            .collect();
        assert_eq!(ids, [&inbound["id"]], "server {server}: {listed}");
    }
    let fleet = x.get("/panel/api/inbounds/list").await.obj();
    assert_eq!(fleet.as_array().unwrap().len(), 2, "{fleet}");
    let one = x
        .get(&format!("/panel/api/inbounds/list?server_id={s1}"))
        .await
        .obj();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");

    // New credentials need the old ones; the old password stops working.
    let wrong = x
        .post_json(
            "/panel/setting/updateUser",
            &json!({"oldUsername": "admin", "oldPassword": "not it",
                    "newUsername": "root", "newPassword": "a-new-password"}),
        )
        .await
        .failure();
    assert!(wrong.contains("wrong"), "{wrong}");
    x.post_form(
        "/panel/api/setting/updateUser",
        &[
            ("oldUsername", "admin"),
            ("oldPassword", ctl.admin_password.as_str()),
            ("newUsername", "root"),
            ("newPassword", "a-new-password"),
        ],
    )
    .await
    .obj();
    let mut fresh = XuiClient::new(&ctl.panel_url(), "");
    assert!(fresh
        .login("admin", &ctl.admin_password)
        .await
        .failure()
        .contains("Login failed"));
    fresh.login("root", "a-new-password").await.obj();
}

/// The steps `tests/python/x3ui_steps.py` takes in both modes (a cookie session also logs out).
const X3UI_STEPS: [&str; 23] = [
    "login",
    "server.status",
    "inbounds.add",
    "inbounds.list",
    "inbounds.get",
    "inbounds.update",
    "inbounds.setEnable",
    "clients.add",
    "clients.list",
    "clients.get",
    "clients.update",
    "clients.traffic",
    "clients.links",
    "clients.bulkDisable",
    "clients.bulkEnable",
    "clients.bulkResetTraffic",
    "clients.resetTraffic",
    "clients.ips",
    "clients.onlines",
    "clients.lastOnline",
    "inbounds.resetTraffic",
    "clients.delete",
    "inbounds.delete",
];

/// The controller as x3ui 2.0.1 (the typed client generated from 3x-ui v3's OpenAPI
/// document) sees it: every step its users take, with a cookie session and again with a
/// Bearer token, parses into the SDK's models and gives back what was set (the inbound's
/// port and v3 fields, a client's quota and Telegram id, a bulk-disabled client shown off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x3ui_drives_inbounds_clients_and_status_with_a_cookie_and_with_a_token() {
    let Some(python) = sdk_python() else { return };
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    // Server 1 is this host, running the `v2ray` found on PATH.
    let ctl = Controller::start(ControllerOptions {
        local_server: true,
        ..Default::default()
    })
    .await;
    wait_for("the local core to run", Duration::from_secs(60), || async {
        let s = ctl.server(1).await;
        (s["live"]["core"]["state"] == json!("running")).then_some(())
    })
    .await;
    let token = ctl
        .api()
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "x3ui"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let runs = [
        (
            "cookie",
            "admin".to_owned(),
            ctl.admin_password.clone(),
            "ck",
        ),
        ("bearer", token, "-".to_owned(), "bt"),
    ];
    for (mode, secret, password, prefix) in runs {
        let port = free_port();
        let args = vec![
            ctl.panel_url(),
            mode.into(),
            secret,
            password,
            port.to_string(),
            prefix.into(),
        ];
        let steps: BTreeMap<String, Value> = run_script(python.clone(), "x3ui_steps.py", args)
            .await
            .into_iter()
            .map(|s| (s["step"].as_str().unwrap().to_owned(), s))
            .collect();
        let failed: Vec<String> = steps
            .values()
            .filter(|s| s["ok"] != json!(true))
            .map(|s| format!("{}: {}", s["step"], s["trace"].as_str().unwrap_or("")))
            .collect();
        assert!(
            failed.is_empty(),
            "{mode}: x3ui steps failed:\n{}",
            failed.join("\n")
        );
        let mut expected: Vec<&str> = X3UI_STEPS.to_vec();
        if mode == "cookie" {
            expected.push("logout");
        }
        expected.sort_unstable();
        assert_eq!(steps.keys().collect::<Vec<_>>(), expected, "{mode}");
        let (alice, bob) = (format!("{prefix}-alice"), format!("{prefix}-bob"));
        let inbound = steps["inbounds.add"]["id"].clone();
        let expect = |step: &str, want: Value| {
            let got = &steps[step];
            for (key, value) in want.as_object().unwrap() {
                assert_eq!(&got[key], value, "{mode} {step}.{key}: {got}");
            }
        };
        expect("server.status", json!({"xray_state": "running"}));
        expect("inbounds.add", json!({"port": port}));
        expect(
            "inbounds.list",
            json!({"port": port, "enable": true, "subSortIndex": 1, "shareAddrStrategy": "node",
                   "trafficReset": "never", "trafficResetDay": 1, "disableFlow": false}),
        );
        expect(
            "inbounds.get",
            json!({"port": port, "remark": format!("{prefix} ws")}),
        );
        expect(
            "inbounds.update",
            json!({"remark": format!("{prefix} renamed")}),
        );
        expect("inbounds.setEnable", json!({"off": false, "on": true}));
        expect(
            "clients.list",
            json!({"emails": [&alice, &bob], "inboundIds": [&inbound], "totalGB": 5_i64 << 30}),
        );
        expect(
            "clients.get",
            json!({"email": &alice, "totalGB": 5_i64 << 30, "limitIp": 2, "tgId": 42,
                   "inboundIds": [&inbound], "enable": true}),
        );
        let uuid = steps["clients.get"]["uuid"].clone();
        assert_eq!(uuid.as_str().map(str::len), Some(36), "{uuid}");
        expect(
            "clients.update",
            json!({"comment": "vip", "limitIp": 3, "uuid": uuid}),
        );
        expect(
            "clients.traffic",
            json!({"email": &alice, "up": 0, "down": 0, "total": 5_i64 << 30, "enable": true}),
        );
        let link = steps["clients.links"]["first"].as_str().unwrap();
        assert!(
            link.starts_with(&format!("vless://{}@", uuid.as_str().unwrap()))
                && link.contains(&format!(":{port}?")),
            "{mode}: {link}"
        );
        expect(
            "clients.bulkDisable",
            json!({"changed": 2, "enable": false, "clientStats": false}),
        );
        expect("clients.bulkEnable", json!({"changed": 2, "enable": true}));
        expect("clients.bulkResetTraffic", json!({"affected": 2}));
        expect("clients.ips", json!({"ips": "No IP Record"}));
        expect("clients.onlines", json!({"online": []}));
        expect("clients.lastOnline", json!({"lastOnline": {}}));
        expect("inbounds.resetTraffic", json!({"up": 0}));
        expect("clients.delete", json!({"gone": true}));
        expect("inbounds.delete", json!({"listed": false}));
    }
}

/// v3's routes beyond what x3ui's facade wraps, as a Bearer script calls them, on both
/// backends: the list projections, fallbacks, bulk operations with per-item reasons, paging,
/// export/import, orphans; v3 fields xfleet cannot honour refused by name with nothing
/// stored; and the features xfleet lacks answered honestly (empty, or saying what to use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_routes_beyond_the_sdk_facade() {
    for (backend, ctl) in backends("/").await {
        eprintln!("--- {backend}");
        v3_more_scenario(&ctl).await;
    }
}

async fn v3_more_scenario(ctl: &Controller) {
    let (server, _) = ctl.add_server("edge").await;
    let token = ctl
        .api()
        .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "v3"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.bearer = Some(token);
    let add = |port: u16, network: &str, clients: Value| {
        json!({"remark": format!("in-{port}"), "port": port, "protocol": "vless",
               "enable": true, "settings": {"clients": clients, "decryption": "none"},
               "streamSettings": {"network": network, "security": "none"},
               "sniffing": {"enabled": false}, "subSortIndex": 1, "shareAddrStrategy": "node",
               "shareAddr": "", "disableFlow": false, "trafficResetDay": 1})
    };
    let inbounds = format!("/panel/api/inbounds/list?server_id={server}");

    // v3 fields at their unused values are taken; others are refused by name, nothing stored.
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let master = x
        .post_json("/panel/api/inbounds/add", &add(p1, "tcp", json!([])))
        .await
        .obj();
    let mut bad = add(free_port(), "tcp", json!([]));
    bad["subSortIndex"] = json!(3);
    bad["shareAddrStrategy"] = json!("custom");
    bad["disableFlow"] = json!(true);
    let msg = x.post_json("/panel/api/inbounds/add", &bad).await.failure();
    for field in ["subSortIndex", "shareAddrStrategy", "disableFlow"] {
        assert!(msg.contains(field), "{msg}");
    }
    assert_eq!(x.get(&inbounds).await.obj().as_array().unwrap().len(), 1);
    assert_eq!(master["subSortIndex"], json!(1));
    assert_eq!(master["shareAddrStrategy"], json!("node"));
    let (master_id, master_port) = (master["id"].as_i64().unwrap(), p1);
    let clients = json!([{"email": "v3-a", "enable": true, "comment": "first"},
                         {"email": "v3-b", "enable": true}]);
    let ws = x
        .post_json("/panel/api/inbounds/add", &add(p2, "ws", clients))
        .await
        .obj();
    let ws_id = ws["id"].as_i64().unwrap();
    let child = x
        .post_json("/panel/api/inbounds/add", &add(p3, "tcp", json!([])))
        .await
        .obj();
    let child_id = child["id"].as_i64().unwrap();

    // list/slim: objects, clients cut to email, enable, comment; options; allLinks.
    let slim = x.get("/panel/api/inbounds/list/slim").await.obj();
    let slim_ws = slim
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(ws_id))
        .unwrap()
        .clone();
    assert_eq!(
        slim_ws["settings"]["clients"],
        json!([{"email": "v3-a", "enable": true, "comment": "first"},
               {"email": "v3-b", "enable": true, "comment": ""}])
    );
    assert!(slim_ws["streamSettings"].is_object() && slim_ws.get("allTime").is_none());
    let options = x.get("/panel/api/inbounds/options").await.obj();
    let option = options
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == json!(ws_id))
        .unwrap()
        .clone();
    assert_eq!(
        (
            option["port"].clone(),
            option["tlsFlowCapable"].clone(),
            option["ssMethod"].clone()
        ),
        (json!(p2), json!(false), json!(""))
    );
    let links = x.get("/panel/api/inbounds/allLinks").await.obj();
    let links: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(links
        .iter()
        .all(|l| l.starts_with("vless://") && l.contains(&format!(":{p2}?"))));

    // Fallbacks: a child given by id becomes its port in settings.fallbacks, read back as rows.
    let path = format!("/panel/api/inbounds/{master_id}/fallbacks");
    x.post_json(
        &path,
        &json!({"fallbacks": [{"childId": child_id, "path": "/ws", "xver": 0}]}),
    )
    .await
    .obj();
    let rows = x.get(&path).await.obj();
    assert_eq!(
        rows,
        json!([{"id": 1, "masterId": master_id, "childId": child_id, "name": "", "alpn": "",
                "path": "/ws", "dest": p3.to_string(), "xver": 0, "sortOrder": 0}])
    );
    let settings = x
        .get(&format!("/panel/api/inbounds/get/{master_id}"))
        .await
        .obj()["settings"]
        .as_str()
        .map(|s| serde_json::from_str::<Value>(s).unwrap())
        .unwrap();
    assert_eq!(
        settings["fallbacks"],
        json!([{"path": "/ws", "dest": p3, "xver": 0}])
    );
    assert!(x
        .post_json(&path, &json!({"fallbacks": [{"childId": 987654}]}))
        .await
        .failure()
        .contains("fallbacks[0].childId"));
    assert_eq!(master_port, p1);

    // subSortIndex: 1 is every inbound's; another is refused. A master cannot push usage.
    let sort = format!("/panel/api/inbounds/{master_id}/subSortIndex");
    x.post_json(&sort, &json!({"subSortIndex": 1})).await.obj();
    assert!(x
        .post_json(&sort, &json!({"subSortIndex": 2}))
        .await
        .failure()
        .contains("subSortIndex"));
    assert!(x
        .post_json(
            "/panel/api/inbounds/pushClientTraffics",
            &json!({"traffics": []})
        )
        .await
        .failure()
        .contains("agents"));

    // Clients: v3 fields of missing features refused by name; a record read and sent back is
    // taken unchanged.
    let msg = x
        .post_json(
            "/panel/api/clients/add",
            &json!({"client": {"email": "v3-c", "group": "vip", "limitHwid": 3},
                    "inboundIds": [ws_id]}),
        )
        .await
        .failure();
    assert!(
        msg.contains("client.group") && msg.contains("client.limitHwid"),
        "{msg}"
    );
    assert_eq!(
        x.get("/panel/api/clients/get/v3-c").await.obj(),
        Value::Null
    );
    let record = x.get("/panel/api/clients/get/v3-a").await.obj()["client"].clone();
    assert!(record["id"].is_i64() && record["uuid"].as_str().unwrap().len() == 36);
    let back = x
        .post_json("/panel/api/clients/update/v3-a", &record)
        .await
        .obj();
    assert_eq!(back["client"]["uuid"], record["uuid"]);
    x.post_json(
        "/panel/api/clients/update/v3-a",
        &json!({"email": "v3-a", "tgId": 777, "totalGB": 1000, "expiryTime": 4102444800000_i64}),
    )
    .await
    .obj();
    let by_tg = x.get("/panel/api/clients/get/tgId/777").await.obj();
    assert_eq!(by_tg.as_array().unwrap().len(), 1);
    let sub = record["subId"].as_str().unwrap();
    let sub_links = x
        .get(&format!("/panel/api/clients/subLinks/{sub}"))
        .await
        .obj();
    assert_eq!(sub_links.as_array().unwrap().len(), 1);

    // list/paged: sorted, cut, counted; an unknown filter is refused by name.
    let page = x
        .get("/panel/api/clients/list/paged?page=1&pageSize=1&sort=email&order=desc")
        .await
        .obj();
    assert_eq!(
        (
            page["total"].clone(),
            page["filtered"].clone(),
            page["items"][0]["email"].clone()
        ),
        (json!(2), json!(2), json!("v3-b"))
    );
    assert_eq!(page["summary"]["total"], json!(2));
    assert!(
        page["items"][0].get("uuid").is_none(),
        "rows carry no secrets"
    );
    assert!(x
        .get("/panel/api/clients/list/paged?filter=bogus")
        .await
        .failure()
        .contains("filter"));

    // Bulk: each one not done says why; the rest go ahead.
    let r = x
        .post_json(
            "/panel/api/clients/bulkEnable",
            &json!({"emails": ["v3-a", "nobody"]}),
        )
        .await
        .obj();
    assert_eq!(r["changed"], json!(0));
    assert_eq!(
        r["skipped"],
        json!([{"email": "nobody", "reason": "client not found"},
               {"email": "v3-a", "reason": "already enabled"}])
    );
    let r = x
        .post_json(
            "/panel/api/clients/bulkAdjust",
            &json!({"emails": ["v3-a", "v3-b"], "addDays": 10, "addBytes": 24}),
        )
        .await
        .obj();
    assert_eq!(r["adjusted"], json!(1));
    assert!(r["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("unlimited"));
    let a = x.get("/panel/api/clients/get/v3-a").await.obj()["client"].clone();
    assert_eq!(
        (a["totalGB"].clone(), a["expiryTime"].clone()),
        (json!(1024), json!(4102444800000_i64 + 10 * 86_400_000))
    );
    let r = x
        .post_json(
            "/panel/api/clients/bulkCreate",
            &json!([{"client": {"email": "v3-d"}, "inboundIds": [ws_id]},
                    {"client": {"email": "v3-d"}, "inboundIds": [ws_id]}]),
        )
        .await
        .obj();
    assert_eq!(r["created"], json!(1));
    assert!(r["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let r = x
        .post_json(
            "/panel/api/clients/bulkAttach",
            &json!({"emails": ["v3-d"], "inboundIds": [child_id]}),
        )
        .await
        .obj();
    assert_eq!(r["attached"], json!(["v3-d"]));

    // delAllClients: every client leaves the inbound; one attached elsewhere stays there.
    let r = x
        .post(&format!("/panel/api/inbounds/{ws_id}/delAllClients"))
        .await
        .obj();
    assert_eq!(r["deleted"], json!(3));
    assert_eq!(
        x.get("/panel/api/clients/get/v3-a").await.obj(),
        Value::Null
    );
    assert_eq!(
        x.get("/panel/api/clients/get/v3-d").await.obj()["inboundIds"],
        json!([child_id])
    );

    // Export, then import what is missing; orphans go.
    let export = x.get("/panel/api/clients/export").await.obj();
    assert_eq!(export.as_array().unwrap().len(), 1);
    x.post_json(
        "/panel/api/clients/bulkDetach",
        &json!({"emails": ["v3-d"], "inboundIds": [child_id]}),
    )
    .await
    .obj();
    assert_eq!(
        x.post("/panel/api/clients/delOrphans").await.obj(),
        json!({"deleted": 1})
    );
    let r = x
        .post_json(
            "/panel/api/clients/import",
            &json!({"data": export.to_string()}),
        )
        .await
        .obj();
    assert_eq!(r["created"], json!(1), "{r}");
    assert_eq!(
        x.get("/panel/api/clients/get/v3-d").await.obj()["inboundIds"],
        json!([child_id])
    );

    // bulkDel of inbounds: each failure by id, the rest deleted.
    let r = x
        .post_json(
            "/panel/api/inbounds/bulkDel",
            &json!({"ids": [ws_id, 987654]}),
        )
        .await
        .obj();
    assert_eq!(r["deleted"], json!(1));
    assert_eq!(r["skipped"][0]["id"], json!(987654));

    // Features xfleet lacks: empty where that is true, a pointer where it would mislead.
    assert_eq!(x.get("/panel/api/hosts/list").await.obj(), json!([]));
    assert!(x
        .post_json("/panel/api/hosts/add", &json!({"remark": "cdn"}))
        .await
        .failure()
        .contains("managed hosts"));
    assert!(x
        .get("/panel/api/nodes/list")
        .await
        .failure()
        .contains("/api/v1/servers"));
    assert_eq!(x.get("/panel/api/clients/groups").await.obj(), json!([]));
    assert!(x
        .post_json("/panel/api/clients/groups/create", &json!({"name": "vip"}))
        .await
        .failure()
        .contains("groups"));
    assert_eq!(
        x.post("/panel/api/clients/hwids/v3-d").await.obj(),
        json!([])
    );
    assert!(x
        .post("/panel/api/clients/onlinesByGuid")
        .await
        .failure()
        .contains("GUID"));
    assert!(x
        .get("/panel/api/server/xrayMetricsHistory/up/30")
        .await
        .failure()
        .contains("history"));
    // CPU history comes from a server's heartbeats: this one has no agent yet.
    let msg = x.get("/panel/api/server/history/cpu/30").await.failure();
    assert!(
        msg.contains("edge") && msg.contains("not connected"),
        "{msg}"
    );
    let msg = x.post("/panel/api/server/cpuHistory/30").await.failure();
    assert!(
        msg.contains("edge") && msg.contains("not connected"),
        "{msg}"
    );
    let msg = x.get("/panel/api/server/cpuHistory/1").await.failure();
    assert!(msg.contains("2, 30, 60, 120, 180, 300"), "{msg}");

    // Updates: the running version, no invented latest one, and how xfleet is updated.
    let r = x
        .get("/panel/api/server/getPanelUpdateInfo")
        .await
        .envelope();
    assert_eq!(
        r["obj"],
        json!({"currentVersion": env!("CARGO_PKG_VERSION"), "latestVersion": "",
               "updateAvailable": false})
    );
    assert!(
        r["msg"].as_str().unwrap().contains("package or binary"),
        "{r}"
    );
    let msg = x.post("/panel/api/server/updatePanel").await.failure();
    assert!(msg.contains("package or binary"), "{msg}");
    // The core's access log comes from the server's agent: this one has none yet.
    let msg = x
        .post_form(
            "/panel/api/server/xraylogs/50",
            &[
                ("filter", ""),
                ("showDirect", "true"),
                ("showBlocked", "true"),
                ("showProxy", "true"),
            ],
        )
        .await
        .failure();
    assert!(
        msg.contains("edge") && msg.contains("not connected"),
        "{msg}"
    );
    assert_eq!(x.get("/panel/api/server/clientIps").await.obj(), json!([]));
    x.post_json(
        "/panel/api/clients/v3-d/externalLinks",
        &json!({"externalLinks": []}),
    )
    .await
    .obj();
    assert!(x
        .post_json(
            "/panel/api/clients/v3-d/externalLinks",
            &json!({"externalLinks": [{"kind": "link", "value": "vless://x@y:1"}]}),
        )
        .await
        .failure()
        .contains("externalLinks"));

    // API tokens are the controller's own, in v3's shape; v3's scopes, expiry and pausing
    // that xfleet lacks are refused by name.
    let tokens = x.get("/panel/api/setting/apiTokens").await.obj();
    let mine = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == json!("v3"))
        .unwrap();
    assert_eq!(
        (
            mine["scope"].clone(),
            mine["enabled"].clone(),
            mine["expiresAt"].clone()
        ),
        (json!("admin"), json!(true), json!(0))
    );
    assert!(mine.get("token").is_none(), "a secret is shown once");
    let msg = x
        .post_json(
            "/panel/api/setting/apiTokens/create",
            &json!({"name": "watch", "scope": "monitor", "expiresAt": 5}),
        )
        .await
        .failure();
    assert!(msg.contains("scope") && msg.contains("expiresAt"), "{msg}");
    let made = x
        .post_json(
            "/panel/api/setting/apiTokens/create",
            &json!({"name": "watch", "scope": "read-only", "expiresAt": 0}),
        )
        .await
        .obj();
    let id = made["id"].as_i64().unwrap();
    let mut reader = XuiClient::new(&ctl.panel_url(), "");
    reader.bearer = made["token"].as_str().map(str::to_owned);
    reader.get("/panel/api/clients/list").await.obj();
    assert_eq!(
        reader
            .post_json("/panel/api/clients/del/v3-d", &json!({}))
            .await
            .status,
        403
    );
    let toggle = format!("/panel/api/setting/apiTokens/setEnabled/{id}");
    assert!(x
        .post_json(&toggle, &json!({"enabled": false}))
        .await
        .failure()
        .contains("paused"));
    let delete = format!("/panel/api/setting/apiTokens/delete/{id}");
    assert!(x
        .post_json(&delete, &json!({"expectedScope": "admin"}))
        .await
        .failure()
        .contains("read-only"));
    x.post_json(&delete, &json!({"expectedScope": "read-only"}))
        .await
        .obj();
    assert_eq!(reader.get("/panel/api/clients/list").await.status, 404);
    assert!(x
        .post("/panel/api/setting/testSmtp")
        .await
        .failure()
        .contains("email"));
}

/// A stand-in for Xray: its version banner, a config test that passes, a core that runs until
/// its agent is gone, and the generators printing Xray's own output format
/// (main/commands/all/ of Xray-core), each value marked with the process id so that every call
/// is seen to run anew. `tls ech` echoes the server name it was given.
const FAKE_XRAY: &str = r#"#!/bin/sh
case "$1" in
  version) echo 'Xray 25.6.8 (Xray, Penetrates Everything.) 0000000 (go1.24.4 linux/amd64)'
           echo 'A unified platform for anti-censorship.' ;;
  run) if [ "$2" = "-test" ]; then echo 'Configuration OK.'; exit 0; fi
       while kill -0 "$PPID" 2>/dev/null; do sleep 1; done ;;
  mldsa65) printf 'Seed: seed-%s\nVerify: verify-%s' "$$" "$$" ;;
  mlkem768) printf 'Seed: kem-seed-%s\nClient: kem-client-%s\nHash32: kem-hash-%s' "$$" "$$" "$$" ;;
  vlessenc) printf 'Choose one Authentication to use, do not mix them. Ephemeral key exchange is Post-Quantum safe anyway.\n\n'
            printf 'Authentication: X25519, not Post-Quantum\n"decryption": "mlkem768x25519plus.native.600s.x-%s"\n"encryption": "mlkem768x25519plus.native.0rtt.xc-%s"\n\n' "$$" "$$"
            printf 'Authentication: ML-KEM-768, Post-Quantum\n"decryption": "mlkem768x25519plus.native.600s.k-%s"\n"encryption": "mlkem768x25519plus.native.0rtt.kc-%s"\n' "$$" "$$" ;;
  tls) if [ "$2" != ech ] || [ "$3" != --serverName ]; then exit 2; fi
       printf 'ECH config list: \nconfig-for-%s\nECH server keys: \nkeys-for-%s\n' "$4" "$4" ;;
  *) echo "xray: unknown command $1" >&2; exit 2 ;;
esac
"#;

/// Writes an executable script through `sh`, so no handle of this (multi-threaded) process is
/// open for writing when the agent executes it.
fn write_script(path: &std::path::Path, text: &str) {
    let written = std::process::Command::new("sh")
        .args(["-c", "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\""])
        .args(["sh", text])
        .arg(path)
        .status()
        .unwrap();
    assert!(written.success());
}

/// 3x-ui's server routes that need the server itself, on a server whose agent runs Xray: the
/// CPU chart comes from the agent's heartbeats in 3x-ui's buckets (`{t, cpu}`, v3's `{t, v}`),
/// an unknown bucket is refused by the list of good ones, and a server not connected says so;
/// the key generators run that server's Xray (fresh keys each call, the ECH server name passed
/// on) and answer in 3x-ui's shapes, with a bad server name refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_history_and_xray_generators_come_from_the_servers_agent() {
    const LONG: Duration = Duration::from_secs(60);
    const S: &str = "/panel/api/server";
    let ctl = Controller::start(ControllerOptions::default()).await;
    let (id, token) = ctl.add_server("xray-1").await;
    let scripts = xfleet_tests::TempDir::new("fake-xray");
    let xray = scripts.path().join("xray");
    write_script(&xray, FAKE_XRAY);
    let mut agent = Agent::enroll(&token);
    // `enroll` writes an empty `[core]` table; the agent is to run the stand-in.
    let toml = agent.config_dir.join("agent.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let core = format!("[core]\nbinary = \"{}\"\n", xray.display());
    std::fs::write(&toml, text.replacen("[core]\n", &core, 1)).unwrap();
    agent.start();
    ctl.wait_status(id, "online", LONG).await;
    ctl.api()
        .ok("POST", "/api/v1/servers", Some(json!({"name": "silent"})))
        .await;
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await.obj();

    // The CPU chart fills from heartbeats (one a second here), 3x-ui's way: bucket starts, in
    // Unix seconds, each with the average of its samples, at most 60 of them.
    let points = wait_for("heartbeats to fill the CPU chart", LONG, || {
        let mut x = x.clone();
        async move {
            let r = x
                .get(&format!("{S}/cpuHistory/2?server_id=xray-1"))
                .await
                .obj();
            let points = r.as_array().cloned().unwrap_or_default();
            (points.len() >= 3).then_some(points)
        }
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for p in &points {
        let t = p["t"].as_i64().unwrap();
        assert!(t % 2 == 0 && t > now - 130 && t <= now, "{p}");
        let cpu = p["cpu"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&cpu), "{p}");
    }
    assert!(points
        .windows(2)
        .all(|w| w[0]["t"].as_i64() < w[1]["t"].as_i64()));
    // POST as well as GET; coarser buckets hold several heartbeats each.
    let coarse = x
        .post(&format!("{S}/cpuHistory/300?server_id={id}"))
        .await
        .obj();
    let coarse = coarse.as_array().unwrap();
    assert!(!coarse.is_empty() && coarse.len() <= 2, "{coarse:?}");
    assert_eq!(coarse.last().unwrap()["t"].as_i64().unwrap() % 300, 0);
    let v3 = x
        .get(&format!("{S}/history/cpu/30?server_id={id}"))
        .await
        .obj();
    let last = v3.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["t"].as_i64().unwrap() % 30 == 0 && last["v"].is_number(),
        "{v3}"
    );
    for bad in ["7", "3600", "two"] {
        let msg = x
            .get(&format!("{S}/cpuHistory/{bad}?server_id={id}"))
            .await
            .failure();
        assert!(
            msg.contains(&format!("`{bad}`")) && msg.contains("2, 30, 60, 120, 180, 300"),
            "{msg}"
        );
    }
    let msg = x
        .get(&format!("{S}/history/mem/30?server_id={id}"))
        .await
        .failure();
    assert!(
        msg.contains("`mem`") && msg.contains("CPU history"),
        "{msg}"
    );
    let msg = x
        .get(&format!("{S}/cpuHistory/30?server_id=silent"))
        .await
        .failure();
    assert!(
        msg.contains("silent") && msg.contains("not connected"),
        "{msg}"
    );

    // The generators run on the server's Xray, anew each time.
    let q = format!("?server_id={id}");
    let first = x.get(&format!("{S}/getNewmldsa65{q}")).await.obj();
    let second = x.get(&format!("{S}/getNewmldsa65{q}")).await.obj();
    let seed = first["seed"].as_str().unwrap();
    assert!(seed.starts_with("seed-"), "{first}");
    assert_eq!(first["verify"], json!(seed.replace("seed-", "verify-")));
    assert_ne!(first, second, "each call runs the generator");
    let kem = x.get(&format!("{S}/getNewmlkem768{q}")).await.obj();
    let kem = kem.as_object().unwrap();
    let mut fields: Vec<&String> = kem.keys().collect();
    fields.sort();
    assert_eq!(fields, ["client", "seed"]);
    assert!(kem["seed"].as_str().unwrap().starts_with("kem-seed-"));
    let vless = x.get(&format!("{S}/getNewVlessEnc{q}")).await.obj();
    let auths = vless["auths"].as_array().unwrap();
    let ids: Vec<&str> = auths.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "x25519",
            "mlkem768",
            "x25519_xorpub",
            "x25519_random",
            "mlkem768_xorpub",
            "mlkem768_random"
        ]
    );
    assert_eq!(auths[0]["label"], json!("X25519, not Post-Quantum"));
    let decryption = auths[1]["decryption"].as_str().unwrap();
    assert!(
        decryption.starts_with("mlkem768x25519plus.native.600s.k-"),
        "{vless}"
    );
    let ech = x
        .post_form(
            &format!("{S}/getNewEchCert{q}"),
            &[("sni", "cdn.example.com")],
        )
        .await
        .obj();
    assert_eq!(
        ech,
        json!({"echConfigList": "config-for-cdn.example.com",
               "echServerKeys": "keys-for-cdn.example.com"})
    );
    for bad in ["", "--pem", "a b.example"] {
        let msg = x
            .post_form(&format!("{S}/getNewEchCert{q}"), &[("sni", bad)])
            .await
            .failure();
        assert!(msg.contains("is not a host name"), "{bad}: {msg}");
    }
    // A server not connected cannot run anything.
    let msg = x
        .get(&format!("{S}/getNewmldsa65?server_id=silent"))
        .await
        .failure();
    assert!(msg.contains("not connected"), "{msg}");
    agent.kill9();
}

/// The last request the fake WARP account API received.
fn last_warp_request(fake: &FakeWarp) -> warp::Seen {
    fake.seen().pop().expect("the account API was called")
}

/// Cloudflare WARP through 3x-ui's `warp/*` routes and the native `/api/v1/core/warp`,
/// against a local account API speaking Cloudflare's wire format: a device registered with
/// the dialog's key pair or with one the controller makes, its data, its configuration, a
/// license change, the WireGuard outbound built from the API's answer, deletion. An API that
/// refuses or cannot be reached gives its reason and stores nothing. The private key, the
/// access token and the license appear in neither the audit log nor the controller's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_registration_against_the_account_api() {
    for (backend, database_url) in xfleet_tests::backends().await {
        eprintln!("--- {backend}");
        let fake = FakeWarp::start().await;
        let ctl = Controller::start(ControllerOptions {
            database_url,
            extra_env: vec![("XFLEET_WARP_API_URL".into(), fake.url.clone())],
            ..Default::default()
        })
        .await;
        warp_scenario(&ctl, &fake).await;
    }
}

async fn warp_scenario(ctl: &Controller, fake: &FakeWarp) {
    let api = ctl.api();
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await.obj();
    let stored = |obj: Value| -> Value {
        let text = obj.as_str().expect("warp/data answers the setting as text");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).expect("the setting is JSON")
        }
    };

    // Nothing registered: `data` is empty text, as 3x-ui answers it.
    assert_eq!(x.post("/panel/xray/warp/data").await.obj(), json!(""));

    // 3x-ui's dialog registers with a key pair it made.
    let keys = xfleet_controller::generate::wireguard();
    let reg = x
        .post_form(
            "/panel/xray/warp/reg",
            &[
                ("privateKey", &keys.private_key),
                ("publicKey", &keys.public_key),
            ],
        )
        .await
        .obj();
    let reg: Value = serde_json::from_str(reg.as_str().unwrap()).expect("reg answers JSON text");
    let sent = last_warp_request(fake);
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v0a2158/reg")
    );
    assert_eq!(sent.headers["cf-client-version"], "a-7.21-0721");
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(sent.body["key"], json!(keys.public_key));
    assert_eq!(sent.body["type"], "PC");
    let device_id = reg["config"]["id"].as_str().unwrap().to_owned();
    let token = reg["config"]["token"].as_str().unwrap().to_owned();
    let first_license = reg["config"]["account"]["license"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reg["data"],
        json!({"access_token": token, "device_id": device_id,
               "license_key": first_license, "private_key": keys.private_key})
    );

    // `data` is the stored setting in 3x-ui's layout, on v3's path too.
    let text = x.post("/panel/api/xray/warp/data").await.obj();
    assert!(
        text.as_str()
            .unwrap()
            .starts_with("{\n  \"access_token\": "),
        "{text}"
    );
    assert_eq!(stored(text), reg["data"]);

    // `config` reads the device with its bearer token.
    let config = x.post("/panel/xray/warp/config").await.obj();
    let config: Value = serde_json::from_str(config.as_str().unwrap()).unwrap();
    let sent = last_warp_request(fake);
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", format!("/v0a2158/reg/{device_id}").as_str())
    );
    assert_eq!(sent.headers["authorization"], format!("Bearer {token}"));
    assert_eq!(
        config["config"]["peers"][0]["public_key"],
        json!(warp::PEER_KEY)
    );

    // A WARP+ license: sent to the account, then stored.
    let license = "12345678-ABCDEFGH-87654321";
    let after = x
        .post_form("/panel/xray/warp/license", &[("license", license)])
        .await
        .obj();
    assert_eq!(stored(after)["license_key"], json!(license));
    let sent = last_warp_request(fake);
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("PUT", format!("/v0a2158/reg/{device_id}/account").as_str())
    );
    assert_eq!(sent.headers["authorization"], format!("Bearer {token}"));
    assert_eq!(sent.body, json!({"license": license}));
    // A license the API refuses: its words, and the stored one stays.
    let msg = x
        .post_form(
            "/panel/xray/warp/license",
            &[("license", "bad-1234-license")],
        )
        .await
        .failure();
    assert!(msg.contains("Invalid license"), "{msg}");
    let now = stored(x.post("/panel/xray/warp/data").await.obj());
    assert_eq!(now["license_key"], json!(license));

    // The WireGuard outbound: every field from the stored key or the API's answer.
    let answer = api.ok("GET", "/api/v1/core/warp/outbound", None).await;
    let o = &answer["outbound"];
    assert_eq!(
        (&o["tag"], &o["protocol"]),
        (&json!("warp"), &json!("wireguard"))
    );
    let s = &o["settings"];
    assert_eq!(s["secretKey"], json!(keys.private_key));
    assert_eq!(
        s["address"],
        json!([
            format!("{}/32", warp::ADDRESS_V4),
            format!("{}/128", warp::ADDRESS_V6)
        ])
    );
    assert_eq!(s["reserved"], json!([1, 2, 3]));
    assert_eq!(s["mtu"], json!(1420));
    assert_eq!(
        s["peers"],
        json!([{"publicKey": warp::PEER_KEY, "endpoint": warp::ENDPOINT,
                "allowedIPs": ["0.0.0.0/0", "::/0"]}])
    );
    let note = answer["note"].as_str().unwrap();
    assert!(note.contains("v2ray"), "{note}");

    // The native view and the settings list show no secret.
    let view = api.ok("GET", "/api/v1/core/warp", None).await;
    assert_eq!(
        view,
        json!({"registered": true, "device_id": device_id, "license_key": license,
               "public_key": keys.public_key})
    );
    let settings = api.ok("GET", "/api/v1/settings", None).await;
    assert_eq!(settings["warp"], json!("********"));

    // A second registration is refused while one is stored; nothing is sent.
    let calls = fake.seen().len();
    let err = api
        .call("POST", "/api/v1/core/warp", Some(json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already registered") && err.contains("conflict"),
        "{err}"
    );
    assert_eq!(fake.seen().len(), calls);

    // 3x-ui's `del` forgets it.
    assert_eq!(x.post("/panel/xray/warp/del").await.obj(), json!(""));
    assert_eq!(x.post("/panel/xray/warp/data").await.obj(), json!(""));

    // The native API registers with a key pair the controller makes.
    let reg2 = api.ok("POST", "/api/v1/core/warp", None).await;
    let sent_key = last_warp_request(fake).body["key"].clone();
    assert_eq!(reg2["registered"], json!(true));
    assert_eq!(reg2["public_key"], sent_key);
    assert!(reg2["device"].get("token").is_none(), "{reg2}");
    let data2 = stored(x.post("/panel/xray/warp/data").await.obj());
    let device2 = reg2["device_id"].as_str().unwrap();
    assert_eq!(data2["device_id"], json!(device2));
    let config2 = api.ok("GET", "/api/v1/core/warp/config", None).await;
    assert_eq!(config2["id"], json!(device2));
    assert_eq!(
        last_warp_request(fake).headers["authorization"],
        format!("Bearer {}", data2["access_token"].as_str().unwrap())
    );
    let license2 = "87654321-HGFEDCBA-12345678";
    let view2 = api
        .ok(
            "PUT",
            "/api/v1/core/warp/license",
            Some(json!({"license": license2})),
        )
        .await;
    assert_eq!(view2["license_key"], json!(license2));
    let o2 = api.ok("GET", "/api/v1/core/warp/outbound", None).await;
    let secret2 = o2["outbound"]["settings"]["secretKey"].as_str().unwrap();
    assert_eq!(
        xfleet_controller::generate::wireguard_public(secret2),
        sent_key.as_str().map(str::to_owned)
    );
    let gone = api.ok("DELETE", "/api/v1/core/warp", None).await;
    assert_eq!(gone["registered"], json!(false));

    // The API failing (5xx, 4xx) or unreachable: its reason, and nothing stored.
    fake.fail_with(Some((500, "Internal server error")));
    let err = api
        .call("POST", "/api/v1/core/warp", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 500") && err.contains("Internal server error"),
        "{err}"
    );
    assert!(err.contains("upstream_failed"), "{err}");
    fake.fail_with(Some((403, "Forbidden")));
    let pair = xfleet_controller::generate::wireguard();
    let msg = x
        .post_form(
            "/panel/api/xray/warp/reg",
            &[
                ("privateKey", &pair.private_key),
                ("publicKey", &pair.public_key),
            ],
        )
        .await
        .failure();
    assert!(
        msg.contains("HTTP 403") && msg.contains("Forbidden"),
        "{msg}"
    );
    fake.fail_with(None);
    fake.stop();
    let err = api
        .call("POST", "/api/v1/core/warp", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot reach"), "{err}");
    assert_eq!(x.post("/panel/xray/warp/data").await.obj(), json!(""));
    let view = api.ok("GET", "/api/v1/core/warp", None).await;
    assert_eq!(view["registered"], json!(false));

    // Secrets stay out of the audit log and the log.
    let audit = api.ok("GET", "/api/v1/audit?limit=1000", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"warp.register") && actions.contains(&"warp.license"));
    let audit = audit.to_string();
    let log = ctl.output.text();
    for secret in [
        keys.private_key.as_str(),
        secret2,
        token.as_str(),
        data2["access_token"].as_str().unwrap(),
        license,
        license2,
        first_license.as_str(),
    ] {
        assert!(
            !audit.contains(secret),
            "a secret in the audit log: {audit}"
        );
        assert!(!log.contains(secret), "a secret in the log");
    }

    // A 3x-ui database's registration comes over with an import, byte for byte; NordVPN's
    // stays behind with the reason; a second import changes nothing.
    let blob =
        "{\n  \"access_token\": \"imported-token\",\n  \"device_id\": \"imported-device\",\n  \
                \"license_key\": \"11111111-22222222-33333333\",\n  \"private_key\": \""
            .to_owned()
            + &xfleet_controller::generate::wireguard().private_key
            + "\"\n}";
    let files = xfleet_tests::TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    let mut xui = XuiDb::create(&db).await;
    xui.setting("warp", &blob).await;
    xui.setting("nord", r#"{"private_key": "n"}"#).await;
    xui.close().await;
    ctl.add_server("vpn-warp").await;
    let path = db.to_str().unwrap();
    let (ok, text) = ctl.cli(&["import-3xui", path, "--server", "vpn-warp"]);
    assert!(ok, "{text}");
    assert!(text.contains("setting `nord`: managed NordVPN"), "{text}");
    assert_eq!(x.post("/panel/xray/warp/data").await.obj(), json!(blob));
    let view = api.ok("GET", "/api/v1/core/warp", None).await;
    assert_eq!(view["device_id"], json!("imported-device"));
    let (ok, text) = ctl.cli(&["import-3xui", path, "--server", "vpn-warp"]);
    assert!(ok && text.contains("Nothing new to import."), "{text}");
    assert_eq!(x.post("/panel/xray/warp/data").await.obj(), json!(blob));
}
