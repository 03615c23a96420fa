//! Full client configs (`/json/<subId>`): one per link, after 3x-ui's `sub/default.json`
//! — local SOCKS on 10808 and HTTP on 10809, the proxy outbound, direct and block. Only keys
//! both Xray and v2ray 4.x read are used (SOCKS rather than Xray's `mixed`, the WebSocket
//! Host as a header), so the configs of protocols and transports v2ray has run there too.

use serde_json::{json, Map, Value};

use super::share::{Kind, Security, Share};

pub const SOCKS_PORT: u16 = 10808;
pub const HTTP_PORT: u16 = 10809;

/// The configs for these shares: an object for one, an array for several (as 3x-ui).
pub fn document(shares: &[&Share]) -> Value {
    let mut configs: Vec<Value> = shares.iter().map(|s| config(s)).collect();
    if configs.len() == 1 {
        configs.remove(0)
    } else {
        Value::Array(configs)
    }
}

pub fn config(share: &Share) -> Value {
    json!({
        "remarks": share.remark,
        "log": {"loglevel": "warning"},
        "dns": {"servers": ["8.8.8.8", "1.1.1.1"]},
        "inbounds": [
            {"tag": "socks", "listen": "127.0.0.1", "port": SOCKS_PORT, "protocol": "socks",
             "settings": {"auth": "noauth", "udp": true}},
            {"tag": "http", "listen": "127.0.0.1", "port": HTTP_PORT, "protocol": "http",
             "settings": {}},
        ],
        "outbounds": [
            outbound(share),
            {"tag": "direct", "protocol": "freedom", "settings": {}},
            {"tag": "block", "protocol": "blackhole", "settings": {}},
        ],
        "routing": {
            "domainStrategy": "AsIs",
            "rules": [{"type": "field", "network": "tcp,udp", "outboundTag": "proxy"}],
        },
    })
}

/// The proxy outbound (tag `proxy`).
pub fn outbound(share: &Share) -> Value {
    let address = &share.address;
    let port = share.port;
    let (protocol, settings) = match &share.kind {
        Kind::Vmess { security } => (
            "vmess",
            json!({"vnext": [{"address": address, "port": port,
                "users": [{"id": share.secret, "alterId": 0, "security": security}]}]}),
        ),
        Kind::Vless { encryption } => {
            let mut user = json!({"id": share.secret, "encryption": encryption});
            if !share.flow.is_empty() {
                user["flow"] = share.flow.clone().into();
            }
            (
                "vless",
                json!({"vnext": [{"address": address, "port": port, "users": [user]}]}),
            )
        }
        Kind::Trojan => {
            let mut server = json!({"address": address, "port": port, "password": share.secret});
            if !share.flow.is_empty() {
                server["flow"] = share.flow.clone().into();
            }
            ("trojan", json!({"servers": [server]}))
        }
        Kind::Shadowsocks { method, password } => (
            "shadowsocks",
            json!({"servers": [{"address": address, "port": port, "method": method,
                "password": password}]}),
        ),
        Kind::Hysteria { version } => (
            "hysteria",
            json!({"version": version, "address": address, "port": port}),
        ),
        Kind::Wireguard {
            public_key,
            pre_shared_key,
            addresses,
            mtu,
            keep_alive,
        } => {
            let mut peer = json!({"publicKey": public_key,
                "endpoint": format!("{}:{port}", super::url::host(address))});
            if !pre_shared_key.is_empty() {
                peer["preSharedKey"] = pre_shared_key.clone().into();
            }
            if *keep_alive > 0 {
                peer["keepAlive"] = (*keep_alive).into();
            }
            let mut settings =
                json!({"secretKey": share.secret, "address": addresses, "peers": [peer]});
            if *mtu > 0 {
                settings["mtu"] = (*mtu).into();
            }
            return json!({"tag": "proxy", "protocol": "wireguard", "settings": settings});
        }
    };
    json!({"tag": "proxy", "protocol": protocol, "settings": settings,
           "streamSettings": stream(share)})
}

