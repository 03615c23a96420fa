//! A 3x-ui API client as scripts use it: log in, keep the cookie, send forms or JSON.

use std::collections::BTreeMap;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

/// One answer: status, headers (lower-case names; repeated ones joined by `\n`) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `{success, msg, obj}` envelope of a 200 answer.
    pub fn envelope(&self) -> Value {
        assert_eq!(
            self.status,
            200,
            "3x-ui answers 200 even for failures; body {:?}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert!(
            v.get("success").is_some() && v.get("msg").is_some() && v.get("obj").is_some(),
            "not the 3x-ui envelope: {v}"
        );
        v
    }

    /// `obj` of a successful answer (panics with `msg` otherwise).
    pub fn obj(&self) -> Value {
        let v = self.envelope();
        assert_eq!(v["success"], Value::Bool(true), "failed: {v}");
        v["obj"].clone()
    }

    /// `msg` of a failed answer (panics if it succeeded).
    pub fn failure(&self) -> String {
        let v = self.envelope();
        assert_eq!(v["success"], Value::Bool(false), "expected a failure: {v}");
        v["msg"].as_str().unwrap_or_default().to_owned()
    }
}

/// Keeps cookies like a browser or `requests.Session` would.
#[derive(Clone)]
pub struct XuiClient {
    /// `127.0.0.1:port`.
    pub authority: String,
    /// Base path with a leading slash and no trailing one (`""` for the root).
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    pub bearer: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl XuiClient {
    /// `panel_url` like `http://127.0.0.1:2053`; `base` like `/secret` or `""`.
    pub fn new(panel_url: &str, base: &str) -> Self {
        Self {
            authority: panel_url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
            bearer: None,
            headers: Vec::new(),
        }
    }

    /// Logs in with a form body, as v2 scripts do; returns the reply.
    pub async fn login(&mut self, username: &str, password: &str) -> Reply {
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str) -> Reply {
        self.send("POST", path, None).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).expect("form");
        self.send(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    pub async fn post_json(&mut self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            Some(("application/json", serde_json::to_vec(body).expect("json"))),
        )
        .await
    }

    pub async fn post_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.send("POST", path, Some((content_type, body))).await
    }

    pub async fn send(&mut self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .expect("connect to the panel");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("http handshake");
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("host", &self.authority);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(token) = &self.bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                req = req.header("content-type", content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let resp = sender
            .send_request(req.body(Full::new(payload)).expect("request"))
            .await
            .expect("send request");
        let status = resp.status().as_u16();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in resp.headers() {
            let value = value.to_str().unwrap_or_default().to_owned();
            if name == "set-cookie" {
                self.take_cookie(&value);
            }
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push('\n');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    fn take_cookie(&mut self, set_cookie: &str) {
        let Some((name, rest)) = set_cookie.split_once('=') else {
            return;
        };
        let value = rest.split(';').next().unwrap_or_default().to_owned();
        let expired = set_cookie.contains("Max-Age=0");
        if value.is_empty() || expired {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_owned(), value);
        }
    }
}
