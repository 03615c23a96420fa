//! One inbound from the core's JSON config → the `InboundHandlerConfig` that `AddInbound`
//! takes. The core's JSON loader does this conversion when it reads a config file; through the
//! API the caller must send the protobuf form.
//!
//! Covered (the common case): vmess, vless, trojan, single-user legacy shadowsocks, socks,
//! dokodemo-door/tunnel; tcp without header obfuscation and WebSocket; no security or TLS with
//! certificate files or inline PEM; sniffing. Everything else is
//! [`ApiError::Unsupported`](crate::xray_api::ApiError::Unsupported) and goes through a tested
//! restart instead.

pub(super) mod json;
mod proxy;
mod stream;
#[cfg(test)]
mod tests;

use serde_json::Value;

use super::proto::{
    InboundHandlerConfig, PortList, PortRange, ReceiverConfigV2ray, ReceiverConfigXray,
    TypedMessage,
};
use super::{ApiError, Namespace};
use json::{unsupported, Obj};

/// Converts `inbound` (`{tag, listen, port, protocol, settings, streamSettings, sniffing}`)
/// for a core of namespace `ns`. Reads the certificate files a TLS inbound names.
pub fn inbound_config(ns: Namespace, inbound: &Value) -> Result<InboundHandlerConfig, ApiError> {
    let top = Obj::new("inbound", inbound)?;
    top.only(&[
        "tag",
        "listen",
        "port",
        "protocol",
        "settings",
        "streamSettings",
        "sniffing",
    ])?;
    let tag = top.str("tag")?;
    if tag.is_empty() {
        return Err(unsupported(
            "an inbound without a tag could not be removed through the API",
        ));
    }
    let no_settings = Value::Object(Default::default());
    let settings = match top.obj("settings")? {
        Some(settings) => settings,
        None => Obj::new("inbound.settings", &no_settings)?,
    };
    let proxy = proxy::proxy_settings(ns, top.str("protocol")?, &settings)?;

    let port_range = port_range(top.get("port"))?;
    let listen = top.ip("listen")?;
    let stream_settings = top
        .obj("streamSettings")?
        .map(|stream| stream::stream_config(ns, &stream))
        .transpose()?;
    let sniffing_settings = top
        .obj("sniffing")?
        .map(|sniffing| stream::sniffing_config(ns, &sniffing))
        .transpose()?;

    const RECEIVER: &str = "app.proxyman.ReceiverConfig";
    let receiver = match ns {
        Namespace::V2ray => TypedMessage::new(
            ns,
            RECEIVER,
            &ReceiverConfigV2ray {
                port_range: Some(port_range),
                listen,
                stream_settings,
                receive_original_destination: proxy.receive_original_destination,
                sniffing_settings,
            },
        ),
        Namespace::Xray => TypedMessage::new(
            ns,
            RECEIVER,
            &ReceiverConfigXray {
                port_list: Some(PortList {
                    range: vec![port_range],
                }),
                listen,
                stream_settings,
                receive_original_destination: proxy.receive_original_destination,
                sniffing_settings,
            },
        ),
    };
    Ok(InboundHandlerConfig {
        tag: tag.to_owned(),
        receiver_settings: Some(receiver),
        proxy_settings: Some(proxy.settings),
    })
}

/// `443`, `"443"` or `"1000-2000"`.
fn port_range(port: Option<&Value>) -> Result<PortRange, ApiError> {
    let bad = || {
        unsupported(format!(
            "inbound.port = {port:?} is not a port or a port range"
        ))
    };
    let parse = |text: &str| text.trim().parse::<u16>().ok().filter(|p| *p != 0);
    let (from, to) = match port {
        Some(Value::Number(n)) => {
            let p = n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|p| *p != 0)
                .ok_or_else(bad)?;
            (p, p)
        }
        Some(Value::String(text)) => match text.split_once('-') {
            Some((from, to)) => (parse(from).ok_or_else(bad)?, parse(to).ok_or_else(bad)?),
            None => {
                let p = parse(text).ok_or_else(bad)?;
                (p, p)
            }
        },
        _ => return Err(bad()),
    };
    if from > to {
        return Err(bad());
    }
    Ok(PortRange {
        from: from.into(),
        to: to.into(),
    })
}
