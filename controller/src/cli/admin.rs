//! `xfleet admin reset-password` (3x-ui's `x-ui setting -password`): a forgotten admin
//! password replaced from the controller's host. It writes the database itself, so it works
//! whether or not the controller runs; the account's sessions end (each request looks its
//! session up), and the audit log records it. Nothing secret is printed unless it was
//! generated here.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;

use crate::config::{mask_url, Config};
use crate::front::auth::{check_new_password, hash_password};
use crate::store::Store;

/// Where the new password comes from.
pub enum NewPassword {
    /// The first line of standard input (asked for twice, without echo, on a terminal).
    Stdin,
    /// The first line of a file.
    File(PathBuf),
    /// Made up here and printed once.
    Generate,
}

impl NewPassword {
    fn label(&self) -> &'static str {
        match self {
            Self::Stdin => "stdin",
            Self::File(_) => "file",
            Self::Generate => "generated",
        }
    }
}

/// Sets the password of `username` (default: the first admin account, the one created at
/// first start) and ends its sessions.
pub async fn reset_password(
    config: &Config,
    username: Option<&str>,
    source: NewPassword,
) -> anyhow::Result<()> {
    let url = config.database_url();
    let db_file = config.data_dir.join("xfleet.db");
    if !url.starts_with("postgres") && !db_file.exists() {
        bail!(
            "no xfleet database in {} (pass --data-dir, or --database-url/--config for \
             PostgreSQL)",
            config.data_dir.display()
        );
    }
    // Read before opening the database, so a refused password changes nothing.
    let password = read_password(&source, username.unwrap_or("the admin account"))?;
    if let Err(problem) = check_new_password(&password) {
        bail!("{problem}; nothing was changed");
    }
    let store = Store::open(&url)
        .await
        .with_context(|| format!("open database {}", mask_url(&url)))?;
    let result = reset_in(&store, username, &password, &source).await;
    store.close().await;
    let (name, ended) = result?;
    println!(
        "The password of `{name}` is reset; {ended} session(s) of it ended. The audit log \
         records the reset."
    );
    if let NewPassword::Generate = source {
        println!("New password: {password}");
        println!("It is shown only once.");
    }
    if super::data_dir::running_pid(&config.data_dir).is_some() {
        println!(
            "The running controller accepts it at once. A login refused after repeated \
             failures stays refused for up to 15 minutes from the last one; restarting the \
             controller lifts that."
        );
    }
    Ok(())
}

/// The change itself, in the store: returns the account's name and how many sessions ended.
async fn reset_in(
    store: &Store,
    username: Option<&str>,
    password: &str,
    source: &NewPassword,
) -> anyhow::Result<(String, u64)> {
    let user = match username {
        Some(name) => store
            .user_by_name(name)
            .await?
            .with_context(|| format!("there is no admin account `{name}`"))?,
        None => store
            .first_user()
            .await?
            .context("there is no admin account yet: `xfleet run` creates one at first start")?,
    };
    let hash = {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&password)).await?
    };
    let ended = store.change_password(user.id, &hash, None).await?;
    let details = json!({
        "username": user.username,
        "sessions_ended": ended,
        "password_from": source.label(),
        "uid": process_uid(),
    });
    store
        .audit(
            "cli",
            "auth.password_reset",
            &format!("user:{}", user.id),
            &details,
            "",
            "ok",
        )
        .await?;
    Ok((user.username, ended))
}

fn read_password(source: &NewPassword, whom: &str) -> anyhow::Result<String> {
    match source {
        NewPassword::Generate => Ok(crate::util::random_secret(15)),
        NewPassword::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(first_line(&text))
        }
        NewPassword::Stdin if std::io::stdin().is_terminal() => {
            let first = prompt_hidden(&format!("New password for {whom}: "))?;
            let again = prompt_hidden("Repeat it: ")?;
            if first != again {
                bail!("the two passwords differ; nothing was changed");
            }
            Ok(first)
        }
        NewPassword::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the new password from standard input")?;
            Ok(first_line(&line))
        }
    }
}

/// The first line without its line ending; spaces inside and around are the password's own.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

/// Reads one line from the terminal with echo off (through `stty`, so no extra library).
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    read.context("cannot read the new password from the terminal")?;
    Ok(first_line(&line))
}

/// The user id this command runs as, for the audit entry.
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/proc/self"))
        .ok()
        .map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn the_password_is_the_first_line_as_typed() {
        assert_eq!(first_line("s3cret pass\n"), "s3cret pass");
        assert_eq!(first_line(" spaced \r\nsecond"), " spaced ");
        assert_eq!(first_line(""), "");
    }
}
