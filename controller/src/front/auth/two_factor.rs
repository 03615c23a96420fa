//! Two-factor codes against a user's stored secret: what a login checks, and what turning
//! the second factor on and off (the native API) checks.

use xfleet_common::time::now_ms;

use super::totp;
use crate::front::ApiError;
use crate::store::TotpState;
use crate::Controller;

/// Seconds since the epoch, the clock of the codes.
pub fn now_secs() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// A stored secret (base32) as the key bytes.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, ApiError> {
    totp::base32_decode(secret)
        .ok_or_else(|| ApiError::Internal("a stored two-factor secret is not base32".into()))
}

/// Checks a login code against the user's active secret and, if it matches a step not used
/// before, marks that step used. `false` for a wrong or replayed code.
pub async fn accept_code(
    ctl: &Controller,
    user_id: i64,
    state: &TotpState,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(secret) = &state.secret else {
        return Ok(false);
    };
    let last = u64::try_from(state.last_step).unwrap_or(0);
    let Some(step) = totp::verify(&secret_bytes(secret)?, code, now_secs(), last) else {
        return Ok(false);
    };
    // The conditional update refuses a step another request used meanwhile.
    Ok(ctl.store.use_totp_step(user_id, step as i64).await?)
}
