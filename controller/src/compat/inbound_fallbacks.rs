//! `/panel/api/inbounds/{id}/fallbacks`: v3 keeps a VLESS/Trojan inbound's fallbacks as rows
//! pointing at child inbounds; xfleet keeps them where Xray reads them, in the inbound's
//! `settings.fallbacks`. Reading lists those entries as v3's rows (the child is the inbound
//! of the same server listening on the entry's port, when there is one); writing replaces
//! them, a child given by id becoming its port as the `dest`.

use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::inbounds::input_of;
use super::{de, reply, Body, Msg, XuiCall};
use crate::front::{ApiError, Audit};
use crate::model::{self, FieldError};
use crate::store::InboundRow;
use crate::Controller;

/// One fallback as v3's `InboundFallback`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct FallbackRow {
    /// Its position, from 1 (the entries have no other identity).
    id: i64,
    master_id: i64,
    /// The inbound that receives the traffic, 0 when `dest` is not one of the server's.
    child_id: i64,
    name: String,
    alpn: String,
    path: String,
    dest: String,
    xver: i64,
    sort_order: i64,
}

/// The fallbacks of `master`, with the server's inbounds to find children among.
fn rows_of(master: &InboundRow, siblings: &[InboundRow]) -> Vec<FallbackRow> {
    let settings: Value = serde_json::from_str(&master.settings).unwrap_or_default();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    settings["fallbacks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let dest = text(&f["dest"]);
            FallbackRow {
                id: i as i64 + 1,
                master_id: master.id,
                child_id: child_of(&dest, siblings),
                name: text(&f["name"]),
                alpn: text(&f["alpn"]),
                path: text(&f["path"]),
                xver: f["xver"].as_i64().unwrap_or(0),
                sort_order: i as i64,
                dest,
            }
        })
        .collect()
}

/// The inbound a `dest` leads to: a port (or a loopback `host:port`) one of them listens on.
fn child_of(dest: &str, siblings: &[InboundRow]) -> i64 {
    let port = match dest.rsplit_once(':') {
        Some(("127.0.0.1" | "localhost" | "[::1]", port)) => port,
        Some(_) => return 0,
        None => dest,
    };
    let Ok(port) = port.trim().parse::<i64>() else {
        return 0;
    };
    siblings.iter().find(|s| s.port == port).map_or(0, |s| s.id)
}

async fn siblings(ctl: &Controller, master: &InboundRow) -> Result<Vec<InboundRow>, ApiError> {
    Ok(ctl.store.inbounds_of(master.server_id).await?)
}

pub(super) async fn list(XuiCall(call): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let ctl = &call.ctl;
    let result = async {
        let master = ctl.store.inbound(id).await?;
        Ok::<_, ApiError>(rows_of(&master, &siblings(ctl, &master).await?))
    }
    .await;
    reply("", result)
}

/// v3's `FallbackInput`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FallbackInput {
    #[serde(default, deserialize_with = "de::int")]
    child_id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    alpn: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    dest: String,
    #[serde(default, deserialize_with = "de::int")]
    xver: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct FallbacksBody {
    #[serde(default)]
    fallbacks: Vec<FallbackInput>,
}

/// The `settings.fallbacks` entries the body asks for; a child must be an inbound of the
/// same server.
fn entries(body: &FallbacksBody, siblings: &[InboundRow]) -> Result<Vec<Value>, ApiError> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (i, f) in body.fallbacks.iter().enumerate() {
        let dest = if !f.dest.trim().is_empty() {
            Value::from(f.dest.trim())
        } else if let Some(child) = siblings.iter().find(|s| s.id == f.child_id) {
            Value::from(child.port)
        } else {
            problems.push(FieldError::said(
                format!("fallbacks[{i}].childId"),
                "err.fallback_child",
                &[("id", f.child_id.to_string())],
            ));
            continue;
        };
        let mut entry = Map::new();
        for (key, value) in [("name", &f.name), ("alpn", &f.alpn), ("path", &f.path)] {
            if !value.is_empty() {
                entry.insert(key.into(), json!(value));
            }
        }
        entry.insert("dest".into(), dest);
        entry.insert("xver".into(), json!(f.xver));
        out.push(Value::Object(entry));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// Replaces the fallbacks; the inbound is checked and pushed like any other change.
pub(super) async fn replace(
    XuiCall(call): XuiCall,
    Path(id): Path<i64>,
    Body(body): Body<FallbacksBody>,
) -> Json<Msg> {
    let ctl = &call.ctl;
    let audit = Audit::new("inbound.update", format!("inbound:{id}"))
        .with(json!({"fallbacks": body.fallbacks.len()}));
    let said = ("Inbound updated", "Failed to update the inbound");
    call.reply_as(audit, said, async {
        let master = ctl.store.inbound(id).await?;
        let fallbacks = entries(&body, &siblings(ctl, &master).await?)?;
        let mut settings: Map<String, Value> =
            serde_json::from_str(&master.settings).unwrap_or_default();
        settings.insert("fallbacks".into(), Value::Array(fallbacks));
        let input = input_of(&master, settings);
        model::update_inbound(ctl, call.who(), id, &input).await?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(id: i64, port: i64, settings: Value) -> InboundRow {
        InboundRow {
            id,
            server_id: 1,
            remark: String::new(),
            enable: 1,
            listen: String::new(),
            port,
            protocol: "vless".into(),
            settings: settings.to_string(),
            stream_settings: "{}".into(),
            sniffing: "{}".into(),
            tag: format!("inbound-{port}"),
            total: 0,
            expiry_time: 0,
            traffic_reset: "never".into(),
            last_traffic_reset_time: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn settings_fallbacks_read_as_v3_rows_and_children_become_ports() {
        let master = inbound(
            1,
            443,
            json!({"fallbacks": [{"dest": 8080, "path": "/ws", "xver": 1},
                                 {"dest": "127.0.0.1:9000"}, {"dest": "example.com:80"}]}),
        );
        let child = inbound(2, 8080, json!({}));
        let other = inbound(3, 9000, json!({}));
        let all = [master.clone(), child, other];
        let rows = rows_of(&master, &all);
        let ids: Vec<(i64, i64, &str)> = rows
            .iter()
            .map(|r| (r.id, r.child_id, r.dest.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                (1, 2, "8080"),
                (2, 3, "127.0.0.1:9000"),
                (3, 0, "example.com:80")
            ]
        );
        assert_eq!((rows[0].path.as_str(), rows[0].xver), ("/ws", 1));

        let body: FallbacksBody = serde_json::from_value(json!({"fallbacks": [
            {"childId": 2, "path": "/ws", "xver": 0}, {"childId": 0, "dest": "@vless-ws"}]}))
        .unwrap();
        assert_eq!(
            entries(&body, &all).unwrap(),
            [
                json!({"path": "/ws", "dest": 8080, "xver": 0}),
                json!({"dest": "@vless-ws", "xver": 0})
            ]
        );
        let bad: FallbacksBody =
            serde_json::from_value(json!({"fallbacks": [{"childId": 77}]})).unwrap();
        let err = entries(&bad, &all).unwrap_err().to_string();
        assert!(err.contains("fallbacks[0].childId"), "{err}");
    }
}
