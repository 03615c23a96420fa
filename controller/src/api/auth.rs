//! Authentication: admin sessions (cookie) and API tokens (Bearer), both stored hashed, as one
//! extractor; login, logout and API token management.

use std::net::SocketAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{AppendHeaders, IntoResponse};
use axum::Json;
use serde::{Deserialize, Serialize};
use xfleet_common::enrollment::sha256_hex;
use xfleet_common::time::now_ms;

use super::{ok, ApiError, ApiResult};
use crate::util::random_secret;
use crate::Controller;

pub const SESSION_COOKIE: &str = "xfleet_session";

/// An authenticated caller of the API.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    /// `admin`, or `admin (token ci)` for API tokens.
    pub name: String,
    pub scope: String,
    pub ip: String,
}

impl Actor {
    pub async fn audit(
        &self,
        ctl: &Controller,
        action: &str,
        target: &str,
        details: serde_json::Value,
        result: &Result<impl Sized, ApiError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        if let Err(e) = ctl
            .store
            .audit(&self.name, action, target, &details, &self.ip, outcome)
            .await
        {
            tracing::error!(error = %e, action, "could not write the audit log");
        }
    }
}

pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Arc<Controller>> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctl: &Arc<Controller>,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let actor = if let Some(token) = bearer {
            let (tok, user) = ctl
                .store
                .api_token(&sha256_hex(token.as_bytes()))
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Actor {
                user_id: user.id,
                name: format!("{} (token {})", user.username, tok.name),
                scope: tok.scope,
                ip,
            }
        } else if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            let user = ctl
                .store
                .session_user(&sha256_hex(session.as_bytes()))
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Actor {
                user_id: user.id,
                name: user.username,
                scope: "admin".into(),
                ip,
            }
        } else {
            return Err(ApiError::Unauthorized);
        };
        if actor.scope != "admin" && parts.method != Method::GET {
            return Err(ApiError::Forbidden(format!(
                "a `{}` token can only read",
                actor.scope
            )));
        }
        Ok(actor)
    }
}

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[derive(Deserialize)]
pub(super) struct Login {
    username: String,
    password: String,
}

#[derive(Serialize)]
pub(super) struct Me {
    user_id: i64,
    name: String,
    scope: String,
}

pub(super) async fn login(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(login) = body?;
    let ip = addr.ip().to_string();
    if ctl.login_limit.hit(addr.ip()).is_err() {
        return Err(ApiError::TooManyRequests(
            "too many login attempts from this address; wait a few minutes".into(),
        ));
    }
    let user = ctl.store.user_by_name(&login.username).await?;
    let valid = match &user {
        Some(u) => verify_password(&login.password, &u.password_hash),
        None => {
            // Same work for unknown users, so timing does not reveal which names exist.
            let _ = verify_password(&login.password, &ctl.dummy_hash);
            false
        }
    };
    let result = if valid { "ok" } else { "unauthorized" };
    let _ = ctl
        .store
        .audit(
            &login.username,
            "auth.login",
            "",
            &serde_json::json!({}),
            &ip,
            result,
        )
        .await;
    let Some(user) = user.filter(|_| valid) else {
        return Err(ApiError::Forbidden("wrong username or password".into()));
    };
    let session = random_secret(32);
    let ttl = ctl.config.session_ttl_secs;
    ctl.store
        .create_session(
            &sha256_hex(session.as_bytes()),
            user.id,
            &ip,
            now_ms() + ttl as i64 * 1000,
        )
        .await?;
    let cookie =
        format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}");
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        ok(Me {
            user_id: user.id,
            name: user.username,
            scope: "admin".into(),
        }),
    ))
}

pub(super) async fn logout(
    State(ctl): State<Arc<Controller>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        ctl.store
            .delete_session(&sha256_hex(session.as_bytes()))
            .await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((AppendHeaders([(SET_COOKIE, clear)]), ok(())))
}

pub(super) async fn me(actor: Actor) -> ApiResult<Me> {
    ok(Me {
        user_id: actor.user_id,
        name: actor.name,
        scope: actor.scope,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    name: String,
    #[serde(default = "admin_scope")]
    scope: String,
}

fn admin_scope() -> String {
    "admin".into()
}

#[derive(Serialize)]
pub(super) struct TokenView {
    id: i64,
    name: String,
    scope: String,
    created_at: i64,
    last_used_at: Option<i64>,
    /// Only in the answer to create; never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

pub(super) async fn list_tokens(
    State(ctl): State<Arc<Controller>>,
    _actor: Actor,
) -> ApiResult<Vec<TokenView>> {
    let tokens = ctl.store.list_api_tokens().await?;
    ok(tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            scope: t.scope,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            token: None,
        })
        .collect())
}

pub(super) async fn create_token(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<TokenView> {
    let Json(new) = body?;
    let result = async {
        if !matches!(new.scope.as_str(), "admin" | "read-only") {
            return Err(ApiError::BadRequest(
                "scope must be `admin` or `read-only`".into(),
            ));
        }
        if new.name.trim().is_empty() {
            return Err(ApiError::BadRequest("name must not be empty".into()));
        }
        let secret = format!("xfa_{}", random_secret(32));
        let id = ctl
            .store
            .create_api_token(
                new.name.trim(),
                &sha256_hex(secret.as_bytes()),
                &new.scope,
                actor.user_id,
            )
            .await?;
        Ok(TokenView {
            id,
            name: new.name.trim().to_owned(),
            scope: new.scope.clone(),
            created_at: now_ms(),
            last_used_at: None,
            token: Some(secret),
        })
    }
    .await;
    let details = serde_json::json!({"name": new.name, "scope": new.scope});
    actor
        .audit(&ctl, "api_token.create", "", details, &result)
        .await;
    ok(result?)
}

pub(super) async fn delete_token(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<()> {
    let result = match ctl.store.delete_api_token(id).await {
        Ok(0) => Err(ApiError::NotFound("API token")),
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    };
    actor
        .audit(
            &ctl,
            "api_token.delete",
            &format!("api_token:{id}"),
            serde_json::json!({}),
            &result,
        )
        .await;
    ok(result?)
}
