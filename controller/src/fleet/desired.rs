//! A server's desired state, built from the fleet model, and its delivery: every change that
//! affects a server bumps its revision and queues the new full state as a `state.apply` task
//! (at once when online, on return when offline; an older pending one is superseded).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Map, Value};
use xfleet_common::state::{ClientLimit, DesiredState, InboundSpec};
use xfleet_common::time::now_ms;

use crate::store::{ClientRow, StoreError, TaskRow};
use crate::tasks::NewTask;
use crate::Controller;

/// The setting (3x-ui's key, default on) that lets agents restart the core to close the open
/// connections of clients taken out of it.
pub const RESTART_ON_CLIENT_DISABLE: &str = "restartXrayOnClientDisable";

/// The fleet-wide core template (3x-ui's key): empty for the default one, else a JSON object
/// every server's core configuration is rendered around (`xray::render`).
pub const CORE_TEMPLATE: &str = "xrayTemplateConfig";

/// The stored core template: `None` for the default. Text that is not JSON (it is checked
/// when set, so only a hand-edited database has it) goes along as text, so the server
/// reports the template as unusable rather than quietly running the default.
pub fn core_template(stored: Option<String>) -> Option<Value> {
    let text = stored?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::from(text)))
}

/// The client as 3x-ui keeps it inside an inbound's `settings.clients`.
pub fn client_json(protocol: &str, c: &ClientRow) -> Value {
    let mut v = json!({
        "email": c.email,
        "enable": c.enable != 0,
        "limitIp": c.limit_ip,
        "totalGB": c.total_bytes,
        "expiryTime": c.expiry_time,
        "subId": c.sub_id,
        "tgId": c.tg_id,
        "comment": c.comment,
        "reset": c.reset_days,
    });
    let o = v.as_object_mut().expect("object");
    match protocol {
        "vmess" => {
            o.insert("id".into(), json!(c.uuid));
            if !c.security.is_empty() {
                o.insert("security".into(), json!(c.security));
            }
        }
        "vless" => {
            o.insert("id".into(), json!(c.uuid));
            o.insert("flow".into(), json!(c.flow));
        }
        "hysteria" | "hysteria2" => {
            o.insert("auth".into(), json!(c.auth));
        }
        _ => {
            o.insert("password".into(), json!(c.password));
        }
    }
    v
}

