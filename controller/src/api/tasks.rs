//! `/api/v1/…/tasks`: the durable task queue, the fleet's alerts, and the audit log.

use std::time::Duration;

use axum::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::operations;
use crate::front::{ok, ApiResult, Audit, Call, JsonBody};
use crate::model::alerts::Alert;
use crate::model::servers::resolve;
use crate::store::{AuditEntry, TaskRow};
use crate::tasks::NewTask;

#[derive(Debug, Serialize)]
pub struct TaskView {
    pub id: String,
    pub server_id: i64,
    pub operation: String,
    pub status: String,
    pub request: serde_json::Value,
    pub response: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub attempts: i64,
    pub created_by: String,
    pub created_at: i64,
    pub not_before: i64,
    pub expires_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub updated_at: i64,
}

fn view(t: TaskRow) -> TaskView {
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    TaskView {
        request: parse(&t.request),
        response: t.response.as_deref().map(parse),
        error: t
            .error_code
            .map(|code| json!({"code": code, "message": t.error_message})),
        id: t.id,
        server_id: t.server_id,
        operation: t.operation,
        status: t.status,
        attempts: t.attempts,
        created_by: t.created_by,
        created_at: t.created_at,
        not_before: t.not_before,
        expires_at: t.expires_at,
        started_at: t.started_at,
        completed_at: t.completed_at,
        updated_at: t.updated_at,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTask {
    operation: String,
    #[serde(default)]
    request: serde_json::Value,
    ttl_secs: Option<u64>,
}

pub(super) async fn create(
    call: Call,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<CreateTask>,
) -> ApiResult<TaskView> {
    let ctl = &call.ctl;
    let result = async {
        let server = resolve(ctl, &key).await?;
        operations::check(&req.operation, &req.request, "operation", "request")?;
        let ttl = Duration::from_secs(req.ttl_secs.unwrap_or(ctl.config.task_ttl_secs));
        let task = ctl
            .tasks
            .enqueue(
                ctl,
                NewTask {
                    server_id: server.id,
                    operation: req.operation.clone(),
                    request: req.request.clone(),
                    ttl,
                    created_by: call.who().to_owned(),
                },
            )
            .await?;
        Ok(task)
    }
    .await;
    // The target is the new task's id, known once it is queued.
    let target = result
        .as_ref()
        .map(|t| format!("task:{}", t.id))
        .unwrap_or_default();
    let audit =
        Audit::new("task.create", target).with(json!({"operation": req.operation, "server": key}));
    ok(view(call.audited(audit, async { result }).await?))
}

#[derive(Deserialize)]
pub(super) struct Limit {
    limit: Option<i64>,
}

pub(super) async fn list(
    Call { ctl, .. }: Call,
    Path(key): Path<String>,
    Query(q): Query<Limit>,
) -> ApiResult<Vec<TaskView>> {
    let server = resolve(&ctl, &key).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let tasks = ctl.store.tasks_of(server.id, limit).await?;
    ok(tasks.into_iter().map(view).collect())
}

pub(super) async fn get_one(Call { ctl, .. }: Call, Path(id): Path<String>) -> ApiResult<TaskView> {
    ok(view(ctl.store.task(&id).await?))
}

pub(super) async fn audit(
    Call { ctl, .. }: Call,
    Query(q): Query<Limit>,
) -> ApiResult<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    ok(ctl.store.audit_entries(limit).await?)
}

/// `GET /alerts`: what went wrong on the fleet, as the dashboard shows it.
pub(super) async fn alerts(Call { ctl, .. }: Call) -> ApiResult<Vec<Alert>> {
    ok(crate::model::alerts::fleet(&ctl).await?)
}
