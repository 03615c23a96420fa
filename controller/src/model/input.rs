//! Request bodies for inbounds and clients, in 3x-ui's field names, and their checks.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::client_rules as rules;
use super::{Problems, Refusal};
use crate::generate;
use crate::store::{ClientRow, NewClient};

/// Protocols an inbound may have (3x-ui's list).
pub const PROTOCOLS: &[&str] = &[
    "vmess",
    "vless",
    "trojan",
    "shadowsocks",
    "socks",
    "mixed",
    "http",
    "tunnel",
    "dokodemo-door",
    "wireguard",
    "hysteria",
    "hysteria2",
];

pub const TRAFFIC_RESETS: &[&str] = &["never", "hourly", "daily", "weekly", "monthly"];

const FLOWS: &[&str] = &["", "xtls-rprx-vision", "xtls-rprx-vision-udp443"];

/// An inbound as 3x-ui's API takes it. `settings`, `streamSettings` and `sniffing` are
/// objects here; front ends that take JSON strings parse them first.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundInput {
    #[serde(default)]
    pub remark: String,
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default)]
    pub listen: String,
    pub port: i64,
    pub protocol: String,
    #[serde(default)]
    pub settings: Value,
    #[serde(default)]
    pub stream_settings: Value,
    #[serde(default)]
    pub sniffing: Value,
    /// Empty: `inbound-<port>`, or `inbound-<listen>:<port>` with a specific listen address.
    #[serde(default)]
    pub tag: String,
    /// Quota in bytes; 0 is unlimited.
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub expiry_time: i64,
    #[serde(default = "never")]
    pub traffic_reset: String,
}

fn yes() -> bool {
    true
}

fn never() -> String {
    "never".into()
}

impl InboundInput {
    /// The tag 3x-ui gives an inbound.
    pub fn effective_tag(&self) -> String {
        if !self.tag.trim().is_empty() {
            return self.tag.trim().to_owned();
        }
        let listen = self.listen.trim();
        if listen.is_empty() || listen == "0.0.0.0" || listen == "::" {
            format!("inbound-{}", self.port)
        } else {
            format!("inbound-{listen}:{}", self.port)
        }
    }

    /// The field-level checks that need nothing but the body.
    pub(crate) fn check(&self, p: &mut Problems) {
        if !(1..=65535).contains(&self.port) {
            p.say("port", "err.port_range", &[]);
        }
        if !PROTOCOLS.contains(&self.protocol.as_str()) {
            p.say(
                "protocol",
                "err.protocol",
                &[
                    ("protocol", self.protocol.clone()),
                    ("protocols", PROTOCOLS.join(", ")),
                ],
            );
        }
        let listen = self.listen.trim();
        if !listen.is_empty()
            && listen.parse::<std::net::IpAddr>().is_err()
            && !listen.starts_with(['/', '@'])
        {
            p.say("listen", "err.listen", &[]);
        }
        for (field, value) in [
            ("settings", &self.settings),
            ("streamSettings", &self.stream_settings),
            ("sniffing", &self.sniffing),
        ] {
            if !matches!(value, Value::Null | Value::Object(_)) {
                p.say(field, "err.json_object", &[]);
            }
        }
        if !TRAFFIC_RESETS.contains(&self.traffic_reset.as_str()) {
            p.say(
                "trafficReset",
                "err.one_of",
                &[("values", TRAFFIC_RESETS.join(", "))],
            );
        }
        if self.total < 0 {
            p.say("total", "err.not_negative", &[]);
        }
        if self.expiry_time < 0 {
            p.say("expiryTime", "err.expiry_negative", &[]);
        }
        if self.remark.len() > 256 {
            p.say("remark", "err.remark_long", &[]);
        }
        super::options::check(&self.protocol, &self.settings, &self.stream_settings, p);
    }

    /// `settings` without `clients` (they are stored as client rows).
    pub fn settings_without_clients(&self) -> Map<String, Value> {
        let mut settings = match &self.settings {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        settings.remove("clients");
        settings
    }

    /// The clients written inside `settings.clients`, as 3x-ui's add and update take them.
    pub fn embedded_clients(&self, p: &mut Problems) -> Vec<ClientInput> {
        let Some(list) = self.settings.get("clients") else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            p.say("settings.clients", "err.array", &[]);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, raw) in list.iter().enumerate() {
            match serde_json::from_value::<ClientInput>(raw.clone()) {
                Ok(c) => out.push(c),
                Err(e) => p.add(format!("settings.clients[{i}]"), e.to_string()),
            }
        }
        out
    }
}

/// A client as 3x-ui's JSON has it (`settings.clients[]`, or the v3 clients API). Absent
/// fields keep their current value on update, and get defaults (fresh secrets) on create.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInput {
    pub email: Option<String>,
    /// VMess/VLESS UUID.
    pub id: Option<String>,
    pub password: Option<String>,
    pub auth: Option<String>,
    pub flow: Option<String>,
    pub security: Option<String>,
    pub limit_ip: Option<i64>,
    /// Bytes, despite the name (as in 3x-ui).
    #[serde(rename = "totalGB")]
    pub total_gb: Option<i64>,
    pub expiry_time: Option<i64>,
    pub enable: Option<bool>,
    /// A number, or a string of digits in older 3x-ui data.
    pub tg_id: Option<Value>,
    pub sub_id: Option<String>,
    pub comment: Option<String>,
    /// Auto-renew period in days.
    pub reset: Option<i64>,
}

