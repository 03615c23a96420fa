//! A local stand-in for Cloudflare WARP's account API (`/v0a2158/reg…`), speaking its wire
//! format: registration (`POST /reg`, which needs `CF-Client-Version` and a JSON body with the
//! device's public key), the device (`GET /reg/{id}`) and its license (`PUT /reg/{id}/account`),
//! both behind `Authorization: Bearer <token>`, and Cloudflare's error bodies
//! (`{"success": false, "errors": [{code, message}]}`). Every request is recorded, so a test
//! can check what the controller sent.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The version path 3x-ui calls.
pub const VERSION_PATH: &str = "/v0a2158";
/// The peer every device of the fake gets.
pub const PEER_KEY: &str = "bmXOC+F1FxEMF9dyiK2H5/1SUtzH0JuVo51h2wPfgyo=";
pub const ENDPOINT: &str = "engage.cloudflareclient.com:2408";
pub const ADDRESS_V4: &str = "172.16.0.2";
pub const ADDRESS_V6: &str = "2606:4700:110:8a36:df92:102a:9602:fa18";
/// `client_id` in base64: the bytes 1, 2, 3 (the outbound's `reserved`).
pub const CLIENT_ID: &str = "AQID";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Device id → (token, public key, license).
    devices: BTreeMap<String, (String, String, String)>,
    /// Answer every request with this status and body instead.
    failing: Option<(u16, Value)>,
}

pub struct FakeWarp {
    /// The base URL with the version path, for `XFLEET_WARP_API_URL`.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl FakeWarp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}{VERSION_PATH}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self { url, state, server }
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// From now on answers every request with `status` and Cloudflare's error body saying
    /// `message`; `None` goes back to normal.
    pub fn fail_with(&self, failure: Option<(u16, &str)>) {
        self.state.lock().unwrap().failing = failure.map(|(status, message)| {
            (
                status,
                json!({"result": null, "success": false,
                       "errors": [{"code": 1000 + status, "message": message}], "messages": []}),
            )
        });
    }

    /// Stops listening: the API is unreachable from then on.
    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for FakeWarp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let (status, answer) = match &state.failing {
        Some(failure) => failure.clone(),
        None => route(&mut state, &method, &path, &headers, &body),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap())
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"result": null, "success": false,
               "errors": [{"code": 1000, "message": message}], "messages": []}),
    )
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    body: &Value,
) -> (u16, Value) {
    let Some(rest) = path.strip_prefix(VERSION_PATH) else {
        return error(404, "unknown API version");
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("POST", ["reg"]) => {
            if headers
                .get("cf-client-version")
                .is_none_or(String::is_empty)
            {
                return error(400, "CF-Client-Version is required");
            }
            if headers.get("content-type").map(String::as_str) != Some("application/json") {
                return error(415, "JSON body expected");
            }
            let key = body["key"].as_str().unwrap_or_default();
            let tos = body["tos"].as_str().unwrap_or_default();
            if key.len() != 44 || !key.ends_with('=') || tos.len() != 24 || body["type"] != "PC" {
                return error(400, "Invalid registration request");
            }
            let n = state.devices.len() + 1;
            let id = format!("device-{n}-{}", rand::random::<u32>());
            let token = format!("token-{n}-{:016x}", rand::random::<u64>());
            let license = format!("{n:08}-A1B2C3D4-E5F6A7B8");
            state
                .devices
                .insert(id.clone(), (token.clone(), key.to_owned(), license.clone()));
            let mut device = device(&id, key, &license, body["name"].as_str().unwrap_or(""));
            device["token"] = json!(token);
            (200, device)
        }
        ("GET", ["reg", id]) => match authorized(state, id, headers) {
            Ok((_, key, license)) => (200, device(id, &key, &license, "xfleet-host")),
            Err(e) => e,
        },
        ("PUT", ["reg", id, "account"]) => {
            let (_, _, _) = match authorized(state, id, headers) {
                Ok(found) => found,
                Err(e) => return e,
            };
            let license = body["license"].as_str().unwrap_or_default().to_owned();
            if license.starts_with("bad") {
                return error(400, "Invalid license");
            }
            if let Some(d) = state.devices.get_mut(*id) {
                d.2 = license.clone();
            }
            (200, account(&license))
        }
        _ => error(404, "no such route"),
    }
}

/// The device's token, key and license when the request carries its bearer token.
fn authorized(
    state: &State,
    id: &str,
    headers: &BTreeMap<String, String>,
) -> Result<(String, String, String), (u16, Value)> {
    let Some(found) = state.devices.get(id) else {
        return Err(error(404, "Device not found"));
    };
    if headers.get("authorization") != Some(&format!("Bearer {}", found.0)) {
        return Err(error(401, "Authentication error"));
    }
    Ok(found.clone())
}

fn account(license: &str) -> Value {
    json!({
        "id": "account-1",
        "account_type": "limited",
        "created": "2026-01-01T00:00:00.000Z",
        "updated": "2026-01-01T00:00:00.000Z",
        "premium_data": 0,
        "quota": 0,
        "usage": 0,
        "warp_plus": true,
        "referral_count": 0,
        "role": "child",
        "license": license,
    })
}

fn device(id: &str, key: &str, license: &str, name: &str) -> Value {
    json!({
        "id": id,
        "type": "a",
        "model": "PC",
        "name": name,
        "key": key,
        "account": account(license),
        "config": {
            "client_id": CLIENT_ID,
            "peers": [{
                "public_key": PEER_KEY,
                "endpoint": {"v4": "162.159.192.7:0", "v6": "[2606:4700:d0::a29f:c007]:0",
                             "host": ENDPOINT},
            }],
            "interface": {"addresses": {"v4": ADDRESS_V4, "v6": ADDRESS_V6}},
            "services": {"http_proxy": "172.16.0.1:2480"},
        },
        "warp_enabled": true,
        "waitlist_enabled": false,
        "created": "2026-01-01T00:00:00.000Z",
        "updated": "2026-01-01T00:00:00.000Z",
        "tos": "2026-01-01T00:00:00.000Z",
        "place": 0,
        "locale": "en-US",
        "enabled": true,
        "install_id": "",
        "fcm_token": "",
    })
}
