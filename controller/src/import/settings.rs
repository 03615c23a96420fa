//! Which 3x-ui settings (its `settings` table, key → string) xfleet keeps, under the same
//! key, for the parts that read them (panel, subscription server, Telegram bot, the WARP
//! device), and why the others are left behind. The core template (`xrayTemplateConfig`) has
//! an import of its own (`super::template`).

use crate::fleet::desired::CORE_TEMPLATE;
use crate::model::warp::{WarpData, SETTING as WARP};

/// What becomes of one 3x-ui setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keep,
    /// `xrayTemplateConfig`: becomes a core template.
    Template,
    Skip(&'static str),
}

/// Panel keys kept as they are.
const PANEL: &[&str] = &[
    "webBasePath",
    "sessionMaxAge",
    "timeLocation",
    "expireDiff",
    "trafficDiff",
    "remarkModel",
    "remarkTemplate",
    "restartXrayOnClientDisable",
    "datepicker",
    "pageSize",
];

/// Telegram keys kept besides the `tgBot*` family.
const TELEGRAM: &[&str] = &[
    "tgRunTime",
    "tgCpu",
    "tgMemory",
    "tgLang",
    "tgEnabledEvents",
];

pub fn fate(key: &str) -> Fate {
    if key == CORE_TEMPLATE {
        return Fate::Template;
    }
    if PANEL.contains(&key)
        || key == WARP
        || TELEGRAM.contains(&key)
        || key.starts_with("sub")
        || key.starts_with("tgBot")
    {
        return Fate::Keep;
    }
    Fate::Skip(match key {
        "webPort" | "webListen" | "webDomain" => {
            "the panel's address is chosen on the Settings page or by `panel_listen` in xfleet.toml; \
             3x-ui's could put the panel on a public address without TLS"
        }
        "webCertFile" | "webKeyFile" => {
            "paths from the old host may not exist here, and a missing file stops the start; \
             set TLS on the Settings page once the files are in place"
        }
        "secret" => "xfleet keeps its own session secret; 3x-ui sessions cannot carry over",
        "twoFactorEnable" | "twoFactorToken" => {
            "set up two-factor login again on the Settings page; 3x-ui's secret is not carried over"
        }
        "panelGuid" | "apiToken" | "devChannelEnable" | "panelOutbound" => {
            "3x-ui's node identity and update channel; xfleet servers enroll with certificates"
        }
        k if k.starts_with("nodeMtls") => {
            "3x-ui's node identity and update channel; xfleet servers enroll with certificates"
        }
        k if k.starts_with("ldap") => "LDAP sync has no counterpart in xfleet",
        k if k.starts_with("smtp") => "e-mail notifications have no counterpart in xfleet",
        "nord" | "pia" => "managed NordVPN/PIA outbounds have no counterpart in xfleet",
        "warpUpdateInterval" => {
            "rotating the WARP address on a schedule has no counterpart in xfleet"
        }
        _ => "no counterpart in xfleet",
    })
}

/// Why a kept setting's value cannot be taken as it is, if it cannot: a WARP registration
/// must be one xfleet can use.
pub fn value_problem(key: &str, value: &str) -> Option<String> {
    if key != WARP {
        return None;
    }
    WarpData::from_setting(value)
        .err()
        .map(|e| format!("it is not a WARP registration xfleet can read: {e}"))
}

/// Whether an empty stored value means "not set" (3x-ui empties `warp` to delete the device).
pub fn empty_is_unset(key: &str) -> bool {
    key == WARP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_panel_and_telegram_keys_are_kept() {
        for key in [
            "subEnable",
            "subPort",
            "subPath",
            "subJsonFragment",
            "subClashEnable",
            "webBasePath",
            "sessionMaxAge",
            "tgBotToken",
            "tgBotChatId",
            "tgRunTime",
            "tgCpu",
            "expireDiff",
            "pageSize",
            "warp",
        ] {
            assert_eq!(fate(key), Fate::Keep, "{key}");
        }
    }

    /// 3x-ui's `warp` blob carries over as it is, and only when it is a registration.
    #[test]
    fn warp_registrations_are_checked() {
        let blob = "{\n  \"access_token\": \"t\",\n  \"device_id\": \"d\",\n  \
                    \"license_key\": \"l\",\n  \"private_key\": \"k\"\n}";
        assert_eq!(value_problem("warp", blob), None);
        assert_eq!(value_problem("warp", ""), None);
        let bad = value_problem("warp", "{not json").unwrap();
        assert!(bad.contains("WARP registration"), "{bad}");
        assert_eq!(value_problem("subPort", "{not json"), None);
    }

    #[test]
    fn the_core_template_has_its_own_import() {
        assert_eq!(fate("xrayTemplateConfig"), Fate::Template);
    }

    #[test]
    fn the_rest_says_why() {
        for (key, word) in [
            ("webCertFile", "TLS"),
            ("webPort", "xfleet.toml"),
            ("secret", "session"),
            ("ldapEnable", "LDAP"),
            ("smtpHost", "e-mail"),
            ("nord", "NordVPN"),
            ("warpUpdateInterval", "WARP address"),
            ("somethingNew", "no counterpart"),
        ] {
            match fate(key) {
                Fate::Skip(reason) => assert!(reason.contains(word), "{key}: {reason}"),
                other => panic!("{key} should be skipped, not {other:?}"),
            }
        }
    }
}
