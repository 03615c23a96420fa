//! v3's inbound routes that act on many things at once: `bulkDel` (several inbounds, each
//! failure reported by id while the rest go ahead) and `{id}/delAllClients` (every client of
//! one inbound, in one change).

use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::inbounds::input_of;
use super::{de, Body, Msg, XuiCall};
use crate::front::{ApiError, Audit};
use crate::model;
use crate::model::Refusal;

#[derive(Deserialize)]
pub(super) struct IdsBody {
    #[serde(default, deserialize_with = "de::ids")]
    ids: Vec<i64>,
}

#[derive(Serialize)]
struct Skipped {
    id: i64,
    reason: String,
}

#[derive(Serialize)]
struct Deleted {
    deleted: usize,
    skipped: Vec<Skipped>,
}

/// `bulkDel`: deletes each inbound (with the clients attached nowhere else, as `del/{id}`).
pub(super) async fn bulk_del(XuiCall(call): XuiCall, Body(body): Body<IdsBody>) -> Json<Msg> {
    // A list past the cap is refused; its entry records how long it was, not every id.
    let ids = if body.ids.len() > model::MAX_INBOUNDS_PER_CALL {
        json!({"count": body.ids.len()})
    } else {
        json!({"ids": body.ids})
    };
    let audit = Audit::new("inbound.delete", "inbounds").with(ids);
    let said = ("Inbounds deleted", "Failed to delete the inbounds");
    call.reply_as(audit, said, async {
        if body.ids.is_empty() {
            return Err(ApiError::BadRequest(
                Refusal::new("err.name_an_inbound", &[]).into(),
            ));
        }
        if body.ids.len() > model::MAX_INBOUNDS_PER_CALL {
            return Err(ApiError::BadRequest(
                Refusal::new(
                    "err.too_many_inbounds",
                    &[
                        ("n", body.ids.len().to_string()),
                        ("max", model::MAX_INBOUNDS_PER_CALL.to_string()),
                    ],
                )
                .into(),
            ));
        }
        let mut out = Deleted {
            deleted: 0,
            skipped: Vec::new(),
        };
        for id in &body.ids {
            match model::delete_inbound(&call.ctl, call.who(), *id, true).await {
                Ok(_) => out.deleted += 1,
                Err(e) => out.skipped.push(Skipped {
                    id: *id,
                    reason: ApiError::from(e).to_string(),
                }),
            }
        }
        Ok(out)
    })
    .await
}

/// `{id}/delAllClients`: the inbound keeps no client. Each leaves this inbound; one attached
/// nowhere else is deleted, one also attached elsewhere (another inbound, another server)
/// keeps those.
pub(super) async fn del_all_clients(XuiCall(call): XuiCall, Path(id): Path<i64>) -> Json<Msg> {
    let ctl = &call.ctl;
    let audit = Audit::new("client.remove", format!("inbound:{id}")).with(json!({"all": true}));
    let said = ("Clients deleted", "Failed to delete the clients");
    call.reply_as(audit, said, async {
        let row = ctl.store.inbound(id).await?;
        let count = ctl.store.clients_of_inbound(id).await?.len();
        if count > 0 {
            let mut settings: Map<String, Value> =
                serde_json::from_str(&row.settings).unwrap_or_default();
            settings.insert("clients".into(), Value::Array(Vec::new()));
            model::update_inbound(ctl, call.who(), id, &input_of(&row, settings)).await?;
        }
        Ok(json!({ "deleted": count }))
    })
    .await
}
