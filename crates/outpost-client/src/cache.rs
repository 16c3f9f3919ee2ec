//! The encrypted local mirror (one SQLCipher file per hub, tenant and user).

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};
use serde_json::Value;
use zeroize::Zeroizing;

use outpost_domain::PatientId;
use outpost_domain::patient::{HistoryEntry, Patient};
use outpost_domain::sync::{LocalAuditEvent, Op};

use crate::error::{ClientError, ClientResult};
use crate::keywrap::Key;
use crate::name_index;

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
        include_str!("../../../migrations/cache/0001_init.sql"),
        None,
    ),
    (
        2,
        include_str!("../../../migrations/cache/0002_search.sql"),
        Some(reindex),
    ),
    (
        3,
        include_str!("../../../migrations/cache/0003_history_rows.sql"),
        None,
    ),
];

/// How long a write waits for another process's write to the same cache to finish.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A patient as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPatient {
    pub patient: Patient,
    pub hub_version: Option<i64>,
    pub deleted: bool,
    pub conflict: bool,
    /// The hub's last confirmed record, when local changes are pending.
    pub hub_data: Option<Patient>,
}

impl LocalPatient {
    /// A record as the hub confirmed it, with no local change pending.
    pub fn confirmed(patient: Patient) -> Self {
        Self {
            hub_version: Some(patient.version),
            patient,
            deleted: false,
            conflict: false,
            hub_data: None,
        }
    }
}

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

const PATIENT_COLUMNS: &str = "data, hub_version, deleted, conflict, hub_data";

/// A patient row as read: data, hub version, deleted, conflict, hub data.
type RawPatient = (String, Option<i64>, bool, bool, Option<String>);

fn read_local(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawPatient> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn local_from(raw: RawPatient) -> ClientResult<LocalPatient> {
    let (data, hub_version, deleted, conflict, hub_data) = raw;
    Ok(LocalPatient {
        patient: from_json(&data)?,
        hub_version,
        deleted,
        conflict,
        hub_data: hub_data.map(|d| from_json(&d)).transpose()?,
    })
}

/// Migration 2's Rust step: the search words of every row, then rowids in name order and the
/// word index.
fn reindex(tx: &Connection) -> ClientResult<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT rowid, data FROM patients")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (rowid, data) in rows {
        let patient: Patient = from_json(&data)?;
        tx.execute(
            "UPDATE patients SET search_text = ?2, sort_key = ?3 WHERE rowid = ?1",
            params![
                rowid,
                name_index::search_text(&patient),
                name_index::sort_key(&patient)
            ],
        )?;
    }
    name_index::renumber(tx)
}

/// The columns a patient write sets besides `rowid` and `id`, in `row_values` order.
const ROW_COLUMNS: [&str; 12] = [
    "data",
    "version",
    "hub_version",
    "deleted",
    "conflict",
    "hub_data",
    "given_name",
    "family_name",
    "mrn",
    "phone",
    "sort_key",
    "search_text",
];

fn row_values(local: &LocalPatient, key: &str, text: &str) -> ClientResult<Vec<SqlValue>> {
    let p = &local.patient;
    let f = &p.fields;
    Ok(vec![
        to_json(p)?.into(),
        p.version.into(),
        local.hub_version.into(),
        local.deleted.into(),
        local.conflict.into(),
        local.hub_data.as_ref().map(to_json).transpose()?.into(),
        f.given_name.clone().into(),
        f.family_name.clone().into(),
        f.mrn.clone().into(),
        f.phone.clone().into(),
        key.to_owned().into(),
        text.to_owned().into(),
    ])
}

/// Writes a new patient row at `rowid` (not indexed: the caller does).
fn insert_row(
    tx: &Connection,
    rowid: i64,
    local: &LocalPatient,
    key: &str,
    text: &str,
) -> ClientResult<()> {
    let placeholders = (3..ROW_COLUMNS.len() + 3)
        .map(|n| format!(", ?{n}"))
        .collect::<String>();
    let values = [rowid.into(), local.patient.id.to_string().into()]
        .into_iter()
        .chain(row_values(local, key, text)?);
    tx.prepare_cached(&format!(
        "INSERT INTO patients (rowid, id, {}) VALUES (?1, ?2{placeholders})",
        ROW_COLUMNS.join(", ")
    ))?
    .execute(params_from_iter(values))?;
    Ok(())
}

