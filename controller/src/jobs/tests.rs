//! The limits round on a whole controller, on SQLite and (when available) PostgreSQL, with
//! an injected "now".

use serde_json::json;
use xfleet_common::time::now_ms;
use xfleet_common::traffic::{ClientIps, Delta, TrafficBatch};

use super::periods::{self, Period, Zone};
use super::run_round;
use crate::fleet::desired;
use crate::store::{InboundRow, NewClient, NewInbound, Store};
use crate::testing::{add_client as client, add_server as server, new_inbound, test_controllers};
use crate::Controller;

const DAY: i64 = 86_400_000;

async fn inbound(
    s: &Store,
    server_id: i64,
    port: u16,
    total: i64,
    expiry: i64,
    reset: &str,
) -> InboundRow {
    s.create_inbound(&NewInbound {
        protocol: "vmess".into(),
        settings: json!({}),
        total,
        expiry_time: expiry,
        traffic_reset: reset.into(),
        ..new_inbound(server_id, port)
    })
    .await
    .unwrap()
}

/// Applies the next traffic batch of `server`: bytes per client and per inbound tag,
/// addresses per client.
async fn traffic(
    s: &Store,
    server: i64,
    at_ms: i64,
    users: &[(&str, u64)],
    inbounds: &[(&str, u64)],
    ips: &[(&str, &str)],
) {
    let seq = s.traffic_of(server).await.unwrap().last_seq as u64 + 1;
    let delta = |(name, bytes): &(&str, u64)| Delta {
        name: name.to_string(),
        up: bytes / 4,
        down: bytes - bytes / 4,
    };
    let batch = TrafficBatch {
        epoch: "e".into(),
        seq,
        at_ms,
        users: users.iter().map(delta).collect(),
        inbounds: inbounds.iter().map(delta).collect(),
        ips: ips
            .iter()
            .map(|(email, ip)| ClientIps {
                email: email.to_string(),
                ips: vec![ip.to_string()],
            })
            .collect(),
        ..Default::default()
    };
    s.apply_traffic(server, &batch).await.unwrap();
}

async fn used(ctl: &Controller, email: &str) -> (i64, i64) {
    let t = ctl.store.client_total(email).await.unwrap();
    (t.up + t.down, t.all_time)
}

async fn audit_actions(ctl: &Controller) -> Vec<(String, String, serde_json::Value)> {
    ctl.store
        .audit_entries(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.action,
                e.target,
                serde_json::from_str(&e.details).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn renewing_clients_renew_before_anything_is_cut() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let (a, b) = (server(s, "a").await, server(s, "b").await);
        let (ia, ib) = (
            inbound(s, a, 1001, 0, 0, "never").await,
            inbound(s, b, 1002, 0, 0, "never").await,
        );
        let now = now_ms();
        let expired_at = now - 45 * DAY;
        let renewing = NewClient {
            reset_days: 30,
            expiry_time: expired_at,
            total_bytes: 1000,
            ..Default::default()
        };
        client(s, "renew", renewing.clone(), &[&ia, &ib]).await;
        let quota_cut = client(s, "quota-cut", renewing.clone(), &[&ia]).await;
        let admin_off = client(s, "admin-off", renewing.clone(), &[&ia]).await;
        client(
            s,
            "plain",
            NewClient {
                expiry_time: now - 1,
                ..Default::default()
            },
            &[&ia],
        )
        .await;
        // Over quota on two servers together, and switched off for it by an earlier round;
        // `admin-off` was switched off by the admin.
        traffic(s, a, now, &[("renew", 800), ("quota-cut", 900)], &[], &[]).await;
        traffic(s, b, now, &[("renew", 700), ("quota-cut", 900)], &[], &[]).await;
        assert!(s.disable_client(quota_cut.id, "quota", now).await.unwrap());
        crate::store::fleet_write::set_client_enable(
            &mut s.pool().acquire().await.unwrap(),
            admin_off.id,
            false,
        )
        .await
        .unwrap();
        let revisions = (
            s.server(a).await.unwrap().revision,
            s.server(b).await.unwrap().revision,
        );

        let round = run_round(ctl, now).await.unwrap();
        assert_eq!(
            round.renewed,
            ["renew", "quota-cut", "admin-off"],
            "{label}"
        );
        assert_eq!(round.disabled_clients, ["plain"], "{label}");
        let renewed = s.client_by_email("renew").await.unwrap();
        assert_eq!(
            renewed.expiry_time,
            expired_at + 60 * DAY,
            "{label}: two whole periods"
        );
        assert_eq!(renewed.enable, 1, "{label}: never cut");
        assert_eq!(
            used(ctl, "renew").await,
            (0, 1500),
            "{label}: usage zeroed, all-time kept"
        );
        assert_eq!(
            s.client_by_email("quota-cut").await.unwrap().enable,
            1,
            "{label}"
        );
        assert_eq!(
            s.client_by_email("admin-off").await.unwrap().enable,
            0,
            "{label}"
        );
        let disabled: Vec<_> = audit_actions(ctl)
            .await
            .into_iter()
            .filter(|(action, _, _)| action == "client.disable")
            .collect();
        assert_eq!(
            disabled,
            [(
                "client.disable".to_string(),
                "client:plain".to_string(),
                json!({"reason": "expired"})
            )],
            "{label}"
        );
        assert_eq!(
            s.server(a).await.unwrap().revision,
            revisions.0 + 1,
            "{label}"
        );
        assert_eq!(
            s.server(b).await.unwrap().revision,
            revisions.1 + 1,
            "{label}"
        );
        // Nothing left to do.
        let again = run_round(ctl, now).await.unwrap();
        assert!(
            again.servers.is_empty() && again.renewed.is_empty(),
            "{label}"
        );
    }
}

