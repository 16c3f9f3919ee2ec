//! Reading rows into domain types, mapping errors, and the write lock every transaction takes.

use std::str::FromStr;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use outpost_domain::{
    DeviceId, LocalEventId, OpId, PatientId, RecordId, SessionId, TenantId, TransportRequestId,
    TripId, UnitId, UserId,
};
use outpost_store::{StoreError, StoreResult};

use crate::OrBackend;
use crate::router::Conn;

/// The transaction-level advisory lock that serialises the writers of one database
/// ("outwrite" in ASCII). Every chain append reads the last hash and every change-feed entry
/// must commit in sequence order, so writers of one database take turns, whichever hub
/// instance they run in, exactly as the embedded backend's single writer does.
const WRITE_LOCK: i64 = 0x6f75_7477_7269_7465;

/// Starts a transaction holding the database's write lock until it ends.
pub async fn begin(conn: &mut tokio_postgres::Client) -> StoreResult<Transaction<'_>> {
    let tx = conn.transaction().await.db()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .db()?;
    Ok(tx)
}

/// Takes the write lock for the session of `conn` (not only a transaction): the writers of the
/// database wait until [`unlock_writers`], while `conn` itself may still write (advisory locks
/// are re-entrant within a session). Entered on the connection, so that a connection dropped
/// while holding it is closed, which frees the lock, rather than pooled.
pub async fn lock_writers(conn: &mut Conn) -> StoreResult<()> {
    conn.enter(&format!("SELECT pg_advisory_lock({WRITE_LOCK})"))
        .await
}

/// Frees what [`lock_writers`] took.
pub async fn unlock_writers(conn: &mut Conn) -> StoreResult<()> {
    conn.leave(&format!("SELECT pg_advisory_unlock({WRITE_LOCK})"))
        .await
}

/// Begins a transaction on `conn` that takes the write lock and is left open: every writer of
/// the database waits until it ends. A move holds it while it finishes the copy.
pub async fn hold_write_lock(conn: &tokio_postgres::Client) -> StoreResult<()> {
    conn.batch_execute("BEGIN").await.db()?;
    conn.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .db()
        .map(drop)
}

/// A column, with a type mismatch as an error rather than a panic.
pub fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> StoreResult<T> {
    row.try_get(idx).db()
}

/// Identifier newtypes stored as `uuid` columns.
pub trait FromUuid: Sized {
    fn wrap(id: Uuid) -> Self;
}

macro_rules! from_uuid {
    ($($t:ty),*) => {
        $(impl FromUuid for $t {
            fn wrap(id: Uuid) -> Self {
                <$t>::from_uuid(id)
            }
        })*
    };
}
from_uuid!(
    TenantId,
    UserId,
    PatientId,
    RecordId,
    SessionId,
    DeviceId,
    OpId,
    LocalEventId,
    TransportRequestId,
    TripId,
    UnitId
);

pub fn id<T: FromUuid>(row: &Row, idx: usize) -> StoreResult<T> {
    col::<Uuid>(row, idx).map(T::wrap)
}

pub fn opt_id<T: FromUuid>(row: &Row, idx: usize) -> StoreResult<Option<T>> {
    Ok(col::<Option<Uuid>>(row, idx)?.map(T::wrap))
}

/// A text column parsed into a role, kind, permission.
pub fn parsed<T>(row: &Row, idx: usize) -> StoreResult<T>
where
    T: FromStr,
{
    col::<&str>(row, idx)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("unreadable value in column {idx}")))
}

/// Maps a unique-constraint violation to `AlreadyExists(what)`, anything else to `Backend`.
pub fn unique_as(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |err| {
        if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::AlreadyExists(what)
        } else {
            StoreError::backend(err)
        }
    }
}

/// Text as a `serde_json` value (the history's changes, stored answers).
pub fn json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A value as JSON text.
pub fn to_json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}
