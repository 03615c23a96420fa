//! Golden tests of every link format and parameter combination, the Clash and JSON
//! documents, remarks and the `Subscription-Userinfo` sums.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::remark::{remark, Parts, Standing};
use super::settings::{normalise_path, SubSettings};
use super::share::{endpoints, resolve, Credentials, Endpoint, ForceTls, Share, ShareInput};
use super::{clash, host_without_port, json as client_json, url, user_info};
use crate::store::ClientRow;

const UUID: &str = "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50";
const REALITY_PRIVATE: &str = "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I";
const WG_SECRET: &str = "cO6IeKd6Ed0VHHmqsuqLHYtWjzd8ClOBP3FfCEdGc3I=";

fn client() -> Credentials {
    Credentials {
        email: "alice@example".into(),
        uuid: UUID.into(),
        password: "pa ss/word+1".into(),
        auth: "hy-auth".into(),
        flow: "xtls-rprx-vision".into(),
        security: String::new(),
    }
}

fn tls() -> Value {
    json!({"serverName": "vpn.example.com", "alpn": ["h2", "http/1.1"],
           "certificates": [{"certificateFile": "/c.pem", "keyFile": "/k.pem"}],
           "settings": {"fingerprint": "chrome", "allowInsecure": false}})
}

fn reality(public_key: bool) -> Value {
    let mut settings = json!({"fingerprint": "firefox", "spiderX": "/probe"});
    if public_key {
        settings["publicKey"] = "PUBKEY-from-settings".into();
    }
    json!({"target": "www.example.org:443", "serverNames": ["www.example.org", "example.org"],
           "privateKey": REALITY_PRIVATE, "shortIds": ["ab12", "cd"], "settings": settings})
}

fn stream(network: &str, net_settings: Value, security: &str) -> Value {
    let mut s = json!({"network": network, "security": security});
    let key = match network {
        "tcp" => "tcpSettings",
        "kcp" => "kcpSettings",
        "ws" => "wsSettings",
        "grpc" => "grpcSettings",
        "httpupgrade" => "httpupgradeSettings",
        "xhttp" => "xhttpSettings",
        _ => "hysteriaSettings",
    };
    if !net_settings.is_null() {
        s[key] = net_settings;
    }
    match security {
        "tls" => s["tlsSettings"] = tls(),
        "reality" => s["realitySettings"] = reality(true),
        _ => {}
    }
    s
}

