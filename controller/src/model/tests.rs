//! Bulk client actions on a whole controller, on SQLite and (when available) PostgreSQL.

use serde_json::json;
use xfleet_common::time::now_ms;
use xfleet_common::traffic::{Delta, TrafficBatch};

use super::{bulk_clients, BulkRequest, ModelError, MAX_BULK_CLIENTS};
use crate::store::{
    change_clients, ClientChange, ClientRow, InboundRow, NewClient, Store, StoreError,
};
use crate::testing::{add_client, add_server as server, new_inbound, test_controllers};
use crate::Controller;

const DAY: i64 = 86_400_000;

async fn inbound(s: &Store, server_id: i64, port: u16) -> InboundRow {
    s.create_inbound(&new_inbound(server_id, port))
        .await
        .unwrap()
}

async fn client(s: &Store, email: &str, expiry_time: i64, inbounds: &[&InboundRow]) -> ClientRow {
    let new = NewClient {
        expiry_time,
        ..Default::default()
    };
    add_client(s, email, new, inbounds).await
}

async fn traffic(s: &Store, server: i64, users: &[(&str, u64)]) {
    let seq = s.traffic_of(server).await.unwrap().last_seq as u64 + 1;
    let batch = TrafficBatch {
        epoch: "e".into(),
        seq,
        at_ms: now_ms(),
        users: users
            .iter()
            .map(|(name, bytes)| Delta {
                name: name.to_string(),
                up: bytes / 2,
                down: bytes - bytes / 2,
            })
            .collect(),
        ..Default::default()
    };
    s.apply_traffic(server, &batch).await.unwrap();
}

/// Two servers: `a` on the first, `b` on both, `c` on the second, `lone` on none.
struct Fleet {
    s1: i64,
    s2: i64,
}

async fn fleet(ctl: &Controller) -> Fleet {
    let s = &ctl.store;
    let (s1, s2) = (server(s, "one").await, server(s, "two").await);
    let (i1, i2) = (inbound(s, s1, 2001).await, inbound(s, s2, 2002).await);
    client(s, "a", 0, &[&i1]).await;
    client(s, "b", 0, &[&i1, &i2]).await;
    client(s, "c", 0, &[&i2]).await;
    client(s, "lone", 0, &[]).await;
    traffic(s, s1, &[("a", 1000), ("b", 500)]).await;
    traffic(s, s2, &[("b", 300), ("c", 700)]).await;
    Fleet { s1, s2 }
}

/// Everything a refused call must leave as it was: the clients, their usage, the servers'
/// revisions and their queued tasks.
async fn snapshot(ctl: &Controller, f: &Fleet) -> String {
    let s = &ctl.store;
    let clients: Vec<_> = s
        .all_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.email, c.enable, c.expiry_time, c.updated_at))
        .collect();
    let mut usage: Vec<_> = s.client_totals().await.unwrap().into_values().collect();
    usage.sort_by(|x, y| x.email.cmp(&y.email));
    let mut servers = Vec::new();
    for id in [f.s1, f.s2] {
        servers.push((
            s.server(id).await.unwrap().revision,
            s.tasks_of(id, 100).await.unwrap().len(),
        ));
    }
    format!("{clients:?} {usage:?} {servers:?}")
}

fn req(emails: &[&str], action: &str) -> BulkRequest {
    BulkRequest {
        emails: emails.iter().map(|e| e.to_string()).collect(),
        action: action.into(),
        ..Default::default()
    }
}

fn fields(e: ModelError) -> Vec<(String, String)> {
    match e {
        ModelError::Invalid(f) => f.into_iter().map(|f| (f.field, f.message)).collect(),
        other => panic!("not a field error: {other}"),
    }
}

