//! Each kind's history table (one row per version, written with each change) and the change
//! feed, read by the history routes, reports, pulls, snapshots and the merge of pushed ops.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

use outpost_domain::RecordId;
use outpost_domain::audit::Actor;
use outpost_domain::kind::Kind;
use outpost_domain::record::{Changes, HistoryEntry, Record};
use outpost_store::columns::history;
use outpost_store::{StoreError, StoreResult};

use crate::sql::{OrBackend, conversion, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts};

/// Appends the version `record` now is, and its change-feed entry. `client_time` is the
/// device's clock when a synced change was made.
pub fn record(
    conn: &Connection,
    kind: &Kind,
    record: &Record,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    client_time: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO {} ({}, version, action, changes, actor_user_id, session_id, device_id, \
         at, client_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        kind.history_table, kind.history_key
    ))
    .db()?
    .execute(params![
        record.id.to_string(),
        record.version,
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
        "INSERT INTO change_feed (entity, entity_id, version, action, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        kind.name,
        record.id.to_string(),
        record.version,
        action,
        ts(actor.at)
    ])
    .db()?;
    Ok(())
}

/// Every version of one record, oldest first.
pub fn of_record(conn: &Connection, kind: &Kind, id: RecordId) -> StoreResult<Vec<HistoryEntry>> {
    Ok(rows(
        conn,
        kind,
        &format!("WHERE {} = ?1 ORDER BY version", kind.history_key),
        params![id.to_string()],
    )?
    .into_iter()
    .map(|(_, entry)| entry)
    .collect())
}

/// One version of one record.
pub fn entry(
    conn: &Connection,
    kind: &Kind,
    id: RecordId,
    version: i64,
) -> StoreResult<Option<HistoryEntry>> {
    Ok(rows(
        conn,
        kind,
        &format!("WHERE {} = ?1 AND version = ?2", kind.history_key),
        params![id.to_string(), version],
    )?
    .into_iter()
    .next()
    .map(|(_, entry)| entry))
}

/// Fields changed after `base_version` by anyone but this user on this device (their own
/// earlier ops are already part of what they edited).
pub fn changed_since(
    conn: &Connection,
    kind: &Kind,
    id: RecordId,
    base_version: i64,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT changes FROM {} WHERE {} = ?1 AND version > ?2 \
             AND NOT (device_id IS ?3 AND actor_user_id IS ?4 AND ?3 IS NOT NULL)",
            kind.history_table, kind.history_key
        ))
        .db()?;
    let rows = stmt
        .query_map(
            params![
                id.to_string(),
                base_version,
                actor.device_id.map(|d| d.to_string()),
                actor.user_id.map(|u| u.to_string())
            ],
            |row| row.get::<_, String>(0),
        )
        .db()?;
    let mut fields = BTreeSet::new();
    for changes in rows {
        let changes: Value =
            serde_json::from_str(&changes.db()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Value::Object(map) = changes {
            fields.extend(map.keys().cloned());
        }
    }
    Ok(fields)
}

fn rows(
    conn: &Connection,
    kind: &Kind,
    clause: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<(RecordId, HistoryEntry)>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM {} {clause}",
            history(kind.history_key, ""),
            kind.history_table
        ))
        .db()?;
    stmt.query_map(args, read)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
}

/// A row selected with [`history`].
pub fn read(row: &Row<'_>) -> rusqlite::Result<(RecordId, HistoryEntry)> {
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
