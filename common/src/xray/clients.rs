//! Clients: which of 3x-ui's clients reach the core, and in what shape.
//!
//! 3x-ui keeps limits, Telegram ids, subscription ids and notes on each client; the core only
//! wants `email, id, password, flow, method, auth, reverse`. Disabled clients (`enable: false`)
//! are left out, exactly as 3x-ui does.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use super::protocol::{xray_accepts_id, Ctx, Protocol, SsMethod};
use super::{Account, RenderError, User};

pub(super) const VISION: &str = "xtls-rprx-vision";

/// One enabled client, checked.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub email: String,
    pub account: Account,
    /// VLESS simple reverse proxy (`{"tag": …}`).
    pub reverse: Option<Value>,
}

/// The inbound-level Shadowsocks method the clients belong to.
#[derive(Debug, Clone, Copy)]
pub(super) struct SsInbound<'a> {
    pub method: &'a str,
    pub kind: SsMethod,
}

impl Client {
    pub fn has_flow(&self) -> bool {
        matches!(&self.account, Account::Vless { flow, .. } if !flow.is_empty())
    }

    pub fn id(&self) -> Option<&str> {
        match &self.account {
            Account::Vmess { id } | Account::Vless { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn user(&self) -> User {
        User {
            email: self.email.clone(),
            account: self.account.clone(),
        }
    }

    /// The client entry in `settings.clients`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let mut put = |key: &str, value: &str| {
            out.insert(key.into(), Value::String(value.into()));
        };
        match &self.account {
            Account::Vmess { id } => put("id", id),
            Account::Vless { id, flow } => {
                put("id", id);
                if !flow.is_empty() {
                    put("flow", flow);
                }
            }
            Account::Trojan { password } => put("password", password),
            Account::Shadowsocks { password, method } => {
                put("method", method);
                put("password", password);
            }
            Account::Shadowsocks2022 { key } => put("password", key),
            Account::Hysteria { auth } => put("auth", auth),
        }
        put("email", &self.email);
        out.insert("level".into(), 0.into());
        if let Some(reverse) = &self.reverse {
            out.insert("reverse".into(), reverse.clone());
        }
        Value::Object(out)
    }
}

/// The enabled clients in `settings.clients`, checked for what the core needs.
pub(super) fn parse(
    ctx: Ctx<'_>,
    protocol: Protocol,
    settings: &Map<String, Value>,
    ss: Option<SsInbound<'_>>,
) -> Result<Vec<Client>, RenderError> {
    let raw = match settings.get("clients") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(raw)) => raw,
        Some(_) => return Err(ctx.invalid("`settings.clients` must be a list")),
    };
    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(ctx.invalid(format!("client #{} is not an object", index + 1)));
        };
        if entry.get("enable") == Some(&Value::Bool(false)) {
            continue;
        }
        let email = match entry.get("email") {
            Some(Value::String(email)) if !email.trim().is_empty() => email.clone(),
            _ => return Err(ctx.invalid(format!("client #{} has no email", index + 1))),
        };
        if email.contains(">>>") {
            // The core's stats names are `user>>>EMAIL>>>traffic>>>…`.
            return Err(ctx.invalid(format!("client email `{email}` must not contain `>>>`")));
        }
        // The core compares emails without regard to case ("User a already exists").
        if !seen.insert(email.to_lowercase()) {
            return Err(ctx.invalid(format!("two clients have the email `{email}`")));
        }
        let field = Field {
            ctx,
            entry,
            email: &email,
        };
        let account = account(field, protocol, ss)?;
        let reverse = match entry.get("reverse") {
            Some(Value::Null) | None => None,
            Some(r) if protocol == Protocol::Vless => Some(r.clone()),
            Some(_) => None,
        };
        clients.push(Client {
            email,
            account,
            reverse,
        });
    }
    Ok(clients)
}

