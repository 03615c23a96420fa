//! The Telegram bot, end to end: a real controller and agent with the real v2ray core, and a
//! local Bot API (`xfleet_tests::telegram`) that the bot reaches through `tgBotAPIServer`,
//! exactly as it reaches Telegram's.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xfleet_tests::proxy::{outbound, FileServer, V2rayClient};
use xfleet_tests::telegram::{FakeTelegram, Sent};
use xfleet_tests::xui::XuiClient;
use xfleet_tests::{free_port, wait_for, Agent, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);
const TOKEN: &str = "123456:test-token-of-the-fleet-bot";
const ADMIN: i64 = 111_111;
const CLIENT_USER: i64 = 222_222;
const STRANGER: i64 = 333_333;

/// Turns the bot on against `tg` with `ADMIN` as its admin and a short offline grace.
async fn enable_bot(ctl: &Controller, tg: &FakeTelegram, token: &str) {
    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(json!({
                "tgBotEnable": true,
                "tgBotToken": token,
                "tgBotAPIServer": tg.url,
                "tgBotChatId": ADMIN.to_string(),
                "tgOfflineGrace": 3,
            })),
        )
        .await;
}

/// A login with a wrong password on the native API.
async fn failed_login(ctl: &Controller, password: &str) {
    let body = json!({"username": "admin", "password": password}).to_string();
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", ctl.panel_port))
        .await
        .unwrap();
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    // Refused, or (after a few) throttled.
    assert!(
        answer.starts_with("HTTP/1.1 403") || answer.starts_with("HTTP/1.1 429"),
        "{answer}"
    );
}

async fn bot_state(ctl: &Controller) -> Value {
    ctl.api().ok("GET", "/api/v1/telegram", None).await["status"].clone()
}

