//! 3x-ui v2's client routes under `/panel/api/inbounds/*`: clients as v2 sees them, inside
//! one inbound (`addClient`, `updateClient/{clientId}`, `{id}/delClient/{clientId}`, …), their
//! traffic, addresses and online state. Client ids are the protocol's key (UUID, password) or
//! the email; emails are fleet-wide.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xfleet_common::time::now_ms;

use super::{de, pick_server, reply, Body, Msg, ServerParam, XuiCall};
use crate::front::{ApiError, Audit, Call};
use crate::model::Refusal;
use crate::model::{self, input::client_key, ClientInput, FieldError, ONLINE_WINDOW_MS};
use crate::store::{ClientRow, ClientTotals};
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/getClientTraffics/{email}", get(client_traffics))
        .route("/getClientTrafficsById/{id}", get(client_traffics_by_id))
        .route("/clientIps/{email}", post(client_ips))
        .route("/clearClientIps/{email}", post(clear_client_ips))
        .route("/addClient", post(add_client))
        .route("/{id}/delClient/{client_id}", post(del_client))
        .route("/{id}/delClientByEmail/{email}", post(del_client_by_email))
        .route("/updateClient/{client_id}", post(update_client))
        .route(
            "/{id}/resetClientTraffic/{email}",
            post(reset_client_traffic),
        )
        .route(
            "/resetAllClientTraffics/{id}",
            post(reset_all_client_traffics),
        )
        .route("/delDepletedClients/{id}", post(del_depleted_clients))
        .route("/onlines", post(onlines))
        .route("/lastOnline", post(last_online))
        .route("/updateClientTraffic/{email}", post(update_client_traffic))
}

/// One client's counters, as 3x-ui's `ClientTraffic`: v2's fields and v3's (renewal by
/// calendar day and its count, the last subscription fetch), which xfleet does not keep and
/// answers as a v3 panel does for a client that never used them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTraffic {
    pub id: i64,
    pub inbound_id: i64,
    pub enable: bool,
    pub email: String,
    pub uuid: String,
    pub sub_id: String,
    pub up: i64,
    pub down: i64,
    pub all_time: i64,
    pub expiry_time: i64,
    pub total: i64,
    pub reset: i64,
    pub last_online: i64,
    pub reset_day: i64,
    pub reset_max: i64,
    pub reset_count: i64,
    pub last_sub_fetch: i64,
}

pub fn client_traffic(c: &ClientRow, inbound_id: i64, t: &ClientTotals) -> ClientTraffic {
    ClientTraffic {
        id: c.id,
        inbound_id,
        enable: c.enable != 0,
        email: c.email.clone(),
        uuid: c.uuid.clone(),
        sub_id: c.sub_id.clone(),
        up: t.up,
        down: t.down,
        all_time: t.all_time,
        expiry_time: c.expiry_time,
        total: c.total_bytes,
        reset: c.reset_days,
        last_online: t.last_online,
        reset_day: 0,
        reset_max: 0,
        reset_count: 0,
        last_sub_fetch: 0,
    }
}

/// The inbound 3x-ui's `ClientTraffic` names for a client: its first one, 0 if none.
async fn first_inbound(ctl: &Controller, c: &ClientRow) -> Result<i64, ApiError> {
    let inbounds = ctl.store.inbounds_of_client(c.id).await?;
    Ok(inbounds.first().map_or(0, |i| i.id))
}

/// A client's `ClientTraffic` (v2 `getClientTraffics/{email}`, v3 `clients/traffic/{email}`).
pub async fn traffic_of(ctl: &Controller, email: &str) -> Result<ClientTraffic, ApiError> {
    let c = ctl.store.client_by_email(email).await?;
    let t = ctl.store.client_total(email).await?;
    Ok(client_traffic(&c, first_inbound(ctl, &c).await?, &t))
}

async fn client_traffics(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(email): Path<String>,
) -> Json<Msg> {
    reply("", traffic_of(&ctl, &email).await)
}

