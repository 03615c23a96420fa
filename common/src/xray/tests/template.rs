//! The configuration around the inbounds: the default template and an operator's.

use serde_json::{json, Value};

use super::{template_state, whole_state};
use crate::state::DesiredState;
use crate::xray::*;

fn rules(config: &Value) -> &Vec<Value> {
    config["routing"]["rules"].as_array().expect("rules")
}

#[test]
fn default_template_follows_3x_ui_with_stats_everywhere() {
    let opts = RenderOptions {
        api_port: 10085,
        access_log: Some("/var/log/xray/access.log".into()),
        log_level: "info".into(),
        ..RenderOptions::new(Flavour::Xray)
    };
    let config = render(&DesiredState::default(), &opts).unwrap();
    assert_eq!(
        config["log"],
        json!({"access": "/var/log/xray/access.log", "error": "", "loglevel": "info"})
    );
    assert_eq!(
        config["api"],
        json!({"tag": "api", "services": ["HandlerService", "LoggerService", "StatsService"]})
    );
    assert_eq!(
        config["inbounds"],
        json!([{"tag": "api", "listen": "127.0.0.1", "port": 10085, "protocol": "tunnel",
                "settings": {"address": "127.0.0.1"}}])
    );
    assert_eq!(config["stats"], json!({}));
    assert_eq!(
        config["policy"],
        json!({
            "levels": {"0": {"statsUserUplink": true, "statsUserDownlink": true, "statsUserOnline": true}},
            "system": {"statsInboundUplink": true, "statsInboundDownlink": true,
                       "statsOutboundUplink": true, "statsOutboundDownlink": true},
        })
    );
    let mut blocked: Vec<&str> = PRIVATE_RANGES.to_vec();
    blocked.push("geoip:private");
    assert_eq!(
        rules(&config),
        &vec![
            json!({"type": "field", "inboundTag": ["api"], "outboundTag": "api"}),
            json!({"type": "field", "port": "10085,11111", "outboundTag": CONTROL_REFUSED_TAG}),
            json!({"type": "field", "ip": blocked, "outboundTag": "blocked"}),
            json!({"type": "field", "protocol": ["bittorrent"], "outboundTag": "blocked"}),
        ]
    );
    assert_eq!(config["routing"]["domainStrategy"], "IPIfNonMatch");
    assert_eq!(
        config["metrics"],
        json!({"tag": "metrics_out", "listen": "127.0.0.1:11111"})
    );
    let outbounds = config["outbounds"].as_array().unwrap();
    assert_eq!(
        outbounds[0]["tag"], "direct",
        "the default route stays first"
    );
    assert_eq!(
        outbounds.last().unwrap(),
        &json!({"tag": CONTROL_REFUSED_TAG, "protocol": "blackhole", "settings": {}})
    );
}

/// Without geo files the default still blocks every private range by explicit CIDRs, for
/// IPv4 and IPv6, and resolves domains before giving up on the IP rules.
#[test]
fn the_default_blocks_private_ranges_without_geo_files() {
    for flavour in [Flavour::Xray, Flavour::V2ray] {
        let opts = RenderOptions {
            geoip_available: false,
            ..RenderOptions::new(flavour)
        };
        let config = render(&DesiredState::default(), &opts).unwrap();
        assert_eq!(config["routing"]["domainStrategy"], "IPIfNonMatch");
        let blocked = rules(&config)
            .iter()
            .find(|r| r["outboundTag"] == "blocked" && r.get("ip").is_some())
            .expect("a rule blocking addresses");
        for range in [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "0.0.0.0/8",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
            "::/128",
        ] {
            assert!(
                blocked["ip"].as_array().unwrap().contains(&json!(range)),
                "{flavour}: {range} is not blocked: {blocked}"
            );
        }
        assert!(!config.to_string().contains("geoip"), "{flavour}");
    }
}