/// Everything a user sees of the fleet through the bot, with a real agent and core.
#[tokio::test(flavor = "multi_thread")]
async fn the_bot_runs_the_fleet_from_telegram() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let api = ctl.api();
    let (server_id, token) = ctl.add_server("amsterdam-1").await;
    let mut agent = Agent::enroll(&token);
    agent.start();
    ctl.wait_status(server_id, "online", LONG).await;
    let port = free_port();
    let inbound = api
        .ok(
            "POST",
            &format!("/api/v1/servers/{server_id}/inbounds"),
            Some(
                json!({"port": port, "protocol": "vmess", "remark": "main", "settings": {},
                "streamSettings": {"network": "tcp"}}),
            ),
        )
        .await;
    let inbound_id = inbound["id"].as_i64().unwrap();
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(
            json!({"email": "dana", "inboundIds": [inbound_id], "tgId": CLIENT_USER,
            "totalGB": 10_i64 << 30}),
        ),
    )
    .await;

    let tg = FakeTelegram::start(TOKEN).await;
    enable_bot(&ctl, &tg, TOKEN).await;
    let running = wait_for("the bot to run", LONG, || async {
        let s = bot_state(&ctl).await;
        (s["state"] == "running").then_some(s)
    })
    .await;
    assert_eq!(running["username"], "xfleet_test_bot");
    wait_for("the command menu", LONG, || async {
        (tg.commands().len() == 7).then_some(())
    })
    .await;
    assert!(tg.commands().contains(&"restart".to_owned()));

    // /status from an admin: the server by name and state.
    tg.say(ADMIN, "/status");
    let status = tg
        .wait_sent(ADMIN, 0, "the fleet status", LONG, |s| {
            s.text.contains("amsterdam-1")
        })
        .await;
    assert!(
        status.text.contains("1 of 1 servers online"),
        "{}",
        status.text
    );
    assert!(
        status.text.contains("online") && status.text.contains("v2ray"),
        "{}",
        status.text
    );

    // From a stranger: nothing about the fleet.
    tg.say(STRANGER, "/status");
    tg.say(STRANGER, "/usage dana");
    tg.say(STRANGER, "/start");
    let last = tg
        .wait_sent(STRANGER, 2, "the stranger's third answer", LONG, |_| true)
        .await;
    assert!(last.text.contains(&STRANGER.to_string()), "{}", last.text);
    for s in tg.sent_to(STRANGER) {
        assert!(
            !s.text.contains("amsterdam") && !s.text.contains("main"),
            "{}",
            s.text
        );
        assert!(
            s.buttons.is_empty() || !s.text.contains("dana"),
            "{}",
            s.text
        );
    }
    assert!(tg.sent_to(STRANGER)[1].text.contains("No client dana"));
    // A stranger's press of an admin button is refused.
    tg.press(STRANGER, 1, "ray");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The client user: their usage, and their subscription with its QR picture.
    tg.say(CLIENT_USER, "/usage");
    let usage = tg
        .wait_sent(CLIENT_USER, 0, "the client's usage", LONG, |s| {
            s.text.contains("dana")
        })
        .await;
    assert!(usage.text.contains("10.00GB"), "{}", usage.text);
    tg.say(CLIENT_USER, "/start");
    let menu = tg
        .wait_sent(CLIENT_USER, 1, "the client's menu", LONG, |s| {
            !s.buttons.is_empty()
        })
        .await;
    let sub_id = api.ok("GET", "/api/v1/clients/dana", None).await["subId"]
        .as_str()
        .unwrap()
        .to_owned();
    tg.press(
        CLIENT_USER,
        menu.message_id,
        &menu.button("subscription").unwrap(),
    );
    let link = tg
        .wait_sent(CLIENT_USER, 2, "the subscription link", LONG, |s| {
            s.text.contains(&sub_id)
        })
        .await;
    assert!(
        link.text.contains(&format!("/sub/{sub_id}")),
        "{}",
        link.text
    );
    let qr = tg
        .wait_sent(CLIENT_USER, 2, "the QR picture", LONG, |s| {
            s.method == "sendphoto"
        })
        .await;
    let (_, png) = qr.file.expect("a picture");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG picture");
    assert!(png.len() > 500);
    // Nobody else got dana's link.
    for chat in [STRANGER, ADMIN] {
        assert!(tg.sent_to(chat).iter().all(|s| !s.text.contains(&sub_id)));
    }

    // The add-client wizard, then the new client's traffic through the core.
    let before = tg.sent_to(ADMIN).len();
    tg.say(ADMIN, "/start");
    let menu = tg
        .wait_sent(ADMIN, before, "the admin menu", LONG, |s| {
            !s.buttons.is_empty()
        })
        .await;
    let next = |data: String, after: usize, what: &'static str| {
        tg.press(ADMIN, menu.message_id, &data);
        let tg = &tg;
        async move {
            tg.wait_sent(ADMIN, after, what, LONG, |s| !s.buttons.is_empty())
                .await
        }
    };
    let n = tg.sent_to(ADMIN).len();
    let pick = next(menu.button("Add client").unwrap(), n, "the inbound picker").await;
    let n = tg.sent_to(ADMIN).len();
    let draft = next(pick.button("main").unwrap(), n, "the draft").await;
    let n = tg.sent_to(ADMIN).len();
    let asked = next(draft.button("Email").unwrap(), n, "the email question").await;
    assert!(asked.text.contains("email"), "{}", asked.text);
    let n = tg.sent_to(ADMIN).len();
    tg.say(ADMIN, "erin");
    let draft = tg
        .wait_sent(ADMIN, n, "the draft with the email", LONG, |s| {
            s.text.contains("Email: erin")
        })
        .await;
    let n = tg.sent_to(ADMIN).len();
    let limits = next(
        draft.button("Traffic limit").unwrap(),
        n,
        "the traffic presets",
    )
    .await;
    let n = tg.sent_to(ADMIN).len();
    let draft = next(limits.button("50 GB").unwrap(), n, "the draft with 50 GB").await;
    assert!(draft.text.contains("50 GB"), "{}", draft.text);
    let n = tg.sent_to(ADMIN).len();
    let card = next(draft.button("Create").unwrap(), n, "the new client's card").await;
    assert!(card.text.contains("erin"), "{}", card.text);
    let erin = api.ok("GET", "/api/v1/clients/erin", None).await;
    assert_eq!(erin["totalGB"], json!(50_i64 << 30));
    assert_eq!(erin["enable"], json!(true));
    let files = FileServer::start().await;
    let v2 = V2rayClient::start(outbound::vmess_tcp(port, erin["uuid"].as_str().unwrap())).await;
    let body = wait_for("erin's traffic through the core", LONG, || async {
        v2.fetch(files.port, 64 << 10).await.ok()
    })
    .await;
    assert_eq!(body.len(), 64 << 10);

    // The backup: a document that opens as the database.
    let n = tg.sent_to(ADMIN).len();
    tg.press(ADMIN, menu.message_id, &menu.button("Backup").unwrap());
    let doc = tg
        .wait_sent(ADMIN, n, "the backup", LONG, |s| s.method == "senddocument")
        .await;
    let (name, bytes) = doc.file.expect("a file");
    assert!(name.ends_with(".db"), "{name}");
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let copy = std::env::temp_dir().join(format!("bot-backup-{}.db", std::process::id()));
    std::fs::write(&copy, &bytes).unwrap();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let emails: Vec<(String,)> = sqlx::query_as("SELECT email FROM clients ORDER BY email")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(emails, vec![("dana".to_owned(),), ("erin".to_owned(),)]);
    db.close().await;
    let _ = std::fs::remove_file(&copy);

    // Telegram says "too many requests": the bot waits as told, and the answer arrives.
    tg.throttle_next("sendMessage", 2);
    let n = tg.sent_to(ADMIN).len();
    tg.say(ADMIN, "/id");
    let id = tg
        .wait_sent(ADMIN, n, "the /id answer after a 429", LONG, |s| {
            s.text.contains(&ADMIN.to_string())
        })
        .await;
    let calls = tg.calls("sendMessage");
    let (throttled, retried) = (calls[calls.len() - 2], calls[calls.len() - 1]);
    assert!(retried.duration_since(throttled) >= Duration::from_secs(2));
    assert!(id.at >= retried);

    // The agent killed: one "offline" after the grace period; back: one "back online".
    let offline = |s: &Sent| s.text.contains("amsterdam-1 is offline");
    let online = |s: &Sent| s.text.contains("amsterdam-1 is back online");
    let n = tg.sent_to(ADMIN).len();
    agent.kill9();
    ctl.wait_status(server_id, "offline", LONG).await;
    tg.wait_sent(ADMIN, n, "the offline notice", LONG, offline)
        .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    agent.start();
    ctl.wait_status(server_id, "online", LONG).await;
    tg.wait_sent(ADMIN, n, "the back-online notice", LONG, online)
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after: Vec<Sent> = tg.sent_to(ADMIN).into_iter().skip(n).collect();
    assert_eq!(after.iter().filter(|s| offline(s)).count(), 1, "{after:#?}");
    assert_eq!(after.iter().filter(|s| online(s)).count(), 1, "{after:#?}");
    // A login is told to the admins, without the password.
    let n = tg.sent_to(ADMIN).len();
    failed_login(&ctl, "wrong-password-here").await;
    let notice = tg
        .wait_sent(ADMIN, n, "the failed login notice", LONG, |s| {
            s.text.contains("Failed login")
        })
        .await;
    assert!(!notice.text.contains("wrong-password-here"));

    // Memory over `tgMemory`: one notice, however many heartbeats say so.
    api.ok("PATCH", "/api/v1/settings", Some(json!({"tgMemory": 1})))
        .await;
    let n = tg.sent_to(ADMIN).len();
    let memory = |s: &Sent| s.text.contains("amsterdam-1: memory at");
    tg.wait_sent(ADMIN, n, "the memory notice", LONG, memory)
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let told = tg
        .sent_to(ADMIN)
        .iter()
        .skip(n)
        .filter(|s| memory(s))
        .count();
    assert_eq!(told, 1);
    api.ok("PATCH", "/api/v1/settings", Some(json!({"tgMemory": 80})))
        .await;

    // The report on `tgRunTime` (@daily), as if the last went out two days ago: the fleet
    // and the clients near their limits to the admin, then the backup; dana (10 GB, within
    // `trafficDiff` of it) gets her own warning, and nobody else does.
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"trafficDiff": 20, "tgBotBackup": true})),
    )
    .await;
    let (n_admin, n_client) = (tg.sent_to(ADMIN).len(), tg.sent_to(CLIENT_USER).len());
    let db_path = ctl.dir.path().join("xfleet.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 2 * 86_400_000;
    let moved = sqlx::query("UPDATE settings SET value = $1 WHERE key = 'tgLastReport'")
        .bind(two_days_ago.to_string())
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        moved.rows_affected(),
        1,
        "the report's last run is recorded"
    );
    db.close().await;
    let report = tg
        .wait_sent(ADMIN, n_admin, "the report", LONG, |s| {
            s.text.contains("Report")
        })
        .await;
    assert!(
        report.text.contains("amsterdam-1") && report.text.contains("dana"),
        "{}",
        report.text
    );
    assert!(!report.text.contains("erin"), "{}", report.text);
    tg.wait_sent(ADMIN, n_admin, "the report's backup", LONG, |s| {
        s.method == "senddocument"
    })
    .await;
    let warning = tg
        .wait_sent(CLIENT_USER, n_client, "dana's warning", LONG, |s| {
            s.text.contains("about to run out")
        })
        .await;
    assert!(warning.text.contains("dana"), "{}", warning.text);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reports = tg
        .sent_to(ADMIN)
        .iter()
        .skip(n_admin)
        .filter(|s| s.text.contains("Report"))
        .count();
    assert_eq!(reports, 1, "one report per firing");

    // A burst of events: each chat gets a few messages at once, then the rest together;
    // every notice arrives.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let n = tg.sent_to(ADMIN).len();
    for i in 0..12 {
        failed_login(&ctl, &format!("burst-{i}")).await;
    }
    let told = |sent: &[Sent]| -> usize {
        sent.iter()
            .map(|s| s.text.matches("Failed login").count())
            .sum()
    };
    wait_for("every notice of the burst", LONG, || async {
        let after: Vec<Sent> = tg.sent_to(ADMIN).into_iter().skip(n).collect();
        (told(&after) >= 12).then_some(())
    })
    .await;
    let after: Vec<Sent> = tg.sent_to(ADMIN).into_iter().skip(n).collect();
    assert_eq!(told(&after), 12);
    assert!(after.len() <= 6, "{} messages for 12 notices", after.len());
}

