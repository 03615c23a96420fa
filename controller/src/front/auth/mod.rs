//! Who is calling: admin sessions (a cookie, for changes only from the panel's own pages:
//! [`check_same_origin`]) and API tokens (Bearer), both stored hashed, as one extractor
//! ([`Actor`]); and the login decision every login front end shares
//! (per-address cap, per address and name throttle, password, second factor, audit).

mod origin;
mod password;
mod throttle;
pub mod totp;
pub mod two_factor;

pub use origin::check_same_origin;
pub use password::{
    check_new_password, check_password, hash_password, needs_rehash, new_password_hash,
    verify_password, HashError, HASHING_RETRY_AFTER_SECS, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
};
pub use throttle::LoginThrottle;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use xfleet_common::enrollment::sha256_hex;
use xfleet_common::time::now_ms;

use super::ApiError;
use crate::model::Refusal;
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
}

/// The address a request came from (empty when the listener did not record it).
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

/// The API token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
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

/// The scopes an API token can have: `admin` may do anything, `read-only` may read.
pub const TOKEN_SCOPES: &[&str] = &["admin", "read-only"];

/// Creates an API token for `user_id`: its id and its secret, which is given out this once
/// and stored only as a hash.
pub async fn create_api_token(
    ctl: &Controller,
    user_id: i64,
    name: &str,
    scope: &str,
) -> Result<(i64, String), ApiError> {
    if !TOKEN_SCOPES.contains(&scope) {
        return Err(ApiError::BadRequest(
            Refusal::new("err.token_scope_choice", &[]).into(),
        ));
    }
    if name.trim().is_empty() {
        return Err(ApiError::BadRequest(
            Refusal::new("err.token_name_empty", &[]).into(),
        ));
    }
    let secret = format!("xfa_{}", random_secret(32));
    let id = ctl
        .store
        .create_api_token(name.trim(), &sha256_hex(secret.as_bytes()), scope, user_id)
        .await?;
    Ok((id, secret))
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

/// The native caller behind a request's headers: a Bearer token, else the session cookie;
/// `None` without valid credentials.
pub async fn actor_from_headers(
    ctl: &Controller,
    headers: &HeaderMap,
    source_ip: &str,
) -> Result<Option<Actor>, ApiError> {
    if let Some(token) = bearer(headers) {
        actor_from_bearer(ctl, token, source_ip).await
    } else if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
        actor_from_session_token(ctl, &token, source_ip).await
    } else {
        Ok(None)
    }
}

impl FromRequestParts<Arc<Controller>> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctl: &Arc<Controller>,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        let actor = actor_from_headers(ctl, &parts.headers, &ip)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        // A session cookie rides along with any site's requests; a token is sent on purpose.
        if actor.session_hash.is_some() {
            let authority = parts.uri.authority().map(|a| a.as_str());
            check_same_origin(&parts.method, &parts.headers, authority)
                .map_err(|e| ApiError::Forbidden(e.into()))?;
        }
        if !actor.allows(&parts.method) {
            return Err(ApiError::Forbidden(
                Refusal::new("err.token_read_only", &[("scope", actor.scope.to_string())]).into(),
            ));
        }
        Ok(actor)
    }
}

/// Why a login was refused. The messages are meant for the person logging in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongCredentials,
    /// Where two-factor login is on, any refusal of a login without a code, so the answer
    /// does not say whether the password was right.
    #[error(
        "wrong username or password, or the two-factor code is missing: enter the code from \
         the authenticator app"
    )]
    TwoFactorRequired,
    /// Where two-factor login is on, any refusal of a login with a code.
    #[error("wrong username or password, or a wrong or already used two-factor code")]
    TwoFactorInvalid,
    #[error(
        "too many failed logins for this user from this address: login is temporarily blocked, \
         try again in {} minutes",
        retry_after_secs.div_ceil(60)
    )]
    Blocked { retry_after_secs: u64 },
    #[error("too many login attempts from this address: try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Every core is busy hashing other attempts' passwords.
    #[error(
        "the controller is busy with other logins: try again in {HASHING_RETRY_AFTER_SECS} seconds"
    )]
    Busy,
    #[error(transparent)]
    Internal(#[from] ApiError),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Internal(other.into()),
        }
    }
}

impl LoginError {
    /// A short machine-readable reason, also written to the audit log.
    pub fn code(&self) -> &str {
        match self {
            Self::Internal(e) => e.code(),
            other => other.outcome(),
        }
    }

