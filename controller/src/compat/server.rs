//! `/panel/api/server/*`: status, CPU history, core control, logs (the controller's own, and
//! the core's access log) and generators for the picked server (`?server_id=`, or the only one), answered by its agent over the channel.
//! Agent failures (offline, timeout, no core) come back as `success:false` with the reason,
//! never a 5xx.

mod database;
mod history;
mod keys;
mod maintenance;
mod updates;

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xfleet_common::channel::CallError;
use xfleet_common::methods::{
    agent, core_methods, default_deadline, AccessEvent, AccessLogEntry, AccessLogQuery,
    CoreLogLevel, CoreLogs, CoreLogsQuery, CoreState, CoreVersion, RunningConfig, SystemStats,
    MAX_ACCESS_LOG_ENTRIES,
};
use xfleet_common::protocol::{code, from_body, to_body};

use super::inbound_clients::format_time;
use super::{done, failed, pick_server, reply, Body, Msg, ServerParam, XuiCall};
use crate::front::{reply_as as answer, ApiError, Audit, Call};
use crate::store::ServerRow;
use crate::{generate, Controller};

/// Most log lines one request may ask for (the agent keeps fewer).
const MAX_LOG_LINES: u32 = 10_000;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/status", get(status).post(status))
        .route(
            "/cpuHistory/{bucket}",
            get(history::cpu_history).post(history::cpu_history),
        )
        .route("/history/{metric}/{bucket}", get(history::metric_history))
        .route("/getPanelUpdateInfo", get(updates::info))
        .route("/updatePanel", post(updates::update))
        .route("/getXrayVersion", get(xray_versions))
        .route("/stopXrayService", post(stop_core))
        .route("/restartXrayService", post(restart_core))
        .route("/installXray/{version}", post(maintenance::install))
        .route("/updateGeofile", post(maintenance::update_all_geo))
        .route("/updateGeofile/{file}", post(maintenance::update_geo))
        .route("/logs/{count}", post(logs))
        .route("/xraylogs/{count}", post(access_log))
        .route("/getConfigJson", get(config_json))
        .route("/getDb", get(database::download))
        .route("/getNewUUID", get(new_uuid))
        .route("/getNewX25519Cert", get(new_x25519))
        .route("/getNewmldsa65", get(keys::mldsa65))
        .route("/getNewmlkem768", get(keys::mlkem768))
        .route("/getNewVlessEnc", get(keys::vless_enc))
        .route("/getNewEchCert", post(keys::ech))
        .merge(super::absent::server_routes())
}

/// Calls `method` on the server's agent with its usual deadline and decodes the answer.
async fn call_agent<Q: Serialize, A: DeserializeOwned>(
    ctl: &Controller,
    server: &ServerRow,
    method: &str,
    body: &Q,
) -> Result<A, ApiError> {
    let body = to_body(body).map_err(|e| ApiError::Internal(e.message))?;
    let deadline = default_deadline(method, &Value::Null);
    let bytes = crate::fleet::call(ctl, server.id, method, body, deadline)
        .await
        .map_err(|e| agent_error(server, e))?;
    from_body(&bytes).map_err(|e| {
        ApiError::Internal(format!(
            "{method} answer from {}: {}",
            server.name, e.message
        ))
    })
}

/// The channel's "server 3 is not connected" in words a 3x-ui user can act on.
fn agent_error(server: &ServerRow, error: CallError) -> ApiError {
    match error {
        CallError::Offline(_) => ApiError::Call(CallError::Offline(format!(
            "server {} (id {}): its agent is not connected",
            server.name, server.id
        ))),
        other => ApiError::Call(other),
    }
}

/// 3x-ui's Status object, from the agent's `system.stats`.
async fn status(XuiCall(Call { ctl, .. }): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        call_agent::<_, SystemStats>(&ctl, &server, agent::SYSTEM_STATS, &()).await
    }
    .await;
    answer("", "Failed to get the server status", result)
}

/// 3x-ui lists the Xray release tags on GitHub that it could switch to. The controller does
/// not reach GitHub and no agent method lists releases, so this answers what is known for
/// certain: the version the server's core runs, as a tag (`v1.8.24`). `installXray/{tag}`
/// takes any published tag, listed here or not.
async fn xray_versions(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        let core: CoreVersion = call_agent(&ctl, &server, core_methods::VERSION, &()).await?;
        Ok(vec![format!("v{}", core.version)])
    }
    .await;
    answer("", "Failed to get the Xray versions", result)
}

/// Stops the core; the agent's watchdog leaves it stopped until a restart.
async fn stop_core(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    core_control(&call, &q, core_methods::STOP).await
}

async fn restart_core(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    core_control(&call, &q, core_methods::RESTART).await
}