/// The state the server should run at `revision`.
pub async fn build(
    ctl: &Controller,
    server_id: i64,
    revision: i64,
) -> Result<DesiredState, StoreError> {
    let mut state = DesiredState {
        revision: revision as u64,
        stats_interval_ms: ctl.config.stats_interval_secs.max(1) * 1000,
        ..Default::default()
    };
    let now = now_ms();
    state.restart_on_client_disable = ctl
        .store
        .setting(RESTART_ON_CLIENT_DISABLE)
        .await?
        .is_none_or(|v| !matches!(v.trim(), "false" | "0" | "off" | "no"));
    // The server's own template replaces the fleet's.
    let template = match ctl.store.server_template(server_id).await? {
        Some(own) => Some(own),
        None => ctl.store.setting(CORE_TEMPLATE).await?,
    };
    state.template = core_template(template);
    let mut attached: HashMap<i64, Vec<ClientRow>> = HashMap::new();
    for (inbound, client) in ctl.store.clients_of_server(server_id).await? {
        attached.entry(inbound).or_default().push(client);
    }
    let client_usage = ctl.store.client_totals_of_server(server_id).await?;
    let usage = ctl.store.inbound_totals(server_id).await?;
    let refusals = ctl.store.ip_refusals().await?;
    let mut limited = HashSet::new();
    for row in ctl.store.inbounds_of(server_id).await? {
        let clients = attached.remove(&row.id).unwrap_or_default();
        let mut settings: Map<String, Value> =
            serde_json::from_str(&row.settings).unwrap_or_default();
        if matches!(
            row.protocol.as_str(),
            "vmess" | "vless" | "trojan" | "shadowsocks" | "hysteria" | "hysteria2"
        ) {
            let list: Vec<Value> = clients
                .iter()
                .map(|c| client_json(&row.protocol, c))
                .collect();
            settings.insert("clients".into(), Value::Array(list));
        }
        for c in &clients {
            if !limited.insert(c.id) {
                continue;
            }
            // A negative expiry counts from first use: not running yet, nothing to enforce.
            let expiry_ms = c.expiry_time.max(0);
            let remaining_bytes = if c.total_bytes > 0 {
                let used = client_usage.get(&c.email).map_or(0, |t| t.up + t.down);
                Some((c.total_bytes - used).max(0) as u64)
            } else {
                None
            };
            let refused_ips: Vec<String> = refusals
                .get(&c.email)
                .map(|ips| ips.iter().cloned().collect())
                .unwrap_or_default();
            if expiry_ms > 0 || remaining_bytes.is_some() || !refused_ips.is_empty() {
                state.limits.push(ClientLimit {
                    email: c.email.clone(),
                    expiry_ms,
                    remaining_bytes,
                    refused_ips,
                });
            }
        }
        // An inbound past its own expiry or over its quota carries nobody, whether or not
        // the limits job has switched it off yet (it does, and records why).
        let expired = row.expiry_time > 0 && row.expiry_time <= now;
        let used = usage.get(&row.tag).map_or(0, |(up, down, _)| up + down);
        let over_quota = row.total > 0 && used >= row.total;
        state.inbounds.push(InboundSpec {
            id: row.id,
            tag: row.tag,
            enable: row.enable != 0 && !expired && !over_quota,
            listen: row.listen,
            port: row.port as u16,
            protocol: row.protocol,
            settings: Value::Object(settings),
            stream_settings: serde_json::from_str(&row.stream_settings).unwrap_or(Value::Null),
            sniffing: serde_json::from_str(&row.sniffing).unwrap_or(Value::Null),
        });
    }
    Ok(state)
}

/// Bumps the server's revision and queues its new state.
pub async fn push(ctl: &Controller, server_id: i64, actor: &str) -> Result<TaskRow, StoreError> {
    Ok(push_revision(ctl, server_id, actor).await?.1)
}

/// [`push`], answering with the new revision as well.
pub async fn push_revision(
    ctl: &Controller,
    server_id: i64,
    actor: &str,
) -> Result<(i64, TaskRow), StoreError> {
    let revision = ctl.store.bump_revision(server_id).await?;
    Ok((revision, queue(ctl, server_id, revision, actor).await?))
}

/// On a Hello: an agent behind the server's revision (a state task expired, or its state
/// was lost) gets the current state again, at the current revision.
pub async fn repair(ctl: &Controller, server_id: i64, applied: u64) -> Result<(), StoreError> {
    let server = ctl.store.server(server_id).await?;
    if server.revision <= applied as i64 {
        return Ok(());
    }
    tracing::info!(
        server_id,
        applied,
        revision = server.revision,
        "agent is behind; sending its state again"
    );
    queue(ctl, server_id, server.revision, "controller").await?;
    Ok(())
}

/// Queues the state at `revision` as a `state.apply` task, superseding older queued ones.
async fn queue(
    ctl: &Controller,
    server_id: i64,
    revision: i64,
    actor: &str,
) -> Result<TaskRow, StoreError> {
    let state = build(ctl, server_id, revision).await?;
    ctl.store.supersede_state_tasks(server_id, revision).await?;
    ctl.tasks
        .enqueue(
            ctl,
            NewTask {
                server_id,
                operation: xfleet_common::state::method::APPLY.into(),
                request: json!({ "full": state }),
                ttl: Duration::from_secs(ctl.config.task_ttl_secs),
                created_by: actor.to_owned(),
            },
        )
        .await
}
