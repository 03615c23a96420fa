use serde_json::{json, Value};

use super::super::Problems;
use super::check;

/// The fields `check` complains about, with their messages.
fn problems(protocol: &str, settings: Value, stream: Value) -> Vec<(String, String)> {
    let mut p = Problems::default();
    check(protocol, &settings, &stream, &mut p);
    p.0.into_iter().map(|f| (f.field, f.message)).collect()
}

fn fields(protocol: &str, settings: Value, stream: Value) -> Vec<String> {
    problems(protocol, settings, stream)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

fn tcp_tls(certificates: Value) -> Value {
    json!({"network": "tcp", "security": "tls", "tlsSettings": {"certificates": certificates}})
}

const PEM_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";

fn files() -> Value {
    json!({"certificateFile": "/etc/ssl/a.pem", "keyFile": "/etc/ssl/a.key"})
}

#[test]
fn good_fallbacks_pass() {
    let settings = json!({"fallbacks": [
        {"dest": 80},
        {"dest": "8080", "xver": 1},
        {"name": "b.example", "alpn": "h2", "path": "/ws", "dest": "127.0.0.1:2001", "xver": 2},
        {"dest": "/run/web.sock"},
        {"dest": "@abstract"},
        {"dest": "[::1]:443"},
    ]});
    assert_eq!(
        fields("vless", settings.clone(), tcp_tls(json!([files()]))),
        Vec::<String>::new()
    );
    assert!(fields("trojan", settings, json!({"network": "raw"})).is_empty());
}

#[test]
fn each_bad_fallback_names_its_field() {
    let settings = json!({"fallbacks": [
        {"dest": ""},
        {"dest": 70000},
        {"dest": "example.com"},
        {"dest": 80, "xver": 3},
        {"dest": 80, "path": "ws"},
        {"xver": 1},
        "80",
    ]});
    let got = problems("vless", settings, tcp_tls(json!([files()])));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "settings.fallbacks[0].dest",
            "settings.fallbacks[1].dest",
            "settings.fallbacks[2].dest",
            "settings.fallbacks[3].xver",
            "settings.fallbacks[4].path",
            "settings.fallbacks[5].dest",
            "settings.fallbacks[6]",
        ]
    );
    assert!(got[0].1.contains("required"), "{}", got[0].1);
    assert!(got[2].1.contains("host:port"), "{}", got[2].1);
    assert!(got[3].1.contains("0"), "{}", got[3].1);
}

#[test]
fn fallbacks_need_vless_or_trojan() {
    let settings = json!({"fallbacks": [{"dest": 80}]});
    let got = problems("vmess", settings.clone(), json!({}));
    assert_eq!(got[0].0, "settings.fallbacks");
    assert!(got[0].1.contains("VLESS and Trojan"));
    // 3x-ui and both cores take them on other transports too: an import is not refused.
    assert!(fields("vless", settings, json!({"network": "ws"})).is_empty());
    // An empty list is the same as none, whatever the transport.
    assert!(fields("vmess", json!({"fallbacks": []}), json!({"network": "ws"})).is_empty());
}

#[test]
fn several_certificates_file_or_pem_pairs() {
    let pem = json!({"certificate": PEM_CERT.lines().collect::<Vec<_>>(), "key": PEM_KEY});
    let ok = json!([files(), pem, {"certificateFile": "/c.pem", "keyFile": "/k.pem",
        "usage": "encipherment", "ocspStapling": 3600, "oneTimeLoading": true, "buildChain": false}]);
    assert!(fields("vless", json!({}), tcp_tls(ok)).is_empty());

    let bad = json!([
        files(),
        {"certificateFile": "/c.pem"},
        {"certificate": PEM_CERT},
        {"certificate": "not pem", "key": PEM_KEY},
        {"certificateFile": "c.pem", "keyFile": "/k.pem", "certificate": PEM_CERT},
        {"certificateFile": "/c.pem", "keyFile": "/k.pem", "usage": "sign", "ocspStapling": -1},
        {},
    ]);
    let got = fields("vless", json!({}), tcp_tls(bad));
    let at = |i: usize, key: &str| format!("streamSettings.tlsSettings.certificates[{i}].{key}");
    assert_eq!(
        got,
        [
            at(1, "keyFile"),
            at(2, "key"),
            at(3, "certificate"),
            at(4, "certificate"),
            at(5, "usage"),
            at(5, "ocspStapling"),
            at(6, "certificateFile"),
            at(6, "keyFile"),
        ]
    );
}

#[test]
fn tls_without_certificates_is_the_list_error() {
    for certificates in [json!([]), Value::Null] {
        let got = problems("trojan", json!({}), tcp_tls(certificates));
        assert_eq!(got[0].0, "streamSettings.tlsSettings.certificates");
        assert!(got[0].1.contains("at least one certificate"));
    }
    // Only TLS needs them.
    assert!(fields(
        "trojan",
        json!({}),
        json!({"security": "none", "tlsSettings": {}})
    )
    .is_empty());
}

