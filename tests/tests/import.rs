//! `xfleet import-3xui`: a 3x-ui database with 3x-ui's own schema imported through the CLI,
//! against a running controller (SQLite and PostgreSQL) and with the controller stopped; and
//! through the API into a server whose agent runs the real v2ray core, which tests and runs
//! the imported core template.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;
use xfleet_tests::proxy::{outbound, pattern, FileServer, V2rayClient};
use xfleet_tests::xui_fixture::{sample, sample_v2, Inbound, Traffic, XuiDb};
use xfleet_tests::{
    free_port, loopback_direct_template, wait_for, Agent, Controller, ControllerOptions, TempDir,
};

const LONG: Duration = Duration::from_secs(60);

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Rows of (key, value) from the controller's own database.
async fn query_pairs(ctl: &Controller, sql: &str) -> Vec<(String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&database_url(ctl))
        .await
        .unwrap();
    let rows = sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    rows
}

/// The server's outbound counters: (tag, up, down), by tag.
async fn outbound_counters(ctl: &Controller, server: i64) -> Vec<(String, i64, i64)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&database_url(ctl))
        .await
        .unwrap();
    let rows = sqlx::query_as(
        "SELECT tag, up, down FROM outbound_traffic WHERE server_id = $1 ORDER BY tag",
    )
    .bind(server)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

fn sample_outbounds() -> Vec<(String, i64, i64)> {
    let mut rows: Vec<(String, i64, i64)> = sample::OUTBOUNDS
        .iter()
        .map(|(tag, up, down)| (tag.to_string(), *up, *down))
        .collect();
    rows.sort();
    rows
}

/// The "Local server" row single-server mode keeps (its name is not one the API accepts),
/// made here when the controller has not made it.
async fn local_server(ctl: &Controller) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&database_url(ctl))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO servers (name, created_at, updated_at) VALUES ('Local server', 0, 0) \
         ON CONFLICT (name) DO NOTHING",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM servers WHERE name = 'Local server'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    id
}

fn database_url(ctl: &Controller) -> String {
    ctl.options.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            ctl.dir.path().join("xfleet.db").to_str().unwrap()
        )
    })
}

async fn client(ctl: &Controller, email: &str) -> Value {
    ctl.api()
        .ok("GET", &format!("/api/v1/clients/{email}"), None)
        .await
}

async fn inbounds(ctl: &Controller, server: i64) -> Vec<Value> {
    let list = ctl
        .api()
        .ok("GET", &format!("/api/v1/servers/{server}/inbounds"), None)
        .await;
    list.as_array().unwrap().clone()
}

fn find<'a>(list: &'a [Value], tag: &str) -> &'a Value {
    list.iter()
        .find(|i| i["tag"] == json!(tag))
        .unwrap_or_else(|| panic!("no inbound {tag} in {list:?}"))
}

