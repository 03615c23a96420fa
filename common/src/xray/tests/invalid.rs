//! What no core can run: refused as `Invalid` on both flavours, with the same message.

use serde_json::{json, Value};

use super::cases::{settings, stream, Certs, SS_KEYS};
use super::{invalid, spec, template_state, whole_state};
use crate::xray::*;

#[test]
fn unknown_protocols_and_shapes_are_invalid() {
    let message = invalid(&spec("mtproto", json!({}), Value::Null));
    assert_eq!(message, "unknown protocol `mtproto`");
    assert_eq!(
        invalid(&spec("vmess", json!([]), Value::Null)),
        "`settings` must be an object"
    );
    assert_eq!(
        invalid(&spec("vmess", json!({"clients": {}}), Value::Null)),
        "`settings.clients` must be a list"
    );
    assert_eq!(
        invalid(&spec("vmess", json!({"clients": ["alice"]}), Value::Null)),
        "client #1 is not an object"
    );
    assert_eq!(
        invalid(&spec("vmess", json!({}), json!("tcp"))),
        "`streamSettings` must be an object"
    );
    let mut sniffing = spec("vmess", json!({}), Value::Null);
    sniffing.sniffing = json!(true);
    assert_eq!(invalid(&sniffing), "`sniffing` must be an object");
}

#[test]
fn a_tag_and_a_port_are_required() {
    let mut untagged = spec("vmess", json!({}), Value::Null);
    untagged.tag = String::new();
    untagged.id = 7;
    assert_eq!(
        render_inbound(&untagged, Flavour::Xray)
            .unwrap_err()
            .to_string(),
        "inbound `#7`: an inbound needs a tag"
    );

    let mut zero = spec("vmess", json!({}), Value::Null);
    zero.port = 0;
    assert_eq!(
        invalid(&zero),
        "port 0 cannot be listened on; pick a port from 1 to 65535"
    );
    // Except on a Unix socket, where 0 is what the cores expect.
    zero.listen = "/run/xray/vmess.sock".into();
    render_inbound(&zero, Flavour::Xray).expect("socket inbound renders");
}

#[test]
fn clients_need_their_credentials_and_unique_emails() {
    let mut no_id = settings("vless", "");
    no_id["clients"][1].as_object_mut().unwrap().remove("id");
    assert_eq!(
        invalid(&spec("vless", no_id, Value::Null)),
        "client `bob` has no id"
    );

    let mut no_password = settings("trojan", "");
    no_password["clients"][0]["password"] = "".into();
    assert_eq!(
        invalid(&spec("trojan", no_password, Value::Null)),
        "client `alice` has no password"
    );

    let mut no_email = settings("vmess", "");
    no_email["clients"][0]
        .as_object_mut()
        .unwrap()
        .remove("email");
    assert_eq!(
        invalid(&spec("vmess", no_email, Value::Null)),
        "client #1 has no email"
    );

    // The cores compare emails without regard to case.
    let mut twice = settings("vmess", "");
    twice["clients"][1]["email"] = "Alice".into();
    assert_eq!(
        invalid(&spec("vmess", twice, Value::Null)),
        "two clients have the email `Alice`"
    );

    let mut long_id = settings("vmess", "");
    long_id["clients"][0]["id"] = "this-is-not-a-uuid-and-too-long-to-map".into();
    assert_eq!(
        invalid(&spec("vmess", long_id, Value::Null)),
        "client `alice` has id `this-is-not-a-uuid-and-too-long-to-map`, which is neither a \
         UUID nor 1 to 30 characters"
    );

    let mut stats_breaking = settings("vmess", "");
    stats_breaking["clients"][0]["email"] = "a>>>b".into();
    assert_eq!(
        invalid(&spec("vmess", stats_breaking, Value::Null)),
        "client email `a>>>b` must not contain `>>>`"
    );
}

#[test]
fn a_disabled_client_with_a_duplicate_email_does_not_count() {
    let mut twice = settings("vmess", "");
    twice["clients"][2]["email"] = "alice".into();
    render_inbound(&spec("vmess", twice, Value::Null), Flavour::V2ray).expect("renders");
}

