//! Opening SQLCipher files and running blocking SQLite work off the async runtime.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use zeroize::Zeroizing;

use outpost_store::{StoreError, StoreResult};

use crate::keys::Key;

/// Opens (creating if needed) an encrypted database with a raw 256-bit key.
///
/// Refuses a SQLite library that is not SQLCipher, and a key that does not open the file.
pub fn open_encrypted(path: &Path, key: &Key) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(StoreError::backend)?;
    // Only the hub's user may read the file; SQLite gives -wal and -shm the same mode.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let cipher_version: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |row| row.get(0))
        .ok();
    if cipher_version.as_deref().is_none_or(str::is_empty) {
        return Err(StoreError::NotEncrypted);
    }
    let pragma = Zeroizing::new(format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(key.as_slice())
    ));
    conn.execute_batch(&pragma).map_err(StoreError::backend)?;
    // Reading the schema is the first access that needs the key.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .map_err(|_| StoreError::WrongKey)?;
    // cipher_memory_security stays off on the hub: it mlocks and wipes every allocation,
    // which costs several times the work itself, and a server's memory is not a laptop's.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(StoreError::backend)?;
    Ok(conn)
}

/// One database file: a connection shared behind a mutex, used from blocking threads.
///
/// SQLite serialises writers anyway; one connection per file keeps the hub's memory small
/// with many tenants and makes every call see committed state.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    pub fn new(conn: Connection, path: PathBuf) -> Self {
        Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Corrupt("database connection poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(StoreError::backend)?
    }
}
