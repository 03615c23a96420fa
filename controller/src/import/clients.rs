//! A 3x-ui client (an entry of `settings.clients[]`, or a v3 `clients` row in that shape)
//! turned into an xfleet client, and the address records 3x-ui kept for it.

use serde_json::{Map, Value};

use crate::generate;
use crate::model::client_rules as rules;
use crate::model::{ClientInput, Problems};
use crate::store::NewClient;

/// The client to store, or why it cannot be imported. `notes` are softer problems that
/// were worked around (reported as skipped parts of the client).
#[derive(Debug)]
pub struct Prepared {
    pub client: NewClient,
    pub notes: Vec<String>,
}

/// The secret a protocol identifies a client by.
pub fn key<'a>(protocol: &str, c: &'a NewClient) -> &'a str {
    match protocol {
        "vmess" | "vless" => &c.uuid,
        "hysteria" | "hysteria2" => &c.auth,
        _ => &c.password,
    }
}

/// What the key is called, for messages.
pub fn key_name(protocol: &str) -> &'static str {
    match protocol {
        "vmess" | "vless" => "id (UUID)",
        "hysteria" | "hysteria2" => "auth",
        _ => "password",
    }
}

/// `raw` is the client's JSON; `method` the Shadowsocks inbound's cipher.
pub fn prepare(protocol: &str, method: &str, raw: &Value) -> Result<Prepared, String> {
    let Value::Object(fields) = raw else {
        return Err("not a JSON object".into());
    };
    let mut fields = fields.clone();
    let mut notes = Vec::new();
    // Older panels stored the Telegram id as a string, sometimes a user name.
    if let Some(Value::String(tg)) = fields.get("tgId") {
        let tg = tg.trim();
        if !tg.is_empty() && tg.parse::<i64>().is_err() {
            notes.push(format!(
                "tgId `{tg}` is not a numeric Telegram user id; left empty"
            ));
            fields.remove("tgId");
        }
    }
    let given = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let key_field = match protocol {
        "vmess" | "vless" => Some("id"),
        "trojan" => Some("password"),
        "hysteria" | "hysteria2" => Some("auth"),
        _ => None,
    };
    if let Some(field) = key_field {
        if !given(field) {
            return Err(format!("it has no `{field}`"));
        }
    }
    let password_missing = protocol == "shadowsocks" && !given("password");
    let kept_sub_id = bend_to_rules(&mut fields, &mut notes)?;
    let input: ClientInput =
        serde_json::from_value(Value::Object(fields)).map_err(|e| format!("invalid JSON: {e}"))?;
    if input.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Err("it has no email".into());
    }
    let mut p = Problems::default();
    let mut client = input.resolve(None, "", &mut p);
    if let Err(e) = p.finish() {
        return Err(e.to_string());
    }
    if let Some(sub_id) = kept_sub_id {
        client.sub_id = sub_id;
    }
    if password_missing {
        if let Some(k) = generate::ss2022_key(method) {
            client.password = k;
        }
        notes.push("it had no password; a new one was generated".into());
    }
    Ok(Prepared { client, notes })
}

/// One of [`rules`]' checks of a number: why a value is out of range, if it is.
type Check = fn(i64) -> Option<crate::model::Refusal>;

/// What 3x-ui let a client hold and xfleet's rules ([`rules`]) refuse, made to fit so the
/// client is still imported, each change said in `notes`: a name with control characters,
/// bidirectional overrides or path separators gets `_` in their place; a limit out of range
/// is turned off (0), which is what such a value amounted to; a short sub id is kept as it
/// is (taken out of `fields` and returned), so the subscription URL users hold keeps
/// working. An email that cannot be mended is an error: the client is skipped.
fn bend_to_rules(
    fields: &mut Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    if let Some(Value::String(email)) = fields.get("email") {
        let email = email.trim().to_owned();
        if let Some(why) = (!email.is_empty())
            .then(|| rules::email_problem(&email))
            .flatten()
        {
            let Some(mended) = rules::repaired_email(&email) else {
                return Err(format!("its email {why}"));
            };
            notes.push(format!(
                "its email {why}; imported as `{mended}` (rename it as you like)"
            ));
            fields.insert("email".into(), Value::String(mended));
        }
    }
    let limits: [(&str, Check); 3] = [
        ("expiryTime", rules::expiry_problem),
        ("limitIp", rules::ip_limit_problem),
        ("reset", rules::reset_problem),
    ];
    for (name, problem) in limits {
        let value = fields.get(name).and_then(Value::as_i64);
        if let Some(why) = value.and_then(problem) {
            notes.push(format!("{name} {why}; imported as 0 (off)"));
            fields.insert(name.into(), Value::from(0));
        }
    }
    let short_sub_id = fields
        .get("subId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| {
            !s.is_empty()
                && s.len() < rules::MIN_SUB_ID_CHARS
                && s.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
        })
        .map(str::to_owned);
    if let Some(sub_id) = &short_sub_id {
        notes.push(format!(
            "its sub id `{sub_id}` is shorter than the {} characters new ones need; kept, so \
             its subscription URL keeps working (give it a longer one when you can)",
            rules::MIN_SUB_ID_CHARS
        ));
        fields.remove("subId");
    }
    Ok(short_sub_id)
}