#[test]
fn reality_combinations_are_checked_on_both_flavours() {
    let certs = Certs::placeholder();
    let message = invalid(&spec(
        "vless",
        settings("vless", ""),
        stream("ws", "reality", &certs),
    ));
    assert_eq!(
        message,
        "REALITY works only with VLESS or Trojan over RAW (TCP), gRPC or XHTTP, not VLESS over \
         WebSocket"
    );
    let message = invalid(&spec(
        "vmess",
        settings("vmess", ""),
        stream("tcp", "reality", &certs),
    ));
    assert!(message.ends_with("not VMess over RAW (TCP)"), "{message}");

    let mut keyless = stream("tcp", "reality", &certs);
    keyless["realitySettings"]["privateKey"] = "".into();
    assert_eq!(
        invalid(&spec("vless", settings("vless", ""), keyless)),
        "REALITY needs `realitySettings.privateKey`"
    );
    let mut nameless = stream("tcp", "reality", &certs);
    nameless["realitySettings"]["serverNames"] = json!([]);
    assert_eq!(
        invalid(&spec("vless", settings("vless", ""), nameless)),
        "REALITY needs `realitySettings.serverNames`"
    );
    let mut targetless = stream("tcp", "reality", &certs);
    targetless["realitySettings"]
        .as_object_mut()
        .unwrap()
        .remove("target");
    assert!(invalid(&spec("vless", settings("vless", ""), targetless.clone())).contains("target"));
    // Older 3x-ui calls it `dest`.
    targetless["realitySettings"]["dest"] = "www.microsoft.com:443".into();
    render_inbound(
        &spec("vless", settings("vless", ""), targetless),
        Flavour::Xray,
    )
    .expect("dest is accepted");
}

#[test]
fn vision_combinations_are_checked_on_both_flavours() {
    let certs = Certs::placeholder();
    let vision = || settings("vless", "xtls-rprx-vision");
    assert_eq!(
        invalid(&spec("vless", vision(), stream("ws", "tls", &certs))),
        "XTLS Vision flow needs VLESS over RAW (TCP) with TLS or REALITY, not WebSocket with TLS"
    );
    assert_eq!(
        invalid(&spec("vless", vision(), stream("tcp", "none", &certs))),
        "XTLS Vision flow needs VLESS over RAW (TCP) with TLS or REALITY, not RAW (TCP) with no \
         security"
    );
    let mut trojan = settings("trojan", "");
    trojan["clients"][0]["flow"] = "xtls-rprx-vision".into();
    assert_eq!(
        invalid(&spec("trojan", trojan, stream("tcp", "tls", &certs))),
        "client `alice` has flow `xtls-rprx-vision`, but XTLS Vision flow is only for VLESS"
    );
    let mut direct = settings("vless", "");
    direct["clients"][0]["flow"] = "xtls-rprx-direct".into();
    assert_eq!(
        invalid(&spec("vless", direct, stream("tcp", "tls", &certs))),
        "client `alice` has flow `xtls-rprx-direct`; the only flow is `xtls-rprx-vision` (XTLS \
         Vision)"
    );
}

#[test]
fn transports_and_security_must_be_known_and_fit_the_protocol() {
    let certs = Certs::placeholder();
    let mut quic = stream("tcp", "none", &certs);
    quic["network"] = "quic".into();
    assert!(invalid(&spec("vmess", settings("vmess", ""), quic))
        .starts_with("unknown transport `quic`"));
    let mut xtls = stream("tcp", "none", &certs);
    xtls["security"] = "xtls".into();
    assert!(invalid(&spec("vless", settings("vless", ""), xtls)).contains("was removed"));
    let mut odd = stream("tcp", "none", &certs);
    odd["security"] = "ssl".into();
    assert_eq!(
        invalid(&spec("vmess", settings("vmess", ""), odd)),
        "unknown security `ssl`"
    );

    let socks = json!({"auth": "noauth"});
    assert_eq!(
        invalid(&spec("socks", socks, stream("ws", "none", &certs))),
        "SOCKS inbounds take no transport or security settings"
    );
    let hysteria = spec(
        "hysteria",
        settings("hysteria", ""),
        stream("hysteria", "none", &certs),
    );
    assert_eq!(invalid(&hysteria), "Hysteria runs over QUIC and needs TLS");
    assert_eq!(
        invalid(&spec(
            "vmess",
            settings("vmess", ""),
            stream("hysteria", "tls", &certs)
        )),
        "the `hysteria` transport is only for the Hysteria protocol"
    );
}

