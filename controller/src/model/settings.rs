//! Panel settings: 3x-ui's keys (reference/3x-ui.md §6) with their types and defaults, what
//! xfleet does with each, and one checked, all-or-nothing update shared by the native API
//! and 3x-ui's `/panel/setting/update`.
//!
//! Every key 3x-ui's settings form sends is known, so that form can be sent back whole. Keys
//! xfleet keeps are stored as text; `xrayTemplateConfig`, the fleet's core template, is
//! checked when set and a change is pushed to every server. Keys for a feature xfleet does
//! without (LDAP, e-mail, 3x-ui's node identity) or handles its own way (two-factor login, the session secret) are
//! accepted only at the value that means "unused" or "unchanged", and a change is refused
//! with the reason. Unknown keys are refused by name.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use xfleet_common::state::DesiredState;
use xfleet_common::xray::{self, Flavour, RenderOptions};

use super::core_templates::{self, ServerRef};
use super::{setting_rules, ModelError, Problems, Refusal};
use crate::backup::schedule;
use crate::config::place;
pub use crate::fleet::desired::CORE_TEMPLATE;
use crate::https::{self, TlsFileError};
use crate::Controller;

/// How a setting's value is written in 3x-ui's `AllSetting` JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
}

/// What xfleet does with a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Stored and read (panel, subscriptions, Telegram bot, jobs) or kept for later.
    Kept,
    /// Held in xfleet's own state; only the value it reports may be sent back.
    Own(&'static str),
    /// No counterpart: only the default may be sent.
    Without(&'static str),
}

/// One known setting.
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub usage: Use,
}

const fn key(name: &'static str, kind: Kind, default: &'static str) -> Key {
    Key {
        name,
        kind,
        default,
        usage: Use::Kept,
    }
}

const fn own(name: &'static str, kind: Kind, default: &'static str, why: &'static str) -> Key {
    Key {
        name,
        kind,
        default,
        usage: Use::Own(why),
    }
}

const fn without(name: &'static str, kind: Kind, default: &'static str, why: &'static str) -> Key {
    Key {
        name,
        kind,
        default,
        usage: Use::Without(why),
    }
}

use Kind::{Bool, Int, Text};

// Why a key cannot be set here: catalog keys of the whole refusal ("cannot be set here: …").
const TWO_FACTOR: &str = "err.setting_two_factor";
const LDAP: &str = "err.setting_ldap";
const SMTP: &str = "err.setting_smtp";
const NODE: &str = "err.setting_node";
const OUTBOUNDS: &str = "err.setting_outbounds";
const WARP: &str = "err.setting_warp";
const WARP_ROTATION: &str = "err.setting_warp_rotation";
const SECRET: &str = "err.setting_secret";

/// The setting that names the server calls without `server_id` act on (an id; empty: the
/// local server, else the first).
pub const DEFAULT_SERVER: &str = "defaultServer";

