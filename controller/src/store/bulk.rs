//! Many rows in few statements: `INSERT … VALUES (…), (…) …` and `… IN (…)` lists built at
//! run time, in chunks that stay within both backends' limits on bound parameters.
//!
//! Placeholders are `$N` on PostgreSQL but bare `?` on SQLite, bound in the order they
//! appear: SQLite finds a named or numbered parameter by a linear search, so binding
//! thousands of `$N` costs time quadratic in their number (most of a batch's time, measured).
//! Statements here therefore never use one placeholder twice.

use sqlx::AnyConnection;

use super::{Backend, Result};

/// Rows per statement. With at most [`MAX_WIDTH`] parameters a row (plus a few in the
/// statement's head) a statement stays far below SQLite's 32,766 and PostgreSQL's 65,535
/// bound parameters.
pub(super) const ROWS_PER_STATEMENT: usize = 1000;
const MAX_WIDTH: usize = 8;
const MAX_HEAD: usize = 8;
const _: () = assert!(ROWS_PER_STATEMENT * MAX_WIDTH + MAX_HEAD <= 32_766);

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// Rows of `width` parameters each, laid out one after another in `params`.
pub(super) struct Rows<'a> {
    width: usize,
    /// `(…, …)` per row for `VALUES`; a bare value per row for `IN (…)`.
    tuples: bool,
    params: Vec<Param<'a>>,
}

impl<'a> Rows<'a> {
    /// Rows for `VALUES (…), (…)`.
    pub fn tuples(width: usize) -> Self {
        assert!((1..=MAX_WIDTH).contains(&width), "row width {width}");
        Self {
            width,
            tuples: true,
            params: Vec::new(),
        }
    }

    /// Single values for `IN (…, …)`.
    pub fn values() -> Self {
        Self {
            width: 1,
            tuples: false,
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, row: &[Param<'a>]) {
        debug_assert_eq!(row.len(), self.width);
        self.params.extend_from_slice(row);
    }

    /// Runs `statement(head, list)` once per chunk of rows (never for no rows): `head` are
    /// the placeholders of `head_params`, which must appear in the text in that order and
    /// before `list`, the chunk's rows joined by commas. Returns the rows affected, summed.
    pub async fn execute(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        head_params: &[Param<'_>],
        statement: impl Fn(&[String], &str) -> String,
    ) -> Result<u64> {
        assert!(
            head_params.len() <= MAX_HEAD,
            "{} head parameters",
            head_params.len()
        );
        let head: Vec<String> = (1..=head_params.len())
            .map(|n| placeholder(backend, n))
            .collect();
        let mut affected = 0;
        for chunk in self.params.chunks(ROWS_PER_STATEMENT * self.width) {
            let mut list = String::with_capacity(chunk.len() * 8);
            let mut next = head.len() + 1;
            for row in 0..chunk.len() / self.width {
                if row > 0 {
                    list.push_str(", ");
                }
                if self.tuples {
                    list.push('(');
                }
                for k in 0..self.width {
                    if k > 0 {
                        list.push_str(", ");
                    }
                    list.push_str(&placeholder(backend, next));
                    next += 1;
                }
                if self.tuples {
                    list.push(')');
                }
            }
            let sql = statement(&head, &list);
            let mut query = sqlx::query(&sql);
            for p in head_params.iter().chain(chunk) {
                query = match *p {
                    Param::Int(v) => query.bind(v),
                    Param::Text(v) => query.bind(v),
                };
            }
            affected += query.execute(&mut *conn).await?.rows_affected();
        }
        Ok(affected)
    }
}

/// The `n`th (from 1) parameter of a statement.
pub(super) fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_owned(),
    }
}