fn stream(share: &Share) -> Value {
    let t = &share.transport;
    let mut s = Map::new();
    s.insert("network".into(), t.network.clone().into());
    match t.network.as_str() {
        "tcp" if t.header_type == "http" => {
            let mut request = json!({"path": [t.path]});
            if !t.host.is_empty() {
                request["headers"] = json!({"Host": [t.host]});
            }
            s.insert(
                "tcpSettings".into(),
                json!({"header": {"type": "http", "request": request}}),
            );
        }
        "kcp" => {
            let mut kcp = json!({"header": {"type": t.header_type}});
            if !t.seed.is_empty() {
                kcp["seed"] = t.seed.clone().into();
            }
            if let Some(mtu) = t.mtu {
                kcp["mtu"] = mtu.into();
            }
            if let Some(tti) = t.tti {
                kcp["tti"] = tti.into();
            }
            s.insert("kcpSettings".into(), kcp);
        }
        "ws" => {
            let mut ws = json!({"path": t.path});
            if !t.host.is_empty() {
                ws["headers"] = json!({"Host": t.host});
            }
            s.insert("wsSettings".into(), ws);
        }
        "httpupgrade" => {
            s.insert(
                "httpupgradeSettings".into(),
                json!({"path": t.path, "host": t.host}),
            );
        }
        "xhttp" => {
            let mut x = json!({"path": t.path, "host": t.host, "mode": t.mode});
            if !t.x_padding_bytes.is_empty() {
                x["xPaddingBytes"] = t.x_padding_bytes.clone().into();
            }
            s.insert("xhttpSettings".into(), x);
        }
        "grpc" => {
            let mut g = json!({"serviceName": t.service_name, "multiMode": t.multi_mode});
            if !t.authority.is_empty() {
                g["authority"] = t.authority.clone().into();
            }
            s.insert("grpcSettings".into(), g);
        }
        "hysteria" => {
            let version = match share.kind {
                Kind::Hysteria { version } => version,
                _ => 2,
            };
            s.insert(
                "hysteriaSettings".into(),
                json!({"version": version, "auth": share.secret}),
            );
        }
        _ => {}
    }
    match &share.security {
        Security::None => {}
        Security::Tls {
            sni,
            alpn,
            fingerprint,
            allow_insecure,
        } => {
            s.insert("security".into(), "tls".into());
            let mut tls = Map::new();
            if !sni.is_empty() {
                tls.insert("serverName".into(), sni.clone().into());
            }
            if !alpn.is_empty() {
                tls.insert("alpn".into(), json!(alpn));
            }
            if !fingerprint.is_empty() {
                tls.insert("fingerprint".into(), fingerprint.clone().into());
            }
            if *allow_insecure {
                tls.insert("allowInsecure".into(), true.into());
            }
            s.insert("tlsSettings".into(), Value::Object(tls));
        }
        Security::Reality {
            sni,
            public_key,
            short_id,
            spider_x,
            fingerprint,
            mldsa65_verify,
        } => {
            s.insert("security".into(), "reality".into());
            let mut r = json!({"serverName": sni, "publicKey": public_key, "shortId": short_id,
                "fingerprint": if fingerprint.is_empty() { "chrome" } else { fingerprint }});
            if !spider_x.is_empty() {
                r["spiderX"] = spider_x.clone().into();
            }
            if !mldsa65_verify.is_empty() {
                r["mldsa65Verify"] = mldsa65_verify.clone().into();
            }
            s.insert("realitySettings".into(), r);
        }
    }
    if !share.finalmask.is_empty() {
        if let Ok(mask) = serde_json::from_str::<Value>(&share.finalmask) {
            s.insert("finalmask".into(), mask);
        }
    }
    Value::Object(s)
}
