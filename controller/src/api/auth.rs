//! Authentication: admin sessions (cookie) and API tokens (Bearer), both stored hashed, as one
//! extractor; the login logic every front end shares (per-address cap, per address and name
//! throttle, password, second factor, audit); login, logout and API token management.

mod account;
mod password;
mod throttle;
pub mod totp;
mod two_factor;

pub(super) use account::{change_password, list_sessions, revoke_session};
pub(crate) use password::{check_password, new_password_hash};
pub use password::{hash_password, needs_rehash, verify_password};
pub use throttle::LoginThrottle;
pub(super) use two_factor::{totp_disable, totp_enable, totp_setup};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use xfleet_common::enrollment::sha256_hex;
use xfleet_common::time::now_ms;

use super::{ok, ApiError, ApiResult};
use crate::store::{StoreError, UserRow};
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
    /// Hash of the session token when the caller came with a session cookie.
    pub session_hash: Option<String>,
}

impl Actor {
    /// Whether the scope permits a request with this method: `read-only` tokens only read.
    pub fn allows(&self, method: &Method) -> bool {
        self.scope == "admin" || *method == Method::GET || *method == Method::HEAD
    }

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

    /// Audits a mutation's result and answers with it: the tail of every native mutation.
    pub async fn answer<T: serde::Serialize>(
        &self,
        ctl: &Controller,
        action: &str,
        target: &str,
        details: serde_json::Value,
        result: Result<T, ApiError>,
    ) -> super::ApiResult<T> {
        self.audit(ctl, action, target, details, &result).await;
        super::ok(result?)
    }
}

pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

/// The value of cookie `name` in a request's headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The caller behind a raw session token (from whichever cookie a front end uses), or `None`
/// for an unknown, expired or revoked session.
pub async fn actor_from_session_token(
    ctl: &Controller,
    token: &str,
    source_ip: &str,
) -> Result<Option<Actor>, ApiError> {
    let hash = sha256_hex(token.as_bytes());
    let Some(user) = ctl.store.session_user(&hash).await? else {
        return Ok(None);
    };
    Ok(Some(Actor {
        user_id: user.id,
        name: user.username,
        scope: "admin".into(),
        ip: source_ip.to_owned(),
        session_hash: Some(hash),
    }))
}

/// The caller behind a raw API token (`Authorization: Bearer <token>`), or `None`.
pub async fn actor_from_bearer(
    ctl: &Controller,
    token: &str,
    source_ip: &str,
) -> Result<Option<Actor>, ApiError> {
    let Some((tok, user)) = ctl.store.api_token(&sha256_hex(token.as_bytes())).await? else {
        return Ok(None);
    };
    Ok(Some(Actor {
        user_id: user.id,
        name: format!("{} (token {})", user.username, tok.name),
        scope: tok.scope,
        ip: source_ip.to_owned(),
        session_hash: None,
    }))
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
            actor_from_bearer(ctl, token, &ip).await?
        } else if let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE) {
            actor_from_session_token(ctl, &token, &ip).await?
        } else {
            None
        };
        let actor = actor.ok_or(ApiError::Unauthorized)?;
        if !actor.allows(&parts.method) {
            return Err(ApiError::Forbidden(format!(
                "a `{}` token can only read",
                actor.scope
            )));
        }
        Ok(actor)
    }
}

/// Why a login was refused. The messages are meant for the person logging in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error(
        "this account uses two-factor authentication: enter the code from the authenticator app"
    )]
    TwoFactorRequired,
    #[error("wrong or already used two-factor code")]
    TwoFactorInvalid,
    #[error(
        "too many failed logins for this user from this address: login is temporarily blocked, \
         try again in {} minutes",
        retry_after_secs.div_ceil(60)
    )]
    Blocked { retry_after_secs: u64 },
    #[error("too many login attempts from this address: try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] ApiError),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl LoginError {
    /// A short machine-readable reason, also written to the audit log.
    pub fn code(&self) -> &str {
        match self {
            Self::WrongCredentials => "wrong_credentials",
            Self::TwoFactorRequired => "two_factor_required",
            Self::TwoFactorInvalid => "two_factor_invalid",
            Self::Blocked { .. } => "login_blocked",
            Self::TooManyAttempts { .. } => "rate_limited",
            Self::Internal(e) => e.code(),
        }
    }

    /// Seconds until a refused caller may try again, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Blocked { retry_after_secs } | Self::TooManyAttempts { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Internal(e) => e,
            LoginError::Blocked { .. } | LoginError::TooManyAttempts { .. } => {
                Self::TooManyRequests(e.to_string())
            }
            other => Self::Forbidden(other.to_string()),
        }
    }
}

