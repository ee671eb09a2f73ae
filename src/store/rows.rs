//! Backend-neutral SQL plumbing: the arguments every statement binds
//! ([`Arg`]), the rows every statement returns ([`Columns`]), and which
//! dialect a connection speaks ([`Backend`]). The store's functions are
//! written once against these, with `$1`-style placeholders (PostgreSQL's
//! and one of SQLite's own), and run on SQLite (sqlx's pool, rusqlite's
//! writer connection) or PostgreSQL (sqlx) alike. Where the dialects
//! differ, the statement names both ([`Backend::pick`]). Server only.

use std::borrow::Cow;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Postgres, Sqlite};

use super::StoreError;

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The statement for this dialect.
    pub(super) fn pick<'a>(self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self {
            Self::Sqlite => sqlite,
            Self::Postgres => postgres,
        }
    }

    /// The database's name as people write it (status page).
    pub fn title(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The name operators see (status page, logs).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A statement argument. Every value carries its SQL type, even a NULL:
/// PostgreSQL types each parameter from what is bound, and a NULL of the
/// wrong type makes `$1 IS NULL OR category = $1` fail.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bool(bool),
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<u32> for Arg<'_> {
    fn from(value: u32) -> Self {
        Self::Int(Some(i64::from(value)))
    }
}

impl From<Option<u32>> for Arg<'_> {
    fn from(value: Option<u32>) -> Self {
        Self::Int(value.map(i64::from))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Self::Text(Some(value))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Self::Text(Some(value))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Self::Text(value)
    }
}

impl<'a> From<&Option<&'a str>> for Arg<'a> {
    fn from(value: &Option<&'a str>) -> Self {
        Self::Text(*value)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Self::Text(value.as_deref())
    }
}

impl From<bool> for Arg<'_> {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(value: &'a [u8]) -> Self {
        Self::Bytes(value)
    }
}

/// `[Arg::from(a), Arg::from(b), …]`: a statement's arguments in order.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        [$($crate::store::rows::Arg::from($value)),*]
    };
}
pub(super) use args;

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Int(value) => value.to_sql(),
            Self::Text(value) => value.to_sql(),
            Self::Bool(value) => value.to_sql(),
            Self::Bytes(value) => value.to_sql(),
        }
    }
}

/// Binds `args` to a PostgreSQL statement.
pub(super) fn bind_pg<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    args: &[Arg<'q>],
) -> Query<'q, Postgres, PgArguments> {
    for arg in args {
        query = match *arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
            Arg::Bool(value) => query.bind(value),
            Arg::Bytes(value) => query.bind(value),
        };
    }
    query
}

/// Binds `args` to a statement of sqlx's SQLite driver (which reads `$1`
/// as the first argument, like PostgreSQL).
pub(super) fn bind_sqlite<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    args: &[Arg<'q>],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for arg in args {
        query = match *arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
            Arg::Bool(value) => query.bind(value),
            Arg::Bytes(value) => query.bind(value),
        };
    }
    query
}

/// The statement as rusqlite's SQLite sees it: `$3` becomes `?3`. SQLite
/// reads `$3` as a parameter NAMED "$3" and numbers names in the order they
/// first occur, so `$2 … $1` would swap the arguments; `?3` is the third
/// argument wherever it stands.
pub(super) fn numbered_for_sqlite(sql: &str) -> Cow<'_, str> {
    let bytes = sql.as_bytes();
    let placeholder =
        |i: usize| bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
    if !(0..bytes.len()).any(placeholder) {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut start = 0;
    for i in 0..bytes.len() {
        if placeholder(i) {
            out.push_str(&sql[start..i]);
            out.push('?');
            start = i + 1;
        }
    }
    out.push_str(&sql[start..]);
    Cow::Owned(out)
}

/// A list of ids as the JSON array that statements read with
/// [`ids_in!`](ids_in).
pub(super) fn id_list(ids: &[i64]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A statement that reads a JSON list of ids from parameter `$n`, for
/// `backend`: `ids_in!(backend, "SELECT … WHERE id IN ", 1, " ORDER BY id")`
/// puts the id list's subquery between the two pieces.
macro_rules! ids_in {
    ($backend:expr, $before:literal, $param:literal, $after:literal) => {
        $backend.pick(
            concat!(
                $before,
                "(SELECT value FROM json_each($",
                $param,
                "))",
                $after
            ),
            concat!(
                $before,
                "(SELECT value::bigint FROM jsonb_array_elements_text($",
                $param,
                "::jsonb))",
                $after
            ),
        )
    };
}
pub(super) use ids_in;

/// A column value every driver can read: integers, text, booleans, bytes
/// and their `Option`s.
pub(super) trait Column:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A result row, read by column name or position.
pub(super) trait Columns {
    /// The column called `name`.
    fn value<T: Column>(&self, name: &str) -> Result<T, StoreError>;
    /// The column at `index` (from 0).
    fn at<T: Column>(&self, index: usize) -> Result<T, StoreError>;
}

/// A row from any connection.
pub(super) enum Row<'r> {
    Pooled(&'r SqliteRow),
    Writer(&'r rusqlite::Row<'r>),
    Postgres(&'r PgRow),
}

impl Columns for Row<'_> {
    fn value<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        Ok(match self {
            Self::Pooled(row) => sqlx::Row::try_get(*row, name)?,
            Self::Writer(row) => row.get(name)?,
            Self::Postgres(row) => sqlx::Row::try_get(*row, name)?,
        })
    }

    fn at<T: Column>(&self, index: usize) -> Result<T, StoreError> {
        Ok(match self {
            Self::Pooled(row) => sqlx::Row::try_get(*row, index)?,
            Self::Writer(row) => row.get(index)?,
            Self::Postgres(row) => sqlx::Row::try_get(*row, index)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_for_sqlite;

    #[test]
    fn dollar_placeholders_become_numbered_ones_and_nothing_else_changes() {
        assert_eq!(
            numbered_for_sqlite("SELECT $2, '$[0]', $10 WHERE a = $1"),
            "SELECT ?2, '$[0]', ?10 WHERE a = ?1"
        );
        assert!(matches!(
            numbered_for_sqlite("SELECT 1"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
