//! `settings` of each covered protocol → its server config message.

use super::json::{unsupported, Obj};
use crate::xray_api::account::cipher_type;
use crate::xray_api::proto::{
    self, DokodemoConfig, ShadowsocksAccount, ShadowsocksServerConfigV2ray,
    ShadowsocksServerConfigXray, SocksServerConfig, TrojanAccount, TrojanServerConfig,
    TypedMessage, VlessAccount, VlessInboundConfig, VmessAccount, VmessInboundConfig,
};
use crate::xray_api::{ApiError, Namespace};

pub struct ProxySettings {
    pub settings: TypedMessage,
    /// Set for dokodemo-door with `followRedirect`, as the cores' loaders do.
    pub receive_original_destination: bool,
}

pub fn proxy_settings(
    ns: Namespace,
    protocol: &str,
    settings: &Obj,
) -> Result<ProxySettings, ApiError> {
    let settings = match protocol {
        "vmess" => vmess(ns, settings)?,
        "vless" => vless(ns, settings)?,
        "trojan" => trojan(ns, settings)?,
        "shadowsocks" => shadowsocks(ns, settings)?,
        "socks" => socks(ns, settings)?,
        "dokodemo-door" | "tunnel" => return dokodemo(ns, settings),
        other => {
            return Err(unsupported(format!(
                "protocol {other:?} is not hot-applied"
            )))
        }
    };
    Ok(ProxySettings {
        settings,
        receive_original_destination: false,
    })
}

/// `email` and `level` of a client, around its account. Other client keys are panel
/// bookkeeping (limits, expiry, subscription id) that the core ignores as well.
fn user(client: &Obj, account: TypedMessage) -> Result<proto::User, ApiError> {
    client.forbid("reverse", "VLESS reverse proxy is not hot-applied")?;
    Ok(proto::User {
        level: client.u32("level")?,
        email: client.str("email")?.to_owned(),
        account: Some(account),
    })
}

fn required<'a>(obj: &Obj<'a>, key: &str) -> Result<&'a str, ApiError> {
    match obj.str(key)? {
        "" => Err(unsupported(format!("{}.{key} is missing", obj.path()))),
        value => Ok(value),
    }
}

