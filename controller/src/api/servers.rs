//! `/api/v1/servers`: the fleet's servers, their enrollment tokens, revocation and direct calls.

use std::time::Duration;

use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use xfleet_common::enrollment::EnrollmentToken;
use xfleet_common::methods::{default_deadline, is_read_only};
use xfleet_common::protocol::{body_to_json, json_to_body};
use xfleet_common::time::now_ms;

use super::operations;
use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::servers::{check_name, refusals, resolve, view_one, views, ServerView};
use crate::model::FieldError;
use crate::model::Refusal;
use crate::store::{NewServer, ServerPatch};
use crate::util::random_secret;

/// Longest enrollment token lifetime an operator may ask for.
const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Refuses an access action that does not apply to the server ([`refusals`]).
fn refuse(refusal: Option<String>) -> Result<(), ApiError> {
    refusal.map_or(Ok(()), |why| Err(ApiError::Conflict(why.into())))
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
        Err(ApiError::Invalid(vec![FieldError::said(
            "public_address",
            "err.public_address",
            &[("address", address.to_string())],
        )]))
    }
}

pub(super) async fn list(Call { ctl, .. }: Call) -> ApiResult<Vec<ServerView>> {
    let rows = ctl.store.list_servers().await?;
    ok(views(&ctl, rows).await?)
}

pub(super) async fn get_one(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
) -> ApiResult<ServerView> {
    let row = resolve(&ctl, &key).await?;
    ok(view_one(&ctl, row).await?)
}

pub(super) async fn create(
    call: Call,
    JsonBody(mut new): JsonBody<NewServer>,
) -> ApiResult<ServerView> {
    new.public_address = new.public_address.trim().to_owned();
    let result = async {
        check_name(&new.name)?;
        validate_public_address(&new.public_address)?;
        Ok(call.ctl.store.create_server(&new).await?)
    }
    .await;
    // The target is the new server's id, known once it is created.
    let target = result
        .as_ref()
        .map(|r| format!("server:{}", r.id))
        .unwrap_or_default();
    let audit = Audit::new("server.create", target)
        .with(json!({"name": new.name, "public_address": new.public_address}));
    let row = call.audited(audit, async { result }).await?;
    ok(view_one(&call.ctl, row).await?)
}

pub(super) async fn update(
    call: Call,
    Path(key): Path<String>,
    JsonBody(patch): JsonBody<ServerPatch>,
) -> ApiResult<ServerView> {
    let audit = Audit::new("server.update", format!("server:{key}")).with(json!({
        "name": patch.name, "enabled": patch.enabled, "region": patch.region,
        "public_address": patch.public_address,
    }));
    let ctl = &call.ctl;
    let row = call
        .audited(audit, async {
            let server = resolve(ctl, &key).await?;
            // A name stored before today's rules may be sent back unchanged.
            if let Some(name) = patch.name.as_ref().filter(|n| **n != server.name) {
                check_name(name)?;
            }
            if let Some(address) = &patch.public_address {
                validate_public_address(address.trim())?;
            }
            let row = ctl.store.update_server(server.id, &patch).await?;
            if row.enabled == 0 {
                ctl.fleet.disconnect(row.id, "server disabled");
            }
            Ok(row)
        })
        .await?;
    ok(view_one(ctl, row).await?)
}

pub(super) async fn remove(call: Call, Path(key): Path<String>) -> ApiResult<()> {
    let ctl = &call.ctl;
    call.answer(
        Audit::new("server.delete", format!("server:{key}")),
        async {
            let server = resolve(ctl, &key).await?;
            refuse(refusals(ctl, &server).remove)?;
            ctl.store.delete_server(server.id).await?;
            ctl.fleet.disconnect(server.id, "server removed");
            Ok(())
        },
    )
    .await
}

#[derive(Serialize)]
pub(super) struct Revoked {
    certificates_revoked: u64,
    disconnected: bool,
}

