//! The encrypted local mirror (one SQLCipher file per hub, tenant and user).

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::error::{ClientError, ClientResult};
use crate::keywrap::Key;

mod audit;
mod conflicts;
mod local;
mod outbox;
mod patients;
pub mod records;

pub use conflicts::StoredConflict;
pub use local::{LocalRecord, patient_of};
pub use patients::LocalPatient;

/// A migration: its version, its SQL, and the Rust step that runs after the SQL in the same
/// transaction (for what SQL cannot compute).
type Migration = (
    i64,
    &'static str,
    Option<fn(&Connection) -> ClientResult<()>>,
);

const MIGRATIONS: &[Migration] = &[
    (
        1,
        include_str!("../../../../migrations/cache/0001_init.sql"),
        None,
    ),
    (
        2,
        include_str!("../../../../migrations/cache/0002_search.sql"),
        Some(patients::reindex),
    ),
    (
        3,
        include_str!("../../../../migrations/cache/0003_history_rows.sql"),
        None,
    ),
    (
        4,
        include_str!("../../../../migrations/cache/0004_records.sql"),
        None,
    ),
];

/// How long a write waits for another process's write to the same cache to finish.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The open cache.
pub struct Cache {
    conn: Connection,
}

fn to_json<T: serde::Serialize>(value: &T) -> ClientResult<String> {
    serde_json::to_string(value).map_err(|e| ClientError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> ClientResult<T> {
    serde_json::from_str(text).map_err(|e| ClientError::Corrupt(e.to_string()))
}

/// How much one push may carry of a kind (ops, audit events): a count and a size in bytes of
/// JSON, so that a request stays under the hub's body limit whatever the outbox holds.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub count: u32,
    pub bytes: usize,
}

impl Batch {
    /// The leading rows (sequence, JSON) that fit (always at least one), and whether more
    /// rows were left over. `rows` is read with a limit of `count + 1`.
    fn take(
        self,
        rows: impl Iterator<Item = rusqlite::Result<(i64, String)>>,
    ) -> ClientResult<(Vec<(i64, String)>, bool)> {
        let mut taken = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let (seq, json) = row?;
            bytes += json.len();
            if !taken.is_empty() && (taken.len() as u32 == self.count || bytes > self.bytes) {
                return Ok((taken, true));
            }
            taken.push((seq, json));
        }
        Ok((taken, false))
    }
}

