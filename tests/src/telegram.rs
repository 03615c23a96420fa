//! A local stand-in for Telegram's Bot API, speaking its wire format: `POST /bot<token>/<method>`
//! with JSON bodies (multipart for files), answers `{"ok": true, "result": …}` or
//! `{"ok": false, "error_code", "description", "parameters"}`. It serves `getMe`,
//! `getUpdates` (long polling with offsets: an update is gone once a later offset confirms
//! it), `sendMessage`, `editMessageText`, `sendPhoto`, `sendDocument`,
//! `answerCallbackQuery` and `setMyCommands`; a wrong token gets 401 as Telegram answers it.
//! A test plays the users (messages and button presses become updates), reads everything
//! the bot sent, and can make the next call of a method answer 429 with `retry_after`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub const BOT_ID: i64 = 777_000_111;
pub const BOT_NAME: &str = "xfleet_test_bot";

/// One thing the bot sent (a message, an edit, a photo, a document).
#[derive(Debug, Clone)]
pub struct Sent {
    /// The method in lower case: `sendmessage`, `editmessagetext`, `sendphoto`, `senddocument`.
    pub method: String,
    pub chat: i64,
    pub message_id: i64,
    /// The text, or a file's caption.
    pub text: String,
    /// Rows of `(label, callback data)`.
    pub buttons: Vec<Vec<(String, String)>>,
    /// A photo's or document's name and bytes.
    pub file: Option<(String, Vec<u8>)>,
    pub at: Instant,
}

impl Sent {
    /// The callback data of the button whose label holds `label`.
    pub fn button(&self, label: &str) -> Option<String> {
        self.buttons
            .iter()
            .flatten()
            .find(|(l, _)| l.contains(label))
            .map(|(_, d)| d.clone())
    }
}

#[derive(Default)]
struct State {
    token: String,
    next_update: i64,
    updates: VecDeque<Value>,
    sent: Vec<Sent>,
    /// Every call: method (lower case) and when.
    calls: Vec<(String, Instant)>,
    next_message: i64,
    /// `(method, retry_after)`: the next call of the method answers 429.
    throttle: VecDeque<(String, u32)>,
    /// Commands set with `setMyCommands`.
    commands: Vec<String>,
}

pub struct FakeTelegram {
    /// The API server's base URL, for `tgBotAPIServer`.
    pub url: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    server: JoinHandle<()>,
}

