//! The two envelopes answers travel in: the native API's `{success, data, error, trace_id}`
//! and 3x-ui's `{success, msg, obj}` (always HTTP 200). Errors in either come from
//! [`super::ApiError`].

use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::ApiError;

/// A native answer or the error it became.
pub type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// The native API's envelope of a successful answer.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    pub error: Option<()>,
    pub trace_id: String,
}

/// Wraps a successful answer in the native envelope.
pub fn ok<T: Serialize>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope {
        success: true,
        data,
        error: None,
        trace_id: trace_id(),
    }))
}

/// A short random id that ties an answer to the log lines about it.
pub fn trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// 3x-ui's response envelope.
#[derive(Debug, Serialize)]
pub struct Msg {
    pub success: bool,
    pub msg: String,
    pub obj: Value,
}

/// A success in 3x-ui's envelope.
pub fn done(msg: impl Into<String>, obj: impl Serialize) -> Json<Msg> {
    Json(Msg {
        success: true,
        msg: msg.into(),
        obj: serde_json::to_value(obj).unwrap_or(Value::Null),
    })
}

/// A failure in 3x-ui's words: the action, then the reason in parentheses.
pub fn failed(action: &str, reason: impl std::fmt::Display) -> Json<Msg> {
    Json(Msg {
        success: false,
        msg: format!("{action} ({reason})"),
        obj: Value::Null,
    })
}

/// An operation's result in 3x-ui's envelope, under one message either way.
pub fn reply<T: Serialize>(action: &str, result: Result<T, ApiError>) -> Json<Msg> {
    match result {
        Ok(obj) => done(action, obj),
        Err(e) => e.into_msg(action),
    }
}

/// An operation's result in 3x-ui's envelope: `done(ok_msg)` or `failed(fail_msg, error)`.
pub fn reply_as<T: Serialize>(
    ok_msg: &str,
    fail_msg: &str,
    result: Result<T, ApiError>,
) -> Json<Msg> {
    match result {
        Ok(v) => done(ok_msg, v),
        Err(e) => e.into_msg(fail_msg),
    }
}