/// Every setting xfleet knows: 3x-ui's (v2.9 and v3) and its own.
pub const KEYS: &[Key] = &[
    // Panel
    key("webListen", Text, ""),
    key("webDomain", Text, ""),
    key("webPort", Int, "2053"),
    key("webCertFile", Text, ""),
    key("webKeyFile", Text, ""),
    key("webBasePath", Text, "/"),
    key("sessionMaxAge", Int, "360"),
    key("pageSize", Int, "25"),
    key("expireDiff", Int, "0"),
    key("trafficDiff", Int, "0"),
    key("remarkModel", Text, "-ieo"),
    key("remarkTemplate", Text, ""),
    key("datepicker", Text, "gregorian"),
    key("timeLocation", Text, "Local"),
    key("restartXrayOnClientDisable", Bool, "true"),
    key(
        "xrayOutboundTestUrl",
        Text,
        "https://www.google.com/generate_204",
    ),
    key("externalTrafficInformEnable", Bool, "false"),
    key("externalTrafficInformURI", Text, ""),
    key("trustedProxyCIDRs", Text, ""),
    key("ipLimitAllowlist", Text, ""),
    key("outboundDownThreshold", Int, "3"),
    key(DEFAULT_SERVER, Text, ""),
    // Telegram
    key("tgBotEnable", Bool, "false"),
    key("tgBotToken", Text, ""),
    key("tgBotProxy", Text, ""),
    key("tgBotAPIServer", Text, ""),
    key("tgBotChatId", Text, ""),
    key("tgRunTime", Text, "@daily"),
    key("tgBotBackup", Bool, "false"),
    key("tgBotLoginNotify", Bool, "true"),
    key("tgCpu", Int, "80"),
    key("tgMemory", Int, "80"),
    key("tgLang", Text, "en-US"),
    key("tgEnabledEvents", Text, crate::telegram::DEFAULT_EVENTS),
    key(crate::telegram::OFFLINE_GRACE, Int, "60"),
    // Subscriptions
    key("subEnable", Bool, "true"),
    key("subListen", Text, ""),
    key("subPort", Int, "2096"),
    key("subPath", Text, "/sub/"),
    key("subDomain", Text, ""),
    key("subCertFile", Text, ""),
    key("subKeyFile", Text, ""),
    key("subURI", Text, ""),
    key("subUpdates", Int, "12"),
    key("subEncrypt", Bool, "true"),
    key("subShowInfo", Bool, "true"),
    key("subTitle", Text, ""),
    key("subSupportUrl", Text, ""),
    key("subProfileUrl", Text, ""),
    key("subAnnounce", Text, ""),
    key("subEnableRouting", Bool, "true"),
    key("subRoutingRules", Text, ""),
    key("subJsonEnable", Bool, "false"),
    key("subJsonPath", Text, "/json/"),
    key("subJsonURI", Text, ""),
    key("subJsonFragment", Text, ""),
    key("subJsonNoises", Text, ""),
    key("subJsonMux", Text, ""),
    key("subJsonRules", Text, ""),
    key("subJsonAutoDetect", Bool, "false"),
    key("subJsonUserAgentRegex", Text, ""),
    key("subJsonAlwaysArray", Bool, "false"),
    key("subJsonFinalMask", Text, ""),
    key("subClashEnable", Bool, "true"),
    key("subClashPath", Text, "/clash/"),
    key("subClashURI", Text, ""),
    key("subClashAutoDetect", Bool, "false"),
    key("subClashUserAgentRegex", Text, ""),
    key("subClashEnableRouting", Bool, "false"),
    key("subClashRules", Text, ""),
    key("subHideSettings", Bool, "false"),
    key("subIncyEnableRouting", Bool, "false"),
    key("subIncyRoutingRules", Text, ""),
    key("subThemeDir", Text, ""),
    key("subShowIdentityOnAllLinks", Bool, "false"),
    // Scheduled backups (`backup::schedule`)
    key(schedule::ENABLE, Bool, "false"),
    key(schedule::DIR, Text, ""),
    key(schedule::EVERY_HOURS, Int, "24"),
    key(schedule::KEEP, Int, "7"),
    // Held by xfleet itself
    own("twoFactorEnable", Bool, "false", TWO_FACTOR),
    own("twoFactorToken", Text, "", TWO_FACTOR),
    own("secret", Text, "", SECRET),
    key(CORE_TEMPLATE, Text, ""),
    // No counterpart
    without("ldapEnable", Bool, "false", LDAP),
    without("ldapHost", Text, "", LDAP),
    without("ldapPort", Int, "389", LDAP),
    without("ldapUseTLS", Bool, "false", LDAP),
    without("ldapBindDN", Text, "", LDAP),
    without("ldapPassword", Text, "", LDAP),
    without("ldapBaseDN", Text, "", LDAP),
    without("ldapUserFilter", Text, "(objectClass=person)", LDAP),
    without("ldapUserAttr", Text, "mail", LDAP),
    without("ldapVlessField", Text, "vless_enabled", LDAP),
    without("ldapSyncCron", Text, "@every 1m", LDAP),
    without("ldapFlagField", Text, "", LDAP),
    without("ldapTruthyValues", Text, "true,1,yes,on", LDAP),
    without("ldapInvertFlag", Bool, "false", LDAP),
    without("ldapInboundTags", Text, "", LDAP),
    without("ldapAutoCreate", Bool, "false", LDAP),
    without("ldapAutoDelete", Bool, "false", LDAP),
    without("ldapDefaultTotalGB", Int, "0", LDAP),
    without("ldapDefaultExpiryDays", Int, "0", LDAP),
    without("ldapDefaultLimitIP", Int, "0", LDAP),
    without("ldapInsecureSkipVerify", Bool, "false", LDAP),
    without("smtpEnable", Bool, "false", SMTP),
    without("smtpHost", Text, "", SMTP),
    without("smtpPort", Int, "587", SMTP),
    without("smtpUsername", Text, "", SMTP),
    without("smtpPassword", Text, "", SMTP),
    without("smtpFrom", Text, "", SMTP),
    without("smtpFromName", Text, "", SMTP),
    without("smtpTo", Text, "", SMTP),
    without("smtpEncryptionType", Text, "starttls", SMTP),
    without("smtpEnabledEvents", Text, "", SMTP),
    without("smtpCpu", Int, "80", SMTP),
    without("smtpMemory", Int, "80", SMTP),
    without("panelGuid", Text, "", NODE),
    without("apiToken", Text, "", NODE),
    without("devChannelEnable", Bool, "false", NODE),
    without("panelOutbound", Text, "", NODE),
    own(super::warp::SETTING, Text, "", WARP),
    without("nord", Text, "", OUTBOUNDS),
    without("pia", Text, "", OUTBOUNDS),
    without("warpUpdateInterval", Int, "0", WARP_ROTATION),
];

