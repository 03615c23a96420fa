//! Telegram, below the bot: what the `tgBot*` settings ask for, the Bot API client they make
//! (teloxide's, through `tgBotProxy` to `tgBotAPIServer`), sending within Telegram's limits
//! (4,096 characters, `retry_after`, network errors retried with backoff), the bot's state
//! as the settings page shows it, and the backup document. The bot front end (`bot`) and
//! 3x-ui's `backuptotgbot` route send through it.

mod client;
pub mod document;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use xfleet_common::time::now_ms;

pub use client::{Keyboard, SendError, Telegram, MAX_TEXT};
pub use document::{backup_document, send_backup, send_backup_with, Document};

use crate::i18n::{self, Language};
use crate::store::{Result, Store};

/// Not a form setting: the bot's state as its controller last wrote it ([`Status`]).
pub const STATUS: &str = "tgBotStatus";
/// xfleet's own setting: seconds a server stays offline before the admins hear of it.
pub const OFFLINE_GRACE: &str = "tgOfflineGrace";
/// The events `tgEnabledEvents` may name: 3x-ui v3's, and the fleet's own.
pub const EVENTS: &[&str] = &[
    LOGIN,
    CPU_HIGH,
    MEMORY_HIGH,
    NODE_DOWN,
    NODE_UP,
    CORE_CRASH,
    CERT_FAILED,
    TASK_FAILED,
];
/// 3x-ui v3's events xfleet has no source for (its outbound observatory): accepted in
/// `tgEnabledEvents`, so an imported value stays valid, and never sent.
pub const EVENTS_WITHOUT_SOURCE: &[&str] = &["outbound.down", "outbound.up"];
pub const LOGIN: &str = "login.attempt";
pub const CPU_HIGH: &str = "cpu.high";
pub const MEMORY_HIGH: &str = "memory.high";
pub const NODE_DOWN: &str = "node.down";
pub const NODE_UP: &str = "node.up";
pub const CORE_CRASH: &str = "xray.crash";
pub const CERT_FAILED: &str = "cert.failed";
pub const TASK_FAILED: &str = "task.failed";
/// `tgEnabledEvents` when it was never set: every event.
pub const DEFAULT_EVENTS: &str =
    "login.attempt,cpu.high,memory.high,node.down,node.up,xray.crash,cert.failed,task.failed";

/// The `tgBot*` settings, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSettings {
    pub enable: bool,
    pub token: String,
    /// `socks5://…`, `socks5h://…`, `http://…` or `https://…`; empty: none.
    pub proxy: String,
    /// The Bot API server's base URL; empty: Telegram's.
    pub api_server: String,
    /// Admins' chat ids (`tgBotChatId`, comma separated).
    pub admins: Vec<i64>,
    pub lang: &'static str,
    pub run_time: String,
    pub backup: bool,
    pub login_notify: bool,
    /// Percent; 0: no alarm.
    pub cpu: u8,
    pub memory: u8,
    pub events: BTreeSet<String>,
    pub offline_grace_s: i64,
    /// Days and GB before a client's limits at which the report warns (`expireDiff`,
    /// `trafficDiff`).
    pub expire_diff_days: i64,
    pub traffic_diff_gb: i64,
    /// `timeLocation`: the zone of the report's schedule and of the times in notices.
    pub time_location: String,
}

impl BotSettings {
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        let flag = |k: &str, default: bool| match get(k).as_str() {
            "" => default,
            v => v == "true",
        };
        let number = |k: &str, default: i64| get(k).parse::<i64>().unwrap_or(default);
        let events = match map.get("tgEnabledEvents") {
            Some(v) => v.as_str(),
            None => DEFAULT_EVENTS,
        };
        Self {
            enable: flag("tgBotEnable", false),
            token: get("tgBotToken"),
            proxy: get("tgBotProxy"),
            api_server: get("tgBotAPIServer"),
            admins: chat_ids(&get("tgBotChatId")),
            lang: language(&get("tgLang")).code,
            run_time: match get("tgRunTime") {
                t if t.is_empty() => "@daily".into(),
                t => t,
            },
            backup: flag("tgBotBackup", false),
            login_notify: flag("tgBotLoginNotify", true),
            cpu: number("tgCpu", 80).clamp(0, 100) as u8,
            memory: number("tgMemory", 80).clamp(0, 100) as u8,
            events: events
                .split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect(),
            offline_grace_s: number(OFFLINE_GRACE, 60).max(0),
            expire_diff_days: number("expireDiff", 0).max(0),
            traffic_diff_gb: number("trafficDiff", 0).max(0),
            time_location: get("timeLocation"),
        }
    }

    pub async fn read(store: &Store) -> Result<Self> {
        Ok(Self::from_map(&store.settings().await?))
    }

    /// A bot to run: enabled, with a token.
    pub fn wanted(&self) -> bool {
        self.enable && !self.token.is_empty()
    }

    /// What the connection to Telegram is made of: a change restarts the bot.
    pub fn connection(&self) -> (String, String, String) {
        (
            self.token.clone(),
            self.proxy.clone(),
            self.api_server.clone(),
        )
    }

    pub fn is_admin(&self, id: i64) -> bool {
        self.admins.contains(&id)
    }

    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(event)
    }

    pub fn language(&self) -> &'static Language {
        language(self.lang)
    }
}

