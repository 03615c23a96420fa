//! Every table as rows of neutral values, for backups: read from one snapshot, written back
//! into an empty database of either backend in one transaction. The tables, their columns
//! and the order foreign keys impose are read from the database itself, so a table added by
//! a later migration travels without a change here.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::any::AnyTypeInfoKind;
use sqlx::{Any, Row, Transaction, ValueRef};

use super::{Backend, Result, Store};

/// One value of a row, whatever the backend stored it as.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A table's columns in the database: name and whether it holds integers.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub integer: bool,
}

/// A read transaction over one consistent snapshot of the whole database (SQLite: a WAL
/// read transaction; PostgreSQL: `REPEATABLE READ`), while writers carry on.
pub struct Snapshot {
    tx: Transaction<'static, Any>,
    backend: Backend,
}

/// The highest migration applied to the database the transaction reads.
async fn applied_migration(tx: &mut Transaction<'static, Any>) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(&mut **tx)
        .await?;
    Ok(n)
}

/// The schema's tables (ours only: not the migrations' ledger nor SQLite's own).
async fn table_names(tx: &mut Transaction<'static, Any>, backend: Backend) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations' ORDER BY table_name"
        }
    };
    let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

async fn columns(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    table: &str,
) -> Result<Vec<Column>> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql).bind(table).fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(|(name, ty)| Column {
            integer: ty.to_ascii_uppercase().contains("INT"),
            name,
        })
        .collect())
}

/// Tables in an order where each comes after the tables its foreign keys point to.
async fn parents_first(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    tables: Vec<String>,
) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name, p.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) p \
             WHERE m.type = 'table'"
        }
        Backend::Postgres => {
            "SELECT tc.table_name::text, ccu.table_name::text \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.constraint_column_usage ccu \
               ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()"
        }
    };
    let edges: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&mut **tx).await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (child, parent) in edges {
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    let mut left = tables;
    while !left.is_empty() {
        let (ready, waiting): (Vec<String>, Vec<String>) = left.into_iter().partition(|t| {
            parents
                .get(t)
                .is_none_or(|ps| ps.iter().all(|p| placed.contains(p) || p == t))
        });
        if ready.is_empty() {
            // A loop of foreign keys (none in this schema): keep the rest as they are.
            ordered.extend(waiting);
            break;
        }
        for t in ready {
            placed.insert(t.clone());
            ordered.push(t);
        }
        left = waiting;
    }
    Ok(ordered)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Begins a read of one consistent snapshot of every table.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(Snapshot {
            tx,
            backend: self.backend,
        })
    }

    /// Tables that hold at least one row, with their counts.
    pub async fn nonempty_tables(&self) -> Result<Vec<(String, i64)>> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::new();
        for table in table_names(&mut tx, self.backend).await? {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {}", quote(&table)))
                .fetch_one(&mut *tx)
                .await?;
            if n > 0 {
                out.push((table, n));
            }
        }
        Ok(out)
    }

    /// Replaces the contents of every table by `tables` (name, columns, rows), in one
    /// transaction: all or nothing. Columns the database lacks are left out, and so are
    /// tables it lacks (both from an older schema, dropped since); columns the rows lack
    /// take their defaults. PostgreSQL's identity counters move past the restored ids.
    pub async fn replace_all(&self, tables: &[RestoredTable]) -> Result<()> {
        let mut w = self.begin_write().await?;
        let tx = &mut w.tx;
        let names = table_names(tx, self.backend).await?;
        let order = parents_first(tx, self.backend, names).await?;
        for table in order.iter().rev() {
            sqlx::query(&format!("DELETE FROM {}", quote(table)))
                .execute(&mut **tx)
                .await?;
        }
        let given: BTreeMap<&str, &RestoredTable> =
            tables.iter().map(|t| (t.name.as_str(), t)).collect();
        for table in &order {
            let Some(source) = given.get(table.as_str()) else {
                continue;
            };
            let target = columns(tx, self.backend, table).await?;
            insert_rows(tx, table, &target, source).await?;
        }
        if self.backend == Backend::Postgres {
            move_identities_past_rows(tx).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }
}

