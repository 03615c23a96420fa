//! Subscriptions end to end: a client on two servers (two agents running the real v2ray
//! core) fetches `/sub/<subId>`, and every link, read by the independent parser in
//! `xfleet_tests::links`, carries a download; the `/json/` configs run in v2ray as they
//! are (only their local ports moved); the Clash YAML parses with one proxy per link.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use xfleet_tests::proxy::{pattern, FileServer, V2rayClient};
use xfleet_tests::{free_port, links, wait_for, Agent, Controller, ControllerOptions};

const LONG: Duration = Duration::from_secs(60);
const QUOTA: u64 = 10 << 30;
/// 2100-01-01, in ms.
const EXPIRY_MS: i64 = 4_102_444_800_000;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// `GET path` on `127.0.0.1:port` with extra headers (a `host` given here replaces the
/// default one).
async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    get_over(tcp, &format!("127.0.0.1:{port}"), path, headers).await
}

/// `GET path` over an open connection; `host` unless `headers` has one.
async fn get_over<S>(io: S, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method("GET").uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", host);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A self-signed certificate for `localhost`, inline as v2ray takes it.
fn inline_certificate() -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let lines = |pem: String| pem.lines().map(str::to_owned).collect::<Vec<_>>();
    json!({"certificate": lines(cert.pem()), "key": lines(key.serialize_pem())})
}

/// Inbounds on each server: (remark, protocol, settings, streamSettings). Everything v2ray
/// 4.34 serves: VMess, VLESS, Trojan and Shadowsocks over TCP (plain, HTTP header, TLS),
/// WebSocket and mKCP, and two CDN-style `externalProxy` endpoints.
fn inbounds(server: usize, port: u16) -> (String, &'static str, Value, Value) {
    let tls = json!({"network": "tcp", "security": "tls", "tlsSettings": {"serverName": "localhost",
        "certificates": [inline_certificate()], "settings": {"allowInsecure": true}}});
    let (remark, protocol, settings, stream) = match server {
        0 => (
            "vmess-tcp",
            "vmess",
            json!({}),
            json!({"network": "tcp",
            "externalProxy": [
                {"forceTls": "same", "dest": "127.0.0.1", "port": port, "remark": "direct"},
                {"forceTls": "same", "dest": "localhost", "port": port, "remark": "by-name"}]}),
        ),
        1 => (
            "vless-ws",
            "vless",
            json!({"decryption": "none"}),
            json!({"network": "ws", "wsSettings": {"path": "/ws", "host": "ws.example"}}),
        ),
        2 => ("trojan-tls", "trojan", json!({}), tls),
        3 => (
            "ss",
            "shadowsocks",
            json!({"method": "aes-128-gcm", "password": "unused-server-key", "network": "tcp,udp"}),
            json!({"network": "tcp"}),
        ),
        4 => (
            "vmess-kcp",
            "vmess",
            json!({}),
            json!({"network": "kcp", "kcpSettings": {"header": {"type": "none"}, "seed": "s33d"}}),
        ),
        5 => (
            "vless-http",
            "vless",
            json!({"decryption": "none"}),
            json!({"network": "tcp", "tcpSettings": {"header": {"type": "http", "request":
                {"path": ["/x"], "headers": {"Host": ["h.example"]}}}}}),
        ),
        6 => (
            "vmess-ws",
            "vmess",
            json!({}),
            json!({"network": "ws", "wsSettings": {"path": "/v"}}),
        ),
        _ => (
            "trojan-ws",
            "trojan",
            json!({}),
            json!({"network": "ws", "wsSettings": {"path": "/t"}}),
        ),
    };
    (remark.to_owned(), protocol, settings, stream)
}

