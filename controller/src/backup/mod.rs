//! Backups: one portable archive (`archive`) with every table of the schema as neutral rows,
//! the trust material agents depend on among them, read from one consistent snapshot while the
//! controller runs, and restored into an empty database of either backend in one
//! transaction. So a backup on SQLite restored into PostgreSQL is the way to move a fleet,
//! and enrolled agents keep their certificates. Scheduled backups into a folder live in
//! `schedule`.

pub mod archive;
pub mod schedule;

use time::format_description::well_known::Rfc3339;

use crate::i18n::Refusal;
use crate::store::{Backend, Cell, Store, StoreError};
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

/// The trust material agents depend on, by its name in the `trust_material` table: the CA
/// (its certificate is pinned by every agent, its key signs their certificates and agent
/// updates) and the gateway's key (pinned by install lines). It travels with the other tables.
const TRUST: &[&str] = &["ca.pem", "ca.key", "gateway.key"];

/// What a backup holds, for the one who asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub tables: usize,
    pub rows: u64,
    pub bytes: usize,
    pub schema_migration: i64,
}

/// An archive of the database `store`, every table read from one snapshot.
pub async fn create(store: &Store) -> Result<(Vec<u8>, Summary), BackupError> {
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
    let material: std::collections::HashMap<String, String> = (archive.tables.iter())
        .find(|t| t.name == "trust_material")
        .map(|t| {
            let name = t.columns.iter().position(|c| c == "name");
            let pem = t.columns.iter().position(|c| c == "pem");
            t.rows
                .iter()
                .filter_map(|row| match (row.get(name?)?, row.get(pem?)?) {
                    (Cell::Text(n), Cell::Text(p)) => Some((n.clone(), p.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = TRUST
        .iter()
        .copied()
        .filter(|f| !material.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(BackupError::Refused(Refusal::new(
            "err.backup_missing",
            &[("entry", format!("trust_material: {}", missing.join(", ")))],
        )));
    }
    crate::ca::check_stored(
        &material["ca.pem"],
        &material["ca.key"],
        &material["gateway.key"],
    )
    .map_err(|e| {
        BackupError::Refused(Refusal::new(
            "err.backup_trust",
            &[("error", e.to_string())],
        ))
    })?;
    Ok(archive)
}

/// Replaces everything in `store` by a checked archive's, in one transaction (the CA with
/// the other tables).
pub async fn restore(store: &Store, archive: &Archive) -> Result<(), BackupError> {
    store.replace_all(&archive.tables).await?;
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
