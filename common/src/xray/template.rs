//! The configuration around the inbounds: 3x-ui's default template, or the operator's, with
//! the API wiring the agent relies on forced in (the API inbound and its routing rule, stats,
//! and the stats policies: per-user counters and per-inbound and per-outbound ones, since
//! traffic is accounted per outbound too), and the rule that keeps VPN users away from the
//! core's own control listeners.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Flavour, RenderError, RenderOptions};

pub(super) const API_TAG: &str = "api";
/// The blackhole outbound that swallows a client's traffic from refused addresses.
pub const REFUSED_TAG: &str = "ip-limit-refused";
/// The blackhole outbound that swallows a client's traffic to the core's own listeners (the
/// gRPC API, Xray's metrics).
pub const CONTROL_REFUSED_TAG: &str = "control-refused";

/// Address ranges a VPN user must not reach through the default template: the host's
/// loopback, private networks (RFC 1918, CGNAT), link-local, unique-local and unspecified
/// addresses. IPv4-mapped IPv6 forms (`::ffff:127.0.0.1`) need no entry: the core turns them
/// into IPv4 addresses before matching (and v2ray 4.34 refuses a mapped CIDR outright).
pub const PRIVATE_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

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

/// The template the agent uses when the operator has none: 3x-ui's default
/// (reference/3x-ui.md §4.1) minus what `force` adds, with private addresses blocked by
/// explicit ranges ([`PRIVATE_RANGES`]) as well as by `geoip:private`, which needs
/// `geoip.dat` (Debian's v2ray ships none, a fresh agent has none).
///
/// The routing strategy is `IPIfNonMatch`, not 3x-ui's `AsIs`: under `AsIs` IP rules never
/// match a destination given as a domain, so `localhost`, or any name that resolves to a
/// private address, would pass the ranges. `IPIfNonMatch` resolves a domain no rule matched
/// and tries the IP rules again; the cost is one DNS lookup per connection to a domain. (A
/// name that resolves differently when the outbound dials it a moment later is not caught:
/// no 4.x core option re-checks the address it dials.)
pub fn default_template(flavour: Flavour, geoip_available: bool) -> Value {
    let mut blocked: Vec<&str> = PRIVATE_RANGES.to_vec();
    if geoip_available {
        blocked.push("geoip:private");
    }
    let mut config = json!({
        "outbounds": [
            {"tag": "direct", "protocol": "freedom", "settings": {"domainStrategy": "AsIs"}},
            {"tag": "blocked", "protocol": "blackhole", "settings": {}},
        ],
        "routing": {"domainStrategy": "IPIfNonMatch", "rules": [
            {"type": "field", "ip": blocked, "outboundTag": "blocked"},
            {"type": "field", "protocol": ["bittorrent"], "outboundTag": "blocked"},
        ]},
    });
    if flavour == Flavour::Xray {
        config["metrics"] = json!({"tag": "metrics_out", "listen": "127.0.0.1:11111"});
    }
    config
}

fn default(opts: &RenderOptions) -> Map<String, Value> {
    match default_template(opts.flavour, opts.geoip_available) {
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
    // The operator's log settings win, except the access log's path when the agent asks for
    // one: it reads that file (IP limits, the panel's log viewer). The API section is ours,
    // with the services the agent calls (a template's extra services, e.g. 3x-ui v3's
    // RoutingService, are not used).
    let log_section = config.entry("log").or_insert_with(|| log(opts));
    if let (Some(path), Value::Object(section)) = (&opts.access_log, log_section) {
        section.insert("access".into(), path.as_str().into());
    }
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
    let control_ports = control_ports(config, opts);

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
    rules.retain(|r| {
        !matches!(
            r.get("outboundTag").and_then(Value::as_str),
            Some(API_TAG | CONTROL_REFUSED_TAG)
        )
    });
    rules.insert(
        0,
        json!({"type": "field", "inboundTag": [API_TAG], "outboundTag": API_TAG}),
    );
    rules.insert(
        1,
        json!({"type": "field", "port": control_ports, "outboundTag": CONTROL_REFUSED_TAG}),
    );
    let outbounds = match config.entry("outbounds").or_insert_with(|| json!([])) {
        Value::Array(outbounds) => outbounds,
        _ => return Err(error("`outbounds` must be a list")),
    };
    outbounds.retain(|o| o.get("tag").and_then(Value::as_str) != Some(CONTROL_REFUSED_TAG));
    // Last, so it never becomes the default (first) outbound.
    outbounds.push(json!({"tag": CONTROL_REFUSED_TAG, "protocol": "blackhole", "settings": {}}));

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
/// blackhole, right after the forced rules so no operator rule can route it elsewhere. The core
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
            2 + i,
            json!({"type": "field", "user": [email], "source": ips, "outboundTag": REFUSED_TAG}),
        );
    }
    Ok(())
}

/// The ports of the core's own listeners on this host, for the rule `force` puts ahead of
/// every operator rule: the gRPC API (whoever reaches it can add and remove users and read
/// everyone's traffic) and Xray's metrics listener when the config has one.
///
/// The rule matches the port alone, whatever the address. Matching `127.0.0.1` as well would
/// miss a destination a VPN user names as a domain (`localhost`, or any DNS name that
/// resolves to 127.0.0.1): under the `AsIs` routing strategy, 3x-ui's default and likely an
/// operator's, IP rules are never matched against domains. The price is that no client
/// reaches these port numbers on any other host either; the API port is a random free port.
fn control_ports(config: &Map<String, Value>, opts: &RenderOptions) -> String {
    let mut ports = vec![opts.api_port];
    let metrics = config
        .get("metrics")
        .and_then(|m| m.get("listen"))
        .and_then(Value::as_str)
        .and_then(|listen| listen.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    ports.extend(metrics.filter(|p| *p != opts.api_port));
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
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
