//! `installXray/{version}` and `updateGeofile[/{file}]`: downloads on the server, which can
//! take minutes, so they go through the durable task queue. The request waits a while for
//! the result; past that it answers with the task id and the task carries on.

use std::time::{Duration, Instant};

use axum::extract::{Path, Query};
use axum::Json;
use serde_json::{json, Value};
use xfleet_common::channel::CallError;
use xfleet_common::methods::{agent, CoreInstallRequest, GeoUpdateAnswer, GeoUpdateRequest};

use super::agent_error;
use crate::compat::{pick_server, ServerParam, XuiCall};
use crate::front::{done, failed, reply, ApiError, Audit, Call, Msg};
use crate::store::{ServerRow, TaskStatus};
use crate::tasks::NewTask;

const POLL: Duration = Duration::from_millis(250);

/// The geo files 3x-ui offers to update. The agent refuses any it has no source for.
const GEO_FILES: &[&str] = &[
    "geoip.dat",
    "geosite.dat",
    "geoip_IR.dat",
    "geosite_IR.dat",
    "geoip_RU.dat",
    "geosite_RU.dat",
];

/// How a queued operation ended, as far as the request saw.
enum Outcome {
    Finished(Value),
    /// Not finished yet: `pending` (queued behind other tasks) or `running`.
    Unfinished {
        task_id: String,
        status: String,
    },
}

/// Queues `operation` for a connected server and waits for its result up to
/// `compat_task_wait_secs`.
async fn run_queued(
    call: &Call,
    server: &ServerRow,
    operation: &str,
    request: Value,
) -> Result<Outcome, ApiError> {
    let ctl = &call.ctl;
    // A 3x-ui caller expects the work now: an offline server is an error, not a queued task
    // that would surprise someone when the server comes back.
    if !crate::fleet::reachable(ctl, server.id).await {
        return Err(agent_error(server, CallError::Offline(String::new())));
    }
    let task = ctl
        .tasks
        .enqueue(
            ctl,
            NewTask {
                server_id: server.id,
                operation: operation.into(),
                request,
                ttl: Duration::from_secs(ctl.config.task_ttl_secs),
                created_by: call.who().to_owned(),
            },
        )
        .await?;
    let until = Instant::now() + Duration::from_secs(ctl.config.compat_task_wait_secs);
    loop {
        let task = ctl.store.task(&task.id).await?;
        let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
        match task.status.as_str() {
            s if s == TaskStatus::Completed.as_str() => {
                return Ok(Outcome::Finished(
                    task.response.as_deref().map_or(Value::Null, parse),
                ))
            }
            s if s == TaskStatus::Failed.as_str() || s == TaskStatus::Expired.as_str() => {
                let code = task.error_code.unwrap_or_else(|| s.to_owned());
                let message = task.error_message.unwrap_or_default();
                // The queue stores the error as displayed, `code: message`.
                let message = message
                    .strip_prefix(&format!("{code}: "))
                    .map(str::to_owned)
                    .unwrap_or(message);
                return Err(ApiError::Call(CallError::Remote {
                    code,
                    message,
                    details: None,
                    retryable: false,
                }));
            }
            _ if Instant::now() >= until => {
                return Ok(Outcome::Unfinished {
                    task_id: task.id,
                    status: task.status,
                })
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// The work goes on as a task: success, since nothing failed, with the task to follow.
fn unfinished(what: &str, server: &ServerRow, task_id: &str, status: &str) -> Json<Msg> {
    let state = if status == TaskStatus::Running.as_str() {
        "is still running"
    } else {
        "is queued"
    };
    done(
        format!(
            "{what} on {} {state} as task {task_id}; \
             GET /api/v1/tasks/{task_id} shows its result",
            server.name
        ),
        json!({ "taskId": task_id, "status": status }),
    )
}

/// A release tag as the agent takes it: `25.3.6` or `v25.3.6`, URL-safe.
fn release_version(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let ok = v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "`{raw}` is not a release version; use a tag such as v25.3.6"
        ))
    }
}

/// Installs an Xray release on the server (checked, then swapped in, then the core
/// restarted on it; the agent rolls back if it does not start).
pub async fn install(
    XuiCall(call): XuiCall,
    Path(version): Path<String>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    const ACTION: &str = "Failed to install Xray";
    let version = match release_version(&version) {
        Ok(v) => v,
        Err(e) => return failed(ACTION, e),
    };
    let server = match pick_server(&call.ctl, &q).await {
        Ok(s) => s,
        Err(e) => return reply::<()>(ACTION, Err(e)),
    };
    let request = json!(CoreInstallRequest {
        version: version.clone(),
        sha256: None,
    });
    let audit = Audit::new("server.core.install", format!("server:{}", server.id))
        .with(json!({"version": version}));
    let installed = run_queued(&call, &server, agent::CORE_INSTALL, request);
    match call.audited(audit, installed).await {
        Ok(Outcome::Finished(answer)) => done(
            format!("Xray {version} installed on {}", server.name),
            answer,
        ),
        Ok(Outcome::Unfinished { task_id, status }) => unfinished(
            &format!("Installing Xray {version}"),
            &server,
            &task_id,
            &status,
        ),
        Err(e) => reply::<()>(ACTION, Err(e)),
    }
}

/// Every geo file the agent has a source for.
pub async fn update_all_geo(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    update_geo_files(&call, &q, Vec::new()).await
}

pub async fn update_geo(
    XuiCall(call): XuiCall,
    Path(file): Path<String>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    if !GEO_FILES.contains(&file.as_str()) {
        return failed(
            GEO_ACTION,
            format!(
                "`{file}` is not a geo file; use one of {}",
                GEO_FILES.join(", ")
            ),
        );
    }
    update_geo_files(&call, &q, vec![file]).await
}

const GEO_ACTION: &str = "Failed to update the geo files";

/// Fetches the files on the server; its core restarts only if one changed.
async fn update_geo_files(call: &Call, q: &ServerParam, files: Vec<String>) -> Json<Msg> {
    let server = match pick_server(&call.ctl, q).await {
        Ok(s) => s,
        Err(e) => return reply::<()>(GEO_ACTION, Err(e)),
    };
    let request = json!(GeoUpdateRequest {
        files: files.clone(),
        streamed: Vec::new(),
    });
    let audit = Audit::new("server.geo.update", format!("server:{}", server.id))
        .with(json!({"files": files}));
    let updated = run_queued(call, &server, agent::GEO_UPDATE, request);
    match call.audited(audit, updated).await {
        Ok(Outcome::Finished(answer)) => {
            let summary: GeoUpdateAnswer =
                serde_json::from_value(answer.clone()).unwrap_or_default();
            let changed = if summary.changed.is_empty() {
                "nothing changed".to_owned()
            } else {
                format!("updated {}", summary.changed.join(", "))
            };
            done(format!("Geo files on {}: {changed}", server.name), answer)
        }
        Ok(Outcome::Unfinished { task_id, status }) => {
            unfinished("Updating the geo files", &server, &task_id, &status)
        }
        Err(e) => reply::<()>(GEO_ACTION, Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions_are_tags_with_or_without_v() {
        assert_eq!(release_version("v25.3.6").unwrap(), "25.3.6");
        assert_eq!(release_version("1.8.24").unwrap(), "1.8.24");
        assert_eq!(release_version("v25.1.1-beta2").unwrap(), "25.1.1-beta2");
        for bad in ["", "v", "latest", "1.0%2F..", "1.0 2", "1.0?x=1"] {
            let e = release_version(bad).unwrap_err();
            assert!(e.contains("not a release version"), "{bad}: {e}");
        }
    }
}
