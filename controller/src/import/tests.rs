//! Databases of other 3x-ui eras: an old v2 one (leftover and missing columns, plain-text
//! password, old IP format) and a v3 one (clients table, nodes), on both backends.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::*;
use crate::store::testing::test_stores;
use crate::store::NewServer;

async fn build(path: &Path, statements: &[&str]) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    for s in statements {
        sqlx::query(s)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.close().await.unwrap();
}

const VLESS_A: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50";

/// 3x-ui around v2.4: no all-time counters or traffic resets yet, `allocate` and the
/// cookie-era `login_secret`, a password from before it was hashed.
const OLD_V2: &[&str] = &[
    "CREATE TABLE `users` (`id` integer PRIMARY KEY AUTOINCREMENT,`username` text,\
     `password` text,`login_secret` text)",
    "CREATE TABLE `inbounds` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer,\
     `up` integer,`down` integer,`total` integer,`remark` text,`enable` numeric,\
     `expiry_time` integer,`listen` text,`port` integer UNIQUE,`protocol` text,\
     `settings` text,`stream_settings` text,`tag` text UNIQUE,`sniffing` text,`allocate` text)",
    "CREATE TABLE `client_traffics` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `inbound_id` integer,`enable` numeric,`email` text UNIQUE,`up` integer,`down` integer,\
     `expiry_time` integer,`total` integer)",
    "CREATE TABLE `inbound_client_ips` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `client_email` text UNIQUE,`ips` text)",
    "CREATE TABLE `settings` (`id` integer PRIMARY KEY AUTOINCREMENT,`key` text,`value` text)",
    "INSERT INTO users (username, password, login_secret) VALUES ('root', 'plain-old', '')",
    "INSERT INTO inbounds (up, down, total, remark, enable, expiry_time, listen, port, \
     protocol, settings, stream_settings, tag, sniffing, allocate) VALUES \
     (100, 200, 0, 'old', 1, 0, '', 2053, 'vless', \
      '{\"clients\":[{\"id\":\"6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50\",\"email\":\"old-user\",\
        \"enable\":true,\"tgId\":\"\",\"subId\":\"x1\"}],\"decryption\":\"none\"}', \
      '{\"network\":\"tcp\",\"security\":\"none\"}', 'inbound-2053', '', \
      '{\"strategy\":\"always\"}'), \
     (0, 0, 0, 'broken', 1, 0, '', 2054, 'vless', '{\"clients\": [', '{}', 'inbound-2054', \
      '{}', NULL)",
    "INSERT INTO client_traffics (inbound_id, enable, email, up, down, expiry_time, total) \
     VALUES (1, 'true', 'old-user', 7, 8, 0, 0)",
    "INSERT INTO inbound_client_ips (client_email, ips) VALUES ('old-user', '[\"10.0.0.1\"]')",
    "INSERT INTO settings (key, value) VALUES ('pageSize', '10'), ('pageSize', '50')",
];

