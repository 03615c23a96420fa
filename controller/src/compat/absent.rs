//! 3x-ui v3's routes for features xfleet does not have. Each answers as a v3 panel with the
//! feature unused would, where that is the truth (no managed hosts, no client groups, no
//! devices: empty lists), or `success:false` saying what xfleet does instead, where an empty
//! answer would hide something (nodes: xfleet's servers are its nodes; panel GUIDs; core
//! metrics it does not keep). Nothing here pretends to store what it cannot.

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::{done, failed, reply, Msg, XuiCall};
use crate::front::{ApiError, Call};
use crate::Controller;

const NODES: &str = "xfleet manages servers, not 3x-ui nodes: its servers are listed by \
    GET /api/v1/servers, and inbounds name theirs with ?server_id=";
const HOSTS: &str = "xfleet has no managed hosts: share links use the server's public \
    address (PATCH /api/v1/servers/{id}) or the inbound's streamSettings.externalProxy";
const GROUPS: &str = "xfleet has no client groups";
const GUIDS: &str = "xfleet has no panel GUIDs: POST /panel/api/clients/onlines lists the \
    clients online on any server";
const METRICS: &str = "xfleet keeps no history of the core's metrics or observatory; a \
    server's CPU history is at cpuHistory/{bucket}, its hourly traffic at GET \
    /api/v1/servers/{id}/history";

fn refused(reason: &str) -> Json<Msg> {
    failed("Not available", reason)
}

/// v3's "test the bot": a message to every admin through the bot's settings as saved.
async fn test_bot(XuiCall(call): XuiCall) -> Json<Msg> {
    match crate::telegram::send_test(&call.ctl.store).await {
        Ok(n) => done(format!("Test message sent to {n} admin(s)"), Value::Null),
        Err(e) => failed("Test message not sent", e),
    }
}

fn empty() -> Json<Msg> {
    done("", Vec::<Value>::new())
}

/// `/panel/api/hosts/*`: no host is managed, so the lists are empty and changes refused.
pub fn hosts_routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/list", get(|_: XuiCall| async { empty() }))
        .route("/tags", get(|_: XuiCall| async { empty() }))
        .route("/byInbound/{inbound_id}", get(hosts_of_inbound))
        .route(
            "/get/{group_id}",
            get(|_: XuiCall, Path(id): Path<String>| async move {
                failed("Not found", format!("no host group `{id}`: {HOSTS}"))
            }),
        )
        .route("/{*change}", any(|_: XuiCall| async { refused(HOSTS) }))
}

async fn hosts_of_inbound(XuiCall(Call { ctl, .. }): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let result = async {
        ctl.store.inbound(id).await?;
        Ok::<_, ApiError>(Vec::<Value>::new())
    }
    .await;
    reply("", result)
}

/// `/panel/api/nodes/*`: every route says where xfleet's servers are.
pub fn nodes_routes() -> Router<Arc<Controller>> {
    Router::new().route("/{*route}", any(|_: XuiCall| async { refused(NODES) }))
}

/// Client routes of v3 features xfleet lacks: groups and panel GUIDs.
pub fn client_routes() -> Router<Arc<Controller>> {
    Router::new()
        .route("/groups", get(|_: XuiCall| async { empty() }))
        .route("/groups/{name}/emails", get(|_: XuiCall| async { empty() }))
        .route(
            "/groups/{action}",
            post(|_: XuiCall| async { refused(GROUPS) }),
        )
        .route(
            "/onlinesByGuid",
            post(|_: XuiCall| async { refused(GUIDS) }),
        )
        .route(
            "/clientIpsByGuid",
            post(|_: XuiCall| async { refused(GUIDS) }),
        )
        .route(
            "/activeInbounds",
            post(|_: XuiCall| async { refused(GUIDS) }),
        )
}

/// v3's additions under `/panel/api/setting` for features xfleet lacks.
pub fn setting_routes() -> Router<Arc<Controller>> {
    Router::new()
        .route(
            "/testSmtp",
            post(|_: XuiCall| async { refused("xfleet sends no email") }),
        )
        .route("/testTgBot", post(test_bot))
        .route(
            "/validateRegex",
            post(|_: XuiCall| async { refused("no xfleet setting takes a regular expression") }),
        )
}