/// Everything in the sample arrives, on both backends: its core template becomes the fleet
/// template (the only server, on the default template: a fresh fleet), its outbound counters
/// arrive with their numbers; a second run changes nothing and doubles nothing.
#[tokio::test(flavor = "multi_thread")]
async fn import_through_the_running_controller() {
    for (label, database_url) in xfleet_tests::backends().await {
        let ctl = Controller::start(ControllerOptions {
            database_url,
            ..Default::default()
        })
        .await;
        let api = ctl.api();
        let id = local_server(&ctl).await;
        let files = TempDir::new("xui");
        let db = files.path().join("x-ui.db");
        sample_v2(&db, 0).await;
        let original = std::fs::read(&db).unwrap();

        let (ok, text) = ctl.cli(&["import-3xui", arg(&db)]);
        assert!(ok, "{label}: {text}");
        for expected in [
            "Imported from a 3x-ui v2 database into server `Local server`",
            "4 inbounds, 6 clients, 6 attachments",
            "+ inbound `inbound-443` (vless, port 443) with 2 client(s)",
            "+ client `carol` (expires 7 day(s) after first use)",
            "+ client `alice` (quota 50 GiB, expires 2100-01-01, IP limit 2)",
            "- inbound `inbound-9999` (bogus, port 9999): protocol: unknown protocol `bogus`",
            "- client `ghost`: not attached to inbound `inbound-9999`, which was skipped",
            "- IP record of `ghost`: its client was not imported",
            "- setting `webCertFile`: paths from the old host may not exist here",
            "- setting `secret`:",
            "Note: the xfleet account `admin` now has its 3x-ui password",
            "+ core template (xrayTemplateConfig): it is the fleet template now (the fleet was \
             fresh: `Local server` is its only server",
            "3 outbounds' traffic counters",
            "Queued revision",
        ] {
            assert!(
                text.contains(expected),
                "{label}: missing {expected:?} in\n{text}"
            );
        }

        // Inbounds: 3x-ui's fields, settings without clients, counters.
        let list = inbounds(&ctl, id).await;
        assert_eq!(list.len(), 4, "{label}: {list:?}");
        let reality = find(&list, "inbound-443");
        assert_eq!(reality["protocol"], json!("vless"));
        assert_eq!(reality["remark"], json!("NL reality"));
        assert_eq!(reality["port"], json!(443));
        assert!(reality["settings"].get("clients").is_none(), "{reality}");
        assert_eq!(reality["settings"]["decryption"], json!("none"));
        assert_eq!(
            reality["streamSettings"]["realitySettings"]["shortIds"],
            json!(["6ba85179e30d4fc2"])
        );
        assert_eq!(reality["sniffing"]["enabled"], json!(true));
        assert_eq!(reality["clients"], json!(["alice", "bob"]));
        assert_eq!(
            (&reality["up"], &reality["down"], &reality["allTime"]),
            (&json!(1_000_000), &json!(9_000_000), &json!(15_000_000))
        );
        let vmess = find(&list, "inbound-8080");
        assert_eq!(vmess["streamSettings"]["wsSettings"]["path"], json!("/vm"));
        // all_time below up + down (an older counter) becomes up + down.
        assert_eq!(vmess["allTime"], json!(30));
        let trojan = find(&list, "inbound-8443");
        assert_eq!(trojan["enable"], json!(false));
        assert_eq!(trojan["trafficReset"], json!("monthly"));
        assert_eq!(
            trojan["streamSettings"]["tlsSettings"]["certificates"][0]["certificateFile"],
            json!("/root/cert/fullchain.pem")
        );
        let ss = find(&list, "inbound-8388");
        assert_eq!(ss["settings"]["method"], json!("2022-blake3-aes-256-gcm"));
        assert_eq!(ss["clients"], json!(["frank"]));

        // Clients: secrets, limits, expiry, counters.
        let alice = client(&ctl, "alice").await;
        assert_eq!(alice["uuid"], json!(sample::ALICE_ID));
        assert_eq!(alice["flow"], json!("xtls-rprx-vision"));
        assert_eq!(alice["limitIp"], json!(2));
        assert_eq!(alice["totalGB"], json!(sample::ALICE_TOTAL));
        assert_eq!(alice["expiryTime"], json!(sample::ALICE_EXPIRY));
        assert_eq!(alice["tgId"], json!(123456789));
        assert_eq!(alice["subId"], json!("alice-sub-0001"));
        assert_eq!(alice["comment"], json!("paid until spring"));
        assert_eq!(alice["enable"], json!(true));
        assert_eq!(alice["used"], json!(sample::ALICE_UP + sample::ALICE_DOWN));
        assert_eq!(alice["allTime"], json!(sample::ALICE_ALL_TIME));
        assert_eq!(alice["lastOnline"], json!(sample::ALICE_LAST_ONLINE));
        let bob = client(&ctl, "bob").await;
        assert_eq!(bob["enable"], json!(false), "depleted in client_traffics");
        assert_eq!(bob["reset"], json!(30));
        assert_eq!(bob["used"], json!(1_200_000_000));
        let carol = client(&ctl, "carol").await;
        assert_eq!(carol["expiryTime"], json!(sample::CAROL_EXPIRY));
        assert_eq!(carol["security"], json!("auto"));
        let dave = client(&ctl, "dave").await;
        assert_eq!(dave["enable"], json!(false), "switched off in its JSON");
        assert_eq!(dave["security"], json!("chacha20-poly1305"));
        // Clients may share a subscription id, as in 3x-ui.
        assert_eq!(carol["subId"], dave["subId"]);
        let erin = client(&ctl, "erin").await;
        assert_eq!(erin["password"], json!(sample::ERIN_PASSWORD));
        let err = api.call("GET", "/api/v1/clients/ghost", None).await;
        assert!(err.is_err(), "{label}: ghost was in the bogus inbound");

        // IP records, in both of 3x-ui's formats.
        let ips = api.ok("GET", "/api/v1/clients/alice/ips", None).await;
        assert_eq!(
            ips,
            json!([
                {"ip": "203.0.113.8", "first_seen": 1_700_000_500_000_i64,
                 "last_seen": 1_700_000_500_000_i64, "refused": false},
                {"ip": "203.0.113.7", "first_seen": 1_700_000_000_000_i64,
                 "last_seen": 1_700_000_000_000_i64, "refused": false}
            ]),
            "{label}"
        );
        let ips = api.ok("GET", "/api/v1/clients/carol/ips", None).await;
        assert_eq!(ips[0]["ip"], json!("198.51.100.4"));

        // Settings with a counterpart, under 3x-ui's names; the rest stays behind.
        let settings = query_pairs(&ctl, "SELECT key, value FROM settings ORDER BY key").await;
        let get = |k: &str| {
            settings
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("webBasePath"), Some("/panel-x7/"));
        assert_eq!(get("subPort"), Some("2096"));
        assert_eq!(get("tgRunTime"), Some("@daily"));
        assert_eq!(get("tgBotToken"), Some(""));
        assert_eq!(get("webCertFile"), None);
        assert_eq!(get("secret"), None);
        let fleet: Value = serde_json::from_str(get("xrayTemplateConfig").unwrap()).unwrap();
        assert_eq!(fleet, sample::template(), "{label}");
        let runs = api
            .ok("GET", &format!("/api/v1/servers/{id}/core-template"), None)
            .await;
        assert_eq!(runs["source"], json!("fleet"), "{label}");
        assert_eq!(runs["config"], sample::template(), "{label}");
        assert_eq!(
            outbound_counters(&ctl, id).await,
            sample_outbounds(),
            "{label}"
        );

        // The admin account now has 3x-ui's bcrypt hash of its password.
        let users = query_pairs(&ctl, "SELECT username, password_hash FROM users").await;
        let (_, hash) = users.iter().find(|(u, _)| u == sample::ADMIN).unwrap();
        assert!(
            bcrypt::verify(sample::ADMIN_PASSWORD, hash).unwrap(),
            "{label}"
        );

        // The server's state moved on.
        let revision = ctl.server(id).await["revision"].as_i64().unwrap();
        assert!(revision >= 1, "{label}");

        // Again: nothing new, nothing duplicated, nothing pushed.
        let (ok, text) = ctl.cli(&["import-3xui", arg(&db), "--server", "Local server"]);
        assert!(ok, "{label}: {text}");
        assert!(text.contains(": nothing."), "{label}: {text}");
        assert!(text.contains("Nothing new to import."), "{label}: {text}");
        assert!(
            text.contains(
                "Already there, left as is: 4 inbounds, 6 clients, 6 attachments, \
                 4 inbounds' traffic counters, 6 clients' traffic counters, 3 IP records, \
                 3 outbounds' traffic counters, 1 core template, 10 settings, 1 admin account."
            ),
            "{label}: {text}"
        );
        assert!(!text.contains("Queued revision"), "{label}: {text}");
        assert!(
            text.contains(
                "Note: core template (xrayTemplateConfig): server `Local server` runs it \
                 already, as the fleet template"
            ),
            "{label}: {text}"
        );
        let templates = api.ok("GET", "/api/v1/core/templates", None).await;
        assert_eq!(templates, json!([]), "{label}: no second template");
        assert_eq!(
            outbound_counters(&ctl, id).await,
            sample_outbounds(),
            "{label}"
        );
        assert_eq!(inbounds(&ctl, id).await.len(), 4);
        let clients = api.ok("GET", "/api/v1/clients", None).await;
        assert_eq!(clients.as_array().unwrap().len(), 6, "{label}: {clients}");
        let again = client(&ctl, "alice").await;
        assert_eq!(again["used"], alice["used"]);
        assert_eq!(again["inboundIds"], alice["inboundIds"]);
        assert_eq!(
            ctl.server(id).await["revision"].as_i64().unwrap(),
            revision,
            "{label}"
        );
        // The 3x-ui database is only read.
        assert_eq!(std::fs::read(&db).unwrap(), original, "{label}");
        assert_eq!(
            std::fs::read_dir(files.path()).unwrap().count(),
            1,
            "{label}"
        );
    }
}

