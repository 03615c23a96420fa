//! Lenient field readers: the same body arrives as JSON (typed values) or as a form (every
//! value a string), and 3x-ui's v2 sends nested JSON as strings.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// A number, or a string holding one (forms).
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| de::Error::custom(format!("`{n}` is not a whole number"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("`{s}` is not a whole number"))),
        Value::Null => Ok(0),
        other => Err(de::Error::custom(format!(
            "`{other}` is not a whole number"
        ))),
    }
}

/// A boolean, or `true`/`false`/`on`/`1`/`0` as a string (forms, checkboxes).
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_i64().unwrap_or(0) != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "1" | "yes" => Ok(true),
            "false" | "off" | "0" | "no" | "" => Ok(false),
            other => Err(de::Error::custom(format!("`{other}` is not true or false"))),
        },
        other => Err(de::Error::custom(format!("`{other}` is not true or false"))),
    }
}

/// A JSON object given as an object (v3) or as a string of JSON (v2); empty is null.
pub fn json_text<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| de::Error::custom(format!("is not valid JSON: {e}"))),
        other => Ok(other),
    }
}

/// A list of numbers, or a string like `1,2` or `[1,2]`.
pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let bad = |v: &dyn std::fmt::Display| de::Error::custom(format!("`{v}` is not a list of ids"));
    match Value::deserialize(d)? {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64().ok_or_else(|| bad(n)),
                Value::String(s) => s.trim().parse().map_err(|_| bad(s)),
                other => Err(bad(other)),
            })
            .collect(),
        Value::Number(n) => Ok(vec![n.as_i64().ok_or_else(|| bad(&n))?]),
        Value::String(s) => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().map_err(|_| bad(&p)))
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Err(bad(&other)),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::int")]
        port: i64,
        #[serde(deserialize_with = "super::flag")]
        enable: bool,
        #[serde(deserialize_with = "super::json_text")]
        settings: serde_json::Value,
        #[serde(deserialize_with = "super::ids")]
        ids: Vec<i64>,
    }

    #[test]
    fn json_and_form_bodies_read_the_same() {
        let from_json: Body = serde_json::from_value(json!({
            "port": 443, "enable": true, "settings": "{\"a\":1}", "ids": [1, 2]
        }))
        .unwrap();
        let from_form: Body =
            serde_urlencoded::from_str("port=443&enable=on&settings=%7B%22a%22%3A1%7D&ids=1,2")
                .unwrap();
        for b in [from_json, from_form] {
            assert_eq!(b.port, 443);
            assert!(b.enable);
            assert_eq!(b.settings, json!({"a": 1}));
            assert_eq!(b.ids, vec![1, 2]);
        }
        let bad = serde_json::from_value::<Body>(json!({
            "port": "four", "enable": true, "settings": "{}", "ids": []
        }));
        assert!(bad.unwrap_err().to_string().contains("not a whole number"));
    }
}
