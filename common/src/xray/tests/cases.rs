//! Every protocol × transport × security combination 3x-ui offers, as 3x-ui stores it (panel
//! keys, a disabled client, `externalProxy`, panel-only TLS/REALITY `settings` included).

use serde_json::{json, Value};

use crate::state::InboundSpec;

pub const UUIDS: [&str; 3] = [
    "b831381d-6324-4d53-ad4f-8cda48b30811",
    "5783a3e7-e373-51cd-8642-c83782b807c5",
    "e6a2cc7b-0b6c-4b8e-9f0e-2b7c1f2a9d40",
];
/// 32-byte base64 keys for Shadowsocks 2022 (server, then users).
pub const SS_KEYS: [&str; 3] = [
    "qHQ9bqlFXbL6SJWZR7YP3tNUBmgMN/vsO+m2lVMhDHY=",
    "xb+DWkWy9ONBLJnGnh8Hgt0Di9+sY7c5ugLm0Fo8S3U=",
    "nUM0YxR8xKJmfoT6HEqOrRfnVa+qvGXTtq4SV2b0K7Q=",
];

/// Where the TLS combinations point; the real-core test swaps in a generated pair.
#[derive(Debug, Clone)]
pub struct Certs {
    pub cert: String,
    pub key: String,
}

impl Certs {
    pub fn placeholder() -> Self {
        Self {
            cert: "/etc/xfleet/tls/fullchain.pem".into(),
            key: "/etc/xfleet/tls/privkey.pem".into(),
        }
    }
}

/// One golden entry: `group` names the file, `key` the entry (`vless+ws+tls`).
pub struct Case {
    pub group: &'static str,
    pub key: String,
    pub spec: InboundSpec,
}

const TRANSPORTS: [&str; 7] = [
    "tcp",
    "tcp-http",
    "kcp",
    "ws",
    "grpc",
    "httpupgrade",
    "xhttp",
];

/// The combinations 3x-ui's inbound form allows (its `canEnableTls`, `canEnableReality`,
/// `canEnableStream`), plus the Vision flow where it applies.
pub fn all(certs: &Certs) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add =
        |group: &'static str, key: String, protocol: &str, settings: Value, stream: Value| {
            let port = 20000 + cases.len() as u16;
            cases.push(Case {
                group,
                key,
                spec: InboundSpec {
                    id: i64::from(port),
                    tag: format!("in-{port}"),
                    enable: true,
                    listen: String::new(),
                    port,
                    protocol: protocol.into(),
                    settings,
                    stream_settings: stream,
                    sniffing: sniffing(),
                },
            });
        };

    for (group, name, protocol) in [
        ("vmess", "vmess", "vmess"),
        ("vless", "vless", "vless"),
        ("trojan", "trojan", "trojan"),
        ("shadowsocks", "shadowsocks", "shadowsocks"),
        ("shadowsocks", "shadowsocks-2022", "shadowsocks"),
    ] {
        for transport in TRANSPORTS {
            for security in ["none", "tls", "reality"] {
                let allowed = match security {
                    "tls" => transport != "kcp",
                    "reality" => {
                        matches!(protocol, "vless" | "trojan")
                            && matches!(transport, "tcp" | "grpc" | "xhttp")
                    }
                    _ => true,
                };
                if !allowed {
                    continue;
                }
                let key = format!("{name}+{transport}+{security}");
                add(
                    group,
                    key,
                    protocol,
                    settings(name, ""),
                    stream(transport, security, certs),
                );
            }
        }
    }
    for security in ["tls", "reality"] {
        let settings = settings("vless", "xtls-rprx-vision");
        let key = format!("vless+tcp+{security}+vision");
        add(
            "vless",
            key,
            "vless",
            settings,
            stream("tcp", security, certs),
        );
    }
    let plain = || stream("tcp", "none", certs);
    let socks_password = json!({
        "auth": "password", "accounts": [{"user": "u1", "pass": "p4ss"}], "udp": true, "ip": "127.0.0.1",
    });
    let socks_open = json!({"auth": "noauth", "accounts": [], "udp": false, "ip": "127.0.0.1"});
    add(
        "socks",
        "socks+password".into(),
        "socks",
        socks_password.clone(),
        plain(),
    );
    add("socks", "socks+noauth".into(), "socks", socks_open, plain());
    add(
        "mixed",
        "mixed+password".into(),
        "mixed",
        socks_password,
        plain(),
    );
    let http = json!({"accounts": [{"user": "u1", "pass": "p4ss"}], "allowTransparent": false});
    add("http", "http+accounts".into(), "http", http, plain());
    add(
        "http",
        "http+noauth".into(),
        "http",
        json!({"accounts": [], "allowTransparent": false}),
        plain(),
    );
    let tunnel = json!({
        "rewriteAddress": "1.1.1.1", "port": 53, "portMap": {}, "network": "tcp,udp", "followRedirect": false,
    });
    add("tunnel", "tunnel".into(), "tunnel", tunnel, Value::Null);
    let dokodemo =
        json!({"address": "8.8.8.8", "port": 53, "network": "udp", "followRedirect": false});
    add(
        "tunnel",
        "dokodemo-door".into(),
        "dokodemo-door",
        dokodemo,
        plain(),
    );
    let port_map = json!({
        "rewriteAddress": "10.0.0.5", "portMap": {"5353": "1.1.1.1:53"}, "network": "tcp,udp",
    });
    add(
        "tunnel",
        "tunnel+portmap".into(),
        "tunnel",
        port_map,
        Value::Null,
    );
    let wireguard = json!({
        "mtu": 1420,
        "secretKey": "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I=",
        "peers": [{
            "privateKey": "0BI3KU2KEzqyqPAO9PbrK8RbWrm2xT4HI4dpSbUP+GY=",
            "publicKey": "Cm8dM7cjz1ju6qMGF3rgQBkNwZUChW0sPjt3P+C+Q0s=",
            "preSharedKey": "",
            "allowedIPs": ["10.0.0.2/32"],
            "keepAlive": 0,
        }],
        "noKernelTun": false,
    });
    add(
        "wireguard",
        "wireguard".into(),
        "wireguard",
        wireguard,
        Value::Null,
    );
    for protocol in ["hysteria", "hysteria2"] {
        let key = format!("{protocol}+tls");
        add(
            "hysteria",
            key,
            protocol,
            settings("hysteria", ""),
            stream("hysteria", "tls", certs),
        );
    }
    // What the panel's form adds to a VLESS or Trojan inbound on RAW (TCP) with TLS: fallbacks,
    // a second certificate (pasted), TLS and socket options.
    for protocol in ["vless", "trojan"] {
        let mut settings = settings(protocol, "");
        settings["fallbacks"] = json!([
            {"dest": 8080, "xver": 0},
            {"alpn": "h2", "path": "/ws", "dest": "127.0.0.1:2001", "xver": 1},
            {"dest": "/run/web.sock"},
        ]);
        let mut stream = stream("tcp", "tls", certs);
        let tls = &mut stream["tlsSettings"];
        tls["minVersion"] = json!("1.2");
        tls["rejectUnknownSni"] = json!(false);
        let first = tls["certificates"][0].clone();
        let pasted = match (
            std::fs::read_to_string(&certs.cert),
            std::fs::read_to_string(&certs.key),
        ) {
            (Ok(cert), Ok(key)) => json!({"certificate": cert.lines().collect::<Vec<_>>(),
                "key": key.lines().collect::<Vec<_>>(), "ocspStapling": 3600}),
            _ => {
                json!({"certificateFile": certs.cert, "keyFile": certs.key, "usage": "encipherment"})
            }
        };
        tls["certificates"] = json!([first, pasted]);
        stream["sockopt"] =
            json!({"tcpFastOpen": 256, "tcpKeepAliveIdle": 300, "tcpcongestion": "bbr"});
        add(
            protocol,
            format!("{protocol}+tcp+tls+fallbacks"),
            protocol,
            settings,
            stream,
        );
    }
    cases
}