#[tokio::test]
async fn a_refused_bulk_call_changes_nothing() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let f = fleet(ctl).await;
        let before = snapshot(ctl, &f).await;
        let too_many: Vec<String> = (0..=MAX_BULK_CLIENTS).map(|n| format!("u{n}")).collect();
        let cases: Vec<(BulkRequest, Vec<(&str, &str)>)> = vec![
            (req(&[], "disable"), vec![("emails", "at least one client")]),
            (
                BulkRequest {
                    emails: too_many,
                    ..req(&[], "disable")
                },
                vec![("emails", "at most 5000")],
            ),
            // The known ones are not changed either when one is unknown or named twice.
            (
                req(&["a", "nobody", "b", "a"], "disable"),
                vec![
                    ("emails[1]", "no client has email `nobody`"),
                    ("emails[3]", "`a` appears twice (also emails[0])"),
                ],
            ),
            (
                req(&["a"], "frobnicate"),
                vec![("action", "`frobnicate` is not an action")],
            ),
            (req(&["a"], ""), vec![("action", "is required")]),
            (
                req(&["a", "b"], "extend"),
                vec![("days", "is required for extend")],
            ),
            (
                BulkRequest {
                    days: Some(0),
                    ..req(&["a"], "extend")
                },
                vec![("days", "between 1 and 3650")],
            ),
            (
                BulkRequest {
                    days: Some(3),
                    ..req(&["a"], "disable")
                },
                vec![("days", "only the extend action")],
            ),
            (
                BulkRequest {
                    keep_traffic: Some(true),
                    ..req(&["a"], "reset-traffic")
                },
                vec![("keepTraffic", "only the delete action")],
            ),
        ];
        for (request, expected) in cases {
            let got = fields(bulk_clients(ctl, "admin", &request).await.unwrap_err());
            assert_eq!(got.len(), expected.len(), "{label}: {got:?}");
            for ((field, message), (want_field, want)) in got.iter().zip(&expected) {
                assert_eq!(field, want_field, "{label}: {got:?}");
                assert!(message.contains(want), "{label}: {message} lacks {want}");
            }
            assert_eq!(snapshot(ctl, &f).await, before, "{label}: {expected:?}");
        }
    }
}

#[tokio::test]
async fn each_affected_server_gets_one_revision_per_call() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let f = fleet(ctl).await;
        let revisions = async || {
            (
                s.server(f.s1).await.unwrap().revision,
                s.server(f.s2).await.unwrap().revision,
            )
        };
        let start = revisions().await;

        let out = bulk_clients(ctl, "admin", &req(&["a", "b", "c", "lone"], "disable"))
            .await
            .unwrap();
        assert_eq!(out.count, 4, "{label}");
        let pushed: Vec<_> = out
            .pushes
            .iter()
            .map(|p| (p.server_id, p.revision))
            .collect();
        assert_eq!(
            pushed,
            [(f.s1, start.0 + 1), (f.s2, start.1 + 1)],
            "{label}"
        );
        assert_eq!(revisions().await, (start.0 + 1, start.1 + 1), "{label}");
        for p in &out.pushes {
            let task = s.task(&p.task_id).await.unwrap();
            assert_eq!(task.server_id, p.server_id, "{label}");
            assert_eq!(task.operation, "state.apply", "{label}");
        }
        for c in s.all_clients().await.unwrap() {
            assert_eq!(c.enable, 0, "{label}: {}", c.email);
        }
        // The state the first server is sent carries `a` and `b` switched off.
        let state = crate::fleet::desired::build(ctl, f.s1, 0).await.unwrap();
        let listed = &state.inbounds[0].settings["clients"];
        assert_eq!(listed[0]["enable"], json!(false), "{label}: {listed}");
        assert_eq!(listed[1]["enable"], json!(false), "{label}: {listed}");

        // Only the second server is touched by a call about `c`.
        let out = bulk_clients(ctl, "admin", &req(&["c"], "enable"))
            .await
            .unwrap();
        assert_eq!(out.pushes.len(), 1, "{label}");
        assert_eq!(revisions().await, (start.0 + 1, start.1 + 2), "{label}");
        // A client attached nowhere changes without any push.
        let out = bulk_clients(ctl, "admin", &req(&["lone"], "enable"))
            .await
            .unwrap();
        assert!(out.pushes.is_empty(), "{label}");
        assert_eq!(revisions().await, (start.0 + 1, start.1 + 2), "{label}");

        // Reset zeroes usage everywhere (all-time stays) and switches the clients on again.
        bulk_clients(ctl, "admin", &req(&["a", "b"], "reset-traffic"))
            .await
            .unwrap();
        for email in ["a", "b"] {
            let used = s.client_total(email).await.unwrap();
            assert_eq!(
                (used.up + used.down, used.all_time > 0),
                (0, true),
                "{label}"
            );
            assert_eq!(s.client_by_email(email).await.unwrap().enable, 1, "{label}");
        }
        assert_eq!(revisions().await, (start.0 + 2, start.1 + 3), "{label}");
        let c = s.client_total("c").await.unwrap();
        assert_eq!(c.up + c.down, 700, "{label}: `c` was not named");

        // Delete follows the single route's keepTraffic: records go unless kept.
        bulk_clients(
            ctl,
            "admin",
            &BulkRequest {
                keep_traffic: Some(true),
                ..req(&["c"], "delete")
            },
        )
        .await
        .unwrap();
        assert!(s.client_by_email("c").await.is_err(), "{label}");
        assert_eq!(s.client_total("c").await.unwrap().all_time, 700, "{label}");
        let out = bulk_clients(ctl, "admin", &req(&["a", "b"], "delete"))
            .await
            .unwrap();
        assert_eq!(out.pushes.len(), 2, "{label}: both servers lose `b`");
        assert_eq!(revisions().await, (start.0 + 3, start.1 + 5), "{label}");
        assert_eq!(s.client_total("a").await.unwrap().all_time, 0, "{label}");
        let left: Vec<_> = s
            .all_clients()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.email)
            .collect();
        assert_eq!(left, ["lone"], "{label}");
    }
}

