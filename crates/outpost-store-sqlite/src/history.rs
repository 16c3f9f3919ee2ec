//! The `patient_history` table: one row per version, written with each change and read by the
//! history route, reports, pulls and snapshots.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use outpost_domain::PatientId;
use outpost_domain::audit::Actor;
use outpost_domain::patient::{Changes, HistoryEntry, Patient};
use outpost_store::columns::history;
use outpost_store::{StoreError, StoreResult};

use crate::sql::{OrBackend, conversion, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts};

/// Appends the version `patient` now is, and its change-feed entry. `client_time` is the
/// device's clock when a synced change was made.
pub fn record(
    conn: &Connection,
    patient: &Patient,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    client_time: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO patient_history (patient_id, version, action, changes, actor_user_id, \
         session_id, device_id, at, client_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .db()?
    .execute(params![
        patient.id.to_string(),
        patient.version,
        action,
        serde_json::to_string(changes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        actor.user_id.map(|u| u.to_string()),
        actor.session_id.map(|s| s.to_string()),
        actor.device_id.map(|d| d.to_string()),
        ts(actor.at),
        client_time.map(ts),
    ])
    .db()?;
    conn.prepare_cached(
        "INSERT INTO change_feed (entity, entity_id, version, action, at) VALUES ('patient', ?1, ?2, ?3, ?4)",
    )
    .db()?
    .execute(params![patient.id.to_string(), patient.version, action, ts(actor.at)])
    .db()?;
    Ok(())
}

/// Every version of one patient, oldest first.
pub fn of_patient(conn: &Connection, id: PatientId) -> StoreResult<Vec<HistoryEntry>> {
    Ok(rows(
        conn,
        "WHERE patient_id = ?1 ORDER BY version",
        params![id.to_string()],
    )?
    .into_iter()
    .map(|(_, entry)| entry)
    .collect())
}

/// One version of one patient.
pub fn entry(conn: &Connection, id: PatientId, version: i64) -> StoreResult<Option<HistoryEntry>> {
    Ok(rows(
        conn,
        "WHERE patient_id = ?1 AND version = ?2",
        params![id.to_string(), version],
    )?
    .into_iter()
    .next()
    .map(|(_, entry)| entry))
}

fn rows(
    conn: &Connection,
    clause: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<(PatientId, HistoryEntry)>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM patient_history {clause}",
            history("")
        ))
        .db()?;
    stmt.query_map(args, read)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
}

/// A row selected with [`history`].
pub fn read(row: &Row<'_>) -> rusqlite::Result<(PatientId, HistoryEntry)> {
    let changes: String = row.get(3)?;
    Ok((
        get_parsed(row, 0)?,
        HistoryEntry {
            version: row.get(1)?,
            action: row.get(2)?,
            changes: serde_json::from_str(&changes).map_err(|e| conversion(3, e))?,
            actor_user_id: get_opt_parsed(row, 4)?,
            session_id: get_opt_parsed(row, 5)?,
            device_id: get_opt_parsed(row, 6)?,
            at: get_ts(row, 7)?,
            client_time: get_opt_ts(row, 8)?,
        },
    ))
}