/// The links inside a `/sub/` answer.
fn decode(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8(STANDARD.decode(body).expect("base64 body")).unwrap();
    assert!(text.ends_with('\n'), "every link ends with a newline");
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_link_of_a_subscription_carries_traffic() {
    if !xfleet_tests::proxy::v2ray_available() {
        return;
    }
    let ctl = Controller::start(ControllerOptions::default()).await;
    ctl.route_loopback_direct().await;
    let api = ctl.api();
    let files = FileServer::start().await;
    let mut agents = Vec::new();
    let mut inbound_ids = Vec::new();
    for (n, name) in ["vpn-a", "vpn-b"].iter().enumerate() {
        let (id, token) = ctl.add_server(name).await;
        let mut agent = Agent::enroll(&token);
        agent.start();
        ctl.wait_status(id, "online", LONG).await;
        agents.push(agent);
        let server = api
            .ok(
                "PATCH",
                &format!("/api/v1/servers/{id}"),
                Some(json!({"public_address": "127.0.0.1"})),
            )
            .await;
        assert_eq!(server["public_address"], "127.0.0.1");
        for i in 0..4 {
            let port = free_port();
            let (remark, protocol, settings, stream) = inbounds(n * 4 + i, port);
            let inbound = api
                .ok(
                    "POST",
                    &format!("/api/v1/servers/{id}/inbounds"),
                    Some(json!({"remark": remark, "port": port, "protocol": protocol,
                        "settings": settings, "streamSettings": stream})),
                )
                .await;
            inbound_ids.push(inbound["id"].clone());
        }
    }
    let bad = api
        .call(
            "PATCH",
            "/api/v1/servers/vpn-a",
            Some(json!({"public_address": "https://x:1/"})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("public_address") && bad.contains("invalid_request"),
        "{bad}"
    );

    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"subTitle": "Fleet VPN",
        "subSupportUrl": "https://t.me/support", "subUpdates": 6,
        "subAnnounce": "Maintenance on Sunday\nUse the second link meanwhile",
        "subRoutingRules": "happ://routing/onadd/eyJOYW1lIjoieGZsZWV0In0="})),
    )
    .await;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "alice", "subId": "alice-sub",
        "totalGB": QUOTA, "expiryTime": EXPIRY_MS, "inboundIds": inbound_ids})),
    )
    .await;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "bob", "subId": "bob-sub-1",
        "enable": false, "inboundIds": [inbound_ids[0]]})),
    )
    .await;

    let sub = get(ctl.sub_port, "/sub/alice-sub", &[]).await;
    assert_eq!(sub.status, 200);
    assert_eq!(
        sub.header("subscription-userinfo"),
        Some(
            format!(
                "upload=0; download=0; total={QUOTA}; expire={}",
                EXPIRY_MS / 1000
            )
            .as_str()
        )
    );
    assert_eq!(sub.header("profile-update-interval"), Some("6"));
    assert_eq!(
        sub.header("profile-title"),
        Some(format!("base64:{}", STANDARD.encode("Fleet VPN")).as_str())
    );
    assert_eq!(sub.header("support-url"), Some("https://t.me/support"));
    // The operator's message and Happ's routing, as 3x-ui sends them.
    assert_eq!(
        sub.header("announce"),
        Some(
            format!(
                "base64:{}",
                STANDARD.encode("Maintenance on Sunday\nUse the second link meanwhile")
            )
            .as_str()
        )
    );
    assert_eq!(sub.header("routing-enable"), Some("true"));
    assert_eq!(
        sub.header("routing"),
        Some("happ://routing/onadd/eyJOYW1lIjoieGZsZWV0In0=")
    );
    assert_eq!(
        sub.header("profile-web-page-url"),
        Some(format!("http://127.0.0.1:{}/sub/alice-sub", ctl.sub_port).as_str())
    );
    let lines = decode(&sub.body);
    // 8 inbounds, the first with two externalProxy endpoints.
    assert_eq!(lines.len(), 9, "{lines:#?}");

    // The panel's view of the same client: the same links and the subscription URLs.
    let view = api.ok("GET", "/api/v1/clients/alice/links", None).await;
    let mut from_api: Vec<String> = view["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap().to_owned())
        .collect();
    let mut from_sub = lines.clone();
    from_api.sort();
    from_sub.sort();
    assert_eq!(from_api, from_sub);
    assert_eq!(view["sub_id"], "alice-sub");
    assert_eq!(
        view["subscription"]["links"],
        json!(format!("http://127.0.0.1:{}/sub/alice-sub", ctl.sub_port))
    );
    assert_eq!(
        view["subscription"]["clash"],
        json!(format!("http://127.0.0.1:{}/clash/alice-sub", ctl.sub_port))
    );
    let first = &view["links"][0];
    assert!(
        first["server_id"].is_i64() && first["inbound_id"].is_i64(),
        "{first}"
    );
    assert_eq!(first["server"], "vpn-a");

    // Every link, parsed independently, carries a download through the real core.
    for (n, link) in lines.iter().enumerate() {
        let parsed = links::parse(link).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert!(
            ["127.0.0.1", "localhost"].contains(&parsed.address.as_str()),
            "{link}"
        );
        assert!(
            parsed.remark.contains("vpn-a") || parsed.remark.contains("vpn-b"),
            "{parsed:?}"
        );
        assert!(
            parsed.remark.contains("📊") && parsed.remark.contains("⏳"),
            "{parsed:?}"
        );
        let v2 = V2rayClient::start(parsed.outbound.clone()).await;
        let body = wait_for(
            &format!("link {n} ({}) to carry a download", parsed.remark),
            LONG,
            || async { v2.fetch(files.port, 32 << 10).await.ok() },
        )
        .await;
        assert_eq!(body, pattern(32 << 10), "{link}");
    }

    // The JSON configs run as they are, only their local ports moved off 10808/10809.
    let configs: Value =
        serde_json::from_slice(&get(ctl.sub_port, "/json/alice-sub", &[]).await.body).unwrap();
    let configs = configs.as_array().expect("several configs are an array");
    assert_eq!(configs.len(), lines.len());
    for config in configs {
        let mut config = config.clone();
        let socks = free_port();
        config["inbounds"][0]["port"] = socks.into();
        config["inbounds"][1]["port"] = free_port().into();
        let v2 = V2rayClient::with_config(config.clone(), socks).await;
        let body = wait_for(
            &format!("config `{}` to carry a download", config["remarks"]),
            LONG,
            || async { v2.fetch(files.port, 16 << 10).await.ok() },
        )
        .await;
        assert_eq!(body, pattern(16 << 10));
    }

    // Clash: valid YAML, one proxy per link, the group lists them all.
    let clash = get(ctl.sub_port, "/clash/alice-sub", &[]).await;
    assert!(clash
        .header("content-type")
        .unwrap()
        .starts_with("application/yaml"));
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&clash.body).expect("Clash YAML parses");
    let proxies = yaml["proxies"].as_sequence().unwrap();
    assert_eq!(proxies.len(), lines.len());
    let types: Vec<&str> = proxies
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    for t in ["vmess", "vless", "trojan", "ss"] {
        assert!(types.contains(&t), "{types:?}");
    }
    assert_eq!(
        yaml["proxy-groups"][0]["proxies"]
            .as_sequence()
            .unwrap()
            .len(),
        lines.len() + 1,
        "every proxy and DIRECT"
    );

    // The usage header follows the traffic, fleet-wide.
    wait_for("usage to reach the subscription header", LONG, || async {
        let info = get(ctl.sub_port, "/sub/alice-sub", &[]).await;
        let header = info.header("subscription-userinfo")?.to_owned();
        let download: u64 = header
            .split("download=")
            .nth(1)?
            .split(';')
            .next()?
            .parse()
            .ok()?;
        (download >= 9 * (32 << 10)).then_some(())
    })
    .await;

    // The page for browsers: usage, each link with a QR code, the other formats' URLs.
    for (path, headers) in [
        (
            "/sub/alice-sub",
            vec![("accept", "text/html,application/xhtml+xml")],
        ),
        ("/sub/alice-sub?view=html", vec![]),
    ] {
        let page = get(ctl.sub_port, path, &headers).await;
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = page.text();
        assert_eq!(
            html.matches("<svg").count(),
            lines.len() + 1,
            "one per link and the URL"
        );
        assert!(html.contains("/json/alice-sub") && html.contains("/clash/alice-sub"));
        assert!(html.contains("Fleet VPN") && html.contains("alice") && html.contains("active"));
        assert!(html.contains("10.00GB"), "the quota is shown");
        assert!(
            html.contains("Maintenance on Sunday"),
            "the announcement is shown"
        );
    }

    // Bob is disabled: his subscription still answers and says so.
    let bob = get(ctl.sub_port, "/sub/bob-sub-1", &[]).await;
    assert_eq!(bob.status, 200);
    let bob_links = decode(&bob.body);
    assert_eq!(bob_links.len(), 2);
    for link in &bob_links {
        let parsed = links::parse(link).unwrap();
        assert!(parsed.remark.starts_with("⛔️N/A"), "{}", parsed.remark);
    }
    let page = get(ctl.sub_port, "/sub/bob-sub-1?view=html", &[])
        .await
        .text();
    assert!(page.contains("disabled"), "{page}");

    // The page's script and icon are served beside it, and nothing else is.
    let script = get(ctl.sub_port, "/sub/assets/page.js", &[]).await;
    assert_eq!(
        (script.status, script.header("content-type")),
        (200, Some("text/javascript; charset=utf-8"))
    );
    assert!(script.text().contains("data-copy"));

    // Unknown ids and paths reveal nothing.
    for path in [
        "/sub/nobody",
        "/sub/",
        "/json/nobody",
        "/other/alice-sub",
        "/sub/assets/secret.js",
        "/json/assets/page.js",
    ] {
        let r = get(ctl.sub_port, path, &[]).await;
        assert_eq!((r.status, r.body.len()), (404, 0), "{path}");
    }

    // QR codes for the panel and the bot, behind the API's authentication.
    let token = std::fs::read_to_string(ctl.dir.path().join("cli.token")).unwrap();
    let auth = format!("Bearer {}", token.trim());
    let text = "xfleet-share-link-0123456789";
    let qr = get(
        ctl.panel_port,
        &format!("/api/v1/qr?text={text}"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(
        (qr.status, qr.header("content-type")),
        (200, Some("image/svg+xml"))
    );
    assert!(qr.text().starts_with("<svg"));
    let long = "a".repeat(3000);
    let refused = get(
        ctl.panel_port,
        &format!("/api/v1/qr?text={long}"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let anonymous = get(ctl.panel_port, "/api/v1/qr?text=x", &[]).await;
    assert_eq!(anonymous.status, 401);
    drop(agents);
}

/// Per-address rate limit, the domain check, and the plain (unencoded) list.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_are_rate_limited_and_domain_checked() {
    let ctl = Controller::start(ControllerOptions {
        extra_env: vec![("XFLEET_SUB_REQUESTS_PER_MINUTE".into(), "6".into())],
        ..ControllerOptions::default()
    })
    .await;
    let api = ctl.api();
    let (id, _) = ctl.add_server("vpn-a").await;
    let inbound = api
        .ok("POST", &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"port": free_port(), "protocol": "vless", "settings": {"decryption": "none"}})))
        .await;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(json!({"email": "carol", "subId": "carol-sub",
        "inboundIds": [inbound["id"]]})),
    )
    .await;
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"subEncrypt": false,
        "subDomain": "sub.example.com"})),
    )
    .await;

    // No public address and no agent yet: the link points where the request went.
    let plain = get(
        ctl.sub_port,
        "/sub/carol-sub",
        &[("host", "sub.example.com:2096")],
    )
    .await;
    assert_eq!(plain.status, 200);
    let text = plain.text();
    assert!(
        text.starts_with("vless://") && text.contains("@sub.example.com:"),
        "{text}"
    );
    let wrong = get(
        ctl.sub_port,
        "/sub/carol-sub",
        &[("host", "other.example.com")],
    )
    .await;
    assert_eq!(wrong.status, 403);
    for _ in 0..4 {
        assert_eq!(
            get(ctl.sub_port, "/sub/nobody", &[("host", "sub.example.com")])
                .await
                .status,
            404
        );
    }
    let limited = get(
        ctl.sub_port,
        "/sub/carol-sub",
        &[("host", "sub.example.com")],
    )
    .await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
}