async fn client_traffics_by_id(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(uuid): Path<String>,
) -> Json<Msg> {
    let result = async {
        let totals = ctl.store.client_totals().await?;
        let empty = ClientTotals::default();
        let mut out = Vec::new();
        for c in ctl.store.all_clients().await? {
            if c.uuid == uuid {
                let inbound = first_inbound(&ctl, &c).await?;
                out.push(client_traffic(
                    &c,
                    inbound,
                    totals.get(&c.email).unwrap_or(&empty),
                ));
            }
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    reply("", result)
}

/// `"ip (YYYY-MM-DD hh:mm:ss)"` strings, or the literal `"No IP Record"`.
pub async fn ip_strings(ctl: &Controller, email: &str) -> Result<Value, ApiError> {
    ctl.store.client_by_email(email).await?;
    let ips = ctl.store.client_ip_records(email).await?;
    if ips.is_empty() {
        return Ok(json!("No IP Record"));
    }
    Ok(json!(ips
        .into_iter()
        .map(|r| format!("{} ({})", r.ip, format_time(r.last_seen)))
        .collect::<Vec<_>>()))
}

/// Epoch milliseconds as `YYYY-MM-DD hh:mm:ss` (UTC).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// v2 `clientIps/:email` and v3 `clients/ips/:email`.
pub(super) async fn client_ips(XuiCall(call): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    reply("", ip_strings(&call.ctl, &email).await)
}

/// v2 `clearClientIps/:email` and v3 `clients/clearIps/:email`.
pub(super) async fn clear_client_ips(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
) -> Json<Msg> {
    let audit = Audit::new("client.clear_ips", format!("client:{email}"));
    let said = ("Log cleared", "Failed to clear the IP log");
    call.reply_as(audit, said, async {
        Ok(model::clear_client_ips(&call.ctl, call.who(), &email).await?)
    })
    .await
}

/// `addClient` / `updateClient`: the inbound id and `{"clients": [...]}` as a JSON string.
#[derive(Deserialize)]
struct ClientsForm {
    #[serde(default, deserialize_with = "de::int")]
    id: i64,
    #[serde(default, deserialize_with = "de::json_text")]
    settings: Value,
}

fn clients_of(settings: &Value) -> Result<Vec<ClientInput>, ApiError> {
    let list = settings
        .get("clients")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::BadRequest(
                Refusal::new(
                    "err.settings_shape",
                    &[("shape", r#"{"clients": [...]}"#.to_owned())],
                )
                .into(),
            )
        })?;
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::from_value(c.clone())
                .map_err(|e| ApiError::BadRequest(format!("settings.clients[{i}]: {e}").into()))
        })
        .collect()
}

async fn add_client(XuiCall(call): XuiCall, Body(form): Body<ClientsForm>) -> Json<Msg> {
    let audit = Audit::new("client.create", format!("inbound:{}", form.id));
    let said = ("Client(s) added", "Failed to add the client");
    call.reply_as(audit, said, async {
        let inputs = clients_of(&form.settings)?;
        if inputs.is_empty() {
            return Err(ApiError::BadRequest(
                Refusal::new("err.no_clients_given", &[]).into(),
            ));
        }
        model::add_clients(&call.ctl, call.who(), &inputs, &[form.id]).await?;
        Ok(())
    })
    .await
}

/// The client of inbound `inbound_id` that 3x-ui's `clientId` names.
async fn client_by_key(
    ctl: &Controller,
    inbound_id: i64,
    key: &str,
) -> Result<ClientRow, ApiError> {
    let inbound = ctl.store.inbound(inbound_id).await?;
    ctl.store
        .clients_of_inbound(inbound_id)
        .await?
        .into_iter()
        .find(|c| client_key(&inbound.protocol, c) == key || c.email == key)
        .ok_or(ApiError::NotFound("client"))
}

async fn del_client(XuiCall(call): XuiCall, Path((id, key)): Path<(i64, String)>) -> Json<Msg> {
    let audit = Audit::new("client.remove", format!("inbound:{id}")).with(json!({"client": key}));
    let said = ("Client deleted", "Failed to delete the client");
    call.reply_as(audit, said, async {
        let c = client_by_key(&call.ctl, id, &key).await?;
        model::remove_from_inbound(&call.ctl, call.who(), id, &c.email).await?;
        Ok(())
    })
    .await
}

async fn del_client_by_email(
    XuiCall(call): XuiCall,
    Path((id, email)): Path<(i64, String)>,
) -> Json<Msg> {
    let audit = Audit::new("client.remove", format!("client:{email}")).with(json!({"inbound": id}));
    let said = ("Client deleted", "Failed to delete the client");
    call.reply_as(audit, said, async {
        Ok(model::remove_from_inbound(&call.ctl, call.who(), id, &email).await?)
    })
    .await
}

async fn update_client(
    XuiCall(call): XuiCall,
    Path(key): Path<String>,
    Body(form): Body<ClientsForm>,
) -> Json<Msg> {
    let audit =
        Audit::new("client.update", format!("inbound:{}", form.id)).with(json!({"client": key}));
    let said = ("Client updated", "Failed to update the client");
    call.reply_as(audit, said, async {
        let mut inputs = clients_of(&form.settings)?;
        if inputs.len() != 1 {
            return Err(ApiError::BadRequest(
                Refusal::new("err.exactly_one_client", &[]).into(),
            ));
        }
        let c = client_by_key(&call.ctl, form.id, &key).await?;
        model::update_client(&call.ctl, call.who(), &c.email, &inputs.remove(0)).await?;
        Ok(())
    })
    .await
}

