//! v3's `GET /panel/api/clients/list/paged`: clients filtered, sorted and cut into pages on
//! the controller, each a slim row (no secrets), with a summary over every client so counters
//! hold still while one pages. Filters are the panel's (`online`, `depleted`, `expiring`,
//! `deactive`, `active`); an unknown filter, sort key or order is refused by name.

use std::collections::{HashMap, HashSet};

use axum::extract::Query;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::inbound_clients::client_traffic;
use super::{reply, Msg, XuiCall};
use crate::front::ApiError;
use crate::model::{all_client_views, ClientView, FieldError};
use crate::store::{ClientRow, ClientTotals};
use crate::Controller;

const MAX_PAGE_SIZE: usize = 200;
/// Emails listed beside each summary count, at most.
const SUMMARY_EMAILS: usize = 200;
const SORTS: &[&str] = &[
    "id",
    "email",
    "enable",
    "expiryTime",
    "totalGB",
    "traffic",
    "lastOnline",
    "createdAt",
    "updatedAt",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct PageQuery {
    page: Option<usize>,
    page_size: Option<usize>,
    search: String,
    filter: String,
    protocol: String,
    inbound: Option<i64>,
    sort: String,
    order: String,
    expiry_from: Option<i64>,
    expiry_to: Option<i64>,
    usage_from: Option<i64>,
    usage_to: Option<i64>,
    auto_renew: Option<bool>,
    has_tg_id: Option<bool>,
    has_comment: Option<bool>,
    group: String,
}

/// The model's filter for v3's name of it.
fn model_filter(filter: &str) -> Result<&'static str, FieldError> {
    Ok(match filter {
        "" | "all" => "",
        "online" => "online",
        "depleted" => "depleted",
        "expiring" => "expiring",
        "deactive" | "disabled" => "disabled",
        "active" | "enabled" => "enabled",
        other => {
            return Err(FieldError::said(
                "filter",
                "err.client_filter",
                &[("filter", other.to_owned())],
            ))
        }
    })
}

/// A slim row, as v3's paged list has it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PagedClient {
    email: String,
    sub_id: String,
    enable: bool,
    #[serde(rename = "totalGB")]
    total_gb: i64,
    expiry_time: i64,
    limit_ip: i64,
    limit_hwid: i64,
    reset: i64,
    inbound_ids: Vec<i64>,
    traffic: Value,
    created_at: i64,
    updated_at: i64,
}

pub(super) async fn list_paged(XuiCall(call): XuiCall, Query(q): Query<PageQuery>) -> Json<Msg> {
    reply("", page(&call.ctl, q).await)
}

