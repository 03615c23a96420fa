//! Client operations. A client is one identity across the fleet; any change reaches every
//! server it is attached to.

use std::collections::BTreeSet;

use xfleet_common::time::now_ms;

use super::emails::{self, Named};
use super::{push_all, ClientInput, ModelError, Problems, Result};
use crate::model::Refusal;
use crate::store::{fleet_write as write, ClientRow, InboundRow, NewClient};
use crate::Controller;

/// Creates a client and attaches it to `inbound_ids` (on any servers).
pub async fn create_client(
    ctl: &Controller,
    actor: &str,
    input: &ClientInput,
    inbound_ids: &[i64],
) -> Result<ClientRow> {
    let mut created = add_clients(ctl, actor, std::slice::from_ref(input), inbound_ids).await?;
    Ok(created.remove(0))
}

/// Creates several new clients attached to the same inbounds, all or none.
pub async fn add_clients(
    ctl: &Controller,
    actor: &str,
    inputs: &[ClientInput],
    inbound_ids: &[i64],
) -> Result<Vec<ClientRow>> {
    let mut p = Problems::default();
    let inbounds = inbounds_named(ctl, inbound_ids, &mut p).await?;
    let mut named = Named::default();
    let mut news = Vec::new();
    for (i, c) in inputs.iter().enumerate() {
        let at = if inputs.len() == 1 {
            String::new()
        } else {
            format!("clients[{i}]")
        };
        let field = if at.is_empty() {
            "email".to_owned()
        } else {
            format!("{at}.email")
        };
        if c.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
            p.say(field.clone(), "err.required", &[]);
        }
        let new = c.resolve(None, &at, &mut p);
        if named.first(&new.email, &field, "err.appears_twice", &mut p) && !new.email.is_empty() {
            if let Some(other) = emails::holder(ctl, &new.email, None).await? {
                emails::taken(&mut p, &field, &new.email, &other, false);
            }
        }
        news.push(new);
    }
    check_protocols(&inbounds, &news, &mut p);
    p.finish()?;

    let mut tx = ctl.store.pool().begin().await?;
    let mut rows = Vec::new();
    for new in &news {
        let row = write::insert_client(&mut tx, new).await?;
        for inbound in &inbounds {
            write::attach(&mut tx, row.id, inbound.id).await?;
        }
        rows.push(row);
    }
    tx.commit().await?;
    let servers: BTreeSet<i64> = inbounds.iter().map(|i| i.server_id).collect();
    push_all(ctl, &servers, actor).await?;
    Ok(rows)
}

/// The inbounds with these ids; a missing one is a field error.
/// Most inbounds one call may attach a client to, detach it from or create it on.
pub const MAX_INBOUNDS_PER_CALL: usize = 1000;

