use prost::Message;
use serde_json::{json, Value};

use super::*;
use crate::testutil::{TempDir, TestPki};
use crate::xray_api::proto::{
    network, IpOrDomain, ShadowsocksAccount, ShadowsocksServerConfigV2ray,
    ShadowsocksServerConfigXray, SniffingConfig, SocksServerConfig, StreamConfig, TlsConfig,
    TrojanServerConfig, VlessInboundConfig, VmessAccount, VmessInboundConfig, WebSocketConfig,
};
use crate::xray_api::proto::{DokodemoConfig, TcpConfig};

fn vmess_inbound() -> Value {
    json!({
        "tag": "in-vmess",
        "listen": "127.0.0.1",
        "port": 10086,
        "protocol": "vmess",
        "settings": {"clients": [{
            "id": "b831381d-6324-4d53-ad4f-8cda48b30811",
            "email": "a@example.com",
            // Panel bookkeeping the core ignores.
            "limitIp": 2, "totalGB": 100, "enable": true, "subId": "abc"
        }]},
        "streamSettings": {"network": "tcp", "security": "none", "tcpSettings": {"header": {"type": "none"}}},
        "sniffing": {"enabled": true, "destOverride": ["http", "tls"]}
    })
}

fn decode<M: Message + Default>(typed: &TypedMessage, name: &str) -> M {
    assert_eq!(typed.r#type, name);
    M::decode(typed.value.as_slice()).unwrap()
}

fn receiver_v2ray(config: &InboundHandlerConfig) -> ReceiverConfigV2ray {
    decode(
        config.receiver_settings.as_ref().unwrap(),
        "v2ray.core.app.proxyman.ReceiverConfig",
    )
}

fn receiver_xray(config: &InboundHandlerConfig) -> ReceiverConfigXray {
    decode(
        config.receiver_settings.as_ref().unwrap(),
        "xray.app.proxyman.ReceiverConfig",
    )
}

fn unsupported_reason(ns: Namespace, inbound: &Value) -> String {
    match inbound_config(ns, inbound) {
        Err(ApiError::Unsupported(reason)) => reason,
        other => panic!("expected Unsupported for {inbound}, got {other:?}"),
    }
}

#[test]
fn vmess_on_v2ray() {
    let config = inbound_config(Namespace::V2ray, &vmess_inbound()).unwrap();
    assert_eq!(config.tag, "in-vmess");
    let receiver = receiver_v2ray(&config);
    assert_eq!(
        receiver.port_range,
        Some(PortRange {
            from: 10086,
            to: 10086
        })
    );
    assert_eq!(receiver.listen.unwrap().ip, vec![127, 0, 0, 1]);
    assert_eq!(
        receiver.sniffing_settings,
        Some(SniffingConfig {
            enabled: true,
            destination_override: vec!["http".into(), "tls".into()],
            ..Default::default()
        })
    );
    let stream = receiver.stream_settings.unwrap();
    assert_eq!(stream.protocol_name, "tcp");
    assert_eq!(stream.security_type, "");
    let tcp: TcpConfig = decode(
        stream.transport_settings[0].settings.as_ref().unwrap(),
        "v2ray.core.transport.internet.tcp.Config",
    );
    assert!(!tcp.accept_proxy_protocol);

    let proxy: VmessInboundConfig = decode(
        config.proxy_settings.as_ref().unwrap(),
        "v2ray.core.proxy.vmess.inbound.Config",
    );
    assert_eq!(proxy.user.len(), 1);
    assert_eq!(proxy.user[0].email, "a@example.com");
    let account: VmessAccount = decode(
        proxy.user[0].account.as_ref().unwrap(),
        "v2ray.core.proxy.vmess.Account",
    );
    assert_eq!(account.id, "b831381d-6324-4d53-ad4f-8cda48b30811");
    assert_eq!(account.alter_id, 0);
}

#[test]
fn vmess_on_xray_uses_the_port_list_receiver() {
    let config = inbound_config(Namespace::Xray, &vmess_inbound()).unwrap();
    let receiver = receiver_xray(&config);
    assert_eq!(
        receiver.port_list.unwrap().range,
        vec![PortRange {
            from: 10086,
            to: 10086
        }]
    );
    assert_eq!(receiver.stream_settings.unwrap().protocol_name, "tcp");
    let proxy: VmessInboundConfig = decode(
        config.proxy_settings.as_ref().unwrap(),
        "xray.proxy.vmess.inbound.Config",
    );
    assert_eq!(
        proxy.user[0].account.as_ref().unwrap().r#type,
        "xray.proxy.vmess.Account"
    );
}

#[test]
fn receiver_bytes_follow_each_cores_numbering() {
    let inbound = json!({"tag": "t", "listen": "127.0.0.1", "port": 443, "protocol": "vless",
                         "settings": {"clients": [], "decryption": "none"}});
    // PortRange { From = 1, To = 2 } with 443 = varint bb 03; IPOrDomain { ip = 1 }.
    let range = [0x08, 0xbb, 0x03, 0x10, 0xbb, 0x03];
    let listen = [0x0a, 4, 127, 0, 0, 1];

    // v2ray: port_range = 1, listen = 2.
    let mut v2ray = vec![0x0a, range.len() as u8];
    v2ray.extend_from_slice(&range);
    v2ray.extend_from_slice(&[0x12, listen.len() as u8]);
    v2ray.extend_from_slice(&listen);
    let config = inbound_config(Namespace::V2ray, &inbound).unwrap();
    assert_eq!(config.receiver_settings.unwrap().value, v2ray);

    // Xray: port_list = 1 holding PortList { range = 1 }, listen = 2.
    let mut xray = vec![0x0a, range.len() as u8 + 2, 0x0a, range.len() as u8];
    xray.extend_from_slice(&range);
    xray.extend_from_slice(&[0x12, listen.len() as u8]);
    xray.extend_from_slice(&listen);
    let config = inbound_config(Namespace::Xray, &inbound).unwrap();
    assert_eq!(config.receiver_settings.unwrap().value, xray);
}

#[test]
fn vless_decryption_is_sent_to_v2ray_only() {
    let inbound = json!({"tag": "t", "port": "20000", "protocol": "vless",
        "settings": {"clients": [{"id": "id-1", "email": "e", "flow": ""}], "decryption": "none"}});
    let v2ray: VlessInboundConfig = decode(
        inbound_config(Namespace::V2ray, &inbound)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "v2ray.core.proxy.vless.inbound.Config",
    );
    assert_eq!(v2ray.decryption_v2ray, "none");
    assert_eq!(v2ray.clients[0].email, "e");
    let xray: VlessInboundConfig = decode(
        inbound_config(Namespace::Xray, &inbound)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "xray.proxy.vless.inbound.Config",
    );
    assert_eq!(xray.decryption_v2ray, "");
}

/// A `wsSettings` + TLS stream with certificate files, on both cores.
fn ws_tls_inbound(dir: &TempDir) -> (Value, Vec<u8>, Vec<u8>) {
    let pki = TestPki::new("xray-api");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &pki.gateway_pem).unwrap();
    std::fs::write(&key, &pki.gateway_key_pem).unwrap();
    let inbound = json!({
        "tag": "in-ws", "port": 443, "protocol": "trojan",
        "settings": {"clients": [{"password": "pw", "email": "t@x"}]},
        "streamSettings": {
            "network": "ws",
            "wsSettings": {"path": "/chat", "host": "cdn.example.com", "headers": {"X-A": "1"}},
            "security": "tls",
            "tlsSettings": {"serverName": "example.com", "alpn": ["http/1.1"],
                "certificates": [{"certificateFile": cert, "keyFile": key, "ocspStapling": 0}]}
        }
    });
    (
        inbound,
        pki.gateway_pem.into_bytes(),
        pki.gateway_key_pem.into_bytes(),
    )
}