impl FakeTelegram {
    pub async fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            next_update: 1000,
            next_message: 1,
            ..Default::default()
        }));
        let arrived = Arc::new(Notify::new());
        let (shared, notify) = (state.clone(), arrived.clone());
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (state, notify) = (shared.clone(), notify.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), notify.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url,
            state,
            arrived,
            server,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, kind: &str, value: Value) {
        {
            let mut s = self.lock();
            let id = s.next_update;
            s.next_update += 1;
            let mut update = json!({ "update_id": id });
            update[kind] = value;
            s.updates.push_back(update);
        }
        self.arrived.notify_waiters();
    }

    /// `user` types `text` in their private chat with the bot.
    pub fn say(&self, user: i64, text: &str) {
        let id = {
            let mut s = self.lock();
            s.next_message += 1;
            s.next_message
        };
        let mut message = json!({
            "message_id": id,
            "date": now_s(),
            "chat": {"id": user, "type": "private", "first_name": format!("user{user}")},
            "from": user_json(user),
            "text": text,
        });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        self.push("message", message);
    }

    /// `user` presses a button carrying `data` under the bot's message `message_id`.
    pub fn press(&self, user: i64, message_id: i64, data: &str) {
        let id = format!("cb{}", self.lock().next_update);
        self.push(
            "callback_query",
            json!({
                "id": id,
                "from": user_json(user),
                "chat_instance": format!("ci{user}"),
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": now_s(),
                    "chat": {"id": user, "type": "private", "first_name": format!("user{user}")},
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "xfleet", "username": BOT_NAME},
                    "text": "menu",
                },
            }),
        );
    }

    /// The next call of `method` (e.g. `sendMessage`) answers 429 asking to wait `seconds`.
    pub fn throttle_next(&self, method: &str, seconds: u32) {
        self.lock()
            .throttle
            .push_back((method.to_lowercase(), seconds));
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// Sent to `chat`, oldest first.
    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.chat == chat).collect()
    }

    /// Every call of `method` (any case) and when it came.
    pub fn calls(&self, method: &str) -> Vec<Instant> {
        let method = method.to_lowercase();
        self.lock()
            .calls
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, at)| *at)
            .collect()
    }

    pub fn commands(&self) -> Vec<String> {
        self.lock().commands.clone()
    }

    /// Waits until something sent to `chat` after the first `after` of its messages
    /// satisfies `check`; panics with `what` after `timeout`, listing what was sent.
    pub async fn wait_sent(
        &self,
        chat: i64,
        after: usize,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Sent) -> bool,
    ) -> Sent {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self
                .sent_to(chat)
                .into_iter()
                .skip(after)
                .find(|s| check(s))
            {
                return s;
            }
            if Instant::now() > deadline {
                let texts: Vec<String> = self
                    .sent_to(chat)
                    .iter()
                    .map(|s| format!("[{}] {}", s.method, s.text))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; sent to {chat}:\n{}",
                    texts.join("\n---\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn user_json(user: i64) -> Value {
    json!({"id": user, "is_bot": false, "first_name": format!("user{user}"), "language_code": "en"})
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(status: u16, description: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

async fn answer(
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (bot, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let method = method.to_lowercase();
    let token_ok = bot.strip_prefix("bot") == Some(state.lock().unwrap().token.as_str());
    if !token_ok {
        return Ok(error(401, "Unauthorized"));
    }
    // Fields from JSON, or from multipart form data (text fields and files).
    let mut fields = serde_json::Map::new();
    let mut file = None;
    if content_type.starts_with("multipart/form-data") {
        for (name, filename, data) in multipart(&content_type, &body) {
            match filename {
                Some(f) => file = Some((f, data)),
                None => {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    fields.insert(name, value);
                }
            }
        }
    } else if !body.is_empty() {
        if let Ok(Value::Object(m)) = serde_json::from_slice(&body) {
            fields = m;
        }
    }
    {
        let mut s = state.lock().unwrap();
        s.calls.push((method.clone(), Instant::now()));
        if let Some(i) = s.throttle.iter().position(|(m, _)| *m == method) {
            let (_, seconds) = s.throttle.remove(i).unwrap();
            return Ok(reply(
                429,
                json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {seconds}"),
                    "parameters": {"retry_after": seconds},
                }),
            ));
        }
    }
    let chat = fields.get("chat_id").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let text = fields
        .get("text")
        .or_else(|| fields.get("caption"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let buttons = fields
        .get("reply_markup")
        .and_then(|m| match m {
            Value::String(s) => serde_json::from_str::<Value>(s).ok(),
            other => Some(other.clone()),
        })
        .and_then(|m| m.get("inline_keyboard").cloned())
        .and_then(|rows| rows.as_array().cloned())
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|b| {
                            b.iter()
                                .map(|b| {
                                    (
                                        b["text"].as_str().unwrap_or("").to_owned(),
                                        b["callback_data"].as_str().unwrap_or("").to_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let result = match method.as_str() {
        "getme" => json!({
            "id": BOT_ID, "is_bot": true, "first_name": "xfleet", "username": BOT_NAME,
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        }),
        "setmycommands" => {
            let names = fields
                .get("commands")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c["command"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            state.lock().unwrap().commands = names;
            json!(true)
        }
        "answercallbackquery" => json!(true),
        "getupdates" => {
            let offset = fields.get("offset").and_then(Value::as_i64).unwrap_or(0);
            let timeout = fields.get("timeout").and_then(Value::as_u64).unwrap_or(0);
            let deadline = Instant::now() + Duration::from_secs(timeout);
            loop {
                let waiting = arrived.notified();
                let ready: Vec<Value> = {
                    let mut s = state.lock().unwrap();
                    // A later offset confirms (and forgets) the updates before it.
                    s.updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    s.updates.iter().cloned().collect()
                };
                if !ready.is_empty() || Instant::now() >= deadline {
                    break json!(ready);
                }
                let _ = tokio::time::timeout(deadline - Instant::now(), waiting).await;
            }
        }
        "sendmessage" | "editmessagetext" | "sendphoto" | "senddocument" => {
            let Some(chat) = chat else {
                return Ok(error(400, "Bad Request: chat_id is empty"));
            };
            if method == "sendmessage" && text.is_empty() {
                return Ok(error(400, "Bad Request: message text is empty"));
            }
            if text.encode_utf16().count() > 4096 {
                return Ok(error(400, "Bad Request: message is too long"));
            }
            let mut s = state.lock().unwrap();
            let message_id = match (
                method.as_str(),
                fields.get("message_id").and_then(Value::as_i64),
            ) {
                ("editmessagetext", Some(id)) => id,
                _ => {
                    s.next_message += 1;
                    s.next_message
                }
            };
            s.sent.push(Sent {
                method: method.clone(),
                chat,
                message_id,
                text: text.clone(),
                buttons,
                file: file.clone(),
                at: Instant::now(),
            });
            let mut message = json!({
                "message_id": message_id,
                "date": now_s(),
                "chat": {"id": chat, "type": "private", "first_name": format!("user{chat}")},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "xfleet", "username": BOT_NAME},
            });
            match method.as_str() {
                "sendphoto" => {
                    message["photo"] = json!([{
                        "file_id": format!("photo{message_id}"),
                        "file_unique_id": format!("up{message_id}"),
                        "width": 320, "height": 320,
                        "file_size": file.as_ref().map_or(0, |f| f.1.len()),
                    }]);
                    message["caption"] = json!(text);
                }
                "senddocument" => {
                    message["document"] = json!({
                        "file_id": format!("doc{message_id}"),
                        "file_unique_id": format!("ud{message_id}"),
                        "file_name": file.as_ref().map_or(String::new(), |f| f.0.clone()),
                        "file_size": file.as_ref().map_or(0, |f| f.1.len()),
                    });
                    message["caption"] = json!(text);
                }
                _ => message["text"] = json!(text),
            }
            message
        }
        _ => return Ok(error(404, "Not Found: method not found")),
    };
    Ok(reply(200, json!({"ok": true, "result": result})))
}

/// The parts of a multipart/form-data body: name, file name (for files), bytes.
fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return Vec::new();
    };
    let boundary = format!("--{}", boundary.trim_matches('"'));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, boundary.as_bytes()) {
        rest = &rest[start + boundary.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let rest_trimmed = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let Some(head_end) = find(rest_trimmed, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest_trimmed[..head_end]).into_owned();
        let data_start = &rest_trimmed[head_end + 4..];
        let Some(end) = find(data_start, boundary.as_bytes()) else {
            break;
        };
        let data = data_start[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&data_start[..end])
            .to_vec();
        let attr = |name: &str| {
            head.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if let Some(name) = attr("name") {
            out.push((name, attr("filename"), data));
        }
        rest = data_start;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
