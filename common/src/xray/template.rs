//! The configuration around the inbounds: 3x-ui's default template, or the operator's, with
//! the API wiring the agent relies on forced in (the API inbound and its routing rule, stats,
//! and the stats policies: per-user counters and per-inbound and per-outbound ones, since
//! traffic is accounted per outbound too).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Flavour, RenderError, RenderOptions};

pub(super) const API_TAG: &str = "api";
/// The blackhole outbound that swallows a client's traffic from refused addresses.
pub const REFUSED_TAG: &str = "ip-limit-refused";

/// The template (or the default one) with the API wiring in place.
pub(super) fn base(
    template: Option<&Value>,
    opts: &RenderOptions,
) -> Result<Map<String, Value>, RenderError> {
    let mut config = match template {
        None => default(opts),
        Some(Value::Object(template)) => template.clone(),
        Some(_) => return Err(error("it must be a JSON object")),
    };
    force(&mut config, opts)?;
    Ok(config)
}

/// Takes the inbound list out of a config `base` returned, to append to it.
pub(super) fn take_inbounds(config: &mut Map<String, Value>) -> Vec<Value> {
    match config.remove("inbounds") {
        Some(Value::Array(inbounds)) => inbounds,
        _ => unreachable!("`force` leaves a list of inbounds"),
    }
}

/// 3x-ui's default template as its panel shows it (`getDefaultJsonConfig`, v2.9): the
/// starting point an operator edits. What the agent renders from it is [`base`]'s.
pub fn xui_default_template() -> Value {
    json!({
        "log": {"access": "none", "dnsLog": false, "error": "", "loglevel": "warning", "maskAddress": ""},
        "api": {"tag": "api", "services": ["HandlerService", "LoggerService", "StatsService"]},
        "inbounds": [{
            "tag": "api", "listen": "127.0.0.1", "port": 62789, "protocol": "tunnel",
            "settings": {"address": "127.0.0.1"}
        }],
        "outbounds": [
            {"tag": "direct", "protocol": "freedom", "settings": {"domainStrategy": "AsIs"}},
            {"tag": "blocked", "protocol": "blackhole", "settings": {}}
        ],
        "policy": {
            "levels": {"0": {"statsUserDownlink": true, "statsUserUplink": true}},
            "system": {
                "statsInboundDownlink": true, "statsInboundUplink": true,
                "statsOutboundDownlink": false, "statsOutboundUplink": false
            }
        },
        "routing": {"domainStrategy": "AsIs", "rules": [
            {"type": "field", "inboundTag": ["api"], "outboundTag": "api"},
            {"type": "field", "ip": ["geoip:private"], "outboundTag": "blocked"},
            {"type": "field", "protocol": ["bittorrent"], "outboundTag": "blocked"}
        ]},
        "stats": {},
        "metrics": {"tag": "metrics_out", "listen": "127.0.0.1:11111"}
    })
}

/// 3x-ui's default (reference/3x-ui.md §4.1), minus what `force` adds.
fn default(opts: &RenderOptions) -> Map<String, Value> {
    let mut rules = Vec::new();
    if opts.geoip_available {
        rules.push(json!({"type": "field", "ip": ["geoip:private"], "outboundTag": "blocked"}));
    }
    rules.push(json!({"type": "field", "protocol": ["bittorrent"], "outboundTag": "blocked"}));
    let mut config = json!({
        "log": log(opts),
        "outbounds": [
            {"tag": "direct", "protocol": "freedom", "settings": {"domainStrategy": "AsIs"}},
            {"tag": "blocked", "protocol": "blackhole", "settings": {}},
        ],
        "routing": {"domainStrategy": "AsIs", "rules": rules},
    });
    if opts.flavour == Flavour::Xray {
        config["metrics"] = json!({"tag": "metrics_out", "listen": "127.0.0.1:11111"});
    }
    match config {
        Value::Object(config) => config,
        _ => unreachable!(),
    }
}

fn log(opts: &RenderOptions) -> Value {
    json!({
        "access": opts.access_log.as_deref().unwrap_or("none"),
        "error": "",
        "loglevel": opts.log_level,
    })
}