/// Clashes with what xfleet already has are skipped with the reason; the same client
/// imported into a second server is attached there, not duplicated; in a fleet of several
/// servers the template becomes the server's own, and a second server importing the same
/// template shares the stored one rather than a copy; bad files are refused.
#[tokio::test(flavor = "multi_thread")]
async fn conflicts_second_servers_and_bad_files() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    let mut servers = Vec::new();
    for name in ["ams-1", "fra-1", "par-1"] {
        let s = api
            .ok("POST", "/api/v1/servers", Some(json!({"name": name})))
            .await;
        servers.push(s["id"].as_i64().unwrap());
    }
    let files = TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    // Large enough to need more than the API's usual 1 MiB body limit.
    sample_v2(&db, 4000).await;
    assert!(std::fs::metadata(&db).unwrap().len() > 1 << 20);

    // No local server and no --server: a clear refusal that names the choices.
    let (ok, text) = ctl.cli(&["import-3xui", arg(&db)]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("there is no `Local server`") && text.contains("ams-1, fra-1, par-1"),
        "{text}"
    );

    // erin already exists in xfleet with another password.
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "erin", "password": "not-erins"})),
    )
    .await;
    let (ok, text) = ctl.cli(&["import-3xui", arg(&db), "--server", "ams-1"]);
    assert!(ok, "{text}");
    assert!(text.contains("5 inbounds, 4005 clients"), "{text}");
    // Not a fresh fleet (three servers): the template is the server's own.
    assert!(
        text.contains(
            "+ core template (xrayTemplateConfig): server `ams-1` runs it now, as core \
             template `ams-1 (3x-ui)`"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "- client `erin`: xfleet already has a client with this email and a different \
             password; rename one of them and import again"
        ),
        "{text}"
    );
    assert_eq!(client(&ctl, "erin").await["password"], json!("not-erins"));
    let trojan = find(&inbounds(&ctl, servers[0]).await, "inbound-8443").clone();
    assert_eq!(trojan["clients"], json!([]));

    // The same database into a second server: same tags are fine per server; clients with
    // the same email and secret are attached, not duplicated.
    let (ok, text) = ctl.cli(&["import-3xui", arg(&db), "--server", "fra-1"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(
            ": 5 inbounds, 4005 attachments, 5 inbounds' traffic counters, 4005 clients' \
             traffic counters, 3 IP records, 3 outbounds' traffic counters, 1 core template."
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "+ core template (xrayTemplateConfig): server `fra-1` runs it now, as core \
             template `ams-1 (3x-ui)`, which held the same template already"
        ),
        "{text}"
    );
    let templates = api.ok("GET", "/api/v1/core/templates", None).await;
    assert_eq!(templates.as_array().unwrap().len(), 1, "{templates}");
    assert_eq!(
        templates[0]["servers"],
        json!([{"id": servers[0], "name": "ams-1"}, {"id": servers[1], "name": "fra-1"}])
    );
    assert!(
        text.contains("Already there, left as is: 4005 clients"),
        "{text}"
    );
    let alice = client(&ctl, "alice").await;
    assert_eq!(alice["inboundIds"].as_array().unwrap().len(), 2, "{alice}");
    let clients = api.ok("GET", "/api/v1/clients", None).await;
    assert_eq!(
        clients.as_array().unwrap().len(),
        4006,
        "4005 imported + erin"
    );

    // A port already taken on the third server.
    api.ok(
        "POST",
        &format!("/api/v1/servers/{}/inbounds", servers[2]),
        Some(json!({"port": 443, "protocol": "vless", "tag": "mine-443",
                    "settings": {"decryption": "none"},
                    "streamSettings": {"network": "tcp", "security": "none"}})),
    )
    .await;
    let (ok, text) = ctl.cli(&["import-3xui", arg(&db), "--server", "par-1"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "- inbound `inbound-443` (vless, port 443): port 443 is already used by inbound \
             `mine-443` on this server"
        ),
        "{text}"
    );
    assert!(
        text.contains("- client `alice`: not attached to inbound `inbound-443`"),
        "{text}"
    );

    // Files that are not 3x-ui databases.
    let junk = files.path().join("junk.db");
    std::fs::write(&junk, "this is not a database, just text\n".repeat(10)).unwrap();
    let (ok, text) = ctl.cli(&["import-3xui", arg(&junk), "--server", "ams-1"]);
    assert!(
        !ok && text.contains("is not a readable SQLite database"),
        "{text}"
    );
    let other = files.path().join("other.db");
    {
        let mut c = sqlx::sqlite::SqliteConnection::connect(&format!(
            "sqlite://{}?mode=rwc",
            other.display()
        ))
        .await
        .unwrap();
        sqlx::query("CREATE TABLE notes (id integer, body text)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let (ok, text) = ctl.cli(&["import-3xui", arg(&other), "--server", "ams-1"]);
    assert!(
        !ok && text.contains("not a 3x-ui database: it has no `inbounds` table"),
        "{text}"
    );
    let (ok, text) = ctl.cli(&["import-3xui", "/nonexistent/x-ui.db"]);
    assert!(
        !ok && text.contains("cannot read /nonexistent/x-ui.db"),
        "{text}"
    );
    // The API refuses a body that is not an SQLite file.
    let err = api
        .0
        .send(
            "POST",
            "/api/v1/servers/ams-1/import/3xui",
            Some(("application/octet-stream", b"hello".to_vec().into())),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_request") && err.contains("x-ui.db"),
        "{err}"
    );
}

/// With the controller stopped the CLI writes to the database itself; the server's agent
/// gets the imported state when it connects to the restarted controller.
#[tokio::test(flavor = "multi_thread")]
async fn import_while_the_controller_is_stopped() {
    let mut ctl = Controller::start(ControllerOptions::default()).await;
    let id = local_server(&ctl).await;
    let token = ctl.token(id).await;
    ctl.kill9();
    let files = TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    sample_v2(&db, 0).await;

    let (ok, text) = ctl.cli(&["import-3xui", arg(&db)]);
    assert!(ok, "{text}");
    assert!(text.contains("4 inbounds, 6 clients"), "{text}");
    assert!(
        text.contains(
            "The controller is not running: server `Local server` gets this state (revision 1)"
        ),
        "{text}"
    );
    assert!(
        text.contains("+ core template (xrayTemplateConfig): it is the fleet template now")
            && text.contains("no core tested it, as the controller is not running"),
        "{text}"
    );

    ctl.restart().await;
    assert_eq!(inbounds(&ctl, id).await.len(), 4);
    assert_eq!(client(&ctl, "alice").await["limitIp"], json!(2));
    let mut agent = Agent::enroll(&token);
    agent.start();
    let api = ctl.api();
    let task = wait_for(
        "the imported state to be queued for the agent",
        Duration::from_secs(30),
        || async {
            let tasks = api
                .ok("GET", &format!("/api/v1/servers/{id}/tasks"), None)
                .await;
            tasks
                .as_array()?
                .iter()
                .find(|t| t["operation"] == json!("state.apply"))
                .cloned()
        },
    )
    .await;
    let state = &task["request"]["full"];
    assert_eq!(state["revision"], json!(1), "{task}");
    assert_eq!(state["template"], sample::template(), "{task}");
    let tags: Vec<&str> = state["inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, sample::TAGS.to_vec());
    agent.kill9();
}

/// Clients 3x-ui let in and xfleet's rules refuse are imported rather than lost, and the
/// report says what became of each: a name with a path separator or a bidirectional
/// override gets `_` in its place, `..` becomes `__`, limits out of range are turned off,
/// and a short sub id is kept so the URL users hold keeps working. Their traffic and
/// address records follow them under the new name.
#[tokio::test(flavor = "multi_thread")]
async fn clients_that_break_the_rules_are_imported_mended() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let api = ctl.api();
    local_server(&ctl).await;
    let files = TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    let mut x = XuiDb::create(&db).await;
    let clients = json!([
        {"id": "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f51", "email": "bob/phone", "enable": true,
         "subId": "s1"},
        {"id": "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f52", "email": "evil\u{202E}gpj",
         "enable": true, "expiryTime": i64::MAX, "limitIp": 1i64 << 40},
        {"id": "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f53", "email": "..", "enable": true},
    ]);
    let inbound = Inbound::new(
        xfleet_tests::free_port(),
        "vless",
        json!({"clients": clients, "decryption": "none"}),
        json!({"network": "tcp", "security": "none"}),
    );
    let traffic = Traffic {
        enable: true,
        up: 100,
        down: 200,
        all_time: 300,
        last_online: 0,
    };
    x.inbound(&inbound, &[("bob/phone", traffic)]).await;
    x.client_ips("bob/phone", r#"["198.51.100.4"]"#).await;
    x.close().await;

    let (ok, text) = ctl.cli(&["import-3xui", arg(&db)]);
    eprintln!("{text}");
    assert!(ok, "{text}");
    for expected in [
        "its email must not contain a path separator",
        "imported as `bob_phone`",
        "its sub id `s1` is shorter than the 8 characters",
        "client `evil\\u{202e}gpj`: its email must not contain a bidirectional override",
        "imported as `evil_gpj`",
        "expiryTime 9223372036854775807 is after the year 9999",
        "limitIp must be 0 (no limit) to 10000 addresses, not 1099511627776; imported as 0",
        "imported as `__`",
        "3 clients",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let bob = client(&ctl, "bob_phone").await;
    assert_eq!(bob["subId"], json!("s1"));
    assert_eq!(bob["used"], json!(300));
    let ips = api.ok("GET", "/api/v1/clients/bob_phone/ips", None).await;
    assert_eq!(ips[0]["ip"], json!("198.51.100.4"), "{ips}");
    let evil = client(&ctl, "evil_gpj").await;
    assert_eq!(
        (&evil["expiryTime"], &evil["limitIp"]),
        (&json!(0), &json!(0))
    );
    client(&ctl, "__").await;
}

const IMPORTED_ID: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f5a";

/// An x-ui.db with one VLESS-over-WebSocket inbound on `port` (client `importer`, path
/// `/imp`) and this core template.
async fn panel_with_template(path: &Path, port: u16, template: &Value) {
    let mut x = XuiDb::create(path).await;
    let mut inbound = Inbound::new(
        port,
        "vless",
        json!({"clients": [{"id": IMPORTED_ID, "email": "importer", "enable": true,
                            "subId": "importer-sub-0001"}],
               "decryption": "none"}),
        json!({"network": "ws", "security": "none", "wsSettings": {"path": "/imp"}}),
    );
    // Sniffing would take the test request's `Host: origin` for the destination.
    inbound.sniffing = json!({"enabled": false, "destOverride": []});
    x.inbound(&inbound, &[]).await;
    x.template(template).await;
    x.outbound_traffic("imported-extra", 111, 222).await;
    x.close().await;
}

/// Posts an x-ui.db to the import route of `server`; the report.
async fn import_api(ctl: &Controller, server: &str, db: &Path) -> Value {
    ctl.api()
        .0
        .send(
            "POST",
            &format!("/api/v1/servers/{server}/import/3xui"),
            Some((
                "application/octet-stream",
                std::fs::read(db).unwrap().into(),
            )),
        )
        .await
        .unwrap()
}

/// The configuration the server's core runs, as the agent wrote it.
fn running_config(agent: &Agent) -> Value {
    let path = agent.data_dir.join("core").join("config.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Import of an x-ui.db whose template routes one origin to a blackhole and adds an
/// outbound, into a server of a fleet that has a template of its own (so not fresh): the
/// server's online core tests the template, it becomes the server's own named template, the
/// core runs the imported rule and outbound, real traffic through the imported inbound shows
/// the rule at work (the blocked origin closed, the other open), and the report says so. The
/// same import again changes nothing: no new revision, no second template, no doubled
/// outbound counter.
#[tokio::test(flavor = "multi_thread")]
async fn an_imported_template_runs_on_the_servers_core() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, mut agent) = ctl.online_server("vpn-1").await;
    let (open, closed) = (FileServer::start().await, FileServer::start().await);
    let port = free_port();
    let mut template = loopback_direct_template();
    template["outbounds"].as_array_mut().unwrap().push(
        json!({"tag": "imported-extra", "protocol": "freedom", "settings": {"domainStrategy": "AsIs"}}),
    );
    let blocking = json!({"type": "field", "ip": ["127.0.0.1"], "port": closed.port.to_string(),
                          "outboundTag": "blocked"});
    template["routing"]["rules"]
        .as_array_mut()
        .unwrap()
        .insert(0, blocking.clone());
    let files = TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    panel_with_template(&db, port, &template).await;

    let report = import_api(&ctl, "vpn-1", &db).await;
    assert_eq!(report["imported"]["inbounds"], json!(1), "{report}");
    assert_eq!(report["imported"]["clients"], json!(1), "{report}");
    let outcome = &report["template"];
    assert_eq!(outcome["action"], json!("server"), "{report}");
    assert_eq!(
        outcome["template"]["name"],
        json!("vpn-1 (3x-ui)"),
        "{report}"
    );
    assert_eq!(outcome["servers"], json!([{"id": id, "name": "vpn-1"}]));
    assert_eq!(
        outcome["checked_on"],
        json!([{"id": id, "name": "vpn-1"}]),
        "the online core tested it: {report}"
    );
    let line = "core template (xrayTemplateConfig): server `vpn-1` runs it now, as core \
                template `vpn-1 (3x-ui)`";
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == line),
        "{report}"
    );
    let runs = ctl
        .api()
        .ok("GET", &format!("/api/v1/servers/{id}/core-template"), None)
        .await;
    assert_eq!(runs["source"], json!("template"), "{runs}");
    assert_eq!(runs["config"], template);

    // The running core carries the imported rule and outbound.
    ctl.wait_applied(id, LONG).await;
    let config = running_config(&agent);
    let outbounds = config["outbounds"].as_array().unwrap();
    assert!(
        outbounds
            .iter()
            .any(|o| o["tag"] == json!("imported-extra") && o["protocol"] == json!("freedom")),
        "{config}"
    );
    assert!(
        config["routing"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["port"] == blocking["port"] && r["outboundTag"] == json!("blocked")),
        "{config}"
    );

    // Real traffic through the imported inbound: the rule at work.
    let v2 = V2rayClient::start(outbound::vless_ws(port, IMPORTED_ID, "/imp")).await;
    let get: &[u8] = b"GET /2000 HTTP/1.0\r\nHost: origin\r\n\r\n";
    let reaches = |to: u16| {
        let socks = v2.socks_port;
        async move {
            xfleet_tests::proxy::exchange_via_socks(
                socks,
                "127.0.0.1",
                to,
                get,
                Duration::from_secs(3),
            )
            .await
            .unwrap_or_default()
            .ends_with(&pattern(2000))
        }
    };
    wait_for(
        "the open origin through the imported inbound",
        LONG,
        || async { reaches(open.port).await.then_some(()) },
    )
    .await;
    assert!(!reaches(closed.port).await, "the imported rule blocks it");
    assert_eq!(
        outbound_counters(&ctl, id).await[0],
        ("imported-extra".to_owned(), 111, 222)
    );

    // Again: nothing changes.
    let revision = ctl.server(id).await["revision"].clone();
    let again = import_api(&ctl, "vpn-1", &db).await;
    assert_eq!(again["template"]["action"], json!("unchanged"), "{again}");
    assert_eq!(again["revision"], Value::Null, "{again}");
    assert_eq!(again["imported"]["templates"], json!(0), "{again}");
    assert_eq!(again["unchanged"]["outbound_counters"], json!(1), "{again}");
    assert_eq!(ctl.server(id).await["revision"], revision);
    let templates = ctl.api().ok("GET", "/api/v1/core/templates", None).await;
    assert_eq!(templates.as_array().unwrap().len(), 1, "{templates}");
    assert_eq!(
        outbound_counters(&ctl, id).await[0],
        ("imported-extra".to_owned(), 111, 222),
        "not doubled"
    );
    assert!(reaches(open.port).await && !reaches(closed.port).await);
    agent.kill9();
}

/// A template the server's v2ray refuses loses nothing: the inbounds and clients import and
/// reach the core, the template is kept as a named template no server uses, the report
/// carries v2ray's own words, the server stays on the fleet template, and importing again
/// neither adds a second copy nor bumps the revision.
#[tokio::test(flavor = "multi_thread")]
async fn a_template_the_core_refuses_is_kept_unassigned() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let (id, mut agent) = ctl.online_server("vpn-1").await;
    let port = free_port();
    let mut template = loopback_direct_template();
    template["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"type": "field", "ip": ["not-an-ip"], "outboundTag": "direct"}),
    );
    let files = TempDir::new("xui");
    let db = files.path().join("x-ui.db");
    panel_with_template(&db, port, &template).await;

    let report = import_api(&ctl, "vpn-1", &db).await;
    assert_eq!(report["imported"]["inbounds"], json!(1), "{report}");
    assert_eq!(report["imported"]["clients"], json!(1), "{report}");
    let outcome = &report["template"];
    assert_eq!(outcome["action"], json!("kept"), "{report}");
    assert_eq!(outcome["servers"], json!([]), "{report}");
    let message = outcome["message"].as_str().unwrap();
    assert!(
        message.contains("kept as core template `vpn-1 (3x-ui)`, which no server uses")
            && message.contains("vpn-1")
            && message.contains("invalid IP: not-an-ip"),
        "{report}"
    );
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("invalid IP: not-an-ip")),
        "{report}"
    );
    let api = ctl.api();
    let kept = api
        .ok(
            "GET",
            &format!("/api/v1/core/templates/{}", outcome["template"]["id"]),
            None,
        )
        .await;
    assert_eq!(kept["config"], template);
    assert_eq!(kept["servers"], json!([]));
    let runs = api
        .ok("GET", &format!("/api/v1/servers/{id}/core-template"), None)
        .await;
    assert_eq!(runs["source"], json!("fleet"), "{runs}");

    // The inbound reaches the core, on the fleet template.
    let server = ctl.wait_applied(id, LONG).await;
    assert_eq!(server["apply_error"], Value::Null, "{server}");
    let config = running_config(&agent);
    assert!(
        config["inbounds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["port"] == json!(port)),
        "{config}"
    );
    let open = FileServer::start().await;
    let v2 = V2rayClient::start(outbound::vless_ws(port, IMPORTED_ID, "/imp")).await;
    let get: &[u8] = b"GET /2000 HTTP/1.0\r\nHost: origin\r\n\r\n";
    wait_for("the origin through the imported inbound", LONG, || async {
        xfleet_tests::proxy::exchange_via_socks(
            v2.socks_port,
            "127.0.0.1",
            open.port,
            get,
            Duration::from_secs(3),
        )
        .await
        .unwrap_or_default()
        .ends_with(&pattern(2000))
        .then_some(())
    })
    .await;

    // Again: nothing new.
    let revision = ctl.server(id).await["revision"].clone();
    let again = import_api(&ctl, "vpn-1", &db).await;
    assert_eq!(again["template"]["action"], json!("unchanged"), "{again}");
    assert!(
        again["template"]["message"]
            .as_str()
            .unwrap()
            .contains("kept already as core template `vpn-1 (3x-ui)`"),
        "{again}"
    );
    assert_eq!(again["revision"], Value::Null, "{again}");
    assert_eq!(ctl.server(id).await["revision"], revision);
    let templates = api.ok("GET", "/api/v1/core/templates", None).await;
    assert_eq!(templates.as_array().unwrap().len(), 1, "{templates}");
    agent.kill9();
}

