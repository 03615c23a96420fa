//! v3's API tokens under `/panel/api/setting/apiTokens*`: the controller's own tokens (the
//! ones `/api/v1/api-tokens` manages), in v3's shape. v3's scopes that xfleet does not have
//! (`monitor`, `node-sync`), expiry and pausing are refused by name; xfleet's scopes are
//! `admin` and `read-only`.

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use xfleet_common::time::now_ms;

use super::{de, reply, Body, Msg, XuiCall};
use crate::front::auth::create_api_token;
use crate::front::{reply_as, ApiError, Audit, Call};
use crate::model::FieldError;
use crate::model::Refusal;
use crate::store::ApiTokenRow;
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/apiTokens", get(list))
        .route("/apiTokens/create", post(create))
        .route("/apiTokens/delete/{id}", post(delete))
        .route("/apiTokens/setEnabled/{id}", post(set_enabled))
}

/// v3's `ApiTokenView`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    id: i64,
    name: String,
    scope: String,
    /// xfleet's tokens are not paused: they exist or are deleted.
    enabled: bool,
    created_at: i64,
    /// xfleet's tokens do not expire.
    expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn view(t: ApiTokenRow) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        scope: t.scope,
        enabled: true,
        created_at: t.created_at,
        expires_at: 0,
        token: None,
    }
}

async fn list(XuiCall(call): XuiCall) -> Json<Msg> {
    let result = call
        .ctl
        .store
        .list_api_tokens()
        .await
        .map_err(ApiError::from);
    reply(
        "",
        result.map(|l| l.into_iter().map(view).collect::<Vec<_>>()),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default, deserialize_with = "de::int")]
    expires_at: i64,
}

/// The xfleet scope for v3's name, or why there is none.
fn scope_of(requested: &str) -> Result<&str, FieldError> {
    match requested.trim() {
        "" | "admin" => Ok("admin"),
        "read-only" => Ok("read-only"),
        "monitor" => Err(FieldError::said("scope", "err.scope_monitor", &[])),
        "node-sync" => Err(FieldError::said("scope", "err.scope_node_sync", &[])),
        other => Err(FieldError::said(
            "scope",
            "err.scope_unknown",
            &[("scope", other.to_owned())],
        )),
    }
}

/// `apiTokens/create`: the secret is in this answer only.
async fn create(XuiCall(call): XuiCall, Body(new): Body<NewToken>) -> Json<Msg> {
    let audit =
        Audit::new("api_token.create", "").with(json!({"name": new.name, "scope": new.scope}));
    let said = ("Token created", "Failed to create the token");
    call.reply_as(audit, said, async {
        let mut problems = Vec::new();
        let scope = scope_of(&new.scope).unwrap_or_else(|why| {
            problems.push(why);
            ""
        });
        if new.expires_at != 0 {
            problems.push(FieldError::said("expiresAt", "err.token_expiry", &[]));
        }
        if !problems.is_empty() {
            return Err(ApiError::Invalid(problems));
        }
        let (id, secret) =
            create_api_token(&call.ctl, call.actor.user_id, &new.name, scope).await?;
        Ok(TokenView {
            id,
            name: new.name.trim().to_owned(),
            scope: scope.to_owned(),
            enabled: true,
            created_at: now_ms(),
            expires_at: 0,
            token: Some(secret),
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Guarded {
    /// The scope the caller believes the token has; a different one refuses the change.
    #[serde(default)]
    expected_scope: String,
    #[serde(default, deserialize_with = "de::flag")]
    enabled: bool,
}

/// The token `id`, if its scope is what the caller expects.
async fn token(call: &Call, id: i64, expected: &str) -> Result<ApiTokenRow, ApiError> {
    let t = call
        .ctl
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(ApiError::NotFound("API token"))?;
    if !expected.is_empty() && expected != t.scope {
        return Err(ApiError::Conflict(
            Refusal::new(
                "err.token_scope_mismatch",
                &[
                    ("id", id.to_string()),
                    ("scope", t.scope.to_string()),
                    ("expected", expected.to_string()),
                ],
            )
            .into(),
        ));
    }
    Ok(t)
}

async fn delete(XuiCall(call): XuiCall, Path(id): Path<i64>, Body(b): Body<Guarded>) -> Json<Msg> {
    let audit = Audit::new("api_token.delete", format!("api_token:{id}"));
    let said = ("Token deleted", "Failed to delete the token");
    call.reply_as(audit, said, async {
        token(&call, id, &b.expected_scope).await?;
        call.ctl.store.delete_api_token(id).await?;
        Ok(())
    })
    .await
}

/// Turning a token on is a no-op (it is on); off is refused, since xfleet cannot pause one.
async fn set_enabled(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Body(b): Body<Guarded>,
) -> Json<Msg> {
    let result = async {
        token(&call, id, &b.expected_scope).await?;
        if b.enabled {
            Ok(())
        } else {
            Err(ApiError::BadRequest(
                Refusal::new("err.token_no_pause", &[]).into(),
            ))
        }
    }
    .await;
    reply_as("Token updated", "Failed to update the token", result)
}