fn account(
    f: Field<'_>,
    protocol: Protocol,
    ss: Option<SsInbound<'_>>,
) -> Result<Account, RenderError> {
    Ok(match protocol {
        Protocol::Vmess => Account::Vmess { id: f.id()? },
        Protocol::Vless => {
            let flow = match f.optional("flow")? {
                "" => "",
                VISION | "xtls-rprx-vision-udp443" => VISION,
                other => {
                    return Err(f.invalid(format!(
                        "has flow `{other}`; the only flow is `{VISION}` (XTLS Vision)"
                    )))
                }
            };
            Account::Vless {
                id: f.id()?,
                flow: flow.into(),
            }
        }
        Protocol::Trojan => {
            match f.optional("flow")? {
                "" => {}
                flow => {
                    return Err(f.invalid(format!(
                        "has flow `{flow}`, but XTLS Vision flow is only for VLESS"
                    )))
                }
            }
            Account::Trojan {
                password: f.required("password")?.into(),
            }
        }
        Protocol::Shadowsocks => {
            let ss = ss.expect("Shadowsocks inbounds pass their method");
            let password = f.required("password")?;
            match ss.kind {
                SsMethod::Legacy => {
                    let method = match f.optional("method")? {
                        "" => ss.method,
                        own => own,
                    };
                    if SsMethod::parse(method) != Some(SsMethod::Legacy) {
                        return Err(f.invalid(format!(
                            "has method `{method}`, which does not fit the inbound's `{}`",
                            ss.method
                        )));
                    }
                    Account::Shadowsocks {
                        password: password.into(),
                        method: method.into(),
                    }
                }
                SsMethod::Aead2022 { key_len, .. } => {
                    if !is_key(password, key_len) {
                        return Err(f.invalid(format!(
                            "needs a {key_len}-byte base64 key for {} as its password \
                             (`openssl rand -base64 {key_len}`)",
                            ss.method
                        )));
                    }
                    Account::Shadowsocks2022 {
                        key: password.into(),
                    }
                }
            }
        }
        Protocol::Hysteria => {
            // Some 3x-ui versions keep the Hysteria secret under `password`.
            let auth = match f.optional("auth")? {
                "" => f
                    .required("password")
                    .map_err(|_| f.invalid("has no auth"))?,
                auth => auth,
            };
            Account::Hysteria { auth: auth.into() }
        }
        Protocol::Socks
        | Protocol::Mixed
        | Protocol::Http
        | Protocol::Tunnel
        | Protocol::Wireguard => unreachable!("{} has no clients", protocol.label()),
    })
}

/// Whether `key` is base64 of exactly `len` bytes (a Shadowsocks 2022 PSK).
pub(super) fn is_key(key: &str, len: usize) -> bool {
    STANDARD.decode(key).is_ok_and(|bytes| bytes.len() == len)
}

/// Reads the string fields of one client, with errors that name it.
#[derive(Clone, Copy)]
struct Field<'a> {
    ctx: Ctx<'a>,
    entry: &'a Map<String, Value>,
    email: &'a str,
}

impl<'a> Field<'a> {
    fn invalid(&self, what: impl std::fmt::Display) -> RenderError {
        self.ctx.invalid(format!("client `{}` {what}", self.email))
    }

    fn optional(&self, key: &str) -> Result<&'a str, RenderError> {
        match self.entry.get(key) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.invalid(format!("has a `{key}` that is not a string"))),
        }
    }

    fn required(&self, key: &str) -> Result<&'a str, RenderError> {
        match self.optional(key)? {
            "" => Err(self.invalid(format!("has no {key}"))),
            value => Ok(value),
        }
    }

    fn id(&self) -> Result<String, RenderError> {
        let id = self.required("id")?;
        if !xray_accepts_id(id) {
            return Err(self.invalid(format!(
                "has id `{id}`, which is neither a UUID nor 1 to 30 characters"
            )));
        }
        Ok(id.into())
    }
}
