//! Turning two-factor login on and off: setup hands out a secret, enable confirms it with a
//! first code, disable needs a current code. Every step is audited; the secret never is.

use axum::extract::ConnectInfo;
use serde::{Deserialize, Serialize};

use crate::front::auth::two_factor::{accept_code, now_secs, secret_bytes as decode};
use crate::front::auth::{ensure_not_blocked, totp};
use crate::front::{ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::Refusal;

/// Shown by authenticator apps above the account name.
const ISSUER: &str = "xfleet";

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

pub(crate) async fn totp_setup(call: Call) -> ApiResult<TotpSetup> {
    let Call { ctl, actor } = &call;
    let audit = Audit::new("auth.totp.setup", format!("user:{}", actor.user_id));
    call.answer(audit, async {
        let user = ctl.store.user_by_id(actor.user_id).await?;
        let secret = totp::new_secret();
        if !ctl.store.begin_totp(user.id, &secret).await? {
            return Err(ApiError::Conflict(
                Refusal::new("err.totp_already_on_new_secret", &[]).into(),
            ));
        }
        Ok(TotpSetup {
            uri: totp::uri(ISSUER, &user.username, &secret),
            secret,
        })
    })
    .await
}

pub(crate) async fn totp_enable(call: Call, JsonBody(body): JsonBody<Code>) -> ApiResult<()> {
    let Call { ctl, actor } = &call;
    let audit = Audit::new("auth.totp.enable", format!("user:{}", actor.user_id));
    call.answer(audit, async {
        let state = ctl.store.user_totp(actor.user_id).await?;
        if state.secret.is_some() {
            return Err(ApiError::Conflict(
                Refusal::new("err.totp_already_on", &[]).into(),
            ));
        }
        let Some(pending) = state.pending else {
            return Err(ApiError::BadRequest(
                Refusal::new("err.totp_no_setup", &[]).into(),
            ));
        };
        let last = u64::try_from(state.last_step).unwrap_or(0);
        let Some(step) = totp::verify(&decode(&pending)?, &body.code, now_secs(), last) else {
            return Err(ApiError::BadRequest(
                Refusal::new("err.totp_code_mismatch", &[]).into(),
            ));
        };
        if !ctl
            .store
            .enable_totp(actor.user_id, &pending, step as i64)
            .await?
        {
            return Err(ApiError::Conflict(
                Refusal::new("err.totp_changed", &[]).into(),
            ));
        }
        Ok(())
    })
    .await
}

/// Needs a current code, so a stolen session alone cannot remove the second factor; wrong
/// codes count towards the login block of the account.
pub(crate) async fn totp_disable(
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    call: Call,
    JsonBody(body): JsonBody<Code>,
) -> ApiResult<()> {
    let Call { ctl, actor } = &call;
    let ip = addr.ip();
    let audit = Audit::new("auth.totp.disable", format!("user:{}", actor.user_id));
    call.answer(audit, async {
        let user = ctl.store.user_by_id(actor.user_id).await?;
        ensure_not_blocked(ctl, ip, &user.username).await?;
        let state = ctl.store.user_totp(user.id).await?;
        if state.secret.is_none() {
            return Err(ApiError::Conflict(
                Refusal::new("err.totp_not_on", &[]).into(),
            ));
        }
        if !accept_code(ctl, user.id, &state, &body.code).await? {
            crate::front::auth::login_failed(ctl, ip, &user.username).await;
            return Err(ApiError::Forbidden(
                Refusal::new("err.totp_wrong_code", &[]).into(),
            ));
        }
        ctl.store.disable_totp(user.id).await?;
        Ok(())
    })
    .await
}
