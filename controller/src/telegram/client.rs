//! One connection to the Bot API, made from the settings, and sending within Telegram's
//! limits: texts over 4,096 characters split at line ends, a 429's `retry_after` waited out,
//! network errors retried with backoff. Errors never carry the token (reqwest puts the URL,
//! and so the token, in its messages).

use std::time::Duration;

use teloxide_core::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, GetUpdatesSetters, SendDocumentSetters,
    SendMessageSetters, SendPhotoSetters,
};
use teloxide_core::requests::{Request, Requester};
use teloxide_core::types::{
    AllowedUpdate, BotCommand, CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    InputFile, MessageId, Update,
};
use teloxide_core::{ApiError, Bot, RequestError};

use super::BotSettings;

/// Telegram's longest message text, in characters (UTF-16 units, as Telegram counts them).
pub const MAX_TEXT: usize = 4096;
/// A photo's or document's caption.
const MAX_CAPTION: usize = 1024;
/// Tries of one request before its error is given up on (429s and network errors).
const TRIES: u32 = 5;
/// The longest `retry_after` honoured in place; a longer one fails the request.
const MAX_RETRY_AFTER: u32 = 300;
/// Seconds one `getUpdates` waits for an update (long polling).
pub const POLL_SECONDS: u32 = 10;

/// Rows of inline buttons: `(text, callback data)`.
pub type Keyboard = Vec<Vec<(String, String)>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Telegram refused: a bad token, a chat that blocked the bot, a bad request.
    #[error("Telegram refused: {0}")]
    Refused(String),
    /// Telegram could not be reached, or answered nonsense, after every try.
    #[error("Telegram could not be reached: {0}")]
    Unreachable(String),
    /// The settings cannot make a connection (a bad proxy or API server address).
    #[error("{0}")]
    Settings(String),
}

impl SendError {
    /// The token is wrong (Telegram answers 401 or 404 to every method).
    pub fn bad_token(&self) -> bool {
        matches!(self, Self::Refused(m) if m.contains("Invalid bot token") || m.starts_with("Unauthorized") || m.starts_with("Not Found"))
    }
}

/// The Bot API client of one set of connection settings.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    token: String,
    /// The proxy's password, if its URL has one: kept out of errors like the token.
    proxy_password: Option<String>,
}

impl Telegram {
    /// A client for `settings`: through its proxy, to its API server. Checks addresses only;
    /// nothing is sent.
    pub fn new(settings: &BotSettings) -> Result<Self, SendError> {
        let mut builder = teloxide_core::net::default_reqwest_settings()
            // Long polling holds a request open for POLL_SECONDS.
            .timeout(Duration::from_secs(u64::from(POLL_SECONDS) + 20));
        if !settings.proxy.is_empty() {
            let proxy = reqwest::Proxy::all(&settings.proxy).map_err(|e| {
                SendError::Settings(format!(
                    "tgBotProxy `{}`: {e}",
                    without_password(&settings.proxy)
                ))
            })?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| SendError::Settings(format!("HTTP client: {e}")))?;
        let mut bot = Bot::with_client(settings.token.clone(), client);
        if !settings.api_server.is_empty() {
            let url = reqwest::Url::parse(&settings.api_server).map_err(|e| {
                SendError::Settings(format!("tgBotAPIServer `{}`: {e}", settings.api_server))
            })?;
            bot = bot.set_api_url(url);
        }
        Ok(Self {
            bot,
            token: settings.token.clone(),
            proxy_password: reqwest::Url::parse(&settings.proxy)
                .ok()
                .and_then(|u| u.password().map(str::to_owned))
                .filter(|p| !p.is_empty()),
        })
    }

    /// The bot's user name (`getMe`): the check that the token works.
    pub async fn me(&self) -> Result<String, SendError> {
        let me = self.retrying(|| self.bot.get_me().send()).await?;
        Ok(me.user.username.clone().unwrap_or_default())
    }

