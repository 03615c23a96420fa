//! The backup the bot sends: on SQLite the database itself, copied as 3x-ui's `getDb` copies
//! it (`xfleet.db`, consistent while writers carry on); on PostgreSQL the portable archive
//! `xfleet backup` writes (`backup`), which restores into either backend.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use xfleet_common::time::now_ms;

use super::{to_admins, BotSettings, Telegram};
use crate::backup::{self, schedule};
use crate::store::{Backend, Store};
use crate::util::random_secret;

/// The Bot API takes documents up to 50 MB (a local Bot API server takes more).
const MAX_DOCUMENT: usize = 50 * 1024 * 1024;

pub struct Document {
    pub bytes: Vec<u8>,
    pub name: String,
}

/// The backup as a file to send.
pub async fn backup_document(store: &Store, data_dir: &Path) -> Result<Document, String> {
    // Named as scheduled backups are: `xfleet-YYYYMMDD-HHMMSS.zip` (UTC), `.db` for SQLite.
    let archive_name = schedule::file_name(now_ms());
    match store.backend() {
        Backend::Sqlite => {
            let path = data_dir.join(format!(".bot-export-{}.db", random_secret(9)));
            // Owner-only from the start: the copy holds every secret.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("database copy: {e}"))?;
            let copied = store.sqlite_copy_to(&path).await;
            let read = match copied {
                Ok(()) => tokio::fs::read(&path)
                    .await
                    .map_err(|e| format!("database copy: {e}")),
                Err(e) => Err(format!("database copy: {e}")),
            };
            let _ = std::fs::remove_file(&path);
            Ok(Document {
                bytes: read?,
                name: archive_name.replace(".zip", ".db"),
            })
        }
        Backend::Postgres => {
            let (bytes, _) = backup::create(store).await.map_err(|e| e.to_string())?;
            Ok(Document {
                bytes,
                name: archive_name,
            })
        }
    }
}

/// Sends the backup to every admin of the bot; returns how many got it. Fails when the bot
/// is off or has no admins, when the backup cannot be made, or when no admin got it.
pub async fn send_backup(store: &Store, data_dir: &Path) -> Result<usize, String> {
    let settings = BotSettings::read(store).await.map_err(|e| e.to_string())?;
    if !settings.wanted() {
        return Err("the Telegram bot is not enabled (tgBotEnable, tgBotToken)".into());
    }
    if settings.admins.is_empty() {
        return Err("the Telegram bot has no admins (tgBotChatId)".into());
    }
    let telegram = Telegram::new(&settings).map_err(|e| e.to_string())?;
    send_backup_with(store, data_dir, &telegram, &settings).await
}

/// [`send_backup`] through a running bot's client.
pub async fn send_backup_with(
    store: &Store,
    data_dir: &Path,
    telegram: &Telegram,
    settings: &BotSettings,
) -> Result<usize, String> {
    let lang = settings.language();
    let doc = backup_document(store, data_dir).await?;
    if doc.bytes.len() > MAX_DOCUMENT {
        let text = lang.bot_fill(
            "backup.too_big",
            &[(
                "size",
                &format!("{:.1} MB", doc.bytes.len() as f64 / 1_048_576.0),
            )],
        );
        for chat in &settings.admins {
            let _ = telegram.send_text(*chat, &text, None).await;
        }
        return Err(text);
    }
    let caption = match store.backend() {
        Backend::Sqlite => lang.bot_text("backup.caption_sqlite"),
        Backend::Postgres => lang.bot_text("backup.caption_archive"),
    };
    to_admins(settings, |chat| {
        let doc = &doc;
        async move {
            telegram
                .send_document(chat, doc.bytes.clone(), &doc.name, caption)
                .await
        }
    })
    .await
}
