//! Rendering a server's desired state into a core configuration (DESIGN §4, §7).
//!
//! Input is 3x-ui's inbound JSON ([`InboundSpec`]); output is the JSON a core reads, built the
//! way 3x-ui builds it (reference/3x-ui.md §2.3, §4.1): only enabled inbounds and clients,
//! clients cut down to the keys the core uses, panel-only keys removed. Two core flavours are
//! served: Xray, and v2ray-core 4.x (Debian's `v2ray` 4.34), which has the same config shape
//! but lacks the newer features; those are refused with [`RenderError::Unsupported`] rather
//! than rendered into something the core would silently ignore.

mod clients;
mod inbound;
mod protocol;
mod settings;
mod stream;
mod template;

pub use template::{
    default_template, xui_default_template, CONTROL_REFUSED_TAG, PRIVATE_RANGES, REFUSED_TAG,
};

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{DesiredState, InboundSpec};

use inbound::Inbound;

/// Which core reads the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Xray-core, the product's target.
    Xray,
    /// v2ray-core 4.x (Debian's `v2ray` 4.34): Xray's upstream, without REALITY, Vision,
    /// gRPC, XHTTP, HTTPUpgrade, Shadowsocks 2022, Hysteria or WireGuard inbounds.
    V2ray,
}

impl Flavour {
    /// For messages: "an Xray", "a v2ray".
    pub fn with_article(self) -> &'static str {
        match self {
            Flavour::Xray => "an Xray",
            Flavour::V2ray => "a v2ray",
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavour::Xray => "xray",
            Flavour::V2ray => "v2ray",
        })
    }
}

/// Node-local choices that go into the configuration beside the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    pub flavour: Flavour,
    /// Loopback port of the core's gRPC API inbound.
    pub api_port: u16,
    /// Access log path; `None` turns the access log off.
    pub access_log: Option<String>,
    /// Core log level, e.g. `warning`.
    pub log_level: String,
    /// Whether `geoip.dat` is installed; without it a `geoip:` rule stops the core starting.
    pub geoip_available: bool,
}

impl RenderOptions {
    /// 3x-ui's defaults: API on 62789, no access log, level `warning`, geo files present.
    pub fn new(flavour: Flavour) -> Self {
        Self {
            flavour,
            api_port: 62789,
            access_log: None,
            log_level: "warning".into(),
            geoip_available: true,
        }
    }
}

/// Why a state cannot become a configuration. Messages name the inbound and say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The inbound is fine, but this core flavour lacks a feature it uses.
    #[error("inbound `{tag}`: {feature} is not available on {} core", flavour.with_article())]
    Unsupported {
        tag: String,
        feature: String,
        flavour: Flavour,
    },
    /// The inbound cannot run on any core as written.
    #[error("inbound `{tag}`: {message}")]
    Invalid { tag: String, message: String },
    /// The operator's core template has the wrong shape.
    #[error("core template: {message}")]
    Template { message: String },
}

/// One client as the core knows it: what `HandlerService.AlterInbound` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Also the core's stats name (`user>>>EMAIL>>>traffic>>>…`).
    pub email: String,
    pub account: Account,
}

/// The protocol-specific credentials of a [`User`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Vmess {
        id: String,
    },
    /// `flow` is empty or `xtls-rprx-vision`.
    Vless {
        id: String,
        flow: String,
    },
    Trojan {
        password: String,
    },
    /// A legacy (AEAD) cipher; each user has its own method.
    Shadowsocks {
        password: String,
        method: String,
    },
    /// A Shadowsocks 2022 user key (base64); the method is the inbound's.
    Shadowsocks2022 {
        key: String,
    },
    Hysteria {
        auth: String,
    },
}

/// The whole core configuration for `state`: the template (or the default one) with the API
/// wiring forced in, followed by every enabled inbound.
pub fn render(state: &DesiredState, opts: &RenderOptions) -> Result<Value, RenderError> {
    let mut tags = HashSet::new();
    for spec in &state.inbounds {
        if spec.tag == template::API_TAG {
            return Err(invalid(
                spec,
                "the tag `api` is reserved for the core's API inbound",
            ));
        }
        if !tags.insert(spec.tag.as_str()) {
            return Err(invalid(
                spec,
                "two inbounds have this tag; tags must be unique",
            ));
        }
    }

    let mut config = template::base(state.template.as_ref(), opts)?;
    template::refuse(&mut config, &state.ip_refusals())?;
    let mut inbounds = template::take_inbounds(&mut config);
    let template_tags: HashSet<String> = inbounds
        .iter()
        .filter_map(|i| i.get("tag").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for spec in state.inbounds.iter().filter(|s| s.enable) {
        if template_tags.contains(&spec.tag) {
            return Err(invalid(
                spec,
                "the core template already has an inbound with this tag",
            ));
        }
        if spec.port == opts.api_port && listens_on_loopback(&spec.listen) {
            return Err(invalid(
                spec,
                format!("port {} is taken by the core's API inbound", spec.port),
            ));
        }
        inbounds.push(render_inbound(spec, opts.flavour)?);
    }
    config.insert("inbounds".into(), Value::Array(inbounds));
    Ok(Value::Object(config))
}

/// One inbound as the core sees it, whether or not it is enabled.
pub fn render_inbound(spec: &InboundSpec, flavour: Flavour) -> Result<Value, RenderError> {
    let inbound = Inbound::parse(spec)?;
    inbound.check(flavour)?;
    Ok(inbound.to_json(flavour))
}

/// The enabled clients of `spec` as core users, for adding them through the core's API.
/// Protocols without per-user accounts (SOCKS, HTTP, tunnel, WireGuard) have none. Fails
/// exactly when [`render_inbound`] does.
pub fn users(spec: &InboundSpec, flavour: Flavour) -> Result<Vec<User>, RenderError> {
    let inbound = Inbound::parse(spec)?;
    inbound.check(flavour)?;
    Ok(inbound.users())
}

fn invalid(spec: &InboundSpec, message: impl Into<String>) -> RenderError {
    RenderError::Invalid {
        tag: spec.tag.clone(),
        message: message.into(),
    }
}

/// Whether an inbound bound to `listen` would collide with the API inbound on 127.0.0.1.
fn listens_on_loopback(listen: &str) -> bool {
    matches!(listen, "" | "0.0.0.0" | "::" | "127.0.0.1" | "localhost")
}

#[cfg(test)]
mod tests;
