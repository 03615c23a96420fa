//! The shape every handler shares: an authenticated caller with the controller it calls
//! ([`Call`]), a body parsed or refused before anything runs ([`JsonBody`]), and a change
//! written to the audit log with its outcome before it is answered ([`Audit`]). A handler
//! then holds only what is its own: which model operation, and what its answer shows.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::envelope::{self, Msg};
use super::{ok, Actor, ApiError, ApiResult};
use crate::Controller;

/// An authenticated caller and the controller it calls. As an extractor it authenticates the
/// way the native API does (session cookie or Bearer token); other front ends build one
/// after their own checks.
pub struct Call {
    pub ctl: Arc<Controller>,
    pub actor: Actor,
}

/// What the audit log records of a change: the action, what it was done to, and details.
pub struct Audit {
    action: &'static str,
    target: String,
    details: Value,
}

impl Audit {
    pub fn new(action: &'static str, target: impl Into<String>) -> Self {
        Self {
            action,
            target: target.into(),
            details: json!({}),
        }
    }

    pub fn with(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

impl Call {
    /// The caller's name, as the model and the audit log record it.
    pub fn who(&self) -> &str {
        &self.actor.name
    }

    /// Runs a change, writes its audit entry with the outcome, and gives back its result.
    pub async fn audited<T>(
        &self,
        audit: Audit,
        change: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let result = change.await;
        self.actor
            .audit(
                &self.ctl,
                audit.action,
                &audit.target,
                audit.details,
                &result,
            )
            .await;
        result
    }

    /// [`Call::audited`], answered in 3x-ui's envelope: the first message with the result,
    /// or the second with the reason it failed.
    pub async fn reply_as<T: Serialize>(
        &self,
        audit: Audit,
        (ok_msg, fail_msg): (&str, &str),
        change: impl Future<Output = Result<T, ApiError>>,
    ) -> Json<Msg> {
        envelope::reply_as(ok_msg, fail_msg, self.audited(audit, change).await)
    }

    /// [`Call::audited`], answered in the native envelope.
    pub async fn answer<T: Serialize>(
        &self,
        audit: Audit,
        change: impl Future<Output = Result<T, ApiError>>,
    ) -> ApiResult<T> {
        ok(self.audited(audit, change).await?)
    }
}

impl FromRequestParts<Arc<Controller>> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctl: &Arc<Controller>,
    ) -> Result<Self, Self::Rejection> {
        let actor = Actor::from_request_parts(parts, ctl).await?;
        Ok(Self {
            ctl: ctl.clone(),
            actor,
        })
    }
}

/// A JSON body, or the native API's 400 saying what is wrong with it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(body) = Json::<T>::from_request(req, state).await?;
        Ok(Self(body))
    }
}