#[test]
fn tls_needs_a_certificate() {
    let certs = Certs::placeholder();
    let mut bare = stream("tcp", "tls", &certs);
    bare["tlsSettings"]["certificates"] = json!([]);
    assert_eq!(
        invalid(&spec("vmess", settings("vmess", ""), bare)),
        "TLS needs a certificate in `tlsSettings.certificates`"
    );
    let mut keyless = stream("tcp", "tls", &certs);
    keyless["tlsSettings"]["certificates"] = json!([{"certificateFile": "/etc/ssl/a.pem"}]);
    assert!(invalid(&spec("vmess", settings("vmess", ""), keyless)).contains("keyFile"));
    let mut inline = stream("tcp", "tls", &certs);
    inline["tlsSettings"]["certificates"] = json!([{"certificate": ["-----BEGIN CERTIFICATE-----"], "key": ["-----BEGIN PRIVATE KEY-----"]}]);
    render_inbound(
        &spec("vmess", settings("vmess", ""), inline),
        Flavour::V2ray,
    )
    .expect("inline certificates are fine");
}

#[test]
fn shadowsocks_keys_and_methods_are_checked() {
    let mut unknown = settings("shadowsocks", "");
    unknown["method"] = "rc4-md5".into();
    assert_eq!(
        invalid(&spec("shadowsocks", unknown, Value::Null)),
        "unknown Shadowsocks method `rc4-md5`"
    );

    let mut bad_server_key = settings("shadowsocks-2022", "");
    bad_server_key["password"] = "not-base64".into();
    assert!(invalid(&spec("shadowsocks", bad_server_key, Value::Null))
        .starts_with("2022-blake3-aes-256-gcm needs a 32-byte base64 server key"));

    let mut short_user_key = settings("shadowsocks-2022", "");
    short_user_key["method"] = "2022-blake3-aes-128-gcm".into();
    short_user_key["password"] = "AAAAAAAAAAAAAAAAAAAAAA==".into();
    assert!(invalid(&spec("shadowsocks", short_user_key, Value::Null))
        .starts_with("client `alice` needs a 16-byte base64 key"));

    let mut chacha = settings("shadowsocks-2022", "");
    chacha["method"] = "2022-blake3-chacha20-poly1305".into();
    assert!(
        invalid(&spec("shadowsocks", chacha.clone(), Value::Null)).contains("cannot have clients")
    );
    chacha["clients"] = json!([]);
    let single = render_inbound(&spec("shadowsocks", chacha, Value::Null), Flavour::Xray).unwrap();
    assert_eq!(single["settings"]["password"], SS_KEYS[0]);
    assert!(single["settings"].get("clients").is_none());

    let mut lonely = settings("shadowsocks", "");
    lonely["clients"] = json!([]);
    lonely.as_object_mut().unwrap().remove("password");
    assert_eq!(
        invalid(&spec("shadowsocks", lonely, Value::Null)),
        "Shadowsocks with no clients needs `settings.password`"
    );
}

#[test]
fn wireguard_needs_keys() {
    assert_eq!(
        invalid(&spec("wireguard", json!({"peers": []}), Value::Null)),
        "WireGuard needs `settings.secretKey`"
    );
    let peerless = json!({"secretKey": "k", "peers": [{"allowedIPs": ["10.0.0.2/32"]}]});
    assert_eq!(
        invalid(&spec("wireguard", peerless, Value::Null)),
        "every WireGuard peer needs a `publicKey`"
    );
}

#[test]
fn tags_must_be_unique_and_not_api() {
    let mut state = whole_state();
    state.inbounds[1].tag = "in-443".into();
    let error = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `in-443`: two inbounds have this tag; tags must be unique"
    );

    let mut state = whole_state();
    state.inbounds[0].tag = "api".into();
    let error = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `api`: the tag `api` is reserved for the core's API inbound"
    );

    let mut state = template_state();
    state.inbounds[0].tag = "tpl-socks".into();
    let error = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `tpl-socks`: the core template already has an inbound with this tag"
    );
}

#[test]
fn the_api_port_is_not_for_inbounds() {
    let mut state = whole_state();
    state.inbounds[1].port = 62789;
    let error = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `in-8080`: port 62789 is taken by the core's API inbound"
    );
    // On a public address it does not collide with the loopback API.
    state.inbounds[1].listen = "203.0.113.7".into();
    render(&state, &RenderOptions::new(Flavour::Xray)).expect("renders");
}
