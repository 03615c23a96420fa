//! Reading one JSON object of an inbound strictly: every key is either understood or holds a
//! default value (`null`, `false`, `0`, `""`, `[]`, or an object of those). A key with a real value that the
//! conversion does not handle makes the whole inbound [`ApiError::Unsupported`], so a setting
//! is never dropped silently; the caller restarts the core with the full config instead.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::xray_api::proto::{network, IpOrDomain};
use crate::xray_api::ApiError;

pub fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::Unsupported(message.into())
}

/// An object plus its path in the inbound (`settings.clients[0]`), for error messages.
pub struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    pub fn new(path: impl Into<String>, value: &'a Value) -> Result<Self, ApiError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(unsupported(format!("{path} is not an object"))),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// Fails on the first key outside `handled` that holds a non-default value.
    pub fn only(&self, handled: &[&str]) -> Result<(), ApiError> {
        match self
            .map
            .iter()
            .find(|(key, value)| !handled.contains(&key.as_str()) && !is_default(value))
        {
            Some((key, _)) => Err(unsupported(format!("{} is not hot-applied", self.at(key)))),
            None => Ok(()),
        }
    }

    /// `key` must be absent or default.
    pub fn forbid(&self, key: &str, why: &str) -> Result<(), ApiError> {
        match self.map.get(key) {
            Some(value) if !is_default(value) => {
                Err(unsupported(format!("{}: {why}", self.at(key))))
            }
            _ => Ok(()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, ApiError> {
        self.get(key)
            .map(|value| Obj::new(self.at(key), value))
            .transpose()
    }

    pub fn str(&self, key: &str) -> Result<&'a str, ApiError> {
        match self.get(key) {
            None => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(unsupported(format!("{} is not a string", self.at(key)))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(unsupported(format!("{} is not a boolean", self.at(key)))),
        }
    }

    pub fn u32(&self, key: &str) -> Result<u32, ApiError> {
        match self.get(key) {
            None => Ok(0),
            Some(value) => value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| unsupported(format!("{} is not a small number", self.at(key)))),
        }
    }

    /// An array of objects, each with its indexed path.
    pub fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>, ApiError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Obj::new(format!("{}[{i}]", self.at(key)), item))
                .collect(),
            Some(_) => Err(unsupported(format!("{} is not an array", self.at(key)))),
        }
    }

    /// An array of strings, or one string split on commas (`"tcp,udp"`).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let bad = || unsupported(format!("{} is not a list of strings", self.at(key)));
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    }

    /// An object of string values, in key order.
    pub fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, ApiError> {
        let Some(map) = self.obj(key)? else {
            return Ok(Vec::new());
        };
        map.map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(unsupported(format!("{} is not a string", map.at(k)))),
            })
            .collect()
    }

    /// Text given as an array of lines (joined with newlines) or as one string.
    pub fn lines(&self, key: &str) -> Result<String, ApiError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str())
                .collect::<Option<Vec<_>>>()
                .map(|lines| lines.join("\n"))
                .ok_or_else(|| unsupported(format!("{} is not a list of lines", self.at(key)))),
            Some(_) => Err(unsupported(format!("{} is not text", self.at(key)))),
        }
    }

    /// A network list (`"tcp,udp"` or `["tcp", "udp"]`) as `Network` numbers; TCP when absent,
    /// as both cores' loaders default.
    pub fn networks(&self, key: &str) -> Result<Vec<i32>, ApiError> {
        let names = self.strings(key)?;
        if names.is_empty() {
            return Ok(vec![network::TCP]);
        }
        names
            .iter()
            .map(|name| match name.to_ascii_lowercase().as_str() {
                "tcp" => Ok(network::TCP),
                "udp" => Ok(network::UDP),
                other => Err(unsupported(format!("{}: network {other:?}", self.at(key)))),
            })
            .collect()
    }

    /// An IP literal for a listen or announce address; names and Unix sockets do not convert.
    pub fn ip(&self, key: &str) -> Result<Option<IpOrDomain>, ApiError> {
        let text = self.str(key)?;
        if text.is_empty() {
            return Ok(None);
        }
        let ip: IpAddr = text.parse().map_err(|_| {
            unsupported(format!("{} = {text:?} is not an IP address", self.at(key)))
        })?;
        Ok(Some(ip_message(ip)))
    }

    /// An IP literal or a domain name.
    pub fn address(&self, key: &str) -> Result<Option<IpOrDomain>, ApiError> {
        let text = self.str(key)?;
        Ok((!text.is_empty()).then(|| ip_or_domain(text)))
    }
}

/// An IP literal, else a domain name.
pub fn ip_or_domain(text: &str) -> IpOrDomain {
    match text.parse::<IpAddr>() {
        Ok(ip) => ip_message(ip),
        Err(_) => IpOrDomain {
            ip: Vec::new(),
            domain: text.to_owned(),
        },
    }
}

fn ip_message(ip: IpAddr) -> IpOrDomain {
    let ip = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    IpOrDomain {
        ip,
        domain: String::new(),
    }
}

/// Whether the core would treat `value` as "not set"; an object is when all its values are.
pub fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_default),
    }
}