/// Rewrites the patient row at `rowid`, moving it to `rank`. The rowid is assigned only when
/// it moves: assigning it, even to the same value, makes SQLite rewrite the row's entry in
/// every index, and the entries of the random ids sit on a random page each.
fn update_row(
    tx: &Connection,
    rowid: i64,
    rank: i64,
    local: &LocalPatient,
    key: &str,
    text: &str,
) -> ClientResult<()> {
    let assignments = ROW_COLUMNS
        .iter()
        .zip(3..)
        .map(|(column, n)| format!("{column} = ?{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let moving = if rank == rowid { "" } else { "rowid = ?2, " };
    let values = [rowid.into(), rank.into()]
        .into_iter()
        .chain(row_values(local, key, text)?);
    tx.prepare_cached(&format!(
        "UPDATE patients SET {moving}{assignments} WHERE rowid = ?1"
    ))?
    .execute(params_from_iter(values))?;
    Ok(())
}

/// Writes a patient row (insert, or update by id) at its place in name order, keeping the word
/// index in step. Single-row statements only: no statement journal, and FTS5 keeps pending
/// terms in memory until commit.
/// With `create` false, a patient whose row is gone is left out.
fn put(tx: &Connection, local: &LocalPatient, create: bool) -> ClientResult<()> {
    while !try_put(tx, local, create)? {
        name_index::renumber(tx)?;
    }
    Ok(())
}

/// `put`, or `false` (nothing written) when there is no free rowid at the patient's place.
fn try_put(tx: &Connection, local: &LocalPatient, create: bool) -> ClientResult<bool> {
    let p = &local.patient;
    let key = name_index::sort_key(p);
    let text = name_index::search_text(p);
    let existing: Option<(i64, String, String, bool)> = tx
        .prepare_cached("SELECT rowid, sort_key, search_text, deleted FROM patients WHERE id = ?1")?
        .query_row([p.id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if existing.is_none() && !create {
        return Ok(true);
    }
    let rank = match &existing {
        Some((rowid, old_key, ..)) if *old_key == key => Some(*rowid),
        _ => name_index::rank(tx, &key, existing.as_ref().map(|e| e.0))?,
    };
    let Some(rank) = rank else {
        return Ok(false);
    };
    let Some((rowid, _, old_text, was_deleted)) = existing else {
        insert_row(tx, rank, local, &key, &text)?;
        if !local.deleted {
            name_index::index(tx, rank, &text)?;
        }
        return Ok(true);
    };
    let moved = rank != rowid;
    update_row(tx, rowid, rank, local, &key, &text)?;
    let indexed = !was_deleted;
    let changed = moved || text != old_text;
    if indexed && (changed || local.deleted) {
        name_index::unindex(tx, rowid)?;
    }
    if !local.deleted && (changed || !indexed) {
        name_index::index(tx, rank, &text)?;
    }
    Ok(true)
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
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a meta value on its own (in a transaction of its own, taking the lock first).
    pub fn store_meta(&mut self, key: &str, value: &str) -> ClientResult<()> {
        let tx = self.conn.transaction()?;
        Self::set_meta(&tx, key, value)?;
        tx.commit()?;
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
        Ok(self.meta("cursor")?.and_then(|c| c.parse().ok()))
    }

    pub fn transaction(&mut self) -> ClientResult<Transaction<'_>> {
        Ok(self.conn.transaction()?)
    }

    /// Inserts snapshot rows inside the caller's transaction. The hub sends patients in name
    /// order, so each lands after the previous one (any order is correct, only slower).
    pub fn insert_snapshot(
        tx: &Connection,
        patients: &[Patient],
        history: &[(PatientId, HistoryEntry)],
    ) -> ClientResult<()> {
        for p in patients {
            put(tx, &LocalPatient::confirmed(p.clone()), true)?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO patient_history (patient_id, version, entry) VALUES (?1, ?2, ?3)",
        )?;
        for (id, entry) in history {
            stmt.execute(params![id.to_string(), entry.version, to_json(entry)?])?;
        }
        Ok(())
    }

    pub fn patient(conn: &Connection, id: PatientId) -> ClientResult<Option<LocalPatient>> {
        conn.prepare_cached(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?1"
        ))?
        .query_row([id.to_string()], read_local)
        .optional()?
        .map(local_from)
        .transpose()
    }

    pub fn get(&self, id: PatientId) -> ClientResult<Option<LocalPatient>> {
        Self::patient(&self.conn, id)
    }

    pub fn put(tx: &Connection, local: &LocalPatient) -> ClientResult<()> {
        put(tx, local, true)
    }

    /// Rewrites a patient's row if it is still there (it may have been removed locally since
    /// the change was sent); reads nothing of the old record but its place in the index.
    pub fn replace(tx: &Connection, local: &LocalPatient) -> ClientResult<()> {
        put(tx, local, false)
    }

    /// Removes a patient that never reached the hub.
    pub fn remove(tx: &Connection, id: PatientId) -> ClientResult<()> {
        let rowid: Option<i64> = tx
            .query_row(
                "SELECT rowid FROM patients WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(rowid) = rowid {
            name_index::unindex(tx, rowid)?;
            tx.execute("DELETE FROM patients WHERE rowid = ?1", [rowid])?;
        }
        Ok(())
    }

    /// Live patients with, for every word of `q`, a word of their names, MRN or phone that
    /// starts with it; in name order (see `name_index`: the work is the page, not the matches).
    pub fn search(&self, q: &str, limit: u32) -> ClientResult<Vec<Patient>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM patients WHERE rowid = ?1")?;
        name_index::search(&self.conn, q, limit)?
            .into_iter()
            .map(|rowid| from_json(&stmt.query_row([rowid], |r| r.get::<_, String>(0))?))
            .collect()
    }

    pub fn history(&self, id: PatientId) -> ClientResult<Vec<HistoryEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entry FROM patient_history WHERE patient_id = ?1 ORDER BY version",
        )?;
        let rows = stmt
            .query_map([id.to_string()], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.iter().map(|e| from_json(e)).collect()
    }

    pub fn add_history(tx: &Connection, id: PatientId, entry: &HistoryEntry) -> ClientResult<()> {
        tx.prepare_cached(
            "INSERT INTO patient_history (patient_id, version, entry) VALUES (?1, ?2, ?3) \
             ON CONFLICT (patient_id, version) DO UPDATE SET entry = excluded.entry",
        )?
        .execute(params![id.to_string(), entry.version, to_json(entry)?])?;
        Ok(())
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

    // --- outbox ---

    /// Records a local change in the outbox, as an op of its own: every change reaches the
    /// hub, in order, with its own version, history entry and audit event (the push batches
    /// them; it does not fold them).
    pub fn enqueue(tx: &Connection, op: &Op) -> ClientResult<()> {
        tx.prepare_cached("INSERT INTO outbox (op_id, record_id, op) VALUES (?1, ?2, ?3)")?
            .execute(params![
                op.op_id.to_string(),
                op.record_id.to_string(),
                to_json(op)?
            ])?;
        Ok(())
    }

    /// The oldest ops after sequence `after`, at most `batch` (count and bytes), marked as
    /// sent (from now on they are only ever replayed unchanged); whether more are waiting; and
    /// the sequence to continue after.
    pub fn take_outbox(&mut self, batch: Batch, after: i64) -> ClientResult<(Vec<Op>, bool, i64)> {
        let tx = self.conn.transaction()?;
        let (rows, more) = {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, op FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            batch.take(stmt.query_map(params![after, batch.count + 1], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?)?
        };
        let last = rows.last().map_or(after, |(seq, _)| *seq);
        tx.execute(
            "UPDATE outbox SET sent = 1 WHERE seq > ?1 AND seq <= ?2",
            [after, last],
        )?;
        tx.commit()?;
        let ops = rows
            .iter()
            .map(|(_, op)| from_json(op))
            .collect::<ClientResult<_>>()?;
        Ok((ops, more, last))
    }

    pub fn remove_op(tx: &Connection, op_id: &str) -> ClientResult<()> {
        tx.prepare_cached("DELETE FROM outbox WHERE op_id = ?1")?
            .execute([op_id])?;
        Ok(())
    }

    pub fn pending_ops_for(tx: &Connection, id: PatientId) -> ClientResult<i64> {
        Ok(tx
            .prepare_cached("SELECT count(*) FROM outbox WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))?)
    }

    // --- local audit ---

    pub fn add_local_event(tx: &Connection, event: &LocalAuditEvent) -> ClientResult<()> {
        tx.prepare_cached("INSERT INTO local_audit (event_id, event) VALUES (?1, ?2)")?
            .execute(params![event.event_id.to_string(), to_json(event)?])?;
        Ok(())
    }

    /// The oldest local audit events after sequence `after`, at most `batch`; whether more are
    /// waiting; and the sequence to continue after.
    pub fn local_events(
        &self,
        batch: Batch,
        after: i64,
    ) -> ClientResult<(Vec<LocalAuditEvent>, bool, i64)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, event FROM local_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let (rows, more) = batch.take(stmt.query_map(params![after, batch.count + 1], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?)?;
        let last = rows.last().map_or(after, |(seq, _)| *seq);
        let events = rows
            .iter()
            .map(|(_, e)| from_json(e))
            .collect::<ClientResult<_>>()?;
        Ok((events, more, last))
    }

    pub fn remove_local_event(tx: &Connection, event_id: &str) -> ClientResult<()> {
        tx.prepare_cached("DELETE FROM local_audit WHERE event_id = ?1")?
            .execute([event_id])?;
        Ok(())
    }

    /// Records reads in the local audit table, in one transaction. Reads are frequent (every
    /// keystroke of a search), so this commit is durable against a crash of the app but skips
    /// the fsync that `synchronous = FULL` gives the outbox; a power cut may lose the last
    /// reads' events.
    pub fn audit_reads(&mut self, events: &[LocalAuditEvent]) -> ClientResult<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let written = (|| {
            let tx = self.conn.transaction()?;
            for event in events {
                Self::add_local_event(&tx, event)?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        written
    }

    // --- conflicts ---

    pub fn conflicts(&self) -> ClientResult<Vec<StoredConflict>> {
        let mut stmt = self.conn.prepare(
            "SELECT record_id, kind, local_op, hub_record, hub_version, error, at FROM conflicts ORDER BY at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, kind, op, hub, hub_version, error, at)| {
                Ok(StoredConflict {
                    record_id: id
                        .parse()
                        .map_err(|_| ClientError::Corrupt("conflict id".into()))?,
                    rejected: kind == "rejected",
                    local_op: from_json(&op)?,
                    hub_record: hub.map(|h| from_json(&h)).transpose()?,
                    hub_version,
                    error,
                    at,
                })
            })
            .collect()
    }

    /// Stores (or widens) the conflict of a record.
    pub fn put_conflict(tx: &Connection, conflict: &StoredConflict) -> ClientResult<()> {
        let existing: Option<String> = tx
            .query_row(
                "SELECT local_op FROM conflicts WHERE record_id = ?1",
                [conflict.record_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let mut op = conflict.local_op.clone();
        if let Some(previous) = existing {
            let mut previous: Op = from_json(&previous)?;
            previous.fields.extend(op.fields);
            op = previous;
        }
        tx.execute(
            "INSERT OR REPLACE INTO conflicts (record_id, kind, local_op, hub_record, hub_version, error, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                conflict.record_id.to_string(),
                if conflict.rejected { "rejected" } else { "conflict" },
                to_json(&op)?,
                conflict.hub_record.as_ref().map(to_json).transpose()?,
                conflict.hub_version,
                conflict.error,
                conflict.at,
            ],
        )?;
        Ok(())
    }

    /// Updates the hub side of an open conflict as newer hub versions arrive.
    pub fn refresh_conflict(
        tx: &Connection,
        id: PatientId,
        hub_record: Option<&Patient>,
        hub_version: i64,
    ) -> ClientResult<()> {
        tx.execute(
            "UPDATE conflicts SET hub_record = ?1, hub_version = ?2 WHERE record_id = ?3 AND kind = 'conflict'",
            params![hub_record.map(to_json).transpose()?, hub_version, id.to_string()],
        )?;
        Ok(())
    }

    /// Whether a record has a conflict waiting for the user.
    pub fn has_conflict(tx: &Connection, id: PatientId) -> ClientResult<bool> {
        Ok(tx
            .prepare_cached("SELECT count(*) FROM conflicts WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get::<_, i64>(0))?
            > 0)
    }

    pub fn remove_conflict(tx: &Connection, id: PatientId) -> ClientResult<()> {
        tx.execute(
            "DELETE FROM conflicts WHERE record_id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A change the hub did not apply, waiting for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConflict {
    pub record_id: PatientId,
    /// Refused outright (invalid, forbidden) rather than a version conflict.
    pub rejected: bool,
    /// The local change (fields accumulated over every op that did not apply).
    pub local_op: Op,
    /// The hub's current record (`None`: deleted on the hub, or unknown for a refusal).
    pub hub_record: Option<Patient>,
    pub hub_version: Option<i64>,
    pub error: Option<String>,
    pub at: String,
}

/// The JSON value of a field of a patient (`null` when absent).
pub fn field_value(patient: &Patient, field: &str) -> Value {
    serde_json::to_value(&patient.fields)
        .ok()
        .and_then(|v| v.get(field).cloned())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use serde_json::json;

    use super::*;
    use crate::keywrap::random_key;

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

        let stored = cache.get(people[0].patient.id).expect("get").expect("kept");
        assert_eq!(stored.patient.fields.address.as_deref(), Some("1 New Rd"));
        assert_eq!(stored.patient.version, 2);
        assert_eq!(rowid(&cache, people[0].patient.id), place);
        assert!(cache.get(gone.patient.id).expect("get").is_none());
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
