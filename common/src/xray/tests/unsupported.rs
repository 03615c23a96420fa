//! What a v2ray 4.34 core lacks: refused as `Unsupported`, naming the feature, while Xray
//! renders the same inbound.

use serde_json::{json, Value};

use super::cases::{merge, panel_client, settings, stream, Certs};
use super::{combo, spec, v2ray_refuses, whole_state};
use crate::xray::*;

#[test]
fn reality_is_refused_on_v2ray_with_a_plain_message() {
    let message = v2ray_refuses(&combo("vless", "tcp", "reality"), "REALITY");
    assert_eq!(
        message,
        "inbound `in-443`: REALITY is not available on a v2ray core"
    );
}

#[test]
fn vision_flow_is_refused_on_v2ray() {
    let spec = spec(
        "vless",
        settings("vless", "xtls-rprx-vision"),
        stream("tcp", "tls", &Certs::placeholder()),
    );
    v2ray_refuses(&spec, "the XTLS Vision flow");
}

#[test]
fn newer_transports_are_refused_on_v2ray() {
    v2ray_refuses(&combo("vmess", "grpc", "tls"), "the gRPC transport");
    v2ray_refuses(
        &combo("vmess", "httpupgrade", "none"),
        "the HTTPUpgrade transport",
    );
    v2ray_refuses(&combo("trojan", "xhttp", "tls"), "the XHTTP transport");
}

#[test]
fn shadowsocks_2022_and_xchacha_are_refused_on_v2ray() {
    v2ray_refuses(
        &combo("shadowsocks-2022", "tcp", "none"),
        "Shadowsocks 2022",
    );
    let mut xchacha = settings("shadowsocks", "");
    xchacha["method"] = "xchacha20-ietf-poly1305".into();
    xchacha["clients"][0]["method"] = "xchacha20-ietf-poly1305".into();
    v2ray_refuses(
        &spec("shadowsocks", xchacha, Value::Null),
        "the Shadowsocks cipher `xchacha20-ietf-poly1305`",
    );
}

#[test]
fn shadowsocks_with_several_clients_is_refused_on_v2ray() {
    let mut two = settings("shadowsocks", "");
    let mut second = panel_client("dave", true);
    merge(
        &mut second,
        json!({"method": "aes-256-gcm", "password": "dave-pass"}),
    );
    two["clients"].as_array_mut().unwrap().push(second);
    v2ray_refuses(
        &spec("shadowsocks", two, Value::Null),
        "Shadowsocks with more than one client",
    );
}

#[test]
fn protocols_v2ray_lacks_are_refused() {
    let certs = Certs::placeholder();
    let hysteria = spec(
        "hysteria",
        settings("hysteria", ""),
        stream("hysteria", "tls", &certs),
    );
    v2ray_refuses(&hysteria, "Hysteria");
    let wireguard =
        json!({"secretKey": "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I=", "peers": []});
    v2ray_refuses(
        &spec("wireguard", wireguard, Value::Null),
        "the WireGuard inbound",
    );
    let mixed = json!({"auth": "noauth", "udp": true});
    v2ray_refuses(
        &spec("mixed", mixed, Value::Null),
        "the mixed (SOCKS + HTTP) protocol",
    );
}

#[test]
fn vless_extras_are_refused_on_v2ray() {
    let mut encrypted = settings("vless", "");
    encrypted["decryption"] = "mlkem768x25519plus.native.600s.aGVsbG8".into();
    v2ray_refuses(
        &spec("vless", encrypted, Value::Null),
        "VLESS encryption (`decryption`)",
    );

    let mut reverse = settings("vless", "");
    reverse["clients"][0]["reverse"] = json!({"tag": "r-alice"});
    v2ray_refuses(
        &spec("vless", reverse, Value::Null),
        "the VLESS reverse proxy (client `reverse`)",
    );

    let mut by_name = settings("trojan", "");
    by_name["fallbacks"] = json!([{"name": "blog.example.com", "dest": 8080}]);
    v2ray_refuses(
        &spec("trojan", by_name, Value::Null),
        "a fallback chosen by SNI (`name`)",
    );
}

#[test]
fn ids_that_are_not_uuids_are_refused_on_v2ray() {
    let mut short = settings("vmess", "");
    short["clients"][1]["id"] = "bob-secret".into();
    v2ray_refuses(
        &spec("vmess", short, Value::Null),
        "a client id that is not a UUID (client `bob`)",
    );
}

#[test]
fn tunnel_port_map_and_finalmask_are_refused_on_v2ray() {
    let port_map = json!({"rewriteAddress": "10.0.0.5", "portMap": {"5353": "1.1.1.1:53"}});
    v2ray_refuses(
        &spec("tunnel", port_map, Value::Null),
        "tunnel port mapping (`portMap`)",
    );

    let mut masked = stream("kcp", "none", &Certs::placeholder());
    masked["finalmask"] = json!({"udp": [{"type": "salamander", "settings": {"password": "x"}}]});
    v2ray_refuses(
        &spec("vmess", settings("vmess", ""), masked),
        "transport masking (`finalmask`)",
    );
}

#[test]
fn hysteria_1_is_refused_on_xray() {
    let mut v1 = settings("hysteria", "");
    v1["version"] = 1.into();
    let spec = spec(
        "hysteria",
        v1,
        stream("hysteria", "tls", &Certs::placeholder()),
    );
    let error = render_inbound(&spec, Flavour::Xray).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `in-443`: Hysteria 1 is not available on an Xray core"
    );
}

#[test]
fn the_first_problem_in_state_order_is_reported() {
    let mut state = whole_state();
    state.inbounds[0].stream_settings = stream("tcp", "reality", &Certs::placeholder());
    state.inbounds[2].settings = settings("shadowsocks-2022", "");
    let error = render(&state, &RenderOptions::new(Flavour::V2ray)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "inbound `in-443`: REALITY is not available on a v2ray core"
    );
}