#[tokio::test]
async fn an_old_v2_database() {
    let dir = crate::util::TempDir::new("xui-old");
    let db = dir.path().join("x-ui.db");
    build(&db, OLD_V2).await;
    for t in test_stores().await {
        let s = &t.store;
        let server = s
            .create_server(&NewServer {
                name: "s1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let r = import_3xui(s, &db, &server).await.unwrap();
        assert_eq!(r.source, "3x-ui v2", "{}", t.label);
        assert_eq!(
            (
                r.imported.inbounds,
                r.imported.clients,
                r.imported.ip_records
            ),
            (1, 1, 1),
            "{}: {r:?}",
            t.label
        );
        assert!(r
            .skipped
            .iter()
            .any(|k| k.item.contains("inbound-2054")
                && k.reason.contains("invalid JSON in `settings`")));
        let inbound = &s.inbounds_of(server.id).await.unwrap()[0];
        assert_eq!(inbound.traffic_reset, "never");
        assert!(!inbound.settings.contains("clients"));
        let totals = s.inbound_totals(server.id).await.unwrap();
        assert_eq!(totals["inbound-2053"], (100, 200, 300), "{}", t.label);
        let c = s.client_by_email("old-user").await.unwrap();
        assert_eq!((c.uuid.as_str(), c.enable), (VLESS_A, 1));
        let used = s.client_total("old-user").await.unwrap();
        assert_eq!((used.up, used.down, used.all_time), (7, 8, 15));
        assert_eq!(
            s.client_ip_records("old-user").await.unwrap()[0].ip,
            "10.0.0.1"
        );
        // The last of a key stored twice wins, as 3x-ui reads it.
        assert_eq!(s.setting("pageSize").await.unwrap().as_deref(), Some("50"));
        // A plain-text password is stored hashed.
        let root = s.user_by_name("root").await.unwrap().unwrap();
        assert!(root.password_hash.starts_with("$argon2id$"));
        assert!(crate::front::auth::verify_password(
            "plain-old",
            &root.password_hash
        ));
        assert!(r.notes.iter().any(|n| n.contains("plain text")), "{r:?}");

        // Again: the same admin password is not rehashed, nothing is added.
        assert_eq!(r.revision, Some(1));
        let again = import_3xui(s, &db, &server).await.unwrap();
        assert!(again.imported.is_empty(), "{}: {again:?}", t.label);
        assert_eq!(again.revision, None);
        assert_eq!(s.server(server.id).await.unwrap().revision, 1);
        assert_eq!(again.unchanged.admin_accounts, 1);
        let same = s.user_by_name("root").await.unwrap().unwrap();
        assert_eq!(same.password_hash, root.password_hash);
    }
}

/// 3x-ui v3.1+: clients in their own table, attached to several inbounds; inbounds of
/// other nodes; `all_time` dropped.
const V3: &[&str] = &[
    "CREATE TABLE `users` (`id` integer PRIMARY KEY AUTOINCREMENT,`username` text,\
     `password` text,`login_epoch` integer DEFAULT 0)",
    "CREATE TABLE `inbounds` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer,\
     `up` integer,`down` integer,`total` integer,`remark` text,`enable` numeric,\
     `expiry_time` integer,`traffic_reset` text DEFAULT 'never',\
     `last_traffic_reset_time` integer DEFAULT 0,`listen` text,`port` integer,\
     `protocol` text,`settings` text,`stream_settings` text,`tag` text,`sniffing` text,\
     `sub_sort_index` integer DEFAULT 1,`traffic_reset_day` integer DEFAULT 1,\
     `node_id` integer,`share_addr_strategy` text DEFAULT 'node',`share_addr` text,\
     `disable_flow` numeric DEFAULT false,`origin_node_guid` text)",
    "CREATE TABLE `client_traffics` (`id` integer PRIMARY KEY AUTOINCREMENT,\
     `inbound_id` integer,`enable` numeric,`email` text UNIQUE,`up` integer,`down` integer,\
     `expiry_time` integer,`total` integer,`reset` integer DEFAULT 0,\
     `last_online` integer DEFAULT 0,`reset_day` integer,`reset_max` integer,\
     `reset_count` integer,`last_sub_fetch` integer)",
    "CREATE TABLE `clients` (`id` integer PRIMARY KEY AUTOINCREMENT,`email` text UNIQUE,\
     `sub_id` text,`uuid` text,`password` text,`auth` text,`flow` text,`security` text,\
     `reverse` text,`limit_ip` integer,`limit_hwid` integer,`total_gb` integer,\
     `expiry_time` integer,`enable` numeric,`tg_id` integer,`group_name` text,`comment` text,\
     `reset` integer,`created_at` integer,`updated_at` integer)",
    "CREATE TABLE `client_inbounds` (`client_id` integer,`inbound_id` integer,\
     `flow_override` text,`created_at` integer,PRIMARY KEY (`client_id`,`inbound_id`))",
    "CREATE TABLE `settings` (`id` integer PRIMARY KEY AUTOINCREMENT,`key` text,`value` text)",
    "INSERT INTO inbounds (up, down, total, remark, enable, expiry_time, listen, port, \
     protocol, settings, stream_settings, tag, sniffing, node_id) VALUES \
     (1, 2, 0, 'vless', 1, 0, '', 443, 'vless', '{\"decryption\":\"none\",\"clients\":[]}', \
      '{\"network\":\"tcp\",\"security\":\"none\"}', 'in-443-tcp', '{}', NULL), \
     (3, 4, 0, 'trojan', 1, 0, '', 8443, 'trojan', '{\"clients\":[]}', \
      '{\"network\":\"ws\",\"security\":\"none\"}', 'in-8443-tcp', '{}', NULL), \
     (0, 0, 0, 'remote', 1, 0, '', 443, 'vless', '{\"decryption\":\"none\"}', \
      '{\"network\":\"tcp\",\"security\":\"none\"}', 'n2-in-443-tcp', '{}', 2)",
    "INSERT INTO clients (email, sub_id, uuid, password, auth, flow, security, limit_ip, \
     total_gb, expiry_time, enable, tg_id, comment, reset) VALUES \
     ('both', 'sub-both', '6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50', 'trojan-pass', '', '', '', \
      3, 1000, 0, 1, 42, 'two inbounds', 0), \
     ('remote-only', 'sub-r', '0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b', 'p', '', '', '', \
      0, 0, 0, 1, 0, '', 0), \
     ('loose', 'sub-l', '11111111-2222-4333-8444-555555555555', 'p', '', '', '', \
      0, 0, 0, 1, 0, '', 0)",
    "INSERT INTO client_inbounds (client_id, inbound_id) VALUES (1, 1), (1, 2), (2, 3)",
    "INSERT INTO client_traffics (inbound_id, enable, email, up, down, expiry_time, total) \
     VALUES (1, 1, 'both', 10, 20, 0, 1000)",
    "CREATE TABLE `outbound_traffics` (`id` integer PRIMARY KEY AUTOINCREMENT,`tag` text,\
     `up` integer DEFAULT 0,`down` integer DEFAULT 0,`total` integer DEFAULT 0,\
     CONSTRAINT `uni_outbound_traffics_tag` UNIQUE (`tag`))",
    "INSERT INTO outbound_traffics (tag, up, down, total) VALUES \
     ('direct', 1000, 2000, 3000), ('warp', 5, 7, 12), ('', 1, 1, 2)",
];

/// A 3x-ui template as its Xray page leaves it: an extra outbound and a rule sending one
/// address through it, ahead of the default's rules.
fn custom_template(through: &str) -> String {
    let mut t = xfleet_common::xray::default_template(xfleet_common::xray::Flavour::Xray, true);
    t["outbounds"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"tag": "warp", "protocol": "freedom", "settings": {}}));
    t["routing"]["rules"].as_array_mut().unwrap().insert(
        0,
        serde_json::json!({"type": "field", "ip": [through], "outboundTag": "warp"}),
    );
    serde_json::to_string_pretty(&t).unwrap()
}