async fn core_control(call: &Call, q: &ServerParam, method: &str) -> Json<Msg> {
    let ctl = &call.ctl;
    let (action, ok_msg, fail_msg) = if method == core_methods::STOP {
        ("server.core.stop", "Xray stopped", "Failed to stop Xray")
    } else {
        (
            "server.core.restart",
            "Xray restarted",
            "Failed to restart Xray",
        )
    };
    let server = match pick_server(ctl, q).await {
        Ok(s) => s,
        Err(e) => return reply::<()>(fail_msg, Err(e)),
    };
    let audit = Audit::new(action, format!("server:{}", server.id));
    call.reply_as(audit, (ok_msg, fail_msg), async {
        match call_agent(ctl, &server, method, &()).await? {
            // A restart whose core then fails to come up is a failure, with the core's words.
            CoreState::Error { message } => Err(ApiError::Call(CallError::Remote {
                code: code::CORE_FAILED.into(),
                message: format!("the core on {} does not run: {message}", server.name),
                details: None,
                retryable: false,
            })),
            _ => Ok(Value::Null),
        }
    })
    .await
}

/// 3x-ui's form also has `syslog`, which reads the panel's journal instead of its own
/// buffer; here both are the controller's recent lines, so it is ignored.
#[derive(Deserialize)]
struct LogsForm {
    #[serde(default)]
    level: String,
}

/// 3x-ui's panel log: the newest `count` lines of the controller's own log at `level` or
/// above, newest first, in 3x-ui's `2006/01/02 15:04:05 LEVEL - message` form (times in
/// UTC). With `?server_id=` the lines are that server's core log instead, as its agent
/// captured them (3x-ui has one core and no such choice).
async fn logs(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(count): Path<String>,
    Query(q): Query<ServerParam>,
    Body(form): Body<LogsForm>,
) -> Json<Msg> {
    const ACTION: &str = "Failed to get the logs";
    let query = match logs_query(&count, &form.level) {
        Ok(query) => query,
        Err(e) => return failed(ACTION, e),
    };
    if q.named().is_none() {
        let level = match query.level {
            CoreLogLevel::Debug => tracing::Level::DEBUG,
            CoreLogLevel::Info => tracing::Level::INFO,
            CoreLogLevel::Warning => tracing::Level::WARN,
            CoreLogLevel::Error => tracing::Level::ERROR,
        };
        let lines = crate::log_ring::recent().tail(query.count as usize, level);
        let lines: Vec<String> = lines.iter().rev().map(controller_line).collect();
        return done("", lines);
    }
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        let logs: CoreLogs = call_agent(&ctl, &server, core_methods::LOGS, &query).await?;
        Ok(logs.lines.iter().rev().map(log_line).collect::<Vec<_>>())
    }
    .await;
    answer("", ACTION, result)
}