/// Keys whose values are secrets: listed, their values shown as [`MASK`]; the mask sent back
/// means "unchanged".
pub const SECRET_KEYS: &[&str] = &[
    "tgBotToken",
    "secret",
    "twoFactorToken",
    "ldapPassword",
    "smtpPassword",
    "apiToken",
    // The WARP device's private key, access token and license.
    super::warp::SETTING,
];
pub const MASK: &str = "********";
const MAX_VALUE: usize = 64 * 1024;

pub fn known(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The stored settings over the defaults, secrets masked, each in its 3x-ui type (the
/// `AllSetting` object). xfleet's own state stands in for the keys it holds itself.
pub async fn all(ctl: &Controller) -> Result<BTreeMap<String, Value>, ModelError> {
    let stored = ctl.store.settings().await?;
    let two_factor = ctl.store.any_totp_enabled().await?;
    let mut out = BTreeMap::new();
    for k in KEYS {
        // 3x-ui's `AllSetting` has no template either: its pages edit it on their own.
        if matches!(k.name, "secret" | CORE_TEMPLATE) {
            continue;
        }
        let text = match k.name {
            "twoFactorEnable" => two_factor.to_string(),
            "twoFactorToken" => String::new(),
            _ => stored
                .get(k.name)
                .cloned()
                .unwrap_or_else(|| k.default.to_owned()),
        };
        let value = if SECRET_KEYS.contains(&k.name) && !text.is_empty() {
            Value::from(MASK)
        } else {
            typed(k.kind, &text)
        };
        out.insert(k.name.to_owned(), value);
    }
    Ok(out)
}

/// Text as its 3x-ui type; text that does not parse stays text.
fn typed(kind: Kind, text: &str) -> Value {
    match kind {
        Kind::Text => Value::from(text),
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map_or(Value::from(text), Value::from),
        Kind::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::from(text),
        },
    }
}

/// A sent value as the text it is stored as, if it has the key's type.
/// Errs with the catalog key of why not.
fn as_text(kind: Kind, value: &Value) -> Result<String, &'static str> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err("err.scalar"),
    };
    match kind {
        Kind::Text => Ok(text),
        Kind::Int => text
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| "err.whole"),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "on" | "1" => Ok("true".into()),
            "false" | "off" | "0" | "" => Ok("false".into()),
            _ => Err("err.bool"),
        },
    }
}

