//! Opening SQLCipher files and running blocking SQLite work off the async runtime.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use outpost_store::{StoreError, StoreResult};

use crate::checkpoint::{self, WAL_KEEP_BYTES};
use crate::keys::Key;

/// Opens (creating if needed) an encrypted database with a raw 256-bit key.
///
/// Refuses a SQLite library that is not SQLCipher, and a key that does not open the file.
pub fn open_encrypted(path: &Path, key: &Key) -> StoreResult<Connection> {
    open_with(path, key, OpenFlags::default())
}

/// [`open_encrypted`] with SQLite's open flags (a checkpoint never creates a file).
pub(crate) fn open_with(path: &Path, key: &Key, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, flags).map_err(StoreError::backend)?;
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
    // The page cache stays at SQLite's default here: scans (snapshots, exports, checkpoints)
    // read each page once; connections that write a file get a large one and checkpoint
    // behind themselves (`open_writer`).
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA journal_size_limit = {WAL_KEEP_BYTES};"
    ))
    .map_err(StoreError::backend)?;
    // Updates name only their changed columns, so there are more distinct statements.
    conn.set_prepared_statement_cache_capacity(64);
    unicode_lower(&conn)?;
    Ok(conn)
}

/// SQLite's own `lower()` folds ASCII letters only, PostgreSQL's every letter: the board's
/// city filter ("évry" for "Évry") must answer the same on both, so `lower()` here is Rust's.
fn unicode_lower(conn: &Connection) -> StoreResult<()> {
    conn.create_scalar_function(
        "lower",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(ctx
                .get::<Option<String>>(0)?
                .map(|text| text.to_lowercase()))
        },
    )
    .map_err(StoreError::backend)
}

/// The page cache of a connection that writes a file, in KiB, filled only as pages are read.
///
/// A push of a thousand ops touches thousands of random pages (patient rows, history and
/// audit indexes), each decrypted and authenticated on a miss, and pages that overflow the
/// cache mid-transaction are encrypted and written to the WAL twice. A 100,000-patient
/// tenant's hot pages fit in 256 MiB: there the push runs 6–10% faster than with 64 MiB,
/// which itself was ~25% faster than 16 MiB (docs/BENCHMARKS.md). A small tenant's file never
/// fills it; docs/OPERATIONS.md counts it in the hub's memory.
pub const WRITER_CACHE_KIB: u32 = 262_144;

/// [`open_encrypted`] with a page cache of up to [`WRITER_CACHE_KIB`] and checkpoints behind
/// the writer ([`checkpoint`](crate::checkpoint)): for a file's long-lived connection and for
/// a restore's, which write pages at random (rows and their indexes).
pub fn open_writer(path: &Path, key: &Key) -> StoreResult<Connection> {
    let mut conn = open_encrypted(path, key)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};"))
        .map_err(StoreError::backend)?;
    checkpoint::behind_writer(&mut conn, path, key)?;
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