async fn page(ctl: &Controller, q: PageQuery) -> Result<Value, ApiError> {
    let mut problems = Vec::new();
    let filter = model_filter(&q.filter).unwrap_or_else(|e| {
        problems.push(e);
        ""
    });
    if !q.sort.is_empty() && !SORTS.contains(&q.sort.as_str()) {
        problems.push(FieldError::said(
            "sort",
            "err.client_sort",
            &[("sort", q.sort.clone()), ("keys", SORTS.join(", "))],
        ));
    }
    if !matches!(
        q.order.to_ascii_lowercase().as_str(),
        "" | "asc" | "ascend" | "desc" | "descend"
    ) {
        problems.push(FieldError::said("order", "err.sort_order", &[]));
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }

    let rows: HashMap<i64, ClientRow> = ctl
        .store
        .all_clients()
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let protocols: HashMap<i64, String> = ctl
        .store
        .all_inbounds()
        .await?
        .into_iter()
        .map(|i| (i.id, i.protocol))
        .collect();
    let everyone = all_client_views(ctl, "", "", None).await?;
    let mut views = all_client_views(ctl, &q.search, filter, q.inbound).await?;
    views.retain(|v| {
        let in_range = |value: i64, from: Option<i64>, to: Option<i64>| {
            from.is_none_or(|f| value >= f) && to.is_none_or(|t| value <= t)
        };
        (q.protocol.is_empty()
            || v.inbound_ids
                .iter()
                .any(|i| protocols.get(i).is_some_and(|p| *p == q.protocol)))
            && in_range(v.expiry_time, q.expiry_from, q.expiry_to)
            && in_range(v.used, q.usage_from, q.usage_to)
            && q.auto_renew.is_none_or(|want| (v.reset > 0) == want)
            && q.has_tg_id.is_none_or(|want| (v.tg_id != 0) == want)
            && q.has_comment.is_none_or(|want| v.comment.is_empty() != want)
            // xfleet has no client groups: no client is in a named one.
            && q.group.is_empty()
    });
    let created = |v: &ClientView| {
        rows.get(&v.id)
            .map_or((0, 0), |r| (r.created_at, r.updated_at))
    };
    match q.sort.as_str() {
        "email" => views.sort_by(|a, b| a.email.cmp(&b.email)),
        "enable" => views.sort_by_key(|v| v.enable),
        "expiryTime" => views.sort_by_key(|v| v.expiry_time),
        "totalGB" => views.sort_by_key(|v| v.total_gb),
        "traffic" => views.sort_by_key(|v| v.used),
        "lastOnline" => views.sort_by_key(|v| v.last_online),
        "createdAt" => views.sort_by_key(|v| created(v).0),
        "updatedAt" => views.sort_by_key(|v| created(v).1),
        _ => views.sort_by_key(|v| v.id),
    }
    if q.order.to_ascii_lowercase().starts_with("desc") {
        views.reverse();
    }

    let size = q.page_size.unwrap_or(25).clamp(1, MAX_PAGE_SIZE);
    let page = q.page.unwrap_or(1).max(1);
    let filtered = views.len();
    let items: Vec<PagedClient> = views
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|v| {
            let (created_at, updated_at) = created(&v);
            let traffic = rows.get(&v.id).map_or(Value::Null, |row| {
                let totals = ClientTotals {
                    email: v.email.clone(),
                    up: v.up,
                    down: v.down,
                    all_time: v.all_time,
                    last_online: v.last_online,
                };
                let first = v.inbound_ids.iter().min().copied().unwrap_or(0);
                serde_json::to_value(client_traffic(row, first, &totals)).unwrap_or_default()
            });
            PagedClient {
                email: v.email,
                sub_id: v.sub_id,
                enable: v.enable,
                total_gb: v.total_gb,
                expiry_time: v.expiry_time,
                limit_ip: v.limit_ip,
                limit_hwid: 0,
                reset: v.reset,
                inbound_ids: v.inbound_ids,
                traffic,
                created_at,
                updated_at,
            }
        })
        .collect();
    Ok(json!({
        "items": items,
        "total": everyone.len(),
        "filtered": filtered,
        "page": page,
        "pageSize": size,
        "summary": summary(ctl, everyone.len()).await?,
    }))
}

/// Counts over every client, with the first emails of each group.
async fn summary(ctl: &Controller, total: usize) -> Result<Value, ApiError> {
    let mut out = serde_json::Map::new();
    out.insert("total".into(), json!(total));
    let mut inactive = HashSet::new();
    for (name, filter) in [
        ("online", "online"),
        ("depleted", "depleted"),
        ("expiring", "expiring"),
        ("deactive", "disabled"),
    ] {
        let views = all_client_views(ctl, "", filter, None).await?;
        if matches!(name, "depleted" | "deactive") {
            inactive.extend(views.iter().map(|v| v.id));
        }
        let emails: Vec<&str> = views
            .iter()
            .take(SUMMARY_EMAILS)
            .map(|v| v.email.as_str())
            .collect();
        out.insert(format!("{name}Count"), json!(views.len()));
        out.insert(name.into(), json!(emails));
    }
    out.insert("active".into(), json!(total - inactive.len()));
    Ok(Value::Object(out))
}
