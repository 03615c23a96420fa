//! Backups: one portable archive (`archive`) with every table of the schema as neutral rows
//! and the trust material agents depend on, read from one consistent snapshot while the
//! controller runs, and restored into an empty database of either backend in one
//! transaction. So a backup on SQLite restored into PostgreSQL is the way to move a fleet,
//! and enrolled agents keep their certificates. Scheduled backups into a folder live in
//! `schedule`.

pub mod archive;
pub mod schedule;

use std::path::Path;

use time::format_description::well_known::Rfc3339;

use crate::i18n::Refusal;
use crate::store::{Backend, Store, StoreError};
pub use archive::{Archive, Manifest};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The archive cannot be restored, in the catalogs' words: what is wrong with it.
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file of the data directory or the archive could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// The files of the data directory agents depend on: the CA (its certificate is pinned by
/// every agent, its key signs their certificates and agent updates) and the gateway's key
/// (pinned by install lines).
const TRUST_FILES: &[&str] = &["ca.pem", "ca.key", "gateway.key"];

/// Reads the trust files from `data_dir` (`write: None`) or replaces them with `write`. The
/// one place trust material travels as files: once it lives in a table it travels with the
/// others and this goes away.
fn trust_files(
    data_dir: &Path,
    write: Option<&[(String, Vec<u8>)]>,
) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
    let io = |file: &str, e: std::io::Error| {
        BackupError::Io(format!("{}: {e}", data_dir.join(file).display()))
    };
    match write {
        None => TRUST_FILES
            .iter()
            .filter(|f| data_dir.join(f).exists())
            .map(|f| {
                std::fs::read(data_dir.join(f))
                    .map(|b| (f.to_string(), b))
                    .map_err(|e| io(f, e))
            })
            .collect(),
        Some(files) => {
            std::fs::create_dir_all(data_dir).map_err(|e| io("", e))?;
            for (name, bytes) in files
                .iter()
                .filter(|(n, _)| TRUST_FILES.contains(&n.as_str()))
            {
                let mode = if name.ends_with(".pem") { 0o644 } else { 0o600 };
                crate::util::write_atomic(&data_dir.join(name), bytes, mode)
                    .map_err(|e| io(name, e))?;
            }
            Ok(Vec::new())
        }
    }
}

/// What a backup holds, for the one who asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub tables: usize,
    pub rows: u64,
    pub bytes: usize,
    pub schema_migration: i64,
}

/// An archive of the database `store` and the trust files in `data_dir`, every table read
/// from one snapshot.
pub async fn create(store: &Store, data_dir: &Path) -> Result<(Vec<u8>, Summary), BackupError> {
    let mut snapshot = store.snapshot().await?;
    let schema_migration = snapshot.migration().await?;
    let mut writer = archive::Writer::default();
    let mut tables = Vec::new();
    let mut rows_total = 0;
    for table in snapshot.tables().await? {
        let columns = snapshot.columns(&table).await?;
        let rows = snapshot.rows(&table, &columns).await?;
        let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
        writer.add_table(&table, &names, &rows)?;
        rows_total += rows.len() as u64;
        tables.push(archive::TableEntry {
            name: table,
            rows: rows.len() as u64,
        });
    }
    snapshot.finish().await?;
    for (name, bytes) in trust_files(data_dir, None)? {
        writer.add(&archive::trust_entry(&name), &bytes)?;
    }
    let manifest = Manifest {
        format: archive::FORMAT.into(),
        format_version: archive::FORMAT_VERSION,
        xfleet_version: env!("CARGO_PKG_VERSION").into(),
        schema_migration,
        created_at: time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        source_backend: backend_name(store.backend()).into(),
        tables: tables.clone(),
        entries: Vec::new(),
    };
    let bytes = writer.finish(manifest)?;
    let summary = Summary {
        tables: tables.len(),
        rows: rows_total,
        bytes: bytes.len(),
        schema_migration,
    };
    Ok((bytes, summary))
}

pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Reads and checks an archive for a database of `backend`, including that its CA can
/// sign: everything that can be wrong with the file is found before anything is written.
pub fn check(bytes: &[u8], backend: Backend) -> Result<Archive, BackupError> {
    let archive = Archive::read(bytes, backend.schema_migration())?;
    let dir = crate::util::TempDir::new("restore-check");
    {
        // The CA key is written there to be loaded: for this user's eyes only.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| BackupError::Io(format!("{}: {e}", dir.path().display())))?;
    }
    let missing: Vec<&str> = TRUST_FILES
        .iter()
        .copied()
        .filter(|f| !archive.trust.iter().any(|(n, _)| n == f))
        .collect();
    if !missing.is_empty() {
        return Err(BackupError::Refused(Refusal::new(
            "err.backup_missing",
            &[("entry", missing.join(", "))],
        )));
    }
    trust_files(dir.path(), Some(&archive.trust))?;
    crate::ca::Ca::load_or_create(dir.path()).map_err(|e| {
        BackupError::Refused(Refusal::new(
            "err.backup_trust",
            &[("error", e.to_string())],
        ))
    })?;
    Ok(archive)
}

/// Replaces everything in `store` and the trust files in `data_dir` by a checked archive's,
/// the tables in one transaction.
pub async fn restore(store: &Store, data_dir: &Path, archive: &Archive) -> Result<(), BackupError> {
    store.replace_all(&archive.tables).await?;
    trust_files(data_dir, Some(&archive.trust))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Cell;

    fn archive_of(schema: i64, table: &str, columns: &[&str], rows: Vec<Vec<Cell>>) -> Vec<u8> {
        let mut writer = archive::Writer::default();
        let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        writer.add_table(table, &names, &rows).unwrap();
        writer
            .finish(Manifest {
                format: archive::FORMAT.into(),
                format_version: archive::FORMAT_VERSION,
                xfleet_version: "0.0.1".into(),
                schema_migration: schema,
                created_at: "2020-01-01T00:00:00Z".into(),
                source_backend: "sqlite".into(),
                tables: vec![archive::TableEntry {
                    name: table.into(),
                    rows: rows.len() as u64,
                }],
                entries: Vec::new(),
            })
            .unwrap()
    }

    /// An archive from an older schema (a `servers` table without the columns added since,
    /// a column dropped since) is restored column by column by name, the missing columns at
    /// their defaults, and the next server gets an id past the restored one; an archive from
    /// a newer schema is refused with both numbers. On both backends.
    #[tokio::test]
    async fn an_older_archive_restores_by_name_and_a_newer_one_is_refused() {
        for test in crate::store::testing::test_stores().await {
            let (store, label, _dir) = test.into_parts();
            let schema = store.backend().schema_migration();
            let columns = ["id", "name", "created_at", "updated_at", "gone_since"];
            let row = vec![
                Cell::Int(41),
                Cell::Text("old-1".into()),
                Cell::Int(1),
                Cell::Int(2),
                Cell::Null,
            ];
            let newer = archive_of(schema + 1, "servers", &columns, vec![row.clone()]);
            let refused = Archive::read(&newer, schema).unwrap_err().to_string();
            assert!(
                refused.contains(&format!("schema {}", schema + 1))
                    && refused.contains(&format!("schema {schema}")),
                "{label}: {refused}"
            );

            let older = archive_of(1, "servers", &columns, vec![row]);
            let archive = Archive::read(&older, schema).unwrap();
            store.replace_all(&archive.tables).await.unwrap();
            let restored = store.server(41).await.unwrap();
            assert_eq!(restored.name, "old-1", "{label}");
            assert_eq!(restored.reported_addresses, "[]", "{label}: a default");
            assert_eq!(restored.is_local, 0, "{label}: a default");
            let next = store
                .create_server(&crate::store::NewServer {
                    name: "new-1".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(next.id > 41, "{label}: {}", next.id);
            store.close().await;
        }
    }
}