fn force(config: &mut Map<String, Value>, opts: &RenderOptions) -> Result<(), RenderError> {
    // The operator's log settings win; the API section is ours, with the services the agent
    // calls (a template's extra services, e.g. 3x-ui v3's RoutingService, are not used).
    config.entry("log").or_insert_with(|| log(opts));
    config.insert(
        "api".into(),
        json!({"tag": API_TAG, "services": ["HandlerService", "LoggerService", "StatsService"]}),
    );
    if !config.get("stats").is_some_and(Value::is_object) {
        config.insert("stats".into(), json!({}));
    }
    if opts.flavour == Flavour::V2ray {
        // v2ray 4.x has no metrics section.
        config.remove("metrics");
    }

    let mut inbounds = match config.remove("inbounds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(inbounds)) => inbounds,
        Some(_) => return Err(error("`inbounds` must be a list")),
    };
    inbounds.retain(|i| i.get("tag").and_then(Value::as_str) != Some(API_TAG));
    inbounds.insert(0, api_inbound(opts));
    config.insert("inbounds".into(), inbounds.into());

    let routing = object(config, "routing", "routing")?;
    let rules = match routing.entry("rules").or_insert_with(|| json!([])) {
        Value::Array(rules) => rules,
        _ => return Err(error("`routing.rules` must be a list")),
    };
    rules.retain(|r| r.get("outboundTag").and_then(Value::as_str) != Some(API_TAG));
    rules.insert(
        0,
        json!({"type": "field", "inboundTag": [API_TAG], "outboundTag": API_TAG}),
    );

    let policy = object(config, "policy", "policy")?;
    let level = object(
        object(policy, "levels", "policy.levels")?,
        "0",
        "policy.levels.0",
    )?;
    level.insert("statsUserUplink".into(), true.into());
    level.insert("statsUserDownlink".into(), true.into());
    if opts.flavour == Flavour::Xray {
        // Online users with their IPs (`GetUsersStats`); v2ray has no such counter.
        level.insert("statsUserOnline".into(), true.into());
    }
    let system = object(policy, "system", "policy.system")?;
    for key in [
        "statsInboundUplink",
        "statsInboundDownlink",
        "statsOutboundUplink",
        "statsOutboundDownlink",
    ] {
        system.insert(key.into(), true.into());
    }
    Ok(())
}

/// IP limits: a routing rule per client sends its traffic from refused source addresses to a
/// blackhole, right after the API rule so no operator rule can route it elsewhere. The core
/// matches the rule on the authenticated user (`user`, the client's email) and the
/// connection's source (`source`), so other clients on the same address are untouched. The
/// connection is accepted and then closed at once; routing rules only change with a restart.
pub(super) fn refuse(
    config: &mut Map<String, Value>,
    refusals: &BTreeMap<&str, Vec<&str>>,
) -> Result<(), RenderError> {
    if refusals.is_empty() {
        return Ok(());
    }
    let outbounds = match config.entry("outbounds").or_insert_with(|| json!([])) {
        Value::Array(outbounds) => outbounds,
        _ => return Err(error("`outbounds` must be a list")),
    };
    outbounds.retain(|o| o.get("tag").and_then(Value::as_str) != Some(REFUSED_TAG));
    // Last, so it never becomes the default (first) outbound of a template that has others.
    outbounds.push(json!({"tag": REFUSED_TAG, "protocol": "blackhole", "settings": {}}));
    let rules = config
        .get_mut("routing")
        .and_then(|r| r.get_mut("rules"))
        .and_then(Value::as_array_mut)
        .expect("`force` leaves a list of routing rules");
    rules.retain(|r| r.get("outboundTag").and_then(Value::as_str) != Some(REFUSED_TAG));
    for (i, (email, ips)) in refusals.iter().enumerate() {
        rules.insert(
            1 + i,
            json!({"type": "field", "user": [email], "source": ips, "outboundTag": REFUSED_TAG}),
        );
    }
    Ok(())
}

/// The loopback inbound the core's gRPC API answers on.
fn api_inbound(opts: &RenderOptions) -> Value {
    let protocol = match opts.flavour {
        Flavour::Xray => "tunnel",
        Flavour::V2ray => "dokodemo-door",
    };
    json!({
        "tag": API_TAG,
        "listen": "127.0.0.1",
        "port": opts.api_port,
        "protocol": protocol,
        "settings": {"address": "127.0.0.1"},
    })
}

/// `map[key]` as an object, created when missing.
fn object<'m>(
    map: &'m mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'m mut Map<String, Value>, RenderError> {
    match map.entry(key).or_insert_with(|| json!({})) {
        Value::Object(object) => Ok(object),
        _ => Err(error(&format!("`{path}` must be an object"))),
    }
}

fn error(message: &str) -> RenderError {
    RenderError::Template {
        message: message.into(),
    }
}