    /// The commands Telegram lists in the bot's menu.
    pub async fn set_commands(&self, commands: &[(&str, String)]) -> Result<(), SendError> {
        let list: Vec<BotCommand> = commands
            .iter()
            .map(|(c, d)| BotCommand::new(*c, d.clone()))
            .collect();
        self.retrying(|| self.bot.set_my_commands(list.clone()).send())
            .await
            .map(drop)
    }

    /// Updates after `offset`, waiting up to [`POLL_SECONDS`] for one. One try: the polling
    /// loop does its own backoff.
    pub async fn updates(&self, offset: i32) -> Result<Vec<Update>, SendError> {
        self.bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_SECONDS)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .send()
            .await
            .map_err(|e| self.said(e))
    }

    /// Sends `text` (split into several messages when longer than Telegram takes), the
    /// keyboard under the last part. Returns the last message's id.
    pub async fn send_text(
        &self,
        chat: i64,
        text: &str,
        keyboard: Option<&Keyboard>,
    ) -> Result<i32, SendError> {
        let parts = split(text, MAX_TEXT);
        let mut last = 0;
        for (i, part) in parts.iter().enumerate() {
            let markup = (i + 1 == parts.len())
                .then(|| keyboard.map(markup))
                .flatten();
            let sent = self
                .retrying(|| {
                    let mut req = self.bot.send_message(ChatId(chat), part.clone());
                    if let Some(m) = &markup {
                        req = req.reply_markup(m.clone());
                    }
                    req.send()
                })
                .await?;
            last = sent.id.0;
        }
        Ok(last)
    }

    /// Replaces a message's text and keyboard (menus answer in place). A text too long for
    /// one message is sent as new messages instead.
    pub async fn edit_text(
        &self,
        chat: i64,
        message: i32,
        text: &str,
        keyboard: Option<&Keyboard>,
    ) -> Result<(), SendError> {
        if text.encode_utf16().count() > MAX_TEXT {
            return self.send_text(chat, text, keyboard).await.map(drop);
        }
        let result = self
            .retrying(|| {
                let mut req =
                    self.bot
                        .edit_message_text(ChatId(chat), MessageId(message), text.to_owned());
                if let Some(k) = keyboard {
                    req = req.reply_markup(markup(k));
                }
                req.send()
            })
            .await;
        match result {
            // Pressing "refresh" on what did not change is no error.
            Err(SendError::Refused(m)) if m.contains("not modified") => Ok(()),
            other => other.map(drop),
        }
    }

    pub async fn send_photo(
        &self,
        chat: i64,
        png: Vec<u8>,
        caption: &str,
    ) -> Result<(), SendError> {
        let caption = clip(caption, MAX_CAPTION);
        self.retrying(|| {
            let file = InputFile::memory(png.clone()).file_name("qr.png");
            self.bot
                .send_photo(ChatId(chat), file)
                .caption(caption.clone())
                .send()
        })
        .await
        .map(drop)
    }

    pub async fn send_document(
        &self,
        chat: i64,
        bytes: Vec<u8>,
        name: &str,
        caption: &str,
    ) -> Result<(), SendError> {
        let caption = clip(caption, MAX_CAPTION);
        let name = name.to_owned();
        self.retrying(|| {
            let file = InputFile::memory(bytes.clone()).file_name(name.clone());
            self.bot
                .send_document(ChatId(chat), file)
                .caption(caption.clone())
                .send()
        })
        .await
        .map(drop)
    }

    /// Ends the button's spinner, with a short notice when `text` is not empty.
    pub async fn answer_callback(&self, id: &str, text: &str) -> Result<(), SendError> {
        self.retrying(|| {
            let mut req = self
                .bot
                .answer_callback_query(CallbackQueryId(id.to_owned()));
            if !text.is_empty() {
                req = req.text(clip(text, 200));
            }
            req.send()
        })
        .await
        .map(drop)
    }

    /// Runs `request` until it succeeds, Telegram refuses it, or [`TRIES`] are spent: a 429
    /// waits its `retry_after`, a network error 1, 2, 4, 8 s.
    async fn retrying<T, F, Fut>(&self, request: F) -> Result<T, SendError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RequestError>>,
    {
        let mut backoff = Duration::from_secs(1);
        let mut tries = 0;
        loop {
            tries += 1;
            let e = match request().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match &e {
                RequestError::RetryAfter(s) if s.seconds() <= MAX_RETRY_AFTER => {
                    tracing::warn!(seconds = s.seconds(), "Telegram asks to wait (429)");
                    s.duration()
                }
                RequestError::Network(_) | RequestError::InvalidJson { .. } => {
                    let wait = backoff;
                    backoff *= 2;
                    wait
                }
                _ => return Err(self.said(e)),
            };
            if tries >= TRIES {
                return Err(self.said(e));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The error in words, the token taken out.
    fn said(&self, e: RequestError) -> SendError {
        let text = match &e {
            RequestError::Network(n) => {
                let mut text = n.to_string();
                let mut source = std::error::Error::source(&**n);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                text
            }
            RequestError::Api(ApiError::Unknown(m)) => m.clone(),
            // Telegram's own description, without teloxide's "A Telegram's error:" before it.
            RequestError::Api(api) => api.to_string(),
            other => other.to_string(),
        };
        let mut text = if self.token.is_empty() {
            text
        } else {
            text.replace(&self.token, "<token>")
        };
        if let Some(p) = &self.proxy_password {
            text = text.replace(p.as_str(), "<password>");
        }
        match e {
            RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_) => {
                SendError::Unreachable(text)
            }
            RequestError::RetryAfter(s) => {
                SendError::Refused(format!("too many requests: retry after {} s", s.seconds()))
            }
            _ => SendError::Refused(text),
        }
    }
}

/// A proxy URL with its password masked, for messages.
fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn markup(rows: &Keyboard) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|(text, data)| InlineKeyboardButton::callback(text.clone(), data.clone()))
            .collect::<Vec<_>>()
    }))
}

