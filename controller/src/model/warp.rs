//! Cloudflare WARP as a WireGuard outbound, the way 3x-ui's `warp/*` routes do it: a device
//! is registered with WARP's account API under a key pair made here, its credentials are kept
//! in the setting `warp` in 3x-ui's shape (so a 3x-ui database carries it over), and the
//! device's configuration, read back from the API, becomes Xray's `wireguard` outbound.
//!
//! The account API's base URL is `warp_api_url` in the configuration. Nothing is stored unless
//! the API agreed; its refusals come back with its own words. The private key, the access
//! token and the license are secrets: they never reach a log line or an error text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::generate;
use crate::https::client::{self, Answer};
use crate::store::StoreError;
use crate::Controller;

/// The setting holding the registration, as 3x-ui names it.
pub const SETTING: &str = "warp";
/// The client version 3x-ui announces on registration.
const CLIENT_VERSION: &str = "a-7.21-0721";
/// WireGuard over WARP fits in Cloudflare's path with this MTU, as 3x-ui sets it.
const MTU: u16 = 1420;
/// Said with every produced outbound: v2ray 4.x, which some servers run, has none.
pub const V2RAY_NOTE: &str = "a WireGuard outbound needs Xray: v2ray 4.x has no `wireguard` \
                              outbound and refuses a template that uses it";

/// Registration, license change and deletion one at a time, so two registrations at once
/// cannot both pass the "none yet" check.
static CHANGES: Mutex<()> = Mutex::const_new(());

/// The stored registration, field for field as 3x-ui writes its `warp` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarpData {
    pub access_token: String,
    pub device_id: String,
    pub license_key: String,
    pub private_key: String,
}

impl WarpData {
    /// The stored text: 3x-ui's layout (two-space indent, this key order).
    pub fn to_setting(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain strings serialize")
    }

    /// The setting's text as a registration; empty text is none.
    pub fn from_setting(text: &str) -> Result<Option<Self>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let data: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if data.device_id.is_empty() || data.access_token.is_empty() {
            return Err("it has no device_id or no access_token".into());
        }
        Ok(Some(data))
    }
}

/// What an operator may see of a registration without its secrets.
#[derive(Debug, Serialize)]
pub struct WarpView {
    pub registered: bool,
    pub device_id: Option<String>,
    pub license_key: Option<String>,
    /// The device's WireGuard public key, derived from the stored private key.
    pub public_key: Option<String>,
}

impl WarpView {
    pub fn of(data: Option<&WarpData>) -> Self {
        Self {
            registered: data.is_some(),
            device_id: data.map(|d| d.device_id.clone()),
            license_key: data.map(|d| d.license_key.clone()),
            public_key: data.and_then(|d| generate::wireguard_public(&d.private_key)),
        }
    }
}