/// Every case: (name, protocol, settings, streamSettings).
fn cases() -> Vec<(&'static str, &'static str, Value, Value)> {
    let http_header = json!({"header": {"type": "http", "request": {"path": ["/index.html", "/b"],
        "headers": {"Host": ["cdn.example.com", "b.example"]}}}});
    let kcp =
        json!({"mtu": 1350, "tti": 20, "header": {"type": "wechat-video"}, "seed": "kcp-seed"});
    let ws = json!({"path": "/ws?ed=2048", "host": "ws.example.com"});
    let ws_header_host = json!({"path": "/ws", "headers": {"Host": "hdr.example.com"}});
    let grpc =
        json!({"serviceName": "grpc-svc", "authority": "grpc.example.com", "multiMode": true});
    let upgrade = json!({"path": "/up", "host": "up.example.com"});
    let xhttp = json!({"path": "/xh", "host": "xh.example.com", "mode": "packet-up",
        "xPaddingBytes": "100-1000"});
    let vless = json!({"decryption": "none"});
    let mut out = vec![
        (
            "vless tcp none",
            "vless",
            vless.clone(),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "vless tcp http-header",
            "vless",
            vless.clone(),
            stream("tcp", http_header.clone(), "none"),
        ),
        (
            "vless tcp tls vision",
            "vless",
            vless.clone(),
            stream("tcp", Value::Null, "tls"),
        ),
        (
            "vless tcp reality vision",
            "vless",
            vless.clone(),
            stream("tcp", Value::Null, "reality"),
        ),
        (
            "vless ws tls",
            "vless",
            vless.clone(),
            stream("ws", ws.clone(), "tls"),
        ),
        (
            "vless ws header-host",
            "vless",
            vless.clone(),
            stream("ws", ws_header_host.clone(), "none"),
        ),
        (
            "vless grpc multi tls",
            "vless",
            vless.clone(),
            stream("grpc", grpc.clone(), "tls"),
        ),
        (
            "vless httpupgrade",
            "vless",
            vless.clone(),
            stream("httpupgrade", upgrade.clone(), "none"),
        ),
        (
            "vless xhttp reality",
            "vless",
            vless.clone(),
            stream("xhttp", xhttp.clone(), "reality"),
        ),
        (
            "vless kcp",
            "vless",
            vless.clone(),
            stream("kcp", kcp.clone(), "none"),
        ),
        (
            "vless encryption",
            "vless",
            json!({"decryption": "mlkem768x25519plus.native.600s.server", "encryption": "mlkem768x25519plus.native.0rtt.client"}),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "vmess tcp",
            "vmess",
            json!({}),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "vmess tcp http-header",
            "vmess",
            json!({}),
            stream("tcp", http_header.clone(), "none"),
        ),
        (
            "vmess ws tls",
            "vmess",
            json!({}),
            stream("ws", ws.clone(), "tls"),
        ),
        (
            "vmess grpc",
            "vmess",
            json!({}),
            stream("grpc", grpc.clone(), "none"),
        ),
        (
            "vmess kcp",
            "vmess",
            json!({}),
            stream("kcp", kcp.clone(), "none"),
        ),
        (
            "vmess httpupgrade",
            "vmess",
            json!({}),
            stream("httpupgrade", upgrade.clone(), "none"),
        ),
        (
            "vmess xhttp tls",
            "vmess",
            json!({}),
            stream("xhttp", xhttp.clone(), "tls"),
        ),
        (
            "trojan tcp tls",
            "trojan",
            json!({}),
            stream("tcp", Value::Null, "tls"),
        ),
        (
            "trojan tcp reality vision",
            "trojan",
            json!({}),
            stream("tcp", Value::Null, "reality"),
        ),
        (
            "trojan ws",
            "trojan",
            json!({}),
            stream("ws", ws.clone(), "none"),
        ),
        (
            "trojan grpc tls",
            "trojan",
            json!({}),
            stream("grpc", grpc.clone(), "tls"),
        ),
        (
            "ss aes-256-gcm",
            "shadowsocks",
            json!({"method": "aes-256-gcm", "network": "tcp,udp"}),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "ss 2022 aes-128 multi-user",
            "shadowsocks",
            json!({"method": "2022-blake3-aes-128-gcm", "password": "c2VydmVyLWtleS0xNmJ5dA=="}),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "ss 2022 chacha single",
            "shadowsocks",
            json!({"method": "2022-blake3-chacha20-poly1305", "password": "c2VydmVyLWtleS1vZi0zMi1ieXRlcy1mb3ItY2hhY2g="}),
            stream("tcp", Value::Null, "none"),
        ),
        (
            "ss ws tls",
            "shadowsocks",
            json!({"method": "chacha20-ietf-poly1305"}),
            stream("ws", ws.clone(), "tls"),
        ),
        (
            "hysteria2 tls salamander",
            "hysteria",
            json!({"version": 2}),
            {
                let mut s = stream("hysteria", json!({"version": 2}), "tls");
                s["tlsSettings"]["settings"]["allowInsecure"] = true.into();
                s["finalmask"] =
                    json!({"udp": [{"type": "salamander", "settings": {"password": "obfs-pw"}}]});
                s
            },
        ),
        (
            "hysteria2 protocol alias",
            "hysteria2",
            json!({}),
            stream("hysteria", Value::Null, "tls"),
        ),
        (
            "hysteria v1",
            "hysteria",
            json!({"version": 1}),
            stream("hysteria", Value::Null, "tls"),
        ),
        (
            "wireguard",
            "wireguard",
            json!({"mtu": 1420, "secretKey": WG_SECRET,
            "peers": [{"privateKey": "0BI3KU2KEzqyqPAO9PbrK8RbWrm2xT4HI4dpSbUP+GY=",
                "publicKey": "Cm8dM7cjz1ju6qMGF3rgQBkNwZUChW0sPjt3P+C+Q0s=",
                "preSharedKey": "psk+/=", "allowedIPs": ["10.0.0.2/32", "fd00::2/128"], "keepAlive": 25}]}),
            Value::Null,
        ),
    ];
    // REALITY without the panel's public key: derived from the private key.
    let mut derived = stream("tcp", Value::Null, "reality");
    derived["realitySettings"] = reality(false);
    out.push(("vless reality derived pbk", "vless", vless.clone(), derived));
    // Transport masking goes into `fm`.
    let mut masked = stream("tcp", Value::Null, "none");
    masked["finalmask"] =
        json!({"tcp": [{"type": "fragment", "settings": {"packets": "tlshello"}}]});
    out.push(("vless finalmask", "vless", vless, masked));
    out
}