/// `settings` for a protocol with clients: two enabled, one disabled, all carrying 3x-ui's
/// panel keys. `flow` goes on the VLESS clients (the second in its legacy `-udp443` spelling).
pub fn settings(name: &str, flow: &str) -> Value {
    let clients: Vec<Value> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, email)| {
            let mut client = panel_client(email, i < 2);
            let own = match name {
                "vmess" => json!({"id": UUIDS[i], "security": "auto"}),
                "vless" if i == 1 && !flow.is_empty() => {
                    json!({"id": UUIDS[i], "flow": "xtls-rprx-vision-udp443"})
                }
                "vless" => json!({"id": UUIDS[i], "flow": flow}),
                "trojan" => json!({"password": format!("trojan-pass-{email}")}),
                "shadowsocks" => {
                    json!({"method": "aes-256-gcm", "password": format!("ss-pass-{email}")})
                }
                "shadowsocks-2022" => json!({"method": "", "password": SS_KEYS[i]}),
                "hysteria" => json!({"auth": format!("hy-auth-{email}")}),
                other => panic!("no clients for {other}"),
            };
            merge(&mut client, own);
            client
        })
        // Legacy Shadowsocks inbounds are single-user on v2ray: one enabled client.
        .filter(|c| name != "shadowsocks" || c["email"] != "bob")
        .collect();
    let mut settings = json!({"clients": clients});
    let extra = match name {
        "vless" => json!({"decryption": "none", "encryption": "none", "fallbacks": []}),
        "shadowsocks" => json!({
            "method": "aes-256-gcm", "password": SS_KEYS[0], "network": "tcp,udp", "ivCheck": false,
        }),
        "shadowsocks-2022" => json!({
            "method": "2022-blake3-aes-256-gcm", "password": SS_KEYS[0], "network": "tcp,udp", "ivCheck": false,
        }),
        "trojan" => json!({"fallbacks": []}),
        "hysteria" => json!({"version": 2}),
        _ => json!({}),
    };
    merge(&mut settings, extra);
    settings
}