pub(super) async fn revoke(call: Call, Path(key): Path<String>) -> ApiResult<Revoked> {
    let ctl = &call.ctl;
    call.answer(
        Audit::new("server.revoke", format!("server:{key}")),
        async {
            let server = resolve(ctl, &key).await?;
            refuse(refusals(ctl, &server).revoke)?;
            let certificates_revoked = ctl.store.revoke_certificates(server.id).await?;
            let disconnected = ctl.fleet.disconnect(server.id, "certificate revoked");
            // A deliberate cut, not a network blip: no grace period.
            ctl.store
                .mark_offline(server.id, "certificate revoked")
                .await?;
            Ok(Revoked {
                certificates_revoked,
                disconnected,
            })
        },
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
    /// One line for a fresh host: downloads the agent from this controller (pinned), installs
    /// it and enrolls with the token. On a host that holds an enrollment it changes nothing;
    /// `command` (with `--force`) replaces one.
    pub install_command: String,
    pub expires_at: i64,
    pub server_id: i64,
    /// The server was enrolled before: its host holds that enrollment, so the command
    /// replaces it (`--force`), and a running agent picks the new one up at its next dial.
    pub replaces_enrollment: bool,
}

pub(super) async fn create_token(
    call: Call,
    Path(key): Path<String>,
    body: Option<Json<TokenRequest>>,
) -> ApiResult<TokenCreated> {
    let req = body.map(|b| b.0).unwrap_or_default();
    let ctl = &call.ctl;
    call.answer(
        Audit::new("server.token.create", format!("server:{key}")),
        async {
            let server = resolve(ctl, &key).await?;
            refuse(refusals(ctl, &server).enroll)?;
            let ttl = req.ttl_secs.unwrap_or(ctl.config.token_ttl_secs);
            if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
                return Err(ApiError::BadRequest(
                    Refusal::new("err.ttl_range", &[("max", MAX_TOKEN_TTL_SECS.to_string())])
                        .into(),
                ));
            }
            let mut also = ctl.cluster.gateways(&ctl.store).await;
            also.retain(|url| *url != ctl.gateway_url);
            let token = EnrollmentToken {
                url: ctl.gateway_url.clone(),
                ca_pin: ctl.ca.pin().to_owned(),
                secret: random_secret(32),
                also,
            };
            let expires_at = now_ms() + ttl as i64 * 1000;
            ctl.store
                .create_enrollment_token(&token.secret_hash(), server.id, expires_at, call.who())
                .await?;
            let token = token.encode();
            // The agent refuses to replace an enrollment it holds unless forced; a server
            // that had a certificate has one on its host (revoked or not).
            let replaces_enrollment = !ctl.store.certificates_of(server.id).await?.is_empty();
            let force = if replaces_enrollment { " --force" } else { "" };
            Ok(TokenCreated {
                command: format!("xfleet-agent enroll{force} --token {token}"),
                install_command: crate::dist::install_command(
                    &ctl.gateway_url,
                    &ctl.gateway_key_pin,
                    &token,
                ),
                token,
                expires_at,
                server_id: server.id,
                replaces_enrollment,
            })
        },
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
pub(super) async fn call_agent(
    call: Call,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<CallRequest>,
) -> ApiResult<serde_json::Value> {
    let ctl = &call.ctl;
    let result = async {
        let server = resolve(ctl, &key).await?;
        let deadline = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| default_deadline(&req.method, &req.body));
        Ok(crate::fleet::call_json(ctl, server.id, &req.method, &req.body, deadline).await?)
    };
    if !is_read_only(&req.method) {
        let audit =
            Audit::new("server.call", format!("server:{key}")).with(json!({"method": req.method}));
        call.answer(audit, result).await
    } else {
        ok(result.await?)
    }
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

/// Most server ids one fleet call may name (no list at all calls every server).
pub const MAX_FLEET_CALL_SERVERS: usize = 1000;

/// The ids a fleet call names: at most [`MAX_FLEET_CALL_SERVERS`], each once.
fn check_fleet_ids(ids: &[i64]) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    let why = if ids.len() > MAX_FLEET_CALL_SERVERS {
        Some(FieldError::said(
            "servers",
            "err.servers_too_many",
            &[
                ("count", ids.len().to_string()),
                ("max", MAX_FLEET_CALL_SERVERS.to_string()),
            ],
        ))
    } else {
        ids.iter()
            .find(|id| !seen.insert(**id))
            .map(|id| FieldError::said("servers", "err.server_twice", &[("id", id.to_string())]))
    };
    why.map_or(Ok(()), |why| Err(ApiError::Invalid(vec![why])))
}

/// Calls one method on many servers at once and waits for every answer (or its deadline).
/// An unknown method, a body the agents could not read, or a list of servers past the cap
/// is refused before any server is called.
pub(super) async fn fleet_call(
    call: Call,
    JsonBody(req): JsonBody<FleetCallRequest>,
) -> ApiResult<FleetCallAnswer> {
    let ctl = &call.ctl;
    operations::check(&req.method, &req.body, "method", "body")?;
    let ids = match &req.servers {
        Some(ids) => {
            check_fleet_ids(ids)?;
            ids.clone()
        }
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
    let mut outcomes: std::collections::HashMap<i64, _> =
        (crate::fleet::call_many(ctl, &ids, &req.method, body, deadline).await)
            .into_iter()
            .collect();
    let results: Vec<FleetCallResult> = ids
        .iter()
        .map(|&id| {
            let outcome = outcomes.remove(&id).unwrap_or_else(|| {
                Err(xfleet_common::channel::CallError::Offline(format!(
                    "server {id} is not connected"
                )))
            });
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
                    error: Some(json!({"code": e.code(), "message": e.message()})),
                },
            }
        })
        .collect();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let succeeded = results.iter().filter(|r| r.ok).count();
    let answer = FleetCallAnswer {
        elapsed_ms,
        succeeded,
        failed: results.len() - succeeded,
        results,
    };
    if !is_read_only(&req.method) {
        // Each server's outcome is in the answer; the entry records that the call was made.
        let audit =
            Audit::new("fleet.call", "").with(json!({"method": req.method, "servers": ids.len()}));
        call.audited(audit, async { Ok(()) }).await?;
    }
    ok(answer)
}

/// Traffic recorded for a server: per client, inbound and outbound, and the last journal
/// sequence applied.
pub(super) async fn traffic(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
) -> ApiResult<crate::store::TrafficTotals> {
    let server = resolve(&ctl, &key).await?;
    ok(ctl.store.traffic_of(server.id).await?)
}