fn share_of(protocol: &str, settings: &Value, stream: &Value, endpoint: &Endpoint) -> Share {
    let client = client();
    resolve(&ShareInput {
        protocol,
        settings,
        stream,
        client: &client,
        endpoint,
        remark: "in-1-ams 1-alice",
        peer: 0,
    })
    .unwrap_or_else(|| panic!("{protocol} is link-capable"))
}

fn endpoint() -> Endpoint {
    Endpoint {
        address: "203.0.113.7".into(),
        port: 443,
        force_tls: ForceTls::Same,
        remark: String::new(),
    }
}

/// `## name` then the link (and for VMess the decoded object) per case.
fn golden_text() -> String {
    let mut out = String::new();
    for (name, protocol, settings, stream) in cases() {
        let share = share_of(protocol, &settings, &stream, &endpoint());
        let link = url::link(&share);
        out.push_str(&format!("## {name}\n{link}\n"));
        if let Some(b64) = link.strip_prefix("vmess://") {
            let decoded = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
            out.push_str(&decoded);
            out.push('\n');
        }
    }
    // CDN fronting: one link per externalProxy entry, with its address, port and security.
    let mut fronted = stream(
        "ws",
        json!({"path": "/ws", "host": "ws.example.com"}),
        "tls",
    );
    fronted["externalProxy"] = json!([
        {"forceTls": "same", "dest": "cdn1.example.net", "port": 8443, "remark": "CF"},
        {"forceTls": "none", "dest": "cdn2.example.net", "port": "80", "remark": "plain"},
        {"forceTls": "tls", "dest": "2001:db8::1", "port": 443, "remark": ""},
    ]);
    let plain = stream("tcp", Value::Null, "none");
    for (name, protocol, stream) in [
        ("vless externalProxy", "vless", &fronted),
        ("vmess externalProxy", "vmess", &fronted),
        ("trojan externalProxy forceTls on plain", "trojan", &{
            let mut s = plain.clone();
            s["externalProxy"] = json!([{"forceTls": "tls", "dest": "front.example", "port": 443}]);
            s
        }),
    ] {
        for (i, e) in endpoints(stream, "203.0.113.7", 443).iter().enumerate() {
            let share = share_of(protocol, &json!({}), stream, e);
            out.push_str(&format!(
                "## {name} [{i}] {}\n{}\n",
                e.remark,
                url::link(&share)
            ));
        }
    }
    out
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/links/golden")
}

/// Compares with `golden/<file>`, or rewrites it under `XFLEET_UPDATE_GOLDEN=1`.
fn check_golden(file: &str, actual: &str) {
    let path = golden_dir().join(file);
    if std::env::var("XFLEET_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "{} differs (run `XFLEET_UPDATE_GOLDEN=1 cargo test -p xfleet-controller \
             subscription` and review the diff):\n{}",
            path.display(),
            diff.join("\n")
        );
    }
}

#[test]
fn every_link_matches_its_golden_file() {
    check_golden("links.txt", &golden_text());
}

#[test]
fn clash_and_json_match_their_golden_files() {
    let all: Vec<Share> = cases()
        .into_iter()
        .map(|(_, protocol, settings, stream)| share_of(protocol, &settings, &stream, &endpoint()))
        .collect();
    let refs: Vec<&Share> = all.iter().collect();
    let yaml = clash::document(&refs);
    check_golden("clash.yaml", &yaml);
    // Equal remarks become unique names, one proxy per share.
    assert_eq!(
        yaml.split("proxy-groups:")
            .next()
            .unwrap()
            .matches("\n  - ")
            .count(),
        all.len()
    );
    assert!(yaml.contains("\"name\": \"in-1-ams 1-alice 2\""), "{yaml}");
    let configs = client_json::document(&refs);
    check_golden(
        "json.json",
        &(serde_json::to_string_pretty(&configs).unwrap() + "\n"),
    );
    assert_eq!(configs.as_array().unwrap().len(), all.len());
    let one = client_json::document(&refs[..1]);
    assert_eq!(
        one["outbounds"][0]["tag"], "proxy",
        "a single config is an object"
    );
}

