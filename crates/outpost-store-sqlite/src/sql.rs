//! Conversions between SQLite values and domain types.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};

use outpost_store::StoreError;

/// Sortable RFC 3339 text with microseconds.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn conversion(
    idx: usize,
    err: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(err))
}

pub fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| conversion(idx, e))
}

pub fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| conversion(idx, e))
    })
    .transpose()
}

/// Parses a text column into anything with `FromStr` (ids, roles, kinds).
pub fn get_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| conversion(idx, e))
}

pub fn get_opt_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: Option<String> = row.get(idx)?;
    text.map(|t| t.parse().map_err(|e| conversion(idx, e)))
        .transpose()
}

pub fn get_json(row: &Row<'_>, idx: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| conversion(idx, e))
}

/// Maps a unique-constraint violation to `AlreadyExists(what)`, anything else to `Backend`.
pub fn unique_as(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::AlreadyExists(what)
        }
        _ => StoreError::backend(err),
    }
}

/// `?` for rusqlite results inside store code.
pub trait OrBackend<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> OrBackend<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}

impl<T> OrBackend<T> for Result<T, FromSqlError> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}
