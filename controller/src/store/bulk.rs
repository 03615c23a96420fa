//! Many rows in few statements: `INSERT … VALUES (…), (…) …` and `… IN (…)` lists built at
//! run time, in chunks that stay within both backends' limits on bound parameters.

use sqlx::AnyConnection;

use super::Result;

/// Rows per statement. With at most [`MAX_WIDTH`] parameters a row (plus a few shared ones)
/// a statement stays far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
pub(super) const ROWS_PER_STATEMENT: usize = 1000;
const MAX_WIDTH: usize = 8;
const MAX_SHARED: usize = 8;
const _: () = assert!(ROWS_PER_STATEMENT * MAX_WIDTH + MAX_SHARED <= 32_766);

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// Rows of `width` parameters each, laid out one after another in `params`.
pub(super) struct Rows<'a> {
    /// A row as SQL, `{0}` … `{width-1}` standing for its parameters, e.g. `($1, {0}, {1})`.
    pub template: &'static str,
    pub width: usize,
    pub params: Vec<Param<'a>>,
}

impl<'a> Rows<'a> {
    pub fn new(template: &'static str, width: usize) -> Self {
        assert!((1..=MAX_WIDTH).contains(&width), "row width {width}");
        Self {
            template,
            width,
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, row: &[Param<'a>]) {
        debug_assert_eq!(row.len(), self.width);
        self.params.extend_from_slice(row);
    }

    /// Runs `statement(list)` once per chunk of rows (never for no rows), where `list` is the chunk's rows joined
    /// by commas. `shared` are bound first, as `$1` … `$k`, and may appear in the template.
    pub async fn execute(
        &self,
        conn: &mut AnyConnection,
        shared: &[Param<'_>],
        statement: impl Fn(&str) -> String,
    ) -> Result<()> {
        assert!(
            shared.len() <= MAX_SHARED,
            "{} shared parameters",
            shared.len()
        );
        for chunk in self.params.chunks(ROWS_PER_STATEMENT * self.width) {
            let mut list = String::with_capacity(chunk.len() * 8);
            let mut next = shared.len() + 1;
            for row in 0..chunk.len() / self.width {
                if row > 0 {
                    list.push_str(", ");
                }
                render_row(&mut list, self.template, next);
                next += self.width;
            }
            let sql = statement(&list);
            let mut query = sqlx::query(&sql);
            for p in shared.iter().chain(chunk) {
                query = match *p {
                    Param::Int(v) => query.bind(v),
                    Param::Text(v) => query.bind(v),
                };
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Appends `template` with `{k}` replaced by `$<first + k>`.
fn render_row(out: &mut String, template: &str, first: usize) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("closed placeholder");
        let k: usize = rest[open + 1..close].parse().expect("numbered placeholder");
        out.push('$');
        out.push_str(&(first + k).to_string());
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
}

/// A byte count as the database stores it (signed 64-bit), saturating.
pub(super) fn bytes(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_number_their_parameters_after_the_shared_ones() {
        let mut out = String::new();
        render_row(&mut out, "($1, {0}, {1}, {0} + {1})", 3);
        out.push_str(", ");
        render_row(&mut out, "($1, {0}, {1}, {0} + {1})", 5);
        assert_eq!(out, "($1, $3, $4, $3 + $4), ($1, $5, $6, $5 + $6)");
    }
}
