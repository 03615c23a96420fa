//! The Telegram bot, for the whole fleet (3x-ui's bot, reference §5): long polling through
//! `tgBotProxy` to `tgBotAPIServer`, admins (`tgBotChatId`) and client users (a client's
//! `tgId`), commands, the admin menu and the per-client card, the add-client wizard, links
//! and QR pictures, and the notifications (`notify`).
//!
//! [`run`] watches the settings: enabling, disabling or changing the token, proxy or API
//! server takes effect within seconds, without a restart. With several controllers only the
//! leader runs the bot (Telegram gives updates to one poller). A token Telegram refuses is
//! shown on the settings page (`tgBotStatus`) and in the log, and tried again with a growing
//! pause, never in a tight loop.

mod admin;
mod callback;
mod client_card;
mod notify;
mod report;
mod user;
mod wizard;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide_core::types::{Update, UpdateKind};
use tokio_util::sync::CancellationToken;

use crate::i18n::Language;
use crate::telegram::{self, BotSettings, Keyboard, SendError, Status, Telegram};
use crate::Controller;

/// How often the settings are read for a change.
const WATCH: Duration = Duration::from_secs(2);
/// The longest pause between tries while Telegram refuses or cannot be reached.
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// Keeps the bot running as the settings ask, until shutdown.
pub async fn run(ctl: Arc<Controller>) {
    let mut running: Option<((String, String, String), CancellationToken)> = None;
    loop {
        tokio::select! {
            _ = ctl.shutdown.cancelled() => break,
            _ = tokio::time::sleep(WATCH) => {}
        }
        let settings = match BotSettings::read(&ctl.store).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the bot could not read its settings");
                continue;
            }
        };
        let leader = ctl.cluster.is_leader();
        let want = settings.wanted() && leader;
        if let Some((key, stop)) = &running {
            if !want || *key != settings.connection() {
                stop.cancel();
                running = None;
            }
        }
        if want && running.is_none() {
            let stop = ctl.shutdown.child_token();
            tokio::spawn(instance(ctl.clone(), settings.clone(), stop.clone()));
            running = Some((settings.connection(), stop));
        }
        if leader && !settings.wanted() {
            let status = Status::new("off", &ctl.cluster.id);
            let _ = telegram::set_status(&ctl.store, &status).await;
        }
    }
    if let Some((_, stop)) = running {
        stop.cancel();
    }
}