/// The core's API port is refused by port alone, ahead of every operator rule, whatever the
/// template says: a template that routes everything (loopback included) direct, under `AsIs`,
/// still cannot open the API to clients; the metrics listener is refused too.
#[test]
fn the_control_ports_are_refused_ahead_of_any_template_rule() {
    let template = json!({
        "outbounds": [{"tag": "direct", "protocol": "freedom", "settings": {}}],
        "routing": {"domainStrategy": "AsIs", "rules": [
            {"type": "field", "ip": ["127.0.0.0/8"], "outboundTag": "direct"},
            {"type": "field", "port": "0-65535", "outboundTag": "direct"},
            {"type": "field", "port": "1-2", "outboundTag": CONTROL_REFUSED_TAG},
        ]},
        "metrics": {"tag": "metrics_out", "listen": "127.0.0.1:9100"},
    });
    let state = DesiredState {
        template: Some(template),
        ..DesiredState::default()
    };
    let opts = RenderOptions {
        api_port: 40000,
        ..RenderOptions::new(Flavour::Xray)
    };
    let config = render(&state, &opts).unwrap();
    assert_eq!(
        rules(&config),
        &vec![
            json!({"type": "field", "inboundTag": ["api"], "outboundTag": "api"}),
            json!({"type": "field", "port": "40000,9100", "outboundTag": CONTROL_REFUSED_TAG}),
            json!({"type": "field", "ip": ["127.0.0.0/8"], "outboundTag": "direct"}),
            json!({"type": "field", "port": "0-65535", "outboundTag": "direct"}),
        ],
        "the forced rule comes right after the API's own, and a template cannot bring its own"
    );
    assert_eq!(
        config["routing"]["domainStrategy"], "AsIs",
        "the operator's"
    );
    assert_eq!(
        config["outbounds"],
        json!([
            {"tag": "direct", "protocol": "freedom", "settings": {}},
            {"tag": CONTROL_REFUSED_TAG, "protocol": "blackhole", "settings": {}},
        ])
    );
    // v2ray has no metrics listener: only the API port.
    let config = render(
        &state,
        &RenderOptions {
            api_port: 40000,
            ..RenderOptions::new(Flavour::V2ray)
        },
    )
    .unwrap();
    assert_eq!(
        rules(&config)[1],
        json!({"type": "field", "port": "40000", "outboundTag": CONTROL_REFUSED_TAG})
    );
}

#[test]
fn default_template_on_v2ray() {
    let opts = RenderOptions {
        geoip_available: false,
        ..RenderOptions::new(Flavour::V2ray)
    };
    let config = render(&DesiredState::default(), &opts).unwrap();
    assert_eq!(config["log"]["access"], "none");
    assert_eq!(config["inbounds"][0]["protocol"], "dokodemo-door");
    assert_eq!(config["inbounds"][0]["port"], 62789);
    assert!(config.get("metrics").is_none());
    assert!(config["policy"]["levels"]["0"]
        .get("statsUserOnline")
        .is_none());
    // No geo files, no geoip rule: v2ray would not start otherwise.
    assert!(!config.to_string().contains("geoip"));
    assert_eq!(rules(&config).len(), 4);
}

#[test]
fn a_template_keeps_its_own_parts_and_gets_the_api_wiring() {
    let config = render(&template_state(), &RenderOptions::new(Flavour::Xray)).unwrap();
    // The operator's log and outbounds stay as written.
    assert_eq!(config["log"]["loglevel"], "info");
    assert_eq!(
        config["outbounds"][0],
        json!({"tag": "direct", "protocol": "freedom", "settings": {}})
    );
    assert_eq!(config["routing"]["domainStrategy"], "IPIfNonMatch");
    // The API section and API inbound are ours; the template's inbounds come before the state's.
    assert_eq!(config["api"]["services"].as_array().unwrap().len(), 3);
    let inbounds = config["inbounds"].as_array().unwrap();
    let tags: Vec<&str> = inbounds
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["api", "tpl-socks", "in-443"]);
    assert_eq!(inbounds[0]["port"], 62789);
    assert_eq!(inbounds[0]["protocol"], "tunnel");
    // The API rule comes first, once, then the refusal of the control ports; the operator's
    // rules follow.
    assert_eq!(
        rules(&config),
        &vec![
            json!({"type": "field", "inboundTag": ["api"], "outboundTag": "api"}),
            json!({"type": "field", "port": "62789,11111", "outboundTag": CONTROL_REFUSED_TAG}),
            json!({"type": "field", "domain": ["domain:ads.example"], "outboundTag": "blocked"}),
        ]
    );
    // Stats policies are forced on, other policy fields are kept.
    let level = &config["policy"]["levels"]["0"];
    assert_eq!(level["handshake"], 4);
    assert_eq!(level["statsUserUplink"], true);
    assert_eq!(config["policy"]["system"]["statsOutboundDownlink"], true);
    assert_eq!(config["stats"], json!({}));
    assert!(config.get("metrics").is_some());
}

/// The agent's access log stays on under an operator's log section that turns it off (as
/// 3x-ui's default template does); the rest of the section is the operator's.
#[test]
fn a_template_keeps_the_agents_access_log() {
    let state = DesiredState {
        template: Some(json!({"log": {"access": "none", "loglevel": "debug", "dnsLog": true}})),
        ..whole_state()
    };
    let opts = RenderOptions {
        access_log: Some("/var/lib/xfleet/core/access.log".into()),
        ..RenderOptions::new(Flavour::V2ray)
    };
    let config = render(&state, &opts).unwrap();
    assert_eq!(
        config["log"],
        json!({"access": "/var/lib/xfleet/core/access.log", "loglevel": "debug", "dnsLog": true})
    );
}

