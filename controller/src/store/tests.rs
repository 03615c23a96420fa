//! Storage behaviour, on SQLite and (when available) PostgreSQL.

use super::testing::test_stores;
use super::traffic::Ingest;
use super::*;
use xfleet_common::time::now_ms;

/// `(up, down, all_time, last_online)`.
fn sums(t: &ClientTotals) -> (i64, i64, i64, i64) {
    (t.up, t.down, t.all_time, t.last_online)
}

fn new_server(name: &str) -> NewServer {
    NewServer {
        name: name.into(),
        region: "eu".into(),
        tags: vec!["prod".into()],
        notes: String::new(),
        public_address: String::new(),
    }
}

/// The grace-period check marks a server offline only if its agent was not seen since the
/// check began: a reconnect racing the check wins.
#[tokio::test]
async fn an_offline_check_does_not_overrule_a_reconnect() {
    for t in test_stores().await {
        let s = &t.store;
        let id = s.create_server(&new_server("ams-1")).await.unwrap().id;
        let check_began = now_ms() - 1;
        s.mark_online(id, &servers::AgentFacts::default())
            .await
            .unwrap();
        let marked = s
            .mark_offline_unless_seen_after(id, "agent disconnected", check_began, "c1")
            .await
            .unwrap();
        assert!(!marked, "{}", t.label);
        assert_eq!(s.server(id).await.unwrap().status, "online", "{}", t.label);
        let marked = s
            .mark_offline_unless_seen_after(id, "agent disconnected", now_ms() + 1, "c1")
            .await
            .unwrap();
        assert!(marked, "{}", t.label);
        let row = s.server(id).await.unwrap();
        assert_eq!(row.status, "offline", "{}", t.label);
        assert_eq!(row.last_error.as_deref(), Some("agent disconnected"));
    }
}