/// Checks `body` whole and stores every change in one transaction, or nothing; returns the
/// keys whose stored value changed. Each refusal names its key. A new core template is
/// pushed to every server, as `actor`.
pub async fn update(
    ctl: &Controller,
    body: &BTreeMap<String, Value>,
    actor: &str,
) -> Result<Updated, ModelError> {
    let stored = ctl.store.settings().await?;
    let two_factor = ctl.store.any_totp_enabled().await?;
    let mut p = Problems::default();
    let mut changes: Vec<(String, String)> = Vec::new();
    for (name, value) in body {
        let Some(k) = known(name) else {
            p.say(name.clone(), "err.setting_unknown", &[]);
            continue;
        };
        let text = match as_text(k.kind, value) {
            Ok(text) => text,
            Err(why) => {
                p.say(name.clone(), why, &[]);
                continue;
            }
        };
        let limit = if k.name == CORE_TEMPLATE {
            core_templates::MAX_TEMPLATE
        } else {
            MAX_VALUE
        };
        if text.len() > limit {
            p.say(
                name.clone(),
                "err.size_kib",
                &[("max", (limit / 1024).to_string())],
            );
            continue;
        }
        if SECRET_KEYS.contains(&k.name) && text == MASK {
            continue;
        }
        // Keys xfleet holds itself take back only what `all` shows; those without a
        // counterpart only the value that leaves the feature unused.
        let refused = match k.usage {
            Use::Kept => None,
            Use::Own(why) => {
                let shown = match k.name {
                    "twoFactorEnable" => two_factor.to_string(),
                    _ => String::new(),
                };
                (text != shown).then_some(why)
            }
            Use::Without(why) => (text != k.default && !text.is_empty()).then_some(why),
        };
        if let Some(why) = refused {
            p.say(name.clone(), why, &[]);
        }
        if k.usage != Use::Kept {
            continue;
        }
        // What `all` shows, sent back unchanged, is no change (3x-ui's page sends every key),
        // so a value stored before a rule existed does not block saving the others.
        let shown = stored.get(k.name).map_or(k.default, String::as_str);
        if text != shown {
            if let Some(why) = setting_rules::problem(k.name, &text) {
                p.refuse(name.clone(), why);
                continue;
            }
            changes.push((k.name.to_owned(), text));
        }
    }
    if p.is_empty() {
        check_core_template(&mut changes, stored.get(CORE_TEMPLATE), &mut p);
        check_default_server(ctl, &changes, &mut p).await?;
        check_panel_tls(ctl, &changes, &mut p).await?;
        check_panel_place(ctl, &mut changes, &mut p).await?;
    }
    p.finish()?;
    // The fleet template goes to the servers without one of their own, tested by their
    // cores first.
    let mut checked_on = Vec::new();
    let template = changes.iter().find(|(k, _)| k == CORE_TEMPLATE);
    let fleet: BTreeSet<i64> = match template {
        Some(_) => ctl
            .store
            .list_servers()
            .await?
            .iter()
            .filter(|s| s.core_template_id.is_none())
            .map(|s| s.id)
            .collect(),
        None => BTreeSet::new(),
    };
    // Empty is each server's own built-in default: nothing to test.
    if let Some((_, text)) = template.filter(|(_, t)| !t.is_empty()) {
        let template = serde_json::from_str(text).unwrap_or_default();
        checked_on = core_templates::check_with_cores(ctl, &template, &fleet).await?;
    }
    ctl.store.set_settings(&changes).await?;
    super::push_all(ctl, &fleet, actor).await?;
    Ok(Updated {
        keys: changes.into_iter().map(|(k, _)| k).collect(),
        checked_on,
    })
}

/// What a settings update changed.
#[derive(Debug, Default)]
pub struct Updated {
    pub keys: Vec<String>,
    /// Servers whose core tested a new fleet template.
    pub checked_on: Vec<ServerRef>,
}

/// The core template must be empty (the default) or a JSON object a configuration renders
/// around. It is stored compact: the same template sent again, however laid out, is no
/// change and pushes nothing.
fn check_core_template(
    changes: &mut Vec<(String, String)>,
    stored: Option<&String>,
    p: &mut Problems,
) {
    let Some(at) = changes.iter().position(|(k, _)| k == CORE_TEMPLATE) else {
        return;
    };
    let text = &mut changes[at].1;
    if !text.is_empty() {
        let template = match serde_json::from_str::<Value>(text) {
            Ok(template @ Value::Object(_)) => template,
            Ok(_) => return p.say(CORE_TEMPLATE, "err.core_template_object", &[]),
            Err(e) => return p.say(CORE_TEMPLATE, "err.not_json", &[("error", e.to_string())]),
        };
        // Its shape is checked the way every agent will render it.
        let state = DesiredState {
            template: Some(template),
            ..DesiredState::default()
        };
        if let Err(e) = xray::render(&state, &RenderOptions::new(Flavour::Xray)) {
            return p.add(CORE_TEMPLATE, e.to_string());
        }
        *text = state.template.map(|t| t.to_string()).unwrap_or_default();
    }
    if stored.map_or("", String::as_str) == changes[at].1 {
        changes.remove(at);
    }
}