async fn with_template(path: &Path, template: &str) {
    let setting = format!(
        "INSERT INTO settings (key, value) VALUES ('xrayTemplateConfig', '{}')",
        template.replace('\'', "''")
    );
    let mut statements: Vec<&str> = V3.to_vec();
    statements.push(&setting);
    build(path, &statements).await;
}

/// With the controller stopped, the template of a v3 database becomes the fleet template
/// of a fresh fleet (one server, default template) and a server's own template otherwise;
/// outbound counters arrive with their numbers; a second import changes nothing (no new
/// revision, no second template, no doubled counter); text that is not JSON is skipped with
/// the reason and the rest imports.
#[tokio::test]
async fn the_core_template_and_outbound_counters() {
    let dir = crate::util::TempDir::new("xui-template");
    let first = dir.path().join("first.db");
    let second = dir.path().join("second.db");
    let broken = dir.path().join("broken.db");
    with_template(&first, &custom_template("198.51.100.1")).await;
    with_template(&second, &custom_template("198.51.100.2")).await;
    with_template(&broken, "{\"routing\": {").await;
    for t in test_stores().await {
        let s = &t.store;
        let label = t.label;
        let new = |name: &str| NewServer {
            name: name.into(),
            ..Default::default()
        };
        let s1 = s.create_server(&new("s1")).await.unwrap();
        let r = import_3xui(s, &first, &s1).await.unwrap();
        let outcome = r.template.clone().unwrap();
        assert_eq!(outcome.action, "fleet", "{label}: {r:?}");
        assert_eq!(r.imported.templates, 1);
        let fleet: serde_json::Value =
            serde_json::from_str(&s.setting("xrayTemplateConfig").await.unwrap().unwrap()).unwrap();
        assert_eq!(fleet["routing"]["rules"][0]["ip"][0], "198.51.100.1");
        assert!(s.templates().await.unwrap().is_empty(), "{label}");
        let outbounds = s.traffic_of(s1.id).await.unwrap().outbounds;
        let counters: Vec<(&str, i64, i64)> = outbounds
            .iter()
            .map(|c| (c.name.as_str(), c.up, c.down))
            .collect();
        assert_eq!(
            counters,
            [("direct", 1000, 2000), ("warp", 5, 7)],
            "{label}"
        );
        assert_eq!(r.imported.outbound_counters, 2);
        let revision = s.server(s1.id).await.unwrap().revision;

        let again = import_3xui(s, &first, &s1).await.unwrap();
        assert!(again.imported.is_empty(), "{label}: {again:?}");
        assert_eq!(again.template.unwrap().action, "unchanged");
        assert_eq!(again.unchanged.outbound_counters, 2);
        assert_eq!(again.revision, None);
        assert_eq!(s.server(s1.id).await.unwrap().revision, revision);
        let after: Vec<(String, i64, i64)> = s
            .traffic_of(s1.id)
            .await
            .unwrap()
            .outbounds
            .into_iter()
            .map(|c| (c.name, c.up, c.down))
            .collect();
        assert_eq!(after.len(), 2, "{label}");
        assert_eq!((after[0].1, after[0].2), (1000, 2000), "not doubled");

        // A second server: no longer a fresh fleet, so the template is its own.
        let s2 = s.create_server(&new("s2")).await.unwrap();
        let r = import_3xui(s, &second, &s2).await.unwrap();
        let outcome = r.template.clone().unwrap();
        assert_eq!(outcome.action, "server", "{label}: {r:?}");
        assert_eq!(outcome.template.as_ref().unwrap().name, "s2 (3x-ui)");
        assert!(outcome.message.contains("no core tested it"), "{outcome:?}");
        let s2 = s.server(s2.id).await.unwrap();
        assert_eq!(s2.core_template_id, Some(outcome.template.unwrap().id));
        let own: serde_json::Value =
            serde_json::from_str(&s.server_template(s2.id).await.unwrap().unwrap()).unwrap();
        assert_eq!(own["routing"]["rules"][0]["ip"][0], "198.51.100.2");
        let again = import_3xui(s, &second, &s2).await.unwrap();
        assert!(again.imported.is_empty(), "{label}: {again:?}");
        assert_eq!(again.revision, None);
        assert_eq!(s.templates().await.unwrap().len(), 1, "{label}");
        assert_eq!(s.server(s2.id).await.unwrap().revision, s2.revision);

        // Not JSON: skipped, saying why; inbounds and clients still come.
        let s3 = s.create_server(&new("s3")).await.unwrap();
        let r = import_3xui(s, &broken, &s3).await.unwrap();
        assert_eq!(r.template.as_ref().unwrap().action, "skipped");
        assert!(
            r.skipped
                .iter()
                .any(|k| k.item.contains("xrayTemplateConfig")
                    && k.reason.contains("it is not JSON")),
            "{label}: {r:?}"
        );
        assert_eq!(
            (r.imported.inbounds, r.imported.attachments),
            (2, 2),
            "{r:?}"
        );
        assert_eq!(s.server(s3.id).await.unwrap().core_template_id, None);
    }
}