#[test]
fn websocket_and_tls_on_v2ray() {
    let dir = TempDir::new("xray-api-tls");
    let (inbound, cert, key) = ws_tls_inbound(&dir);
    let config = inbound_config(Namespace::V2ray, &inbound).unwrap();
    let stream: StreamConfig = receiver_v2ray(&config).stream_settings.unwrap();
    assert_eq!(stream.protocol_name, "websocket");
    let ws: WebSocketConfig = decode(
        stream.transport_settings[0].settings.as_ref().unwrap(),
        "v2ray.core.transport.internet.websocket.Config",
    );
    assert_eq!(ws.path, "/chat");
    assert_eq!(ws.host, "", "v2ray has no host field");
    let headers: Vec<_> = ws.header.iter().map(|h| (&*h.key, &*h.value)).collect();
    assert_eq!(headers, [("X-A", "1"), ("Host", "cdn.example.com")]);

    assert_eq!(
        stream.security_type,
        "v2ray.core.transport.internet.tls.Config"
    );
    let tls: TlsConfig = decode(
        &stream.security_settings[0],
        "v2ray.core.transport.internet.tls.Config",
    );
    assert_eq!(tls.server_name, "example.com");
    assert_eq!(tls.next_protocol, ["http/1.1"]);
    assert_eq!(tls.certificate[0].certificate, cert);
    assert_eq!(tls.certificate[0].key, key);
    assert_eq!(tls.certificate[0].certificate_path, "");

    let proxy: TrojanServerConfig = decode(
        config.proxy_settings.as_ref().unwrap(),
        "v2ray.core.proxy.trojan.ServerConfig",
    );
    assert_eq!(proxy.users[0].email, "t@x");
}

