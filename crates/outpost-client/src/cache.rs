//! The encrypted local mirror (one SQLCipher file per hub, tenant and user).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use zeroize::Zeroizing;

use outpost_domain::PatientId;
use outpost_domain::patient::{HistoryEntry, Patient};
use outpost_domain::sync::{LocalAuditEvent, Op, OpAction};

use crate::error::{ClientError, ClientResult};
use crate::keywrap::Key;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../../migrations/cache/0001_init.sql"))];

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

/// Lowercased family, given and id: the list order.
fn sort_key(p: &Patient) -> String {
    format!(
        "{}\u{1}{}\u{1}{}",
        p.fields.family_name.to_lowercase(),
        p.fields.given_name.to_lowercase(),
        p.id
    )
}

/// An FTS5 query: every word a prefix, all required. Only letters and digits pass, so user
/// input can never be FTS syntax.
fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
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

/// Writes a patient row (insert or replace by id).
fn put(tx: &Connection, local: &LocalPatient) -> ClientResult<()> {
    let p = &local.patient;
    tx.prepare_cached(
        "INSERT INTO patients (id, data, version, hub_version, deleted, conflict, hub_data, \
         given_name, family_name, mrn, phone, sort_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = excluded.version, \
         hub_version = excluded.hub_version, deleted = excluded.deleted, \
         conflict = excluded.conflict, hub_data = excluded.hub_data, \
         given_name = excluded.given_name, family_name = excluded.family_name, \
         mrn = excluded.mrn, phone = excluded.phone, sort_key = excluded.sort_key",
    )?
    .execute(params![
        p.id.to_string(),
        to_json(p)?,
        p.version,
        local.hub_version,
        local.deleted,
        local.conflict,
        local.hub_data.as_ref().map(to_json).transpose()?,
        p.fields.given_name,
        p.fields.family_name,
        p.fields.mrn,
        p.fields.phone,
        sort_key(p),
    ])?;
    Ok(())
}