/// `text` in parts of at most `max` UTF-16 units, cut at a line end where there is one.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut units = 0;
    for line in text.split_inclusive('\n') {
        let line_units = line.encode_utf16().count();
        if units + line_units > max && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            units = 0;
        }
        if line_units > max {
            // One line longer than a message: cut it by characters.
            for c in line.chars() {
                if units + c.len_utf16() > max {
                    parts.push(std::mem::take(&mut current));
                    units = 0;
                }
                current.push(c);
                units += c.len_utf16();
            }
        } else {
            current.push_str(line);
            units += line_units;
        }
    }
    if !current.trim().is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

fn clip(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_split_at_line_ends_within_the_limit() {
        let line = format!("{}\n", "я".repeat(99));
        let text = line.repeat(100);
        let parts = split(&text, MAX_TEXT);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.encode_utf16().count() <= MAX_TEXT));
        assert!(parts.iter().all(|p| p.ends_with('\n')));
        assert_eq!(parts.concat(), text);
        // One line longer than a message is cut; emoji count as two units.
        let long = "😀".repeat(3000);
        let parts = split(&long, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.encode_utf16().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), long);
        assert_eq!(split("short", MAX_TEXT), vec!["short".to_owned()]);
        assert_eq!(clip(&"x".repeat(2000), 1024).encode_utf16().count(), 1024);
    }

    #[test]
    fn proxy_passwords_stay_out_of_messages() {
        assert_eq!(
            without_password("socks5://me:s3cret@10.0.0.1:1080"),
            "socks5://me:xxxxx@10.0.0.1:1080"
        );
        assert_eq!(
            without_password("http://10.0.0.1:3128"),
            "http://10.0.0.1:3128"
        );
        let settings = crate::telegram::BotSettings::from_map(
            &[
                ("tgBotToken".to_owned(), "1:tok".to_owned()),
                (
                    "tgBotProxy".to_owned(),
                    "socks5://me:s3cret@10.0.0.1:1080".to_owned(),
                ),
            ]
            .into(),
        );
        let t = Telegram::new(&settings).unwrap();
        let e = t.said(RequestError::Api(ApiError::Unknown(
            "proxy me:s3cret refused 1:tok".into(),
        )));
        assert_eq!(
            e.to_string(),
            "Telegram refused: proxy me:<password> refused <token>"
        );
    }
}
