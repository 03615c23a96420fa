//! A client of the 3x-ui compatible API as scripts use it: plain HTTP/1.1, a cookie jar fed
//! by `Set-Cookie` (the `3x-ui` session), forms or JSON bodies, and answers read as 3x-ui's
//! `{success, msg, obj}` envelope or as raw bytes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

/// 3x-ui's response envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub success: bool,
    pub msg: String,
    pub obj: Value,
}

/// One answer: status, headers (names lowercase) and the body as sent.
#[derive(Debug, Clone)]
pub struct XuiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl XuiResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics, showing the body, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The envelope, if the body is one.
    pub fn try_envelope(&self) -> Option<Envelope> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        Some(Envelope {
            success: v.get("success")?.as_bool()?,
            msg: v.get("msg")?.as_str()?.to_owned(),
            obj: v.get("obj").cloned().unwrap_or(Value::Null),
        })
    }

    /// The envelope of an HTTP 200 answer; panics, showing the answer, otherwise.
    pub fn envelope(&self) -> Envelope {
        assert_eq!(self.status, 200, "expected HTTP 200: {}", self.text());
        self.try_envelope()
            .unwrap_or_else(|| panic!("not a 3x-ui envelope: {}", self.text()))
    }

    /// The `obj` of a successful envelope; panics with its `msg` otherwise.
    pub fn obj(&self) -> Value {
        let e = self.envelope();
        assert!(e.success, "expected success, got: {}", e.msg);
        e.obj
    }
}

/// A 3x-ui API client for one panel.
pub struct XuiClient {
    /// `host:port`.
    authority: String,
    /// The panel's base path (`/secret`), or empty.
    base_path: String,
    bearer: Option<String>,
    headers: Vec<(String, String)>,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl XuiClient {
    /// A client of the panel at `http://host:port` (an `https` panel is not supported).
    pub fn new(panel_url: &str) -> Self {
        let authority = panel_url
            .strip_prefix("http://")
            .expect("an http:// panel URL")
            .trim_end_matches('/')
            .to_owned();
        Self {
            authority,
            base_path: String::new(),
            bearer: None,
            headers: Vec::new(),
            cookies: Mutex::default(),
        }
    }

    /// Prefixes every path with the panel's base path (`/secret` or `/secret/`).
    pub fn with_base_path(mut self, base_path: &str) -> Self {
        let trimmed = base_path.trim_matches('/');
        self.base_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// Sends this header with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Sets a cookie by hand (a forged or stale session, say).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn clear_cookies(&self) {
        self.cookies.lock().unwrap().clear();
    }

    /// `POST /login` with a form, as 3x-ui's login page sends it; the session cookie is kept.
    pub async fn login(&self, username: &str, password: &str) -> Envelope {
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
            .envelope()
    }

    pub async fn get(&self, path: &str) -> XuiResponse {
        self.request("GET", path, None, Bytes::new()).await
    }

    /// A POST without a body.
    pub async fn post(&self, path: &str) -> XuiResponse {
        self.request("POST", path, None, Bytes::new()).await
    }

    /// A POST with an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> XuiResponse {
        let body = serde_urlencoded::to_string(fields).expect("form fields encode");
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            Bytes::from(body),
        )
        .await
    }

    /// A POST with a JSON body.
    pub async fn post_json(&self, path: &str, body: Value) -> XuiResponse {
        self.request(
            "POST",
            path,
            Some("application/json"),
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// Any request; panics if the panel cannot be reached.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> XuiResponse {
        self.try_request(method, path, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
    }

    /// Any request; `path` is below the base path and may carry a query string.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<XuiResponse> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connect to {}", self.authority))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header("host", &self.authority);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(token) = &self.bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let cookies = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = sender.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.keep_cookies(&headers);
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(XuiResponse {
            status,
            headers,
            body,
        })
    }

    /// Stores `Set-Cookie` values; an empty value or `Max-Age=0` deletes the cookie.
    fn keep_cookies(&self, headers: &[(String, String)]) {
        let mut jar = self.cookies.lock().unwrap();
        for (_, value) in headers.iter().filter(|(k, _)| k == "set-cookie") {
            let mut attrs = value.split(';').map(str::trim);
            let Some((name, val)) = attrs.next().and_then(|kv| kv.split_once('=')) else {
                continue;
            };
            let expired = attrs.any(|a| a.eq_ignore_ascii_case("max-age=0"));
            if val.is_empty() || expired {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), val.to_owned());
            }
        }
    }
}
