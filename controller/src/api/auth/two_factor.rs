//! Turning two-factor login on and off: setup hands out a secret, enable confirms it with a
//! first code, disable needs a current code. Every step is audited; the secret never is.

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use xfleet_common::time::now_ms;

use super::{ensure_not_blocked, totp, Actor};
use crate::api::{ok, ApiError, ApiResult};
use crate::store::TotpState;
use crate::Controller;

/// Shown by authenticator apps above the account name.
const ISSUER: &str = "xfleet";

fn now_secs() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

fn decode(secret: &str) -> Result<Vec<u8>, ApiError> {
    totp::base32_decode(secret)
        .ok_or_else(|| ApiError::Internal("a stored two-factor secret is not base32".into()))
}

/// Checks a login code against the user's active secret and, if it matches a step not used
/// before, marks that step used. `false` for a wrong or replayed code.
pub(super) async fn accept_code(
    ctl: &Controller,
    user_id: i64,
    state: &TotpState,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(secret) = &state.secret else {
        return Ok(false);
    };
    let last = u64::try_from(state.last_step).unwrap_or(0);
    let Some(step) = totp::verify(&decode(secret)?, code, now_secs(), last) else {
        return Ok(false);
    };
    // The conditional update refuses a step another request used meanwhile.
    Ok(ctl.store.use_totp_step(user_id, step as i64).await?)
}

#[derive(Serialize)]
pub(crate) struct TotpSetup {
    secret: String,
    uri: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Code {
    code: String,
}

pub(crate) async fn totp_setup(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
) -> ApiResult<TotpSetup> {
    let result = async {
        let user = ctl.store.user_by_id(actor.user_id).await?;
        let secret = totp::new_secret();
        if !ctl.store.begin_totp(user.id, &secret).await? {
            return Err(ApiError::Conflict(
                "two-factor authentication is already on; disable it first to use a new secret"
                    .into(),
            ));
        }
        Ok(TotpSetup {
            uri: totp::uri(ISSUER, &user.username, &secret),
            secret,
        })
    }
    .await;
    let target = format!("user:{}", actor.user_id);
    actor
        .audit(&ctl, "auth.totp.setup", &target, json!({}), &result)
        .await;
    ok(result?)
}

pub(crate) async fn totp_enable(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<Code>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<()> {
    let Json(body) = body?;
    let result = async {
        let state = ctl.store.user_totp(actor.user_id).await?;
        if state.secret.is_some() {
            return Err(ApiError::Conflict(
                "two-factor authentication is already on".into(),
            ));
        }
        let Some(pending) = state.pending else {
            return Err(ApiError::BadRequest(
                "no two-factor setup in progress: call POST /api/v1/auth/totp/setup first".into(),
            ));
        };
        let last = u64::try_from(state.last_step).unwrap_or(0);
        let Some(step) = totp::verify(&decode(&pending)?, &body.code, now_secs(), last) else {
            return Err(ApiError::BadRequest(
                "the code does not match the new secret: check the authenticator app's clock \
                 and enter its current 6-digit code"
                    .into(),
            ));
        };
        if !ctl
            .store
            .enable_totp(actor.user_id, &pending, step as i64)
            .await?
        {
            return Err(ApiError::Conflict(
                "the two-factor setup changed meanwhile; run setup again".into(),
            ));
        }
        Ok(())
    }
    .await;
    let target = format!("user:{}", actor.user_id);
    actor
        .audit(&ctl, "auth.totp.enable", &target, json!({}), &result)
        .await;
    ok(result?)
}

/// Needs a current code, so a stolen session alone cannot remove the second factor; wrong
/// codes count towards the login block of the account.
pub(crate) async fn totp_disable(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    body: Result<Json<Code>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<()> {
    let Json(body) = body?;
    let ip = addr.ip();
    let result = async {
        let user = ctl.store.user_by_id(actor.user_id).await?;
        ensure_not_blocked(&ctl, ip, &user.username)?;
        let state = ctl.store.user_totp(user.id).await?;
        if state.secret.is_none() {
            return Err(ApiError::Conflict(
                "two-factor authentication is not on".into(),
            ));
        }
        if !accept_code(&ctl, user.id, &state, &body.code).await? {
            ctl.login_throttle.failure(ip, &user.username);
            return Err(ApiError::Forbidden(
                "wrong or already used two-factor code".into(),
            ));
        }
        ctl.store.disable_totp(user.id).await?;
        Ok(())
    }
    .await;
    let target = format!("user:{}", actor.user_id);
    actor
        .audit(&ctl, "auth.totp.disable", &target, json!({}), &result)
        .await;
    ok(result?)
}
