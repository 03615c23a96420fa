//! Diffs, plans and persistence of desired state (the end-to-end behaviour with the real core
//! is in tests/tests/core.rs).

use serde_json::json;
use xfleet_common::state::{ApplyState, DesiredState, InboundSpec, StateDiff};
use xfleet_common::xray::{Account, Flavour};

use super::plan::{dropped_users, plan};
use super::store::{next_state, StateError, StateFiles};

fn vless(tag: &str, port: u16, clients: &[(&str, &str)]) -> InboundSpec {
    let clients: Vec<_> = clients
        .iter()
        .map(|(email, id)| json!({"email": email, "id": id, "limitIp": 0, "subId": "x"}))
        .collect();
    InboundSpec {
        id: 1,
        tag: tag.into(),
        enable: true,
        listen: String::new(),
        port,
        protocol: "vless".into(),
        settings: json!({"clients": clients, "decryption": "none"}),
        stream_settings: json!({"network": "ws", "wsSettings": {"path": "/ws"}}),
        sniffing: json!({}),
    }
}

const A: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50";
const B: &str = "0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b";

fn state(revision: u64, inbounds: Vec<InboundSpec>) -> DesiredState {
    DesiredState {
        revision,
        inbounds,
        ..Default::default()
    }
}

#[test]
fn a_client_change_is_a_user_change_not_an_inbound_change() {
    let old = state(1, vec![vless("in", 1000, &[("a", A)])]);
    let new = state(2, vec![vless("in", 1000, &[("b", B)])]);
    let p = plan(&old, &new, Flavour::V2ray).unwrap();
    assert_eq!(p.remove_users, vec![("in".to_string(), "a".to_string())]);
    assert_eq!(p.add_users.len(), 1);
    assert!(matches!(&p.add_users[0].1.account, Account::Vless { id, .. } if id == B));
    assert!(p.add_inbounds.is_empty() && p.remove_inbounds.is_empty() && p.restart.is_none());
    // Panel-only client fields do not make a change at all.
    let mut noisy = old.clone();
    noisy.inbounds[0].settings["clients"][0]["comment"] = json!("vip");
    assert!(plan(&old, &noisy, Flavour::V2ray).unwrap().is_empty());
}

#[test]
fn inbound_changes_replace_the_inbound_and_template_inbounds_restart() {
    let old = state(1, vec![vless("in", 1000, &[("a", A)])]);
    let mut moved = old.clone();
    moved.inbounds[0].port = 2000;
    let p = plan(&old, &moved, Flavour::V2ray).unwrap();
    assert_eq!(p.remove_inbounds, vec!["in".to_string()]);
    assert_eq!(p.add_inbounds.len(), 1);
    assert_eq!(p.add_inbounds[0]["port"], json!(2000));
    let mut disabled = old.clone();
    disabled.inbounds[0].enable = false;
    let p = plan(&old, &disabled, Flavour::V2ray).unwrap();
    assert_eq!((p.remove_inbounds.len(), p.add_inbounds.len()), (1, 0));
    // The rest of a template is weighed on the rendered configuration when applying.
    let mut templated = old.clone();
    templated.template = Some(json!({"log": {"loglevel": "debug"}}));
    assert!(plan(&old, &templated, Flavour::V2ray).unwrap().is_empty());
    let mut own_inbound = templated.clone();
    own_inbound.template = Some(json!({"inbounds": [
        {"tag": "dns-in", "port": 5353, "protocol": "dokodemo-door"}]}));
    assert!(plan(&templated, &own_inbound, Flavour::V2ray)
        .unwrap()
        .restart
        .is_some());
}

#[test]
fn users_taken_out_are_the_ones_whose_sessions_need_cutting() {
    let old = state(
        1,
        vec![
            vless("in-1", 1000, &[("a", A), ("b", B)]),
            vless(
                "in-2",
                2000,
                &[("c", "11111111-2222-4333-8444-555555555555")],
            ),
        ],
    );
    // A client added, or a panel-only field changed, takes nobody out.
    let mut more = old.clone();
    more.inbounds[0].settings["clients"][0]["comment"] = json!("vip");
    more.inbounds[1].settings["clients"]
        .as_array_mut()
        .unwrap()
        .push(json!({"email": "d", "id": "22222222-2222-4333-8444-555555555555"}));
    assert!(dropped_users(&old, &more, Flavour::V2ray).is_empty());
    // Removed from an inbound, disabled, given new credentials, or on a disabled inbound.
    let mut fewer = old.clone();
    fewer.inbounds[0].settings["clients"][0]["enable"] = json!(false);
    fewer.inbounds[0].settings["clients"][1]["id"] = json!("33333333-2222-4333-8444-555555555555");
    fewer.inbounds[1].enable = false;
    let dropped: Vec<String> = dropped_users(&old, &fewer, Flavour::V2ray)
        .into_iter()
        .collect();
    assert_eq!(dropped, ["a", "b", "c"]);
}

#[test]
fn diffs_apply_on_their_base_revision_only() {
    let base = state(
        3,
        vec![vless("in-1", 1000, &[("a", A)]), vless("in-2", 2000, &[])],
    );
    let diff = |base_revision| {
        ApplyState::Diff(StateDiff {
            base_revision,
            revision: 4,
            upsert: vec![vless("in-1", 1000, &[("b", B)]), vless("in-3", 3000, &[])],
            remove: vec!["in-2".into()],
            limits: None,
            stats_interval_ms: Some(5000),
            restart_on_client_disable: Some(false),
        })
    };
    let next = next_state(&base, diff(3)).unwrap();
    let tags: Vec<&str> = next.inbounds.iter().map(|i| i.tag.as_str()).collect();
    assert_eq!(tags, vec!["in-1", "in-3"]);
    assert_eq!(next.inbounds[0].settings["clients"][0]["email"], json!("b"));
    assert_eq!((next.revision, next.stats_interval_ms), (4, 5000));
    assert!(!next.restart_on_client_disable);
    assert!(matches!(
        next_state(&base, diff(2)),
        Err(StateError::BaseMismatch { base: 2, have: 3 })
    ));
    assert!(matches!(
        next_state(&base, ApplyState::Full(state(2, vec![]))),
        Err(StateError::Stale { new: 2, have: 3 })
    ));
}

#[test]
fn the_state_on_disk_survives_and_falls_back_to_the_previous_one() {
    let dir = crate::testutil::TempDir::new("state");
    let files = StateFiles::new(dir.path());
    assert!(files.load().is_none());
    files.save(&state(1, vec![])).unwrap();
    files.save(&state(2, vec![])).unwrap();
    assert_eq!(files.load().unwrap().revision, 2);
    assert_eq!(files.load_previous().unwrap().revision, 1);
    std::fs::write(dir.path().join("state.json"), b"{torn").unwrap();
    assert_eq!(
        files.load().unwrap().revision,
        1,
        "a damaged current state falls back"
    );
}