/// `xfleet restore FILE` into a fresh data directory and `database` (the binary, as an
/// operator runs it): whether it succeeded and what it printed.
fn restore_cli(dir: &Path, file: &Path, database: &str, force: bool) -> (bool, String) {
    let mut cmd = std::process::Command::new(xfleet_tests::bin("xfleet"));
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("restore")
        .arg(file)
        .arg("--database-url")
        .arg(database);
    if force {
        cmd.arg("--force");
    }
    let out = cmd.output().unwrap();
    (out.status.success(), xfleet_tests::output_text(&out))
}

/// Tables in a PostgreSQL database's public schema.
async fn postgres_tables(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    n
}

/// What an operator sees of the fleet: servers, each server's inbounds, clients with usage.
async fn fleet_view(ctl: &Controller) -> Value {
    let api = ctl.api();
    let mut servers: Vec<Value> = api
        .ok("GET", "/api/v1/servers", None)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"id": s["id"], "name": s["name"]}))
        .collect();
    for s in &mut servers {
        let id = s["id"].as_i64().unwrap();
        s["inbounds"] = inbounds(ctl, id)
            .await
            .iter()
            .map(|i| json!({"id": i["id"], "tag": i["tag"], "port": i["port"], "up": i["up"], "down": i["down"]}))
            .collect();
    }
    let clients: Vec<Value> = api
        .ok("GET", "/api/v1/clients", None)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!({"email": c["email"], "uuid": c["uuid"], "subId": c["subId"],
                "totalGB": c["totalGB"], "up": c["up"], "down": c["down"]})
        })
        .collect();
    json!({"servers": servers, "clients": clients})
}

