//! v3's client routes over many clients: `bulkEnable`, `bulkDisable`, `bulkResetTraffic`,
//! `bulkDel` and `bulkAdjust` by email; `bulkCreate`, `import` and `export`; `bulkAttach`,
//! `bulkDetach`; `delOrphans`. As in v3, what cannot be done for one client is listed with
//! the reason and the others go ahead; an enable, disable, reset or delete is one change (one
//! new state per server), through the model's bulk operation.

use std::collections::{BTreeMap, HashSet};

use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client_records::{client_input, exported, listed, ClientWithInbounds};
use super::{de, Body, Msg, XuiCall};
use crate::front::{ApiError, Audit, Call};
use crate::model::Refusal;
use crate::model::{self, BulkRequest, ClientInput};
use crate::store::ClientRow;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmailsBody {
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default, deserialize_with = "de::flag")]
    keep_traffic: bool,
    #[serde(default, deserialize_with = "de::int")]
    add_days: i64,
    #[serde(default, deserialize_with = "de::int")]
    add_bytes: i64,
    #[serde(default)]
    flow: String,
    #[serde(default, deserialize_with = "de::ids")]
    inbound_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
struct Skipped {
    email: String,
    reason: String,
}

fn skip(email: &str, reason: impl Into<String>) -> Skipped {
    Skipped {
        email: email.to_owned(),
        reason: reason.into(),
    }
}

/// The named clients that exist, each once, and a skip for each name that does not.
async fn named(call: &Call, emails: &[String]) -> Result<(Vec<ClientRow>, Vec<Skipped>), ApiError> {
    if emails.is_empty() {
        return Err(ApiError::BadRequest(
            Refusal::new("err.name_a_client", &[]).into(),
        ));
    }
    too_many("emails", "clients", emails.len(), model::MAX_BULK_CLIENTS)?;
    let mut seen = HashSet::new();
    let unique: Vec<&String> = emails.iter().filter(|e| seen.insert(e.as_str())).collect();
    let rows = call.ctl.store.clients_by_emails(&unique).await?;
    let known: HashSet<&str> = rows.iter().map(|c| c.email.as_str()).collect();
    let skipped = unique
        .iter()
        .filter(|e| !known.contains(e.as_str()))
        .map(|e| skip(e, "client not found"))
        .collect();
    Ok((rows, skipped))
}

/// One model bulk action over these clients (nothing when there are none).
async fn apply(call: &Call, rows: &[ClientRow], action: &str, keep: bool) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let req = BulkRequest {
        emails: rows.iter().map(|c| c.email.clone()).collect(),
        action: action.into(),
        days: None,
        keep_traffic: (action == "delete").then_some(keep),
    };
    model::bulk_clients(&call.ctl, call.who(), &req).await?;
    Ok(())
}

async fn set_enable(call: Call, body: EmailsBody, enable: bool) -> Json<Msg> {
    let (action, word) = if enable {
        ("enable", "enabled")
    } else {
        ("disable", "disabled")
    };
    let audit = Audit::new("client.bulk", "clients")
        .with(json!({"action": action, "emails": body.emails.len()}));
    let said = ("Clients updated", "Failed to update the clients");
    call.reply_as(audit, said, async {
        let (rows, mut skipped) = named(&call, &body.emails).await?;
        let (change, same): (Vec<ClientRow>, Vec<ClientRow>) =
            rows.into_iter().partition(|c| (c.enable != 0) != enable);
        skipped.extend(
            same.iter()
                .map(|c| skip(&c.email, format!("already {word}"))),
        );
        apply(&call, &change, action, false).await?;
        Ok(json!({"changed": change.len(), "skipped": skipped}))
    })
    .await
}

pub(super) async fn bulk_enable(XuiCall(call): XuiCall, Body(body): Body<EmailsBody>) -> Json<Msg> {
    set_enable(call, body, true).await
}

pub(super) async fn bulk_disable(
    XuiCall(call): XuiCall,
    Body(body): Body<EmailsBody>,
) -> Json<Msg> {
    set_enable(call, body, false).await
}