    /// The code as the metrics count it: an internal failure is `error`, whatever its cause.
    fn outcome(&self) -> &'static str {
        match self {
            Self::WrongCredentials => "wrong_credentials",
            Self::TwoFactorRequired => "two_factor_required",
            Self::TwoFactorInvalid => "two_factor_invalid",
            Self::Blocked { .. } => "login_blocked",
            Self::TooManyAttempts { .. } => "rate_limited",
            Self::Busy => "busy",
            Self::Internal(_) => "error",
        }
    }

    /// Seconds until a refused caller may try again, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Blocked { retry_after_secs } | Self::TooManyAttempts { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            Self::Busy => Some(HASHING_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Internal(e) => e,
            LoginError::Blocked { .. } | LoginError::TooManyAttempts { .. } | LoginError::Busy => {
                Self::TooManyRequests(e.to_string().into())
            }
            other => Self::Forbidden(other.to_string().into()),
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
    crate::telemetry::global().login(result.as_ref().map_or_else(LoginError::outcome, |_| "ok"));
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
    ensure_not_blocked(ctl, ip, username).await?;
    let fail = async |e: LoginError| {
        login_failed(ctl, ip, username).await;
        Err(e)
    };
    let user = ctl.store.user_by_name(username).await?;
    // Unknown names cost the same hashing work, so timing does not reveal which names exist.
    let hash = user.as_ref().map_or(&ctl.dummy_hash, |u| &u.password_hash);
    let valid = check_password(password, hash).await?;
    let code = two_factor_code.filter(|c| !c.trim().is_empty());
    // Where two-factor login is on, a wrong name or password is refused in the words of a
    // missing or wrong code: answering otherwise would say the password was right.
    let refusal = || match code {
        None => LoginError::TwoFactorRequired,
        Some(_) => LoginError::TwoFactorInvalid,
    };
    let Some(mut user) = user.filter(|_| valid) else {
        if ctl.store.any_totp_enabled().await? {
            return fail(refusal()).await;
        }
        return fail(LoginError::WrongCredentials).await;
    };
    let totp = ctl.store.user_totp(user.id).await?;
    if totp.secret.is_some() {
        let Some(code) = code else {
            return fail(refusal()).await;
        };
        if !two_factor::accept_code(ctl, user.id, &totp, code).await? {
            return fail(refusal()).await;
        }
    }
    ctl.login_throttle.success(ip, username);
    if ctl.cluster.is_shared() {
        (ctl.login_throttle)
            .success_shared(&ctl.store, ip, username)
            .await;
    }
    let mut rehashed = false;
    if needs_rehash(&user.password_hash) {
        let new = match new_password_hash(password).await {
            Ok(new) => new,
            // The login itself succeeded; the upgrade is tried again next time.
            Err(e) => {
                tracing::warn!(error = %e, "could not upgrade a password hash");
                return Ok((user, false));
            }
        };
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
pub async fn ensure_not_blocked(
    ctl: &Controller,
    ip: IpAddr,
    username: &str,
) -> Result<(), LoginError> {
    let blocked = |left: std::time::Duration| LoginError::Blocked {
        retry_after_secs: left.as_secs() + 1,
    };
    ctl.login_throttle.check(ip, username).map_err(blocked)?;
    if ctl.cluster.is_shared() {
        (ctl.login_throttle)
            .check_shared(&ctl.store, ip, username)
            .await
            .map_err(blocked)?;
    }
    Ok(())
}

/// A failed login or password check of the pair, on this controller and (several
/// controllers) in the database.
pub async fn login_failed(ctl: &Controller, ip: IpAddr, username: &str) {
    ctl.login_throttle.failure(ip, username);
    if ctl.cluster.is_shared() {
        (ctl.login_throttle)
            .failure_shared(&ctl.store, ip, username)
            .await;
    }
}

/// An address the limits can key on; a front end without one shares the unspecified address.
fn parse_ip(source_ip: &str) -> IpAddr {
    source_ip
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Starts a browser session for `user`; returns the raw token to put in a cookie (only its
/// hash is stored).
/// A week: how long a browser session lasts unless the configuration or the settings say.
pub const DEFAULT_SESSION_SECS: u64 = 7 * 24 * 3600;

/// How long a new browser session lasts: `session_ttl_secs` from the configuration when set,
/// else the `sessionMaxAge` setting (minutes, 3x-ui's; the Settings page), else
/// [`DEFAULT_SESSION_SECS`].
pub async fn session_ttl_secs(ctl: &Controller) -> Result<u64, ApiError> {
    if ctl.config.session_ttl_secs > 0 {
        return Ok(ctl.config.session_ttl_secs);
    }
    let minutes = ctl
        .store
        .setting("sessionMaxAge")
        .await?
        .and_then(|m| m.trim().parse::<u64>().ok())
        .filter(|m| *m > 0);
    Ok(minutes.map_or(DEFAULT_SESSION_SECS, |m| m.saturating_mul(60)))
}

pub async fn open_session(
    ctl: &Controller,
    user: &UserRow,
    source_ip: &str,
) -> Result<String, ApiError> {
    ctl.store.delete_expired_sessions().await?;
    let token = random_secret(32);
    let ttl_ms = i64::try_from(session_ttl_secs(ctl).await?)
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
