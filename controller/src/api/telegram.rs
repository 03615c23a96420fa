//! `/api/v1/telegram`: the bot's state as the settings page shows it (running, or why not, in
//! Telegram's words), and sending the backup to its admins now.

use serde_json::{json, Value};

use crate::front::{ok, ApiError, ApiResult, Audit, Call};
use crate::telegram::{self, BotSettings};

pub(super) async fn status(call: Call) -> ApiResult<Value> {
    let settings = BotSettings::read(&call.ctl.store).await?;
    let status = telegram::status(&call.ctl.store).await?;
    // A status written while the bot was on says nothing once it is off.
    let status = if settings.wanted() { status } else { None };
    ok(json!({
        "enabled": settings.enable,
        "token_set": !settings.token.is_empty(),
        "admins": settings.admins,
        "status": status,
    }))
}

pub(super) async fn send_backup(call: Call) -> ApiResult<Value> {
    if call.actor.scope != "admin" {
        return Err(ApiError::Forbidden(
            "only an admin can send the backup: it holds every secret".into(),
        ));
    }
    let ctl = call.ctl.clone();
    let audit = Audit::new("database.telegram", "database");
    let sent = call
        .audited(audit, async {
            telegram::send_backup(&ctl.store, &ctl.config.data_dir)
                .await
                .map_err(ApiError::Upstream)
        })
        .await?;
    ok(json!({ "sent_to": sent }))
}
