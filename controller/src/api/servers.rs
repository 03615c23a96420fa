//! `/api/v1/servers`: the fleet's servers, their enrollment tokens, revocation and direct calls.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use xfleet_common::enrollment::EnrollmentToken;
use xfleet_common::methods::default_deadline;
use xfleet_common::protocol::{body_to_json, json_to_body};
use xfleet_common::time::now_ms;

use super::{ok, Actor, ApiError, ApiResult};
use crate::fleet::LiveInfo;
use crate::model::FieldError;
use crate::store::{NewServer, ServerPatch, ServerRow};
use crate::util::random_secret;
use crate::Controller;

/// Longest enrollment token lifetime an operator may ask for.
const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;

#[derive(Debug, Serialize)]
pub struct ServerView {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub tags: Vec<String>,
    /// `pending` (never connected), `online` or `offline`.
    pub status: String,
    pub connected: bool,
    pub last_seen: Option<i64>,
    pub last_error: Option<String>,
    pub version: Option<String>,
    pub core_version: Option<String>,
    pub os_info: Option<serde_json::Value>,
    pub hostname: Option<String>,
    pub enabled: bool,
    pub notes: String,
    pub revision: i64,
    pub applied_revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The server this controller runs itself (single-server mode).
    pub local: bool,
    /// Host name or IP share links point at (empty: the agent's host name, else the Host
    /// of the subscription request).
    pub public_address: String,
    pub live: Option<LiveInfo>,
}

pub fn view(ctl: &Controller, row: ServerRow) -> ServerView {
    let live = ctl.fleet.live_info(row.id);
    ServerView {
        tags: row.tags(),
        id: row.id,
        name: row.name,
        region: row.region,
        status: if live.is_some() {
            "online".into()
        } else {
            row.status
        },
        connected: live.is_some(),
        last_seen: row.last_seen,
        last_error: row.last_error,
        version: row.version,
        core_version: row.core_version,
        os_info: row.os_info.and_then(|s| serde_json::from_str(&s).ok()),
        hostname: row.hostname,
        enabled: row.enabled != 0,
        notes: row.notes,
        revision: row.revision,
        applied_revision: row.applied_revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
        local: row.is_local != 0,
        public_address: row.public_address,
        live,
    }
}

/// The local server runs inside the controller: it was never enrolled and holds no
/// certificate, so tokens and revocation do not apply to it.
fn refuse_local(server: &ServerRow, what: &str) -> Result<(), ApiError> {
    if server.is_local == 0 {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "server {} is the local server: it runs inside the controller and {what}",
        server.id
    )))
}

/// A server by numeric id or by name.
pub async fn resolve(ctl: &Controller, key: &str) -> Result<ServerRow, ApiError> {
    Ok(match key.parse::<i64>() {
        Ok(id) => ctl.store.server(id).await?,
        Err(_) => ctl.store.server_by_name(key).await?,
    })
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "name must be 1–64 characters of letters, digits, `-`, `_` or `.`".into(),
        ))
    }
}

/// A host name, an IPv4 address or an IPv6 address (bare or in brackets); empty clears it.
fn validate_public_address(address: &str) -> Result<(), ApiError> {
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    let host_name = bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if address.is_empty() || host_name || bare.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        // A field error, so a form can show it next to the field.
        Err(ApiError::Invalid(vec![FieldError::new(
            "public_address",
            format!("`{address}` must be a host name or an IP address, without scheme or port"),
        )]))
    }
}

pub(super) async fn list(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
) -> ApiResult<Vec<ServerView>> {
    let rows = ctl.store.list_servers().await?;
    ok(rows.into_iter().map(|r| view(&ctl, r)).collect())
}

pub(super) async fn get_one(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(key): Path<String>,
) -> ApiResult<ServerView> {
    let row = resolve(&ctl, &key).await?;
    ok(view(&ctl, row))
}