#[tokio::test]
async fn inbounds_over_quota_or_past_expiry_are_switched_off_on_their_server() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let (a, b) = (server(s, "a").await, server(s, "b").await);
        let now = now_ms();
        let capped = inbound(s, a, 2001, 1000, 0, "never").await;
        let expired = inbound(s, a, 2002, 0, now - 1, "never").await;
        let fine = inbound(s, a, 2003, 1_000_000, now + DAY, "never").await;
        let elsewhere = inbound(s, b, 2001, 0, 0, "never").await;
        traffic(
            s,
            a,
            now,
            &[],
            &[("inbound-2001", 1200), ("inbound-2003", 10)],
            &[],
        )
        .await;
        // The same tag on another server is another inbound with its own usage.
        traffic(s, b, now, &[], &[("inbound-2001", 5000)], &[]).await;

        // Before any round, the state already carries neither.
        let state = desired::build(ctl, a, 1).await.unwrap();
        let enabled: Vec<(&str, bool)> = state
            .inbounds
            .iter()
            .map(|i| (i.tag.as_str(), i.enable))
            .collect();
        assert_eq!(
            enabled,
            [
                ("inbound-2001", false),
                ("inbound-2002", false),
                ("inbound-2003", true)
            ],
            "{label}"
        );

        let round = run_round(ctl, now).await.unwrap();
        assert_eq!(round.disabled_inbounds, [capped.id, expired.id], "{label}");
        assert_eq!(
            round.servers.iter().copied().collect::<Vec<_>>(),
            [a],
            "{label}"
        );
        assert_eq!(s.inbound(fine.id).await.unwrap().enable, 1);
        assert_eq!(s.inbound(elsewhere.id).await.unwrap().enable, 1, "{label}");
        let audit = audit_actions(ctl).await;
        assert!(
            audit.contains(&(
                "inbound.disable".into(),
                format!("inbound:{}", capped.id),
                json!({"reason": "quota", "tag": "inbound-2001", "serverId": a})
            )),
            "{label}: {audit:?}"
        );
        assert!(audit.iter().any(
            |(_, target, d)| *target == format!("inbound:{}", expired.id)
                && d["reason"] == "expired"
        ));

        // A reset switches back on what the quota switched off, not what expired.
        crate::model::reset_inbounds_traffic(ctl, "admin", Some(a), None)
            .await
            .unwrap();
        assert_eq!(s.inbound(capped.id).await.unwrap().enable, 1, "{label}");
        assert_eq!(s.inbound(expired.id).await.unwrap().enable, 0, "{label}");
        let state = desired::build(ctl, a, 2).await.unwrap();
        assert!(state.inbounds[0].enable, "{label}");
    }
}

