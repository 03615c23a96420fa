//! The 3x-ui compatible API over real HTTP against a running `xfleet`, on SQLite and on
//! PostgreSQL: every inbound and client route of v2 and v3 as a script would call it, and
//! the error shapes scripts see (200 with `success:false`, the empty 404).

use serde_json::{json, Value};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{free_port, postgres_database, Controller, ControllerOptions};

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
         "enable": true, "tgId": 12345, "subId": "bobsub"}
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

    // Several servers: server-scoped routes need ?server_id=.
    let (second, _) = ctl.add_server("vpn-2").await;
    let ambiguous = x.get("/panel/api/inbounds/list").await.failure();
    assert!(
        ambiguous.contains("server_id")
            && ambiguous.contains("vpn-1")
            && ambiguous.contains("vpn-2"),
        "{ambiguous}"
    );
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

    // Logout (v2: GET, 307 to the base path) ends the session.
    let r = x.get("/logout").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.headers["location"], "/secret-path/");
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
    assert!(x.cookies.contains_key("3x-ui-csrf"));
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
    x.headers = vec![("X-CSRF-Token".into(), "forged".into())];
    assert_eq!(x.post("/panel/api/clients/onlines").await.status, 403);
    x.headers = vec![("X-CSRF-Token".into(), token.clone())];

    // clients: add attached to both servers; secrets generated when missing.
    let added = x
        .post_json("/panel/api/clients/add", &json!({"client": {"email": "zoe", "totalGB": 5000, "limitIp": 1}, "inboundIds": [inbound_ids[0]]}))
        .await
        .obj();
    assert_eq!(added["client"]["email"], json!("zoe"));
    assert_eq!(added["client"]["id"].as_str().unwrap().len(), 36);
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
    x.post("/panel/api/clients/delDepleted").await.obj();
    assert!(x
        .get("/panel/api/clients/get/yuri")
        .await
        .failure()
        .contains("not found"));
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