#[test]
fn websocket_and_tls_on_xray() {
    let dir = TempDir::new("xray-api-tls");
    let (inbound, cert, _) = ws_tls_inbound(&dir);
    let config = inbound_config(Namespace::Xray, &inbound).unwrap();
    let stream = receiver_xray(&config).stream_settings.unwrap();
    let ws: WebSocketConfig = decode(
        stream.transport_settings[0].settings.as_ref().unwrap(),
        "xray.transport.internet.websocket.Config",
    );
    assert_eq!(ws.host, "cdn.example.com");
    assert_eq!(ws.header.len(), 1);
    let tls: TlsConfig = decode(
        &stream.security_settings[0],
        "xray.transport.internet.tls.Config",
    );
    let certificate = &tls.certificate[0];
    assert_eq!(certificate.certificate, cert);
    assert!(certificate.certificate_path.ends_with("cert.pem"));
    assert!(
        !certificate.one_time_loading,
        "files are watched for renewal"
    );
}

#[test]
fn a_missing_certificate_file_is_not_hot_applied() {
    let inbound = json!({"tag": "t", "port": 443, "protocol": "trojan",
        "settings": {"clients": [{"password": "pw"}]},
        "streamSettings": {"security": "tls", "tlsSettings": {"certificates": [
            {"certificateFile": "/nonexistent/cert.pem", "keyFile": "/nonexistent/key.pem"}]}}});
    assert!(unsupported_reason(Namespace::V2ray, &inbound).contains("/nonexistent/cert.pem"));
}

#[test]
fn single_user_shadowsocks_per_core() {
    let inbound = json!({"tag": "ss", "port": 8388, "protocol": "shadowsocks",
        "settings": {"method": "aes-256-gcm", "password": "server-key", "network": "tcp,udp",
                     "clients": [{"password": "user-pw", "email": "s@x"}]}});
    let v2ray: ShadowsocksServerConfigV2ray = decode(
        inbound_config(Namespace::V2ray, &inbound)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "v2ray.core.proxy.shadowsocks.ServerConfig",
    );
    assert_eq!(v2ray.network, [network::TCP, network::UDP]);
    let user = v2ray.user.unwrap();
    assert_eq!(user.email, "s@x");
    let account: ShadowsocksAccount = decode(
        user.account.as_ref().unwrap(),
        "v2ray.core.proxy.shadowsocks.Account",
    );
    assert_eq!(
        (account.password.as_str(), account.cipher_type),
        ("user-pw", 2)
    );

    let xray: ShadowsocksServerConfigXray = decode(
        inbound_config(Namespace::Xray, &inbound)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "xray.proxy.shadowsocks.ServerConfig",
    );
    let account: ShadowsocksAccount = decode(
        xray.users[0].account.as_ref().unwrap(),
        "xray.proxy.shadowsocks.Account",
    );
    assert_eq!(account.cipher_type, 6);
}

#[test]
fn socks_and_dokodemo() {
    let socks = json!({"tag": "s", "listen": "127.0.0.1", "port": 1080, "protocol": "socks",
        "settings": {"auth": "password", "accounts": [{"user": "u", "pass": "p"}], "udp": true,
                     "ip": "127.0.0.1"}});
    let config: SocksServerConfig = decode(
        inbound_config(Namespace::V2ray, &socks)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "v2ray.core.proxy.socks.ServerConfig",
    );
    assert_eq!(config.auth_type, 1);
    assert_eq!(config.accounts.get("u").map(String::as_str), Some("p"));
    assert!(config.udp_enabled);

    let tunnel = json!({"tag": "d", "port": 53, "protocol": "tunnel",
        "settings": {"rewriteAddress": "1.1.1.1", "rewritePort": 53, "allowedNetwork": "udp",
                     "followRedirect": true}});
    let config = inbound_config(Namespace::Xray, &tunnel).unwrap();
    assert!(receiver_xray(&config).receive_original_destination);
    let dokodemo: DokodemoConfig = decode(
        config.proxy_settings.as_ref().unwrap(),
        "xray.proxy.dokodemo.Config",
    );
    assert_eq!(
        dokodemo.address,
        Some(IpOrDomain {
            ip: vec![1, 1, 1, 1],
            domain: String::new()
        })
    );
    assert_eq!((dokodemo.port, dokodemo.networks), (53, vec![network::UDP]));

    let by_name = json!({"tag": "d", "port": 8080, "protocol": "dokodemo-door",
        "settings": {"address": "example.com", "port": 80}});
    let dokodemo: DokodemoConfig = decode(
        inbound_config(Namespace::V2ray, &by_name)
            .unwrap()
            .proxy_settings
            .as_ref()
            .unwrap(),
        "v2ray.core.proxy.dokodemo.Config",
    );
    assert_eq!(dokodemo.address.unwrap().domain, "example.com");
    assert_eq!(dokodemo.networks, [network::TCP], "TCP when not given");
}