#[tokio::test]
async fn periodic_resets_happen_once_per_boundary_even_after_downtime() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let a = server(s, "a").await;
        let daily = inbound(s, a, 3001, 0, 0, "daily").await;
        let never = inbound(s, a, 3002, 0, 0, "never").await;
        let quota = NewClient {
            total_bytes: 1000,
            ..Default::default()
        };
        client(s, "alice", quota.clone(), &[&daily]).await;
        let bob = client(s, "bob", quota.clone(), &[&daily]).await;
        client(s, "carol", quota, &[&never]).await;
        let created = now_ms();
        traffic(
            s,
            a,
            created,
            &[("alice", 1500), ("bob", 10), ("carol", 1500)],
            &[("inbound-3001", 1510), ("inbound-3002", 1500)],
            &[],
        )
        .await;
        crate::store::fleet_write::set_client_enable(
            &mut s.pool().acquire().await.unwrap(),
            bob.id,
            false,
        )
        .await
        .unwrap();

        // The inbound was created after today's boundary: no reset yet; alice is cut.
        let round = run_round(ctl, created).await.unwrap();
        assert!(round.reset_inbounds.is_empty(), "{label}");
        assert_eq!(round.disabled_clients, ["alice", "carol"], "{label}");

        // The controller was down for three days: one reset when it is back.
        let back =
            periods::last_boundary(Period::Daily, &Zone::utc(), created + 3 * DAY) + 7_200_000;
        let round = run_round(ctl, back).await.unwrap();
        assert_eq!(round.reset_inbounds, [daily.id], "{label}");
        assert!(round.servers.contains(&a));
        let row = s.inbound(daily.id).await.unwrap();
        assert_eq!(row.last_traffic_reset_time, back, "{label}");
        let usage = s.inbound_totals(a).await.unwrap();
        assert_eq!(usage["inbound-3001"], (0, 0, 1510), "{label}");
        assert_eq!(
            usage["inbound-3002"].0 + usage["inbound-3002"].1,
            1500,
            "{label}"
        );
        assert_eq!(used(ctl, "alice").await, (0, 1500), "{label}");
        assert_eq!(
            s.client_by_email("alice").await.unwrap().enable,
            1,
            "{label}: quota cut lifted"
        );
        assert_eq!(
            s.client_by_email("bob").await.unwrap().enable,
            0,
            "{label}: admin's stays"
        );
        assert_eq!(
            s.client_by_email("carol").await.unwrap().enable,
            0,
            "{label}: not on it"
        );

        // Not again before the next boundary; again after it.
        let round = run_round(ctl, back + 60_000).await.unwrap();
        assert!(round.reset_inbounds.is_empty(), "{label}");
        let next = periods::last_boundary(Period::Daily, &Zone::utc(), back) + DAY;
        traffic(s, a, back, &[("alice", 10)], &[("inbound-3001", 10)], &[]).await;
        assert!(
            run_round(ctl, next - 1)
                .await
                .unwrap()
                .reset_inbounds
                .is_empty(),
            "{label}"
        );
        assert_eq!(
            run_round(ctl, next).await.unwrap().reset_inbounds,
            [daily.id],
            "{label}"
        );
        assert_eq!(used(ctl, "alice").await.0, 0, "{label}");
    }
}

#[tokio::test]
async fn a_new_reset_period_counts_from_its_change() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let a = server(s, "a").await;
        let row = inbound(s, a, 3101, 0, 0, "never").await;
        let mut new = NewInbound {
            server_id: a,
            remark: row.remark.clone(),
            enable: true,
            listen: String::new(),
            port: 3101,
            protocol: "vmess".into(),
            settings: json!({}),
            stream_settings: json!({"network": "tcp"}),
            sniffing: json!({}),
            tag: row.tag.clone(),
            total: 0,
            expiry_time: 0,
            traffic_reset: "monthly".into(),
        };
        let mut c = s.pool().acquire().await.unwrap();
        let changed = crate::store::fleet_write::update_inbound(&mut c, &row, &new)
            .await
            .unwrap();
        assert!(changed.last_traffic_reset_time >= row.created_at, "{label}");
        new.remark = "renamed".into();
        let same = crate::store::fleet_write::update_inbound(&mut c, &changed, &new)
            .await
            .unwrap();
        assert_eq!(
            same.last_traffic_reset_time, changed.last_traffic_reset_time,
            "{label}"
        );
    }
}

