//! `streamSettings` → `StreamConfig` (tcp or WebSocket, plain or TLS) and `sniffing` →
//! `SniffingConfig`.

use super::json::{unsupported, Obj};
use crate::xray_api::proto::{
    SniffingConfig, StreamConfig, TcpConfig, TlsCertificate, TlsConfig, TransportConfig,
    TypedMessage, WebSocketConfig, WebSocketHeader,
};
use crate::xray_api::{ApiError, Namespace};

pub fn stream_config(ns: Namespace, stream: &Obj) -> Result<StreamConfig, ApiError> {
    stream.only(&[
        "network",
        "security",
        "tcpSettings",
        "rawSettings",
        "wsSettings",
        "tlsSettings",
    ])?;
    let network = stream.str("network")?.to_ascii_lowercase();
    let protocol_name = match (network.as_str(), ns) {
        ("" | "tcp", _) | ("raw", Namespace::Xray) => "tcp",
        ("ws" | "websocket", _) => "websocket",
        (other, _) => {
            return Err(unsupported(format!(
                "streamSettings.network {other:?} is not hot-applied on {ns}"
            )))
        }
    };

    // As in the cores' loaders, each settings object present becomes a transport entry.
    let mut transport_settings = Vec::new();
    let tcp = match (stream.obj("rawSettings")?, ns) {
        (Some(raw), Namespace::Xray) => Some(raw),
        (Some(_), Namespace::V2ray) => {
            return Err(unsupported("streamSettings.rawSettings needs an Xray core"))
        }
        (None, _) => stream.obj("tcpSettings")?,
    };
    if let Some(tcp) = tcp {
        transport_settings.push(TransportConfig {
            protocol_name: "tcp".into(),
            settings: Some(TypedMessage::new(
                ns,
                "transport.internet.tcp.Config",
                &tcp_config(&tcp)?,
            )),
        });
    }
    if let Some(ws) = stream.obj("wsSettings")? {
        transport_settings.push(TransportConfig {
            protocol_name: "websocket".into(),
            settings: Some(TypedMessage::new(
                ns,
                "transport.internet.websocket.Config",
                &websocket_config(ns, &ws)?,
            )),
        });
    }

    let (security_type, security_settings) = match stream.str("security")? {
        "" | "none" => (String::new(), Vec::new()),
        "tls" => {
            let tls = match stream.obj("tlsSettings")? {
                Some(tls) => tls_config(ns, &tls)?,
                None => return Err(unsupported("TLS without tlsSettings")),
            };
            let message = TypedMessage::new(ns, "transport.internet.tls.Config", &tls);
            (message.r#type.clone(), vec![message])
        }
        other => {
            return Err(unsupported(format!(
                "streamSettings.security {other:?} is not hot-applied"
            )))
        }
    };
    Ok(StreamConfig {
        protocol_name: protocol_name.into(),
        transport_settings,
        security_type,
        security_settings,
    })
}

fn tcp_config(tcp: &Obj) -> Result<TcpConfig, ApiError> {
    tcp.only(&["header", "acceptProxyProtocol"])?;
    if let Some(header) = tcp.obj("header")? {
        header.only(&["type"])?;
        if !matches!(header.str("type")?, "" | "none") {
            return Err(unsupported("tcp header obfuscation is not hot-applied"));
        }
    }
    Ok(TcpConfig {
        accept_proxy_protocol: tcp.bool("acceptProxyProtocol")?,
    })
}

fn websocket_config(ns: Namespace, ws: &Obj) -> Result<WebSocketConfig, ApiError> {
    ws.only(&["path", "host", "headers", "acceptProxyProtocol"])?;
    let path = ws.str("path")?;
    if path.contains('?') {
        return Err(unsupported(
            "a query in the WebSocket path (early data) is not hot-applied",
        ));
    }
    let mut host = ws.str("host")?.to_owned();
    let mut header = Vec::new();
    for (key, value) in ws.string_map("headers")? {
        // Xray moved the host out of the header list; its loader does the same with a
        // `Host` header when no `host` is given.
        if ns == Namespace::Xray && key.eq_ignore_ascii_case("host") {
            if host.is_empty() {
                host = value;
            }
            continue;
        }
        header.push(WebSocketHeader { key, value });
    }
    if ns == Namespace::V2ray && !host.is_empty() {
        if !header.iter().any(|h| h.key.eq_ignore_ascii_case("host")) {
            header.push(WebSocketHeader {
                key: "Host".into(),
                value: host,
            });
        }
        host = String::new();
    }
    Ok(WebSocketConfig {
        host,
        path: path.to_owned(),
        header,
        accept_proxy_protocol: ws.bool("acceptProxyProtocol")?,
    })
}

fn tls_config(ns: Namespace, tls: &Obj) -> Result<TlsConfig, ApiError> {
    tls.only(&[
        "serverName",
        "alpn",
        "certificates",
        "minVersion",
        "maxVersion",
        "cipherSuites",
    ])?;
    if ns == Namespace::V2ray {
        for key in ["minVersion", "maxVersion", "cipherSuites"] {
            tls.forbid(key, "needs an Xray core")?;
        }
    }
    let certificate = tls
        .objects("certificates")?
        .iter()
        .map(|cert| certificate(ns, cert))
        .collect::<Result<Vec<_>, _>>()?;
    if certificate.is_empty() {
        return Err(unsupported("TLS without certificates"));
    }
    Ok(TlsConfig {
        certificate,
        server_name: tls.str("serverName")?.to_owned(),
        next_protocol: tls.strings("alpn")?,
        min_version: tls.str("minVersion")?.to_owned(),
        max_version: tls.str("maxVersion")?.to_owned(),
        cipher_suites: tls.str("cipherSuites")?.to_owned(),
    })
}

/// The PEM goes into the message itself: the core's JSON loader reads the files, but a
/// protobuf config must carry the bytes. Xray also gets the paths so it can reload renewed
/// files, as its loader arranges.
fn certificate(ns: Namespace, cert: &Obj) -> Result<TlsCertificate, ApiError> {
    cert.only(&[
        "certificateFile",
        "keyFile",
        "certificate",
        "key",
        "usage",
        "ocspStapling",
        "oneTimeLoading",
    ])?;
    if !matches!(cert.str("usage")?, "" | "encipherment") {
        return Err(unsupported(format!(
            "{}.usage other than encipherment is not hot-applied",
            cert.path()
        )));
    }
    let certificate_path = cert.str("certificateFile")?;
    let key_path = cert.str("keyFile")?;
    let certificate = pem(cert, certificate_path, "certificate")?;
    let key = pem(cert, key_path, "key")?;
    let mut message = TlsCertificate {
        certificate,
        key,
        ..Default::default()
    };
    match ns {
        Namespace::V2ray => {
            cert.forbid("ocspStapling", "needs an Xray core")?;
            cert.forbid("oneTimeLoading", "needs an Xray core")?;
        }
        Namespace::Xray => {
            message.ocsp_stapling = cert.u32("ocspStapling")?.into();
            message.certificate_path = certificate_path.to_owned();
            message.key_path = key_path.to_owned();
            message.one_time_loading = (certificate_path.is_empty() && key_path.is_empty())
                || cert.bool("oneTimeLoading")?;
        }
    }
    Ok(message)
}

/// PEM from `path`, or inline under `key` (an array of lines or one string).
fn pem(cert: &Obj, path: &str, key: &str) -> Result<Vec<u8>, ApiError> {
    if !path.is_empty() {
        return std::fs::read(path)
            .map_err(|e| unsupported(format!("{}: cannot read {path}: {e}", cert.path())));
    }
    let lines = cert.lines(key)?;
    if lines.is_empty() {
        return Err(unsupported(format!("{}.{key} is missing", cert.path())));
    }
    Ok(lines.into_bytes())
}

pub fn sniffing_config(ns: Namespace, sniffing: &Obj) -> Result<SniffingConfig, ApiError> {
    sniffing.only(&["enabled", "destOverride", "metadataOnly", "routeOnly"])?;
    if ns == Namespace::V2ray {
        sniffing.forbid("metadataOnly", "needs an Xray core")?;
        sniffing.forbid("routeOnly", "needs an Xray core")?;
    }
    Ok(SniffingConfig {
        enabled: sniffing.bool("enabled")?,
        destination_override: sniffing.strings("destOverride")?,
        metadata_only: sniffing.bool("metadataOnly")?,
        route_only: sniffing.bool("routeOnly")?,
    })
}