impl Cache {
    /// Opens (or creates) the cache with a raw key: refuses a non-SQLCipher library and a key
    /// that does not open the file; memory security on; WAL with `synchronous=FULL`.
    pub fn open(path: &Path, key: &Key) -> ClientResult<Self> {
        let conn = Connection::open(path)?;
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
             PRAGMA busy_timeout = 5000;",
        )?;
        let mut cache = Self { conn };
        cache.migrate()?;
        Ok(cache)
    }

    fn migrate(&mut self) -> ClientResult<()> {
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
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

    /// Inserts snapshot rows inside the caller's transaction.
    pub fn insert_snapshot(
        tx: &Connection,
        patients: &[Patient],
        history: &[(PatientId, HistoryEntry)],
    ) -> ClientResult<()> {
        for p in patients {
            put(
                tx,
                &LocalPatient {
                    patient: p.clone(),
                    hub_version: Some(p.version),
                    deleted: false,
                    conflict: false,
                    hub_data: None,
                },
            )?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO patient_history (patient_id, version, entry) VALUES (?1, ?2, ?3)",
        )?;
        for (id, entry) in history {
            stmt.execute(params![id.to_string(), entry.version, to_json(entry)?])?;
        }
        Ok(())
    }

    pub fn patient(conn: &Connection, id: PatientId) -> ClientResult<Option<LocalPatient>> {
        conn.query_row(
            &format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?1"),
            [id.to_string()],
            read_local,
        )
        .optional()?
        .map(local_from)
        .transpose()
    }

    pub fn get(&self, id: PatientId) -> ClientResult<Option<LocalPatient>> {
        Self::patient(&self.conn, id)
    }

    pub fn put(tx: &Connection, local: &LocalPatient) -> ClientResult<()> {
        put(tx, local)
    }

    /// Removes a patient that never reached the hub.
    pub fn remove(tx: &Connection, id: PatientId) -> ClientResult<()> {
        tx.execute("DELETE FROM patients WHERE id = ?1", [id.to_string()])?;
        Ok(())
    }

    /// Live patients whose names, MRN or phone start with every word of `q`, in name order.
    /// A query of single letters only (the first keystroke) matches family names through the
    /// name index, which answers at once however many patients start with that letter.
    pub fn search(&self, q: &str, limit: u32) -> ClientResult<Vec<Patient>> {
        let single_letter =
            q.trim().chars().count() == 1 && q.trim().chars().all(char::is_alphanumeric);
        let rows = match fts_query(q) {
            Some(_) if single_letter => {
                let low = q.trim().to_lowercase();
                let mut stmt = self.conn.prepare_cached(
                    "SELECT data FROM patients WHERE sort_key >= ?1 AND sort_key < ?2 AND deleted = 0 \
                     ORDER BY sort_key LIMIT ?3",
                )?;
                stmt.query_map(params![low, format!("{low}\u{10FFFF}"), limit], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            }
            Some(query) => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT p.data FROM patients_fts f JOIN patients p ON p.rowid = f.rowid \
                     WHERE patients_fts MATCH ?1 AND p.deleted = 0 ORDER BY p.sort_key LIMIT ?2",
                )?;
                stmt.query_map(params![query, limit], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            }
            None => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT data FROM patients WHERE deleted = 0 ORDER BY sort_key LIMIT ?1",
                )?;
                stmt.query_map([limit], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            }
        };
        rows.iter().map(|d| from_json(d)).collect()
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
            "INSERT OR REPLACE INTO patient_history (patient_id, version, entry) VALUES (?1, ?2, ?3)",
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

    /// Records a local change in the outbox, folding it into an unsent op on the same record
    /// when there is one (so one record travels as one op). Returns `false` when the change
    /// cancelled an unsent create (the record never reaches the hub).
    pub fn enqueue(tx: &Connection, op: Op) -> ClientResult<bool> {
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, op FROM outbox WHERE record_id = ?1 AND sent = 0 ORDER BY seq DESC LIMIT 1",
                [op.record_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, text)) = last {
            let mut previous: Op = from_json(&text)?;
            match (previous.action, op.action) {
                (OpAction::Create | OpAction::Update, OpAction::Update) => {
                    previous.fields.extend(op.fields);
                    previous.client_time = op.client_time;
                    tx.execute(
                        "UPDATE outbox SET op = ?1 WHERE seq = ?2",
                        params![to_json(&previous)?, seq],
                    )?;
                    return Ok(true);
                }
                (OpAction::Create, OpAction::Delete) => {
                    tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
                    return Ok(false);
                }
                (OpAction::Update, OpAction::Delete) => {
                    let replaced = Op {
                        base_version: previous.base_version,
                        ..op
                    };
                    tx.execute(
                        "UPDATE outbox SET op = ?1 WHERE seq = ?2",
                        params![to_json(&replaced)?, seq],
                    )?;
                    return Ok(true);
                }
                _ => {}
            }
        }
        tx.execute(
            "INSERT INTO outbox (op_id, record_id, op) VALUES (?1, ?2, ?3)",
            params![
                op.op_id.to_string(),
                op.record_id.to_string(),
                to_json(&op)?
            ],
        )?;
        Ok(true)
    }

    /// The oldest ops, marked as sent (from now on they are only ever replayed unchanged).
    pub fn take_outbox(&mut self, limit: u32) -> ClientResult<Vec<Op>> {
        let tx = self.conn.transaction()?;
        let rows: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached("SELECT seq, op FROM outbox ORDER BY seq LIMIT ?1")?;
            stmt.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        if let Some((last, _)) = rows.last() {
            tx.execute("UPDATE outbox SET sent = 1 WHERE seq <= ?1", [last])?;
        }
        tx.commit()?;
        rows.iter().map(|(_, op)| from_json(op)).collect()
    }

    pub fn remove_op(tx: &Connection, op_id: &str) -> ClientResult<()> {
        tx.execute("DELETE FROM outbox WHERE op_id = ?1", [op_id])?;
        Ok(())
    }

    pub fn pending_ops_for(tx: &Connection, id: PatientId) -> ClientResult<i64> {
        Ok(tx.query_row(
            "SELECT count(*) FROM outbox WHERE record_id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )?)
    }

    // --- local audit ---

    pub fn add_local_event(tx: &Connection, event: &LocalAuditEvent) -> ClientResult<()> {
        tx.prepare_cached("INSERT INTO local_audit (event_id, event) VALUES (?1, ?2)")?
            .execute(params![event.event_id.to_string(), to_json(event)?])?;
        Ok(())
    }

    pub fn local_events(&self, limit: u32) -> ClientResult<Vec<LocalAuditEvent>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT event FROM local_audit ORDER BY seq LIMIT ?1")?;
        let rows = stmt
            .query_map([limit], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.iter().map(|e| from_json(e)).collect()
    }

    pub fn remove_local_event(tx: &Connection, event_id: &str) -> ClientResult<()> {
        tx.execute("DELETE FROM local_audit WHERE event_id = ?1", [event_id])?;
        Ok(())
    }

    /// Records a read in the local audit table. Reads are frequent (every keystroke of a
    /// search), so this commit is durable against a crash of the app but skips the fsync
    /// that `synchronous = FULL` gives the outbox; a power cut may lose the last reads' events.
    pub fn audit_read(&self, event: &LocalAuditEvent) -> ClientResult<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let written = Self::add_local_event(&self.conn, event);
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
