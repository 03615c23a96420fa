//! [`CoreApi`] against a real core: Debian's `v2ray` 4.34 carrying real proxied traffic.
//!
//! Each test starts a server core with the API inbound, a second core as the client (a socks
//! inbound per outbound under test), and a small HTTP server as the destination, then fetches
//! a known body through the chain. Without a `v2ray` binary the tests print why and pass,
//! except under `CI=true`, where the binary is required.

mod fixtures;

use serde_json::json;
use tokio::net::TcpStream;

use super::*;
use crate::testutil::{TempDir, TestPki};
use fixtures::*;

const VMESS_ID: &str = "b831381d-6324-4d53-ad4f-8cda48b30811";

#[tokio::test]
async fn users_traffic_and_stats_on_a_real_core() {
    let Some(bin) = v2ray_or_skip("users_traffic_and_stats_on_a_real_core") else {
        return;
    };
    let destination = Destination::start().await;
    let (api_port, vmess_port, socks_port) = (free_port(), free_port(), free_port());
    let server = Core::start(
        &bin,
        "core-server",
        &server_config(
            api_port,
            vec![json!({
                "tag": "in-vmess", "listen": "127.0.0.1", "port": vmess_port,
                "protocol": "vmess", "settings": {"clients": []}
            })],
        ),
        &[api_port, vmess_port],
    )
    .await;
    let outbound = json!({"protocol": "vmess", "settings": {"vnext": [{
        "address": "127.0.0.1", "port": vmess_port,
        "users": [{"id": VMESS_ID, "alterId": 0, "security": "aes-128-gcm"}]
    }]}});
    let _client = Core::start(
        &bin,
        "core-client",
        &client_config(&[socks_port], vec![outbound]),
        &[socks_port],
    )
    .await;
    let api = CoreApi::connect(api_port, Namespace::V2ray).await.unwrap();

    // Nobody is allowed in yet.
    assert!(fetch_via_socks(socks_port, &destination).await.is_err());

    let user = User {
        email: "alice@xfleet.test".into(),
        account: Account::Vmess {
            id: VMESS_ID.into(),
        },
    };
    api.add_user("in-vmess", &user).await.unwrap();
    fetch_via_socks(socks_port, &destination)
        .await
        .unwrap_or_else(|e| panic!("fetch after add_user: {e}\n{}", server.log()));

    // The core's own words come back for a refused call.
    match api.add_user("in-vmess", &user).await {
        Err(ApiError::Rejected(message)) => assert!(message.contains("alice"), "{message}"),
        other => panic!("duplicate user: {other:?}"),
    }
    match api.add_user("no-such-inbound", &user).await {
        Err(ApiError::Rejected(_)) => {}
        other => panic!("unknown inbound: {other:?}"),
    }

    let downlink = wait_counter(&api, "user>>>alice@xfleet.test>>>traffic>>>downlink").await;
    assert!(downlink >= body().len() as i64, "downlink {downlink}");
    wait_counter(&api, "user>>>alice@xfleet.test>>>traffic>>>uplink").await;
    wait_counter(&api, "inbound>>>in-vmess>>>traffic>>>downlink").await;
    wait_counter(&api, "outbound>>>direct>>>traffic>>>downlink").await;

    // A filtered query with reset returns the value and zeroes it.
    let name = "user>>>alice@xfleet.test>>>traffic>>>downlink";
    let read = api.query_stats("alice@xfleet.test", true).await.unwrap();
    assert!(read.iter().all(|(n, _)| n.contains("alice@xfleet.test")));
    assert!(counter(&read, name) >= downlink);
    assert_eq!(
        counter(&api.query_stats(name, false).await.unwrap(), name),
        0
    );

    let sys = api.sys_stats().await.unwrap();
    assert!(sys.num_goroutine > 0 && sys.alloc > 0, "{sys:?}");
    assert_eq!(
        api.online_users().await.unwrap(),
        None,
        "v2ray has no online list"
    );

    api.remove_user("in-vmess", "alice@xfleet.test")
        .await
        .unwrap();
    assert!(fetch_via_socks(socks_port, &destination).await.is_err());
    // Removing again is not an error.
    api.remove_user("in-vmess", "alice@xfleet.test")
        .await
        .unwrap();

    api.remove_inbound("in-vmess").await.unwrap();
    wait_for("the vmess port to close", || async {
        TcpStream::connect(("127.0.0.1", vmess_port))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(matches!(
        api.remove_inbound("in-vmess").await,
        Err(ApiError::Rejected(_))
    ));
}

#[tokio::test]
async fn added_inbounds_carry_traffic() {
    let Some(bin) = v2ray_or_skip("added_inbounds_carry_traffic") else {
        return;
    };
    let destination = Destination::start().await;
    let api_port = free_port();
    let server = Core::start(
        &bin,
        "core-server",
        &server_config(api_port, Vec::new()),
        &[api_port],
    )
    .await;
    let api = CoreApi::connect(api_port, Namespace::V2ray).await.unwrap();

    let vless_id = "6c1a0d3e-54a3-4b8e-9bd4-3b6f3f0e7c21";
    let (vless_port, ss_port, forward_port) = (free_port(), free_port(), free_port());
    let inbounds = [
        json!({
            "tag": "in-vless-ws", "listen": "127.0.0.1", "port": vless_port, "protocol": "vless",
            "settings": {"clients": [{"id": vless_id, "email": "vless@xfleet.test", "flow": ""}],
                         "decryption": "none"},
            "streamSettings": {"network": "ws", "security": "none",
                               "wsSettings": {"path": "/xfleet", "host": "cdn.xfleet.test"}},
            "sniffing": {"enabled": true, "destOverride": ["http", "tls"]}
        }),
        json!({
            "tag": "in-ss", "listen": "127.0.0.1", "port": ss_port, "protocol": "shadowsocks",
            "settings": {"method": "aes-256-gcm", "password": "ss-secret",
                         "email": "ss@xfleet.test", "network": "tcp"}
        }),
        json!({
            "tag": "in-forward", "listen": "127.0.0.1", "port": forward_port,
            "protocol": "dokodemo-door",
            "settings": {"address": "127.0.0.1", "port": destination.port, "network": "tcp"}
        }),
    ];
    for inbound in &inbounds {
        api.add_inbound(inbound)
            .await
            .unwrap_or_else(|e| panic!("add_inbound {}: {e}\n{}", inbound["tag"], server.log()));
    }
    for port in [vless_port, ss_port, forward_port] {
        wait_listening(port).await;
    }

    // dokodemo-door forwards plain TCP to the destination.
    let stream = TcpStream::connect(("127.0.0.1", forward_port))
        .await
        .unwrap();
    http_get(stream, &destination).await.unwrap();

    let (vless_socks, ss_socks) = (free_port(), free_port());
    let outbounds = vec![
        json!({"protocol": "vless",
               "settings": {"vnext": [{"address": "127.0.0.1", "port": vless_port,
                            "users": [{"id": vless_id, "encryption": "none"}]}]},
               "streamSettings": {"network": "ws",
                                  "wsSettings": {"path": "/xfleet", "headers": {"Host": "cdn.xfleet.test"}}}}),
        json!({"protocol": "shadowsocks",
               "settings": {"servers": [{"address": "127.0.0.1", "port": ss_port,
                                         "method": "aes-256-gcm", "password": "ss-secret"}]}}),
    ];
    let _client = Core::start(
        &bin,
        "core-client",
        &client_config(&[vless_socks, ss_socks], outbounds),
        &[vless_socks, ss_socks],
    )
    .await;
    for socks in [vless_socks, ss_socks] {
        fetch_via_socks(socks, &destination)
            .await
            .unwrap_or_else(|e| panic!("fetch via socks {socks}: {e}\n{}", server.log()));
    }
    wait_counter(&api, "user>>>vless@xfleet.test>>>traffic>>>downlink").await;
    wait_counter(&api, "user>>>ss@xfleet.test>>>traffic>>>downlink").await;
    wait_counter(&api, "inbound>>>in-vless-ws>>>traffic>>>downlink").await;

    // What the conversion does not cover is refused before anything reaches the core.
    let reality = json!({"tag": "in-reality", "port": free_port(), "protocol": "vless",
        "settings": {"clients": [], "decryption": "none"},
        "streamSettings": {"network": "tcp", "security": "reality", "realitySettings": {}}});
    assert!(matches!(
        api.add_inbound(&reality).await,
        Err(ApiError::Unsupported(_))
    ));
}

#[tokio::test]
async fn trojan_over_tls_added_then_given_a_user() {
    let Some(bin) = v2ray_or_skip("trojan_over_tls_added_then_given_a_user") else {
        return;
    };
    let destination = Destination::start().await;
    let api_port = free_port();
    let server = Core::start(
        &bin,
        "core-server",
        &server_config(api_port, Vec::new()),
        &[api_port],
    )
    .await;
    let api = CoreApi::connect(api_port, Namespace::V2ray).await.unwrap();

    let certs = TempDir::new("core-certs");
    let pki = TestPki::new("core-api");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, &pki.gateway_pem).unwrap();
    std::fs::write(&key, &pki.gateway_key_pem).unwrap();
    let trojan_port = free_port();
    api.add_inbound(&json!({
        "tag": "in-trojan", "listen": "127.0.0.1", "port": trojan_port, "protocol": "trojan",
        "settings": {"clients": []},
        "streamSettings": {"network": "tcp", "security": "tls", "tlsSettings": {
            "alpn": ["http/1.1"],
            "certificates": [{"certificateFile": cert, "keyFile": key}]}}
    }))
    .await
    .unwrap_or_else(|e| panic!("add_inbound: {e}\n{}", server.log()));
    wait_listening(trojan_port).await;

    let socks = free_port();
    let outbound = json!({"protocol": "trojan",
        "settings": {"servers": [{"address": "127.0.0.1", "port": trojan_port, "password": "tr-secret"}]},
        "streamSettings": {"network": "tcp", "security": "tls",
                           "tlsSettings": {"serverName": "localhost", "allowInsecure": true}}});
    let _client = Core::start(
        &bin,
        "core-client",
        &client_config(&[socks], vec![outbound]),
        &[socks],
    )
    .await;
    assert!(fetch_via_socks(socks, &destination).await.is_err());

    let user = User {
        email: "trojan@xfleet.test".into(),
        account: Account::Trojan {
            password: "tr-secret".into(),
        },
    };
    api.add_user("in-trojan", &user).await.unwrap();
    fetch_via_socks(socks, &destination)
        .await
        .unwrap_or_else(|e| panic!("fetch after add_user: {e}\n{}", server.log()));
    wait_counter(&api, "user>>>trojan@xfleet.test>>>traffic>>>downlink").await;

    // Accounts v2ray cannot hold are refused without a call.
    let hysteria = User {
        email: "h@xfleet.test".into(),
        account: Account::Hysteria { auth: "a".into() },
    };
    assert!(matches!(
        api.add_user("in-trojan", &hysteria).await,
        Err(ApiError::Unsupported(_))
    ));
}

#[tokio::test]
async fn one_client_outlives_a_core_restart() {
    let Some(bin) = v2ray_or_skip("one_client_outlives_a_core_restart") else {
        return;
    };
    let api_port = free_port();
    let config = server_config(api_port, Vec::new());
    let core = Core::start(&bin, "core-server", &config, &[api_port]).await;
    let api = CoreApi::connect(api_port, Namespace::V2ray).await.unwrap();
    api.sys_stats().await.unwrap();

    drop(core);
    wait_for("calls to fail while the core is down", || async {
        matches!(api.sys_stats().await, Err(ApiError::Unavailable(_))).then_some(())
    })
    .await;

    let _core = Core::start(&bin, "core-server", &config, &[api_port]).await;
    wait_for("the same client to reach the new core", || async {
        api.sys_stats().await.ok()
    })
    .await;
}