/// The migration path: `xfleet backup` of a running controller on SQLite, with an enrolled
/// agent whose v2ray core carried a client's traffic, restored with `xfleet restore` into a
/// fresh PostgreSQL database for a fresh controller on the same gateway address. The new
/// controller shows the same servers, inbounds, clients and usage; the agent reconnects on
/// its own with the certificate it has (no new token), its core carries the restored
/// client's traffic, counted on the new controller, and a client added there (ids past the
/// restored ones) reaches the core. Before that, a copy with one byte flipped, a truncated
/// copy and a zip that is not a backup are each refused with what is wrong, and the target
/// database is left untouched; a second restore into the filled database is refused, and so
/// is a restore while the controller runs; a stopped controller is backed up too.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_on_sqlite_restores_into_postgres_and_agents_stay() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let Some(target) = xfleet_tests::postgres_database().await else {
        return;
    };
    let mut a = Controller::start(ControllerOptions::default()).await;
    a.route_loopback_direct().await;
    let files = FileServer::start().await;
    let (id, agent) = a.online_server("edge-1").await;
    let (inbound, dora) = a.vless_ws_user(id, "dora").await;
    let api = a.api();
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "erin", "inboundIds": [inbound["id"]], "totalGB": 5 << 30})),
    )
    .await;
    wait_for("a download through dora's link", LONG, || async {
        dora.fetch(files.port, 64 * 1024).await.ok()
    })
    .await;
    wait_for("dora's traffic counted", LONG, || async {
        let c = client(&a, "dora").await;
        (c["down"].as_i64()? >= 64 * 1024).then_some(())
    })
    .await;

    // Backed up while the controller runs; the view is read on both sides of it, so no
    // late traffic slipped in between.
    let keep = TempDir::new("backups");
    let file = keep.path().join("fleet.zip");
    let before = wait_for(
        "a backup with no traffic arriving meanwhile",
        LONG,
        || async {
            let seen = fleet_view(&a).await;
            let (ok, out) = a.cli(&["backup", arg(&file)]);
            assert!(ok, "{out}");
            (fleet_view(&a).await == seen).then_some(seen)
        },
    )
    .await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds the CA key");
    let cert = agent.cert_pem();
    let (ok, out) = a.cli(&["restore", arg(&file), "--force"]);
    assert!(!ok && out.contains("the controller is running"), "{out}");
    assert_eq!(a.terminate(Duration::from_secs(30)), Some(0));
    // A stopped controller is backed up the same way.
    let (ok, out) = a.cli(&["backup", arg(&keep.path().join("stopped.zip"))]);
    assert!(ok && out.contains("Backup written"), "{out}");

    // Damaged and foreign files are refused before anything is written.
    let good = std::fs::read(&file).unwrap();
    // One byte flipped in the stored contents of the clients table (zip metadata no entry's
    // checksum covers, such as a file's timestamp, changes nothing that is restored).
    let mut flipped = good.clone();
    let inside = {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&good[..])).unwrap();
        let entry = zip.by_name("tables/clients.jsonl").unwrap();
        entry.data_start().expect("read from the start") + entry.compressed_size() / 2
    };
    flipped[inside as usize] ^= 0x40;
    let truncated = &good[..good.len() / 2];
    let foreign = {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"not a backup").unwrap();
        zip.finish().unwrap().into_inner()
    };
    let fresh = TempDir::new("restored");
    for (label, bytes, expected) in [
        ("flipped", &flipped[..], "the backup is damaged"),
        (
            "truncated",
            truncated,
            "not a complete zip archive (truncated or damaged)",
        ),
        ("foreign", &foreign[..], "not an xfleet backup"),
    ] {
        let bad = keep.path().join(format!("{label}.zip"));
        std::fs::write(&bad, bytes).unwrap();
        let (ok, out) = restore_cli(fresh.path(), &bad, &target, false);
        assert!(!ok, "{label}: {out}");
        assert!(
            out.contains(expected) && out.contains("nothing was written"),
            "{label}: {out}"
        );
        assert_eq!(
            postgres_tables(&target).await,
            0,
            "{label}: the target is untouched"
        );
        assert!(!fresh.path().join("ca.key").exists(), "{label}");
    }

    let (ok, out) = restore_cli(fresh.path(), &file, &target, false);
    assert!(ok, "{out}");
    assert!(out.contains("from a sqlite backup"), "{out}");
    let (ok, out) = restore_cli(fresh.path(), &file, &target, false);
    assert!(
        !ok && out.contains("is not empty") && out.contains("--force"),
        "{out}"
    );

    let b = Controller::start_on(
        fresh,
        ControllerOptions {
            database_url: Some(target.clone()),
            ..Default::default()
        },
        a.gateway_port,
    )
    .await;
    b.wait_status(id, "online", LONG).await;
    assert_eq!(fleet_view(&b).await, before);
    assert_eq!(agent.cert_pem(), cert, "the agent kept its certificate");

    // Traffic of the restored client is carried and counted on the new controller.
    let counted = client(&b, "dora").await["down"].as_i64().unwrap();
    dora.fetch(files.port, 64 * 1024).await.unwrap();
    wait_for(
        "dora's new traffic counted on the new controller",
        LONG,
        || async {
            let c = client(&b, "dora").await;
            (c["down"].as_i64()? >= counted + 64 * 1024).then_some(())
        },
    )
    .await;
    // A client added on the new controller gets a fresh id and reaches the core.
    let frank = b
        .api()
        .ok(
            "POST",
            "/api/v1/clients",
            Some(json!({"email": "frank", "inboundIds": [inbound["id"]]})),
        )
        .await;
    let port = inbound["port"].as_u64().unwrap() as u16;
    let frank_vpn = V2rayClient::start(outbound::vless_ws(
        port,
        frank["uuid"].as_str().unwrap(),
        "/ws",
    ))
    .await;
    wait_for("a download through frank's link", LONG, || async {
        frank_vpn.fetch(files.port, 4096).await.ok()
    })
    .await;
}

