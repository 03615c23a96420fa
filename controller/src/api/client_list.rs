//! `GET /api/v1/clients`: the fleet's clients, filtered, sorted and paged by the database.
//! Without `page` (and `pageSize`) the answer is every match as a list, as it always was;
//! with either, one page: `{items, total, page, pageSize}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use serde::{Deserialize, Serialize};

use crate::front::routes::QueryParam;
use crate::front::{ok, ApiError, ApiResult, Call};
use crate::model::servers::resolve;
use crate::model::{self, ClientView, FieldError, Refusal};
use crate::store::{ClientSort, ClientState};

/// The query string, as the OpenAPI document shows it.
pub const PARAMS: &[QueryParam] = &[
    QueryParam { name: "search", kind: "string", description: "Part of the email, comment or subscription id in any case (on SQLite, letters beyond ASCII in their own case only), or the whole Telegram id" },
    QueryParam { name: "state", kind: "string", description: "online, depleted, expiring, disabled or enabled (also taken as `filter`)" },
    QueryParam { name: "inbound", kind: "integer", description: "Only clients attached to this inbound" },
    QueryParam { name: "server", kind: "string", description: "Only clients attached to an inbound of this server (id or name)" },
    QueryParam { name: "sort", kind: "string", description: "id (default), email, comment, enable, up, down, used, allTime, total, expiry, lastOnline, inbounds (count), servers (count); text in byte order" },
    QueryParam { name: "order", kind: "string", description: "asc (default) or desc" },
    QueryParam { name: "page", kind: "integer", description: "1 or more; given (or with pageSize), the answer is one page: {items, total, page, pageSize}" },
    QueryParam { name: "pageSize", kind: "integer", description: "1 to 500 (default 50)" },
];

/// The largest page.
pub const MAX_PAGE_SIZE: i64 = 500;
/// A page's size when `page` comes without `pageSize`.
const DEFAULT_PAGE_SIZE: i64 = 50;

/// What `GET /clients` takes, as the query string says it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListParams {
    /// Part of the email, comment or subscription id, or the whole Telegram id.
    #[serde(default)]
    search: String,
    /// `online`, `depleted`, `expiring`, `disabled` or `enabled`.
    #[serde(default)]
    state: String,
    /// The older name of `state`.
    #[serde(default)]
    filter: String,
    /// Only clients attached to this inbound.
    inbound: Option<i64>,
    /// Only clients attached to an inbound of this server (id or name).
    #[serde(default)]
    server: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    page: Option<String>,
    page_size: Option<String>,
}

/// One page of clients and how many match in all.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientPage {
    items: Vec<ClientView>,
    total: i64,
    page: i64,
    page_size: i64,
}

/// The unpaged list (what callers without `page` have always had) or one page.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ClientList {
    All(Vec<ClientView>),
    Page(ClientPage),
}

/// `field` names none of `names`.
fn unknown<T>(field: &str, names: &[(&'static str, T)]) -> FieldError {
    let values = names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    Refusal::new("err.one_of", &[("values", values)]).at(field)
}

fn one_of<T: Copy>(field: &str, value: &str, names: &[(&'static str, T)]) -> Result<T, FieldError> {
    names
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| unknown(field, names))
}

/// A whole number from 1 to `max`; `None` if absent.
fn count(field: &str, value: Option<&str>, max: i64) -> Result<Option<i64>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
        _ if max == i64::MAX => Err(Refusal::new("err.one_or_more", &[]).at(field)),
        _ => Err(Refusal::new("err.from_one_to", &[("max", max.to_string())]).at(field)),
    }
}

pub(super) async fn list_clients(
    Call { ctl, .. }: Call,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<ClientList> {
    let Query(p) = params?;
    let mut q = model::client_query(&ctl).await?;
    let mut bad = Vec::new();
    let state = if p.state.is_empty() {
        &p.filter
    } else {
        &p.state
    };
    let field = if p.state.is_empty() {
        "filter"
    } else {
        "state"
    };
    if !state.is_empty() {
        match one_of(field, state, &ClientState::NAMES) {
            Ok(s) => q.state = Some(s),
            Err(e) => bad.push(e),
        }
    }
    if !p.sort.is_empty() {
        match ClientSort::parse(&p.sort) {
            Some(s) => q.sort = s,
            None => bad.push(unknown("sort", &ClientSort::NAMES)),
        }
    }
    if !p.order.is_empty() {
        match one_of("order", &p.order, &[("asc", false), ("desc", true)]) {
            Ok(d) => q.descending = d,
            Err(e) => bad.push(e),
        }
    }
    let page = count("page", p.page.as_deref(), i64::MAX).unwrap_or_else(|e| {
        bad.push(e);
        None
    });
    let size = count("pageSize", p.page_size.as_deref(), MAX_PAGE_SIZE).unwrap_or_else(|e| {
        bad.push(e);
        None
    });
    if !bad.is_empty() {
        return Err(ApiError::Invalid(bad));
    }
    q.search = p.search;
    q.inbound = p.inbound;
    if !p.server.is_empty() {
        q.server = Some(resolve(&ctl, &p.server).await?.id);
    }
    let paged = (page.is_some() || size.is_some()).then(|| {
        let (page, size) = (page.unwrap_or(1), size.unwrap_or(DEFAULT_PAGE_SIZE));
        (page, size)
    });
    if let Some((page, size)) = paged {
        q.window = Some(((page - 1).saturating_mul(size), size));
    }
    let (items, total) = model::client_list(&ctl, &q).await?;
    ok(match paged {
        Some((page, page_size)) => ClientList::Page(ClientPage {
            items,
            total,
            page,
            page_size,
        }),
        None => ClientList::All(items),
    })
}
