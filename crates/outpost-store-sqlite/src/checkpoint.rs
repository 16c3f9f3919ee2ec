//! WAL checkpoints behind the writer.
//!
//! SQLite's own rule checkpoints inside the commit that takes the WAL past a limit, so the
//! writer copies the WAL into the database file and waits for two fsyncs before it answers.
//! A push lands a batch every few hundred milliseconds, and in a profile of one the writer
//! spent 6% of the hub's time copying the previous batches that way (docs/BENCHMARKS.md).
//! Instead, a writing connection's commits ask for a checkpoint on a connection of its own,
//! on a thread of its own, and the writer checkpoints by itself only once the WAL has grown
//! far past that point.

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::hooks::Wal;
use rusqlite::{Connection, OpenFlags};

use outpost_store::{StoreError, StoreResult};

use crate::conn::open_with;
use crate::keys::Key;

/// WAL pages after a commit from which a checkpoint is asked for: SQLite's default limit.
const BEHIND_PAGES: c_int = 1_000;

/// WAL pages after a commit past which the writer checkpoints itself (64 MiB of 4 KiB pages).
///
/// During a long push the WAL does not start over by itself: SQLite rewinds it only when a
/// write begins with every frame already copied, and each batch begins while the checkpoint
/// of the one before is still copying. So the WAL grows by a batch at a time until this
/// limit, where the writer copies what is left (about one batch) and the WAL starts over.
const INLINE_PAGES: c_int = 16_384;

/// The size the WAL file is cut back to after a checkpoint, in bytes: as large as
/// [`INLINE_PAGES`] lets it grow, so that a push writes over the file in place instead of
/// growing it block by block again after every restart.
pub const WAL_KEEP_BYTES: u64 = (INLINE_PAGES as u64) * 4096;

/// Hands the checkpoints of one file to a background thread, one at a time.
#[derive(Clone)]
struct Behind {
    path: PathBuf,
    key: Key,
    running: Arc<AtomicBool>,
}

impl Behind {
    fn new(path: &Path, key: &Key) -> Self {
        Self {
            path: path.to_path_buf(),
            key: key.clone(),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts a checkpoint unless one is running; `false` when no thread could be started.
    fn request(&self) -> bool {
        if self.running.swap(true, Ordering::AcqRel) {
            return true;
        }
        let job = self.clone();
        let started = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                // A failure is left to the next request, or to the writer's own checkpoint.
                let _ = job.run();
                job.running.store(false, Ordering::Release);
            });
        if started.is_err() {
            self.running.store(false, Ordering::Release);
        }
        started.is_ok()
    }

    fn run(&self) -> StoreResult<()> {
        // Never creates the file: it may be gone since (the tenant deleted, a restore failed).
        let flags = OpenFlags::default().difference(OpenFlags::SQLITE_OPEN_CREATE);
        let conn = open_with(&self.path, &self.key, flags)?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(StoreError::backend)
    }
}

/// Replaces SQLite's checkpoint-at-commit on `conn` (the connection that writes `path`) with
/// checkpoints behind it.
pub fn behind_writer(conn: &mut Connection, path: &Path, key: &Key) -> StoreResult<()> {
    let behind = Behind::new(path, key);
    conn.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
        if pages >= INLINE_PAGES || (pages >= BEHIND_PAGES && !behind.request()) {
            // As SQLite's own hook does: the commit has happened, so a checkpoint that could
            // not run (another one is running) must not make it report an error.
            let _ = wal.checkpoint();
        }
        Ok(())
    }))
    .map_err(StoreError::backend)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::conn::{open_encrypted, open_writer};
    use crate::keys::random_key;

    fn file_size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// A commit of a few thousand pages reaches the database file with no further call on the
    /// writer: the checkpoint ran on its own connection, with the file's key.
    #[test]
    fn a_large_commit_is_copied_into_the_file_behind_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tenant.db");
        let key = random_key();
        let mut conn = open_writer(&path, &key).expect("open");
        conn.execute_batch("CREATE TABLE t (x BLOB NOT NULL)")
            .expect("table");
        let tx = conn.transaction().expect("begin");
        for _ in 0..3_000 {
            tx.execute("INSERT INTO t (x) VALUES (randomblob(3000))", [])
                .expect("insert");
        }
        tx.commit().expect("commit");
        let deadline = Instant::now() + Duration::from_secs(60);
        while file_size(&path) < 3_000 * 3_000 {
            assert!(Instant::now() < deadline, "no checkpoint copied the WAL");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(conn);
        let rows: i64 = open_encrypted(&path, &key)
            .expect("reopen")
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(rows, 3_000);
    }

    /// A checkpoint that comes after its file is gone (a tenant deleted, a restore that failed)
    /// fails instead of leaving a new, empty file behind.
    #[test]
    fn a_late_checkpoint_does_not_bring_a_deleted_file_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("gone.db");
        assert!(Behind::new(&path, &random_key()).run().is_err());
        assert!(!path.exists());
    }
}