/// The native envelope, plus `Retry-After` when the caller has to wait.
impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        let retry = self.retry_after_secs();
        let mut response = ApiError::from(self).into_response();
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The whole login decision, shared by every login front end: the per-address cap, the
/// per address and name block, the password (a bcrypt hash is upgraded to argon2id on
/// success), the second factor when the account has one, and an `auth.login` audit entry.
pub async fn authenticate(
    ctl: &Controller,
    source_ip: &str,
    username: &str,
    password: &str,
    two_factor_code: Option<&str>,
) -> Result<UserRow, LoginError> {
    let result = check_login(ctl, source_ip, username, password, two_factor_code).await;
    let (outcome, details) = match &result {
        Ok((_, rehashed)) => ("ok", serde_json::json!({"rehashed": rehashed})),
        Err(e) => (e.code(), serde_json::json!({})),
    };
    if let Err(e) = ctl
        .store
        .audit(username, "auth.login", "", &details, source_ip, outcome)
        .await
    {
        tracing::error!(error = %e, "could not write the audit log");
    }
    result.map(|(user, _)| user)
}

async fn check_login(
    ctl: &Controller,
    source_ip: &str,
    username: &str,
    password: &str,
    two_factor_code: Option<&str>,
) -> Result<(UserRow, bool), LoginError> {
    let ip = parse_ip(source_ip);
    if let Err(secs) = ctl.login_limit.hit(ip) {
        return Err(LoginError::TooManyAttempts {
            retry_after_secs: secs,
        });
    }
    ensure_not_blocked(ctl, ip, username)?;
    let fail = |e: LoginError| {
        ctl.login_throttle.failure(ip, username);
        Err(e)
    };
    let user = ctl.store.user_by_name(username).await?;
    // Unknown names cost the same hashing work, so timing does not reveal which names exist.
    let hash = user.as_ref().map_or(&ctl.dummy_hash, |u| &u.password_hash);
    let valid = check_password(password, hash).await?;
    let Some(mut user) = user.filter(|_| valid) else {
        return fail(LoginError::WrongCredentials);
    };
    let totp = ctl.store.user_totp(user.id).await?;
    if totp.secret.is_some() {
        let Some(code) = two_factor_code.filter(|c| !c.trim().is_empty()) else {
            return fail(LoginError::TwoFactorRequired);
        };
        if !two_factor::accept_code(ctl, user.id, &totp, code).await? {
            return fail(LoginError::TwoFactorInvalid);
        }
    }
    ctl.login_throttle.success(ip, username);
    let mut rehashed = false;
    if needs_rehash(&user.password_hash) {
        let new = new_password_hash(password).await?;
        match ctl
            .store
            .replace_password_hash(user.id, &user.password_hash, &new)
            .await
        {
            Ok(true) => {
                user.password_hash = new;
                rehashed = true;
            }
            Ok(false) => {}
            // The login itself succeeded; the upgrade is tried again next time.
            Err(e) => tracing::warn!(error = %e, "could not upgrade a password hash"),
        }
    }
    Ok((user, rehashed))
}

/// Refuses while the address and name are blocked after failed attempts.
fn ensure_not_blocked(ctl: &Controller, ip: IpAddr, username: &str) -> Result<(), LoginError> {
    ctl.login_throttle
        .check(ip, username)
        .map_err(|left| LoginError::Blocked {
            retry_after_secs: left.as_secs() + 1,
        })
}

