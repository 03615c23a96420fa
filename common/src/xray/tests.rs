//! Tests of the renderer: shared fixtures here, one file per concern below.

mod cases;
mod core;
mod golden;
mod invalid;
mod rendering;
mod template;
mod unsupported;

use serde_json::{json, Value};

use super::*;
use cases::{settings, stream, Certs};

/// An inbound tagged `in-443` on port 443.
fn spec(protocol: &str, settings: Value, stream: Value) -> InboundSpec {
    InboundSpec {
        id: 1,
        tag: "in-443".into(),
        enable: true,
        listen: String::new(),
        port: 443,
        protocol: protocol.into(),
        settings,
        stream_settings: stream,
        sniffing: Value::Null,
    }
}

/// A 3x-ui-shaped inbound from the golden table's pieces.
fn combo(name: &str, transport: &str, security: &str) -> InboundSpec {
    let protocol = name.strip_suffix("-2022").unwrap_or(name);
    spec(
        protocol,
        settings(name, ""),
        stream(transport, security, &Certs::placeholder()),
    )
}

/// Asserts Xray renders `spec` and v2ray refuses it; returns v2ray's message.
#[track_caller]
fn v2ray_refuses(spec: &InboundSpec, feature: &str) -> String {
    render_inbound(spec, Flavour::Xray).expect("Xray renders it");
    let error = render_inbound(spec, Flavour::V2ray).expect_err("v2ray refuses it");
    match &error {
        RenderError::Unsupported {
            tag,
            feature: got,
            flavour: Flavour::V2ray,
        } => {
            assert_eq!(tag, &spec.tag);
            assert_eq!(got, feature);
        }
        other => panic!("expected Unsupported({feature}), got {other:?}"),
    }
    assert_eq!(users(spec, Flavour::V2ray), Err(error.clone()));
    error.to_string()
}

/// Asserts both flavours refuse `spec` as invalid; returns the message.
#[track_caller]
fn invalid(spec: &InboundSpec) -> String {
    let xray = render_inbound(spec, Flavour::Xray).expect_err("Xray refuses it");
    let v2ray = render_inbound(spec, Flavour::V2ray).expect_err("v2ray refuses it");
    assert_eq!(xray, v2ray, "both flavours give the same reason");
    match xray {
        RenderError::Invalid { message, .. } => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Three enabled inbounds a v2ray core can run too, a disabled one, and clients with panel
/// keys, a disabled one among them.
fn whole_state_with(certs: &Certs) -> DesiredState {
    let inbound =
        |id: i64, port: u16, protocol: &str, settings: Value, stream: Value| InboundSpec {
            id,
            tag: format!("in-{port}"),
            enable: true,
            listen: String::new(),
            port,
            protocol: protocol.into(),
            settings,
            stream_settings: stream,
            sniffing: cases::sniffing(),
        };
    let mut disabled = inbound(
        4,
        2053,
        "trojan",
        settings("trojan", ""),
        stream("grpc", "reality", certs),
    );
    disabled.enable = false;
    DesiredState {
        revision: 42,
        inbounds: vec![
            inbound(
                1,
                443,
                "vless",
                settings("vless", ""),
                stream("tcp", "tls", certs),
            ),
            inbound(
                2,
                8080,
                "vmess",
                settings("vmess", ""),
                stream("ws", "none", certs),
            ),
            inbound(
                3,
                8388,
                "shadowsocks",
                settings("shadowsocks", ""),
                stream("tcp", "none", certs),
            ),
            disabled,
        ],
        ..DesiredState::default()
    }
}

fn whole_state() -> DesiredState {
    whole_state_with(&Certs::placeholder())
}

/// An operator template with its own API inbound, a SOCKS inbound, outbounds, rules, policy.
fn template_state() -> DesiredState {
    let template = json!({
        "log": {"access": "none", "error": "", "loglevel": "info"},
        "api": {"tag": "api", "services": ["StatsService"]},
        "inbounds": [
            {"tag": "api", "listen": "127.0.0.1", "port": 10085, "protocol": "dokodemo-door",
             "settings": {"address": "127.0.0.1"}},
            {"tag": "tpl-socks", "listen": "127.0.0.1", "port": 1080, "protocol": "socks",
             "settings": {"auth": "noauth", "udp": false}},
        ],
        "outbounds": [
            {"tag": "direct", "protocol": "freedom", "settings": {}},
            {"tag": "blocked", "protocol": "blackhole", "settings": {}},
        ],
        "routing": {"domainStrategy": "IPIfNonMatch", "rules": [
            {"type": "field", "domain": ["domain:ads.example"], "outboundTag": "blocked"},
            {"type": "field", "inboundTag": ["api"], "outboundTag": "api"},
        ]},
        "policy": {"levels": {"0": {"handshake": 4, "statsUserUplink": false}}},
        "metrics": {"tag": "metrics_out", "listen": "127.0.0.1:11111"},
    });
    DesiredState {
        inbounds: vec![combo("vmess", "tcp", "none")],
        template: Some(template),
        ..DesiredState::default()
    }
}