/// `defaultServer` must name a server (by id or name); stored as the id.
async fn check_default_server(
    ctl: &Controller,
    changes: &[(String, String)],
    p: &mut Problems,
) -> Result<(), ModelError> {
    let Some((_, value)) = changes.iter().find(|(k, _)| k == DEFAULT_SERVER) else {
        return Ok(());
    };
    if value.is_empty() {
        return Ok(());
    }
    let servers = ctl.store.list_servers().await?;
    let found = servers
        .iter()
        .any(|s| s.id.to_string() == *value || s.name == *value);
    if !found {
        p.say(
            DEFAULT_SERVER,
            "err.default_server",
            &[("value", value.clone())],
        );
    }
    Ok(())
}

/// A setting as it will be once `changes` are stored: the new value, else the stored one.
async fn after_change(
    ctl: &Controller,
    changes: &[(String, String)],
    key: &str,
) -> Result<String, ModelError> {
    Ok(match changes.iter().find(|(k, _)| k == key) {
        Some((_, v)) => v.trim().to_owned(),
        None => ctl.store.setting(key).await?.unwrap_or_default(),
    })
}

/// `webCertFile`/`webKeyFile` are read at the next start, and files that cannot serve TLS
/// stop it: refuse them now, while the admin can still fix them from the panel.
async fn check_panel_tls(
    ctl: &Controller,
    changes: &[(String, String)],
    p: &mut Problems,
) -> Result<(), ModelError> {
    let changed = |key: &str| changes.iter().any(|(k, _)| k == key);
    if !changed("webCertFile") && !changed("webKeyFile") {
        return Ok(());
    }
    let cert_file = after_change(ctl, changes, "webCertFile").await?;
    let key_file = after_change(ctl, changes, "webKeyFile").await?;
    match (cert_file.is_empty(), key_file.is_empty()) {
        (true, true) => {}
        (false, true) => p.say("webKeyFile", "err.key_file_needed", &[]),
        (true, false) => p.say("webCertFile", "err.cert_file_needed", &[]),
        (false, false) => {
            let files = https::PemFiles {
                cert_file,
                key_file,
                cert_setting: "webCertFile".into(),
                key_setting: "webKeyFile".into(),
            };
            match https::server_tls(&files) {
                Ok(_) => {}
                Err(e @ (TlsFileError::Read { .. } | TlsFileError::Certificate { .. })) => {
                    let field = match &e {
                        TlsFileError::Read { setting, .. } if setting == "webKeyFile" => {
                            "webKeyFile"
                        }
                        _ => "webCertFile",
                    };
                    p.add(field, e.to_string());
                }
                Err(e) => p.add("webKeyFile", e.to_string()),
            }
        }
    }
    Ok(())
}

/// `webListen`, `webPort` and `webBasePath` are read at the next start: refuse values that
/// would not work, an address this machine cannot listen on, and changes the configuration
/// would override anyway.
async fn check_panel_place(
    ctl: &Controller,
    changes: &mut [(String, String)],
    p: &mut Problems,
) -> Result<(), ModelError> {
    let place = &ctl.panel_place;
    let mut listen_changed = false;
    for (key, value) in changes.iter_mut() {
        let checked = match key.as_str() {
            "webListen" | "webPort" if place.listen_fixed => {
                Err(Refusal::new("err.panel_listen_fixed", &[]))
            }
            "webBasePath" if place.base_fixed => Err(Refusal::new("err.base_path_fixed", &[])),
            "webListen" => place::check_address(value)
                .map(|a| a.map(|a| a.to_string()))
                .map_err(|_| setting_rules::address_refusal()),
            "webPort" => place::check_port(value)
                .map(|p| p.map(|p| p.to_string()))
                .map_err(|_| setting_rules::port_refusal()),
            "webBasePath" => place::check_base_path(value)
                .map(Some)
                .map_err(|_| Refusal::new("err.base_path", &[])),
            _ => continue,
        };
        match checked {
            Ok(normal) => {
                listen_changed |= key != "webBasePath";
                *value = normal.unwrap_or_default();
            }
            Err(why) => p.refuse(key.clone(), why),
        }
    }
    if !listen_changed || !p.is_empty() {
        return Ok(());
    }
    let address =
        place::check_address(&after_change(ctl, changes, "webListen").await?).unwrap_or(None);
    let port = place::check_port(&after_change(ctl, changes, "webPort").await?).unwrap_or(None);
    let wanted = place::socket_address(address, port);
    if wanted != ctl.config.panel_listen {
        if let Err(e) = std::net::TcpListener::bind(&wanted) {
            p.say(
                "webPort",
                "err.panel_bind",
                &[("address", wanted.clone()), ("error", e.to_string())],
            );
        }
    }
    Ok(())
}

