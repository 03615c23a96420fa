//! A client as 3x-ui v3's clients API shows it (`ClientRecord`: the `clients` row, `id` its
//! number and `uuid` the VMess/VLESS key), the detail around it, and client bodies read the
//! way v3 scripts send them (a record read and sent back, or a bare `Client`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::inbound_clients::{client_traffic, ClientTraffic};
use super::v3;
use crate::front::ApiError;
use crate::model::Refusal;
use crate::model::{ClientInput, FieldError};
use crate::store::{ClientRow, ClientTotals};
use crate::Controller;

/// v3's `ClientRecord`. Fields for features xfleet lacks carry v3's values for a client that
/// does not use them (see `compat::v3`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRecord {
    id: i64,
    email: String,
    sub_id: String,
    uuid: String,
    password: String,
    auth: String,
    flow: String,
    security: String,
    reverse: Value,
    private_key: &'static str,
    public_key: &'static str,
    #[serde(rename = "allowedIPs")]
    allowed_ips: &'static str,
    pre_shared_key: &'static str,
    keep_alive: i64,
    secret: &'static str,
    ad_tag: &'static str,
    forwarded_ports: &'static str,
    limit_ip: i64,
    limit_hwid: i64,
    #[serde(rename = "totalGB")]
    total_gb: i64,
    expiry_time: i64,
    enable: bool,
    tg_id: i64,
    group: &'static str,
    comment: String,
    reset: i64,
    reset_day: i64,
    reset_max: i64,
    traffic_reset: &'static str,
    traffic_reset_day: i64,
    created_at: i64,
    updated_at: i64,
}

pub fn record(c: &ClientRow) -> ClientRecord {
    ClientRecord {
        id: c.id,
        email: c.email.clone(),
        sub_id: c.sub_id.clone(),
        uuid: c.uuid.clone(),
        password: c.password.clone(),
        auth: c.auth.clone(),
        flow: c.flow.clone(),
        security: c.security.clone(),
        reverse: Value::Null,
        private_key: "",
        public_key: "",
        allowed_ips: "",
        pre_shared_key: "",
        keep_alive: 0,
        secret: "",
        ad_tag: "",
        forwarded_ports: "",
        limit_ip: c.limit_ip,
        limit_hwid: 0,
        total_gb: c.total_bytes,
        expiry_time: c.expiry_time,
        enable: c.enable != 0,
        tg_id: c.tg_id,
        group: "",
        comment: c.comment.clone(),
        reset: c.reset_days,
        reset_day: 0,
        reset_max: 0,
        traffic_reset: "never",
        traffic_reset_day: 1,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// v3's `get/{email}` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientDetail {
    client: ClientRecord,
    inbound_ids: Vec<i64>,
    /// Third-party links merged into the subscription: xfleet has none.
    external_links: Vec<Value>,
    used_traffic: i64,
}

pub async fn detail(ctl: &Controller, c: &ClientRow) -> Result<ClientDetail, ApiError> {
    let inbound_ids = ctl
        .store
        .inbounds_of_client(c.id)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let t = ctl.store.client_total(&c.email).await?;
    Ok(ClientDetail {
        client: record(c),
        inbound_ids,
        external_links: Vec::new(),
        used_traffic: t.up + t.down,
    })
}

/// A row of v3's `list`: the record's fields, where it is attached, its counters.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedClient {
    #[serde(flatten)]
    client: ClientRecord,
    inbound_ids: Vec<i64>,
    traffic: ClientTraffic,
}

/// Every client (those in `only`, when given) with its attachments and counters, in id order.
pub async fn listed(ctl: &Controller, only: Option<&[i64]>) -> Result<Vec<ListedClient>, ApiError> {
    let totals = ctl.store.client_totals().await?;
    let mut attached: HashMap<i64, Vec<i64>> = HashMap::new();
    for (client, inbound) in ctl.store.attachments().await? {
        attached.entry(client).or_default().push(inbound);
    }
    let empty = ClientTotals::default();
    let mut out = Vec::new();
    for c in ctl.store.all_clients().await? {
        if only.is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        let mut inbound_ids = attached.remove(&c.id).unwrap_or_default();
        inbound_ids.sort_unstable();
        let first = inbound_ids.first().copied().unwrap_or(0);
        let traffic = client_traffic(&c, first, totals.get(&c.email).unwrap_or(&empty));
        out.push(ListedClient {
            client: record(&c),
            inbound_ids,
            traffic,
        });
    }
    out.sort_by_key(|l| l.client.id);
    Ok(out)
}

/// A client body as v3 scripts send it: a `Client` (`id` is the UUID) or a `ClientRecord`
/// read and sent back (`id` is the row's number, `uuid` the UUID). v3's fields for features
/// xfleet lacks must keep their unused values; `at` prefixes field names in errors.
pub fn client_input(body: Value, at: &str) -> Result<ClientInput, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::BadRequest(
            Refusal::new(
                "err.not_client_object",
                &[("field", at.trim_end_matches('.').to_string())],
            )
            .into(),
        ));
    };
    if fields.get("id").is_some_and(|id| !id.is_string()) {
        fields.remove("id");
    }
    if let Some(uuid) = fields.remove("uuid").filter(Value::is_string) {
        fields.entry("id").or_insert(uuid);
    }
    let body = Value::Object(fields);
    let extras: v3::ClientRequest = serde_json::from_value(body.clone()).unwrap_or_default();
    v3::refuse(extras.problems(at))?;
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            at.trim_end_matches('.').to_owned()
        } else {
            format!("{at}{path}")
        };
        let field = if field.is_empty() {
            "client".to_owned()
        } else {
            field
        };
        ApiError::Invalid(vec![FieldError::new(field, e.into_inner().to_string())])
    })
}

/// `{client, inboundIds}`, the shape of `add`, `bulkCreate` and `export`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientWithInbounds {
    #[serde(default)]
    pub client: Value,
    #[serde(default, deserialize_with = "super::de::ids")]
    pub inbound_ids: Vec<i64>,
}

/// The export entry of a client: its record and where it is attached.
pub fn exported(listed: ListedClient) -> Value {
    json!({"client": listed.client, "inboundIds": listed.inbound_ids})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_input_keep_the_uuid() {
        let input = client_input(
            json!({"id": 7, "uuid": "0a8c7e34-2b54-4c1c-9c2f-3e5b0f1d2a01", "email": "a",
                   "group": "", "limitHwid": 0, "trafficReset": "never", "reverse": null}),
            "",
        )
        .unwrap();
        assert_eq!(
            input.id.as_deref(),
            Some("0a8c7e34-2b54-4c1c-9c2f-3e5b0f1d2a01")
        );
        let bare = client_input(json!({"id": "x-uuid", "email": "b"}), "").unwrap();
        assert_eq!(bare.id.as_deref(), Some("x-uuid"));
        let refused = client_input(json!({"email": "c", "group": "vip"}), "client.")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("client.group"), "{refused}");
        let wrong = client_input(json!({"email": 5}), "client.")
            .unwrap_err()
            .to_string();
        assert!(wrong.starts_with("client.email: invalid type"), "{wrong}");
    }
}