/// One line of the report about a new client.
pub fn describe_client(c: &NewClient) -> String {
    let mut parts = Vec::new();
    if c.total_bytes > 0 {
        parts.push(format!("quota {}", bytes(c.total_bytes)));
    }
    if c.expiry_time > 0 {
        let date = time::OffsetDateTime::from_unix_timestamp(c.expiry_time / 1000)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| format!("{} ms", c.expiry_time));
        parts.push(format!("expires {date}"));
    } else if c.expiry_time < 0 {
        parts.push(format!(
            "expires {} day(s) after first use",
            -c.expiry_time / 86_400_000
        ));
    }
    if c.limit_ip > 0 {
        parts.push(format!("IP limit {}", c.limit_ip));
    }
    if !c.enable {
        parts.push("disabled".into());
    }
    if parts.is_empty() {
        format!("client `{}`", c.email)
    } else {
        format!("client `{}` ({})", c.email, parts.join(", "))
    }
}

/// `50 GiB`, `1.5 GiB`, `300 MiB`.
fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `inbound_client_ips.ips`: `[{"ip": "…", "timestamp": unix seconds}]`, or older
/// `["ip", …]`. Returns each address with when it was seen (ms), if known.
pub fn parse_ips(raw: &str) -> Result<Vec<(String, Option<i64>)>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<Value> = serde_json::from_str(raw).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut out = Vec::new();
    for item in list {
        let (ip, at) = match &item {
            Value::String(ip) => (ip.clone(), None),
            Value::Object(o) => {
                let ip = o.get("ip").and_then(Value::as_str).unwrap_or_default();
                let at = o.get("timestamp").and_then(Value::as_i64).map(|t| {
                    // Seconds in 3x-ui; tolerate milliseconds.
                    if t > 100_000_000_000 {
                        t
                    } else {
                        t * 1000
                    }
                });
                (ip.to_owned(), at)
            }
            other => return Err(format!("unexpected entry {other}")),
        };
        let ip = ip.trim();
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("`{ip}` is not an IP address"));
        }
        out.push((ip.to_owned(), at));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn client_lines() {
        let c = NewClient {
            email: "a".into(),
            total_bytes: 50 << 30,
            expiry_time: 4_102_444_800_000,
            limit_ip: 2,
            enable: true,
            ..Default::default()
        };
        assert_eq!(
            describe_client(&c),
            "client `a` (quota 50 GiB, expires 2100-01-01, IP limit 2)"
        );
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(300), "300 bytes");
    }

    #[test]
    fn both_ip_formats() {
        assert_eq!(
            parse_ips(r#"[{"ip":"203.0.113.7","timestamp":1700000000}]"#).unwrap(),
            vec![("203.0.113.7".to_owned(), Some(1_700_000_000_000))]
        );
        assert_eq!(
            parse_ips(r#"["198.51.100.4","2001:db8::1"]"#).unwrap(),
            vec![
                ("198.51.100.4".to_owned(), None),
                ("2001:db8::1".to_owned(), None)
            ]
        );
        assert_eq!(parse_ips("").unwrap(), vec![]);
        assert!(parse_ips("not json").is_err());
        assert!(parse_ips(r#"["example.com"]"#).is_err());
    }

    #[test]
    fn a_3xui_client_becomes_ours() {
        let raw = json!({"email": "alice", "id": "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50",
            "flow": "xtls-rprx-vision", "limitIp": 2, "totalGB": 1073741824,
            "expiryTime": -604800000, "enable": false, "tgId": "123456789", "subId": "s1",
            "comment": "c", "reset": 30, "created_at": 1, "updated_at": 2});
        let p = prepare("vless", "", &raw).unwrap();
        let c = p.client;
        assert_eq!(c.email, "alice");
        assert_eq!(c.uuid, "6a3c3b1e-5f4b-4c1a-9d7e-0b1c2d3e4f50");
        assert_eq!(c.flow, "xtls-rprx-vision");
        assert_eq!((c.limit_ip, c.total_bytes), (2, 1073741824));
        assert_eq!(c.expiry_time, -604800000);
        assert!(!c.enable);
        assert_eq!((c.tg_id, c.reset_days), (123456789, 30));
        assert_eq!((c.sub_id.as_str(), c.comment.as_str()), ("s1", "c"));
        assert!(p.notes[0].contains("sub id `s1`"), "{:?}", p.notes);
    }

    #[test]
    fn missing_keys_and_odd_values() {
        let err = prepare("vless", "", &json!({"email": "a"})).unwrap_err();
        assert!(err.contains("`id`"), "{err}");
        let err = prepare("trojan", "", &json!({"password": "p"})).unwrap_err();
        assert!(err.contains("email"), "{err}");
        let err = prepare("vmess", "", &json!({"email": "a", "id": "nope"})).unwrap_err();
        assert!(err.contains("not a UUID"), "{err}");
        let p = prepare(
            "trojan",
            "",
            &json!({"email": "a", "password": "p", "tgId": "@someone"}),
        )
        .unwrap();
        assert_eq!(p.client.tg_id, 0);
        assert!(p.notes[0].contains("@someone"), "{:?}", p.notes);
        let p = prepare(
            "shadowsocks",
            "2022-blake3-aes-128-gcm",
            &json!({"email": "s"}),
        )
        .unwrap();
        assert_eq!(p.client.password.len(), 24, "a 16-byte key in base64");
    }
}