#[test]
fn port_forms() {
    let range = |port: Value| port_range(Some(&port));
    assert_eq!(range(json!(443)).unwrap(), PortRange { from: 443, to: 443 });
    assert_eq!(
        range(json!("443")).unwrap(),
        PortRange { from: 443, to: 443 }
    );
    assert_eq!(
        range(json!("1000-2000")).unwrap(),
        PortRange {
            from: 1000,
            to: 2000
        }
    );
    for bad in [
        json!(0),
        json!(70000),
        json!("2000-1000"),
        json!("env:PORT"),
        json!(null),
    ] {
        assert!(range(bad).is_err());
    }
}

#[test]
fn what_is_not_hot_applied() {
    let base = vmess_inbound();
    let with = |pointer: &str, value: Value| {
        let mut inbound = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        inbound.pointer_mut(parent).unwrap()[key] = value;
        inbound
    };
    let cases = [
        (
            Namespace::V2ray,
            with("/protocol", json!("wireguard")),
            "wireguard",
        ),
        (Namespace::Xray, with("/tag", json!("")), "tag"),
        (
            Namespace::V2ray,
            with("/streamSettings/network", json!("kcp")),
            "kcp",
        ),
        (
            Namespace::V2ray,
            with("/streamSettings/network", json!("raw")),
            "raw",
        ),
        (
            Namespace::Xray,
            with("/streamSettings/security", json!("reality")),
            "reality",
        ),
        (
            Namespace::V2ray,
            with("/streamSettings/sockopt", json!({"tcpFastOpen": true})),
            "sockopt",
        ),
        (
            Namespace::V2ray,
            with(
                "/streamSettings/tcpSettings/header",
                json!({"type": "http"}),
            ),
            "header",
        ),
        (
            Namespace::V2ray,
            with("/sniffing/routeOnly", json!(true)),
            "routeOnly",
        ),
        (
            Namespace::V2ray,
            with("/allocate", json!({"strategy": "random"})),
            "allocate",
        ),
        (
            Namespace::V2ray,
            with("/listen", json!("/run/xray.sock")),
            "listen",
        ),
        (
            Namespace::Xray,
            with("/settings/disableInsecureEncryption", json!(true)),
            "disableInsecureEncryption",
        ),
        (
            Namespace::V2ray,
            with("/settings/clients/0/reverse", json!({"tag": "r"})),
            "reverse",
        ),
    ];
    for (ns, inbound, needle) in cases {
        let reason = unsupported_reason(ns, &inbound);
        assert!(reason.contains(needle), "{needle}: {reason}");
    }

    let vless =
        |settings: Value| json!({"tag": "t", "port": 1, "protocol": "vless", "settings": settings});
    for settings in [
        json!({"clients": [], "decryption": "mlkem768x25519plus.native.0rtt.xyz"}),
        json!({"clients": [], "decryption": "none", "fallbacks": [{"dest": 80}]}),
        json!({"clients": [{"email": "no-id"}]}),
    ] {
        unsupported_reason(Namespace::Xray, &vless(settings));
    }
    let ss = |settings: Value| json!({"tag": "t", "port": 1, "protocol": "shadowsocks", "settings": settings});
    for settings in [
        json!({"method": "2022-blake3-aes-128-gcm", "password": "k"}),
        json!({"method": "aes-128-gcm", "clients": [{"password": "a"}, {"password": "b"}]}),
        json!({"method": "xchacha20-poly1305", "password": "k"}),
    ] {
        unsupported_reason(Namespace::V2ray, &ss(settings));
    }
}

#[test]
fn default_valued_extra_keys_are_fine() {
    let mut inbound = vmess_inbound();
    inbound["allocate"] = Value::Null;
    inbound["streamSettings"]["sockopt"] = json!({"tcpFastOpen": false, "mark": 0});
    inbound["streamSettings"]["kcpSettings"] = json!({});
    inbound["sniffing"]["metadataOnly"] = json!(false);
    inbound_config(Namespace::V2ray, &inbound).unwrap();
}