#[tokio::test]
async fn servers_are_unique_by_name_and_patchable() {
    for t in test_stores().await {
        let s = &t.store;
        let a = s.create_server(&new_server("ams-1")).await.unwrap();
        assert_eq!(a.tags(), vec!["prod".to_string()], "{}", t.label);
        assert_eq!(a.status, "pending");
        let dup = s.create_server(&new_server("ams-1")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{}", t.label);
        let b = s.create_server(&new_server("fra-1")).await.unwrap();
        let renamed = s
            .update_server(
                b.id,
                &ServerPatch {
                    name: Some("ams-1".into()),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(renamed, Err(StoreError::Conflict(_))),
            "{}",
            t.label
        );
        let patched = s
            .update_server(
                b.id,
                &ServerPatch {
                    enabled: Some(false),
                    tags: Some(vec![]),
                    public_address: Some(" vpn.example.com ".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(patched.enabled, 0);
        assert_eq!(patched.public_address, "vpn.example.com", "{}", t.label);
        assert_eq!(b.public_address, "", "empty until set");
        assert!(patched.tags().is_empty());
        assert_eq!(s.list_servers().await.unwrap().len(), 2);
        let c = s
            .create_server(&NewServer {
                public_address: "10.0.0.7".into(),
                ..new_server("lon-1")
            })
            .await
            .unwrap();
        assert_eq!(c.public_address, "10.0.0.7", "{}", t.label);
        s.delete_server(c.id).await.unwrap();
        s.delete_server(a.id).await.unwrap();
        assert!(matches!(s.server(a.id).await, Err(StoreError::NotFound(_))));
        assert!(matches!(
            s.delete_server(a.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn the_local_server_is_first_on_a_fresh_database_and_unique() {
    for t in test_stores().await {
        let s = &t.store;
        assert!(s.local_server().await.unwrap().is_none(), "{}", t.label);
        let local = s.create_local_server("Local server").await.unwrap();
        assert_eq!((local.id, local.is_local), (1, 1), "{}", t.label);
        let remote = s.create_server(&new_server("ams-1")).await.unwrap();
        assert_eq!((remote.id, remote.is_local), (2, 0), "{}", t.label);
        assert_eq!(s.local_server().await.unwrap().unwrap().id, 1);
        let second = s.create_local_server("Another").await;
        assert!(
            matches!(second, Err(StoreError::Conflict(_))),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn a_local_server_added_later_takes_the_next_id() {
    for t in test_stores().await {
        let s = &t.store;
        let a = s.create_server(&new_server("ams-1")).await.unwrap();
        let b = s.create_server(&new_server("fra-1")).await.unwrap();
        s.delete_server(b.id).await.unwrap();
        let local = s.create_local_server("Local server").await.unwrap();
        assert!(local.id > b.id, "{}: ids are not reused", t.label);
        assert_eq!(s.server(a.id).await.unwrap().name, "ams-1", "{}", t.label);
        let ids: Vec<i64> = s
            .list_servers()
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![a.id, local.id], "{}", t.label);
    }
}

#[tokio::test]
async fn a_token_is_consumed_exactly_once_even_under_races() {
    for t in test_stores().await {
        let s = &t.store;
        let server = s.create_server(&new_server("n1")).await.unwrap();
        s.create_enrollment_token("h1", server.id, now_ms() + 60_000, "admin")
            .await
            .unwrap();
        let attempts = (0..8).map(|_| s.consume_enrollment_token("h1", "127.0.0.1"));
        let results = futures_util::future::join_all(attempts).await;
        let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(wins, 1, "{}", t.label);
        assert_eq!(
            s.consume_enrollment_token("h1", "x")
                .await
                .unwrap()
                .unwrap_err(),
            TokenRefusal::Used
        );
        assert_eq!(
            s.consume_enrollment_token("nope", "x")
                .await
                .unwrap()
                .unwrap_err(),
            TokenRefusal::Unknown
        );
        s.create_enrollment_token("h2", server.id, now_ms() - 1, "admin")
            .await
            .unwrap();
        assert_eq!(
            s.consume_enrollment_token("h2", "x")
                .await
                .unwrap()
                .unwrap_err(),
            TokenRefusal::Expired
        );
        s.create_enrollment_token("h3", server.id, now_ms() + 60_000, "admin")
            .await
            .unwrap();
        s.delete_server(server.id).await.unwrap();
        assert_eq!(
            s.consume_enrollment_token("h3", "x")
                .await
                .unwrap()
                .unwrap_err(),
            TokenRefusal::ServerRemoved
        );
    }
}

#[tokio::test]
async fn certificates_resolve_to_servers_and_revoke() {
    for t in test_stores().await {
        let s = &t.store;
        let server = s.create_server(&new_server("n1")).await.unwrap();
        s.insert_certificate("0a1b", server.id, "server-1", now_ms() + 1000, "PEM")
            .await
            .unwrap();
        let found = s.presented_certificate("0a1b").await.unwrap().unwrap();
        assert_eq!(found.server_id, server.id);
        assert_eq!(found.revoked_at, None);
        assert_eq!(found.server_enabled, Some(1));
        assert!(s.presented_certificate("ffff").await.unwrap().is_none());
        assert_eq!(s.revoke_certificates(server.id).await.unwrap(), 1);
        let found = s.presented_certificate("0a1b").await.unwrap().unwrap();
        assert!(found.revoked_at.is_some(), "{}", t.label);
    }
}

fn task(id: &str, server_id: i64, seq: i64, expires_at: i64) -> TaskRow {
    TaskRow {
        id: id.into(),
        server_id,
        operation: "echo".into(),
        status: TaskStatus::Pending.as_str().into(),
        request: "{}".into(),
        response: None,
        error_code: None,
        error_message: None,
        attempts: 0,
        not_before: 0,
        expires_at,
        created_by: "admin".into(),
        created_at: now_ms(),
        seq,
        started_at: None,
        completed_at: None,
        updated_at: now_ms(),
    }
}

#[tokio::test]
async fn tasks_come_out_in_creation_order_and_survive_a_restart() {
    for t in test_stores().await {
        let s = &t.store;
        let far = now_ms() + 3_600_000;
        s.insert_task(&task("b", 1, 2, far)).await.unwrap();
        s.insert_task(&task("a", 1, 1, far)).await.unwrap();
        s.insert_task(&task("old", 1, 3, now_ms() - 1))
            .await
            .unwrap();
        let first = s.next_open_task(1).await.unwrap().unwrap();
        assert_eq!(first.id, "a", "{}", t.label);
        assert!(s.start_task("a").await.unwrap());
        assert!(!s.start_task("a").await.unwrap(), "a task is claimed once");
        let open = s.next_open_task(1).await.unwrap().unwrap();
        assert_eq!(
            (open.id.as_str(), open.status.as_str()),
            ("a", "running"),
            "a running task holds back later ones"
        );
        // The controller dies here; on start the running task is queued again.
        assert_eq!(s.requeue_running_tasks().await.unwrap(), 1);
        assert_eq!(s.next_open_task(1).await.unwrap().unwrap().id, "a");
        s.start_task("a").await.unwrap();
        s.complete_task("a", "{\"ok\":1}").await.unwrap();
        let a = s.task("a").await.unwrap();
        assert_eq!((a.status.as_str(), a.attempts), ("completed", 2));
        assert_eq!(s.expire_tasks().await.unwrap(), 1);
        assert_eq!(s.task("old").await.unwrap().status, "expired");
        s.retry_task("b", now_ms() + 10, "busy", "later")
            .await
            .unwrap();
        assert_eq!(s.next_open_task(1).await.unwrap().unwrap().id, "b");
        assert_eq!(s.highest_task_seq().await.unwrap(), 3);
        assert_eq!(s.tasks_of(1, 10).await.unwrap().len(), 3);
    }
}

#[tokio::test]
async fn users_sessions_tokens_and_audit() {
    for t in test_stores().await {
        let s = &t.store;
        assert_eq!(s.user_count().await.unwrap(), 0);
        let uid = s.create_user("admin", "hash").await.unwrap();
        assert!(matches!(
            s.create_user("admin", "x").await,
            Err(StoreError::Conflict(_))
        ));
        s.create_session("sh", uid, "1.2.3.4", now_ms() + 1000)
            .await
            .unwrap();
        assert_eq!(
            s.session_user("sh").await.unwrap().unwrap().username,
            "admin"
        );
        s.create_session("old", uid, "", now_ms() - 1)
            .await
            .unwrap();
        assert!(
            s.session_user("old").await.unwrap().is_none(),
            "expired session"
        );
        s.delete_session("sh").await.unwrap();
        assert!(s.session_user("sh").await.unwrap().is_none());
        let tid = s.create_api_token("ci", "th", "admin", uid).await.unwrap();
        let (tok, user) = s.api_token("th").await.unwrap().unwrap();
        assert_eq!((tok.id, user.id), (tid, uid));
        assert_eq!(s.delete_api_tokens_named("ci").await.unwrap(), 1);
        assert!(s.api_token("th").await.unwrap().is_none());
        s.audit(
            "admin",
            "server.create",
            "server:1",
            &serde_json::json!({"a":1}),
            "::1",
            "ok",
        )
        .await
        .unwrap();
        let log = s.audit_entries(10).await.unwrap();
        assert_eq!(log[0].action, "server.create", "{}", t.label);
    }
}

#[tokio::test]
async fn a_traffic_batch_applies_once_and_in_one_piece() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    let d = |name: &str, up, down| Delta {
        name: name.into(),
        up,
        down,
    };
    for t in test_stores().await {
        let s = &t.store;
        let batch = |seq| TrafficBatch {
            epoch: "journal-a".into(),
            seq,
            at_ms: 1000 * seq as i64,
            users: vec![d("alice", 10, 100), d("bob", 1, 2)],
            inbounds: vec![d("in-1", 11, 102)],
            outbounds: vec![d("direct", 11, 102)],
            online: vec!["alice".into()],
            ips: vec![xfleet_common::traffic::ClientIps {
                email: "alice".into(),
                ips: vec!["198.51.100.7".into()],
            }],
        };
        let applied = |r: Result<Ingest>| r.unwrap() == Ingest::Applied;
        assert!(applied(s.apply_traffic(1, &batch(1)).await), "{}", t.label);
        assert!(applied(s.apply_traffic(1, &batch(2)).await));
        // Redelivered after a lost ack, and an old one: both ignored.
        assert_eq!(
            s.apply_traffic(1, &batch(2)).await.unwrap(),
            Ingest::Duplicate
        );
        assert_eq!(
            s.apply_traffic(1, &batch(1)).await.unwrap(),
            Ingest::Duplicate
        );
        // One that skips a sequence is not applied: the ones before it must come first.
        assert_eq!(
            s.apply_traffic(1, &batch(4)).await.unwrap(),
            Ingest::Gap { expected: 3 }
        );
        // Another server has its own sequence.
        assert!(applied(s.apply_traffic(2, &batch(1)).await));
        // A reinstalled agent starts a new journal at 1.
        let mut fresh = batch(1);
        fresh.epoch = "journal-b".into();
        assert!(applied(s.apply_traffic(2, &fresh).await), "{}", t.label);
        let totals = s.traffic_of(1).await.unwrap();
        assert_eq!(totals.last_seq, 2);
        let alice = totals.clients.iter().find(|c| c.name == "alice").unwrap();
        assert_eq!((alice.up, alice.down), (20, 200), "{}", t.label);
        assert_eq!((totals.inbounds[0].up, totals.outbounds[0].down), (22, 204));
        let ips = s.client_ip_records("alice").await.unwrap();
        assert_eq!(ips.len(), 1, "{}", t.label);
        assert_eq!(
            (ips[0].ip.as_str(), ips[0].last_seen),
            ("198.51.100.7", 2000)
        );
        assert_eq!(ips[0].refused, 0);
    }
}

#[tokio::test]
async fn fleet_model_inbounds_clients_and_revisions() {
    for t in test_stores().await {
        let s = &t.store;
        let server = s.create_server(&new_server("n1")).await.unwrap();
        let inbound = |tag: &str, port: u16| NewInbound {
            server_id: server.id,
            remark: String::new(),
            enable: true,
            listen: String::new(),
            port,
            protocol: "vless".into(),
            settings: serde_json::json!({"decryption": "none"}),
            stream_settings: serde_json::json!({}),
            sniffing: serde_json::json!({}),
            tag: tag.into(),
            total: 0,
            expiry_time: 0,
            traffic_reset: "never".into(),
        };
        let a = s.create_inbound(&inbound("in-a", 1000)).await.unwrap();
        assert!(
            matches!(
                s.create_inbound(&inbound("in-a", 1001)).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            t.label
        );
        let client = |email: &str| NewClient {
            email: email.into(),
            sub_id: format!("sub-{email}"),
            enable: true,
            ..Default::default()
        };
        let alice = s.create_client(&client("alice")).await.unwrap();
        assert!(matches!(
            s.create_client(&client("alice")).await,
            Err(StoreError::Conflict(_))
        ));
        s.attach_client(alice.id, a.id).await.unwrap();
        s.attach_client(alice.id, a.id).await.unwrap();
        assert_eq!(
            s.clients_of_inbound(a.id).await.unwrap().len(),
            1,
            "{}",
            t.label
        );
        assert_eq!(
            s.servers_of_client(alice.id).await.unwrap(),
            vec![server.id]
        );
        assert_eq!(sums(&s.client_total("alice").await.unwrap()), (0, 0, 0, 0));
        assert_eq!(s.bump_revision(server.id).await.unwrap(), 1);
        assert_eq!(s.bump_revision(server.id).await.unwrap(), 2);
        s.delete_inbound(a.id).await.unwrap();
        assert!(s.clients_of_inbound(a.id).await.unwrap().is_empty());
        assert_eq!(
            s.client_by_email("alice").await.unwrap().id,
            alice.id,
            "clients outlive inbounds"
        );
    }
}

#[tokio::test]
async fn depleted_and_delayed_start_clients_are_found_fleet_wide() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    for t in test_stores().await {
        let s = &t.store;
        let client = |email: &str, total_bytes, expiry_time| NewClient {
            email: email.into(),
            sub_id: format!("sub-{email}"),
            enable: true,
            total_bytes,
            expiry_time,
            ..Default::default()
        };
        let quota = s.create_client(&client("quota", 1000, 0)).await.unwrap();
        let expired = s.create_client(&client("expired", 0, 5)).await.unwrap();
        s.create_client(&client("fine", 10_000, 0)).await.unwrap();
        let delayed = s
            .create_client(&client("delayed", 0, -86_400_000))
            .await
            .unwrap();
        // 600 bytes on each of two servers: 1,200 together, over the 1,000 quota.
        for (server, seq) in [(1, 1), (2, 1)] {
            let batch = TrafficBatch {
                epoch: "e".into(),
                seq,
                users: ["quota", "fine", "delayed"]
                    .iter()
                    .map(|e| Delta {
                        name: e.to_string(),
                        up: 100,
                        down: 500,
                    })
                    .collect(),
                ..Default::default()
            };
            s.apply_traffic(server, &batch).await.unwrap();
        }
        let depleted = s.depleted_clients(10).await.unwrap();
        let found: Vec<(i64, &str)> = depleted.iter().map(|d| (d.id, d.reason.as_str())).collect();
        assert_eq!(
            found,
            vec![(quota.id, "quota"), (expired.id, "expired")],
            "{}",
            t.label
        );
        assert_eq!(
            s.start_delayed_expiry(1_000).await.unwrap(),
            vec![delayed.id]
        );
        let started = s.client_by_email("delayed").await.unwrap();
        assert_eq!(started.expiry_time, 1_000 + 86_400_000, "{}", t.label);
        assert!(s.disable_client(quota.id, "quota", 10).await.unwrap());
        assert!(!s.disable_client(quota.id, "quota", 10).await.unwrap());
        assert_eq!(s.depleted_clients(10).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn history_all_time_and_last_online_count_each_batch_once() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    let d = |name: &str, up, down| Delta {
        name: name.into(),
        up,
        down,
    };
    let hour = 500_000 * HOUR_MS;
    for t in test_stores().await {
        let s = &t.store;
        let batch = |seq, at_ms, users: Vec<Delta>, online: &[&str]| TrafficBatch {
            epoch: "e".into(),
            seq,
            at_ms,
            inbounds: vec![d("in-1", 100, 1000), d("in-2", 1, 10)],
            users,
            online: online.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        // bob is listed twice: both amounts count.
        let first = batch(
            1,
            hour + 1_000,
            vec![d("alice", 10, 100), d("bob", 1, 2), d("bob", 3, 4)],
            &["alice", "bob"],
        );
        assert_eq!(s.apply_traffic(1, &first).await.unwrap(), Ingest::Applied);
        assert_eq!(
            s.apply_traffic(1, &first).await.unwrap(),
            Ingest::Duplicate,
            "{}",
            t.label
        );
        // bob is online without traffic of his own; carol has never been counted here.
        let late = batch(
            2,
            hour + HOUR_MS - 1,
            vec![d("alice", 5, 50)],
            &["alice", "bob", "carol"],
        );
        assert_eq!(s.apply_traffic(1, &late).await.unwrap(), Ingest::Applied);
        let next_hour = batch(3, hour + HOUR_MS, vec![d("alice", 1, 1)], &[]);
        assert_eq!(
            s.apply_traffic(1, &next_hour).await.unwrap(),
            Ingest::Applied
        );
        let elsewhere = batch(1, hour + 5, vec![d("alice", 7, 7)], &["alice"]);
        assert_eq!(
            s.apply_traffic(2, &elsewhere).await.unwrap(),
            Ingest::Applied
        );

        let alice = s
            .client_history("alice", hour, hour + HOUR_MS)
            .await
            .unwrap();
        let row = |hour, server_id, up, down| ClientHour {
            hour,
            server_id,
            up,
            down,
        };
        assert_eq!(
            alice,
            vec![
                row(hour, 1, 15, 150),
                row(hour, 2, 7, 7),
                row(hour + HOUR_MS, 1, 1, 1)
            ],
            "{}",
            t.label
        );
        assert_eq!(
            s.client_history("bob", hour, hour + HOUR_MS).await.unwrap(),
            vec![row(hour, 1, 4, 6)]
        );
        assert!(s
            .client_history("carol", hour, hour + HOUR_MS)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.client_history("alice", hour - HOUR_MS, hour)
                .await
                .unwrap(),
            vec![row(hour, 1, 15, 150), row(hour, 2, 7, 7)],
            "{}",
            t.label
        );
        assert_eq!(
            s.client_history("alice", hour + 1, hour + 2 * HOUR_MS)
                .await
                .unwrap(),
            vec![row(hour + HOUR_MS, 1, 1, 1)],
            "only the hours asked for"
        );
        let server_hour = |hour, batches: i64| ServerHour {
            hour,
            up: 101 * batches,
            down: 1010 * batches,
        };
        assert_eq!(
            s.server_history(1, 0, hour + HOUR_MS).await.unwrap(),
            vec![server_hour(hour, 2), server_hour(hour + HOUR_MS, 1)],
            "{}",
            t.label
        );

        // A traffic reset zeroes the counters; all-time counters keep everything.
        sqlx::query("UPDATE client_traffic SET up = 0, down = 0")
            .execute(s.pool())
            .await
            .unwrap();
        let after_reset = batch(4, hour + HOUR_MS + 10, vec![d("alice", 2, 3)], &[]);
        assert_eq!(
            s.apply_traffic(1, &after_reset).await.unwrap(),
            Ingest::Applied
        );
        let usage = s
            .clients_usage(&["alice", "bob", "carol", "alice"])
            .await
            .unwrap();
        assert_eq!(usage.len(), 3);
        assert_eq!(
            sums(&usage["alice"]),
            (2, 3, 110 + 55 + 2 + 5 + 14, hour + HOUR_MS - 1),
            "{}",
            t.label
        );
        assert_eq!(
            sums(&usage["bob"]),
            (0, 0, 10, hour + HOUR_MS - 1),
            "{}",
            t.label
        );
        assert_eq!(sums(&usage["carol"]), (0, 0, 0, 0));
        let totals = s.traffic_of(1).await.unwrap();
        assert!(
            totals.clients.iter().all(|c| c.name != "carol"),
            "online alone creates no counter"
        );

        // Pruning removes whole hours before the cut, of clients and servers alike.
        assert_eq!(s.prune_history(hour + HOUR_MS).await.unwrap(), 3 + 2);
        assert_eq!(
            s.client_history("alice", hour, hour + HOUR_MS)
                .await
                .unwrap(),
            vec![row(hour + HOUR_MS, 1, 3, 4)]
        );
        assert_eq!(
            s.server_history(1, 0, hour + HOUR_MS).await.unwrap(),
            vec![server_hour(hour + HOUR_MS, 2)]
        );
        assert!(s
            .server_history(2, 0, hour + HOUR_MS)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.prune_history(hour + HOUR_MS).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn concurrent_batches_of_many_servers_all_apply() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    for t in test_stores().await {
        let s = &t.store;
        // More batches than the pool has connections, each bigger than one statement.
        let batch = |server: i64| TrafficBatch {
            epoch: "e".into(),
            seq: 1,
            at_ms: 7 * HOUR_MS,
            users: (0..1_500)
                .map(|n| Delta {
                    name: format!("user-{server}-{n}"),
                    up: 1,
                    down: n,
                })
                .collect(),
            online: (0..1_500).map(|n| format!("user-{server}-{n}")).collect(),
            ..Default::default()
        };
        let batches: Vec<TrafficBatch> = (1..=12).map(batch).collect();
        let results = futures_util::future::join_all(
            batches
                .iter()
                .enumerate()
                .map(|(i, b)| s.apply_traffic(i as i64 + 1, b)),
        )
        .await;
        for r in results {
            assert_eq!(r.unwrap(), Ingest::Applied, "{}", t.label);
        }
        for server in 1..=12 {
            let totals = s.traffic_of(server).await.unwrap();
            assert_eq!(totals.clients.len(), 1_500, "{}", t.label);
            let down: i64 = totals.clients.iter().map(|c| c.down).sum();
            assert_eq!(down, 1_499 * 1_500 / 2);
        }
        let usage = s.clients_usage(&["user-3-1499"]).await.unwrap();
        assert_eq!(sums(&usage["user-3-1499"]), (1, 1_499, 1_500, 7 * HOUR_MS));
    }
}

#[tokio::test]
async fn an_sqlite_copy_is_a_complete_database_taken_while_writing() {
    let dir = crate::util::TempDir::new("copy");
    let store = Store::open(&sqlite_url(&dir.path().join("live.db")))
        .await
        .unwrap();
    store.create_server(&new_server("ams-1")).await.unwrap();
    // An empty destination is accepted (the caller creates it with private permissions).
    let dest = dir.path().join("copy.db");
    std::fs::write(&dest, b"").unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..20 {
                store
                    .create_server(&new_server(&format!("w-{n}")))
                    .await
                    .unwrap();
            }
        })
    };
    store.sqlite_copy_to(&dest).await.unwrap();
    writer.await.unwrap();
    assert!(std::fs::read(&dest)
        .unwrap()
        .starts_with(b"SQLite format 3\0"));
    let copy = Store::open(&sqlite_url(&dest)).await.unwrap();
    let names: Vec<String> = copy
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    // One point in time: the first server and an unbroken run of the writer's.
    let expected: Vec<String> = std::iter::once("ams-1".to_owned())
        .chain((0..names.len() - 1).map(|n| format!("w-{n}")))
        .collect();
    assert_eq!(names, expected);
    // A file that already holds data is never overwritten.
    assert!(store.sqlite_copy_to(&dest).await.is_err());
}

/// Deltas of 2^64-1, applied again and again, leave every counter an agent feeds (client,
/// inbound, outbound, their all-time totals, both hourly histories) at the ceiling as an
/// integer, on both backends, and the reads behind the pages still answer.
#[tokio::test]
async fn counters_saturate_instead_of_overflowing() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    let max = |name: &str| Delta {
        name: name.into(),
        up: u64::MAX,
        down: u64::MAX,
    };
    for t in test_stores().await {
        let s = &t.store;
        let at = now_ms();
        for seq in 1..=3 {
            let batch = TrafficBatch {
                epoch: "e".into(),
                seq,
                at_ms: at,
                users: vec![max("alice"), max("alice")],
                inbounds: vec![max("in-1")],
                outbounds: vec![max("direct")],
                online: vec!["alice".into()],
                ..Default::default()
            };
            assert_eq!(
                s.apply_traffic(1, &batch).await.unwrap(),
                Ingest::Applied,
                "{}",
                t.label
            );
        }
        let totals = s.traffic_of(1).await.unwrap();
        let both = (MAX_COUNTER, MAX_COUNTER);
        let pair = |c: &Counter| (c.up, c.down);
        assert_eq!(pair(&totals.clients[0]), both, "{}", t.label);
        assert_eq!(pair(&totals.inbounds[0]), both, "{}", t.label);
        assert_eq!(pair(&totals.outbounds[0]), both, "{}", t.label);
        let alice = &s.client_totals().await.unwrap()["alice"];
        assert_eq!(sums(alice).0, MAX_COUNTER, "{}", t.label);
        assert_eq!(alice.all_time, MAX_COUNTER, "{}", t.label);
        let inbound = s.inbound_totals(1).await.unwrap()["in-1"];
        assert_eq!(
            inbound,
            (MAX_COUNTER, MAX_COUNTER, MAX_COUNTER),
            "{}",
            t.label
        );
        let hour = hour_start(at);
        let server = s.server_history(1, hour, hour).await.unwrap();
        assert_eq!((server[0].up, server[0].down), both, "{}", t.label);
        let client = s.client_history("alice", hour, hour).await.unwrap();
        assert_eq!((client[0].up, client[0].down), both, "{}", t.label);
        s.fleet_summary(at, at - 60_000).await.unwrap();
        s.depleted_clients(at).await.unwrap();
        s.depleted_inbounds(at).await.unwrap();

        // A counter stored above the ceiling (set by hand) does not make the next batch fail.
        sqlx::query("UPDATE client_traffic SET up = 9223372036854775807")
            .execute(&s.pool)
            .await
            .unwrap();
        let next = TrafficBatch {
            epoch: "e".into(),
            seq: 4,
            at_ms: at,
            users: vec![max("alice")],
            ..Default::default()
        };
        assert_eq!(
            s.apply_traffic(1, &next).await.unwrap(),
            Ingest::Applied,
            "{}",
            t.label
        );
        let totals = s.traffic_of(1).await.unwrap();
        assert_eq!(pair(&totals.clients[0]), both, "{}", t.label);
    }
}

/// Named core templates: unique names, a server runs its own template's text, and a template
/// a server runs is not deleted.
#[tokio::test]
async fn core_templates_are_named_uniquely_and_kept_while_in_use() {
    for t in test_stores().await {
        let s = &t.store;
        let server = s.create_server(&new_server("ams-1")).await.unwrap();
        assert_eq!(server.core_template_id, None, "{}", t.label);
        assert_eq!(s.server_template(server.id).await.unwrap(), None);
        let ir = s
            .create_template("ir-direct", r#"{"log":{}}"#, "")
            .await
            .unwrap();
        let dup = s.create_template("ir-direct", "{}", "").await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{}", t.label);
        s.assign_template(&[server.id], Some(ir.id)).await.unwrap();
        assert_eq!(
            s.server_template(server.id).await.unwrap().as_deref(),
            Some(r#"{"log":{}}"#),
            "{}",
            t.label
        );
        let in_use = s.delete_template(ir.id).await;
        assert!(
            matches!(in_use, Err(StoreError::Conflict(_))),
            "{}",
            t.label
        );
        let changed = s
            .update_template(ir.id, "ir", r#"{"dns":{}}"#, "note")
            .await
            .unwrap();
        assert_eq!(
            (changed.name.as_str(), changed.notes.as_str()),
            ("ir", "note")
        );
        assert_eq!(
            s.server_template(server.id).await.unwrap().as_deref(),
            Some(r#"{"dns":{}}"#)
        );
        s.assign_template(&[server.id], None).await.unwrap();
        s.delete_template(ir.id).await.unwrap();
        assert!(matches!(
            s.template(ir.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.server(server.id).await.unwrap().core_template_id, None);
    }
}

/// Outbound counters read per server or for all, and a reset zeroes exactly what it names
/// (one tag on one server, a tag everywhere, everything); later batches count from zero.
#[tokio::test]
async fn outbound_counters_reset_by_server_and_tag() {
    use xfleet_common::traffic::{Delta, TrafficBatch};
    for t in test_stores().await {
        let s = &t.store;
        let batch = |seq: u64, outbounds: &[(&str, u64)]| TrafficBatch {
            epoch: "journal".into(),
            seq,
            at_ms: 1000,
            users: vec![],
            inbounds: vec![],
            outbounds: outbounds
                .iter()
                .map(|(tag, n)| Delta {
                    name: (*tag).into(),
                    up: *n,
                    down: 2 * n,
                })
                .collect(),
            online: vec![],
            ips: vec![],
        };
        let both = [("chain", 10), ("direct", 5)];
        s.apply_traffic(1, &batch(1, &both)).await.unwrap();
        s.apply_traffic(2, &batch(1, &both)).await.unwrap();
        let usage = |rows: Vec<OutboundCounter>| {
            rows.into_iter()
                .map(|c| (c.server_id, c.tag, c.up, c.down))
                .collect::<Vec<_>>()
        };
        let row = |server, tag: &str, up, down| (server, tag.to_owned(), up, down);
        assert_eq!(
            usage(s.outbound_traffic(Some(2)).await.unwrap()),
            [row(2, "chain", 10, 20), row(2, "direct", 5, 10)],
            "{}",
            t.label
        );
        assert_eq!(s.outbound_traffic(None).await.unwrap().len(), 4);

        assert_eq!(
            s.reset_outbound_traffic(Some(1), Some("chain"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.reset_outbound_traffic(None, Some("direct"))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            usage(s.outbound_traffic(None).await.unwrap()),
            [
                row(1, "chain", 0, 0),
                row(1, "direct", 0, 0),
                row(2, "chain", 10, 20),
                row(2, "direct", 0, 0)
            ],
            "{}",
            t.label
        );
        // The next batch counts from zero; a reset of everything zeroes every row.
        s.apply_traffic(1, &batch(2, &[("chain", 3)]))
            .await
            .unwrap();
        assert_eq!(
            usage(s.outbound_traffic(Some(1)).await.unwrap())[0],
            row(1, "chain", 3, 6)
        );
        assert_eq!(s.reset_outbound_traffic(None, None).await.unwrap(), 4);
        assert!(s
            .outbound_traffic(None)
            .await
            .unwrap()
            .iter()
            .all(|c| (c.up, c.down) == (0, 0)));
    }
}

/// A server's minutes of CPU and memory: many servers' written in one call, read from a time
/// on, oldest first; a minute written again replaces the first; old minutes are pruned, and a
/// removed server's go with it.
#[tokio::test]
async fn server_samples_are_written_together_read_by_time_pruned_and_removed() {
    for t in test_stores().await {
        let s = &t.store;
        let a = s.create_server(&new_server("ams-1")).await.unwrap().id;
        let b = s.create_server(&new_server("fra-1")).await.unwrap().id;
        let minute = |t: i64, cpu_tenths: i64| ServerSample {
            t,
            cpu_tenths,
            mem_used: 512 << 20,
            mem_total: 1 << 30,
        };
        let t0 = 1_000 * 60_000;
        let next = t0 + 60_000;
        s.record_samples(&[
            (a, minute(t0, 100)),
            (a, minute(next, 200)),
            (b, minute(t0, 900)),
        ])
        .await
        .unwrap();
        s.record_samples(&[(a, minute(next, 250))]).await.unwrap();
        let read = s.server_samples(a, t0).await.unwrap();
        assert_eq!(
            read,
            vec![minute(t0, 100), minute(next, 250)],
            "{}",
            t.label
        );
        let read = s.server_samples(a, t0 + 1).await.unwrap();
        assert_eq!(read, vec![minute(next, 250)], "{}", t.label);
        assert_eq!(s.prune_samples(next).await.unwrap(), 2, "{}", t.label);
        assert_eq!(
            s.server_samples(a, 0).await.unwrap(),
            vec![minute(next, 250)]
        );
        assert!(
            s.server_samples(b, 0).await.unwrap().is_empty(),
            "{}",
            t.label
        );
        s.delete_server(a).await.unwrap();
        assert!(
            s.server_samples(a, 0).await.unwrap().is_empty(),
            "{}",
            t.label
        );
    }
}