async fn inbounds_named(
    ctl: &Controller,
    ids: &[i64],
    p: &mut Problems,
) -> Result<Vec<InboundRow>> {
    let mut out: Vec<InboundRow> = Vec::new();
    if ids.len() > MAX_INBOUNDS_PER_CALL {
        p.say(
            "inboundIds",
            "err.inbounds_too_many",
            &[
                ("count", ids.len().to_string()),
                ("max", MAX_INBOUNDS_PER_CALL.to_string()),
            ],
        );
        return Ok(out);
    }
    for (i, id) in ids.iter().enumerate() {
        match ctl.store.inbound(*id).await {
            Ok(row) => {
                if !out.iter().any(|r| r.id == row.id) {
                    out.push(row);
                }
            }
            Err(crate::store::StoreError::NotFound(_)) => p.say(
                format!("inboundIds[{i}]"),
                "err.inbound_id",
                &[("id", id.to_string())],
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// VLESS's Vision flow only works on TCP with TLS or REALITY; the rest of the protocol
/// checks happen when the state is rendered.
fn check_protocols(inbounds: &[InboundRow], clients: &[NewClient], p: &mut Problems) {
    for inbound in inbounds {
        if !matches!(
            inbound.protocol.as_str(),
            "vmess" | "vless" | "trojan" | "shadowsocks" | "hysteria" | "hysteria2"
        ) {
            p.say(
                "inboundIds",
                "err.no_client_accounts",
                &[
                    ("inbound", inbound.tag.clone()),
                    ("protocol", inbound.protocol.clone()),
                ],
            );
        }
        if inbound.protocol == "shadowsocks" {
            let method = serde_json::from_str::<serde_json::Value>(&inbound.settings)
                .ok()
                .and_then(|s| s.get("method").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_default();
            if method.starts_with("2022-") {
                let want = if method.contains("128") { 16 } else { 32 };
                for c in clients {
                    if decoded_len(&c.password) != Some(want) {
                        p.say(
                            "password",
                            "err.ss2022_password",
                            &[
                                ("inbound", inbound.tag.clone()),
                                ("method", method.clone()),
                                ("bytes", want.to_string()),
                            ],
                        );
                    }
                }
            }
        }
    }
}

fn decoded_len(key: &str) -> Option<usize> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .ok()
        .map(|b| b.len())
}

/// Changes a client (renaming is allowed; usage and address records follow the email).
pub async fn update_client(
    ctl: &Controller,
    actor: &str,
    email: &str,
    input: &ClientInput,
) -> Result<ClientRow> {
    let current = ctl.store.client_by_email(email).await?;
    let mut p = Problems::default();
    let new = input.resolve(Some(&current), "", &mut p);
    if new.email != current.email {
        if let Some(other) = emails::holder(ctl, &new.email, Some(current.id)).await? {
            emails::taken(&mut p, "email", &new.email, &other, false);
        }
    }
    let inbounds = ctl.store.inbounds_of_client(current.id).await?;
    check_protocols(&inbounds, std::slice::from_ref(&new), &mut p);
    p.finish()?;
    let mut tx = ctl.store.pool().begin().await?;
    let row = write::update_client(&mut tx, &current, &new).await?;
    tx.commit().await?;
    let servers: BTreeSet<i64> = inbounds.iter().map(|i| i.server_id).collect();
    push_all(ctl, &servers, actor).await?;
    Ok(row)
}

pub async fn set_client_enable(
    ctl: &Controller,
    actor: &str,
    email: &str,
    enable: bool,
) -> Result<ClientRow> {
    let input = ClientInput {
        enable: Some(enable),
        ..Default::default()
    };
    update_client(ctl, actor, email, &input).await
}

/// Deletes a client everywhere (keeping its recorded usage when asked).
pub async fn delete_client(
    ctl: &Controller,
    actor: &str,
    email: &str,
    keep_traffic: bool,
) -> Result<ClientRow> {
    let row = ctl.store.client_by_email(email).await?;
    let servers: BTreeSet<i64> = ctl
        .store
        .servers_of_client(row.id)
        .await?
        .into_iter()
        .collect();
    let mut tx = ctl.store.pool().begin().await?;
    write::delete_client(&mut tx, &row, keep_traffic).await?;
    tx.commit().await?;
    push_all(ctl, &servers, actor).await?;
    Ok(row)
}

/// Takes a client off one inbound; a client attached nowhere else is deleted (3x-ui's
/// `delClient`).
pub async fn remove_from_inbound(
    ctl: &Controller,
    actor: &str,
    inbound_id: i64,
    email: &str,
) -> Result<()> {
    let inbound = ctl.store.inbound(inbound_id).await?;
    let row = ctl.store.client_by_email(email).await?;
    let attached = ctl.store.inbounds_of_client(row.id).await?;
    if !attached.iter().any(|i| i.id == inbound_id) {
        return Err(ModelError::NotFound("client in this inbound"));
    }
    let mut tx = ctl.store.pool().begin().await?;
    if attached.len() == 1 {
        write::delete_client(&mut tx, &row, false).await?;
    } else {
        write::detach(&mut tx, row.id, inbound_id).await?;
    }
    tx.commit().await?;
    push_all(ctl, &BTreeSet::from([inbound.server_id]), actor).await?;
    Ok(())
}

/// Attaches a client to more inbounds (on any servers).
pub async fn attach(
    ctl: &Controller,
    actor: &str,
    email: &str,
    inbound_ids: &[i64],
) -> Result<ClientRow> {
    let row = ctl.store.client_by_email(email).await?;
    let mut p = Problems::default();
    let inbounds = inbounds_named(ctl, inbound_ids, &mut p).await?;
    check_protocols(&inbounds, &[NewClient::from(&row)], &mut p);
    p.finish()?;
    let mut tx = ctl.store.pool().begin().await?;
    for inbound in &inbounds {
        write::attach(&mut tx, row.id, inbound.id).await?;
    }
    tx.commit().await?;
    let servers: BTreeSet<i64> = inbounds.iter().map(|i| i.server_id).collect();
    push_all(ctl, &servers, actor).await?;
    Ok(row)
}

/// Detaches a client from inbounds; the client itself stays.
pub async fn detach(
    ctl: &Controller,
    actor: &str,
    email: &str,
    inbound_ids: &[i64],
) -> Result<ClientRow> {
    let row = ctl.store.client_by_email(email).await?;
    let mut p = Problems::default();
    let inbounds = inbounds_named(ctl, inbound_ids, &mut p).await?;
    p.finish()?;
    let mut tx = ctl.store.pool().begin().await?;
    for inbound in &inbounds {
        write::detach(&mut tx, row.id, inbound.id).await?;
    }
    tx.commit().await?;
    let servers: BTreeSet<i64> = inbounds.iter().map(|i| i.server_id).collect();
    push_all(ctl, &servers, actor).await?;
    Ok(row)
}

/// Zeroes a client's usage on every server and re-enables it (3x-ui's reset).
pub async fn reset_client_traffic(ctl: &Controller, actor: &str, email: &str) -> Result<()> {
    let row = ctl.store.client_by_email(email).await?;
    reset_clients(ctl, actor, &[row]).await
}

/// Zeroes the usage of every client of an inbound (or of every client) and re-enables them.
pub async fn reset_clients_traffic(
    ctl: &Controller,
    actor: &str,
    inbound_id: Option<i64>,
) -> Result<usize> {
    let rows = match inbound_id {
        Some(id) => {
            ctl.store.inbound(id).await?;
            ctl.store.clients_of_inbound(id).await?
        }
        None => ctl.store.all_clients().await?,
    };
    let n = rows.len();
    reset_clients(ctl, actor, &rows).await?;
    if let Some(id) = inbound_id {
        sqlx::query("UPDATE inbounds SET last_traffic_reset_time = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(ctl.store.pool())
            .await?;
    }
    Ok(n)
}

async fn reset_clients(ctl: &Controller, actor: &str, rows: &[ClientRow]) -> Result<()> {
    let mut servers = BTreeSet::new();
    let mut tx = ctl.store.pool().begin().await?;
    for row in rows {
        write::reset_client_traffic(&mut tx, &row.email).await?;
        if row.enable == 0 {
            write::set_client_enable(&mut tx, row.id, true).await?;
        }
    }
    tx.commit().await?;
    for row in rows {
        servers.extend(ctl.store.servers_of_client(row.id).await?);
    }
    push_all(ctl, &servers, actor).await?;
    Ok(())
}

/// Sets a client's usage (3x-ui's `updateClientTraffic`); it is recorded on the first server
/// the client is attached to.
pub async fn set_client_traffic(
    ctl: &Controller,
    actor: &str,
    email: &str,
    up: i64,
    down: i64,
) -> Result<()> {
    let mut p = Problems::default();
    if up < 0 {
        p.say("upload", "err.not_negative", &[]);
    }
    if down < 0 {
        p.say("download", "err.not_negative", &[]);
    }
    p.finish()?;
    let row = ctl.store.client_by_email(email).await?;
    let servers = ctl.store.servers_of_client(row.id).await?;
    let Some(first) = servers.iter().min().copied() else {
        return Err(ModelError::Conflict(
            Refusal::new(
                "err.client_no_inbound_usage",
                &[("email", email.to_string())],
            )
            .into(),
        ));
    };
    let mut tx = ctl.store.pool().begin().await?;
    write::set_client_traffic(&mut tx, first, email, up, down).await?;
    tx.commit().await?;
    push_all(ctl, &servers.into_iter().collect(), actor).await?;
    Ok(())
}

/// Deletes clients without auto-renew that are over quota or expired, among the clients of
/// `inbound_id` (or all); returns their emails.
pub async fn delete_depleted(
    ctl: &Controller,
    actor: &str,
    inbound_id: Option<i64>,
) -> Result<Vec<String>> {
    let now = now_ms();
    let candidates = match inbound_id {
        Some(id) => {
            ctl.store.inbound(id).await?;
            ctl.store.clients_of_inbound(id).await?
        }
        None => ctl.store.all_clients().await?,
    };
    let limited: Vec<&str> = candidates
        .iter()
        .filter(|c| c.total_bytes > 0)
        .map(|c| c.email.as_str())
        .collect();
    let usage = ctl.store.clients_usage(&limited).await?;
    let mut doomed = Vec::new();
    for c in candidates {
        if c.reset_days > 0 {
            continue;
        }
        let expired = c.expiry_time > 0 && c.expiry_time <= now;
        let over =
            c.total_bytes > 0 && usage.get(&c.email).map_or(0, |t| t.up + t.down) >= c.total_bytes;
        if expired || over {
            doomed.push(c);
        }
    }
    let mut servers = BTreeSet::new();
    for c in &doomed {
        servers.extend(ctl.store.servers_of_client(c.id).await?);
    }
    let mut tx = ctl.store.pool().begin().await?;
    for c in &doomed {
        write::delete_client(&mut tx, c, false).await?;
    }
    tx.commit().await?;
    push_all(ctl, &servers, actor).await?;
    Ok(doomed.into_iter().map(|c| c.email).collect())
}

/// Forgets a client's recorded addresses; refusals are lifted on every server at once.
pub async fn clear_client_ips(ctl: &Controller, actor: &str, email: &str) -> Result<()> {
    let row = ctl.store.client_by_email(email).await?;
    let lifted = write::clear_client_ips(&mut *ctl.store.pool().acquire().await?, email).await?;
    if lifted {
        let servers = ctl.store.servers_of_client(row.id).await?;
        push_all(ctl, &servers.into_iter().collect(), actor).await?;
    }
    Ok(())
}
