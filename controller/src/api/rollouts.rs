//! `/api/v1/agent/rollouts` and `/api/v1/servers/{server}/agent-update`: agent self-updates
//! started, watched and steered by operators.

use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::json;

use crate::front::{ok, ApiResult, Audit, Call, JsonBody};
use crate::model::rollouts::{self, RolloutPlan, RolloutView};
use crate::model::servers::resolve;
use crate::model::Refusal;
use crate::store::RolloutRow;

/// Longest list of servers one request may name.
const MAX_SERVERS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRollout {
    version: Option<String>,
    /// Ids (numbers or strings) or names.
    #[serde(default)]
    servers: Vec<serde_json::Value>,
    tag: Option<String>,
    canary: Option<i64>,
    batch: Option<i64>,
}

pub(super) async fn create(
    call: Call,
    JsonBody(req): JsonBody<CreateRollout>,
) -> ApiResult<RolloutView> {
    let servers: Vec<String> = req
        .servers
        .iter()
        .take(MAX_SERVERS + 1)
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let audit = Audit::new("agent.rollout", "").with(json!({
        "version": req.version, "servers": servers.len(), "tag": req.tag,
        "canary": req.canary, "batch": req.batch,
    }));
    let plan = RolloutPlan {
        version: req.version,
        servers,
        tag: req.tag,
        canary: req.canary,
        batch: req.batch,
    };
    let who = call.who().to_owned();
    let result = async {
        if plan.servers.len() > MAX_SERVERS {
            return Err(crate::front::ApiError::BadRequest(
                Refusal::new(
                    "err.rollout_too_many_servers",
                    &[("max", MAX_SERVERS.to_string())],
                )
                .into(),
            ));
        }
        Ok(rollouts::start(&call.ctl, plan, &who).await?)
    };
    ok(call.audited(audit, result).await?)
}

#[derive(Deserialize)]
pub(super) struct Limit {
    limit: Option<i64>,
}

pub(super) async fn list(
    Call { ctl, .. }: Call,
    Query(q): Query<Limit>,
) -> ApiResult<Vec<RolloutRow>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    ok(ctl.store.rollouts(limit).await?)
}

pub(super) async fn get_one(Call { ctl, .. }: Call, Path(id): Path<i64>) -> ApiResult<RolloutView> {
    ok(rollouts::view(&ctl, id).await?)
}

pub(super) async fn resume(call: Call, Path(id): Path<i64>) -> ApiResult<RolloutView> {
    let audit = Audit::new("agent.rollout.resume", format!("rollout:{id}"));
    let result = async { Ok(rollouts::resume(&call.ctl, id).await?) };
    ok(call.audited(audit, result).await?)
}

pub(super) async fn cancel(call: Call, Path(id): Path<i64>) -> ApiResult<RolloutView> {
    let audit = Audit::new("agent.rollout.cancel", format!("rollout:{id}"));
    let who = call.who().to_owned();
    let result = async { Ok(rollouts::cancel(&call.ctl, id, &who).await?) };
    ok(call.audited(audit, result).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateOne {
    version: Option<String>,
}

/// A rollout of one server.
pub(super) async fn update_server(
    call: Call,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<UpdateOne>,
) -> ApiResult<RolloutView> {
    let audit =
        Audit::new("agent.update", format!("server:{key}")).with(json!({"version": req.version}));
    let who = call.who().to_owned();
    let result = async {
        let server = resolve(&call.ctl, &key).await?;
        let plan = RolloutPlan {
            version: req.version,
            servers: vec![server.id.to_string()],
            canary: Some(1),
            batch: Some(1),
            ..Default::default()
        };
        Ok(rollouts::start(&call.ctl, plan, &who).await?)
    };
    ok(call.audited(audit, result).await?)
}