/// When the controller at `ctl` started (epoch ms), from its health answer.
async fn started_at(ctl: &Controller) -> Option<i64> {
    let (_, body) = ctl
        .api()
        .0
        .request("GET", "/api/v1/health", &[], None)
        .await
        .ok()?;
    serde_json::from_slice::<Value>(&body).ok()?["data"]["started_at"].as_i64()
}

/// Backups through the API, on both backends: a read-only token can neither download nor
/// restore one; an admin's download is a zip; an upload that is not a backup is refused with
/// what is wrong (400) and changes nothing; the download uploaded back is checked, replaces
/// everything, and the controller restarts in place serving the same fleet, a server added
/// after the download gone; both are in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn backups_through_the_api_are_an_admins() {
    for (label, database_url) in xfleet_tests::backends().await {
        let ctl = Controller::start(ControllerOptions {
            database_url,
            ..Default::default()
        })
        .await;
        let api = ctl.api();
        api.ok("POST", "/api/v1/servers", Some(json!({"name": "kept"})))
            .await;
        let reader = api
            .ok(
                "POST",
                "/api/v1/api-tokens",
                Some(json!({"name": "reader", "scope": "read-only"})),
            )
            .await;
        let reader = format!("Bearer {}", reader["token"].as_str().unwrap());
        let (status, body) = api
            .0
            .request("GET", "/api/v1/backup", &[("authorization", &reader)], None)
            .await
            .unwrap();
        assert_eq!(status, 403, "{label}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("cannot take or restore backups"));

        let admin = format!("Bearer {}", api.0.token);
        let (status, archive) = api
            .0
            .request("GET", "/api/v1/backup", &[("authorization", &admin)], None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{label}");
        assert!(archive.starts_with(b"PK"), "{label}");
        assert_eq!(audit_actions(&ctl).await[0], "backup.download", "{label}");
        api.ok("POST", "/api/v1/servers", Some(json!({"name": "later"})))
            .await;

        let upload = |token: String, body: Vec<u8>| {
            let api = ctl.api();
            async move {
                let auth = format!("Bearer {token}");
                let (status, body) = api
                    .0
                    .request(
                        "POST",
                        "/api/v1/restore",
                        &[("authorization", &auth)],
                        Some(("application/zip", body.into())),
                    )
                    .await
                    .unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let reader_secret = reader.trim_start_matches("Bearer ").to_owned();
        let (status, body) = upload(reader_secret, archive.to_vec()).await;
        assert_eq!(status, 403, "{label}: {body}");
        let (status, body) = upload(api.0.token.clone(), b"PK not really".to_vec()).await;
        assert_eq!(status, 400, "{label}: {body}");
        assert!(
            body.contains("not a complete zip archive"),
            "{label}: {body}"
        );
        let names = |list: Value| -> Vec<String> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let servers = api.ok("GET", "/api/v1/servers", None).await;
        assert_eq!(
            names(servers),
            ["kept", "later"],
            "{label}: nothing changed"
        );

        let before = started_at(&ctl).await.unwrap();
        let (status, body) = upload(api.0.token.clone(), archive.to_vec()).await;
        assert_eq!(status, 200, "{label}: {body}");
        wait_for(
            "the controller to restart on the restored data",
            LONG,
            || async { started_at(&ctl).await.filter(|&t| t != before) },
        )
        .await;
        let servers = ctl.api().ok("GET", "/api/v1/servers", None).await;
        assert_eq!(names(servers), ["kept"], "{label}: the backup's fleet");
        // A server added now gets an id past the restored ones.
        ctl.api()
            .ok("POST", "/api/v1/servers", Some(json!({"name": "after"})))
            .await;
        // The restored audit log is the backup's, and the restore is written after it.
        assert_eq!(
            audit_actions(&ctl).await[..2],
            ["server.create", "backup.restore"],
            "{label}"
        );
    }
}

/// The audit log's actions, newest first.
async fn audit_actions(ctl: &Controller) -> Vec<String> {
    let audit = ctl.api().ok("GET", "/api/v1/audit", None).await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}