async fn reset_client_traffic(
    XuiCall(call): XuiCall,
    Path((id, email)): Path<(i64, String)>,
) -> Json<Msg> {
    let ctl = &call.ctl;
    let audit = Audit::new("client.reset_traffic", format!("client:{email}"));
    let said = ("Traffic reset", "Failed to reset the traffic");
    call.reply_as(audit, said, async {
        let c = ctl.store.client_by_email(&email).await?;
        if !ctl
            .store
            .inbounds_of_client(c.id)
            .await?
            .iter()
            .any(|i| i.id == id)
        {
            return Err(ApiError::NotFound("client in this inbound"));
        }
        model::reset_client_traffic(ctl, call.who(), &email).await?;
        Ok(())
    })
    .await
}

/// `-1` means every inbound: of the server named by `?server_id=`, else of the fleet.
async fn inbounds_named(
    ctl: &Controller,
    id: i64,
    q: &ServerParam,
) -> Result<Vec<Option<i64>>, ApiError> {
    if id != -1 {
        ctl.store.inbound(id).await?;
        return Ok(vec![Some(id)]);
    }
    let rows = match q.named() {
        Some(_) => ctl.store.inbounds_of(pick_server(ctl, q).await?.id).await?,
        None => ctl.store.all_inbounds().await?,
    };
    Ok(rows.into_iter().map(|i| Some(i.id)).collect())
}

async fn reset_all_client_traffics(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let audit = Audit::new("client.reset_traffic", format!("inbound:{id}"));
    let said = ("All client traffic reset", "Failed to reset the traffic");
    call.reply_as(audit, said, async {
        for inbound in inbounds_named(&call.ctl, id, &q).await? {
            model::reset_clients_traffic(&call.ctl, call.who(), inbound).await?;
        }
        Ok(())
    })
    .await
}

async fn del_depleted_clients(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let audit = Audit::new("client.delete_depleted", format!("inbound:{id}"));
    let said = (
        "Depleted clients deleted",
        "Failed to delete depleted clients",
    );
    call.reply_as(audit, said, async {
        for inbound in inbounds_named(&call.ctl, id, &q).await? {
            model::delete_depleted(&call.ctl, call.who(), inbound).await?;
        }
        // 3x-ui answers without the list.
        Ok(Value::Null)
    })
    .await
}

/// Emails with traffic in the last few polls, fleet-wide.
pub async fn online_emails(ctl: &Controller) -> Result<Vec<String>, ApiError> {
    let since = now_ms() - ONLINE_WINDOW_MS;
    let mut out: Vec<String> = ctl
        .store
        .client_totals()
        .await?
        .into_values()
        .filter(|t| t.last_online > since)
        .map(|t| t.email)
        .collect();
    out.sort();
    Ok(out)
}

pub async fn last_online_map(ctl: &Controller) -> Result<HashMap<String, i64>, ApiError> {
    Ok(ctl
        .store
        .client_totals()
        .await?
        .into_values()
        .filter(|t| t.last_online > 0)
        .map(|t| (t.email, t.last_online))
        .collect())
}

async fn onlines(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", online_emails(&call.ctl).await)
}

async fn last_online(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", last_online_map(&call.ctl).await)
}

/// `upload` and `download` of a traffic update, both required: 3x-ui would read a missing
/// field (or a body of `[]`) as 0 and wipe the client's usage, which no caller means.
fn traffic_fields(body: &Value) -> Result<(i64, i64), ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::BadRequest(
            Refusal::new("err.traffic_body", &[]).into(),
        ));
    };
    let mut problems = Vec::new();
    let mut read = |name: &str| {
        let value = fields
            .get(name)
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        let Some(value) = value else {
            problems.push(FieldError::said(name, "err.bytes_required", &[]));
            return 0;
        };
        match de::int(value.clone()) {
            Ok(n) if n < 0 => problems.push(FieldError::said(name, "err.not_negative", &[])),
            Ok(n) => return n,
            // `de::int`'s own sentence, from the catalogs.
            Err(_) => {
                let shown = match value {
                    Value::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                };
                problems.push(FieldError::said(
                    name,
                    "err.not_whole_number",
                    &[("value", shown)],
                ))
            }
        }
        0
    };
    let (upload, download) = (read("upload"), read("download"));
    if problems.is_empty() {
        Ok((upload, download))
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// `updateClientTraffic/{email}` (v2) and `clients/updateTraffic/{email}` (v3): sets the
/// client's counters; a body without both of them changes nothing.
pub(super) async fn update_client_traffic(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(body): Body<Value>,
) -> Json<Msg> {
    let audit = Audit::new("client.set_traffic", format!("client:{email}")).with(json!({
        "upload": body.get("upload"), "download": body.get("download"),
    }));
    let said = ("Traffic updated", "Failed to update the traffic");
    call.reply_as(audit, said, async {
        let (upload, download) = traffic_fields(&body)?;
        Ok(model::set_client_traffic(&call.ctl, call.who(), &email, upload, download).await?)
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_like_3x_ui() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_time(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(super::format_time(951_782_400_000), "2000-02-29 00:00:00");
    }
}
