//! `/panel/api/inbounds/*`: 3x-ui v2's inbound and client routes on the fleet model.
//! Inbound ids are fleet-wide, so routes naming an inbound need no server; `list`, `add`,
//! `import` and `resetAllTraffics` act on the server picked by `?server_id=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use xfleet_common::time::now_ms;

use super::de;
use super::{done, failed, pick_server, reply, Body, CompatActor, Msg, ServerParam};
use crate::api::fleet::ONLINE_WINDOW_MS;
use crate::api::ApiError;
use crate::fleet::desired::client_json;
use crate::model::{self, input::client_key, ClientInput, InboundInput};
use crate::store::{ClientRow, ClientTotals, InboundRow};
use crate::Controller;

type Ctl = State<Arc<Controller>>;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(list))
        .route("/get/{id}", get(get_one))
        .route("/getClientTraffics/{email}", get(client_traffics))
        .route("/getClientTrafficsById/{id}", get(client_traffics_by_id))
        .route("/add", post(add))
        .route("/del/{id}", post(del))
        .route("/update/{id}", post(update))
        .route("/setEnable/{id}", post(set_enable))
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
        .route("/resetAllTraffics", post(reset_all_traffics))
        .route(
            "/resetAllClientTraffics/{id}",
            post(reset_all_client_traffics),
        )
        .route("/delDepletedClients/{id}", post(del_depleted_clients))
        .route("/import", post(import))
        .route("/onlines", post(onlines))
        .route("/lastOnline", post(last_online))
        .route("/updateClientTraffic/{email}", post(update_client_traffic))
}

/// One client's counters, as 3x-ui's `ClientTraffic`.
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
    }
}

/// An inbound as 3x-ui v2 returns it: JSON fields as strings, clients inside `settings`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompatInbound {
    id: i64,
    up: i64,
    down: i64,
    total: i64,
    all_time: i64,
    remark: String,
    enable: bool,
    expiry_time: i64,
    traffic_reset: String,
    last_traffic_reset_time: i64,
    client_stats: Vec<ClientTraffic>,
    listen: String,
    port: i64,
    protocol: String,
    settings: String,
    stream_settings: String,
    tag: String,
    sniffing: String,
    /// The fleet server the inbound belongs to (not in 3x-ui; extra fields are harmless).
    server_id: i64,
}

pub fn compat_inbound(
    row: InboundRow,
    clients: &[ClientRow],
    totals: &HashMap<String, ClientTotals>,
    usage: (i64, i64, i64),
) -> CompatInbound {
    let mut settings: Map<String, Value> = serde_json::from_str(&row.settings).unwrap_or_default();
    if matches!(
        row.protocol.as_str(),
        "vmess" | "vless" | "trojan" | "shadowsocks" | "hysteria" | "hysteria2"
    ) {
        let list = clients
            .iter()
            .map(|c| {
                let mut v = client_json(&row.protocol, c);
                v["created_at"] = json!(c.created_at);
                v["updated_at"] = json!(c.updated_at);
                v
            })
            .collect();
        settings.insert("clients".into(), Value::Array(list));
    }
    let empty = ClientTotals::default();
    let client_stats = clients
        .iter()
        .map(|c| client_traffic(c, row.id, totals.get(&c.email).unwrap_or(&empty)))
        .collect();
    let text = |s: &str| {
        if s.is_empty() || s == "null" {
            "{}".to_owned()
        } else {
            s.to_owned()
        }
    };
    CompatInbound {
        id: row.id,
        up: usage.0,
        down: usage.1,
        total: row.total,
        all_time: usage.2,
        remark: row.remark,
        enable: row.enable != 0,
        expiry_time: row.expiry_time,
        traffic_reset: row.traffic_reset,
        last_traffic_reset_time: row.last_traffic_reset_time,
        client_stats,
        listen: row.listen,
        port: row.port,
        protocol: row.protocol,
        settings: Value::Object(settings).to_string(),
        stream_settings: text(&row.stream_settings),
        tag: row.tag,
        sniffing: text(&row.sniffing),
        server_id: row.server_id,
    }
}

async fn load(ctl: &Controller, row: InboundRow) -> Result<CompatInbound, ApiError> {
    let clients = ctl.store.clients_of_inbound(row.id).await?;
    let totals = ctl.store.client_totals_of_server(row.server_id).await?;
    let usage = ctl
        .store
        .inbound_totals(row.server_id)
        .await?
        .get(&row.tag)
        .copied()
        .unwrap_or_default();
    Ok(compat_inbound(row, &clients, &totals, usage))
}