#[tokio::test]
async fn extend_counts_from_the_expiry_ahead_or_from_now() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let (sid, now) = (server(s, "one").await, now_ms());
        let i = inbound(s, sid, 2001).await;
        client(s, "ahead", now + 2 * DAY, &[&i]).await;
        client(s, "never", 0, &[&i]).await;
        let past = client(s, "past", now - DAY, &[&i]).await;
        client(s, "delayed", -5 * DAY, &[&i]).await;
        let off = client(s, "admin-off", now - DAY, &[&i]).await;
        // `past` was switched off by the limits job, `admin-off` by the admin.
        assert!(s.disable_client(past.id, "expired", now).await.unwrap());
        crate::store::fleet_write::set_client_enable(
            &mut s.pool().acquire().await.unwrap(),
            off.id,
            false,
        )
        .await
        .unwrap();
        let all = ["ahead", "never", "past", "delayed", "admin-off"];
        let out = bulk_clients(
            ctl,
            "admin",
            &BulkRequest {
                days: Some(10),
                ..req(&all, "extend")
            },
        )
        .await
        .unwrap();
        assert_eq!((out.count, out.pushes.len()), (5, 1), "{label}");
        let after = now_ms();
        let expiry = async |email: &str| s.client_by_email(email).await.unwrap();
        assert_eq!(expiry("ahead").await.expiry_time, now + 12 * DAY, "{label}");
        for email in ["never", "past", "admin-off"] {
            let e = expiry(email).await.expiry_time;
            assert!(
                (now + 10 * DAY..=after + 10 * DAY).contains(&e),
                "{label}: {email} {e}"
            );
        }
        assert_eq!(expiry("delayed").await.expiry_time, -15 * DAY, "{label}");
        assert_eq!(
            expiry("past").await.enable,
            1,
            "{label}: expired, now extended"
        );
        assert_eq!(
            expiry("admin-off").await.enable,
            0,
            "{label}: the admin's word stays"
        );
    }
}

#[tokio::test]
async fn a_client_gone_meanwhile_rolls_the_whole_batch_back() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        fleet(ctl).await;
        let rows = s.clients_by_emails(&["a", "b", "c"]).await.unwrap();
        assert_eq!(rows.len(), 3, "{label}");
        // `b` goes after the batch was read and checked.
        let b = s.client_by_email("b").await.unwrap();
        let mut tx = s.pool().begin().await.unwrap();
        crate::store::fleet_write::delete_client(&mut tx, &b, false)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        for change in [
            ClientChange::Enable(false),
            ClientChange::Delete {
                keep_traffic: false,
            },
        ] {
            let mut write = s.begin_write().await.unwrap();
            let err = change_clients(&mut write.tx, s.backend(), &rows, change)
                .await
                .unwrap_err();
            drop(write);
            assert!(
                matches!(&err, StoreError::Conflict(m) if m.to_string().contains("1 of the 3 clients")),
                "{label}: {err}"
            );
            for email in ["a", "c"] {
                let c = s.client_by_email(email).await.unwrap();
                assert_eq!(c.enable, 1, "{label}: {email} after {change:?}");
            }
            assert_eq!(s.client_total("a").await.unwrap().up, 500, "{label}");
        }
    }
}

