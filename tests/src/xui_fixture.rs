//! 3x-ui databases (`x-ui.db`) with 3x-ui's own schema, for the importer and for tests of
//! the 3x-ui compatible API: [`XuiDb`] writes rows, [`sample_v2`] builds a realistic panel.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// 3x-ui v2.8.5 – v2.9.4 tables as GORM creates them on SQLite, plus `allocate`, which
/// v2.4.1 – v2.6.6 added to inbounds and GORM never dropped.
pub const V2_SCHEMA: &[&str] = &[
    "CREATE TABLE `users` (`id` integer PRIMARY KEY AUTOINCREMENT,`username` text,`password` text)",
    "CREATE TABLE `inbounds` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer,\
     `up` integer,`down` integer,`total` integer,`all_time` integer DEFAULT 0,`remark` text,\
     `enable` numeric,`expiry_time` integer,`traffic_reset` text DEFAULT 'never',\
     `last_traffic_reset_time` integer DEFAULT 0,`listen` text,`port` integer,`protocol` text,\
     `settings` text,`stream_settings` text,`tag` text,`sniffing` text,`allocate` text,\
     CONSTRAINT `uni_inbounds_tag` UNIQUE (`tag`))",
    "CREATE INDEX `idx_enable_traffic_reset` ON `inbounds`(`enable`,`traffic_reset`)",
    "CREATE TABLE `outbound_traffics` (`id` integer PRIMARY KEY AUTOINCREMENT,`tag` text,\
     `up` integer DEFAULT 0,`down` integer DEFAULT 0,`total` integer DEFAULT 0,\
     CONSTRAINT `uni_outbound_traffics_tag` UNIQUE (`tag`))",
    "CREATE TABLE `settings` (`id` integer PRIMARY KEY AUTOINCREMENT,`key` text,`value` text)",
    "CREATE TABLE `inbound_client_ips` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `client_email` text,`ips` text,\
     CONSTRAINT `uni_inbound_client_ips_client_email` UNIQUE (`client_email`))",
    "CREATE TABLE `client_traffics` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `inbound_id` integer,`enable` numeric,`email` text,`up` integer,`down` integer,\
     `all_time` integer,`expiry_time` integer,`total` integer,`reset` integer DEFAULT 0,\
     `last_online` integer DEFAULT 0,\
     CONSTRAINT `fk_inbounds_client_stats` FOREIGN KEY (`inbound_id`) REFERENCES `inbounds`(`id`),\
     CONSTRAINT `uni_client_traffics_email` UNIQUE (`email`))",
    "CREATE INDEX `idx_client_traffics_inbound_id` ON `client_traffics`(`inbound_id`)",
    "CREATE TABLE `history_of_seeders` (`id` integer PRIMARY KEY AUTOINCREMENT,`seeder_name` text)",
    "CREATE TABLE `custom_geo_resources` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `geo_type` text,`alias` text,`url` text,`local_path` text,`last_updated_at` integer,\
     `last_modified` text,`created_at` integer,`updated_at` integer,\
     CONSTRAINT `idx_geo_type_alias` UNIQUE (`geo_type`,`alias`))",
];

/// One `inbounds` row. JSON columns are stored as 3x-ui stores them: indented text.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub remark: String,
    pub enable: bool,
    pub listen: String,
    pub port: u16,
    pub protocol: String,
    pub settings: Value,
    pub stream_settings: Value,
    pub sniffing: Value,
    pub tag: String,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    pub total: i64,
    pub expiry_time: i64,
    pub traffic_reset: String,
    pub allocate: Option<Value>,
}

impl Inbound {
    /// An enabled inbound tagged `inbound-<port>` with no traffic.
    pub fn new(port: u16, protocol: &str, settings: Value, stream_settings: Value) -> Self {
        Self {
            remark: String::new(),
            enable: true,
            listen: String::new(),
            port,
            protocol: protocol.into(),
            settings,
            stream_settings,
            sniffing: json!({"enabled": true, "destOverride": ["http", "tls", "quic", "fakedns"],
                             "metadataOnly": false, "routeOnly": false}),
            tag: format!("inbound-{port}"),
            up: 0,
            down: 0,
            all_time: 0,
            total: 0,
            expiry_time: 0,
            traffic_reset: "never".into(),
            allocate: None,
        }
    }
}