pub(super) async fn create(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<NewServer>, JsonRejection>,
) -> ApiResult<ServerView> {
    let Json(mut new) = body?;
    new.public_address = new.public_address.trim().to_owned();
    let result = async {
        validate_name(&new.name)?;
        validate_public_address(&new.public_address)?;
        Ok::<_, ApiError>(ctl.store.create_server(&new).await?)
    }
    .await;
    let target = result
        .as_ref()
        .map(|r| format!("server:{}", r.id))
        .unwrap_or_default();
    actor
        .audit(
            &ctl,
            "server.create",
            &target,
            json!({"name": new.name, "public_address": new.public_address}),
            &result,
        )
        .await;
    ok(view(&ctl, result?))
}

pub(super) async fn update(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    body: Result<Json<ServerPatch>, JsonRejection>,
) -> ApiResult<ServerView> {
    let Json(patch) = body?;
    let result = async {
        let server = resolve(&ctl, &key).await?;
        if let Some(name) = &patch.name {
            validate_name(name)?;
        }
        if let Some(address) = &patch.public_address {
            validate_public_address(address.trim())?;
        }
        let row = ctl.store.update_server(server.id, &patch).await?;
        if row.enabled == 0 {
            ctl.fleet.disconnect(row.id, "server disabled");
        }
        Ok::<_, ApiError>(row)
    }
    .await;
    let details = json!({"name": patch.name, "enabled": patch.enabled, "region": patch.region,
        "public_address": patch.public_address});
    actor
        .audit(
            &ctl,
            "server.update",
            &format!("server:{key}"),
            details,
            &result,
        )
        .await;
    ok(view(&ctl, result?))
}

pub(super) async fn remove(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
) -> ApiResult<()> {
    let result = async {
        let server = resolve(&ctl, &key).await?;
        if ctl.config.local_server {
            refuse_local(
                &server,
                "cannot be removed while single-server mode is on; turn it off first \
                 (`local_server = false` or `xfleet run --no-local-server`)",
            )?;
        }
        ctl.store.delete_server(server.id).await?;
        ctl.fleet.disconnect(server.id, "server removed");
        Ok::<_, ApiError>(())
    }
    .await;
    actor
        .answer(
            &ctl,
            "server.delete",
            &format!("server:{key}"),
            json!({}),
            result,
        )
        .await
}

#[derive(Serialize)]
pub(super) struct Revoked {
    certificates_revoked: u64,
    disconnected: bool,
}

