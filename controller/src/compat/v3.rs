//! The fields 3x-ui v3 added to inbounds and clients for features xfleet does not have
//! (subscription ordering, share addresses, node placement, client groups, device limits,
//! MTProto, per-client resets, WireGuard peers as clients). Answers carry them with the value
//! a v3 panel gives when the feature is unused, so v3's typed clients can read them; requests
//! may send them back unchanged, and any other value is refused by name, never dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::front::ApiError;
use crate::model::FieldError;

/// v3's inbound fields, as a v3 panel answers them for an inbound on its own core.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundFields {
    /// Subscription links follow inbound ids; there is no other order to report.
    pub sub_sort_index: i64,
    /// A monthly reset happens on the 1st.
    pub traffic_reset_day: i64,
    /// Links use the server's address (its public address, else its host name).
    pub share_addr_strategy: &'static str,
    pub share_addr: &'static str,
    pub disable_flow: bool,
}

pub const INBOUND_FIELDS: InboundFields = InboundFields {
    sub_sort_index: 1,
    traffic_reset_day: 1,
    share_addr_strategy: "node",
    share_addr: "",
    disable_flow: false,
};

/// v3's inbound fields as a request may carry them (a v3 script sends back what it read).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundRequest {
    sub_sort_index: Option<Value>,
    traffic_reset_day: Option<Value>,
    share_addr_strategy: Option<Value>,
    share_addr: Option<Value>,
    disable_flow: Option<Value>,
    node_id: Option<Value>,
}

impl InboundRequest {
    /// Each field whose value xfleet cannot honour, with what it does instead.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut p = Vec::new();
        check(
            &mut p,
            "subSortIndex",
            &self.sub_sort_index,
            &[Value::from(0), Value::from(1)],
            "subscriptions list links in inbound order; only 1 is accepted",
        );
        check(
            &mut p,
            "trafficResetDay",
            &self.traffic_reset_day,
            &[Value::from(0), Value::from(1)],
            "monthly traffic resets happen on the 1st of the month; only 1 is accepted",
        );
        check(
            &mut p,
            "shareAddrStrategy",
            &self.share_addr_strategy,
            &[Value::from(""), Value::from("node")],
            "links use the server's public address (set it on the server in the native API); \
             only `node` is accepted",
        );
        check(
            &mut p,
            "shareAddr",
            &self.share_addr,
            &[Value::from("")],
            "links use the server's public address (set it on the server in the native API)",
        );
        check(
            &mut p,
            "disableFlow",
            &self.disable_flow,
            &[Value::Bool(false)],
            "flow is set per client; only false is accepted",
        );
        check(
            &mut p,
            "nodeId",
            &self.node_id,
            &[Value::from(0)],
            "inbounds belong to xfleet servers, not 3x-ui nodes; pick one with ?server_id=",
        );
        p
    }
}

/// v3's client fields a request may carry, beyond those xfleet stores.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRequest {
    group: Option<Value>,
    limit_hwid: Option<Value>,
    ad_tag: Option<Value>,
    secret: Option<Value>,
    reset_day: Option<Value>,
    reset_max: Option<Value>,
    traffic_reset: Option<Value>,
    traffic_reset_day: Option<Value>,
    reverse: Option<Value>,
    private_key: Option<Value>,
    public_key: Option<Value>,
    pre_shared_key: Option<Value>,
    #[serde(rename = "allowedIPs")]
    allowed_ips: Option<Value>,
    keep_alive: Option<Value>,
    forwarded_ports: Option<Value>,
}