pub(super) async fn bulk_reset_traffic(
    XuiCall(call): XuiCall,
    Body(body): Body<EmailsBody>,
) -> Json<Msg> {
    let audit = Audit::new("client.bulk", "clients")
        .with(json!({"action": "reset-traffic", "emails": body.emails.len()}));
    let said = ("Traffic reset", "Failed to reset the traffic");
    call.reply_as(audit, said, async {
        let (rows, skipped) = named(&call, &body.emails).await?;
        apply(&call, &rows, "reset-traffic", false).await?;
        Ok(json!({"affected": rows.len(), "skipped": skipped}))
    })
    .await
}

pub(super) async fn bulk_del(XuiCall(call): XuiCall, Body(body): Body<EmailsBody>) -> Json<Msg> {
    let audit = Audit::new("client.bulk", "clients")
        .with(json!({"action": "delete", "emails": body.emails.len()}));
    let said = ("Clients deleted", "Failed to delete the clients");
    call.reply_as(audit, said, async {
        let (rows, skipped) = named(&call, &body.emails).await?;
        apply(&call, &rows, "delete", body.keep_traffic).await?;
        Ok(json!({"deleted": rows.len(), "skipped": skipped}))
    })
    .await
}

/// What `bulkAdjust` makes of one client: more (or fewer) days and bytes, a new flow.
/// Unlimited time or traffic stays unlimited.
fn adjusted(c: &ClientRow, body: &EmailsBody) -> Result<ClientInput, String> {
    let mut input = ClientInput::default();
    if body.add_days != 0 && c.expiry_time != 0 {
        // A negative expiry counts days from first use: more days make it more negative.
        let by = body.add_days * DAY_MS;
        let expiry = if c.expiry_time > 0 {
            c.expiry_time + by
        } else {
            c.expiry_time - by
        };
        if expiry.signum() != c.expiry_time.signum() {
            return Err(format!("{} days would use up all its time", body.add_days));
        }
        input.expiry_time = Some(expiry);
    }
    if body.add_bytes != 0 && c.total_bytes > 0 {
        let total = c.total_bytes + body.add_bytes;
        if total <= 0 {
            return Err(format!("{} bytes would leave no quota", body.add_bytes));
        }
        input.total_gb = Some(total);
    }
    if !body.flow.is_empty() {
        input.flow = Some(body.flow.clone());
    }
    if input.expiry_time.is_none() && input.total_gb.is_none() && input.flow.is_none() {
        return Err("nothing to change: unlimited in time and traffic".into());
    }
    Ok(input)
}

pub(super) async fn bulk_adjust(XuiCall(call): XuiCall, Body(body): Body<EmailsBody>) -> Json<Msg> {
    let audit = Audit::new("client.bulk", "clients").with(json!({"action": "adjust",
        "emails": body.emails.len(), "addDays": body.add_days, "addBytes": body.add_bytes}));
    let said = ("Clients updated", "Failed to update the clients");
    call.reply_as(audit, said, async {
        let (rows, mut skipped) = named(&call, &body.emails).await?;
        let mut count = 0;
        for c in &rows {
            let change = match adjusted(c, &body) {
                Ok(input) => model::update_client(&call.ctl, call.who(), &c.email, &input)
                    .await
                    .map_err(|e| ApiError::from(e).to_string()),
                Err(reason) => Err(reason),
            };
            match change {
                Ok(_) => count += 1,
                Err(reason) => skipped.push(skip(&c.email, reason)),
            }
        }
        Ok(json!({"adjusted": count, "skipped": skipped}))
    })
    .await
}

/// Refuses a list of `n` items past `max`, naming the field and the cap.
fn too_many(field: &str, what: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        return Err(ApiError::BadRequest(
            format!("{field}: names {n} {what}; at most {max} fit in one call").into(),
        ));
    }
    Ok(())
}

/// Creates each client; one refused is skipped with the reason.
async fn create_all(call: &Call, entries: Vec<ClientWithInbounds>) -> Result<Value, ApiError> {
    too_many("clients", "clients", entries.len(), model::MAX_BULK_CLIENTS)?;
    let mut created = 0;
    let mut skipped = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let email = entry.client["email"].as_str().unwrap_or("").to_owned();
        let made = match client_input(entry.client, &format!("[{i}].client.")) {
            Ok(input) => model::create_client(&call.ctl, call.who(), &input, &entry.inbound_ids)
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        };
        match made {
            Ok(_) => created += 1,
            Err(e) => skipped.push(skip(&email, e.to_string())),
        }
    }
    Ok(json!({"created": created, "skipped": skipped}))
}