#[tokio::test]
async fn a_v3_database() {
    let dir = crate::util::TempDir::new("xui-v3");
    let db = dir.path().join("x-ui.db");
    build(&db, V3).await;
    for t in test_stores().await {
        let s = &t.store;
        let server = s
            .create_server(&NewServer {
                name: "s1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let r = import_3xui(s, &db, &server).await.unwrap();
        assert_eq!(r.source, "3x-ui v3", "{}", t.label);
        assert_eq!(
            (
                r.imported.inbounds,
                r.imported.clients,
                r.imported.attachments
            ),
            (2, 1, 2),
            "{}: {r:?}",
            t.label
        );
        assert_eq!(r.imported.client_counters, 1, "counted once: {r:?}");
        let skipped = |item: &str, why: &str| {
            r.skipped
                .iter()
                .any(|k| k.item.contains(item) && k.reason.contains(why))
        };
        assert!(skipped("n2-in-443-tcp", "node 2"), "{r:?}");
        assert!(skipped("remote-only", "n2-in-443-tcp"), "{r:?}");
        assert!(skipped("loose", "attached to no inbound"), "{r:?}");
        let c = s.client_by_email("both").await.unwrap();
        assert_eq!(
            (c.uuid.as_str(), c.password.as_str()),
            (VLESS_A, "trojan-pass")
        );
        assert_eq!((c.limit_ip, c.total_bytes, c.tg_id), (3, 1000, 42));
        assert_eq!(s.inbounds_of_client(c.id).await.unwrap().len(), 2);
        let used = s.client_total("both").await.unwrap();
        assert_eq!((used.up, used.down, used.all_time), (10, 20, 30));
        assert!(s.client_by_email("remote-only").await.is_err());
    }
}

/// The core keys clients by lower-case email, so of two emails that differ only in letter
/// case (in the database, or one already in xfleet) the first is imported and the other is
/// reported as skipped, saying why; the rest of the database imports.
#[tokio::test]
async fn emails_that_differ_only_in_letter_case_import_once() {
    let dir = crate::util::TempDir::new("xui-case");
    let db = dir.path().join("x-ui.db");
    let client = |id: &str, email: &str| {
        format!(
            "{{\"id\":\"6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f{id}\",\"email\":\"{email}\",\
             \"enable\":true,\"subId\":\"s{id}\"}}"
        )
    };
    let insert = format!(
        "INSERT INTO inbounds (up, down, total, remark, enable, expiry_time, listen, port, \
         protocol, settings, stream_settings, tag, sniffing) VALUES \
         (0, 0, 0, 'a', 1, 0, '', 2053, 'vless', '{{\"clients\":[{},{},{}],\
         \"decryption\":\"none\"}}', '{{\"network\":\"tcp\"}}', 'inbound-2053', '{{}}')",
        client("50", "alice"),
        client("51", "ALICE"),
        client("52", "bob"),
    );
    let mut statements: Vec<&str> = OLD_V2[..5].to_vec();
    statements.push(&insert);
    build(&db, &statements).await;
    for t in test_stores().await {
        let s = &t.store;
        let server = s
            .create_server(&NewServer {
                name: "s1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut tx = s.pool().begin().await.unwrap();
        crate::store::fleet_write::insert_client(
            &mut tx,
            &crate::store::NewClient {
                email: "Bob".into(),
                sub_id: "b".into(),
                enable: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let r = import_3xui(s, &db, &server).await.unwrap();
        assert_eq!(
            (r.imported.inbounds, r.imported.clients),
            (1, 1),
            "{}: {r:?}",
            t.label
        );
        let reason = |item: &str| {
            r.skipped
                .iter()
                .find(|k| k.item == item)
                .map(|k| k.reason.clone())
                .unwrap_or_else(|| panic!("{item} not skipped: {r:?}"))
        };
        assert!(
            reason("client `ALICE`").starts_with(
                "its email differs only in letter case from client `alice`, which came \
                 earlier in this database; the core keys clients by lower-case email"
            ),
            "{r:?}"
        );
        assert!(
            reason("client `bob`")
                .starts_with("xfleet already has client `Bob`, whose email differs only"),
            "{r:?}"
        );
        assert_eq!(s.client_by_email("alice").await.unwrap().uuid, VLESS_A);
        assert!(s.client_by_email("ALICE").await.is_err());
    }
}