#[test]
fn tls_options() {
    let mut stream = tcp_tls(json!([files()]));
    stream["tlsSettings"]["minVersion"] = json!("1.2");
    stream["tlsSettings"]["maxVersion"] = json!("1.3");
    stream["tlsSettings"]["cipherSuites"] =
        json!("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:TLS_AES_128_GCM_SHA256");
    stream["tlsSettings"]["rejectUnknownSni"] = json!(true);
    stream["tlsSettings"]["settings"] = json!({"fingerprint": "chrome", "allowInsecure": false});
    assert!(fields("vless", json!({}), stream.clone()).is_empty());

    stream["tlsSettings"]["minVersion"] = json!("1.3");
    stream["tlsSettings"]["maxVersion"] = json!("1.2");
    stream["tlsSettings"]["cipherSuites"] = json!("TLS_FAST:TLS_AES_128_GCM_SHA256");
    stream["tlsSettings"]["rejectUnknownSni"] = json!("yes");
    stream["tlsSettings"]["settings"] = json!({"fingerprint": "netscape", "allowInsecure": 1});
    let got = problems("vless", json!({}), stream);
    let at = |k: &str| format!("streamSettings.tlsSettings.{k}");
    let fields: Vec<String> = got.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(
        fields,
        [
            at("maxVersion"),
            at("cipherSuites"),
            at("rejectUnknownSni"),
            at("settings.fingerprint"),
            at("settings.allowInsecure"),
        ]
    );
    assert!(got[1].1.contains("TLS_FAST"));
}

#[test]
fn socket_option_types() {
    let ok = json!({"sockopt": {"acceptProxyProtocol": true, "tcpFastOpen": 256, "mark": 255,
        "tproxy": "redirect", "domainStrategy": "UseIPv4", "tcpKeepAliveInterval": 30,
        "tcpKeepAliveIdle": 300, "tcpcongestion": "bbr", "interface": "eth0", "v6only": false,
        "tcpMptcp": true}});
    assert!(fields("vless", json!({}), ok).is_empty());
    assert!(fields(
        "vless",
        json!({}),
        json!({"sockopt": {"tcpFastOpen": false}})
    )
    .is_empty());

    let bad = json!({"sockopt": {"acceptProxyProtocol": "yes", "mark": -1, "tcpKeepAliveIdle": 1.5,
        "tcpFastOpen": "on", "tproxy": "nat", "domainStrategy": "Fastest", "tcpcongestion": "BBR!",
        "interface": "a-very-long-interface-name"}});
    let at = |k: &str| format!("streamSettings.sockopt.{k}");
    assert_eq!(
        fields("vless", json!({}), bad),
        [
            at("acceptProxyProtocol"),
            at("mark"),
            at("tcpKeepAliveIdle"),
            at("tcpFastOpen"),
            at("tproxy"),
            at("domainStrategy"),
            at("tcpcongestion"),
            at("interface"),
        ]
    );
    assert_eq!(
        fields("vless", json!({}), json!({"sockopt": [1]})),
        ["streamSettings.sockopt"]
    );
}

#[test]
fn hysteria_options() {
    let ok = json!({"network": "hysteria", "security": "tls",
        "tlsSettings": {"certificates": [files()]},
        "hysteriaSettings": {"version": 2, "udpIdleTimeout": 120,
            "masquerade": {"type": "proxy", "url": "https://www.example.com", "rewriteHost": true}},
        "finalmask": {"quicParams": {"congestion": "brutal", "brutalUp": "100 mbps", "brutalDown": 0},
            "udp": [{"type": "salamander", "settings": {"password": "s3cret"}}]}});
    assert!(fields("hysteria", json!({"version": 2}), ok.clone()).is_empty());

    let mut bad = ok;
    bad["hysteriaSettings"]["udpIdleTimeout"] = json!(1);
    bad["hysteriaSettings"]["masquerade"] =
        json!({"type": "file", "dir": "www", "statusCode": 700});
    bad["finalmask"]["quicParams"] =
        json!({"congestion": "cubic", "brutalUp": "fast", "brutalDown": "10kbps"});
    bad["finalmask"]["udp"] = json!([{"type": "salamander", "settings": {}}]);
    assert_eq!(
        fields("hysteria", json!({"version": 2}), bad),
        [
            "streamSettings.hysteriaSettings.udpIdleTimeout",
            "streamSettings.hysteriaSettings.masquerade.dir",
            "streamSettings.hysteriaSettings.masquerade.statusCode",
            "streamSettings.finalmask.quicParams.congestion",
            "streamSettings.finalmask.quicParams.brutalUp",
            "streamSettings.finalmask.quicParams.brutalDown",
            "streamSettings.finalmask.udp[0].settings.password",
        ]
    );
    let proxy = json!({"network": "hysteria", "security": "tls", "tlsSettings": {"certificates": [files()]},
        "hysteriaSettings": {"masquerade": {"type": "proxy", "url": "ftp://x"}}});
    assert_eq!(
        fields("hysteria", json!({}), proxy),
        ["streamSettings.hysteriaSettings.masquerade.url"]
    );
}