/// A token Telegram refuses is shown where the operator looks, and fixing it (or turning the
/// bot off) takes effect without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_is_shown_and_fixed_without_a_restart() {
    let ctl = Controller::start(ControllerOptions::default()).await;
    let tg = FakeTelegram::start(TOKEN).await;
    enable_bot(&ctl, &tg, "999:not-the-token").await;
    let failed = wait_for("the refusal on the settings page", LONG, || async {
        let s = bot_state(&ctl).await;
        (s["state"] == "failed").then_some(s)
    })
    .await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("not accepted") && error.contains("Invalid bot token"),
        "{error}"
    );
    assert!(
        !error.contains("not-the-token"),
        "the token stays out: {error}"
    );
    assert!(
        !ctl.output.text().contains("not-the-token"),
        "nor in the log"
    );
    // Refused with a growing pause, not in a tight loop.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        tg.calls("getMe").len() <= 3,
        "{} tries",
        tg.calls("getMe").len()
    );

    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"tgBotToken": TOKEN})),
        )
        .await;
    wait_for("the bot to run with the new token", LONG, || async {
        (bot_state(&ctl).await["state"] == "running").then_some(())
    })
    .await;
    tg.say(ADMIN, "/status");
    tg.wait_sent(ADMIN, 0, "an answer", LONG, |s| {
        s.text.contains("No servers yet")
    })
    .await;

    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"tgBotEnable": false})),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let polls = tg.calls("getUpdates").len();
    let before = tg.sent_to(ADMIN).len();
    tg.say(ADMIN, "/status");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(tg.calls("getUpdates").len() <= polls + 1, "polling stopped");
    assert_eq!(tg.sent_to(ADMIN).len(), before, "no answer once off");
    assert_eq!(
        ctl.api().ok("GET", "/api/v1/telegram", None).await["status"],
        Value::Null
    );

    // 3x-ui's routes, through the bot (on again): the backup trigger and the test message;
    // the native route too.
    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"tgBotEnable": true})),
        )
        .await;
    let mut x = XuiClient::new(&ctl.panel_url(), "");
    x.login("admin", &ctl.admin_password).await.obj();
    x.get("/panel/api/backuptotgbot").await.obj();
    let doc = tg
        .wait_sent(ADMIN, before, "the backup", LONG, |s| {
            s.method == "senddocument"
        })
        .await;
    assert!(doc.file.unwrap().1.starts_with(b"SQLite format 3\0"));
    x.post("/panel/api/setting/testTgBot").await.obj();
    tg.wait_sent(ADMIN, before, "the test message", LONG, |s| {
        s.text.contains("test message")
    })
    .await;
    let sent = ctl.api().ok("POST", "/api/v1/telegram/backup", None).await;
    assert_eq!(sent["sent_to"], json!(1));
    // The file holds every secret: a read-only token gets no backup sent, by either route.
    let documents = tg
        .sent_to(ADMIN)
        .iter()
        .filter(|s| s.method == "senddocument")
        .count();
    let read_only = ctl
        .api()
        .ok(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({"name": "viewer", "scope": "read-only"})),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut viewer = XuiClient::new(&ctl.panel_url(), "");
    viewer.bearer = Some(read_only);
    let refused = viewer.get("/panel/api/backuptotgbot").await.failure();
    assert!(refused.contains("read-only"), "{refused}");
    assert_eq!(viewer.post("/api/v1/telegram/backup").await.status, 403);
    // (3x-ui's POST routes refuse read-only tokens before any handler.)
    assert_eq!(
        viewer.post("/panel/api/setting/testTgBot").await.status,
        403
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = tg
        .sent_to(ADMIN)
        .iter()
        .filter(|s| s.method == "senddocument")
        .count();
    assert_eq!(after, documents, "nothing sent for a read-only token");
    // With no admins, 3x-ui's trigger says why nothing was sent.
    ctl.api()
        .ok(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"tgBotChatId": ""})),
        )
        .await;
    let why = x.get("/panel/api/backuptotgbot").await.failure();
    assert!(why.contains("no admins"), "{why}");
}

