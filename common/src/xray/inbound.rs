//! One inbound: parsed and checked once, then written for a flavour.

use serde_json::{Map, Value};

use super::clients::{self, Client, SsInbound};
use super::protocol::{is_uuid, Ctx, Protocol, SsMethod};
use super::stream::Stream;
use super::{settings, Flavour, RenderError, User};
use crate::state::InboundSpec;

pub(super) struct Inbound<'a> {
    spec: &'a InboundSpec,
    protocol: Protocol,
    settings: Map<String, Value>,
    /// Shadowsocks only: the inbound's method.
    ss: Option<(&'a str, SsMethod)>,
    clients: Vec<Client>,
    stream: Stream,
}

impl<'a> Inbound<'a> {
    /// Everything that makes the inbound unusable on any core.
    pub fn parse(spec: &'a InboundSpec) -> Result<Self, RenderError> {
        if spec.tag.trim().is_empty() {
            return Err(RenderError::Invalid {
                tag: format!("#{}", spec.id),
                message: "an inbound needs a tag".into(),
            });
        }
        let ctx = Ctx { tag: &spec.tag };
        // Port 0 is how the cores listen on a Unix socket path (`/…` or abstract `@…`).
        if spec.port == 0 && !spec.listen.starts_with(['/', '@']) {
            return Err(ctx.invalid("port 0 cannot be listened on; pick a port from 1 to 65535"));
        }
        let protocol = Protocol::parse(&spec.protocol)
            .ok_or_else(|| ctx.invalid(format!("unknown protocol `{}`", spec.protocol)))?;
        let settings = match &spec.settings {
            Value::Null => Map::new(),
            Value::Object(settings) => settings.clone(),
            _ => return Err(ctx.invalid("`settings` must be an object")),
        };
        let ss = match protocol {
            Protocol::Shadowsocks => Some(ss_method(ctx, spec)?),
            _ => None,
        };
        let clients = if protocol.has_clients() {
            let ss = ss.map(|(method, kind)| SsInbound { method, kind });
            clients::parse(ctx, protocol, &settings, ss)?
        } else {
            Vec::new()
        };
        let stream = Stream::parse(ctx, protocol, &spec.stream_settings)?;
        stream.validate(ctx, protocol, clients.iter().any(Client::has_flow))?;
        settings::validate(ctx, protocol, &settings, &clients, ss)?;
        settings::sniffing(ctx, &spec.sniffing, Flavour::Xray)?;
        Ok(Self {
            spec,
            protocol,
            settings,
            ss,
            clients,
            stream,
        })
    }

    /// What the flavour lacks. The order puts the most basic refusal first: the protocol,
    /// then transport and security, then flow, settings and client ids.
    pub fn check(&self, flavour: Flavour) -> Result<(), RenderError> {
        if flavour == Flavour::Xray {
            return Ok(());
        }
        let ctx = self.ctx();
        let refuse = |feature: String| Err(ctx.unsupported(feature, Flavour::V2ray));
        // v2ray answers `unknown config id` to these. Its socks inbound does not answer
        // HTTP, so `mixed` cannot fall back to `socks`.
        match self.protocol {
            Protocol::Hysteria => return refuse("Hysteria".into()),
            Protocol::Wireguard => return refuse("the WireGuard inbound".into()),
            Protocol::Mixed => return refuse("the mixed (SOCKS + HTTP) protocol".into()),
            _ => {}
        }
        self.stream.check_v2ray(ctx)?;
        // v2ray 4.34 has no `flow` at all: it accepts the key and ignores it, so Vision
        // clients would connect to a server that does not speak Vision.
        if self.clients.iter().any(Client::has_flow) {
            return refuse("the XTLS Vision flow".into());
        }
        settings::check_v2ray(
            ctx,
            self.protocol,
            &self.settings,
            &self.clients,
            self.ss.map(|(method, _)| method),
        )?;
        // `failed to parse ID > invalid UUID`; Xray maps short strings to UUIDs, v2ray does not.
        if let Some(client) = self
            .clients
            .iter()
            .find(|c| c.id().is_some_and(|id| !is_uuid(id)))
        {
            return refuse(format!(
                "a client id that is not a UUID (client `{}`)",
                client.email
            ));
        }
        Ok(())
    }

    pub fn to_json(&self, flavour: Flavour) -> Value {
        let spec = self.spec;
        let mut out = Map::new();
        out.insert("tag".into(), spec.tag.clone().into());
        let listen = if spec.listen.is_empty() {
            "0.0.0.0"
        } else {
            &spec.listen
        };
        out.insert("listen".into(), listen.into());
        out.insert("port".into(), spec.port.into());
        out.insert("protocol".into(), self.core_protocol(flavour).into());
        let kind = self.ss.map(|(_, kind)| kind);
        let settings =
            settings::to_json(self.protocol, &self.settings, &self.clients, kind, flavour);
        out.insert("settings".into(), settings);
        if let Some(stream) = self.stream.to_json(self.protocol, flavour) {
            out.insert("streamSettings".into(), stream);
        }
        let sniffing = settings::sniffing(self.ctx(), &spec.sniffing, flavour)
            .expect("sniffing was checked in parse");
        if let Some(sniffing) = sniffing {
            out.insert("sniffing".into(), sniffing);
        }
        Value::Object(out)
    }

    pub fn users(&self) -> Vec<User> {
        self.clients.iter().map(Client::user).collect()
    }

    fn ctx(&self) -> Ctx<'a> {
        Ctx {
            tag: &self.spec.tag,
        }
    }

    fn core_protocol(&self, flavour: Flavour) -> &'a str {
        match (self.protocol, flavour) {
            // Xray takes both names; keep the one the operator chose.
            (Protocol::Tunnel, Flavour::Xray) => &self.spec.protocol,
            (Protocol::Tunnel, Flavour::V2ray) => "dokodemo-door",
            (Protocol::Hysteria, _) => "hysteria",
            _ => &self.spec.protocol,
        }
    }
}

fn ss_method<'a>(ctx: Ctx<'_>, spec: &'a InboundSpec) -> Result<(&'a str, SsMethod), RenderError> {
    let method = spec
        .settings
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("");
    if method.is_empty() {
        return Err(ctx.invalid("Shadowsocks needs `settings.method`"));
    }
    let kind = SsMethod::parse(method)
        .ok_or_else(|| ctx.invalid(format!("unknown Shadowsocks method `{method}`")))?;
    Ok((method, kind))
}