impl ClientRequest {
    /// Each field whose value xfleet cannot honour; `at` prefixes the field names.
    pub fn problems(&self, at: &str) -> Vec<FieldError> {
        let mut p = Vec::new();
        let empty = || vec![Value::from("")];
        let zero = || vec![Value::from(0)];
        // Why each is refused: the catalog key of the whole sentence ("`{value}` is not
        // supported: …").
        let wireguard = "err.v3_wireguard";
        let mtproto = "err.v3_mtproto";
        let fields: [(&str, &Option<Value>, Vec<Value>, &'static str); 15] = [
            ("group", &self.group, empty(), "err.v3_group"),
            ("limitHwid", &self.limit_hwid, zero(), "err.v3_hwid"),
            ("adTag", &self.ad_tag, empty(), mtproto),
            ("secret", &self.secret, empty(), mtproto),
            ("resetDay", &self.reset_day, zero(), "err.v3_reset_day"),
            ("resetMax", &self.reset_max, zero(), "err.v3_reset_max"),
            (
                "trafficReset",
                &self.traffic_reset,
                vec![Value::from(""), Value::from("never")],
                "err.v3_traffic_reset",
            ),
            (
                "trafficResetDay",
                &self.traffic_reset_day,
                vec![Value::from(0), Value::from(1)],
                "err.v3_traffic_reset_day",
            ),
            (
                "reverse",
                &self.reverse,
                vec![Value::Null, Value::from("")],
                "err.v3_reverse",
            ),
            ("privateKey", &self.private_key, empty(), wireguard),
            ("publicKey", &self.public_key, empty(), wireguard),
            ("preSharedKey", &self.pre_shared_key, empty(), wireguard),
            (
                "allowedIPs",
                &self.allowed_ips,
                vec![Value::from(""), Value::Array(Vec::new())],
                wireguard,
            ),
            ("keepAlive", &self.keep_alive, zero(), wireguard),
            (
                "forwardedPorts",
                &self.forwarded_ports,
                empty(),
                "err.v3_amnezia",
            ),
        ];
        for (name, value, accepted, why) in fields {
            check(&mut p, &format!("{at}{name}"), value, &accepted, why);
        }
        p
    }
}

/// Adds a problem when `value` was given, is not null and is none of `accepted`.
fn check(
    p: &mut Vec<FieldError>,
    field: &str,
    value: &Option<Value>,
    accepted: &[Value],
    why: &'static str,
) {
    let Some(value) = value else { return };
    if value.is_null() || accepted.iter().any(|a| same(a, value)) {
        return;
    }
    p.push(FieldError::said(
        field,
        why,
        &[("value", value.to_string())],
    ));
}

/// Equal, with numbers compared by value (`1` and `1.0`) and numbers given as strings (forms).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::String(s)) => s.trim().parse::<f64>().ok() == x.as_f64(),
        (Value::Bool(x), Value::String(s)) => s.trim().eq_ignore_ascii_case(&x.to_string()),
        _ => a == b,
    }
}

/// The fields' problems as the one error a request gets, or nothing.
pub fn refuse(problems: Vec<FieldError>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_v3_answers_comes_back_accepted() {
        let answered = serde_json::to_value(&INBOUND_FIELDS).unwrap();
        let back: InboundRequest = serde_json::from_value(answered).unwrap();
        assert!(back.problems().is_empty());
        let client: ClientRequest = serde_json::from_value(json!({
            "group": "", "limitHwid": 0, "adTag": "", "secret": "", "resetDay": 0,
            "resetMax": 0, "trafficReset": "never", "trafficResetDay": 1, "reverse": null,
            "privateKey": "", "publicKey": "", "preSharedKey": "", "allowedIPs": [],
            "keepAlive": 0, "forwardedPorts": ""
        }))
        .unwrap();
        assert!(client.problems("").is_empty());
    }

    #[test]
    fn features_xfleet_lacks_are_refused_by_name() {
        let inbound: InboundRequest = serde_json::from_value(json!({
            "subSortIndex": 3, "shareAddrStrategy": "custom", "shareAddr": "cdn.example",
            "disableFlow": "true", "trafficResetDay": 15, "nodeId": 2
        }))
        .unwrap();
        let fields: Vec<String> = inbound.problems().into_iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            [
                "subSortIndex",
                "trafficResetDay",
                "shareAddrStrategy",
                "shareAddr",
                "disableFlow",
                "nodeId"
            ]
        );
        let client: ClientRequest = serde_json::from_value(
            json!({"group": "vip", "limitHwid": 2, "trafficReset": "daily"}),
        )
        .unwrap();
        let problems = client.problems("client.");
        assert_eq!(problems.len(), 3);
        assert_eq!(problems[0].field, "client.group");
        assert!(
            problems[0].message.contains("no client groups"),
            "{problems:?}"
        );
    }
}