/// An address the limits can key on; a front end without one shares the unspecified address.
fn parse_ip(source_ip: &str) -> IpAddr {
    source_ip
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Starts a browser session for `user`; returns the raw token to put in a cookie (only its
/// hash is stored).
pub async fn open_session(
    ctl: &Controller,
    user: &UserRow,
    source_ip: &str,
) -> Result<String, ApiError> {
    ctl.store.delete_expired_sessions().await?;
    let token = random_secret(32);
    let ttl_ms = i64::try_from(ctl.config.session_ttl_secs)
        .unwrap_or(i64::MAX / 2000)
        .saturating_mul(1000);
    ctl.store
        .create_session(
            &sha256_hex(token.as_bytes()),
            user.id,
            source_ip,
            now_ms().saturating_add(ttl_ms),
        )
        .await?;
    Ok(token)
}

/// Ends the session behind a raw token (logout); unknown tokens are ignored.
pub async fn close_session(ctl: &Controller, token: &str) -> Result<(), ApiError> {
    Ok(ctl
        .store
        .delete_session(&sha256_hex(token.as_bytes()))
        .await?)
}

/// Whether an admin account logs in with a second factor (login pages show the code field).
pub async fn two_factor_enabled(ctl: &Controller) -> Result<bool, ApiError> {
    Ok(ctl.store.any_totp_enabled().await?)
}

#[derive(Deserialize)]
pub(super) struct Login {
    username: String,
    password: String,
    #[serde(
        default,
        rename = "twoFactorCode",
        alias = "two_factor_code",
        alias = "totp"
    )]
    two_factor_code: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Me {
    user_id: i64,
    name: String,
    scope: String,
    two_factor_enabled: bool,
}

pub(super) async fn login(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, LoginError> {
    let Json(login) = body.map_err(ApiError::from)?;
    let ip = addr.ip().to_string();
    let user = authenticate(
        &ctl,
        &ip,
        &login.username,
        &login.password,
        login.two_factor_code.as_deref(),
    )
    .await?;
    let session = open_session(&ctl, &user, &ip).await?;
    let ttl = ctl.config.session_ttl_secs;
    let secure = ctl.cookie_secure();
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}{secure}"
    );
    let two_factor = ctl.store.user_totp(user.id).await?.secret.is_some();
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        ok(Me {
            user_id: user.id,
            name: user.username,
            scope: "admin".into(),
            two_factor_enabled: two_factor,
        }),
    ))
}

pub(super) async fn logout(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE) {
        let ip = addr.ip().to_string();
        if let Some(actor) = actor_from_session_token(&ctl, &token, &ip).await? {
            let result = close_session(&ctl, &token).await;
            actor
                .audit(&ctl, "auth.logout", "", serde_json::json!({}), &result)
                .await;
            result?;
        }
    }
    let secure = ctl.cookie_secure();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    Ok((AppendHeaders([(SET_COOKIE, clear)]), ok(())))
}

pub(super) async fn me(State(ctl): State<Arc<Controller>>, actor: Actor) -> ApiResult<Me> {
    let two_factor = ctl.store.user_totp(actor.user_id).await?.secret.is_some();
    ok(Me {
        user_id: actor.user_id,
        name: actor.name,
        scope: actor.scope,
        two_factor_enabled: two_factor,
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
        .answer(&ctl, "api_token.create", "", details, result)
        .await
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
        .answer(
            &ctl,
            "api_token.delete",
            &format!("api_token:{id}"),
            serde_json::json!({}),
            result,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_errors_carry_a_wait_only_when_there_is_one() {
        let blocked = LoginError::Blocked {
            retry_after_secs: 840,
        };
        assert_eq!(blocked.retry_after_secs(), Some(840));
        assert!(blocked.to_string().contains("temporarily blocked"));
        assert!(blocked.to_string().contains("14 minutes"), "{blocked}");
        assert!(matches!(
            ApiError::from(blocked),
            ApiError::TooManyRequests(_)
        ));
        assert_eq!(LoginError::TwoFactorInvalid.retry_after_secs(), None);
        assert!(matches!(
            ApiError::from(LoginError::WrongCredentials),
            ApiError::Forbidden(_)
        ));
    }
}