impl ClientInput {
    /// The client to store: `base` (the current row) with this input's fields over it, or,
    /// without a base, defaults and fresh secrets. Problems are reported under `at`.
    pub(crate) fn resolve(
        &self,
        base: Option<&ClientRow>,
        at: &str,
        p: &mut Problems,
    ) -> NewClient {
        let field = |name: &str| {
            if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}.{name}")
            }
        };
        let mut c = match base {
            Some(row) => NewClient {
                email: row.email.clone(),
                sub_id: row.sub_id.clone(),
                uuid: row.uuid.clone(),
                password: row.password.clone(),
                auth: row.auth.clone(),
                flow: row.flow.clone(),
                limit_ip: row.limit_ip,
                total_bytes: row.total_bytes,
                expiry_time: row.expiry_time,
                enable: row.enable != 0,
                tg_id: row.tg_id,
                comment: row.comment.clone(),
                reset_days: row.reset_days,
                security: row.security.clone(),
            },
            None => NewClient {
                sub_id: generate::sub_id(),
                uuid: generate::uuid(),
                password: generate::password(16),
                auth: generate::password(16),
                enable: true,
                ..Default::default()
            },
        };
        // Values are checked when they are new: a client stored before a rule existed (an
        // import, an older release) can still be edited in its other fields.
        let changed = |old: &dyn Fn(&ClientRow) -> bool| base.is_none_or(|b| !old(b));
        if let Some(email) = &self.email {
            c.email = email.trim().to_owned();
        }
        if changed(&|b| b.email == c.email) {
            if let Some(why) = rules::email_problem(&c.email) {
                p.refuse(field("email"), why);
            }
        }
        if let Some(id) = given(&self.id) {
            if uuid::Uuid::parse_str(id).is_err() {
                p.say(field("id"), "err.uuid", &[("id", id.to_owned())]);
            }
            c.uuid = id.to_owned();
        }
        if let Some(password) = given(&self.password) {
            c.password = password.to_owned();
        }
        if let Some(auth) = given(&self.auth) {
            c.auth = auth.to_owned();
        }
        if let Some(flow) = &self.flow {
            if !FLOWS.contains(&flow.as_str()) {
                p.say(field("flow"), "err.flow", &[]);
            }
            c.flow = flow.clone();
        }
        if let Some(security) = &self.security {
            c.security = security.clone();
        }
        if let Some(sub_id) = given(&self.sub_id) {
            if changed(&|b| b.sub_id == sub_id) {
                if let Some(why) = rules::sub_id_problem(sub_id) {
                    p.refuse(field("subId"), why);
                }
            }
            c.sub_id = sub_id.to_owned();
        }
        let mut number =
            |name: &str, v: Option<i64>, slot: &mut i64, problem: fn(i64) -> Option<Refusal>| {
                if let Some(v) = v {
                    if v != *slot || base.is_none() {
                        if let Some(why) = problem(v) {
                            p.refuse(field(name), why);
                        }
                    }
                    *slot = v;
                }
            };
        number(
            "limitIp",
            self.limit_ip,
            &mut c.limit_ip,
            rules::ip_limit_problem,
        );
        number("totalGB", self.total_gb, &mut c.total_bytes, |v| {
            (v < 0).then(|| Refusal::new("err.not_negative", &[]))
        });
        number("reset", self.reset, &mut c.reset_days, rules::reset_problem);
        number(
            "expiryTime",
            self.expiry_time,
            &mut c.expiry_time,
            rules::expiry_problem,
        );
        if let Some(enable) = self.enable {
            c.enable = enable;
        }
        if let Some(comment) = &self.comment {
            c.comment = comment.clone();
        }
        match &self.tg_id {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_i64().is_some() => c.tg_id = n.as_i64().unwrap_or(0),
            Some(Value::String(s)) if s.trim().is_empty() => c.tg_id = 0,
            Some(Value::String(s)) => match s.trim().parse() {
                Ok(id) => c.tg_id = id,
                Err(_) => p.say(field("tgId"), "err.tg_id", &[]),
            },
            Some(_) => p.say(field("tgId"), "err.tg_id", &[]),
        }
        c
    }
}

/// A string field that was given and is not blank.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The key 3x-ui addresses a client by in `delClient/:clientId` and `updateClient/:clientId`.
pub fn client_key<'a>(protocol: &str, c: &'a ClientRow) -> &'a str {
    match protocol {
        "vmess" | "vless" => &c.uuid,
        "shadowsocks" => &c.email,
        "hysteria" | "hysteria2" => &c.auth,
        _ => &c.password,
    }
}