/// The chat ids of `tgBotChatId`: numbers separated by commas or spaces; anything else is
/// left out (the settings check refuses it when it is set).
pub fn chat_ids(text: &str) -> Vec<i64> {
    text.split([',', ' '])
        .filter_map(|s| s.trim().parse::<i64>().ok())
        .collect()
}

/// The bot's language for `tgLang` (3x-ui's `en-US`, `fa-IR`, `ru-RU`, `zh-CN`, `vi-VN`, …,
/// or our own codes): the first part decides; English for the rest.
pub fn language(code: &str) -> &'static Language {
    let primary = code.split(['-', '_']).next().unwrap_or("");
    i18n::LANGUAGES
        .iter()
        .find(|l| l.code.eq_ignore_ascii_case(primary))
        .unwrap_or(&i18n::LANGUAGES[0])
}

/// The bot as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `off`, `starting`, `running` or `failed`.
    pub state: String,
    /// The bot's own user name, once Telegram has said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Why it is not running, in Telegram's or the network's words (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The controller running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    pub at: i64,
}

impl Status {
    pub fn new(state: &str, controller: &str) -> Self {
        Self {
            state: state.into(),
            username: None,
            error: None,
            controller: Some(controller.into()),
            at: now_ms(),
        }
    }
}

/// A test message to every admin, through the saved settings (3x-ui's `testTgBot`); how many
/// got it, or why none did.
pub async fn send_test(store: &Store) -> std::result::Result<usize, String> {
    let settings = BotSettings::read(store).await.map_err(|e| e.to_string())?;
    if settings.token.is_empty() {
        return Err("no bot token is set (tgBotToken)".into());
    }
    if settings.admins.is_empty() {
        return Err("the bot has no admins (tgBotChatId)".into());
    }
    let telegram = Telegram::new(&settings).map_err(|e| e.to_string())?;
    let text = settings.language().bot_text("test.message");
    to_admins(&settings, |chat| {
        let telegram = &telegram;
        async move { telegram.send_text(chat, text, None).await.map(drop) }
    })
    .await
}

/// Sends something to every admin; how many got it, or the last refusal when none did.
pub async fn to_admins<F, Fut>(
    settings: &BotSettings,
    send: F,
) -> std::result::Result<usize, String>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), SendError>>,
{
    let mut sent = 0;
    let mut last_error = String::new();
    for chat in &settings.admins {
        match send(*chat).await {
            Ok(()) => sent += 1,
            Err(e) => {
                tracing::warn!(chat, error = %e, "a message to an admin was not delivered");
                last_error = e.to_string();
            }
        }
    }
    if sent == 0 {
        return Err(last_error);
    }
    Ok(sent)
}

pub async fn status(store: &Store) -> Result<Option<Status>> {
    Ok(store
        .setting(STATUS)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// Records the bot's state when it changed (a message or a state), so the page is current
/// without a write per poll.
pub async fn set_status(store: &Store, status: &Status) -> Result<()> {
    if let Some(old) = self::status(store).await? {
        if old.state == status.state
            && old.username == status.username
            && old.error == status.error
            && old.controller == status.controller
        {
            return Ok(());
        }
    }
    let text = serde_json::to_string(status).unwrap_or_default();
    store.set_setting(STATUS, &text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BotSettings {
        BotSettings::from_map(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn settings_read_as_3x_ui_writes_them() {
        let s = settings(&[
            ("tgBotEnable", "true"),
            ("tgBotToken", " 123:abc "),
            ("tgBotChatId", "11, 22 ,x,33"),
            ("tgLang", "ru-RU"),
            ("tgEnabledEvents", "login.attempt, node.down"),
        ]);
        assert!(s.wanted());
        assert_eq!(s.token, "123:abc");
        assert_eq!(s.admins, vec![11, 22, 33]);
        assert_eq!(s.lang, "ru");
        assert!(s.wants(LOGIN) && s.wants(NODE_DOWN) && !s.wants(NODE_UP));
        assert_eq!(s.offline_grace_s, 60);
        assert_eq!(s.run_time, "@daily");
        // Never set: every event, English, login notices on.
        let d = settings(&[("tgLang", "es-ES")]);
        assert_eq!(d.lang, "en");
        assert!(EVENTS.iter().all(|e| d.wants(e)));
        assert!(d.login_notify && !d.wanted());
    }
}