#[test]
fn a_template_loses_metrics_on_v2ray() {
    let config = render(&template_state(), &RenderOptions::new(Flavour::V2ray)).unwrap();
    assert!(config.get("metrics").is_none());
    assert_eq!(config["inbounds"][0]["protocol"], "dokodemo-door");
}

#[test]
fn a_template_without_sections_gets_them() {
    let state = DesiredState {
        template: Some(json!({"outbounds": [{"protocol": "freedom"}]})),
        ..whole_state()
    };
    let config = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap();
    assert_eq!(config["log"]["access"], "none");
    assert_eq!(rules(&config).len(), 2);
    assert_eq!(config["inbounds"].as_array().unwrap().len(), 4);
}

#[test]
fn a_misshapen_template_is_refused() {
    for (template, message) in [
        (json!([]), "core template: it must be a JSON object"),
        (
            json!({"inbounds": {}}),
            "core template: `inbounds` must be a list",
        ),
        (
            json!({"routing": []}),
            "core template: `routing` must be an object",
        ),
        (
            json!({"routing": {"rules": {}}}),
            "core template: `routing.rules` must be a list",
        ),
        (
            json!({"policy": {"levels": []}}),
            "core template: `policy.levels` must be an object",
        ),
    ] {
        let state = DesiredState {
            template: Some(template),
            ..DesiredState::default()
        };
        let error = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn refused_addresses_go_to_a_blackhole_right_after_the_forced_rules() {
    use crate::state::ClientLimit;
    let limit = |email: &str, ips: &[&str]| ClientLimit {
        email: email.into(),
        expiry_ms: 0,
        remaining_bytes: None,
        refused_ips: ips.iter().map(|s| s.to_string()).collect(),
    };
    let state = DesiredState {
        limits: vec![
            limit("bob", &["198.51.100.9", "127.0.0.2"]),
            limit("carol", &[]),
        ],
        ..template_state()
    };
    for flavour in [Flavour::Xray, Flavour::V2ray] {
        let config = render(&state, &RenderOptions::new(flavour)).unwrap();
        assert_eq!(
            rules(&config)[..4],
            [
                json!({"type": "field", "inboundTag": ["api"], "outboundTag": "api"}),
                rules(&config)[1].clone(),
                json!({"type": "field", "user": ["bob"], "source": ["127.0.0.2", "198.51.100.9"],
                       "outboundTag": REFUSED_TAG}),
                json!({"type": "field", "domain": ["domain:ads.example"], "outboundTag": "blocked"}),
            ]
        );
        let outbounds = config["outbounds"].as_array().unwrap();
        assert_eq!(outbounds[0]["tag"], "direct", "the default outbound stays");
        assert_eq!(
            outbounds.last().unwrap(),
            &json!({"tag": REFUSED_TAG, "protocol": "blackhole", "settings": {}})
        );
    }
    // Without refusals nothing is added.
    let plain = render(&template_state(), &RenderOptions::new(Flavour::Xray)).unwrap();
    assert!(!plain.to_string().contains(REFUSED_TAG));
}

/// Sections xfleet does not touch reach the core exactly as the operator wrote them, newer
/// ones included.
#[test]
fn a_templates_other_sections_are_kept_verbatim() {
    let extra = json!({
        "transport": {"tcpSettings": {"acceptProxyProtocol": true}},
        "fakedns": [{"ipPool": "198.18.0.0/15", "poolSize": 65535}],
        "observatory": {"subjectSelector": ["proxy-"], "probeInterval": "1m"},
        "burstObservatory": {"subjectSelector": ["proxy-"], "pingConfig": {"timeout": "5s"}},
        "reverse": {"portals": [{"tag": "portal", "domain": "reverse.example"}]},
        "dns": {"servers": ["1.1.1.1", {"address": "8.8.8.8", "domains": ["geosite:google"]}]},
        "aBrandNewSection": {"anything": [1, 2, 3]},
    });
    let mut template = json!({"outbounds": [{"tag": "direct", "protocol": "freedom"}],
        "routing": {"balancers": [{"tag": "b", "selector": ["proxy-"]}], "rules": []}});
    for (key, value) in extra.as_object().unwrap() {
        template[key] = value.clone();
    }
    let state = DesiredState {
        template: Some(template),
        ..whole_state()
    };
    let config = render(&state, &RenderOptions::new(Flavour::Xray)).unwrap();
    for (key, value) in extra.as_object().unwrap() {
        assert_eq!(&config[key], value, "{key}");
    }
    assert_eq!(
        config["routing"]["balancers"],
        json!([{"tag": "b", "selector": ["proxy-"]}])
    );
}