/// Every inbound of a server with its clients, in few queries (the list is what scripts poll).
pub async fn list_of(ctl: &Controller, server_id: i64) -> Result<Vec<CompatInbound>, ApiError> {
    let rows = ctl.store.inbounds_of(server_id).await?;
    let mut attached: HashMap<i64, Vec<ClientRow>> = HashMap::new();
    for (inbound, client) in ctl.store.clients_of_server(server_id).await? {
        attached.entry(inbound).or_default().push(client);
    }
    let totals = ctl.store.client_totals_of_server(server_id).await?;
    let usage = ctl.store.inbound_totals(server_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let list = attached.remove(&row.id).unwrap_or_default();
            let u = usage.get(&row.tag).copied().unwrap_or_default();
            compat_inbound(row, &list, &totals, u)
        })
        .collect())
}

async fn list(State(ctl): Ctl, _: CompatActor, Query(q): Query<ServerParam>) -> Json<Msg> {
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        list_of(&ctl, server.id).await
    }
    .await;
    reply("", result)
}

async fn get_one(State(ctl): Ctl, _: CompatActor, Path(id): Path<i64>) -> Json<Msg> {
    let result = async { load(&ctl, ctl.store.inbound(id).await?).await }.await;
    reply("", result)
}

async fn client_traffics(State(ctl): Ctl, _: CompatActor, Path(email): Path<String>) -> Json<Msg> {
    let result = async {
        let c = ctl.store.client_by_email(&email).await?;
        let t = ctl.store.client_total(&email).await?;
        let inbound = ctl
            .store
            .inbounds_of_client(c.id)
            .await?
            .first()
            .map_or(0, |i| i.id);
        Ok(client_traffic(&c, inbound, &t))
    }
    .await;
    reply("", result)
}

