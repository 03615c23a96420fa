//! `getPanelUpdateInfo` and `updatePanel`: 3x-ui updates itself from GitHub; xfleet is
//! updated by replacing its package or binary and restarting it, and the controller does not
//! look releases up. The answers say so rather than invent a latest version.

use axum::Json;
use serde_json::json;

use crate::compat::XuiCall;
use crate::front::{done, failed, Msg};

const HOW: &str = "xfleet is updated with its package or binary, not from the panel: install \
    the new `xfleet` on the controller's host and restart it (systemctl restart xfleet), and \
    the new `xfleet-agent` on each VPN host";

/// The running version; the latest is unknown here, so it is empty and no update is
/// offered.
pub async fn info(_: XuiCall) -> Json<Msg> {
    done(
        format!("xfleet does not look up releases, so the latest version is unknown; {HOW}"),
        json!({
            "currentVersion": xfleet_common::VERSION,
            "latestVersion": "",
            "updateAvailable": false,
        }),
    )
}

pub async fn update(_: XuiCall) -> Json<Msg> {
    failed("Panel not updated", HOW)
}