/// A client as 3x-ui stores it before the protocol's own keys.
pub fn panel_client(email: &str, enable: bool) -> Value {
    json!({
        "email": email,
        "limitIp": 2,
        "totalGB": 107_374_182_400_u64,
        "expiryTime": 1_767_225_600_000_u64,
        "enable": enable,
        "tgId": 123_456_789,
        "subId": format!("sub{email}x9k2"),
        "comment": "family plan",
        "reset": 30,
        "created_at": 1_735_689_600_000_u64,
        "updated_at": 1_735_689_600_000_u64,
    })
}

/// `streamSettings` as 3x-ui writes them for one transport and security.
pub fn stream(transport: &str, security: &str, certs: &Certs) -> Value {
    let mut stream = match transport {
        "tcp" => json!({"network": "tcp", "tcpSettings": {
            "acceptProxyProtocol": false, "header": {"type": "none"},
        }}),
        "tcp-http" => json!({"network": "tcp", "tcpSettings": {
            "acceptProxyProtocol": false,
            "header": {
                "type": "http",
                "request": {
                    "version": "1.1", "method": "GET", "path": ["/"],
                    "headers": {"Host": ["www.example.com"]},
                },
                "response": {"version": "1.1", "status": "200", "reason": "OK", "headers": {}},
            },
        }}),
        "kcp" => json!({"network": "kcp", "kcpSettings": {
            "mtu": 1350, "tti": 20, "uplinkCapacity": 5, "downlinkCapacity": 20,
            "congestion": false, "readBufferSize": 2, "writeBufferSize": 2,
            "header": {"type": "none"}, "seed": "Zq8tWfYJ3x",
        }}),
        "ws" => json!({"network": "ws", "wsSettings": {
            "acceptProxyProtocol": false, "path": "/ws", "host": "cdn.example.com",
            "headers": {}, "heartbeatPeriod": 0,
        }}),
        "grpc" => json!({"network": "grpc", "grpcSettings": {
            "serviceName": "grpc-svc", "authority": "", "multiMode": false,
        }}),
        "httpupgrade" => json!({"network": "httpupgrade", "httpupgradeSettings": {
            "acceptProxyProtocol": false, "path": "/up", "host": "cdn.example.com", "headers": {},
        }}),
        "xhttp" => json!({"network": "xhttp", "xhttpSettings": {
            "path": "/xh", "host": "", "headers": {}, "scMaxBufferedPosts": 30,
            "scMaxEachPostBytes": "1000000", "noSSEHeader": false, "xPaddingBytes": "100-1000",
            "mode": "auto",
        }}),
        "hysteria" => json!({"network": "hysteria", "hysteriaSettings": {
            "version": 2, "udpIdleTimeout": 60,
        }}),
        other => panic!("no transport {other}"),
    };
    let alpn = if transport == "hysteria" {
        json!(["h3"])
    } else {
        json!(["h2", "http/1.1"])
    };
    let security = match security {
        "none" => json!({"security": "none"}),
        "tls" => json!({"security": "tls", "tlsSettings": {
            "serverName": "vpn.example.com", "minVersion": "1.2", "maxVersion": "1.3",
            "cipherSuites": "", "rejectUnknownSni": false, "disableSystemRoot": false,
            "enableSessionResumption": false,
            "certificates": [{
                "certificateFile": certs.cert, "keyFile": certs.key,
                "oneTimeLoading": false, "usage": "encipherment", "buildChain": false,
            }],
            "alpn": alpn,
            "settings": {"allowInsecure": false, "fingerprint": "chrome"},
        }}),
        "reality" => json!({"security": "reality", "realitySettings": {
            "show": false, "xver": 0, "target": "www.microsoft.com:443",
            "serverNames": ["www.microsoft.com"],
            "privateKey": "YOd4Tul6yH9oZ6m5y7HoKSgmLk3bTMaYEdsnCBHSq0U",
            "minClientVer": "", "maxClientVer": "", "maxTimediff": 0,
            "shortIds": ["6ba85179e30d4fc2", ""],
            "settings": {
                "publicKey": "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw",
                "fingerprint": "chrome", "serverName": "", "spiderX": "/",
            },
        }}),
        other => panic!("no security {other}"),
    };
    merge(&mut stream, security);
    merge(
        &mut stream,
        json!({"externalProxy": [{"forceTls": "same", "dest": "cdn.example.com", "port": 443, "remark": ""}]}),
    );
    stream
}

/// 3x-ui's default sniffing block.
pub fn sniffing() -> Value {
    json!({
        "enabled": true, "destOverride": ["http", "tls", "quic", "fakedns"],
        "metadataOnly": false, "routeOnly": false,
    })
}

/// Shallow merge of `extra`'s keys into `target`.
pub fn merge(target: &mut Value, extra: Value) {
    let (Value::Object(target), Value::Object(extra)) = (target, extra) else {
        panic!("merge takes objects");
    };
    target.extend(extra);
}
