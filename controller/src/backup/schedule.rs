//! Scheduled backups: when `backupEnable` is on, an archive every `backupEveryHours` into
//! `backupDir` (default `<data_dir>/backups`) as `xfleet-YYYYMMDD-HHMMSS.zip`, written
//! atomically and owner-only (it holds the CA key), the oldest beyond `backupKeep` deleted.
//! Each run's outcome is kept in the settings table (`backupLastRun`), where the settings
//! page shows it, error included.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::BackupError;
use crate::store::{Result, Store};

pub const ENABLE: &str = "backupEnable";
pub const DIR: &str = "backupDir";
pub const EVERY_HOURS: &str = "backupEveryHours";
pub const KEEP: &str = "backupKeep";
/// Not a form setting: the outcome of the last scheduled run.
pub const LAST_RUN: &str = "backupLastRun";
/// A failed run is tried again after this long at most, not a whole period later.
const RETRY_MS: i64 = 3600 * 1000;

/// What the settings ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub enabled: bool,
    pub dir: PathBuf,
    pub every_ms: i64,
    pub keep: usize,
}

/// The outcome of one scheduled run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ran (epoch ms).
    pub at: i64,
    /// The archive written, when it was.
    pub file: Option<String>,
    /// Why it failed, in the error's own words.
    pub error: Option<String>,
}

