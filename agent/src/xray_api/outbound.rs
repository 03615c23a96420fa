//! An outbound of the core's config file as `HandlerService` takes it, for the outbounds an
//! operator's template most often changes: freedom (strategy, redirect), blackhole, and a SOCKS
//! or HTTP hop to one server. Anything else (stream, mux or proxy settings, other protocols,
//! several servers) is [`ApiError::Unsupported`] and the caller restarts the core instead.

use serde_json::Value;

use super::inbound::json::{ip_or_domain, unsupported, Obj};
use super::proto::{
    BlackholeConfig, DestinationOverride, FreedomConfig, OutboundHandlerConfig, PasswordAccount,
    ProxyClientConfig, SenderConfig, ServerEndpoint, TypedMessage, User,
};
use super::{ApiError, Namespace};

/// Converts `outbound` (`{tag, protocol, settings, …}`) for a core of namespace `ns`.
pub fn outbound_config(ns: Namespace, outbound: &Value) -> Result<OutboundHandlerConfig, ApiError> {
    let top = Obj::new("outbound", outbound)?;
    top.only(&["tag", "protocol", "settings"])?;
    let tag = top.str("tag")?;
    if tag.is_empty() {
        return Err(unsupported(
            "an outbound without a tag could not be replaced through the API",
        ));
    }
    let empty = Value::Object(Default::default());
    let settings = match top.obj("settings")? {
        Some(settings) => settings,
        None => Obj::new("outbound.settings", &empty)?,
    };
    let proxy = match top.str("protocol")? {
        "freedom" => freedom(ns, &settings)?,
        "blackhole" => blackhole(ns, &settings)?,
        "socks" => TypedMessage::new(
            ns,
            "proxy.socks.ClientConfig",
            &client(ns, "socks", &settings)?,
        ),
        "http" => TypedMessage::new(
            ns,
            "proxy.http.ClientConfig",
            &client(ns, "http", &settings)?,
        ),
        other => {
            return Err(unsupported(format!(
                "{other:?} outbounds are not hot-applied"
            )))
        }
    };
    Ok(OutboundHandlerConfig {
        tag: tag.to_owned(),
        sender_settings: Some(TypedMessage::new(
            ns,
            "app.proxyman.SenderConfig",
            &SenderConfig {},
        )),
        proxy_settings: Some(proxy),
    })
}

fn freedom(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["domainStrategy", "redirect", "userLevel"])?;
    let domain_strategy = match settings
        .str("domainStrategy")?
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "asis" => 0,
        "useip" => 1,
        "useipv4" => 2,
        "useipv6" => 3,
        other => {
            return Err(unsupported(format!(
                "{}.domainStrategy {other:?} is not hot-applied",
                settings.path()
            )))
        }
    };
    let redirect = settings.str("redirect")?;
    let destination_override = if redirect.is_empty() {
        None
    } else {
        let (host, port) = redirect
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| unsupported(format!("{}.redirect {redirect:?}", settings.path())))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(DestinationOverride {
            server: Some(ServerEndpoint {
                address: Some(ip_or_domain(host)),
                port: u32::from(port),
                user: Vec::new(),
            }),
        })
    };
    let config = FreedomConfig {
        domain_strategy,
        destination_override,
        user_level: settings.u32("userLevel")?,
    };
    Ok(TypedMessage::new(ns, "proxy.freedom.Config", &config))
}

fn blackhole(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["response"])?;
    let kind = match settings.obj("response")? {
        Some(response) => {
            response.only(&["type"])?;
            response.str("type")?.to_owned()
        }
        None => String::new(),
    };
    let response = match kind.as_str() {
        "" | "none" => TypedMessage::new(ns, "proxy.blackhole.NoneResponse", &SenderConfig {}),
        "http" => TypedMessage::new(ns, "proxy.blackhole.HTTPResponse", &SenderConfig {}),
        other => {
            return Err(unsupported(format!(
                "{}.response.type {other:?}",
                settings.path()
            )))
        }
    };
    let config = BlackholeConfig {
        response: Some(response),
    };
    Ok(TypedMessage::new(ns, "proxy.blackhole.Config", &config))
}

/// A SOCKS or HTTP hop to one server, with at most one user.
fn client(ns: Namespace, protocol: &str, settings: &Obj) -> Result<ProxyClientConfig, ApiError> {
    settings.only(&["servers"])?;
    let servers = settings.objects("servers")?;
    let [server] = servers.as_slice() else {
        return Err(unsupported(format!(
            "{}.servers: only one server is hot-applied",
            settings.path()
        )));
    };
    server.only(&["address", "port", "users"])?;
    let address = server
        .address("address")?
        .ok_or_else(|| unsupported(format!("{}.address is missing", server.path())))?;
    let port = server.u32("port")?;
    if port == 0 || port > u32::from(u16::MAX) {
        return Err(unsupported(format!("{}.port is not a port", server.path())));
    }
    let users = server.objects("users")?;
    let user = match users.as_slice() {
        [] => Vec::new(),
        [user] => {
            user.only(&["user", "pass", "level"])?;
            let account = PasswordAccount {
                username: user.str("user")?.to_owned(),
                password: user.str("pass")?.to_owned(),
            };
            vec![User {
                level: user.u32("level")?,
                email: String::new(),
                account: Some(TypedMessage::new(
                    ns,
                    &format!("proxy.{protocol}.Account"),
                    &account,
                )),
            }]
        }
        _ => {
            return Err(unsupported(format!(
                "{}.users: only one user is hot-applied",
                server.path()
            )))
        }
    };
    Ok(ProxyClientConfig {
        server: vec![ServerEndpoint {
            address: Some(address),
            port,
            user,
        }],
    })
}