/// An inbound keeps off a port another program listens on at its server's host (as the agent
/// reported, on the same transport and an overlapping address), and on the local server off
/// the controller's own listeners; a disabled inbound opens no port and is let through.
#[tokio::test]
async fn an_inbound_keeps_off_ports_taken_on_its_host() {
    for t in test_controllers().await {
        let mut ctl = t.ctl;
        let label = t.label;
        let remote = server(&ctl.store, "remote").await;
        let socket = |address: &str, port: u16| xfleet_common::methods::ListeningSocket {
            protocol: "tcp".into(),
            address: address.into(),
            port,
        };
        ctl.store
            .set_listening(remote, &[socket("0.0.0.0", 4431), socket("10.0.0.1", 4432)])
            .await
            .unwrap();
        let local = ctl.store.create_local_server("local").await.unwrap().id;
        ctl.listeners = vec![("panel", "127.0.0.1:2053".parse().unwrap())];
        let input = |port: i64, listen: &str, body: serde_json::Value| {
            let mut v = json!({"port": port, "listen": listen, "protocol": "vless",
                "settings": {"decryption": "none"}});
            if let (Some(v), Some(more)) = (v.as_object_mut(), body.as_object()) {
                v.extend(more.clone());
            }
            serde_json::from_value::<super::InboundInput>(v).unwrap()
        };
        let refused = async |server: i64, input: super::InboundInput| match super::create_inbound(
            &ctl, "t", server, &input,
        )
        .await
        {
            Err(ModelError::Invalid(fields)) => fields[0].message.clone(),
            other => panic!("{label}: expected a refusal, got {other:?}"),
        };
        let held = refused(remote, input(4431, "127.0.0.1", json!({}))).await;
        assert_eq!(
            held,
            "port 4431 is already in use on this server's host: another program listens on \
             TCP 0.0.0.0:4431; choose another port",
            "{label}"
        );
        let own = refused(local, input(2053, "", json!({}))).await;
        assert!(
            own.contains("the controller's own panel listens there"),
            "{label}: {own}"
        );
        for (server_id, port, listen, more) in [
            // Another address on the same port, UDP only, switched off, another server.
            (remote, 4432, "10.0.0.2", json!({})),
            (
                remote,
                4431,
                "",
                json!({"protocol": "shadowsocks",
                    "settings": {"method": "aes-128-gcm", "password": "p", "network": "udp"}}),
            ),
            (remote, 4432, "10.0.0.1", json!({"enable": false})),
            (remote, 2053, "", json!({})),
        ] {
            super::create_inbound(&ctl, "t", server_id, &input(port, listen, more))
                .await
                .unwrap_or_else(|e| panic!("{label}: port {port} on {listen:?}: {e}"));
        }
    }
}

/// An inbound on a port another inbound of the server uses is refused once, on the port: the
/// tag made from that port clashes too, and saying so again on the tag field adds nothing.
#[tokio::test]
async fn a_port_clash_is_said_once_on_the_port() {
    for t in test_controllers().await {
        let ctl = t.ctl;
        let label = t.label;
        let id = server(&ctl.store, "edge").await;
        let input = |port: i64, tag: &str| {
            serde_json::from_value::<super::InboundInput>(json!({"port": port, "tag": tag,
                "protocol": "vless", "settings": {"decryption": "none"}}))
            .unwrap()
        };
        super::create_inbound(&ctl, "t", id, &input(5443, ""))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        for tag in ["", "inbound-5443"] {
            match super::create_inbound(&ctl, "t", id, &input(5443, tag)).await {
                Err(ModelError::Invalid(f)) => assert_eq!(
                    f.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
                    ["port"],
                    "{label}: {f:?}"
                ),
                other => panic!("{label}: expected a refusal, got {other:?}"),
            }
        }
        // A tag of the operator's own that clashes is still said on the tag.
        super::create_inbound(&ctl, "t", id, &input(5444, "mine"))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        match super::create_inbound(&ctl, "t", id, &input(5445, "mine")).await {
            Err(ModelError::Invalid(f)) => {
                assert_eq!(f[0].field, "tag", "{label}: {f:?}")
            }
            other => panic!("{label}: expected a refusal, got {other:?}"),
        }
    }
}