#[test]
fn link_details_that_clients_depend_on() {
    let e = endpoint();
    let tcp = stream("tcp", Value::Null, "none");
    // Vision only on TCP with TLS or REALITY; the UDP-443 variant is written as plain Vision.
    let ws_tls = stream("ws", json!({"path": "/"}), "tls");
    assert!(!url::link(&share_of("vless", &json!({}), &ws_tls, &e)).contains("flow="));
    assert!(!url::link(&share_of("vless", &json!({}), &tcp, &e)).contains("flow="));
    // 2022 multi-user keys are `server:user`; the single-key cipher only the server key.
    let ss = share_of(
        "shadowsocks",
        &json!({"method": "2022-blake3-aes-256-gcm", "password": "S"}),
        &tcp,
        &e,
    );
    let user = url::link(&ss);
    let userinfo = user
        .strip_prefix("ss://")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert_eq!(
        String::from_utf8(STANDARD.decode(userinfo).unwrap()).unwrap(),
        "2022-blake3-aes-256-gcm:S:pa ss/word+1"
    );
    // Protocols without share links.
    for protocol in ["socks", "mixed", "http", "tunnel", "dokodemo-door"] {
        let client = client();
        assert!(resolve(&ShareInput {
            protocol,
            settings: &json!({}),
            stream: &tcp,
            client: &client,
            endpoint: &e,
            remark: "",
            peer: 0,
        })
        .is_none());
    }
    // IPv6 addresses are bracketed; remarks are escaped.
    let v6 = Endpoint {
        address: "2001:db8::7".into(),
        ..endpoint()
    };
    let mut share = share_of("trojan", &json!({}), &tcp, &v6);
    share.remark = "Ams #1 / 🚀".into();
    assert_eq!(
        url::link(&share),
        "trojan://pa%20ss%2Fword%2B1@[2001:db8::7]:443?security=none&type=tcp#Ams%20%231%20%2F%20%F0%9F%9A%80"
    );
}

#[test]
fn remarks_follow_the_model_and_show_standing() {
    let parts = Parts {
        inbound: "in-1",
        server: "ams-1",
        email: "alice",
        extra: "CF",
    };
    let now = 1_700_000_000_000;
    let day = 86_400_000;
    let active = Standing {
        enabled: true,
        used: 1 << 30,
        total: 11 << 30,
        expiry_time: now + 3 * day + 4 * 3_600_000 + 60_000,
    };
    assert_eq!(
        remark("-iseo", &parts, &active, true, now),
        "in-1-ams-1-alice-CF-10.00GB📊-3D,4H⏳"
    );
    assert_eq!(
        remark("-iseo", &parts, &active, false, now),
        "in-1-ams-1-alice-CF"
    );
    // 3x-ui's default model gets the server after the inbound.
    assert_eq!(
        remark("-ieo", &parts, &active, false, now),
        "in-1-ams-1-alice-CF"
    );
    assert_eq!(remark("|oi", &parts, &active, false, now), "CF|in-1|ams-1");
    let disabled = Standing {
        enabled: false,
        ..active
    };
    assert_eq!(
        remark("-iseo", &parts, &disabled, false, now),
        "⛔️N/A-in-1-ams-1-alice-CF",
        "disabled is shown even without subShowInfo"
    );
    let later = |expiry_time| Standing {
        enabled: true,
        used: 0,
        total: 0,
        expiry_time,
    };
    let info = |s: Standing| remark("-i", &Parts { extra: "", ..parts }, &s, true, now);
    assert_eq!(info(later(0)), "in-1-ams-1", "unlimited, never expires");
    assert_eq!(
        info(later(-7 * day)),
        "in-1-ams-1-7D⏳",
        "starts at first use"
    );
    assert_eq!(info(later(now + 5 * 3_600_000)), "in-1-ams-1-5H⏳");
    assert_eq!(info(later(now + 2 * day)), "in-1-ams-1-2D⏳");
    assert_eq!(info(later(now + 90_000)), "in-1-ams-1-1M⏳");
}

fn row(total_bytes: i64, expiry_time: i64) -> ClientRow {
    ClientRow {
        id: 1,
        email: "a".into(),
        sub_id: "s".into(),
        uuid: String::new(),
        password: String::new(),
        auth: String::new(),
        flow: String::new(),
        limit_ip: 0,
        total_bytes,
        expiry_time,
        enable: 1,
        tg_id: 0,
        comment: String::new(),
        reset_days: 0,
        security: String::new(),
        created_at: 0,
        updated_at: 0,
    }
}

#[test]
fn userinfo_sums_clients_sharing_a_subscription() {
    let one = user_info(&[(row(100, 1_800_000_000_123), (5, 7))]);
    assert_eq!(
        one.header(),
        "upload=5; download=7; total=100; expire=1800000000"
    );
    let two = user_info(&[
        (row(100, 1_800_000_000_000), (5, 7)),
        (row(50, 1_800_000_000_000), (1, 2)),
    ]);
    assert_eq!(
        (two.upload, two.download, two.total, two.expire),
        (6, 9, 150, 1_800_000_000)
    );
    let mixed = user_info(&[
        (row(100, 1_800_000_000_000), (0, 0)),
        (row(0, 1_900_000_000_000), (0, 0)),
    ]);
    assert_eq!(
        (mixed.total, mixed.expire),
        (0, 0),
        "one unlimited, expiries differ"
    );
    let delayed = user_info(&[(row(0, -86_400_000), (0, 0))]);
    assert_eq!(delayed.expire, 0, "not started yet");
}

