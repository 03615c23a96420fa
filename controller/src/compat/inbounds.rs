//! `/panel/api/inbounds/*`: 3x-ui's inbound routes on the fleet model (the v2 client routes
//! there are in `inbound_clients`; v3's read projections in `inbound_views`, its fallbacks in
//! `inbound_fallbacks`, its bulk deletes in `inbound_bulk`). Inbound ids are fleet-wide, so
//! routes naming an inbound need no server; `list`, `add`, `import` and `resetAllTraffics`
//! act on the server picked by `?server_id=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::inbound_clients::{client_traffic, ClientTraffic};
use super::v3::{self, InboundFields, INBOUND_FIELDS};
use super::{de, failed, pick_server, reply, Body, Msg, ServerParam, XuiCall};
use super::{inbound_bulk, inbound_fallbacks, inbound_views};
use crate::fleet::desired::client_json;
use crate::front::{ApiError, Audit, Call};
use crate::model::{self, InboundInput};
use crate::store::{ClientRow, ClientTotals, InboundRow};
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(list))
        .route("/get/{id}", get(get_one))
        .route("/add", post(add))
        .route("/del/{id}", post(del))
        .route("/update/{id}", post(update))
        .route("/setEnable/{id}", post(set_enable))
        .route("/resetAllTraffics", post(reset_all_traffics))
        .route("/import", post(import))
        .route("/list/slim", get(inbound_views::slim))
        .route("/options", get(inbound_views::options))
        .route("/allLinks", get(inbound_views::all_links))
        .route(
            "/{id}/fallbacks",
            get(inbound_fallbacks::list).post(inbound_fallbacks::replace),
        )
        .route("/bulkDel", post(inbound_bulk::bulk_del))
        .route("/{id}/delAllClients", post(inbound_bulk::del_all_clients))
        .route("/{id}/resetTraffic", post(reset_traffic))
        .route("/{id}/subSortIndex", post(sub_sort_index))
        .route("/pushClientTraffics", post(push_client_traffics))
}

/// An inbound as 3x-ui returns it: v2's shape (JSON fields as strings, clients inside
/// `settings`, `allTime`) with v3's added fields, which v2 clients ignore.
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
    #[serde(flatten)]
    v3: InboundFields,
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
        v3: INBOUND_FIELDS,
        server_id: row.server_id,
    }
}