/// On PostgreSQL there is no database file: the bot sends the portable archive that
/// `xfleet restore` takes.
#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_the_bot_sends_the_portable_backup() {
    let Some(url) = xfleet_tests::postgres_database().await else {
        return;
    };
    let ctl = Controller::start(ControllerOptions {
        database_url: Some(url),
        ..Default::default()
    })
    .await;
    ctl.add_server("frankfurt-1").await;
    let tg = FakeTelegram::start(TOKEN).await;
    enable_bot(&ctl, &tg, TOKEN).await;
    wait_for("the bot to run", LONG, || async {
        (bot_state(&ctl).await["state"] == "running").then_some(())
    })
    .await;
    tg.say(ADMIN, "/start");
    let menu = tg
        .wait_sent(ADMIN, 0, "the admin menu", LONG, |s| !s.buttons.is_empty())
        .await;
    tg.press(ADMIN, menu.message_id, &menu.button("Backup").unwrap());
    let doc = tg
        .wait_sent(ADMIN, 0, "the backup", LONG, |s| s.method == "senddocument")
        .await;
    assert!(doc.text.contains("xfleet restore"), "{}", doc.text);
    let (name, bytes) = doc.file.unwrap();
    assert!(
        name.starts_with("xfleet-") && name.ends_with(".zip"),
        "{name}"
    );
    let archive =
        xfleet_controller::backup::check(&bytes, xfleet_controller::store::Backend::Sqlite);
    assert!(
        archive.is_ok(),
        "an archive xfleet restore takes, into SQLite too"
    );
}

