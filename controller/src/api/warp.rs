//! `/api/v1/core/warp…`: the fleet's Cloudflare WARP device (`crate::model::warp`). Answers
//! show the device id, license and public key; the private key and access token stay in the
//! setting, and leave it only inside the WireGuard outbound they are needed for.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use axum::body::Bytes;

use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::warp::{self, WarpView};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    /// A WireGuard private key (base64); absent: a pair is made here.
    #[serde(default, alias = "privateKey")]
    private_key: Option<String>,
    /// Its public key, checked against it when sent.
    #[serde(default, alias = "publicKey")]
    public_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LicenseBody {
    license: String,
}

#[derive(Serialize)]
pub(super) struct Registration {
    #[serde(flatten)]
    view: WarpView,
    /// The device as the account API described it (without its token).
    device: Value,
}

#[derive(Serialize)]
pub(super) struct Outbound {
    outbound: Value,
    note: &'static str,
}

pub(super) async fn get_one(call: Call) -> ApiResult<WarpView> {
    let data = warp::stored(&call.ctl).await?;
    ok(WarpView::of(data.as_ref()))
}

/// Registers a device; a registration already stored is refused (409) until deleted. The
/// body may be empty (a key pair is made here).
pub(super) async fn register(call: Call, body: Bytes) -> ApiResult<Registration> {
    let body: RegisterBody = if body.iter().all(u8::is_ascii_whitespace) {
        RegisterBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string().into()))?
    };
    let result = warp::register(
        &call.ctl,
        body.private_key.as_deref(),
        body.public_key.as_deref(),
    )
    .await;
    let device = result.as_ref().ok().map(|r| r.data.device_id.clone());
    let audit = Audit::new("warp.register", "warp").with(json!({ "device": device }));
    call.answer(audit, async {
        let r = result?;
        Ok(Registration {
            view: WarpView::of(Some(&r.data)),
            device: warp::without_token(r.device),
        })
    })
    .await
}

pub(super) async fn set_license(
    call: Call,
    JsonBody(body): JsonBody<LicenseBody>,
) -> ApiResult<WarpView> {
    call.answer(Audit::new("warp.license", "warp"), async {
        let data = warp::set_license(&call.ctl, &body.license).await?;
        Ok(WarpView::of(Some(&data)))
    })
    .await
}

/// The device as the account API describes it now.
pub(super) async fn config(call: Call) -> ApiResult<Value> {
    ok(warp::without_token(warp::device(&call.ctl).await?))
}

/// Xray's `wireguard` outbound for the device, to put in a core template.
pub(super) async fn outbound(call: Call) -> ApiResult<Outbound> {
    ok(Outbound {
        outbound: warp::outbound(&call.ctl).await?,
        note: warp::V2RAY_NOTE,
    })
}

pub(super) async fn remove(call: Call) -> ApiResult<WarpView> {
    call.answer(Audit::new("warp.delete", "warp"), async {
        warp::delete(&call.ctl).await?;
        Ok(WarpView::of(None))
    })
    .await
}