impl Cache {
    /// Opens (or creates) the cache with a raw key: refuses a non-SQLCipher library and a key
    /// that does not open the file; memory security on; WAL with `synchronous=FULL`; a 64 MiB
    /// page cache, since every page read from the file is decrypted and authenticated again
    /// (searches and the mirror revisit the same index pages).
    ///
    /// Several processes may have the cache open at once (the desktop app and `outpost`
    /// commands): every write transaction takes the write lock when it begins (`IMMEDIATE`),
    /// waiting up to [`LOCK_WAIT`] for another writer to finish. A deferred transaction that
    /// read first could not wait: in WAL mode SQLite refuses it at once when another writer
    /// committed since its read began.
    pub fn open(path: &Path, key: &Key) -> ClientResult<Self> {
        let mut conn = Connection::open(path)?;
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        let version: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .optional()?;
        if version.as_deref().is_none_or(str::is_empty) {
            return Err(ClientError::NotEncrypted);
        }
        let pragma = Zeroizing::new(format!(
            "PRAGMA key = \"x'{}'\";",
            hex::encode(key.as_slice())
        ));
        conn.execute_batch(&pragma)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|_| ClientError::CacheKeyMismatch)?;
        conn.execute_batch(
            "PRAGMA cipher_memory_security = ON;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -65536;",
        )?;
        conn.busy_timeout(LOCK_WAIT)?;
        // Plans never depend on bound values: otherwise every search with a new query would be
        // compiled again (the full-text MATCH and LIMIT values reach the planner).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        let mut cache = Self { conn };
        cache.migrate()?;
        Ok(cache)
    }

    /// Brings the cache to the newest schema, each step in a transaction with its version.
    /// The version is read inside the step's transaction: another process opening the same
    /// cache may have taken the step meanwhile.
    fn migrate(&mut self) -> ClientResult<()> {
        // Opened at every sync by the sync engine: a current cache takes no write lock here.
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if MIGRATIONS
            .last()
            .is_some_and(|(last, _, _)| current >= *last)
        {
            return Ok(());
        }
        for (version, sql, step) in MIGRATIONS {
            let tx = self.conn.transaction()?;
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if *version <= current {
                continue;
            }
            tx.execute_batch(sql)?;
            if let Some(step) = step {
                step(&tx)?;
            }
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn meta(&self, key: &str) -> ClientResult<Option<String>> {
        Self::meta_in(&self.conn, key)
    }

    /// Sets a meta value on its own (in a transaction of its own, taking the lock first).
    pub fn store_meta(&mut self, key: &str, value: &str) -> ClientResult<()> {
        let tx = self.conn.transaction()?;
        Self::set_meta(&tx, key, value)?;
        tx.commit()?;
        Ok(())
    }

    /// A meta value, read inside a transaction.
    fn meta_in(tx: &Connection, key: &str) -> ClientResult<Option<String>> {
        Ok(tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn delete_meta(tx: &Connection, key: &str) -> ClientResult<()> {
        tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    pub fn set_meta(tx: &Connection, key: &str, value: &str) -> ClientResult<()> {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The hub cursor this cache has caught up to (`None`: never mirrored).
    pub fn cursor(&self) -> ClientResult<Option<i64>> {
        Self::cursor_in(&self.conn)
    }

    /// [`Cache::cursor`], read inside a transaction.
    pub fn cursor_in(tx: &Connection) -> ClientResult<Option<i64>> {
        Ok(Self::meta_in(tx, "cursor")?.and_then(|c| c.parse().ok()))
    }

    pub fn transaction(&mut self) -> ClientResult<Transaction<'_>> {
        Ok(self.conn.transaction()?)
    }

    pub fn count(&self, table: &str) -> ClientResult<i64> {
        let sql = match table {
            "patients" => "SELECT count(*) FROM patients WHERE deleted = 0",
            "outbox" => "SELECT count(*) FROM outbox",
            "conflicts" => "SELECT count(*) FROM conflicts",
            "local_audit" => "SELECT count(*) FROM local_audit",
            "history" => "SELECT count(*) FROM patient_history",
            _ => return Err(ClientError::Corrupt(format!("unknown table {table}"))),
        };
        Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Makes the cache as a build of sync schema `schema` left it: no records of the kinds it
    /// did not know, and its schema not noted (tests of the catch-up after an update).
    #[cfg(feature = "test-support")]
    pub fn as_left_by_schema(&mut self, schema: i64) -> ClientResult<()> {
        let tx = self.conn.transaction()?;
        for entity in outpost_domain::Entity::ALL {
            if entity.schema() > schema {
                tx.execute("DELETE FROM records WHERE entity = ?1", [entity.as_str()])?;
                tx.execute(
                    "DELETE FROM record_history WHERE entity = ?1",
                    [entity.as_str()],
                )?;
            }
        }
        for key in [
            crate::catch_up::SCHEMA_KEY,
            crate::catch_up::SCHEMA_CURSOR_KEY,
        ] {
            Self::delete_meta(&tx, key)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes `value` into a cached record's `field`, as an older build's copy held it (tests
    /// of what an update's catch-up replaces).
    #[cfg(feature = "test-support")]
    pub fn plant_field(
        &mut self,
        entity: outpost_domain::Entity,
        id: outpost_domain::RecordId,
        field: &str,
        value: &str,
    ) -> ClientResult<()> {
        self.conn.execute(
            "UPDATE records SET data = json_set(data, '$.' || ?3, ?4) WHERE entity = ?1 AND id = ?2",
            params![entity.as_str(), id.to_string(), field, value],
        )?;
        Ok(())
    }

    /// Every value of every table, decrypted, one per line (blobs as lossy text).
    #[cfg(feature = "test-support")]
    pub fn every_value(&self) -> ClientResult<String> {
        use rusqlite::types::ValueRef;
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut text = String::new();
        for table in tables {
            let mut stmt = self.conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                for i in 0..columns {
                    match row.get_ref(i)? {
                        ValueRef::Null => continue,
                        ValueRef::Integer(v) => text.push_str(&v.to_string()),
                        ValueRef::Real(v) => text.push_str(&v.to_string()),
                        ValueRef::Text(v) | ValueRef::Blob(v) => {
                            text.push_str(&String::from_utf8_lossy(v));
                        }
                    }
                    text.push('\n');
                }
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use serde_json::json;

    use super::*;
    use crate::keywrap::random_key;
    use outpost_domain::PatientId;
    use outpost_domain::patient::{HistoryEntry, Patient};

    fn patient(given: &str, family: &str, mrn: &str) -> LocalPatient {
        let fields = serde_json::from_value(json!({
            "mrn": mrn, "given_name": given, "family_name": family,
            "birth_date": NaiveDate::from_ymd_opt(1970, 1, 1),
        }))
        .expect("fields");
        LocalPatient {
            patient: Patient {
                id: PatientId::generate(),
                fields,
                version: 1,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                updated_by: None,
            },
            hub_version: Some(1),
            deleted: false,
            conflict: false,
            hub_data: None,
        }
    }

    fn names(found: &[Patient]) -> Vec<String> {
        found
            .iter()
            .map(|p| format!("{} {}", p.fields.given_name, p.fields.family_name))
            .collect()
    }

    fn rowids_in_name_order(cache: &Cache) -> bool {
        let rowids: Vec<i64> = cache
            .conn
            .prepare("SELECT rowid FROM patients ORDER BY sort_key")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        rowids.windows(2).all(|w| w[0] < w[1])
    }

    fn put_all(cache: &mut Cache, patients: &[LocalPatient]) {
        let tx = cache.transaction().expect("tx");
        for p in patients {
            Cache::put(&tx, p).expect("put");
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn search_answers_in_name_order_through_renames_deletes_and_renumbering() {
        let dir = tempfile::tempdir().expect("dir");
        let mut cache = Cache::open(&dir.path().join("c.db"), &random_key()).expect("open");
        let mut people = vec![
            patient("Zoë", "Adams", "MRN-1"),
            patient("Anna", "Zimmer", "MRN-2"),
            patient("Ángel", "Moreno", "MRN-3"),
            patient("Bob", "Annan", "MRN-4"),
        ];
        put_all(&mut cache, &people);
        // Any word of the names, MRN or phone, diacritics folded, in (family, given) order.
        assert_eq!(
            names(&cache.search("an", 10).expect("search")),
            ["Bob Annan", "Ángel Moreno", "Anna Zimmer"]
        );
        assert_eq!(
            names(&cache.search("zo", 10).expect("search")),
            ["Zoë Adams"]
        );
        assert_eq!(
            names(&cache.search("mrn 3", 10).expect("search")),
            ["Ángel Moreno"]
        );
        assert_eq!(cache.search("an", 2).expect("search").len(), 2);
        assert!(cache.search("\"*) OR", 10).expect("syntax").is_empty());

        // A rename moves the row to its new place; a delete leaves the index.
        people[0].patient.fields.family_name = "Zyx".into();
        people[3].deleted = true;
        put_all(&mut cache, &[people[0].clone(), people[3].clone()]);
        assert_eq!(
            names(&cache.search("", 10).expect("all")),
            ["Ángel Moreno", "Anna Zimmer", "Zoë Zyx"]
        );
        assert_eq!(
            names(&cache.search("an", 10).expect("search")),
            ["Ángel Moreno", "Anna Zimmer"]
        );

        // Sixty patients inserted at one spot exhaust the gaps between two neighbours and
        // force renumbering; the order and the index survive it.
        let crowd: Vec<_> = (0..60)
            .map(|i| patient(&format!("Mid{:02}", 59 - i), "Moreno", &format!("C-{i}")))
            .collect();
        put_all(&mut cache, &crowd);
        assert!(rowids_in_name_order(&cache));
        let found = cache.search("mid", 100).expect("search");
        assert_eq!(found.len(), 60);
        let given: Vec<_> = found.iter().map(|p| p.fields.given_name.clone()).collect();
        assert!(given.windows(2).all(|w| w[0] < w[1]), "{given:?}");
        assert_eq!(cache.count("patients").expect("count"), 63);
    }

    #[test]
    fn replace_rewrites_a_row_in_place_and_leaves_a_removed_patient_out() {
        let dir = tempfile::tempdir().expect("dir");
        let mut cache = Cache::open(&dir.path().join("c.db"), &random_key()).expect("open");
        let mut people = vec![
            patient("Anna", "Zimmer", "MRN-2"),
            patient("Bob", "Annan", "MRN-4"),
        ];
        put_all(&mut cache, &people);
        let rowid = |cache: &Cache, id: PatientId| -> i64 {
            cache
                .conn
                .query_row(
                    "SELECT rowid FROM patients WHERE id = ?1",
                    [id.to_string()],
                    |r| r.get(0),
                )
                .expect("rowid")
        };
        let place = rowid(&cache, people[0].patient.id);

        people[0].patient.fields.address = Some("1 New Rd".into());
        people[0].patient.version = 2;
        let gone = patient("Carl", "Gone", "MRN-9");
        let tx = cache.transaction().expect("tx");
        Cache::replace(&tx, &people[0]).expect("replace");
        Cache::replace(&tx, &gone).expect("replace a patient not in the cache");
        tx.commit().expect("commit");

        let stored = Cache::patient(cache.conn(), people[0].patient.id)
            .expect("get")
            .expect("kept");
        assert_eq!(stored.patient.fields.address.as_deref(), Some("1 New Rd"));
        assert_eq!(stored.patient.version, 2);
        assert_eq!(rowid(&cache, people[0].patient.id), place);
        assert!(
            Cache::patient(cache.conn(), gone.patient.id)
                .expect("get")
                .is_none()
        );
        assert_eq!(
            names(&cache.search("an", 10).expect("search")),
            ["Bob Annan", "Anna Zimmer"]
        );
        assert_eq!(cache.count("patients").expect("count"), 2);
    }

    #[test]
    fn a_cache_of_schema_1_is_migrated_with_its_rows_searchable_and_its_versions_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.db");
        let key = random_key();
        let old = patient("Olga", "Older", "OLD-1");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&format!(
                "PRAGMA key = \"x'{}'\";",
                hex::encode(key.as_slice())
            ))
            .expect("key");
            conn.execute_batch(MIGRATIONS[0].1).expect("schema 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO patients (id, data, version, hub_version, given_name, family_name, mrn, sort_key) \
                 VALUES (?1, ?2, 1, 1, 'Olga', 'Older', 'OLD-1', 'older')",
                params![old.patient.id.to_string(), to_json(&old.patient).expect("json")],
            )
            .expect("row");
            for version in [2, 1] {
                conn.execute(
                    "INSERT INTO patient_history (patient_id, version, entry) VALUES (?1, ?2, ?3)",
                    params![
                        old.patient.id.to_string(),
                        version,
                        to_json(&entry(version)).expect("json")
                    ],
                )
                .expect("version row");
            }
        }
        let cache = Cache::open(&path, &key).expect("migrate");
        assert_eq!(
            names(&cache.search("old", 5).expect("search")),
            ["Olga Older"]
        );
        let versions = |cache: &Cache| -> Vec<(i64, String)> {
            cache
                .history(old.patient.id)
                .expect("history")
                .into_iter()
                .map(|e| (e.version, e.action))
                .collect()
        };
        assert_eq!(
            versions(&cache),
            [(1, "update".to_owned()), (2, "update".to_owned())]
        );
        // The versions' key still holds: a version sent again replaces the stored one.
        let again = HistoryEntry {
            action: "delete".into(),
            ..entry(2)
        };
        Cache::add_history(cache.conn(), old.patient.id, &again).expect("again");
        assert_eq!(
            versions(&cache),
            [(1, "update".to_owned()), (2, "delete".to_owned())]
        );
    }

    fn entry(version: i64) -> HistoryEntry {
        HistoryEntry {
            version,
            action: "update".into(),
            changes: Default::default(),
            actor_user_id: None,
            session_id: None,
            device_id: None,
            at: Utc::now(),
            client_time: None,
        }
    }

    #[test]
    fn a_batch_stops_at_its_count_or_its_bytes_but_takes_at_least_one() {
        let rows = |sizes: &[usize]| {
            sizes
                .iter()
                .enumerate()
                .map(|(i, n)| Ok((i as i64, "x".repeat(*n))))
                .collect::<Vec<rusqlite::Result<(i64, String)>>>()
                .into_iter()
        };
        let batch = Batch {
            count: 3,
            bytes: 100,
        };
        let (taken, more) = batch.take(rows(&[10, 10, 10, 10])).expect("take");
        assert_eq!((taken.len(), more), (3, true));
        let (taken, more) = batch.take(rows(&[60, 60])).expect("take");
        assert_eq!((taken.len(), more), (1, true));
        let (taken, more) = batch.take(rows(&[500])).expect("take");
        assert_eq!((taken.len(), more), (1, false));
        let (taken, more) = batch.take(rows(&[10, 10])).expect("take");
        assert_eq!((taken.len(), more), (2, false));
    }
}
