//! 3x-ui's `POST /warp/{action}` under the Xray template routes (v2 `/panel/xray`, v3
//! `/panel/api/xray`): Cloudflare WARP registration for the fleet (`crate::model::warp`).
//! Answers as 3x-ui's panel reads them: `obj` is a JSON text (`data` the stored setting, `reg`
//! `{data, config}`, `config` the device, `license` the stored setting after the change).

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Body, Msg, XuiCall};
use crate::front::{failed, reply_as, ApiError, Audit, Call};
use crate::model::warp;
use crate::Controller;

pub fn routes() -> Router<Arc<Controller>> {
    Router::new().route("/warp/{action}", post(action))
}

/// The form fields of 3x-ui's WARP dialog.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WarpForm {
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    license: String,
}

async fn action(
    XuiCall(call): XuiCall,
    Path(action): Path<String>,
    Body(form): Body<WarpForm>,
) -> Json<Msg> {
    match action.as_str() {
        "data" => reply_as("", "Reading WARP data failed", data(&call).await),
        "config" => reply_as(
            "",
            "Reading the WARP configuration failed",
            config(&call).await,
        ),
        "reg" => register(&call, form).await,
        "license" => license(&call, form).await,
        "del" => {
            let audit = Audit::new("warp.delete", "warp");
            call.reply_as(audit, ("", "Deleting WARP data failed"), async {
                warp::delete(&call.ctl).await?;
                Ok("")
            })
            .await
        }
        other => failed(
            "Unknown WARP action",
            format!("`{other}`: data, del, config, reg or license"),
        ),
    }
}

async fn data(call: &Call) -> Result<String, ApiError> {
    Ok(warp::stored_text(&call.ctl).await?)
}

async fn config(call: &Call) -> Result<String, ApiError> {
    Ok(warp::device(&call.ctl).await?.to_string())
}

/// Registers with the dialog's key pair; answers `{data, config}` as 3x-ui does. The audit
/// entry names the device only.
async fn register(call: &Call, form: WarpForm) -> Json<Msg> {
    let result = warp::register(
        &call.ctl,
        form.private_key.as_deref(),
        form.public_key.as_deref(),
    )
    .await
    .map_err(ApiError::from);
    let device = result.as_ref().ok().map(|r| r.data.device_id.clone());
    let audit = Audit::new("warp.register", "warp").with(json!({ "device": device }));
    let answer = call.audited(audit, async { result }).await.map(|r| {
        let both = json!({"data": r.data, "config": r.device});
        serde_json::to_string_pretty(&both).expect("JSON values serialize")
    });
    reply_as("", "WARP registration failed", answer)
}

async fn license(call: &Call, form: WarpForm) -> Json<Msg> {
    let audit = Audit::new("warp.license", "warp");
    call.reply_as(audit, ("", "Changing the WARP license failed"), async {
        Ok(warp::set_license(&call.ctl, &form.license)
            .await?
            .to_setting())
    })
    .await
}