#[test]
fn settings_defaults_and_paths() {
    let defaults = SubSettings::from_map(&BTreeMap::new());
    assert_eq!(
        (
            defaults.port,
            defaults.path.as_str(),
            defaults.json_path.as_str(),
            defaults.clash_path.as_str()
        ),
        (2096, "/sub/", "/json/", "/clash/")
    );
    assert!(defaults.enable && defaults.encrypt && defaults.show_info);
    assert_eq!(defaults.updates, 12);
    assert_eq!(normalise_path("feed"), "/feed/");
    assert_eq!(normalise_path("/a/b/"), "/a/b/");
    let map: BTreeMap<String, String> = [
        ("subPath", "links"),
        ("subJsonEnable", "false"),
        ("subURI", "https://sub.example.com/s/"),
        ("subClashURI", "https://c.example.com/c"),
        ("subEncrypt", "false"),
        ("subPort", "8080"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let s = SubSettings::from_map(&map);
    assert!(!s.encrypt);
    let urls = s.urls("http://10.0.0.1:8080", "abc");
    assert_eq!(urls.links, "https://sub.example.com/s/abc");
    assert_eq!(urls.json, None);
    assert_eq!(urls.clash.as_deref(), Some("https://c.example.com/c/abc"));
    let plain = defaults.urls("http://h:2096", "abc");
    assert_eq!(plain.links, "http://h:2096/sub/abc");
    assert_eq!(plain.json.as_deref(), Some("http://h:2096/json/abc"));
    let config = crate::config::Config {
        sub_port: 9999,
        sub_listen: "::1".into(),
        ..Default::default()
    };
    assert_eq!(s.bind_address(&config), "[::1]:9999");
    assert_eq!(s.bind_address(&Default::default()), "0.0.0.0:8080");
}

#[test]
fn host_headers_lose_their_port() {
    assert_eq!(host_without_port("sub.example.com:2096"), "sub.example.com");
    assert_eq!(host_without_port("[2001:db8::1]:2096"), "2001:db8::1");
    assert_eq!(host_without_port("10.0.0.1"), "10.0.0.1");
}

#[test]
fn qr_codes_are_inline_svg_and_bounded() {
    let svg = super::qr::svg("vless://x@h:1#r").unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    assert!(matches!(
        super::qr::svg(&"x".repeat(super::qr::MAX_TEXT + 1)),
        Err(super::qr::QrError::TooLong(_))
    ));
}

#[test]
fn tls_files_errors_name_the_setting_the_file_and_the_reason() {
    let dir = crate::util::TempDir::new("subtls");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sub.example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = write("cert.pem", &cert.pem());
    let key_file = write("key.pem", &key.serialize_pem());
    let other_key = write(
        "other.pem",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let missing = dir.path().join("missing.pem").display().to_string();
    let settings = |cert: &str, key: &str| {
        let map: BTreeMap<String, String> = [("subCertFile", cert), ("subKeyFile", key)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let settings = SubSettings::from_map(&map);
        assert!(settings.tls(), "either file asks for TLS");
        settings
    };
    let error = |cert: &str, key: &str| {
        format!(
            "{:#}",
            settings(cert, key).server_tls().err().expect("refused")
        )
    };

    assert!(settings(&cert_file, &key_file).server_tls().is_ok());
    let e = error(&missing, &key_file);
    assert!(
        e.contains(&format!("subCertFile {missing}")) && e.contains("No such file"),
        "{e}"
    );
    let e = error(&cert_file, &missing);
    assert!(
        e.contains(&format!("subKeyFile {missing}")) && e.contains("No such file"),
        "{e}"
    );
    let e = error(&key_file, &key_file);
    assert!(
        e.contains(&format!(
            "subCertFile {key_file} is not a PEM certificate chain"
        )),
        "{e}"
    );
    let e = error(&cert_file, &other_key);
    assert!(e.contains("the key does not match the certificate"), "{e}");
    let e = error(&cert_file, "");
    assert!(e.contains("must be set together"), "{e}");
    let e = error("", &key_file);
    assert!(e.contains("must be set together"), "{e}");
}