pub(super) async fn bulk_create(
    XuiCall(call): XuiCall,
    Body(entries): Body<Vec<ClientWithInbounds>>,
) -> Json<Msg> {
    let audit = Audit::new("client.create", "clients").with(json!({"count": entries.len()}));
    let said = ("Clients added", "Failed to add the clients");
    call.reply_as(audit, said, create_all(&call, entries)).await
}

/// `export`: every client as `{client, inboundIds}`, what `import` takes back.
pub(super) async fn export(XuiCall(call): XuiCall) -> Json<Msg> {
    let result = listed(&call.ctl, None).await;
    super::reply(
        "",
        result.map(|l| l.into_iter().map(exported).collect::<Vec<_>>()),
    )
}

#[derive(Deserialize)]
pub(super) struct ImportBody {
    #[serde(default)]
    data: Value,
}

/// `import`: `data` is what `export` gave (as JSON text, or the list itself). Clients whose
/// email exists already are skipped.
pub(super) async fn import(XuiCall(call): XuiCall, Body(body): Body<ImportBody>) -> Json<Msg> {
    let entries: Result<Vec<ClientWithInbounds>, String> = match body.data {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| e.to_string()),
        list @ Value::Array(_) => serde_json::from_value(list).map_err(|e| e.to_string()),
        _ => Err("must be the list `export` gives".into()),
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return super::failed("Failed to import the clients", format!("data: {e}")),
    };
    let audit = Audit::new("client.import", "clients").with(json!({"count": entries.len()}));
    let said = ("Clients imported", "Failed to import the clients");
    call.reply_as(audit, said, create_all(&call, entries)).await
}

async fn attachments(call: Call, body: EmailsBody, attach: bool) -> Json<Msg> {
    let action = if attach { "attach" } else { "detach" };
    let audit = Audit::new(
        if attach {
            "client.attach"
        } else {
            "client.detach"
        },
        "clients",
    )
    .with(json!({"emails": body.emails.len(), "inboundIds": body.inbound_ids}));
    let said = ("Clients updated", "Failed to update the clients");
    call.reply_as(audit, said, async {
        if body.inbound_ids.is_empty() {
            return Err(ApiError::BadRequest(
                format!("inboundIds: name the inbounds to {action}").into(),
            ));
        }
        let (rows, missing) = named(&call, &body.emails).await?;
        let mut done_for = Vec::new();
        let mut errors: BTreeMap<String, String> =
            missing.into_iter().map(|s| (s.email, s.reason)).collect();
        for c in rows {
            let result = if attach {
                model::attach(&call.ctl, call.who(), &c.email, &body.inbound_ids).await
            } else {
                model::detach(&call.ctl, call.who(), &c.email, &body.inbound_ids).await
            };
            match result {
                Ok(_) => done_for.push(c.email),
                Err(e) => {
                    errors.insert(c.email, ApiError::from(e).to_string());
                }
            }
        }
        let skipped: Vec<&String> = errors.keys().collect();
        let key = if attach { "attached" } else { "detached" };
        Ok(json!({key: done_for, "skipped": skipped, "errors": errors}))
    })
    .await
}

pub(super) async fn bulk_attach(XuiCall(call): XuiCall, Body(body): Body<EmailsBody>) -> Json<Msg> {
    attachments(call, body, true).await
}

pub(super) async fn bulk_detach(XuiCall(call): XuiCall, Body(body): Body<EmailsBody>) -> Json<Msg> {
    attachments(call, body, false).await
}

/// `delOrphans`: deletes the clients attached to no inbound.
pub(super) async fn del_orphans(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("client.delete_orphans", "clients");
    let said = ("Clients deleted", "Failed to delete the clients");
    call.reply_as(audit, said, async {
        let orphans: Vec<ClientRow> = {
            let attached: HashSet<i64> = call
                .ctl
                .store
                .attachments()
                .await?
                .into_iter()
                .map(|(client, _)| client)
                .collect();
            call.ctl
                .store
                .all_clients()
                .await?
                .into_iter()
                .filter(|c| !attached.contains(&c.id))
                .collect()
        };
        apply(&call, &orphans, "delete", false).await?;
        Ok(json!({"deleted": orphans.len()}))
    })
    .await
}