async fn client_traffics_by_id(
    State(ctl): Ctl,
    _: CompatActor,
    Path(uuid): Path<String>,
) -> Json<Msg> {
    let result = async {
        let totals = ctl.store.client_totals().await?;
        let empty = ClientTotals::default();
        let mut out = Vec::new();
        for c in ctl.store.all_clients().await? {
            if c.uuid == uuid {
                let inbound = ctl
                    .store
                    .inbounds_of_client(c.id)
                    .await?
                    .first()
                    .map_or(0, |i| i.id);
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

/// An inbound body in 3x-ui's shape; counters in it are ignored (they come from traffic).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundForm {
    #[serde(default)]
    remark: String,
    #[serde(default = "yes", deserialize_with = "de::flag")]
    enable: bool,
    #[serde(default)]
    listen: String,
    #[serde(default, deserialize_with = "de::int")]
    port: i64,
    #[serde(default)]
    protocol: String,
    #[serde(default, deserialize_with = "de::json_text")]
    settings: Value,
    #[serde(default, deserialize_with = "de::json_text")]
    stream_settings: Value,
    #[serde(default, deserialize_with = "de::json_text")]
    sniffing: Value,
    #[serde(default, deserialize_with = "de::int")]
    total: i64,
    #[serde(default, deserialize_with = "de::int")]
    expiry_time: i64,
    #[serde(default)]
    traffic_reset: String,
}

fn yes() -> bool {
    true
}

impl InboundForm {
    pub fn into_input(self) -> InboundInput {
        InboundInput {
            remark: self.remark,
            enable: self.enable,
            listen: self.listen,
            port: self.port,
            protocol: self.protocol,
            settings: self.settings,
            stream_settings: self.stream_settings,
            sniffing: self.sniffing,
            // 3x-ui recomputes the tag from listen and port.
            tag: String::new(),
            total: self.total,
            expiry_time: self.expiry_time,
            traffic_reset: if self.traffic_reset.is_empty() {
                "never".into()
            } else {
                self.traffic_reset
            },
        }
    }
}

type Form<T> = Result<Body<T>, Json<Msg>>;

async fn add(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Query(q): Query<ServerParam>,
    body: Form<InboundForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    create(&ctl, &actor, &q, form.into_input(), "inbound.create").await
}

async fn create(
    ctl: &Controller,
    actor: &crate::api::Actor,
    q: &ServerParam,
    input: InboundInput,
    action: &str,
) -> Json<Msg> {
    let result = async {
        let server = pick_server(ctl, q).await?;
        let row = model::create_inbound(ctl, &actor.name, server.id, &input).await?;
        load(ctl, row).await
    }
    .await;
    actor
        .audit(
            ctl,
            action,
            "3x-ui",
            json!({"port": input.port, "protocol": input.protocol}),
            &result,
        )
        .await;
    match result {
        Ok(v) => done("Inbound created", v),
        Err(e) => reply::<()>("Failed to create the inbound", Err(e)),
    }
}

async fn del(State(ctl): Ctl, CompatActor(actor): CompatActor, Path(id): Path<i64>) -> Json<Msg> {
    let result = model::delete_inbound(&ctl, &actor.name, id, true)
        .await
        .map(|_| id)
        .map_err(ApiError::from);
    actor
        .audit(
            &ctl,
            "inbound.delete",
            &format!("inbound:{id}"),
            json!({}),
            &result,
        )
        .await;
    reply_as("Inbound deleted", "Failed to delete the inbound", result)
}

/// `done(ok_msg)` or `failed(fail_msg, error)`.
fn reply_as<T: Serialize>(ok_msg: &str, fail_msg: &str, result: Result<T, ApiError>) -> Json<Msg> {
    match result {
        Ok(v) => done(ok_msg, v),
        Err(e) => reply::<()>(fail_msg, Err(e)),
    }
}

async fn update(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(id): Path<i64>,
    body: Form<InboundForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let input = form.into_input();
    let result = async {
        let row = model::update_inbound(&ctl, &actor.name, id, &input).await?;
        load(&ctl, row).await
    }
    .await;
    actor
        .audit(
            &ctl,
            "inbound.update",
            &format!("inbound:{id}"),
            json!({}),
            &result,
        )
        .await;
    reply_as("Inbound updated", "Failed to update the inbound", result)
}

#[derive(Deserialize)]
struct EnableForm {
    #[serde(deserialize_with = "de::flag")]
    enable: bool,
}

async fn set_enable(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(id): Path<i64>,
    body: Form<EnableForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = model::set_inbound_enable(&ctl, &actor.name, id, form.enable)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    actor
        .audit(
            &ctl,
            "inbound.enable",
            &format!("inbound:{id}"),
            json!({"enable": form.enable}),
            &result,
        )
        .await;
    reply_as("Inbound updated", "Failed to update the inbound", result)
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
pub(super) async fn client_ips(
    State(ctl): Ctl,
    _: CompatActor,
    Path(email): Path<String>,
) -> Json<Msg> {
    reply("", ip_strings(&ctl, &email).await)
}

/// v2 `clearClientIps/:email` and v3 `clients/clearIps/:email`.
pub(super) async fn clear_client_ips(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
) -> Json<Msg> {
    let result = model::clear_client_ips(&ctl, &actor.name, &email)
        .await
        .map_err(ApiError::from);
    actor
        .audit(
            &ctl,
            "client.clear_ips",
            &format!("client:{email}"),
            json!({}),
            &result,
        )
        .await;
    reply_as("Log cleared", "Failed to clear the IP log", result)
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
        .ok_or_else(|| ApiError::BadRequest("settings must be {\"clients\": [...]}".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::from_value(c.clone())
                .map_err(|e| ApiError::BadRequest(format!("settings.clients[{i}]: {e}")))
        })
        .collect()
}

async fn add_client(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    body: Form<ClientsForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = async {
        let inputs = clients_of(&form.settings)?;
        if inputs.is_empty() {
            return Err(ApiError::BadRequest("no clients given".into()));
        }
        model::add_clients(&ctl, &actor.name, &inputs, &[form.id]).await?;
        Ok(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.create",
            &format!("inbound:{}", form.id),
            json!({}),
            &result,
        )
        .await;
    reply_as("Client(s) added", "Failed to add the client", result)
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

async fn del_client(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path((id, key)): Path<(i64, String)>,
) -> Json<Msg> {
    let result = async {
        let c = client_by_key(&ctl, id, &key).await?;
        model::remove_from_inbound(&ctl, &actor.name, id, &c.email).await?;
        Ok(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.remove",
            &format!("inbound:{id}"),
            json!({"client": key}),
            &result,
        )
        .await;
    reply_as("Client deleted", "Failed to delete the client", result)
}

async fn del_client_by_email(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path((id, email)): Path<(i64, String)>,
) -> Json<Msg> {
    let result = model::remove_from_inbound(&ctl, &actor.name, id, &email)
        .await
        .map_err(ApiError::from);
    actor
        .audit(
            &ctl,
            "client.remove",
            &format!("client:{email}"),
            json!({"inbound": id}),
            &result,
        )
        .await;
    reply_as("Client deleted", "Failed to delete the client", result)
}

async fn update_client(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(key): Path<String>,
    body: Form<ClientsForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = async {
        let mut inputs = clients_of(&form.settings)?;
        if inputs.len() != 1 {
            return Err(ApiError::BadRequest(
                "settings.clients must hold exactly one client".into(),
            ));
        }
        let c = client_by_key(&ctl, form.id, &key).await?;
        model::update_client(&ctl, &actor.name, &c.email, &inputs.remove(0)).await?;
        Ok(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.update",
            &format!("inbound:{}", form.id),
            json!({"client": key}),
            &result,
        )
        .await;
    reply_as("Client updated", "Failed to update the client", result)
}

async fn reset_client_traffic(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path((id, email)): Path<(i64, String)>,
) -> Json<Msg> {
    let result = async {
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
        model::reset_client_traffic(&ctl, &actor.name, &email).await?;
        Ok(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.reset_traffic",
            &format!("client:{email}"),
            json!({}),
            &result,
        )
        .await;
    reply_as("Traffic reset", "Failed to reset the traffic", result)
}

async fn reset_all_traffics(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        let server = pick_server(&ctl, &q).await?;
        model::reset_inbounds_traffic(&ctl, &actor.name, Some(server.id), None).await?;
        Ok(())
    }
    .await;
    actor
        .audit(&ctl, "inbound.reset_traffic", "all", json!({}), &result)
        .await;
    reply_as("All traffic reset", "Failed to reset the traffic", result)
}

/// `-1` means every inbound of the server.
async fn inbounds_named(
    ctl: &Controller,
    id: i64,
    q: &ServerParam,
) -> Result<Vec<Option<i64>>, ApiError> {
    if id != -1 {
        ctl.store.inbound(id).await?;
        return Ok(vec![Some(id)]);
    }
    let server = pick_server(ctl, q).await?;
    Ok(ctl
        .store
        .inbounds_of(server.id)
        .await?
        .into_iter()
        .map(|i| Some(i.id))
        .collect())
}

async fn reset_all_client_traffics(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(id): Path<i64>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        for inbound in inbounds_named(&ctl, id, &q).await? {
            model::reset_clients_traffic(&ctl, &actor.name, inbound).await?;
        }
        Ok(())
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.reset_traffic",
            &format!("inbound:{id}"),
            json!({}),
            &result,
        )
        .await;
    reply_as(
        "All client traffic reset",
        "Failed to reset the traffic",
        result,
    )
}

async fn del_depleted_clients(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(id): Path<i64>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        let mut deleted = Vec::new();
        for inbound in inbounds_named(&ctl, id, &q).await? {
            deleted.extend(model::delete_depleted(&ctl, &actor.name, inbound).await?);
        }
        Ok(deleted)
    }
    .await;
    actor
        .audit(
            &ctl,
            "client.delete_depleted",
            &format!("inbound:{id}"),
            json!({}),
            &result,
        )
        .await;
    match result {
        Ok(_) => done("Depleted clients deleted", Value::Null),
        Err(e) => reply::<()>("Failed to delete depleted clients", Err(e)),
    }
}

#[derive(Deserialize)]
struct ImportForm {
    #[serde(default)]
    data: String,
}

/// `import`: form field `data` holds a whole inbound as JSON; its id is ignored.
async fn import(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Query(q): Query<ServerParam>,
    body: Form<ImportForm>,
) -> Json<Msg> {
    let Body(form) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let parsed: Result<InboundForm, _> = serde_json::from_str(&form.data);
    match parsed {
        Ok(inbound) => create(&ctl, &actor, &q, inbound.into_input(), "inbound.import").await,
        Err(e) => failed("Failed to import the inbound", format!("data: {e}")),
    }
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

async fn onlines(State(ctl): Ctl, _: CompatActor) -> Json<Msg> {
    reply("", online_emails(&ctl).await)
}

async fn last_online(State(ctl): Ctl, _: CompatActor) -> Json<Msg> {
    reply("", last_online_map(&ctl).await)
}

#[derive(Deserialize)]
struct TrafficBody {
    #[serde(default, deserialize_with = "de::int")]
    upload: i64,
    #[serde(default, deserialize_with = "de::int")]
    download: i64,
}

async fn update_client_traffic(
    State(ctl): Ctl,
    CompatActor(actor): CompatActor,
    Path(email): Path<String>,
    body: Form<TrafficBody>,
) -> Json<Msg> {
    let Body(b) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let result = model::set_client_traffic(&ctl, &actor.name, &email, b.upload, b.download)
        .await
        .map_err(ApiError::from);
    actor
        .audit(
            &ctl,
            "client.set_traffic",
            &format!("client:{email}"),
            json!({"upload": b.upload, "download": b.download}),
            &result,
        )
        .await;
    reply_as("Traffic updated", "Failed to update the traffic", result)
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