/// One bot on one set of connection settings, until `stop`.
async fn instance(ctl: Arc<Controller>, settings: BotSettings, stop: CancellationToken) {
    let status = |state: &str, username: Option<String>, error: Option<String>| {
        let mut s = Status::new(state, &ctl.cluster.id);
        s.username = username;
        s.error = error;
        s
    };
    let _ = telegram::set_status(&ctl.store, &status("starting", None, None)).await;
    let tg = match Telegram::new(&settings) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "the Telegram bot cannot start");
            let _ = telegram::set_status(&ctl.store, &status("failed", None, Some(e.to_string())))
                .await;
            // Nothing changes until the settings do (which stops this instance).
            stop.cancelled().await;
            return;
        }
    };
    // The token is checked first; a refused one is tried again with a growing pause.
    let mut pause = Duration::from_secs(5);
    let username = loop {
        match tg.me().await {
            Ok(name) => break name,
            Err(e) => {
                tracing::error!(error = %e, "the Telegram bot cannot start");
                let _ = telegram::set_status(
                    &ctl.store,
                    &status("failed", None, Some(failure_text(&e))),
                )
                .await;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    };
    tracing::info!(bot = %username, "the Telegram bot is running");
    let running = status("running", Some(username.clone()), None);
    let _ = telegram::set_status(&ctl.store, &running).await;
    let lang = settings.language();
    let commands: Vec<(&str, String)> = [
        "start", "help", "status", "id", "usage", "inbound", "restart",
    ]
    .iter()
    .map(|c| (*c, lang.bot_text(&format!("command.{c}")).to_owned()))
    .collect();
    if let Err(e) = tg.set_commands(&commands).await {
        tracing::warn!(error = %e, "could not set the bot's command menu");
    }
    let shared = Arc::new(Shared::default());
    let notifier = tokio::spawn(notify::run(ctl.clone(), tg.clone(), stop.clone()));
    let mut offset = 0i32;
    let mut pause = Duration::from_secs(1);
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = tg.updates(offset) => polled,
        };
        match polled {
            Ok(updates) => {
                if pause > Duration::from_secs(1) {
                    let _ = telegram::set_status(&ctl.store, &running).await;
                }
                pause = Duration::from_secs(1);
                for update in updates {
                    offset = offset.max(update.id.0 as i32 + 1);
                    handle(&ctl, &tg, &shared, update).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Telegram updates could not be read");
                if pause >= Duration::from_secs(8) || e.bad_token() {
                    let _ = telegram::set_status(
                        &ctl.store,
                        &status("failed", Some(username.clone()), Some(failure_text(&e))),
                    )
                    .await;
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
    notifier.abort();
}

fn failure_text(e: &SendError) -> String {
    if e.bad_token() {
        format!("the token is not accepted: {e}")
    } else {
        e.to_string()
    }
}

/// What the bot remembers between updates: long callback data by hash, wizards in progress,
/// and which chat is asked to type what.
#[derive(Default)]
pub(crate) struct Shared {
    pub callbacks: Mutex<callback::Store>,
    pub wizards: Mutex<HashMap<i64, wizard::Draft>>,
    pub awaiting: Mutex<HashMap<i64, Awaiting>>,
}

/// A value the bot asked a chat to type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Awaiting {
    /// A client card's field, for the client with this id.
    Client(client_card::Field, i64),
    /// A wizard's field.
    Wizard(wizard::Field),
}

/// Where an answer goes: a new message, or the menu message a button was pressed on.
pub(crate) struct Ctx<'a> {
    pub ctl: &'a Arc<Controller>,
    pub tg: &'a Telegram,
    pub shared: &'a Shared,
    pub settings: BotSettings,
    pub lang: &'static Language,
    /// The Telegram user, who is also the private chat.
    pub user: i64,
    pub chat: i64,
    /// The message a pressed button belongs to (answers replace it).
    pub message: Option<i32>,
}

impl Ctx<'_> {
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.bot_text(key)
    }

    pub fn f(&self, key: &str, values: &[(&str, &str)]) -> String {
        self.lang.bot_fill(key, values)
    }

    pub fn admin(&self) -> bool {
        self.settings.is_admin(self.user)
    }

    /// Who did it, in the audit log.
    pub fn actor(&self) -> String {
        format!("telegram:{}", self.user)
    }

    /// A button: its label and callback data (hashed when longer than Telegram takes).
    pub fn button(&self, text: impl Into<String>, data: &str) -> (String, String) {
        let data = self
            .shared
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .encode(data);
        (text.into(), data)
    }

    /// Shows `text` with `keyboard`: in place of the pressed menu, else as a new message.
    pub async fn show(&self, text: &str, keyboard: Option<Keyboard>) {
        let result = match self.message {
            Some(m) => {
                self.tg
                    .edit_text(self.chat, m, text, keyboard.as_ref())
                    .await
            }
            None => self
                .tg
                .send_text(self.chat, text, keyboard.as_ref())
                .await
                .map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(chat = self.chat, error = %e, "a bot answer was not delivered");
        }
    }

    /// A new message, whatever was pressed.
    pub async fn say(&self, text: &str, keyboard: Option<Keyboard>) {
        if let Err(e) = self.tg.send_text(self.chat, text, keyboard.as_ref()).await {
            tracing::warn!(chat = self.chat, error = %e, "a bot message was not delivered");
        }
    }

    /// A "back to the menu" row.
    pub fn back(&self, to: &str) -> Vec<(String, String)> {
        vec![self.button(self.t("button.back"), to)]
    }
}

async fn handle(ctl: &Arc<Controller>, tg: &Telegram, shared: &Shared, update: Update) {
    // The settings as they are now: admins, language and events change without a restart.
    let settings = match BotSettings::read(&ctl.store).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the bot could not read its settings");
            return;
        }
    };
    let lang = settings.language();
    match update.kind {
        UpdateKind::Message(m) => {
            let Some(from) = m.from.as_ref() else { return };
            // Private chats only: a group would show one user's answers to all.
            if !m.chat.is_private() {
                return;
            }
            let ctx = Ctx {
                ctl,
                tg,
                shared,
                settings,
                lang,
                user: from.id.0 as i64,
                chat: m.chat.id.0,
                message: None,
            };
            let text = m.text().unwrap_or("").trim().to_owned();
            message(&ctx, &text).await;
        }
        UpdateKind::CallbackQuery(q) => {
            let Some(message) = q.message.as_ref() else {
                return;
            };
            let chat = message.chat();
            if !chat.is_private() {
                return;
            }
            let ctx = Ctx {
                ctl,
                tg,
                shared,
                settings,
                lang,
                user: q.from.id.0 as i64,
                chat: chat.id.0,
                message: Some(message.id().0),
            };
            let data = q.data.as_deref().unwrap_or("");
            let decoded = shared
                .callbacks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .decode(data);
            let notice = match decoded {
                Some(data) => pressed(&ctx, &data).await,
                None => ctx.t("error.expired").to_owned(),
            };
            if let Err(e) = tg.answer_callback(&q.id.0, &notice).await {
                tracing::debug!(error = %e, "a button press was not answered");
            }
        }
        _ => {}
    }
}

