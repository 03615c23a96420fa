//! Clients as the front ends show them: one identity across the fleet with its usage summed
//! over every server, and the inbounds it is attached to.

use std::collections::HashMap;

use serde::Serialize;
use xfleet_common::time::now_ms;

use super::Result;
use crate::store::{ClientQuery, ClientRow, ClientSort, ClientTotals};
use crate::Controller;

/// Clients count as online when they had traffic within this long.
pub const ONLINE_WINDOW_MS: i64 = 3 * 60 * 1000;
/// "Expiring soon" when 3x-ui's `expireDiff` is 0 (unset): within three days.
const EXPIRING_MS: i64 = 3 * 24 * 3600 * 1000;

/// When a client counts as "expiring soon", as 3x-ui's settings say: its expiry within
/// `expireDiff` days (three when 0), or less than `trafficDiff` GB left of a quota (never
/// when 0).
pub struct Soon {
    pub expire_ms: i64,
    pub traffic_bytes: i64,
}

impl Soon {
    pub async fn load(ctl: &Controller) -> Result<Self> {
        let number = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let days = number(ctl.store.setting("expireDiff").await?);
        let gigabytes = number(ctl.store.setting("trafficDiff").await?);
        Ok(Self {
            expire_ms: if days > 0 {
                days.saturating_mul(86_400_000)
            } else {
                EXPIRING_MS
            },
            traffic_bytes: gigabytes.saturating_mul(1 << 30),
        })
    }

    /// Not yet expired or used up, but soon to be.
    pub fn applies(&self, c: &ClientRow, used: i64, now: i64) -> bool {
        let expiring = c.expiry_time > now && c.expiry_time <= now.saturating_add(self.expire_ms);
        let left = c.total_bytes - used;
        let running_out =
            self.traffic_bytes > 0 && c.total_bytes > 0 && left > 0 && left <= self.traffic_bytes;
        expiring || running_out
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub id: i64,
    pub email: String,
    /// VMess/VLESS UUID (3x-ui's `id`).
    pub uuid: String,
    pub password: String,
    pub auth: String,
    pub flow: String,
    pub security: String,
    pub sub_id: String,
    pub limit_ip: i64,
    #[serde(rename = "totalGB")]
    pub total_gb: i64,
    pub expiry_time: i64,
    pub enable: bool,
    pub tg_id: i64,
    pub comment: String,
    pub reset: i64,
    pub up: i64,
    pub down: i64,
    /// Bytes used on every server together (`up + down`).
    pub used: i64,
    pub all_time: i64,
    pub last_online: i64,
    pub inbound_ids: Vec<i64>,
}

pub fn client_view(c: ClientRow, t: &ClientTotals, inbound_ids: Vec<i64>) -> ClientView {
    ClientView {
        id: c.id,
        email: c.email,
        uuid: c.uuid,
        password: c.password,
        auth: c.auth,
        flow: c.flow,
        security: c.security,
        sub_id: c.sub_id,
        limit_ip: c.limit_ip,
        total_gb: c.total_bytes,
        expiry_time: c.expiry_time,
        enable: c.enable != 0,
        tg_id: c.tg_id,
        comment: c.comment,
        reset: c.reset_days,
        up: t.up,
        down: t.down,
        used: t.up + t.down,
        all_time: t.all_time,
        last_online: t.last_online,
        inbound_ids,
    }
}

pub async fn load_client(ctl: &Controller, c: ClientRow) -> Result<ClientView> {
    let totals = ctl.store.client_total(&c.email).await?;
    let inbounds = ctl.store.inbounds_of_client(c.id).await?;
    Ok(client_view(
        c,
        &totals,
        inbounds.into_iter().map(|i| i.id).collect(),
    ))
}

/// Every client, filtered: `search` in the email, comment or sub id; `filter` one of
/// `online`, `depleted`, `expiring`, `disabled`, `enabled`; attached to `inbound`.
pub async fn all_client_views(
    ctl: &Controller,
    search: &str,
    filter: &str,
    inbound: Option<i64>,
) -> Result<Vec<ClientView>> {
    let totals = ctl.store.client_totals().await?;
    let mut attached: HashMap<i64, Vec<i64>> = HashMap::new();
    for (client, inbound) in ctl.store.attachments().await? {
        attached.entry(client).or_default().push(inbound);
    }
    let now = now_ms();
    let soon = Soon::load(ctl).await?;
    let search = search.to_lowercase();
    let empty = ClientTotals::default();
    let mut out = Vec::new();
    for c in ctl.store.all_clients().await? {
        let ids = attached.remove(&c.id).unwrap_or_default();
        if inbound.is_some_and(|i| !ids.contains(&i)) {
            continue;
        }
        if !search.is_empty()
            && ![&c.email, &c.comment, &c.sub_id]
                .iter()
                .any(|s| s.to_lowercase().contains(&search))
        {
            continue;
        }
        let t = totals.get(&c.email).unwrap_or(&empty);
        let used = t.up + t.down;
        let keep = match filter {
            "online" => t.last_online > now - ONLINE_WINDOW_MS,
            "depleted" => {
                (c.total_bytes > 0 && used >= c.total_bytes)
                    || (c.expiry_time > 0 && c.expiry_time <= now)
            }
            "expiring" => soon.applies(&c, used, now),
            "disabled" => c.enable == 0,
            "enabled" => c.enable != 0,
            _ => true,
        };
        if keep {
            let t = t.clone();
            out.push(client_view(c, &t, ids));
        }
    }
    Ok(out)
}

/// A query for every client, in id order, with the states judged now by the settings'
/// rules (online window, `expireDiff`, `trafficDiff`); the caller narrows it.
pub async fn client_query(ctl: &Controller) -> Result<ClientQuery> {
    let now = now_ms();
    let soon = Soon::load(ctl).await?;
    Ok(ClientQuery {
        search: String::new(),
        inbound: None,
        server: None,
        state: None,
        sort: ClientSort::Id,
        descending: false,
        window: None,
        now,
        online_since: now - ONLINE_WINDOW_MS,
        expiring_ms: soon.expire_ms,
        running_out_bytes: soon.traffic_bytes,
    })
}

/// The clients `q` asks for, as shown, and how many match in all. Filtering, order and
/// paging happen in the database; usage and attachments are read for the answer's rows.
pub async fn client_list(ctl: &Controller, q: &ClientQuery) -> Result<(Vec<ClientView>, i64)> {
    let (rows, total) = ctl.store.client_list(q).await?;
    // A page reads its own rows' usage; every client at once reads the whole tables.
    let (usage, pairs) = if q.window.is_some() {
        let emails: Vec<&str> = rows.iter().map(|c| c.email.as_str()).collect();
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        (
            ctl.store.clients_usage(&emails).await?,
            ctl.store.attachments_of(&ids).await?,
        )
    } else {
        (
            ctl.store.client_totals().await?,
            ctl.store.attachments().await?,
        )
    };
    let mut attached: HashMap<i64, Vec<i64>> = HashMap::new();
    for (client, inbound) in pairs {
        attached.entry(client).or_default().push(inbound);
    }
    let empty = ClientTotals::default();
    let views = rows
        .into_iter()
        .map(|c| {
            let ids = attached.remove(&c.id).unwrap_or_default();
            let t = usage.get(&c.email).unwrap_or(&empty);
            client_view(c, t, ids)
        })
        .collect();
    Ok((views, total))
}