pub(super) async fn revoke(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
) -> ApiResult<Revoked> {
    let result = async {
        let server = resolve(&ctl, &key).await?;
        refuse_local(&server, "has no certificate to revoke")?;
        let certificates_revoked = ctl.store.revoke_certificates(server.id).await?;
        let disconnected = ctl.fleet.disconnect(server.id, "certificate revoked");
        // A deliberate cut, not a network blip: no grace period.
        ctl.store
            .mark_offline(server.id, "certificate revoked")
            .await?;
        Ok::<_, ApiError>(Revoked {
            certificates_revoked,
            disconnected,
        })
    }
    .await;
    actor
        .answer(
            &ctl,
            "server.revoke",
            &format!("server:{key}"),
            json!({}),
            result,
        )
        .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenRequest {
    ttl_secs: Option<u64>,
}

#[derive(Serialize)]
pub struct TokenCreated {
    pub token: String,
    /// The exact command to run on the VPN host.
    pub command: String,
    pub expires_at: i64,
    pub server_id: i64,
}

pub(super) async fn create_token(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    body: Option<Json<TokenRequest>>,
) -> ApiResult<TokenCreated> {
    let req = body.map(|b| b.0).unwrap_or_default();
    let result = async {
        let server = resolve(&ctl, &key).await?;
        refuse_local(&server, "needs no enrollment")?;
        let ttl = req.ttl_secs.unwrap_or(ctl.config.token_ttl_secs);
        if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
            return Err(ApiError::BadRequest(format!(
                "ttl_secs must be between 1 and {MAX_TOKEN_TTL_SECS}"
            )));
        }
        let token = EnrollmentToken {
            url: ctl.gateway_url.clone(),
            ca_pin: ctl.ca.pin().to_owned(),
            secret: random_secret(32),
        };
        let expires_at = now_ms() + ttl as i64 * 1000;
        ctl.store
            .create_enrollment_token(&token.secret_hash(), server.id, expires_at, &actor.name)
            .await?;
        let token = token.encode();
        Ok(TokenCreated {
            command: format!("xfleet-agent enroll --token {token}"),
            token,
            expires_at,
            server_id: server.id,
        })
    }
    .await;
    actor
        .answer(
            &ctl,
            "server.token.create",
            &format!("server:{key}"),
            json!({}),
            result,
        )
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallRequest {
    method: String,
    #[serde(default)]
    body: serde_json::Value,
    timeout_ms: Option<u64>,
}

/// Calls a method on a server's agent right now (no queue); offline servers fail fast.
pub(super) async fn call(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    Path(key): Path<String>,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> ApiResult<serde_json::Value> {
    let Json(req) = body?;
    let result = async {
        let server = resolve(&ctl, &key).await?;
        let deadline = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| default_deadline(&req.method, &req.body));
        Ok::<_, ApiError>(
            ctl.fleet
                .call_json(server.id, &req.method, &req.body, deadline)
                .await?,
        )
    }
    .await;
    if !req.method.starts_with("agent.") && !req.method.starts_with("system.") {
        actor
            .audit(
                &ctl,
                "server.call",
                &format!("server:{key}"),
                json!({"method": req.method}),
                &result,
            )
            .await;
    }
    ok(result?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FleetCallRequest {
    method: String,
    #[serde(default)]
    body: serde_json::Value,
    /// Server ids; all servers when absent.
    servers: Option<Vec<i64>>,
    timeout_ms: Option<u64>,
}

#[derive(Serialize)]
pub(super) struct FleetCallResult {
    server_id: i64,
    ok: bool,
    data: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub(super) struct FleetCallAnswer {
    elapsed_ms: f64,
    succeeded: usize,
    failed: usize,
    results: Vec<FleetCallResult>,
}

/// Calls one method on many servers at once and waits for every answer (or its deadline).
pub(super) async fn fleet_call(
    State(ctl): State<Arc<Controller>>,
    actor: Actor,
    body: Result<Json<FleetCallRequest>, JsonRejection>,
) -> ApiResult<FleetCallAnswer> {
    let Json(req) = body?;
    let ids = match &req.servers {
        Some(ids) => ids.clone(),
        None => ctl
            .store
            .list_servers()
            .await?
            .iter()
            .map(|s| s.id)
            .collect(),
    };
    let deadline = req
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or_else(|| default_deadline(&req.method, &req.body));
    let body = json_to_body(&req.body);
    let started = std::time::Instant::now();
    let calls = ids.iter().map(|&id| {
        let ctl = ctl.clone();
        let body = body.clone();
        let method = req.method.clone();
        async move {
            let outcome = ctl.fleet.call(id, &method, body, deadline).await;
            match outcome {
                Ok(bytes) => FleetCallResult {
                    server_id: id,
                    ok: true,
                    data: Some(body_to_json(&bytes)),
                    error: None,
                },
                Err(e) => FleetCallResult {
                    server_id: id,
                    ok: false,
                    data: None,
                    error: Some(json!({"code": e.code(), "message": e.to_string()})),
                },
            }
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let succeeded = results.iter().filter(|r| r.ok).count();
    let answer = FleetCallAnswer {
        elapsed_ms,
        succeeded,
        failed: results.len() - succeeded,
        results,
    };
    if !req.method.starts_with("agent.")
        && !req.method.starts_with("system.")
        && req.method != "echo"
    {
        let result: Result<(), ApiError> = Ok(());
        actor
            .audit(
                &ctl,
                "fleet.call",
                "",
                json!({"method": req.method, "servers": ids.len()}),
                &result,
            )
            .await;
    }
    ok(answer)
}

/// Traffic recorded for a server: per client, inbound and outbound, and the last journal
/// sequence applied.
pub(super) async fn traffic(
    State(ctl): State<Arc<Controller>>,
    _: Actor,
    Path(key): Path<String>,
) -> ApiResult<crate::store::TrafficTotals> {
    let server = resolve(&ctl, &key).await?;
    ok(ctl.store.traffic_of(server.id).await?)
}
