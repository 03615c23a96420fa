//! `xfleet backup FILE` and `xfleet restore FILE`. Both open the database themselves rather
//! than asking the running controller: a backup reads one snapshot beside the running
//! controller (SQLite's write-ahead log, PostgreSQL's repeatable read) and writes the archive
//! straight to its file, however large, whether or not the controller runs; a restore needs
//! the controller stopped anyway (the panel's restore is the way while it runs).

use std::path::Path;

use anyhow::{bail, Context};

use super::data_dir;
use crate::backup::{self, BackupError};
use crate::config::{mask_url, Config};
use crate::store::{Backend, Store};

/// Largest archive `restore` reads into memory.
const MAX_ARCHIVE: u64 = 8 << 30;

pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    let url = config.database_url();
    if Backend::of_url(&url) == Backend::Sqlite && !config.data_dir.join("xfleet.db").exists() {
        bail!(
            "no xfleet database in {} (pass --data-dir, or --database-url/--config for \
             PostgreSQL)",
            config.data_dir.display()
        );
    }
    let store = Store::open(&url)
        .await
        .with_context(|| format!("open database {}", mask_url(&url)))?;
    let made = backup::create(&store).await;
    store.close().await;
    let (bytes, summary) = made?;
    // Owner-only, written whole or not at all: it holds the CA key.
    crate::util::write_private(file, &bytes)
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!(
        "Backup written to {}: {} tables, {} rows, schema {}, {} bytes.",
        file.display(),
        summary.tables,
        summary.rows,
        summary.schema_migration,
        summary.bytes
    );
    println!("It holds the CA key agents trust: keep it where only you can read it.");
    Ok(())
}

pub async fn restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    if let Some(pid) = data_dir::running_pid(&config.data_dir) {
        bail!(
            "the controller is running from {} (pid {pid}); stop it first, or restore from \
             the panel (Settings → Backups) while it runs",
            config.data_dir.display()
        );
    }
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_ARCHIVE {
        bail!(
            "{} is larger than a backup this command reads ({} GiB)",
            file.display(),
            MAX_ARCHIVE >> 30
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let url = config.database_url();
    // Everything about the file is checked before the database is opened (which would
    // create and migrate it).
    let archive = backup::check(&bytes, Backend::of_url(&url)).map_err(|e| refused(file, e))?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let store = Store::open(&url)
        .await
        .with_context(|| format!("open database {}", mask_url(&url)))?;
    let done = async {
        let filled = store.nonempty_tables().await?;
        if !filled.is_empty() && !force {
            let list: Vec<String> = filled.iter().map(|(t, n)| format!("{t}: {n}")).collect();
            bail!(
                "the database {} is not empty ({}); restore into an empty database, or pass \
                 --force to replace everything in it",
                mask_url(&url),
                list.join(", ")
            );
        }
        backup::restore(&store, &archive).await?;
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    done?;
    let m = &archive.manifest;
    let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
    println!(
        "Restored {} tables ({rows} rows) from a {} backup of {} (xfleet {}, schema {}) into {}.",
        m.tables.len(),
        m.source_backend,
        m.created_at,
        m.xfleet_version,
        m.schema_migration,
        mask_url(&url)
    );
    println!(
        "The CA and gateway key are back in {}: enrolled agents reconnect without new tokens \
         once `xfleet run` listens where they dial.",
        config.data_dir.display()
    );
    Ok(())
}

fn refused(file: &Path, e: BackupError) -> anyhow::Error {
    match e {
        BackupError::Refused(r) => {
            anyhow::anyhow!("{} was refused, nothing was written: {r}", file.display())
        }
        other => anyhow::Error::new(other),
    }
}