const SUB_DOMAIN: &str = "sub.fleet.test";

/// A root CA, an intermediate and a server certificate for `SUB_DOMAIN` and 127.0.0.1:
/// (root PEM, chain PEM as a server sends it, server key PEM).
fn certificate_chain() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_params = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
    };
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("Fleet Test Root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let middle_key = KeyPair::generate().unwrap();
    let middle_params = ca_params("Fleet Test Intermediate");
    let middle = middle_params.signed_by(&middle_key, &root_issuer).unwrap();
    let middle_issuer = Issuer::new(middle_params, middle_key);
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec![SUB_DOMAIN.to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, SUB_DOMAIN);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = params.signed_by(&key, &middle_issuer).unwrap();
    (
        root.pem(),
        format!("{}{}", leaf.pem(), middle.pem()),
        key.serialize_pem(),
    )
}

/// A TLS connection to the subscription port, checking the certificate against `tls`'s
/// roots for `SUB_DOMAIN`.
async fn tls_connect(
    port: u16,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from(SUB_DOMAIN).unwrap();
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

/// `subCertFile`/`subKeyFile`, read at start: a client trusting only the certificate's root
/// gets the subscription over HTTPS and the API hands out `https://` URLs; plain HTTP on
/// that port gets no subscription; files that cannot be used leave the controller running
/// without the listener, saying which file and why, until they are fixed from the API.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_over_tls_from_the_certificate_files() {
    let mut ctl = Controller::start(ControllerOptions::default()).await;
    let port = ctl.sub_port;
    let api = ctl.api();
    let (id, _) = ctl.add_server("vpn-a").await;
    api.ok(
        "PATCH",
        &format!("/api/v1/servers/{id}"),
        Some(json!({"public_address": "vpn-a.fleet.test"})),
    )
    .await;
    let inbound = api
        .ok("POST", &format!("/api/v1/servers/{id}/inbounds"),
            Some(json!({"port": free_port(), "protocol": "vless", "settings": {"decryption": "none"}})))
        .await;
    api.ok(
        "POST",
        "/api/v1/clients",
        Some(
            json!({"email": "dave", "subId": "dave-sub", "totalGB": QUOTA,
        "expiryTime": EXPIRY_MS, "inboundIds": [inbound["id"]]}),
        ),
    )
    .await;

    let files = xfleet_tests::TempDir::new("subtls");
    let (root_pem, chain_pem, key_pem) = certificate_chain();
    let cert_file = files.path().join("fullchain.pem");
    let key_file = files.path().join("privkey.pem");
    std::fs::write(&cert_file, chain_pem).unwrap();
    std::fs::write(&key_file, key_pem).unwrap();
    let cert_file = cert_file.display().to_string();
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(
            json!({"subCertFile": cert_file, "subKeyFile": key_file.display().to_string(),
        "subDomain": SUB_DOMAIN}),
        ),
    )
    .await;
    ctl.restart().await;
    let run = xfleet_tests::read_json(&ctl.dir.path().join("run.json")).unwrap();
    assert_eq!(run["sub_url"], json!(format!("https://127.0.0.1:{port}")));

    // A client that trusts only the test root: the whole chain is served and checks out.
    let trusted = xfleet_tests::raw::tls(&root_pem, None);
    let host = format!("{SUB_DOMAIN}:{port}");
    let stream = tls_connect(port, trusted.clone()).await.unwrap();
    let sub = get_over(stream, &host, "/sub/dave-sub", &[]).await;
    assert_eq!(sub.status, 200, "{}", sub.text());
    assert_eq!(
        sub.header("subscription-userinfo"),
        Some(
            format!(
                "upload=0; download=0; total={QUOTA}; expire={}",
                EXPIRY_MS / 1000
            )
            .as_str()
        )
    );
    assert_eq!(
        sub.header("profile-web-page-url"),
        Some(format!("https://{host}/sub/dave-sub").as_str())
    );
    let lines = decode(&sub.body);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let parsed = links::parse(&lines[0]).unwrap();
    assert!(lines[0].starts_with("vless://"), "{}", lines[0]);
    assert_eq!(parsed.address, "vpn-a.fleet.test", "{}", lines[0]);
    let stream = tls_connect(port, trusted.clone()).await.unwrap();
    let unknown = get_over(stream, &host, "/sub/nobody", &[]).await;
    assert_eq!((unknown.status, unknown.body.len()), (404, 0));

    // The certificate is the one from the files: a client trusting another CA (the
    // controller's own) refuses it.
    let other = xfleet_tests::raw::tls(&ctl.ca_pem(), None);
    let refused = tls_connect(port, other).await.unwrap_err().to_string();
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // Plain HTTP on the TLS port: a TLS alert and a closed connection, well before the
    // handshake timeout, and nothing of the subscription.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET /sub/dave-sub HTTP/1.1\r\nHost: {host}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut plain, request.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut answer),
    )
    .await
    .expect("the connection is closed at once")
    .unwrap();
    assert_eq!(
        answer.first(),
        Some(&0x15),
        "a TLS alert record: {answer:?}"
    );
    assert!(
        answer.len() == 7 && answer.ends_with(&[2, 50]),
        "one fatal decode_error alert: {answer:?}"
    );

    // The panel's links view gives the HTTPS URLs on the domain.
    let api = ctl.api();
    let view = api.ok("GET", "/api/v1/clients/dave/links", None).await;
    assert_eq!(
        view["subscription"],
        json!({"links": format!("https://{host}/sub/dave-sub"),
            "json": format!("https://{host}/json/dave-sub"),
            "clash": format!("https://{host}/clash/dave-sub")})
    );
    assert_eq!(view["links"][0]["url"], json!(lines[0]));

    // A certificate path that does not exist: the controller starts without the listener,
    // says which file and why, and the API keeps working.
    let missing = files
        .path()
        .join("renewed/fullchain.pem")
        .display()
        .to_string();
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"subCertFile": missing})),
    )
    .await;
    ctl.restart().await;
    wait_for("the TLS error in the log", LONG, || async {
        ctl.output
            .contains("subscription server not started")
            .then_some(())
    })
    .await;
    let log = ctl.output.text();
    let line = log
        .lines()
        .find(|l| l.contains("subscription server not started"))
        .unwrap();
    assert!(
        line.contains(&format!("subCertFile {missing}")) && line.contains("No such file"),
        "{line}"
    );
    let run = xfleet_tests::read_json(&ctl.dir.path().join("run.json")).unwrap();
    assert_eq!(run["sub_url"], Value::Null);
    let closed = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert_eq!(
        closed.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused,
        "no plain HTTP fallback either"
    );
    let api = ctl.api();
    let settings = api.ok("GET", "/api/v1/settings", None).await;
    assert_eq!(settings["subCertFile"], json!(missing));

    // Fixed through the API, the next start serves HTTPS again.
    api.ok(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"subCertFile": cert_file})),
    )
    .await;
    ctl.restart().await;
    let stream = tls_connect(port, trusted).await.unwrap();
    let again = get_over(stream, &host, "/sub/dave-sub", &[]).await;
    assert_eq!(again.status, 200);
    assert_eq!(decode(&again.body), lines);
}
