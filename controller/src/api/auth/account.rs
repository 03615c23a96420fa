//! Sessions (list, revoke) and the admin's own password. Revoking deletes the session row,
//! and every request looks its session up, so a revoked cookie stops working at once.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::front::auth::{
    check_new_password, check_password, ensure_not_blocked, new_password_hash,
};
use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::FieldError;
use crate::model::Refusal;
use crate::store::SESSION_ID_LEN;

#[derive(Serialize)]
pub(crate) struct SessionView {
    id: String,
    user_id: i64,
    username: String,
    source_ip: String,
    created_at: i64,
    expires_at: i64,
    /// The session this request came with.
    current: bool,
}

pub(crate) async fn list_sessions(Call { ctl, actor }: Call) -> ApiResult<Vec<SessionView>> {
    let own = actor
        .session_hash
        .as_deref()
        .map(|h| &h[..SESSION_ID_LEN.min(h.len())]);
    let sessions = ctl.store.list_sessions().await?;
    ok(sessions
        .into_iter()
        .map(|s| SessionView {
            current: own == Some(s.id.as_str()),
            id: s.id,
            user_id: s.user_id,
            username: s.username,
            source_ip: s.source_ip,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
        .collect())
}

pub(crate) async fn revoke_session(call: Call, Path(id): Path<String>) -> ApiResult<()> {
    call.answer(
        Audit::new("session.revoke", format!("session:{id}")),
        async {
            if id.len() != SESSION_ID_LEN
                || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(ApiError::BadRequest(
                    Refusal::new(
                        "err.session_id_format",
                        &[("len", SESSION_ID_LEN.to_string())],
                    )
                    .into(),
                ));
            }
            match call.ctl.store.delete_session_by_id(&id).await? {
                0 => Err(ApiError::NotFound("session")),
                _ => Ok(()),
            }
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current: String,
    new: String,
}

#[derive(Serialize)]
pub(crate) struct PasswordChanged {
    sessions_revoked: u64,
}

/// Changes the caller's own password and ends the caller's other sessions. A wrong current
/// password counts towards the login block, so a stolen session cannot guess it freely.
pub(crate) async fn change_password(
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    call: Call,
    JsonBody(change): JsonBody<PasswordChange>,
) -> ApiResult<PasswordChanged> {
    let Call { ctl, actor } = &call;
    let ip = addr.ip();
    let result = async {
        check_new_password(&change.new)?;
        let user = ctl.store.user_by_id(actor.user_id).await?;
        ensure_not_blocked(ctl, ip, &user.username).await?;
        if !check_password(&change.current, &user.password_hash).await? {
            crate::front::auth::login_failed(ctl, ip, &user.username).await;
            return Err(ApiError::Forbidden(
                Refusal::new("err.password_wrong_current", &[]).into(),
            ));
        }
        let hash = new_password_hash(&change.new).await?;
        let revoked = ctl
            .store
            .change_password(user.id, &hash, actor.session_hash.as_deref())
            .await?;
        Ok(PasswordChanged {
            sessions_revoked: revoked,
        })
    }
    .await;
    let details = match &result {
        Ok(r) => json!({"sessions_revoked": r.sessions_revoked}),
        Err(_) => json!({}),
    };
    let audit = Audit::new("auth.password", format!("user:{}", actor.user_id)).with(details);
    call.answer(audit, async { result }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsernameChange {
    current: String,
    username: String,
}

/// Renames the caller (needs the current password, which counts towards the login block
/// like a login). Sessions and API tokens stay valid: they belong to the user, not the name.
pub(crate) async fn change_username(
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    call: Call,
    JsonBody(change): JsonBody<UsernameChange>,
) -> ApiResult<serde_json::Value> {
    let Call { ctl, actor } = &call;
    let ip = addr.ip();
    let username = change.username.trim().to_owned();
    let audit = Audit::new("auth.username", format!("user:{}", actor.user_id))
        .with(json!({"username": username}));
    call.answer(audit, async {
        if username.is_empty() || username.chars().count() > 64 {
            return Err(ApiError::Invalid(vec![FieldError::said(
                "username",
                "err.length_64",
                &[],
            )]));
        }
        if username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ApiError::Invalid(vec![FieldError::said(
                "username",
                "err.no_spaces",
                &[],
            )]));
        }
        let user = ctl.store.user_by_id(actor.user_id).await?;
        ensure_not_blocked(ctl, ip, &user.username).await?;
        if !check_password(&change.current, &user.password_hash).await? {
            crate::front::auth::login_failed(ctl, ip, &user.username).await;
            return Err(ApiError::Forbidden(
                Refusal::new("err.password_wrong_current", &[]).into(),
            ));
        }
        ctl.store.rename_user(user.id, &username).await?;
        Ok(json!({"username": username}))
    })
    .await
}