/// The inbound as it is, with `settings` replaced, to write back; without `clients` in the
/// settings the inbound keeps the clients it has.
pub fn input_of(row: &InboundRow, settings: Map<String, Value>) -> InboundInput {
    let json_of = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    InboundInput {
        remark: row.remark.clone(),
        enable: row.enable != 0,
        listen: row.listen.clone(),
        port: row.port,
        protocol: row.protocol.clone(),
        settings: Value::Object(settings),
        stream_settings: json_of(&row.stream_settings),
        sniffing: json_of(&row.sniffing),
        tag: row.tag.clone(),
        total: row.total,
        expiry_time: row.expiry_time,
        traffic_reset: row.traffic_reset.clone(),
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

/// One server's inbounds with `?server_id=`, else the whole fleet's (ids are unique across it).
async fn list(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    let ctl = &call.ctl;
    let result = async {
        let servers = match q.named() {
            Some(_) => vec![pick_server(ctl, &q).await?],
            None => ctl.store.list_servers().await?,
        };
        let mut all = Vec::new();
        for server in servers {
            all.extend(list_of(ctl, server.id).await?);
        }
        Ok::<_, ApiError>(all)
    }
    .await;
    reply("", result)
}

async fn get_one(XuiCall(call): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let ctl = &call.ctl;
    reply(
        "",
        async { load(ctl, ctl.store.inbound(id).await?).await }.await,
    )
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
    #[serde(flatten)]
    v3: v3::InboundRequest,
}

fn yes() -> bool {
    true
}

impl InboundForm {
    /// The inbound to write, or the v3 fields whose values xfleet cannot honour.
    pub fn into_input(self) -> Result<InboundInput, ApiError> {
        v3::refuse(self.v3.problems())?;
        Ok(InboundInput {
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
        })
    }
}

async fn add(
    XuiCall(call): XuiCall,
    Query(q): Query<ServerParam>,
    Body(form): Body<InboundForm>,
) -> Json<Msg> {
    create(&call, &q, form, "inbound.create").await
}

async fn create(
    call: &Call,
    q: &ServerParam,
    form: InboundForm,
    action: &'static str,
) -> Json<Msg> {
    let input = form.into_input();
    let audit = match &input {
        Ok(i) => Audit::new(action, "3x-ui")
            .with(json!({"port": i.port, "protocol": i.protocol, "remark": i.remark})),
        Err(_) => Audit::new(action, "3x-ui"),
    };
    let ctl = &call.ctl;
    let said = ("Inbound created", "Failed to create the inbound");
    call.reply_as(audit, said, async {
        let input = input?;
        let server = pick_server(ctl, q).await?;
        let row = model::create_inbound(ctl, call.who(), server.id, &input).await?;
        load(ctl, row).await
    })
    .await
}

async fn del(XuiCall(call): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let audit = Audit::new("inbound.delete", format!("inbound:{id}"));
    let said = ("Inbound deleted", "Failed to delete the inbound");
    call.reply_as(audit, said, async {
        model::delete_inbound(&call.ctl, call.who(), id, true).await?;
        Ok(id)
    })
    .await
}

async fn update(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Body(form): Body<InboundForm>,
) -> Json<Msg> {
    let audit = Audit::new("inbound.update", format!("inbound:{id}"));
    let said = ("Inbound updated", "Failed to update the inbound");
    call.reply_as(audit, said, async {
        let input = form.into_input()?;
        let row = model::update_inbound(&call.ctl, call.who(), id, &input).await?;
        load(&call.ctl, row).await
    })
    .await
}

#[derive(Deserialize)]
struct EnableForm {
    #[serde(deserialize_with = "de::flag")]
    enable: bool,
}

async fn set_enable(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Body(form): Body<EnableForm>,
) -> Json<Msg> {
    let audit =
        Audit::new("inbound.enable", format!("inbound:{id}")).with(json!({"enable": form.enable}));
    let said = ("Inbound updated", "Failed to update the inbound");
    call.reply_as(audit, said, async {
        model::set_inbound_enable(&call.ctl, call.who(), id, form.enable).await?;
        Ok(())
    })
    .await
}

async fn reset_all_traffics(XuiCall(call): XuiCall, Query(q): Query<ServerParam>) -> Json<Msg> {
    let audit = Audit::new("inbound.reset_traffic", "all");
    let said = ("All traffic reset", "Failed to reset the traffic");
    call.reply_as(audit, said, async {
        // "All" is the fleet's, unless a server is named.
        let server = match q.named() {
            Some(_) => Some(pick_server(&call.ctl, &q).await?.id),
            None => None,
        };
        model::reset_inbounds_traffic(&call.ctl, call.who(), server, None).await?;
        Ok(())
    })
    .await
}

/// v3's `{id}/resetTraffic`: zeroes one inbound's own counters (its clients keep theirs).
async fn reset_traffic(XuiCall(call): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let audit = Audit::new("inbound.reset_traffic", format!("inbound:{id}"));
    let said = ("Inbound traffic reset", "Failed to reset the traffic");
    call.reply_as(audit, said, async {
        model::reset_inbounds_traffic(&call.ctl, call.who(), None, Some(id)).await?;
        Ok(())
    })
    .await
}

/// v3's `{id}/subSortIndex`. Subscriptions list links in inbound order, so only the value
/// every inbound has (1) is accepted; any other is refused, saying so.
async fn sub_sort_index(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Body(body): Body<v3::InboundRequest>,
) -> Json<Msg> {
    let result = async {
        call.ctl.store.inbound(id).await?;
        v3::refuse(body.problems())
    }
    .await;
    reply("Inbound updated", result)
}

/// v3's `pushClientTraffics`, by which a master panel hands a node the usage it counted.
/// xfleet counts usage from its own agents; there is nothing to take from a master.
async fn push_client_traffics(_: XuiCall) -> Json<Msg> {
    failed(
        "Traffic not taken",
        "xfleet counts each client's usage from its own agents; a 3x-ui master cannot push usage into it",
    )
}

#[derive(Deserialize)]
struct ImportForm {
    #[serde(default)]
    data: String,
}

/// `import`: form field `data` holds a whole inbound as JSON; its id is ignored.
async fn import(
    XuiCall(call): XuiCall,
    Query(q): Query<ServerParam>,
    Body(form): Body<ImportForm>,
) -> Json<Msg> {
    let parsed: Result<InboundForm, _> = serde_json::from_str(&form.data);
    match parsed {
        Ok(inbound) => create(&call, &q, inbound, "inbound.import").await,
        Err(e) => failed("Failed to import the inbound", format!("data: {e}")),
    }
}
