//! `/api/v1/auth/…` and `/api/v1/api-tokens`: login and logout with the native session
//! cookie, who the caller is, API tokens; sessions and the password ([`account`]) and
//! two-factor login ([`two_factor`]).

mod account;
mod two_factor;

pub(super) use account::{change_password, change_username, list_sessions, revoke_session};
pub(super) use two_factor::{totp_disable, totp_enable, totp_setup};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{AppendHeaders, IntoResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use xfleet_common::time::now_ms;

use crate::front::auth::{
    actor_from_session_token, authenticate, check_same_origin, close_session, cookie_value,
    create_api_token, open_session, LoginError, SESSION_COOKIE,
};
use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::Controller;

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
    /// The account still has the password generated at first start: change it.
    password_change_required: bool,
}

pub(super) async fn login(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    JsonBody(login): JsonBody<Login>,
) -> Result<impl IntoResponse, LoginError> {
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
    let ttl = crate::front::auth::session_ttl_secs(&ctl).await?;
    let secure = ctl.cookie_secure();
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}{secure}"
    );
    let two_factor = ctl.store.user_totp(user.id).await?.secret.is_some();
    let password_change_required = ctl.store.password_change_required(user.id).await?;
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        ok(Me {
            user_id: user.id,
            name: user.username,
            scope: "admin".into(),
            two_factor_enabled: two_factor,
            password_change_required,
        }),
    ))
}

/// Ends the session of the cookie; another site's page cannot end it for the user.
pub(super) async fn logout(
    State(ctl): State<Arc<Controller>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    check_same_origin(&Method::POST, &headers, uri.authority().map(|a| a.as_str()))
        .map_err(|e| ApiError::Forbidden(e.into()))?;
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

pub(super) async fn me(Call { ctl, actor }: Call) -> ApiResult<Me> {
    let two_factor = ctl.store.user_totp(actor.user_id).await?.secret.is_some();
    ok(Me {
        user_id: actor.user_id,
        name: actor.name,
        scope: actor.scope,
        two_factor_enabled: two_factor,
        password_change_required: ctl.store.password_change_required(actor.user_id).await?,
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

pub(super) async fn list_tokens(call: Call) -> ApiResult<Vec<TokenView>> {
    let tokens = call.ctl.store.list_api_tokens().await?;
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
    call: Call,
    JsonBody(new): JsonBody<NewToken>,
) -> ApiResult<TokenView> {
    let audit =
        Audit::new("api_token.create", "").with(json!({"name": new.name, "scope": new.scope}));
    call.answer(audit, async {
        let (id, secret) =
            create_api_token(&call.ctl, call.actor.user_id, &new.name, &new.scope).await?;
        Ok(TokenView {
            id,
            name: new.name.trim().to_owned(),
            scope: new.scope.clone(),
            created_at: now_ms(),
            last_used_at: None,
            token: Some(secret),
        })
    })
    .await
}

pub(super) async fn delete_token(call: Call, Path(id): Path<i64>) -> ApiResult<()> {
    call.answer(
        Audit::new("api_token.delete", format!("api_token:{id}")),
        async {
            match call.ctl.store.delete_api_token(id).await? {
                0 => Err(ApiError::NotFound("API token")),
                _ => Ok(()),
            }
        },
    )
    .await
}