pub async fn plan(store: &Store, data_dir: &Path) -> Result<Plan> {
    let settings = store.settings().await?;
    let get = |k: &str| {
        settings
            .get(k)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let dir = match get(DIR) {
        d if d.is_empty() => data_dir.join("backups"),
        d => PathBuf::from(d),
    };
    Ok(Plan {
        enabled: get(ENABLE) == "true",
        dir,
        every_ms: get(EVERY_HOURS).parse::<i64>().unwrap_or(24).max(1) * 3600 * 1000,
        keep: get(KEEP).parse::<usize>().unwrap_or(7).max(1),
    })
}

pub async fn last_run(store: &Store) -> Result<Option<LastRun>> {
    Ok(store
        .setting(LAST_RUN)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// The scheduled job's whole body: a backup when one is due as of `now`, its outcome
/// recorded. Returns the outcome of a run, `None` when none was due.
pub async fn run_if_due(store: &Store, data_dir: &Path, now: i64) -> Result<Option<LastRun>> {
    let plan = plan(store, data_dir).await?;
    if !plan.enabled {
        return Ok(None);
    }
    if let Some(last) = last_run(store).await? {
        let wait = match last.error {
            None => plan.every_ms,
            Some(_) => plan.every_ms.min(RETRY_MS),
        };
        if now - last.at < wait {
            return Ok(None);
        }
    }
    let run = match write(store, &plan, now).await {
        Ok(file) => {
            tracing::info!(file = %file.display(), "scheduled backup written");
            LastRun {
                at: now,
                file: Some(file.display().to_string()),
                error: None,
            }
        }
        Err(e) => {
            tracing::warn!(dir = %plan.dir.display(), error = %e, "scheduled backup failed");
            LastRun {
                at: now,
                file: None,
                error: Some(e.to_string()),
            }
        }
    };
    store
        .set_setting(LAST_RUN, &serde_json::to_string(&run).expect("serializes"))
        .await?;
    Ok(Some(run))
}

/// Writes one archive into the plan's folder and deletes the oldest beyond what it keeps.
async fn write(store: &Store, plan: &Plan, now: i64) -> Result<PathBuf, BackupError> {
    let io = |e: std::io::Error| BackupError::Io(format!("{}: {e}", plan.dir.display()));
    if !plan.dir.is_absolute() {
        return Err(BackupError::Io(format!(
            "{} is not an absolute path",
            plan.dir.display()
        )));
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&plan.dir)
            .map_err(io)?;
    }
    let (bytes, _) = super::create(store).await?;
    let path = plan.dir.join(file_name(now));
    crate::util::write_private(&path, &bytes).map_err(io)?;
    let mut ours: Vec<String> = std::fs::read_dir(&plan.dir)
        .map_err(io)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_ours(n))
        .collect();
    ours.sort();
    let extra = ours.len().saturating_sub(plan.keep);
    for old in &ours[..extra] {
        std::fs::remove_file(plan.dir.join(old)).map_err(io)?;
    }
    Ok(path)
}

/// `xfleet-YYYYMMDD-HHMMSS.zip` in UTC: names sort as times do.
pub fn file_name(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "xfleet-{:04}{:02}{:02}-{:02}{:02}{:02}.zip",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Whether a file name is one this job wrote (others in the folder are left alone).
fn is_ours(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("xfleet-")
        .and_then(|n| n.strip_suffix(".zip"))
    else {
        return false;
    };
    stamp.len() == 15
        && stamp
            .char_indices()
            .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::TempDir;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// A due backup lands in the folder, owner-only, under its time's name; the oldest of
    /// ours beyond `backupKeep` are deleted and other files stay; the next is not due before
    /// its period; a folder that cannot be written leaves its error where the settings page
    /// reads it. On both backends.
    #[tokio::test]
    async fn scheduled_backups_keep_the_newest_and_say_why_one_failed() {
        use std::os::unix::fs::PermissionsExt;
        for test in crate::store::testing::test_stores().await {
            let (store, label, _dir) = test.into_parts();
            let data = TempDir::new("schedule");
            let folder = data.path().join("kept");
            std::fs::create_dir(&folder).unwrap();
            for old in ["xfleet-20200101-000000.zip", "xfleet-20200102-000000.zip"] {
                std::fs::write(folder.join(old), "old").unwrap();
            }
            std::fs::write(folder.join("notes.txt"), "not ours").unwrap();
            let now = 1_796_000_000_000;
            assert_eq!(
                run_if_due(&store, data.path(), now).await.unwrap(),
                None,
                "{label}: off"
            );
            let set = |k: &str, v: &str| (k.to_owned(), v.to_owned());
            store
                .set_settings(&[
                    set(ENABLE, "true"),
                    set(DIR, &folder.display().to_string()),
                    set(KEEP, "2"),
                ])
                .await
                .unwrap();

            let run = run_if_due(&store, data.path(), now).await.unwrap().unwrap();
            assert_eq!(run.error, None, "{label}");
            assert_eq!(
                listing(&folder),
                [
                    "notes.txt",
                    "xfleet-20200102-000000.zip",
                    "xfleet-20261130-005320.zip"
                ],
                "{label}"
            );
            let written = folder.join("xfleet-20261130-005320.zip");
            let mode = std::fs::metadata(&written).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{label}: it holds the CA key");
            let archive = super::super::Archive::read(
                &std::fs::read(&written).unwrap(),
                store.backend().schema_migration(),
            )
            .unwrap();
            assert!(
                archive.tables.iter().any(|t| t.name == "settings"),
                "{label}"
            );
            assert_eq!(last_run(&store).await.unwrap(), Some(run), "{label}");

            let hour = 3600 * 1000;
            assert_eq!(
                run_if_due(&store, data.path(), now + 23 * hour)
                    .await
                    .unwrap(),
                None,
                "{label}: not due within the day"
            );
            let blocked = data.path().join("a-file");
            std::fs::write(&blocked, "").unwrap();
            store
                .set_setting(DIR, &blocked.display().to_string())
                .await
                .unwrap();
            let failed = run_if_due(&store, data.path(), now + 24 * hour)
                .await
                .unwrap()
                .unwrap();
            let error = failed.error.clone().unwrap();
            assert!(
                error.contains(&blocked.display().to_string()),
                "{label}: {error}"
            );
            assert_eq!(last_run(&store).await.unwrap(), Some(failed), "{label}");
            store.close().await;
        }
    }

    #[test]
    fn names_sort_as_times_and_only_ours_count() {
        assert_eq!(file_name(1_796_000_000_123), "xfleet-20261130-005320.zip");
        assert!(is_ours(&file_name(0)));
        assert!(file_name(1_000) < file_name(86_400_000));
        assert!(!is_ours("xfleet-20261230-011320.tmp"));
        assert!(!is_ours("notes.zip"));
        assert!(!is_ours("xfleet-2026123-0113200.zip"));
    }
}