fn logs_query(count: &str, level: &str) -> Result<CoreLogsQuery, String> {
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{count}` is not a line count"))?;
    // go-logging's levels, most verbose first; the core has no notice or critical lines,
    // so those read as the next level up.
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "" | "debug" => CoreLogLevel::Debug,
        "info" => CoreLogLevel::Info,
        "notice" | "warning" | "warn" => CoreLogLevel::Warning,
        "error" | "critical" => CoreLogLevel::Error,
        other => {
            return Err(format!(
                "unknown log level `{other}`; use debug, info, notice, warning or error"
            ))
        }
    };
    Ok(CoreLogsQuery {
        count: count.clamp(1, MAX_LOG_LINES),
        level,
    })
}

fn log_line(line: &xfleet_common::methods::CoreLogLine) -> String {
    let level = match line.level {
        CoreLogLevel::Debug => "DEBUG",
        CoreLogLevel::Info => "INFO",
        CoreLogLevel::Warning => "WARNING",
        CoreLogLevel::Error => "ERROR",
    };
    xui_line(line.at_ms, level, &line.text)
}

fn controller_line(line: &crate::log_ring::LogLine) -> String {
    let level = match line.level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARNING",
        tracing::Level::INFO => "INFO",
        _ => "DEBUG",
    };
    xui_line(line.at_ms, level, line.message())
}

/// `2006/01/02 15:04:05 LEVEL - message`, as 3x-ui's logger writes.
fn xui_line(at_ms: i64, level: &str, text: &str) -> String {
    let (date, time) = format_time(at_ms)
        .split_once(' ')
        .map(|(d, t)| (d.replace('-', "/"), t.to_owned()))
        .unwrap_or_default();
    format!("{date} {time} {level} - {text}")
}

/// 3x-ui's Xray log viewer form; `"false"` turns a kind off, anything else leaves it on.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessLogForm {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    show_direct: String,
    #[serde(default)]
    show_blocked: String,
    #[serde(default)]
    show_proxy: String,
}

/// The newest `count` entries of the core's access log, oldest first, in 3x-ui's
/// `LogEntry` shape (`Event`: 0 direct, 1 blocked, 2 proxy). The server is `?server_id=`, else
/// the default one, as for every server route. `DateTime` is the time as the core wrote it,
/// in the host's time zone.
async fn access_log(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(count): Path<String>,
    Query(q): Query<ServerParam>,
    Body(form): Body<AccessLogForm>,
) -> Json<Msg> {
    const ACTION: &str = "Failed to get the Xray logs";
    let count: u32 = match count.trim().parse() {
        Ok(n) => n,
        Err(_) => return failed(ACTION, format!("`{count}` is not an entry count")),
    };
    let query = AccessLogQuery {
        count: count.clamp(1, MAX_ACCESS_LOG_ENTRIES),
        filter: form.filter,
        direct: form.show_direct != "false",
        blocked: form.show_blocked != "false",
        proxy: form.show_proxy != "false",
    };
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        let entries = crate::model::access_log::read(&ctl, &server, query).await?;
        Ok(entries.entries.iter().map(xui_entry).collect::<Vec<_>>())
    }
    .await;
    answer("", ACTION, result)
}

fn xui_entry(entry: &AccessLogEntry) -> Value {
    let event = match entry.event {
        AccessEvent::Direct => 0,
        AccessEvent::Blocked => 1,
        AccessEvent::Proxy => 2,
    };
    json!({
        "DateTime": entry.time,
        "FromAddress": entry.source.trim_start_matches('/'),
        "ToAddress": entry.destination.trim_start_matches('/'),
        "Inbound": entry.inbound,
        "Outbound": entry.outbound,
        "Email": entry.email,
        "Event": event,
    })
}

/// The configuration the core runs, as the agent wrote it.
async fn config_json(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        let running: RunningConfig = call_agent(&ctl, &server, core_methods::CONFIG, &()).await?;
        Ok(running.config)
    }
    .await;
    answer("", "Failed to get the Xray config", result)
}

async fn new_uuid(_: XuiCall) -> Json<Msg> {
    done("", json!({ "uuid": generate::uuid() }))
}

async fn new_x25519(_: XuiCall) -> Json<Msg> {
    let pair = generate::x25519();
    done(
        "",
        json!({ "privateKey": pair.private_key, "publicKey": pair.public_key }),
    )
}

/// 3x-ui's manual backup trigger: the bot sends the backup to its admins (the database file
/// on SQLite, the portable archive on PostgreSQL). Without a running bot or admins the answer
/// says so. Admins only: the file holds every secret.
pub async fn backup_to_bot(XuiCall(call): XuiCall) -> Json<Msg> {
    const ACTION: &str = "Backup not sent";
    if call.actor.scope != "admin" {
        return failed(
            ACTION,
            format!(
                "a `{}` token cannot send the database; it holds every secret",
                call.actor.scope
            ),
        );
    }
    let ctl = &call.ctl;
    let sent = crate::telegram::send_backup(&ctl.store, &ctl.config.data_dir).await;
    let details = serde_json::json!({"admins": sent.as_ref().copied().unwrap_or(0)});
    let audit = crate::front::Audit::new("database.telegram", "database").with(details);
    let result = call
        .audited(audit, async {
            sent.map_err(|e| crate::front::ApiError::Conflict(e.into()))
        })
        .await;
    match result {
        Ok(n) => done(
            format!("Backup sent to {n} admin(s)"),
            serde_json::Value::Null,
        ),
        Err(e) => failed(ACTION, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries_read_3x_ui_levels_and_refuse_nonsense() {
        let q = logs_query("50", "notice").unwrap();
        assert_eq!((q.count, q.level), (50, CoreLogLevel::Warning));
        assert_eq!(logs_query("10", "").unwrap().level, CoreLogLevel::Debug);
        assert_eq!(logs_query("0", "info").unwrap().count, 1);
        assert_eq!(
            logs_query("99999999", "error").unwrap().count,
            MAX_LOG_LINES
        );
        assert!(logs_query("ten", "info").unwrap_err().contains("`ten`"));
        assert!(logs_query("10", "loud").unwrap_err().contains("`loud`"));
    }

    #[test]
    fn log_lines_look_like_3x_ui_ones() {
        let line = xfleet_common::methods::CoreLogLine {
            at_ms: 1_700_000_000_000,
            level: CoreLogLevel::Warning,
            text: "core: V2Ray 4.34.0 started".into(),
        };
        assert_eq!(
            log_line(&line),
            "2023/11/14 22:13:20 WARNING - core: V2Ray 4.34.0 started"
        );
    }
}
