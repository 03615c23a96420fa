//! `/panel/api/clients/*`: 3x-ui v3's clients API, where one client is attached to many
//! inbounds — which is the fleet model itself, so these routes are fleet-wide. Clients are
//! shown as v3's records (`client_records`); many at once in `client_bulk`; pages in
//! `client_paged`; v3's features xfleet lacks (groups, devices, panel GUIDs) in `absent`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client_records::{client_input, detail, listed, ClientWithInbounds};
use super::inbound_clients::{
    clear_client_ips, client_ips, last_online_map, online_emails, traffic_of, update_client_traffic,
};
use super::inbound_views::share_links;
use super::{absent, client_bulk, client_paged, de, done, failed, reply, Body, Msg, XuiCall};
use crate::front::{ApiError, Audit, Call};
use crate::model::Refusal;
use crate::model::{self, all_client_views};
use crate::store::StoreError;
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(list))
        .route("/list/paged", get(client_paged::list_paged))
        .route("/get/{email}", get(get_one))
        .route("/get/tgId/{tg_id}", get(by_tg_id))
        .route("/traffic/{email}", get(traffic))
        .route("/links/{email}", get(links))
        .route("/subLinks/{sub_id}", get(sub_links))
        .route("/export", get(client_bulk::export))
        .route("/add", post(add))
        .route("/update/{email}", post(update))
        .route("/del/{email}", post(del))
        .route("/{email}/attach", post(attach))
        .route("/{email}/detach", post(detach))
        .route("/{email}/externalLinks", post(external_links))
        .route("/import", post(client_bulk::import))
        .route("/delOrphans", post(client_bulk::del_orphans))
        .route("/resetAllTraffics", post(reset_all_traffics))
        .route("/delDepleted", post(del_depleted))
        .route("/bulkAdjust", post(client_bulk::bulk_adjust))
        .route("/bulkEnable", post(client_bulk::bulk_enable))
        .route("/bulkDisable", post(client_bulk::bulk_disable))
        .route("/bulkDel", post(client_bulk::bulk_del))
        .route("/bulkCreate", post(client_bulk::bulk_create))
        .route("/bulkAttach", post(client_bulk::bulk_attach))
        .route("/bulkDetach", post(client_bulk::bulk_detach))
        .route("/bulkResetTraffic", post(client_bulk::bulk_reset_traffic))
        .route("/resetTraffic/{email}", post(reset_traffic))
        .route("/updateTraffic/{email}", post(update_client_traffic))
        .route("/ips/{email}", post(client_ips))
        .route("/clearIps/{email}", post(clear_client_ips))
        .route(
            "/hwids/{email}",
            post(absent::hwids).delete(absent::clear_hwids),
        )
        .route("/hwids/{email}/{id}", delete(absent::delete_hwid))
        .route("/onlines", post(onlines))
        .route("/lastOnline", post(last_online))
        .merge(absent::client_routes())
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    filter: String,
}

/// Every client as v3 lists them: the record's fields, `inboundIds`, `traffic`. `search`
/// and `filter` narrow it as the native API does.
async fn list(XuiCall(call): XuiCall, Query(q): Query<ListQuery>) -> Json<Msg> {
    let ctl = &call.ctl;
    let result = async {
        let ids: Vec<i64> = all_client_views(ctl, &q.search, &q.filter, None)
            .await?
            .into_iter()
            .map(|v| v.id)
            .collect();
        listed(ctl, Some(&ids)).await
    }
    .await;
    reply("", result)
}

/// One client as v3's `ClientDetail`. An email no client has is `obj: null` with a message
/// saying so, as 3x-ui v2 answered: py3xui's `get_by_email` reads that as "no such client".
async fn get_one(XuiCall(Call { ctl, .. }): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    match ctl.store.client_by_email(&email).await {
        Err(StoreError::NotFound(_)) => done(format!("no client has email `{email}`"), Value::Null),
        found => reply("", async { detail(&ctl, &found?).await }.await),
    }
}

/// Every client whose Telegram id is `tg_id`, each as `get/{email}` shows it.
async fn by_tg_id(XuiCall(Call { ctl, .. }): XuiCall, Path(tg_id): Path<String>) -> Json<Msg> {
    let result = async {
        let tg_id: i64 = tg_id.trim().parse().map_err(|_| {
            ApiError::BadRequest(
                Refusal::new("err.not_telegram_id", &[("id", tg_id.to_string())]).into(),
            )
        })?;
        let mut out = Vec::new();
        for c in ctl.store.all_clients().await? {
            if c.tg_id == tg_id {
                out.push(detail(&ctl, &c).await?);
            }
        }
        Ok(out)
    }
    .await;
    reply("", result)
}

async fn traffic(XuiCall(Call { ctl, .. }): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    reply("", traffic_of(&ctl, &email).await)
}