#[tokio::test]
async fn ip_limits_keep_the_first_addresses_and_refuse_later_ones() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let s = &ctl.store;
        let (a, b) = (server(s, "a").await, server(s, "b").await);
        let (ia, ib) = (
            inbound(s, a, 4001, 0, 0, "never").await,
            inbound(s, b, 4001, 0, 0, "never").await,
        );
        let limited = NewClient {
            limit_ip: 1,
            ..Default::default()
        };
        client(s, "dave", limited, &[&ia, &ib]).await;
        client(s, "erin", NewClient::default(), &[&ia]).await;
        let now = now_ms();
        // dave from one address on server a, then from another on server b: the fleet sees
        // two. erin has no limit.
        traffic(
            s,
            a,
            now - 60_000,
            &[],
            &[],
            &[("dave", "198.51.100.1"), ("erin", "203.0.113.1")],
        )
        .await;
        traffic(
            s,
            b,
            now - 30_000,
            &[],
            &[],
            &[("dave", "198.51.100.2"), ("erin", "203.0.113.2")],
        )
        .await;

        let round = run_round(ctl, now).await.unwrap();
        assert_eq!(round.refusals_changed, ["dave"], "{label}");
        assert_eq!(
            round.servers.iter().copied().collect::<Vec<_>>(),
            [a, b],
            "{label}"
        );
        let records = s.client_ip_records("dave").await.unwrap();
        let seen: Vec<(&str, i64)> = records.iter().map(|r| (r.ip.as_str(), r.refused)).collect();
        assert_eq!(seen, [("198.51.100.2", 1), ("198.51.100.1", 0)], "{label}");
        for server in [a, b] {
            let state = desired::build(ctl, server, 9).await.unwrap();
            let dave = state
                .limits
                .iter()
                .find(|l| l.email == "dave")
                .expect("dave's limit");
            assert_eq!(dave.refused_ips, ["198.51.100.2"], "{label}");
        }
        assert!(audit_actions(ctl).await.contains(&(
            "client.ip_refused".into(),
            "client:dave".into(),
            json!({"ip": "198.51.100.2"})
        )));
        assert!(
            run_round(ctl, now)
                .await
                .unwrap()
                .refusals_changed
                .is_empty(),
            "{label}"
        );

        // Half an hour without the first address: the refused one takes its place.
        traffic(
            s,
            b,
            now + 31 * 60_000,
            &[],
            &[],
            &[("dave", "198.51.100.2")],
        )
        .await;
        let round = run_round(ctl, now + 31 * 60_000).await.unwrap();
        assert_eq!(round.refusals_changed, ["dave"], "{label}");
        assert!(s.ip_refusals().await.unwrap().is_empty(), "{label}");

        // The first address returns: it starts a new run, after the other, and is refused.
        traffic(
            s,
            a,
            now + 32 * 60_000,
            &[],
            &[],
            &[("dave", "198.51.100.1")],
        )
        .await;
        run_round(ctl, now + 32 * 60_000).await.unwrap();
        assert_eq!(
            s.ip_refusals().await.unwrap()["dave"]
                .iter()
                .collect::<Vec<_>>(),
            ["198.51.100.1"],
            "{label}"
        );
        // Clearing the addresses lifts the refusal on every server at once.
        let before = s.server(a).await.unwrap().revision;
        crate::model::clear_client_ips(ctl, "admin", "dave")
            .await
            .unwrap();
        assert!(s.ip_refusals().await.unwrap().is_empty());
        assert_eq!(s.server(a).await.unwrap().revision, before + 1, "{label}");
    }
}

#[tokio::test]
async fn the_restart_on_client_disable_setting_reaches_the_state() {
    for t in test_controllers().await {
        let (ctl, label) = (&t.ctl, t.label);
        let a = server(&ctl.store, "a").await;
        assert!(
            desired::build(ctl, a, 1)
                .await
                .unwrap()
                .restart_on_client_disable,
            "{label}"
        );
        ctl.store
            .set_setting(desired::RESTART_ON_CLIENT_DISABLE, "false")
            .await
            .unwrap();
        assert!(
            !desired::build(ctl, a, 2)
                .await
                .unwrap()
                .restart_on_client_disable,
            "{label}"
        );
    }
}