fn vmess(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["clients", "disableInsecureEncryption"])?;
    let secure_encryption_only = settings.bool("disableInsecureEncryption")?;
    if secure_encryption_only && ns == Namespace::Xray {
        return Err(unsupported(
            "settings.disableInsecureEncryption does not exist in Xray",
        ));
    }
    let users = settings
        .objects("clients")?
        .iter()
        .map(|client| {
            let account = VmessAccount {
                id: required(client, "id")?.to_owned(),
                // Only v2ray still has legacy alterId auth; Xray ignores the key.
                alter_id: match ns {
                    Namespace::V2ray => client.u32("alterId")?,
                    Namespace::Xray => 0,
                },
            };
            user(
                client,
                TypedMessage::new(ns, "proxy.vmess.Account", &account),
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(TypedMessage::new(
        ns,
        "proxy.vmess.inbound.Config",
        &VmessInboundConfig {
            user: users,
            secure_encryption_only,
        },
    ))
}

fn vless(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["clients", "decryption"])?;
    match settings.str("decryption")? {
        "" | "none" => {}
        _ => return Err(unsupported("VLESS encryption is not hot-applied")),
    }
    let clients = settings
        .objects("clients")?
        .iter()
        .map(|client| {
            let account = VlessAccount {
                id: required(client, "id")?.to_owned(),
                flow: client.str("flow")?.to_owned(),
            };
            user(
                client,
                TypedMessage::new(ns, "proxy.vless.Account", &account),
            )
        })
        .collect::<Result<_, _>>()?;
    let decryption_v2ray = match ns {
        Namespace::V2ray => "none".to_owned(),
        Namespace::Xray => String::new(),
    };
    Ok(TypedMessage::new(
        ns,
        "proxy.vless.inbound.Config",
        &VlessInboundConfig {
            clients,
            decryption_v2ray,
        },
    ))
}

fn trojan(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["clients"])?;
    let users = settings
        .objects("clients")?
        .iter()
        .map(|client| {
            client.forbid("flow", "trojan flows are not hot-applied")?;
            let account = TrojanAccount {
                password: required(client, "password")?.to_owned(),
            };
            user(
                client,
                TypedMessage::new(ns, "proxy.trojan.Account", &account),
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(TypedMessage::new(
        ns,
        "proxy.trojan.ServerConfig",
        &TrojanServerConfig { users },
    ))
}

/// One user with a legacy AEAD cipher: either the top-level `method`/`password`/`email`, or a
/// single entry of `clients` (3x-ui's shape; its `method` falls back to the top-level one).
fn shadowsocks(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&[
        "method", "password", "clients", "network", "email", "level", "ivCheck",
    ])?;
    let clients = settings.objects("clients")?;
    let source = match clients.as_slice() {
        [] => settings,
        [client] => client,
        _ => {
            return Err(unsupported(
                "shadowsocks with several clients (multi-user) is not hot-applied",
            ))
        }
    };
    let method = match source.str("method")? {
        "" => settings.str("method")?,
        method => method,
    };
    if method.to_ascii_lowercase().starts_with("2022-") {
        return Err(unsupported("Shadowsocks 2022 inbounds are not hot-applied"));
    }
    let iv_check = settings.bool("ivCheck")?;
    if iv_check && ns == Namespace::V2ray {
        return Err(unsupported("settings.ivCheck needs an Xray core"));
    }
    let account = ShadowsocksAccount {
        password: required(source, "password")?.to_owned(),
        cipher_type: cipher_type(ns, method)?,
        iv_check,
    };
    let user = user(
        source,
        TypedMessage::new(ns, "proxy.shadowsocks.Account", &account),
    )?;
    let network = settings.networks("network")?;
    Ok(match ns {
        // v2ray adds UDP on its own when `udp_enabled` is set (JSON `udp`, not handled here);
        // UDP from the network list alone is what its loader does for `network`.
        Namespace::V2ray => TypedMessage::new(
            ns,
            "proxy.shadowsocks.ServerConfig",
            &ShadowsocksServerConfigV2ray {
                udp_enabled: false,
                user: Some(user),
                network,
            },
        ),
        Namespace::Xray => TypedMessage::new(
            ns,
            "proxy.shadowsocks.ServerConfig",
            &ShadowsocksServerConfigXray {
                users: vec![user],
                network,
            },
        ),
    })
}

fn socks(ns: Namespace, settings: &Obj) -> Result<TypedMessage, ApiError> {
    settings.only(&["auth", "accounts", "udp", "ip", "userLevel"])?;
    let auth_type = match settings.str("auth")? {
        "" | "noauth" => 0,
        "password" => 1,
        other => return Err(unsupported(format!("socks auth {other:?}"))),
    };
    let accounts = settings
        .objects("accounts")?
        .iter()
        .map(|account| {
            account.only(&["user", "pass"])?;
            Ok((
                account.str("user")?.to_owned(),
                account.str("pass")?.to_owned(),
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(TypedMessage::new(
        ns,
        "proxy.socks.ServerConfig",
        &SocksServerConfig {
            auth_type,
            accounts,
            address: settings.ip("ip")?,
            udp_enabled: settings.bool("udp")?,
            user_level: settings.u32("userLevel")?,
        },
    ))
}

/// `dokodemo-door`, or `tunnel` as newer Xray calls it (with `rewriteAddress`, `rewritePort`,
/// `allowedNetwork` as the new key names).
fn dokodemo(ns: Namespace, settings: &Obj) -> Result<ProxySettings, ApiError> {
    settings.only(&[
        "address",
        "rewriteAddress",
        "port",
        "rewritePort",
        "network",
        "allowedNetwork",
        "followRedirect",
        "userLevel",
    ])?;
    let address = match settings.address("address")? {
        Some(address) => Some(address),
        None => settings.address("rewriteAddress")?,
    };
    let port = match settings.u32("port")? {
        0 => settings.u32("rewritePort")?,
        port => port,
    };
    let networks = match settings.get("network") {
        Some(_) => settings.networks("network")?,
        None => settings.networks("allowedNetwork")?,
    };
    let follow_redirect = settings.bool("followRedirect")?;
    let config = DokodemoConfig {
        address,
        port,
        follow_redirect,
        user_level: settings.u32("userLevel")?,
        networks,
    };
    Ok(ProxySettings {
        settings: TypedMessage::new(ns, "proxy.dokodemo.Config", &config),
        receive_original_destination: follow_redirect,
    })
}