/// A client's share link on every inbound it is attached to, on every server.
async fn links(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Json<Msg> {
    let result = async {
        let client = ctl.store.client_by_email(&email).await?;
        let links = share_links(&ctl, vec![client], &headers).await?;
        Ok::<_, ApiError>(links.into_iter().map(|l| l.url).collect::<Vec<_>>())
    }
    .await;
    reply("", result)
}

/// The links of every client with this subscription id (what `/sub/{subId}` serves).
async fn sub_links(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(sub_id): Path<String>,
    headers: HeaderMap,
) -> Json<Msg> {
    let result = async {
        let clients: Vec<_> = ctl
            .store
            .all_clients()
            .await?
            .into_iter()
            .filter(|c| c.sub_id == sub_id)
            .collect();
        if clients.is_empty() {
            return Err(ApiError::NotFound("subscription"));
        }
        let links = share_links(&ctl, clients, &headers).await?;
        Ok(links.into_iter().map(|l| l.url).collect::<Vec<_>>())
    }
    .await;
    reply("", result)
}

/// A v3 change: audited, then answered under its message (`…: failed` when refused).
async fn change<T: Serialize>(
    call: &Call,
    audit: Audit,
    ok_msg: &str,
    change: impl Future<Output = Result<T, ApiError>>,
) -> Json<Msg> {
    call.reply_as(audit, (ok_msg, &format!("{ok_msg}: failed")), change)
        .await
}

/// `add`: `{client, inboundIds}`; secrets the client lacks are generated. The answer is the
/// client as `get/{email}` shows it.
async fn add(XuiCall(call): XuiCall, Body(b): Body<ClientWithInbounds>) -> Json<Msg> {
    let email = b.client["email"].as_str().unwrap_or("").to_owned();
    let audit = Audit::new("client.create", format!("client:{email}"));
    change(&call, audit, "Client added", async {
        let input = client_input(b.client, "client.")?;
        let row = model::create_client(&call.ctl, call.who(), &input, &b.inbound_ids).await?;
        detail(&call.ctl, &row).await
    })
    .await
}

/// `update/{email}`: a `Client`, or the record `get/{email}` gave, changed.
async fn update(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(body): Body<Value>,
) -> Json<Msg> {
    let audit = Audit::new("client.update", format!("client:{email}"));
    change(&call, audit, "Client updated", async {
        let input = client_input(body, "")?;
        let row = model::update_client(&call.ctl, call.who(), &email, &input).await?;
        detail(&call.ctl, &row).await
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DelQuery {
    #[serde(default)]
    keep_traffic: Option<String>,
}

async fn del(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Query(q): Query<DelQuery>,
) -> Json<Msg> {
    let keep = q
        .keep_traffic
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "on"));
    let audit = Audit::new("client.delete", format!("client:{email}"));
    change(&call, audit, "Client deleted", async {
        model::delete_client(&call.ctl, call.who(), &email, keep).await?;
        Ok(())
    })
    .await
}

async fn reset_traffic(XuiCall(call): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    let audit = Audit::new("client.reset_traffic", format!("client:{email}"));
    change(&call, audit, "Traffic reset", async {
        Ok(model::reset_client_traffic(&call.ctl, call.who(), &email).await?)
    })
    .await
}

async fn onlines(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", online_emails(&call.ctl).await)
}

async fn last_online(XuiCall(call): XuiCall) -> Json<Msg> {
    reply("", last_online_map(&call.ctl).await)
}

/// `delDepleted`: deletes clients without auto-renew that are over quota or expired.
async fn del_depleted(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("client.delete_depleted", "clients");
    change(&call, audit, "Depleted clients deleted", async {
        let gone = model::delete_depleted(&call.ctl, call.who(), None).await?;
        Ok(json!({"deleted": gone.len()}))
    })
    .await
}

async fn reset_all_traffics(XuiCall(call): XuiCall) -> Json<Msg> {
    let audit = Audit::new("client.reset_traffic", "clients");
    change(&call, audit, "All traffic reset", async {
        model::reset_clients_traffic(&call.ctl, call.who(), None).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdsBody {
    #[serde(default, deserialize_with = "de::ids")]
    inbound_ids: Vec<i64>,
}

async fn attach(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(b): Body<IdsBody>,
) -> Json<Msg> {
    let audit = Audit::new("client.attach", format!("client:{email}"));
    change(&call, audit, "Client attached", async {
        let row = model::attach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        detail(&call.ctl, &row).await
    })
    .await
}

async fn detach(
    XuiCall(call): XuiCall,
    Path(email): Path<String>,
    Body(b): Body<IdsBody>,
) -> Json<Msg> {
    let audit = Audit::new("client.detach", format!("client:{email}"));
    change(&call, audit, "Client detached", async {
        let row = model::detach(&call.ctl, call.who(), &email, &b.inbound_ids).await?;
        detail(&call.ctl, &row).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalLinksBody {
    #[serde(default)]
    external_links: Vec<Value>,
}

/// `{email}/externalLinks`: v3 merges third-party links and subscriptions into a client's
/// subscription. xfleet has none to merge, so an empty list is all it can keep.
async fn external_links(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(email): Path<String>,
    Body(b): Body<ExternalLinksBody>,
) -> Json<Msg> {
    const ACTION: &str = "Client updated: failed";
    if let Err(e) = ctl.store.client_by_email(&email).await {
        return reply::<()>(ACTION, Err(e.into()));
    }
    if b.external_links.is_empty() {
        return reply("Client updated", Ok::<_, ApiError>(()));
    }
    failed(
        ACTION,
        "externalLinks: xfleet does not merge third-party links into subscriptions; \
         a subscription holds the client's links on every xfleet server it is attached to",
    )
}