/// A typed message: a command, or a value the bot asked for.
async fn message(ctx: &Ctx<'_>, text: &str) {
    if !text.starts_with('/') {
        let asked = ctx
            .shared
            .awaiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ctx.chat);
        match asked {
            Some(Awaiting::Client(field, id)) if ctx.admin() => {
                client_card::typed(ctx, field, id, text).await
            }
            Some(Awaiting::Wizard(field)) if ctx.admin() => wizard::typed(ctx, field, text).await,
            _ => ctx.say(ctx.t("error.unknown_command"), None).await,
        }
        return;
    }
    let (command, arg) = match text.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (text, ""),
    };
    // `/status@name_bot` in a menu: the name is this bot's.
    let command = command.split('@').next().unwrap_or(command);
    ctx.shared
        .awaiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&ctx.chat);
    match command {
        "/start" | "/help" => start(ctx).await,
        "/id" => {
            ctx.say(&ctx.f("id.yours", &[("id", &ctx.user.to_string())]), None)
                .await
        }
        "/status" if ctx.admin() => report::status(ctx).await,
        "/status" => ctx.say(ctx.t("status.ok"), None).await,
        "/usage" if ctx.admin() => admin::usage(ctx, arg).await,
        "/usage" => user::usage(ctx, arg).await,
        "/inbound" if ctx.admin() => admin::inbound(ctx, arg).await,
        "/restart" if ctx.admin() => admin::restart(ctx, arg).await,
        "/inbound" | "/restart" => ctx.say(ctx.t("error.admins_only"), None).await,
        _ => ctx.say(ctx.t("error.unknown_command"), None).await,
    }
}

/// `/start` and `/help`: a greeting and the menu of who is asking.
async fn start(ctx: &Ctx<'_>) {
    if ctx.admin() {
        admin::menu(ctx).await;
    } else {
        user::menu(ctx).await;
    }
}

/// A pressed button; returns the short notice Telegram shows (empty: none).
async fn pressed(ctx: &Ctx<'_>, data: &str) -> String {
    let (verb, args) = match data.split_once(':') {
        Some((v, a)) => (v, a),
        None => (data, ""),
    };
    if let Some(notice) = user::pressed(ctx, verb, args).await {
        return notice;
    }
    if !ctx.admin() {
        return ctx.t("error.admins_only").to_owned();
    }
    if let Some(notice) = wizard::pressed(ctx, verb, args).await {
        return notice;
    }
    if let Some(notice) = client_card::pressed(ctx, verb, args).await {
        return notice;
    }
    admin::pressed(ctx, verb, args).await
}

/// A model error in the bot's language: a refusal from the catalogs is said in it, field by
/// field; the rest in its own words.
pub(crate) fn said(e: &crate::model::ModelError, lang: &Language) -> String {
    use crate::model::{ModelError, Said};
    let fill = |key: &str, args: Vec<(&str, &str)>| lang.fill(key, &args);
    match e {
        ModelError::Invalid(fields) => fields
            .iter()
            .map(|f| match f.key {
                Some(key) => {
                    let args = f.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    format!("{}: {}", f.field, fill(key, args))
                }
                None => format!("{}: {}", f.field, f.message),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        ModelError::Conflict(Said::Refusal(r)) => fill(
            r.key,
            r.args.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        ),
        other => other.to_string(),
    }
}

/// An inbound as menus name it: its remark, else its tag.
pub(crate) fn inbound_name(i: &crate::store::InboundRow) -> &str {
    if i.remark.is_empty() {
        &i.tag
    } else {
        &i.remark
    }
}

/// The name of the server with this id among `servers`; `?` when it is gone.
pub(crate) fn server_name(servers: &[crate::store::ServerRow], id: i64) -> &str {
    servers
        .iter()
        .find(|s| s.id == id)
        .map_or("?", |s| s.name.as_str())
}
