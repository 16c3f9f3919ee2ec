//! Patients in the cache: their rows in name order (the rowid is the rank), the word index
//! they are found by, and their versions.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use outpost_domain::PatientId;
use outpost_domain::patient::{HistoryEntry, Patient};

use super::{Cache, from_json, to_json};
use crate::error::ClientResult;
use crate::name_index;

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
pub(super) fn reindex(tx: &Connection) -> ClientResult<()> {
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

impl Cache {
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
}