/// `hwids/{email}`: the devices seen for a client. xfleet does not record devices.
pub async fn hwids(XuiCall(Call { ctl, .. }): XuiCall, Path(email): Path<String>) -> Json<Msg> {
    let result = async {
        ctl.store.client_by_email(&email).await?;
        Ok::<_, ApiError>(Vec::<Value>::new())
    }
    .await;
    reply("", result)
}

/// `DELETE hwids/{email}`: there are no devices to forget.
pub async fn clear_hwids(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(email): Path<String>,
) -> Json<Msg> {
    let result = async {
        ctl.store.client_by_email(&email).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    reply("", result)
}

pub async fn delete_hwid(_: XuiCall, Path((_, id)): Path<(String, String)>) -> Json<Msg> {
    failed(
        "Not found",
        format!("no device `{id}`: xfleet does not record clients' devices"),
    )
}

/// v3's additions under `/panel/api/server` that have no counterpart here.
pub fn server_routes() -> Router<Arc<Controller>> {
    let no_metrics = || get(|_: XuiCall| async { refused(METRICS) });
    Router::new()
        .route("/xrayMetricsState", no_metrics())
        .route("/xrayMetricsHistory/{metric}/{bucket}", no_metrics())
        .route("/xrayObservatory", no_metrics())
        .route("/xrayObservatoryHistory/{tag}/{bucket}", no_metrics())
        .route("/descendants", get(|_: XuiCall| async { refused(NODES) }))
        .route(
            "/getUpdateStatus",
            get(|_: XuiCall| async { refused(UPDATES) }),
        )
        .route(
            "/setUpdateChannel",
            post(|_: XuiCall| async { refused(UPDATES) }),
        )
        .route(
            "/getMigration",
            get(|_: XuiCall| async {
                refused("xfleet makes no cross-engine dump; GET /panel/api/server/getDb gives its database")
            }),
        )
        .route(
            "/getWebCertFiles",
            get(|_: XuiCall| async {
                refused("the panel's certificate is on the controller; an inbound's certificate files must be on its own server")
            }),
        )
        .route(
            "/fail2banStatus",
            get(|_: XuiCall| async {
                refused("xfleet enforces IP limits in the core's routing (refused addresses go to a blackhole), not with fail2ban")
            }),
        )
        .route(
            "/getCertHash",
            post(|_: XuiCall| async { refused(CERT_HASH) }),
        )
        .route(
            "/getRemoteCertHash",
            post(|_: XuiCall| async { refused(CERT_HASH) }),
        )
        .route("/scanRealityTarget", post(|_: XuiCall| async { refused(SCAN) }))
        .route("/scanRealityTargets", post(|_: XuiCall| async { refused(SCAN) }))
        .route("/clientIps", get(client_ips).post(|_: XuiCall| async {
            refused("a 3x-ui master cannot push addresses into xfleet: its agents report the addresses they see")
        }))
}

const UPDATES: &str = "xfleet has no update channels: the controller and its agents are \
    updated by installing their new package or binary (see getPanelUpdateInfo)";
const CERT_HASH: &str = "xfleet pins nothing by certificate hash: agents trust the \
    controller's own CA";
const SCAN: &str = "xfleet does not probe REALITY targets";

/// One client's address record, as v3's `InboundClientIps` with `ips` as a list.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientIps {
    id: i64,
    client_email: String,
    ips: Vec<Value>,
}

/// `GET clientIps`: the addresses each client was seen from (Unix seconds), fleet-wide.
async fn client_ips(XuiCall(Call { ctl, .. }): XuiCall) -> Json<Msg> {
    let result = async {
        let mut out = Vec::new();
        for c in ctl.store.all_clients().await? {
            let records = ctl.store.client_ip_records(&c.email).await?;
            if records.is_empty() {
                continue;
            }
            out.push(ClientIps {
                id: c.id,
                client_email: c.email,
                ips: records
                    .into_iter()
                    .map(|r| json!({"ip": r.ip, "timestamp": r.last_seen / 1000}))
                    .collect(),
            });
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    reply("", result)
}