/// A registration just made: what was stored, and the device as the API described it.
pub struct Registered {
    pub data: WarpData,
    pub device: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum WarpError {
    #[error("no WARP device is registered; register one first")]
    NotRegistered,
    #[error("a WARP device is already registered (device {0}); delete it first")]
    AlreadyRegistered(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the stored WARP registration (setting `warp`) is not readable: {0}")]
    Stored(String),
    #[error("Cloudflare's WARP account API: {0}")]
    Api(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The setting as stored, empty when there is none (3x-ui's `warp/data` answer).
pub async fn stored_text(ctl: &Controller) -> Result<String, WarpError> {
    Ok(ctl.store.setting(SETTING).await?.unwrap_or_default())
}

/// The registration, if there is one.
pub async fn stored(ctl: &Controller) -> Result<Option<WarpData>, WarpError> {
    WarpData::from_setting(&stored_text(ctl).await?).map_err(WarpError::Stored)
}

async fn registered(ctl: &Controller) -> Result<WarpData, WarpError> {
    stored(ctl).await?.ok_or(WarpError::NotRegistered)
}

/// Registers a new device under the caller's key pair (3x-ui's form sends both), or a pair
/// made here, and stores it. A registration already stored is kept: delete it first.
pub async fn register(
    ctl: &Controller,
    private_key: Option<&str>,
    public_key: Option<&str>,
) -> Result<Registered, WarpError> {
    let keys = key_pair(private_key, public_key)?;
    let _one = CHANGES.lock().await;
    if let Some(old) = stored(ctl).await? {
        return Err(WarpError::AlreadyRegistered(old.device_id));
    }
    let body = json!({
        "key": keys.public_key,
        "tos": tos_now(),
        "type": "PC",
        "model": "xfleet",
        "name": host_name(),
    });
    let url = format!("{}/reg", base(ctl));
    let headers = [
        ("CF-Client-Version", CLIENT_VERSION),
        ("Content-Type", "application/json"),
    ];
    let device = call(Method::POST, &url, &headers, Some(body)).await?;
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let (Some(device_id), Some(access_token)) = (text(&device["id"]), text(&device["token"]))
    else {
        return Err(WarpError::Api(
            "the registration answer has no device id or token".into(),
        ));
    };
    let data = WarpData {
        access_token,
        device_id,
        license_key: text(&device["account"]["license"]).unwrap_or_default(),
        private_key: keys.private_key,
    };
    ctl.store.set_setting(SETTING, &data.to_setting()).await?;
    tracing::info!(device = %data.device_id, "WARP device registered");
    Ok(Registered { data, device })
}

/// The device as the account API describes it now (its WireGuard peer and addresses, the
/// account's type and quota).
pub async fn device(ctl: &Controller) -> Result<Value, WarpError> {
    let data = registered(ctl).await?;
    let url = format!("{}/reg/{}", base(ctl), data.device_id);
    let auth = format!("Bearer {}", data.access_token);
    call(Method::GET, &url, &[("Authorization", &auth)], None).await
}

/// Moves the device to a WARP+ license; stored once the API has accepted it.
pub async fn set_license(ctl: &Controller, license: &str) -> Result<WarpData, WarpError> {
    let license = license.trim();
    let well_formed = (8..=64).contains(&license.len())
        && license
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed {
        return Err(WarpError::Invalid(
            "license must be a WARP+ license key (letters, digits and dashes, e.g. \
             xxxxxxxx-xxxxxxxx-xxxxxxxx)"
                .into(),
        ));
    }
    let _one = CHANGES.lock().await;
    let mut data = registered(ctl).await?;
    let url = format!("{}/reg/{}/account", base(ctl), data.device_id);
    let auth = format!("Bearer {}", data.access_token);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    call(
        Method::PUT,
        &url,
        &headers,
        Some(json!({ "license": license })),
    )
    .await?;
    data.license_key = license.to_owned();
    ctl.store.set_setting(SETTING, &data.to_setting()).await?;
    tracing::info!(device = %data.device_id, "WARP license changed");
    Ok(data)
}

/// Forgets the registration (3x-ui empties the setting; the device stays known to
/// Cloudflare). Forgetting none is no error.
pub async fn delete(ctl: &Controller) -> Result<(), WarpError> {
    let _one = CHANGES.lock().await;
    ctl.store.set_setting(SETTING, "").await?;
    Ok(())
}

/// Xray's `wireguard` outbound, tagged `warp`, for the registered device as the account API
/// describes it now.
pub async fn outbound(ctl: &Controller) -> Result<Value, WarpError> {
    let data = registered(ctl).await?;
    let device = device(ctl).await?;
    outbound_of(&data, &device)
}

/// The outbound from the stored secret key and the device's `config`: its interface
/// addresses, its peer, and `reserved` from the client id (what 3x-ui's panel builds).
pub fn outbound_of(data: &WarpData, device: &Value) -> Result<Value, WarpError> {
    let missing = |what: &str| WarpError::Api(format!("the device's configuration has no {what}"));
    let config = &device["config"];
    let peer = &config["peers"][0];
    let peer_key = peer["public_key"]
        .as_str()
        .ok_or_else(|| missing("peer public_key"))?;
    let endpoint = peer["endpoint"]["host"]
        .as_str()
        .ok_or_else(|| missing("peer endpoint host"))?;
    let addresses = &config["interface"]["addresses"];
    let mut address = Vec::new();
    if let Some(v4) = addresses["v4"].as_str().filter(|a| !a.is_empty()) {
        address.push(format!("{v4}/32"));
    }
    if let Some(v6) = addresses["v6"].as_str().filter(|a| !a.is_empty()) {
        address.push(format!("{v6}/128"));
    }
    if address.is_empty() {
        return Err(missing("interface address"));
    }
    let reserved = STANDARD
        .decode(config["client_id"].as_str().unwrap_or_default())
        .map_err(|_| missing("base64 client_id"))?;
    Ok(json!({
        "tag": "warp",
        "protocol": "wireguard",
        "settings": {
            "mtu": MTU,
            "secretKey": data.private_key,
            "address": address,
            "reserved": reserved,
            "domainStrategy": "ForceIP",
            "peers": [{
                "publicKey": peer_key,
                "endpoint": endpoint,
                "allowedIPs": ["0.0.0.0/0", "::/0"],
            }],
        },
    }))
}

/// The device description without its access token, for answers of the native API.
pub fn without_token(mut device: Value) -> Value {
    if let Some(object) = device.as_object_mut() {
        object.remove("token");
    }
    device
}

struct Keys {
    private_key: String,
    public_key: String,
}

/// The caller's key pair, checked to belong together, or a new one.
fn key_pair(private_key: Option<&str>, public_key: Option<&str>) -> Result<Keys, WarpError> {
    match (given(private_key), given(public_key)) {
        (None, None) => {
            let pair = generate::wireguard();
            Ok(Keys {
                private_key: pair.private_key,
                public_key: pair.public_key,
            })
        }
        (None, Some(_)) => Err(WarpError::Invalid(
            "publicKey without privateKey: the outbound needs the private key; send both, or \
             neither to have a pair made"
                .into(),
        )),
        (Some(private), public) => {
            let derived = generate::wireguard_public(private).ok_or_else(|| {
                WarpError::Invalid("privateKey must be a WireGuard key (32 bytes in base64)".into())
            })?;
            if public.is_some_and(|p| p != derived) {
                return Err(WarpError::Invalid(
                    "publicKey is not the public key of privateKey".into(),
                ));
            }
            Ok(Keys {
                private_key: private.to_owned(),
                public_key: derived,
            })
        }
    }
}

fn given(key: Option<&str>) -> Option<&str> {
    key.map(str::trim).filter(|k| !k.is_empty())
}

/// One call to the account API: a JSON answer with a 2xx status, or the API's own reason.
async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<Value, WarpError> {
    let body = body.map(|b| b.to_string().into_bytes());
    let Answer { status, body } = client::send(method, url, headers, body)
        .await
        .map_err(|e| WarpError::Api(e.to_string()))?;
    let answer: Option<Value> = serde_json::from_slice(&body).ok();
    let refused = answer
        .as_ref()
        .is_some_and(|a| a["success"] == Value::Bool(false));
    if (200..300).contains(&status) && !refused {
        return answer
            .filter(Value::is_object)
            .ok_or_else(|| WarpError::Api(format!("{url} answered HTTP {status} without JSON")));
    }
    // Cloudflare's errors: `{"success": false, "errors": [{"code": …, "message": …}]}`.
    let first = answer.as_ref().map(|a| &a["errors"][0]);
    let reason = match first.and_then(|e| e["message"].as_str()) {
        Some(message) => {
            let message: String = message.chars().take(300).collect();
            match first.map(|e| &e["code"]).filter(|c| !c.is_null()) {
                Some(code) => format!(": {message} (code {code})"),
                None => format!(": {message}"),
            }
        }
        None => String::new(),
    };
    Err(WarpError::Api(format!(
        "{url} answered HTTP {status}{reason}"
    )))
}

fn base(ctl: &Controller) -> String {
    ctl.config
        .warp_api_url
        .trim()
        .trim_end_matches('/')
        .to_owned()
}

/// Now in the form the registration's `tos` field takes (`2006-01-02T15:04:05.000Z`).
fn tos_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The device name Cloudflare shows: this host's name, as 3x-ui sends it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "xfleet".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> WarpData {
        WarpData {
            access_token: "token-1".into(),
            device_id: "device-1".into(),
            license_key: "a1b2c3d4-e5f6a7b8-c9d0e1f2".into(),
            private_key: generate::wireguard().private_key,
        }
    }

    /// The stored text is 3x-ui's, so a 3x-ui database and xfleet read each other's.
    #[test]
    fn the_setting_keeps_3x_ui_layout() {
        let d = data();
        let text = d.to_setting();
        assert!(
            text.starts_with("{\n  \"access_token\": \"token-1\",\n  \"device_id\": \"device-1\","),
            "{text}"
        );
        assert_eq!(WarpData::from_setting(&text), Ok(Some(d)));
        assert_eq!(WarpData::from_setting(""), Ok(None));
        assert!(WarpData::from_setting("{\"device_id\": 5}").is_err());
    }

    /// Every field of the outbound comes from the device's configuration or the stored key.
    #[test]
    fn outbound_comes_from_the_device_configuration() {
        let d = data();
        let device = json!({"config": {
            "client_id": "AQID",
            "peers": [{"public_key": "peer=", "endpoint": {"host": "engage.example:2408"}}],
            "interface": {"addresses": {"v4": "172.16.0.2", "v6": "2606:4700::2"}},
        }});
        let o = outbound_of(&d, &device).unwrap();
        assert_eq!(o["tag"], "warp");
        assert_eq!(o["protocol"], "wireguard");
        assert_eq!(o["settings"]["secretKey"], json!(d.private_key));
        assert_eq!(o["settings"]["reserved"], json!([1, 2, 3]));
        assert_eq!(
            o["settings"]["address"],
            json!(["172.16.0.2/32", "2606:4700::2/128"])
        );
        assert_eq!(o["settings"]["peers"][0]["endpoint"], "engage.example:2408");
        let err = outbound_of(&d, &json!({"config": {}})).unwrap_err();
        assert!(err.to_string().contains("peer public_key"), "{err}");
    }

    /// A sent pair must belong together; none sent, one is made.
    #[test]
    fn key_pairs_are_checked_or_made() {
        let pair = generate::wireguard();
        let k = key_pair(Some(&pair.private_key), Some(&pair.public_key)).unwrap();
        assert_eq!(k.public_key, pair.public_key);
        let other = generate::wireguard();
        assert!(key_pair(Some(&pair.private_key), Some(&other.public_key)).is_err());
        assert!(key_pair(None, Some(&pair.public_key)).is_err());
        assert!(key_pair(Some("not a key"), None).is_err());
        let made = key_pair(None, Some("")).unwrap();
        assert_eq!(
            generate::wireguard_public(&made.private_key),
            Some(made.public_key)
        );
    }

    /// The terms-of-service time has the API's layout.
    #[test]
    fn tos_is_in_the_api_format() {
        let t = tos_now();
        assert_eq!((t.len(), &t[10..11], &t[23..]), (24, "T", "Z"), "{t}");
    }
}
