//! The one error type of every front end, and the one place it becomes an answer: an HTTP
//! response in the native envelope, or 3x-ui's `{success:false, msg}`. Domain errors (the
//! model's, the store's, an agent call's) turn into it here. A 5xx never leaks internals.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use xfleet_common::channel::CallError;

use super::envelope::{failed, trace_id, Msg};
use crate::model::warp::WarpError;
use crate::model::{describe, FieldError, ModelError, Refusal, Said};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(Said),
    /// Field-level problems with the request body, all of them.
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(Said),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(Said),
    #[error("{0}")]
    TooManyRequests(Said),
    #[error(transparent)]
    Call(#[from] CallError),
    /// A web API the controller called (WARP's account API) failed or refused, in its words.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Invalid(fields) => Self::Invalid(fields),
            ModelError::Conflict(m) => Self::Conflict(m),
            ModelError::NotFound(what) => Self::NotFound(what),
            ModelError::Store(e) => e.into(),
        }
    }
}

impl From<WarpError> for ApiError {
    fn from(e: WarpError) -> Self {
        match e {
            WarpError::Invalid(m) => Self::BadRequest(m.into()),
            WarpError::Api(_) => Self::Upstream(e.to_string()),
            WarpError::Store(e) => e.into(),
            WarpError::NotRegistered => {
                Self::Conflict(Refusal::new("err.warp_not_registered", &[]).into())
            }
            WarpError::AlreadyRegistered(device) => {
                Self::Conflict(Refusal::new("err.warp_registered", &[("device", device)]).into())
            }
            other => Self::Conflict(other.to_string().into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::BadRequest(e.body_text().into())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::BadRequest(e.body_text().into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(format!("{e:#}"))
    }
}

impl ApiError {
    /// The catalog key and values of this error's message, when it has them.
    fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::BadRequest(m)
            | Self::Forbidden(m)
            | Self::Conflict(m)
            | Self::TooManyRequests(m) => m.refusal().cloned(),
            Self::NotFound(what) => not_found(what),
            _ => None,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests(_) => "rate_limited",
            Self::Call(e) => e.code(),
            Self::Upstream(_) => "upstream_failed",
            Self::Internal(_) => "internal",
        }
    }

    /// The error in 3x-ui's envelope (HTTP 200, as 3x-ui answers): the action, then the
    /// reason in parentheses. An internal error is logged; the caller sees its trace id.
    pub fn into_msg(self, action: &str) -> Json<Msg> {
        match self {
            Self::Internal(cause) => {
                let trace = trace_id();
                tracing::error!(%trace, %cause, action, "internal error");
                failed(action, format!("internal error, trace id {trace}"))
            }
            e => failed(action, e),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Call(CallError::Offline(_)) | Self::Call(CallError::Busy) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Call(CallError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            Self::Call(_) => StatusCode::BAD_GATEWAY,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let trace_id = trace_id();
        let details = match &self {
            Self::Call(CallError::Remote { details, .. }) => details.clone(),
            Self::Invalid(fields) => Some(json!({ "fields": fields })),
            _ => None,
        };
        if let Self::Internal(cause) = &self {
            tracing::error!(%trace_id, %cause, "internal error");
        }
        // The code has its own field; a call error's message does not repeat it.
        let message = match &self {
            Self::Call(e) => e.message(),
            other => other.to_string(),
        };
        let mut error = json!({"code": self.code(), "message": message, "details": details});
        if let Some(why) = self.refusal() {
            let args: serde_json::Map<String, serde_json::Value> = why
                .args
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
            error["key"] = why.key.into();
            error["args"] = args.into();
        }
        let body = json!({
            "success": false,
            "data": null,
            "error": error,
            "trace_id": trace_id,
        });
        (self.status(), Json(body)).into_response()
    }
}

/// The catalog's words for "`what` not found", for each thing the controller looks up.
fn not_found(what: &str) -> Option<Refusal> {
    let key = match what {
        "route" => "err.not_found_route",
        "session" => "err.not_found_session",
        "API token" => "err.not_found_api_token",
        "release" => "err.not_found_release",
        "subscription" => "err.not_found_subscription",
        "client" => "err.not_found_client",
        "client in this inbound" => "err.not_found_client_in_inbound",
        "rollout" => "err.not_found_rollout",
        "core template" => "err.not_found_core_template",
        "server" => "err.not_found_server",
        "user" => "err.not_found_user",
        "inbound" => "err.not_found_inbound",
        "task" => "err.not_found_task",
        _ => return None,
    };
    Some(Refusal::new(key, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn error_of(e: ApiError) -> serde_json::Value {
        let body = axum::body::to_bytes(e.into_response().into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"].clone()
    }

    /// A refusal from the catalogs reaches the panel with its key and values beside the
    /// English message, which stays the text API clients match on.
    #[tokio::test]
    async fn a_refusal_carries_its_key_beside_the_same_english_message() {
        let why = Refusal::new("err.totp_wrong_code", &[]);
        let error = error_of(ApiError::Forbidden(why.into())).await;
        assert_eq!(error["code"], "forbidden");
        assert_eq!(error["message"], "wrong or already used two-factor code");
        assert_eq!(error["key"], "err.totp_wrong_code");

        let why = Refusal::new("err.hours_range", &[("max", "48".to_owned())]);
        let error = error_of(ApiError::BadRequest(why.into())).await;
        assert_eq!(error["message"], "hours must be between 1 and 48");
        assert_eq!(error["args"], json!({"max": "48"}));

        let error = error_of(ApiError::NotFound("server")).await;
        assert_eq!(error["message"], "server not found");
        assert_eq!(error["key"], "err.not_found_server");
    }

    /// Words that are not ours (another program's, a parser's) keep no key: the panel shows
    /// them as they are.
    #[tokio::test]
    async fn text_from_elsewhere_has_no_key() {
        let error = error_of(ApiError::Conflict("core said no".into())).await;
        assert_eq!(error["message"], "core said no");
        assert!(error.get("key").is_none(), "{error}");
    }
}
