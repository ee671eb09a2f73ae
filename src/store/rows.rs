//! One row mapping for both connections: the pool's rows (sqlx) and the
//! writer's (rusqlite) read the same columns into the same types, so a
//! message or a user is built by one function whichever side read it.
//! Server only.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

use super::StoreError;

/// A column value both drivers can read: integers, text, booleans and
/// their `Option`s.
pub(super) trait Column:
    for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

/// A result row, read by column name.
pub(super) trait Columns {
    fn value<T: Column>(&self, name: &str) -> Result<T, StoreError>;
}

impl Columns for SqliteRow {
    fn value<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn value<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        Ok(self.get(name)?)
    }
}
