//! What the rendered inbounds and users look like, beyond the golden files: the rules stated
//! one at a time so a failure names the rule.

use serde_json::{json, Value};

use super::cases::{self, sniffing, stream, Certs, SS_KEYS, UUIDS};
use super::{combo, settings, spec, whole_state};
use crate::xray::*;

fn xray(spec: &crate::state::InboundSpec) -> Value {
    render_inbound(spec, Flavour::Xray).expect("renders on Xray")
}

fn v2ray(spec: &crate::state::InboundSpec) -> Value {
    render_inbound(spec, Flavour::V2ray).expect("renders on v2ray")
}

#[test]
fn every_combination_3x_ui_offers_renders_on_xray_and_is_at_most_unsupported_on_v2ray() {
    for case in cases::all(&Certs::placeholder()) {
        let name = format!("{}/{}", case.group, case.key);
        render_inbound(&case.spec, Flavour::Xray).unwrap_or_else(|e| panic!("{name}: {e}"));
        match render_inbound(&case.spec, Flavour::V2ray) {
            Ok(_) | Err(RenderError::Unsupported { .. }) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn clients_keep_only_what_the_core_reads() {
    for flavour in [Flavour::Xray, Flavour::V2ray] {
        let inbound = render_inbound(&combo("vmess", "tcp", "none"), flavour).unwrap();
        assert_eq!(
            inbound["settings"]["clients"],
            json!([
                {"id": UUIDS[0], "email": "alice", "level": 0},
                {"id": UUIDS[1], "email": "bob", "level": 0},
            ]),
            "{flavour}"
        );
    }
}

#[test]
fn vision_udp443_becomes_vision() {
    let spec = spec(
        "vless",
        settings("vless", "xtls-rprx-vision"),
        stream("tcp", "reality", &Certs::placeholder()),
    );
    let clients = &xray(&spec)["settings"]["clients"];
    assert_eq!(clients[0]["flow"], "xtls-rprx-vision");
    assert_eq!(clients[1]["flow"], "xtls-rprx-vision");
    // An empty flow is left out rather than written as "".
    let plain = xray(&combo("vless", "ws", "tls"));
    assert!(plain["settings"]["clients"][0].get("flow").is_none());
}

#[test]
fn panel_only_keys_are_stripped() {
    let inbound = xray(&combo("vless", "tcp", "reality"));
    assert!(inbound["settings"].get("encryption").is_none());
    assert_eq!(inbound["settings"]["decryption"], "none");
    let stream = &inbound["streamSettings"];
    assert!(stream.get("externalProxy").is_none());
    assert!(stream["realitySettings"].get("settings").is_none());
    assert_eq!(
        stream["realitySettings"]["shortIds"],
        json!(["6ba85179e30d4fc2", ""])
    );

    let tls = xray(&combo("trojan", "ws", "tls"));
    assert!(tls["streamSettings"]["tlsSettings"]
        .get("settings")
        .is_none());
    assert_eq!(tls["streamSettings"]["tlsSettings"]["minVersion"], "1.2");
}

#[test]
fn listen_defaults_to_all_addresses() {
    let mut spec = combo("vmess", "tcp", "none");
    assert_eq!(xray(&spec)["listen"], "0.0.0.0");
    spec.listen = "10.1.2.3".into();
    assert_eq!(v2ray(&spec)["listen"], "10.1.2.3");
}

#[test]
fn empty_sniffing_and_stream_are_left_out() {
    let mut bare = spec("vmess", settings("vmess", ""), Value::Null);
    for empty in [Value::Null, json!({})] {
        bare.sniffing = empty;
        let inbound = xray(&bare);
        assert!(inbound.get("sniffing").is_none());
        assert_eq!(inbound["streamSettings"], json!({"network": "tcp"}));
    }
    let socks = spec("socks", json!({"auth": "noauth"}), Value::Null);
    assert!(v2ray(&socks).get("streamSettings").is_none());
}

#[test]
fn v2ray_sniffs_only_http_and_tls() {
    let mut spec = combo("vmess", "tcp", "none");
    spec.sniffing = sniffing();
    assert_eq!(xray(&spec)["sniffing"], sniffing());
    assert_eq!(
        v2ray(&spec)["sniffing"],
        json!({"enabled": true, "destOverride": ["http", "tls"]})
    );
}

#[test]
fn raw_is_tcp_on_v2ray() {
    let mut raw = stream("tcp", "none", &Certs::placeholder());
    raw["network"] = "raw".into();
    let settings = raw.as_object_mut().unwrap().remove("tcpSettings").unwrap();
    raw["rawSettings"] = settings;
    let spec = spec("vmess", super::settings("vmess", ""), raw);
    let on_xray = &xray(&spec)["streamSettings"];
    assert_eq!(on_xray["network"], "raw");
    assert!(on_xray.get("rawSettings").is_some());
    let on_v2ray = &v2ray(&spec)["streamSettings"];
    assert_eq!(on_v2ray["network"], "tcp");
    assert_eq!(on_v2ray["tcpSettings"], json!({"header": {"type": "none"}}));
}

#[test]
fn websocket_host_becomes_a_header_on_v2ray() {
    let ws = &v2ray(&combo("vmess", "ws", "none"))["streamSettings"]["wsSettings"];
    assert_eq!(
        ws,
        &json!({"path": "/ws", "headers": {"Host": "cdn.example.com"}})
    );
}

#[test]
fn proxy_protocol_moves_from_sockopt_to_the_transport_on_v2ray() {
    let mut stream = stream("ws", "none", &Certs::placeholder());
    stream["sockopt"] =
        json!({"acceptProxyProtocol": true, "tcpFastOpen": true, "tcpcongestion": "bbr"});
    let spec = spec("vmess", settings("vmess", ""), stream);
    let out = &v2ray(&spec)["streamSettings"];
    assert_eq!(out["wsSettings"]["acceptProxyProtocol"], true);
    assert_eq!(out["sockopt"], json!({"tcpFastOpen": true}));
    assert_eq!(
        xray(&spec)["streamSettings"]["sockopt"]["tcpcongestion"],
        "bbr"
    );
}

#[test]
fn tunnel_is_dokodemo_door_on_v2ray() {
    let tunnel =
        json!({"rewriteAddress": "1.1.1.1", "rewritePort": 53, "network": "udp", "portMap": {}});
    let spec = spec("tunnel", tunnel, Value::Null);
    let on_xray = xray(&spec);
    assert_eq!(on_xray["protocol"], "tunnel");
    assert_eq!(on_xray["settings"]["rewriteAddress"], "1.1.1.1");
    let on_v2ray = v2ray(&spec);
    assert_eq!(on_v2ray["protocol"], "dokodemo-door");
    assert_eq!(
        on_v2ray["settings"],
        json!({"address": "1.1.1.1", "port": 53, "network": "udp"})
    );
}

#[test]
fn hysteria2_is_hysteria_version_2() {
    let spec = spec(
        "hysteria2",
        json!({"clients": [{"email": "alice", "auth": "s3cret", "enable": true}]}),
        stream("hysteria", "tls", &Certs::placeholder()),
    );
    let inbound = xray(&spec);
    assert_eq!(inbound["protocol"], "hysteria");
    assert_eq!(inbound["settings"]["version"], 2);
    assert_eq!(inbound["streamSettings"]["network"], "hysteria");
    // Without a network in the input, Hysteria still gets its own transport.
    let mut bare = spec.clone();
    bare.stream_settings
        .as_object_mut()
        .unwrap()
        .remove("network");
    assert_eq!(xray(&bare)["streamSettings"]["network"], "hysteria");
}

#[test]
fn wireguard_peers_lose_their_private_keys() {
    let settings = json!({
        "secretKey": "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I=",
        "peers": [{"privateKey": "peer-secret", "publicKey": "peer-public", "allowedIPs": ["10.0.0.2/32"]}],
    });
    let inbound = xray(&spec("wireguard", settings, Value::Null));
    assert_eq!(
        inbound["settings"]["peers"],
        json!([{"publicKey": "peer-public", "allowedIPs": ["10.0.0.2/32"]}])
    );
}

#[test]
fn shadowsocks_on_v2ray_is_single_user() {
    let inbound = v2ray(&combo("shadowsocks", "tcp", "none"));
    assert_eq!(
        inbound["settings"],
        json!({
            "method": "aes-256-gcm", "password": "ss-pass-alice", "email": "alice",
            "level": 0, "network": "tcp,udp",
        })
    );
    // With no client, the inbound's own method and password serve.
    let mut keyed = settings("shadowsocks", "");
    keyed["clients"] = json!([]);
    keyed["password"] = "server-pass".into();
    let inbound = v2ray(&spec("shadowsocks", keyed, Value::Null));
    assert_eq!(
        inbound["settings"],
        json!({"method": "aes-256-gcm", "password": "server-pass", "level": 0, "network": "tcp,udp"})
    );
}

#[test]
fn shadowsocks_without_clients_serves_the_inbound_key_on_xray() {
    let mut keyed = settings("shadowsocks", "");
    keyed["clients"] = json!([]);
    keyed["password"] = "server-pass".into();
    let inbound = xray(&spec("shadowsocks", keyed, Value::Null));
    // An empty `clients` list would leave Xray with no users at all.
    assert_eq!(
        inbound["settings"],
        json!({"method": "aes-256-gcm", "password": "server-pass", "network": "tcp,udp", "ivCheck": false})
    );
}

#[test]
fn shadowsocks_clients_take_the_inbound_method_when_they_have_none() {
    let mut settings = settings("shadowsocks", "");
    settings["method"] = "chacha20-ietf-poly1305".into();
    settings["clients"][0]["method"] = "".into();
    let spec = spec("shadowsocks", settings, Value::Null);
    let client = &xray(&spec)["settings"]["clients"][0];
    assert_eq!(client["method"], "chacha20-ietf-poly1305");
    assert_eq!(v2ray(&spec)["settings"]["method"], "chacha20-ietf-poly1305");
}

#[test]
fn users_are_the_enabled_clients() {
    let certs = Certs::placeholder();
    let vision = spec(
        "vless",
        settings("vless", "xtls-rprx-vision"),
        stream("tcp", "tls", &certs),
    );
    let cases: Vec<(crate::state::InboundSpec, Vec<Account>)> = vec![
        (
            combo("vmess", "ws", "none"),
            vec![
                Account::Vmess {
                    id: UUIDS[0].into(),
                },
                Account::Vmess {
                    id: UUIDS[1].into(),
                },
            ],
        ),
        (
            vision,
            vec![
                Account::Vless {
                    id: UUIDS[0].into(),
                    flow: "xtls-rprx-vision".into(),
                },
                Account::Vless {
                    id: UUIDS[1].into(),
                    flow: "xtls-rprx-vision".into(),
                },
            ],
        ),
        (
            combo("trojan", "tcp", "tls"),
            vec![
                Account::Trojan {
                    password: "trojan-pass-alice".into(),
                },
                Account::Trojan {
                    password: "trojan-pass-bob".into(),
                },
            ],
        ),
        (
            combo("shadowsocks", "tcp", "none"),
            vec![Account::Shadowsocks {
                password: "ss-pass-alice".into(),
                method: "aes-256-gcm".into(),
            }],
        ),
        (
            combo("shadowsocks-2022", "tcp", "none"),
            vec![
                Account::Shadowsocks2022 {
                    key: SS_KEYS[0].into(),
                },
                Account::Shadowsocks2022 {
                    key: SS_KEYS[1].into(),
                },
            ],
        ),
        (
            spec(
                "hysteria",
                settings("hysteria", ""),
                stream("hysteria", "tls", &certs),
            ),
            vec![
                Account::Hysteria {
                    auth: "hy-auth-alice".into(),
                },
                Account::Hysteria {
                    auth: "hy-auth-bob".into(),
                },
            ],
        ),
        (
            spec("socks", json!({"auth": "noauth"}), Value::Null),
            vec![],
        ),
    ];
    for (spec, accounts) in cases {
        let got = users(&spec, Flavour::Xray).unwrap_or_else(|e| panic!("{e}"));
        let expected: Vec<User> = accounts
            .into_iter()
            .zip(["alice", "bob"])
            .map(|(account, email)| User {
                email: email.into(),
                account,
            })
            .collect();
        assert_eq!(got, expected, "{}", spec.protocol);
    }
}

#[test]
fn users_on_v2ray_fail_like_rendering() {
    let reality = combo("vless", "tcp", "reality");
    assert_eq!(
        users(&reality, Flavour::V2ray),
        Err(render_inbound(&reality, Flavour::V2ray).unwrap_err())
    );
    let plain = users(&combo("vless", "tcp", "tls"), Flavour::V2ray).unwrap();
    assert!(plain
        .iter()
        .all(|u| matches!(&u.account, Account::Vless { flow, .. } if flow.is_empty())));
}

#[test]
fn disabled_inbounds_and_clients_are_absent() {
    let config = render(&whole_state(), &RenderOptions::new(Flavour::Xray)).unwrap();
    let text = config.to_string();
    let tags: Vec<&str> = config["inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["api", "in-443", "in-8080", "in-8388"]);
    assert!(!text.contains("carol"), "the disabled client is gone");
    for panel_key in [
        "limitIp",
        "totalGB",
        "expiryTime",
        "tgId",
        "subId",
        "comment",
        "externalProxy",
    ] {
        assert!(!text.contains(panel_key), "{panel_key} is gone");
    }
}

#[test]
fn a_disabled_inbound_is_not_even_checked() {
    let mut state = whole_state();
    state.inbounds[3].protocol = "mtproto".into();
    render(&state, &RenderOptions::new(Flavour::V2ray)).expect("renders");
    // render_inbound itself renders regardless of `enable`.
    assert!(render_inbound(&state.inbounds[3], Flavour::Xray).is_err());
}

#[test]
fn fallbacks_certificates_and_socket_options_reach_both_flavours() {
    let pem = json!({"certificate": ["-----BEGIN CERTIFICATE-----", "MIIB", "-----END CERTIFICATE-----"],
        "key": ["-----BEGIN PRIVATE KEY-----", "MIIE", "-----END PRIVATE KEY-----"],
        "usage": "encipherment", "ocspStapling": 3600});
    let spec = spec(
        "vless",
        json!({"decryption": "none", "clients": [{"id": UUIDS[0], "email": "alice"}],
            "fallbacks": [{"dest": 8080, "xver": 1}, {"alpn": "h2", "path": "/ws", "dest": "127.0.0.1:2001"}]}),
        json!({"network": "tcp", "security": "tls",
            "tlsSettings": {"serverName": "a.test", "minVersion": "1.2", "rejectUnknownSni": true,
                "certificates": [{"certificateFile": "/a.pem", "keyFile": "/a.key"}, pem],
                "settings": {"fingerprint": "chrome", "allowInsecure": true}},
            "sockopt": {"tcpFastOpen": 256, "mark": 7, "tcpKeepAliveIdle": 300, "tcpcongestion": "bbr"}}),
    );
    let x = xray(&spec);
    assert_eq!(x["settings"]["fallbacks"], spec.settings["fallbacks"]);
    assert_eq!(
        x["streamSettings"]["sockopt"],
        spec.stream_settings["sockopt"]
    );
    let tls = &x["streamSettings"]["tlsSettings"];
    assert_eq!(
        tls["certificates"],
        spec.stream_settings["tlsSettings"]["certificates"]
    );
    assert_eq!(
        (&tls["minVersion"], &tls["rejectUnknownSni"]),
        (&json!("1.2"), &json!(true))
    );
    assert!(
        tls.get("settings").is_none(),
        "share-link options stay in the panel"
    );

    let v = v2ray(&spec);
    assert_eq!(v["settings"]["fallbacks"], spec.settings["fallbacks"]);
    // v2ray's switch, and only the options it has.
    assert_eq!(
        v["streamSettings"]["sockopt"],
        json!({"tcpFastOpen": true, "mark": 7})
    );
    let tls = &v["streamSettings"]["tlsSettings"];
    assert_eq!(
        tls["certificates"],
        json!([{"certificateFile": "/a.pem", "keyFile": "/a.key"},
            {"certificate": pem["certificate"], "key": pem["key"], "usage": "encipherment"}])
    );
    assert!(tls.get("minVersion").is_none() && tls.get("settings").is_none());
}

#[test]
fn hysteria_options_pass_through_on_xray() {
    let stream = json!({"network": "hysteria", "security": "tls",
        "tlsSettings": {"certificates": [{"certificateFile": "/a.pem", "keyFile": "/a.key"}]},
        "hysteriaSettings": {"version": 2, "udpIdleTimeout": 120,
            "masquerade": {"type": "proxy", "url": "https://example.com", "rewriteHost": true}},
        "finalmask": {"quicParams": {"congestion": "brutal", "brutalUp": "100 mbps"},
            "udp": [{"type": "salamander", "settings": {"password": "s3cret"}}]}});
    let spec = spec("hysteria", json!({"version": 2}), stream.clone());
    let x = xray(&spec);
    assert_eq!(
        x["streamSettings"]["hysteriaSettings"],
        stream["hysteriaSettings"]
    );
    assert_eq!(x["streamSettings"]["finalmask"], stream["finalmask"]);
}