/// One `client_traffics` row.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub enable: bool,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    pub last_online: i64,
}

/// An x-ui.db being written.
pub struct XuiDb {
    conn: SqliteConnection,
}

impl XuiDb {
    /// A new database at `path` with the v2 schema.
    pub async fn create(path: &Path) -> Self {
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // A test file: no need to wait for the disk after every row.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
            .disable_statement_logging()
            .connect()
            .await
            .expect("create x-ui.db");
        for statement in V2_SCHEMA {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        Self { conn }
    }

    /// Runs any SQL (to add leftovers of other releases, or break things on purpose).
    pub async fn exec(&mut self, sql: &str) {
        sqlx::query(sql)
            .execute(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Adds an inbound; each client in `settings.clients` gets its `client_traffics` row
    /// from `traffic` (by email), or an empty enabled one. Returns the inbound id.
    pub async fn inbound(&mut self, i: &Inbound, traffic: &[(&str, Traffic)]) -> i64 {
        let text = |v: &Value| serde_json::to_string_pretty(v).unwrap();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO inbounds (user_id, up, down, total, all_time, remark, enable, \
             expiry_time, traffic_reset, last_traffic_reset_time, listen, port, protocol, \
             settings, stream_settings, tag, sniffing, allocate) \
             VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(i.up)
        .bind(i.down)
        .bind(i.total)
        .bind(i.all_time)
        .bind(&i.remark)
        .bind(i.enable)
        .bind(i.expiry_time)
        .bind(&i.traffic_reset)
        .bind(&i.listen)
        .bind(i64::from(i.port))
        .bind(&i.protocol)
        .bind(text(&i.settings))
        .bind(text(&i.stream_settings))
        .bind(&i.tag)
        .bind(text(&i.sniffing))
        .bind(i.allocate.as_ref().map(text))
        .fetch_one(&mut self.conn)
        .await
        .expect("insert inbound");
        let clients = i.settings["clients"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in clients {
            let email = c["email"].as_str().unwrap_or_default();
            let t = traffic
                .iter()
                .find(|(e, _)| *e == email)
                .map(|(_, t)| t.clone())
                .unwrap_or(Traffic {
                    enable: true,
                    ..Default::default()
                });
            sqlx::query(
                "INSERT INTO client_traffics (inbound_id, enable, email, up, down, all_time, \
                 expiry_time, total, reset, last_online) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(t.enable)
            .bind(email)
            .bind(t.up)
            .bind(t.down)
            .bind(t.all_time)
            .bind(c["expiryTime"].as_i64().unwrap_or(0))
            .bind(c["totalGB"].as_i64().unwrap_or(0))
            .bind(c["reset"].as_i64().unwrap_or(0))
            .bind(t.last_online)
            .execute(&mut self.conn)
            .await
            .expect("insert client_traffics");
        }
        id
    }

    /// `ips` is the raw JSON 3x-ui keeps.
    pub async fn client_ips(&mut self, email: &str, ips: &str) {
        sqlx::query("INSERT INTO inbound_client_ips (client_email, ips) VALUES (?, ?)")
            .bind(email)
            .bind(ips)
            .execute(&mut self.conn)
            .await
            .expect("insert inbound_client_ips");
    }

    pub async fn setting(&mut self, key: &str, value: &str) {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await
            .expect("insert setting");
    }

    /// The core template as 3x-ui's Xray page saves it (setting `xrayTemplateConfig`,
    /// indented).
    pub async fn template(&mut self, template: &Value) {
        let text = serde_json::to_string_pretty(template).unwrap();
        self.setting("xrayTemplateConfig", &text).await;
    }

    /// What 3x-ui counted on one outbound (`outbound_traffics`).
    pub async fn outbound_traffic(&mut self, tag: &str, up: i64, down: i64) {
        sqlx::query("INSERT INTO outbound_traffics (tag, up, down, total) VALUES (?, ?, ?, ?)")
            .bind(tag)
            .bind(up)
            .bind(down)
            .bind(up + down)
            .execute(&mut self.conn)
            .await
            .expect("insert outbound_traffics");
    }

    /// An account whose password is stored as 3x-ui stores it (bcrypt, default cost).
    pub async fn user(&mut self, username: &str, password: &str) {
        let hash = bcrypt::hash(password, bcrypt::DEFAULT_COST).expect("bcrypt");
        sqlx::query("INSERT INTO users (username, password) VALUES (?, ?)")
            .bind(username)
            .bind(hash)
            .execute(&mut self.conn)
            .await
            .expect("insert user");
    }

    pub async fn seeder(&mut self, name: &str) {
        sqlx::query("INSERT INTO history_of_seeders (seeder_name) VALUES (?)")
            .bind(name)
            .execute(&mut self.conn)
            .await
            .expect("insert seeder");
    }

    pub async fn close(self) {
        self.conn.close().await.expect("close x-ui.db");
    }
}

/// What [`sample_v2`] put in the database.
pub mod sample {
    pub const ADMIN: &str = "admin";
    pub const ADMIN_PASSWORD: &str = "xui-admin-secret";
    pub const ALICE_ID: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50";
    pub const BOB_ID: &str = "0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b";
    pub const CAROL_ID: &str = "11111111-2222-4333-8444-555555555555";
    pub const DAVE_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    pub const ERIN_PASSWORD: &str = "erin-trojan-pass";
    /// alice: quota 50 GiB, expiry, 2 IPs, tgId as a string, traffic.
    pub const ALICE_TOTAL: i64 = 50 << 30;
    pub const ALICE_EXPIRY: i64 = 4_102_444_800_000;
    pub const ALICE_UP: i64 = 1_500_000_000;
    pub const ALICE_DOWN: i64 = 3_000_000_000;
    pub const ALICE_ALL_TIME: i64 = 6_000_000_000;
    pub const ALICE_LAST_ONLINE: i64 = 1_700_000_123_000;
    /// carol: 7 days counted from first use.
    pub const CAROL_EXPIRY: i64 = -7 * 86_400_000;
    /// Inbounds the importer takes (the fifth has protocol `bogus`).
    pub const TAGS: [&str; 4] = [
        "inbound-443",
        "inbound-8080",
        "inbound-8443",
        "inbound-8388",
    ];
    /// Clients the importer takes (`ghost` sits in the bogus inbound).
    pub const EMAILS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
    /// The template sends this domain through an extra outbound, tagged [`WARP_TAG`].
    pub const WARP_DOMAIN: &str = "full:chat.example.com";
    pub const WARP_TAG: &str = "warp";
    /// `outbound_traffics`: (tag, up, down).
    pub const OUTBOUNDS: [(&str, i64, i64); 3] =
        [("direct", 1, 2), ("blocked", 0, 0), ("warp", 4_096, 8_192)];

    /// The template the sample's Xray page saved: 3x-ui's default with a WARP-like outbound
    /// and a rule sending one domain through it.
    pub fn template() -> serde_json::Value {
        let mut t = xfleet_common::xray::xui_default_template();
        t["outbounds"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
                {"tag": WARP_TAG, "protocol": "freedom", "settings": {"domainStrategy": "UseIPv4"}}
            ));
        t["routing"]["rules"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
                {"type": "field", "domain": [WARP_DOMAIN], "outboundTag": WARP_TAG}
            ));
        t
    }
}

fn random_key(len: usize, url_safe: bool) -> String {
    let mut key = vec![0u8; len];
    rand::rng().fill_bytes(&mut key);
    if url_safe {
        URL_SAFE_NO_PAD.encode(key)
    } else {
        STANDARD.encode(key)
    }
}

/// A panel as 3x-ui v2.9 leaves it: VLESS+REALITY, VMess+WS, Trojan+TLS and Shadowsocks-2022
/// inbounds with six clients (traffic, a depleted one, one switched off, a negative expiry,
/// a string tgId, a shared subId), IP records in both formats, settings, a core template with
/// an extra outbound and rule, outbound counters, a bcrypt admin, and an inbound of an
/// unknown protocol. `bulk` more VLESS clients go on a fifth inbound
/// (port 2083) to make the file large.
pub async fn sample_v2(path: &Path, bulk: usize) {
    use sample::*;
    let mut db = XuiDb::create(path).await;
    db.exec("ALTER TABLE `users` ADD `login_secret` text").await;

    let mut reality = Inbound::new(
        443,
        "vless",
        json!({"clients": [
            {"id": ALICE_ID, "flow": "xtls-rprx-vision", "email": "alice", "limitIp": 2,
             "totalGB": ALICE_TOTAL, "expiryTime": ALICE_EXPIRY, "enable": true,
             "tgId": "123456789", "subId": "alice-sub-0001", "comment": "paid until spring",
             "reset": 0, "created_at": 1_700_000_000_000_i64, "updated_at": 1_700_000_000_000_i64},
            {"id": BOB_ID, "flow": "", "email": "bob", "limitIp": 0, "totalGB": 1_i64 << 30,
             "expiryTime": 0, "enable": true, "tgId": 0, "subId": "bob-sub-0002",
             "comment": "", "reset": 30}
        ], "decryption": "none", "fallbacks": []}),
        json!({"network": "tcp", "security": "reality", "externalProxy": [],
               "realitySettings": {"show": false, "xver": 0, "dest": "www.microsoft.com:443",
                   "serverNames": ["www.microsoft.com"], "privateKey": random_key(32, true),
                   "minClient": "", "maxClient": "", "maxTimediff": 0,
                   "shortIds": ["6ba85179e30d4fc2"],
                   "settings": {"publicKey": random_key(32, true), "fingerprint": "chrome",
                                "serverName": "", "spiderX": "/"}},
               "tcpSettings": {"acceptProxyProtocol": false, "header": {"type": "none"}}}),
    );
    reality.remark = "NL reality".into();
    reality.up = 1_000_000;
    reality.down = 9_000_000;
    reality.all_time = 15_000_000;
    reality.allocate = Some(json!({"strategy": "always", "refresh": 5, "concurrency": 3}));
    let alice = Traffic {
        enable: true,
        up: ALICE_UP,
        down: ALICE_DOWN,
        all_time: ALICE_ALL_TIME,
        last_online: ALICE_LAST_ONLINE,
    };
    // Over its 1 GiB quota: 3x-ui switched it off in client_traffics only.
    let bob = Traffic {
        enable: false,
        up: 600_000_000,
        down: 600_000_000,
        all_time: 1_200_000_000,
        last_online: 1_699_000_000_000,
    };
    db.inbound(&reality, &[("alice", alice), ("bob", bob)])
        .await;

    let mut vmess = Inbound::new(
        8080,
        "vmess",
        json!({"clients": [
            {"id": CAROL_ID, "security": "auto", "email": "carol", "limitIp": 0, "totalGB": 0,
             "expiryTime": CAROL_EXPIRY, "enable": true, "tgId": "", "subId": "shared-sub",
             "comment": "", "reset": 0},
            {"id": DAVE_ID, "security": "chacha20-poly1305", "email": "dave", "limitIp": 1,
             "totalGB": 0, "expiryTime": 0, "enable": false, "tgId": 0, "subId": "shared-sub",
             "comment": "switched off by hand", "reset": 0}
        ]}),
        json!({"network": "ws", "security": "none", "externalProxy": [],
               "wsSettings": {"acceptProxyProtocol": false, "path": "/vm", "host": "",
                              "headers": {}, "heartbeatPeriod": 0}}),
    );
    vmess.remark = "vmess ws".into();
    vmess.up = 10;
    vmess.down = 20;
    let dave = Traffic {
        enable: true,
        up: 5,
        down: 7,
        all_time: 12,
        last_online: 0,
    };
    db.inbound(&vmess, &[("dave", dave)]).await;

    let mut trojan = Inbound::new(
        8443,
        "trojan",
        json!({"clients": [
            {"password": ERIN_PASSWORD, "flow": "", "email": "erin", "limitIp": 0, "totalGB": 0,
             "expiryTime": 0, "enable": true, "tgId": 0, "subId": "erin-sub", "comment": "",
             "reset": 0}
        ], "fallbacks": []}),
        json!({"network": "tcp", "security": "tls", "externalProxy": [],
               "tlsSettings": {"serverName": "vpn.example.com", "minVersion": "1.2",
                   "maxVersion": "1.3", "cipherSuites": "", "rejectUnknownSni": false,
                   "disableSystemRoot": false, "enableSessionResumption": false,
                   "certificates": [{"certificateFile": "/root/cert/fullchain.pem",
                       "keyFile": "/root/cert/privkey.pem", "oneTimeLoading": false,
                       "usage": "encipherment", "buildChain": false}],
                   "alpn": ["h2", "http/1.1"], "echServerKeys": "",
                   "settings": {"fingerprint": "chrome", "echConfigList": ""}},
               "tcpSettings": {"acceptProxyProtocol": false, "header": {"type": "none"}}}),
    );
    trojan.remark = "trojan tls".into();
    trojan.enable = false;
    trojan.traffic_reset = "monthly".into();
    db.inbound(&trojan, &[]).await;

    let mut ss = Inbound::new(
        8388,
        "shadowsocks",
        json!({"method": "2022-blake3-aes-256-gcm", "password": random_key(32, false),
               "network": "tcp,udp", "ivCheck": false, "clients": [
            {"method": "", "password": random_key(32, false), "email": "frank", "limitIp": 0,
             "totalGB": 0, "expiryTime": 0, "enable": true, "tgId": 0, "subId": "frank-sub",
             "comment": "", "reset": 0}
        ]}),
        json!({"network": "tcp", "security": "none", "externalProxy": [],
               "tcpSettings": {"acceptProxyProtocol": false, "header": {"type": "none"}}}),
    );
    ss.remark = "ss2022".into();
    db.inbound(&ss, &[]).await;

    let bogus = Inbound::new(
        9999,
        "bogus",
        json!({"clients": [{"email": "ghost", "password": "boo", "enable": true}]}),
        json!({"network": "tcp", "security": "none"}),
    );
    db.inbound(&bogus, &[]).await;

    if bulk > 0 {
        let clients: Vec<Value> = (0..bulk)
            .map(|n| {
                json!({"id": uuid::Uuid::new_v4().to_string(), "flow": "",
                       "email": format!("bulk-{n:05}"), "limitIp": 0, "totalGB": 0,
                       "expiryTime": 0, "enable": true, "tgId": 0,
                       "subId": format!("bulk-sub-{n:05}"), "comment": "generated", "reset": 0})
            })
            .collect();
        let big = Inbound::new(
            2083,
            "vless",
            json!({"clients": clients, "decryption": "none"}),
            json!({"network": "ws", "security": "none", "wsSettings": {"path": "/bulk"}}),
        );
        db.inbound(&big, &[]).await;
    }

    db.client_ips(
        "alice",
        r#"[{"ip":"203.0.113.7","timestamp":1700000000},{"ip":"203.0.113.8","timestamp":1700000500}]"#,
    )
    .await;
    db.client_ips("carol", r#"["198.51.100.4"]"#).await;
    db.client_ips("ghost", r#"["192.0.2.1"]"#).await;

    for (key, value) in [
        ("webPort", "2053"),
        ("webBasePath", "/panel-x7/"),
        ("sessionMaxAge", "360"),
        ("secret", "d8Kq2nLw9xZr4TbYc6VhJm3PfGs7AeUo"),
        ("webCertFile", "/root/cert/fullchain.pem"),
        ("timeLocation", "Asia/Tehran"),
        ("subEnable", "true"),
        ("subPort", "2096"),
        ("subPath", "/sub/"),
        ("subDomain", "sub.example.com"),
        ("tgBotEnable", "false"),
        ("tgBotToken", ""),
        ("tgRunTime", "@daily"),
        ("ldapEnable", "false"),
    ] {
        db.setting(key, value).await;
    }
    db.user(ADMIN, ADMIN_PASSWORD).await;
    db.seeder("UserPasswordHash").await;
    db.template(&template()).await;
    for (tag, up, down) in OUTBOUNDS {
        db.outbound_traffic(tag, up, down).await;
    }
    db.close().await;
}
