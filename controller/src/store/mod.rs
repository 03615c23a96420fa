//! Storage on SQLite (embedded default) or PostgreSQL, one schema, one set of queries.
//!
//! Queries are built at run time on sqlx's `Any` driver with `$N` placeholders, which both
//! backends accept, so no database is needed to compile. Each backend has its own migrations
//! folder with matching numbers. Times are epoch milliseconds, booleans 0/1 integers.

mod alerts;
mod audit;
mod auth;
mod bulk;
mod client_batch;
mod client_list;
pub mod cluster;
mod dump;
mod failures;
mod fleet;
mod history;
pub mod limits;
mod outbounds;
mod rollouts;
mod samples;
mod scrape;
pub(crate) mod servers;
mod settings;
mod summary;
mod tasks;
mod templates;
mod traffic;
mod trust;

pub use alerts::{CertificateTerm, RenewalFailureRow, TaskFailureRow};
pub use audit::AuditEntry;
pub use auth::{ApiTokenRow, SessionRow, TotpState, UserRow, SESSION_ID_LEN};
pub use client_batch::{change_clients, ClientChange};
pub use client_list::{ClientQuery, ClientSort, ClientState};
pub use dump::{Cell, Column, RestoredTable, Snapshot};
pub use failures::InboundFailureRow;
pub use fleet::{write as fleet_write, ClientRow, ClientTotals, InboundRow, NewClient, NewInbound};
pub use history::{ClientHour, ServerHour};
pub use outbounds::OutboundCounter;
pub use rollouts::{AwaitedUpdate, RolloutRow, RolloutServerRow};
pub use samples::{ServerSample, SAMPLES_KEPT_HOURS};
pub use scrape::{InboundBytes, ServerGauge, TaskStateCount};
pub use servers::{LinkHostSource, NewServer, ServerPatch, ServerRow};
pub use summary::{FleetSummary, ServerUsage, ONLINE_LIST_MAX};
pub use tasks::{TaskRow, TaskStatus};
pub use templates::TemplateRow;
pub use traffic::{hour_start, Counter, Ingest, TrafficScope, TrafficTotals, HOUR_MS, MAX_COUNTER};
pub use trust::{CertificateRow, ConsumedToken, TokenRefusal};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

use crate::i18n::{Refusal, Said};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(Said),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file could not be made owner-only.
    #[error("{0}")]
    File(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The highest migration this build carries for the backend: the schema it reads and
    /// writes.
    pub fn schema_migration(self) -> i64 {
        let migrator = match self {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }
}

/// The controller's database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// On SQLite, the turn of the next bulk writer (see [`Store::begin_write`]).
    writer: Arc<Mutex<()>>,
    url: Arc<str>,
}

/// A transaction that writes, and on SQLite the writer's turn it holds until it ends.
pub(crate) struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Store {
    /// Connects, creating an SQLite file if needed, and applies the backend's migrations.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url);
        if let Some(path) = sqlite_file(url) {
            // Password hashes, two-factor secrets and every client's credentials live here.
            crate::util::prepare_private_file(path).map_err(|e| {
                StoreError::File(format!("make {} private to this user: {e}", path.display()))
            })?;
        }
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; busy_timeout queues writers
                        // instead of failing them.
                        conn.execute(
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                             PRAGMA busy_timeout=10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
        }
        Ok(Self {
            pool,
            backend,
            writer: Arc::new(Mutex::new(())),
            url: url.into(),
        })
    }

    /// Begins a transaction that will write. SQLite has one writer at a time: the transaction
    /// takes the write lock at once (`BEGIN IMMEDIATE`; a deferred one that read first fails
    /// when another writer committed meanwhile), and bulk writers of this process queue here
    /// in order rather than in SQLite's busy handler, which polls in sleeps of up to 100 ms.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                }
            }
            Backend::Postgres => WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            },
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Writes a consistent copy of the SQLite database to `dest`, which must be absent or
    /// empty, while writers carry on (`VACUUM INTO` reads one snapshot). SQLite only:
    /// PostgreSQL is copied with `pg_dump`.
    pub async fn sqlite_copy_to(&self, dest: &std::path::Path) -> Result<()> {
        sqlx::query("VACUUM INTO $1")
            .bind(dest.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQLite URL for a database file, created on first use.
/// The database file of an SQLite URL (`sqlite://PATH?…` or `sqlite:PATH`); `None` for
/// PostgreSQL and in-memory databases.
fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:") && !url.contains("mode=memory"))
        .then(|| std::path::Path::new(path))
}

pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Turns a unique-constraint violation into a conflict with a readable message.
fn conflict(e: sqlx::Error, message: impl FnOnce() -> Refusal) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message().into())
        }
        _ => StoreError::Db(e),
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