/// Several controllers on one PostgreSQL: one bot polls Telegram (the leader's), so each
/// command is answered once; when that controller dies, another runs the bot within seconds.
#[tokio::test(flavor = "multi_thread")]
async fn with_several_controllers_one_bot_answers_and_another_takes_over() {
    let Some(db) = xfleet_tests::postgres_database().await else {
        return;
    };
    let options = || ControllerOptions {
        database_url: Some(db.clone()),
        ..ControllerOptions::default()
    };
    let mut a = Controller::start(options()).await;
    let b = Controller::join(&a, options()).await;
    let tg = FakeTelegram::start(TOKEN).await;
    enable_bot(&a, &tg, TOKEN).await;
    let first = wait_for("the bot to run", LONG, || async {
        let s = bot_state(&b).await;
        (s["state"] == "running").then_some(s)
    })
    .await;
    let leader = a.api().ok("GET", "/api/v1/controllers", None).await;
    let leader = leader
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["leader"] == json!(true))
        .unwrap()["id"]
        .clone();
    assert_eq!(first["controller"], leader, "the leader runs the bot");
    tg.say(ADMIN, "/id");
    tg.wait_sent(ADMIN, 0, "an answer", LONG, |_| true).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tg.sent_to(ADMIN).len(), 1, "answered once");

    a.kill9();
    let second = wait_for("another controller to run the bot", LONG, || async {
        let s = bot_state(&b).await;
        (s["state"] == "running" && s["controller"] != leader).then_some(s)
    })
    .await;
    assert_ne!(second["controller"], first["controller"]);
    tg.say(ADMIN, "/id");
    tg.wait_sent(
        ADMIN,
        1,
        "an answer from the other controller",
        LONG,
        |_| true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tg.sent_to(ADMIN).len(), 2, "answered once");
}