/// Where the next start puts the panel, or why it would not come back (the address cannot
/// be bound, the certificate files do not serve TLS).
pub async fn next_place(ctl: &Controller) -> Result<Value, ModelError> {
    let mut config = ctl.config.clone();
    if !ctl.panel_place.listen_fixed {
        config.panel_listen.clear();
    }
    if !ctl.panel_place.base_fixed {
        config.base_path.clear();
    }
    let refuse = |why: String| {
        ModelError::Conflict(Refusal::new("err.panel_would_not_return", &[("why", why)]).into())
    };
    place::resolve(&mut config, &ctl.store)
        .await
        .map_err(|e| refuse(format!("{e:#}")))?;
    let tls = match place::panel_tls_files(&config, &ctl.store).await {
        Ok(Some(files)) => {
            https::server_tls(&files).map_err(|e| refuse(e.to_string()))?;
            true
        }
        Ok(None) => false,
        Err(e) => return Err(refuse(format!("{e:#}"))),
    };
    if config.panel_listen != ctl.config.panel_listen {
        if let Err(e) = std::net::TcpListener::bind(&config.panel_listen) {
            return Err(refuse(format!(
                "cannot listen on {}: {e}",
                config.panel_listen
            )));
        }
    }
    let port = config
        .panel_listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let base = config.base_prefix();
    Ok(json!({
        "restarting": true,
        "listen": config.panel_listen,
        "port": port,
        "base_path": format!("{base}/"),
        "tls": tls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_and_its_default_has_its_type() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a key is listed twice");
        for k in KEYS {
            assert_eq!(
                as_text(k.kind, &Value::from(k.default)).as_deref(),
                Ok(k.default),
                "{}",
                k.name
            );
        }
    }

    /// The fleet's core template is refused, by name and with the reason, unless it is empty
    /// or a JSON object the agents can render around; an accepted one is stored compact.
    #[test]
    fn a_core_template_must_be_a_json_object_that_renders() {
        let check_against = |stored: &str, text: &str| {
            let mut changes = vec![(CORE_TEMPLATE.to_owned(), text.to_owned())];
            let mut p = Problems::default();
            check_core_template(&mut changes, Some(&stored.to_owned()), &mut p);
            match p.finish() {
                Ok(()) => Ok(changes.pop().map(|(_, v)| v)),
                Err(e) => Err(format!("{e:?}")),
            }
        };
        let check = |text: &str| check_against("{}", text).map(Option::unwrap);
        assert_eq!(check(""), Ok(String::new()));
        assert_eq!(
            check("{ \"routing\": {\"rules\": []} }"),
            Ok(r#"{"routing":{"rules":[]}}"#.to_owned())
        );
        // The stored template, laid out differently, is no change.
        assert_eq!(
            check_against(
                r#"{"routing":{"rules":[]}}"#,
                "{\"routing\":\n {\"rules\": []}}"
            ),
            Ok(None)
        );
        assert_eq!(check_against("", ""), Ok(None));
        for (text, says) in [
            ("[1, 2]", "must be a JSON object"),
            ("\"text\"", "must be a JSON object"),
            ("{\"routing\": ", "is not JSON"),
            ("{\"routing\": []}", "`routing` must be an object"),
            ("{\"outbounds\": {}}", "`outbounds` must be a list"),
        ] {
            let error = check(text).unwrap_err();
            assert!(
                error.contains(CORE_TEMPLATE) && error.contains(says),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn values_are_checked_against_their_type() {
        assert_eq!(as_text(Kind::Int, &json!("2054")).as_deref(), Ok("2054"));
        assert_eq!(as_text(Kind::Int, &json!(2054)).as_deref(), Ok("2054"));
        assert!(as_text(Kind::Int, &json!("a lot")).is_err());
        assert_eq!(as_text(Kind::Bool, &json!("on")).as_deref(), Ok("true"));
        assert!(as_text(Kind::Bool, &json!("maybe")).is_err());
        assert!(as_text(Kind::Text, &json!({"a": 1})).is_err());
        assert_eq!(typed(Kind::Int, "25"), json!(25));
        assert_eq!(typed(Kind::Bool, "true"), json!(true));
    }
}
