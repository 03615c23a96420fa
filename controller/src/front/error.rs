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
use crate::model::{describe, FieldError, ModelError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Field-level problems with the request body, all of them.
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
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
            WarpError::Invalid(m) => Self::BadRequest(m),
            WarpError::Api(_) => Self::Upstream(e.to_string()),
            WarpError::Store(e) => e.into(),
            other => Self::Conflict(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::BadRequest(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::BadRequest(e.body_text())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(format!("{e:#}"))
    }
}

impl ApiError {
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
        let body = json!({
            "success": false,
            "data": null,
            "error": {"code": self.code(), "message": message, "details": details},
            "trace_id": trace_id,
        });
        (self.status(), Json(body)).into_response()
    }
}