/// One table's rows as an archive holds them.
#[derive(Debug, Clone)]
pub struct RestoredTable {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Rows per `INSERT`: few enough to stay under both backends' bound-parameter limits for
/// the widest table.
const ROWS_PER_INSERT: usize = 50;

async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    target: &[Column],
    source: &RestoredTable,
) -> Result<()> {
    // Each archive column the table still has, with where it sits in the rows.
    let kept: Vec<(usize, &Column)> = source
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, name)| target.iter().find(|c| &c.name == name).map(|c| (i, c)))
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = kept.iter().map(|(_, c)| quote(&c.name)).collect();
    for chunk in source.rows.chunks(ROWS_PER_INSERT) {
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(table),
            names.join(", ")
        );
        let mut n = 0;
        for (r, _) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for k in 0..kept.len() {
                n += 1;
                if k > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for (i, column) in &kept {
                query = match row.get(*i).unwrap_or(&Cell::Null) {
                    // A NULL is bound with the column's type: PostgreSQL refuses a NULL
                    // text into a BIGINT column.
                    Cell::Null if column.integer => query.bind(None::<i64>),
                    Cell::Null => query.bind(None::<String>),
                    Cell::Int(v) => query.bind(*v),
                    Cell::Real(v) => query.bind(*v),
                    Cell::Text(v) => query.bind(v.clone()),
                    Cell::Blob(v) => query.bind(v.clone()),
                };
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Moves every identity column's counter past the largest id restored, so the next row
/// added gets a fresh id.
async fn move_identities_past_rows(tx: &mut Transaction<'static, Any>) -> Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut **tx)
    .await?;
    for (table, column) in identities {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), \
             COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
            c = quote(&column),
            t = quote(&table)
        );
        sqlx::query(&sql)
            .bind(quote(&table))
            .bind(&column)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Snapshot {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The highest migration applied to the database read.
    pub async fn migration(&mut self) -> Result<i64> {
        applied_migration(&mut self.tx).await
    }

    /// The tables, parents before the tables that point to them.
    pub async fn tables(&mut self) -> Result<Vec<String>> {
        let names = table_names(&mut self.tx, self.backend).await?;
        parents_first(&mut self.tx, self.backend, names).await
    }

    pub async fn columns(&mut self, table: &str) -> Result<Vec<Column>> {
        columns(&mut self.tx, self.backend, table).await
    }

    /// Every row of `table`, its columns in the order [`Snapshot::columns`] gives.
    pub async fn rows(&mut self, table: &str, columns: &[Column]) -> Result<Vec<Vec<Cell>>> {
        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        let sql = format!("SELECT {} FROM {}", names.join(", "), quote(table));
        let rows = sqlx::query(&sql).fetch_all(&mut *self.tx).await?;
        rows.iter()
            .map(|row| (0..columns.len()).map(|i| cell(row, i)).collect())
            .collect()
    }

    /// Ends the read.
    pub async fn finish(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// A row's value as a [`Cell`], by the type of the value itself (SQLite types values, not
/// columns).
fn cell(row: &sqlx::any::AnyRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let kind = raw.type_info().kind();
    Ok(match kind {
        AnyTypeInfoKind::Null => Cell::Null,
        AnyTypeInfoKind::Bool => Cell::Int(i64::from(row.try_get::<bool, _>(i)?)),
        AnyTypeInfoKind::SmallInt => Cell::Int(i64::from(row.try_get::<i16, _>(i)?)),
        AnyTypeInfoKind::Integer => Cell::Int(i64::from(row.try_get::<i32, _>(i)?)),
        AnyTypeInfoKind::BigInt => Cell::Int(row.try_get::<i64, _>(i)?),
        AnyTypeInfoKind::Real => Cell::Real(f64::from(row.try_get::<f32, _>(i)?)),
        AnyTypeInfoKind::Double => Cell::Real(row.try_get::<f64, _>(i)?),
        AnyTypeInfoKind::Text => Cell::Text(row.try_get::<String, _>(i)?),
        AnyTypeInfoKind::Blob => Cell::Blob(row.try_get::<Vec<u8>, _>(i)?),
    })
}
