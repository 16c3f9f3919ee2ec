//! The hub's side of sync on a tenant file: applying pushed ops, appending offline audit
//! events, pulling changes, and streaming a consistent snapshot.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use outpost_domain::audit::Actor;
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::sync::{
    Change, Entity, LocalAuditEvent, Op, OpAction, OpResult, OpRules, OpStatus, PullResponse,
    SnapshotLine,
};
use outpost_domain::{LocalEventId, PatientId};
use outpost_store::changes::{
    Synced, offline_event, op_conflict, op_done, op_failed, op_failure_event, op_rejected,
    patch_error, pull_event,
};
use outpost_store::{StoreError, StoreResult, merge};

use crate::audit;
use crate::conn::open_encrypted;
use crate::history;
use crate::keys::Key;
use crate::sql::{OrBackend, ts};
use crate::tenant::{insert_patient, load, read_patient, save_delete, save_update, select_patient};

/// Rows per snapshot batch: large enough to amortise channel and chunk overhead.
const SNAPSHOT_BATCH: usize = 512;

/// The stored answer of an op or event already received.
fn stored(conn: &Connection, id: &str) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT result FROM applied_ops WHERE op_id = ?1")
        .db()?
        .query_row([id], |row| row.get(0))
        .optional()
        .db()
}

/// Fields changed on the hub after `base_version` by anyone but this user on this device
/// (their own earlier ops are already part of what they edited).
fn changed_since(
    conn: &Connection,
    id: PatientId,
    base_version: i64,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT changes FROM patient_history WHERE patient_id = ?1 AND version > ?2 \
             AND NOT (device_id IS ?3 AND actor_user_id IS ?4 AND ?3 IS NOT NULL)",
        )
        .db()?;
    let mut fields = BTreeSet::new();
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
    for changes in rows {
        let changes: Value =
            serde_json::from_str(&changes.db()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Value::Object(map) = changes {
            fields.extend(map.keys().cloned());
        }
    }
    Ok(fields)
}

/// Fields others changed on the hub after the op's base version (none when the op has no
/// base or its base is current).
fn changed_by_others(
    conn: &Connection,
    op: &Op,
    current: &Patient,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    match op.base_version {
        Some(base) if base != current.version => changed_since(conn, op.record_id, base, actor),
        _ => Ok(BTreeSet::new()),
    }
}

/// Applies a push's ops in order, in one transaction: each op lands with its history row,
/// audit event, change-feed entry and stored answer, or not at all (see [`apply_op`]), and
/// the whole push costs one commit. Once an op on a record conflicts or is refused, the later
/// ops on that record in the same push are conflicts too: they were made on top of it.
pub fn apply_batch(
    conn: &mut Connection,
    ops: &[Op],
    rules: &OpRules,
    actor: &Actor,
) -> StoreResult<Vec<OpResult>> {
    let mut blocked = BTreeSet::new();
    let mut results = Vec::with_capacity(ops.len());
    let tx = conn.transaction().db()?;
    for op in ops {
        let result = apply_op(&tx, op, rules, actor, blocked.contains(&op.record_id))?;
        if matches!(result.status, OpStatus::Conflict | OpStatus::Rejected) {
            blocked.insert(op.record_id);
        }
        results.push(result);
    }
    tx.commit().db()?;
    Ok(results)
}

/// Applies one op inside the push's transaction; a replay returns the stored answer unchanged.
fn apply_op(
    tx: &Connection,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    blocked: bool,
) -> StoreResult<OpResult> {
    if let Some(result) = stored(tx, &op.op_id.to_string())? {
        return serde_json::from_str(&result).map_err(|e| StoreError::Corrupt(e.to_string()));
    }
    let synced = Synced::of(op);
    let result = match rules.check(op) {
        _ if blocked => match load(tx, op.record_id)? {
            Some((current, deleted_at)) => op_conflict(op, current, deleted_at.is_some()),
            None => op_rejected(
                op,
                "not_found",
                "an earlier op on this record was not applied",
            ),
        },
        Err(error) => OpResult {
            error: Some(error),
            ..op_rejected(op, "", "")
        },
        Ok(()) => {
            // No savepoint per op: an op is refused before its first write or by that write's
            // own statement, which SQLite undoes by itself. A savepoint would copy every page
            // the op touches and cost a push ~10% of its rate (docs/BENCHMARKS.md). Should a
            // refusal ever follow a write, the whole push fails rather than keep half an op.
            let before = tx.total_changes();
            let outcome = match op.action {
                OpAction::Create => create(tx, op, rules, actor, &synced),
                OpAction::Update => update(tx, op, rules, actor, &synced),
                OpAction::Delete => delete(tx, op, actor, &synced),
            };
            let result = match outcome {
                Ok(result) => result,
                Err(err) => op_failed(op, err)?,
            };
            if result.status == OpStatus::Rejected && tx.total_changes() != before {
                return Err(StoreError::Corrupt(
                    "an op was refused after part of it was written".into(),
                ));
            }
            result
        }
    };
    if matches!(result.status, OpStatus::Rejected | OpStatus::Conflict) {
        let event = op_failure_event(actor, op, &result, synced);
        audit::append(tx, &event)?;
    }
    tx.prepare_cached(
        "INSERT INTO applied_ops (op_id, kind, device_id, user_id, received_at, result) \
         VALUES (?1, 'op', ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        op.op_id.to_string(),
        actor.device_id.map(|d| d.to_string()),
        actor.user_id.map(|u| u.to_string()),
        ts(actor.at),
        serde_json::to_string(&result).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    ])
    .db()?;
    Ok(result)
}

fn create(
    conn: &Connection,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    synced: &Synced,
) -> StoreResult<OpResult> {
    if load(conn, op.record_id)?.is_some() {
        return Ok(op_rejected(
            op,
            "already_exists",
            "a record with this id already exists",
        ));
    }
    let fields: PatientFields = match serde_json::from_value(Value::Object(op.fields.clone())) {
        Ok(fields) => fields,
        Err(_) => {
            return Ok(op_rejected(
                op,
                "invalid_input",
                "the fields are not a patient record (unknown or missing field, or a wrong type)",
            ));
        }
    };
    fields.validate(rules.today)?;
    let patient = insert_patient(conn, op.record_id, fields, actor, Some(synced))?;
    Ok(op_done(op, OpStatus::Applied, patient))
}

fn update(
    conn: &Connection,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    synced: &Synced,
) -> StoreResult<OpResult> {
    let Some((current, deleted_at)) = load(conn, op.record_id)? else {
        return Ok(op_rejected(op, "not_found", "no such record"));
    };
    if deleted_at.is_some() {
        return Ok(op_conflict(op, current, true));
    }
    let others = changed_by_others(conn, op, &current, actor)?;
    let Some(status) = merge::update_status(&others, op.fields.keys()) else {
        return Ok(op_conflict(op, current, false));
    };
    let (fields, changed) = current
        .fields
        .apply(&op.fields, rules.today)
        .map_err(patch_error)?;
    if changed.is_empty() {
        return Ok(op_done(op, status, current));
    }
    let patient = save_update(conn, current, fields, &changed, actor, Some(synced))?;
    Ok(op_done(op, status, patient))
}

fn delete(conn: &Connection, op: &Op, actor: &Actor, synced: &Synced) -> StoreResult<OpResult> {
    let Some((current, deleted_at)) = load(conn, op.record_id)? else {
        return Ok(op_rejected(op, "not_found", "no such record"));
    };
    if deleted_at.is_some() {
        return Ok(OpResult {
            record: None,
            ..op_done(op, OpStatus::Applied, current)
        });
    }
    if !merge::delete_applies(&changed_by_others(conn, op, &current, actor)?) {
        return Ok(op_conflict(op, current, false));
    }
    let patient = save_delete(conn, current, actor, Some(synced))?;
    Ok(OpResult {
        record: None,
        ..op_done(op, OpStatus::Applied, patient)
    })
}

/// Appends offline events once each; returns every id now in the chain.
pub fn append_local(
    conn: &mut Connection,
    events: &[LocalAuditEvent],
    actor: &Actor,
) -> StoreResult<Vec<LocalEventId>> {
    let tx = conn.transaction().db()?;
    let mut accepted = Vec::with_capacity(events.len());
    for event in events {
        let id = event.event_id.to_string();
        if stored(&tx, &id)?.is_none() {
            let record = offline_event(actor, event);
            let seq = audit::append(&tx, &record)?;
            tx.execute(
                "INSERT INTO applied_ops (op_id, kind, device_id, user_id, received_at, result) \
                 VALUES (?1, 'audit', ?2, ?3, ?4, ?5)",
                params![
                    id,
                    actor.device_id.map(|d| d.to_string()),
                    actor.user_id.map(|u| u.to_string()),
                    ts(actor.at),
                    json!({ "seq": seq }).to_string(),
                ],
            )
            .db()?;
        }
        accepted.push(event.event_id);
    }
    tx.commit().db()?;
    Ok(accepted)
}

/// Changes after `cursor`, oldest first, with the record as it is now.
pub fn pull(
    conn: &mut Connection,
    cursor: i64,
    limit: u32,
    actor: &Actor,
) -> StoreResult<PullResponse> {
    let tx = conn.transaction().db()?;
    let feed: Vec<(i64, String, i64, String)> = {
        let mut stmt = tx
            .prepare(
                "SELECT seq, entity_id, version, action FROM change_feed WHERE seq > ?1 \
                 ORDER BY seq LIMIT ?2",
            )
            .db()?;
        stmt.query_map(params![cursor, i64::from(limit) + 1], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
    };
    let has_more = feed.len() > limit as usize;
    let mut changes = Vec::with_capacity(feed.len().min(limit as usize));
    for (seq, entity_id, version, action) in feed.into_iter().take(limit as usize) {
        let id: PatientId = entity_id
            .parse()
            .map_err(|_| StoreError::Corrupt("change feed id".into()))?;
        let record = load(&tx, id)?.and_then(|(p, deleted)| deleted.is_none().then_some(p));
        let action = match action.as_str() {
            "create" => OpAction::Create,
            "update" => OpAction::Update,
            _ => OpAction::Delete,
        };
        changes.push(Change {
            seq,
            entity: Entity::Patient,
            record_id: id,
            version,
            action,
            record,
            history: history::entry(&tx, id, version)?,
        });
    }
    let next = changes.last().map_or(cursor, |c| c.seq);
    if !changes.is_empty() {
        let ids: BTreeSet<String> = changes.iter().map(|c| c.record_id.to_string()).collect();
        audit::append(&tx, &pull_event(actor, cursor, next, &ids))?;
    }
    tx.commit().db()?;
    Ok(PullResponse {
        changes,
        cursor: next,
        has_more,
    })
}

pub fn cursor(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("SELECT ifnull(max(seq), 0) FROM change_feed", [], |row| {
        row.get(0)
    })
    .db()
}

/// Opens a read transaction on a connection of its own and returns it with the snapshot's
/// first line; [`stream_snapshot`] then sends the rest.
pub fn begin_snapshot(path: &Path, key: &Key) -> StoreResult<(Connection, SnapshotLine)> {
    let conn = open_encrypted(path, key)?;
    conn.execute_batch("BEGIN").db()?;
    let cursor = cursor(&conn)?;
    let patients: i64 = conn
        .query_row(
            "SELECT count(*) FROM patients WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .db()?;
    let history: i64 = conn
        .query_row(
            "SELECT count(*) FROM patient_history h JOIN patients p ON p.id = h.patient_id \
             WHERE p.deleted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .db()?;
    Ok((
        conn,
        SnapshotLine::Begin {
            cursor,
            patients: patients.unsigned_abs(),
            history: history.unsigned_abs(),
        },
    ))
}

/// Sends every live patient (in name order, the client's list order, so that its rows are
/// appended), then every version of them in the order of the client's history key, so
/// that those are appended too, in batches, then `End`. Stops early when the
/// receiver goes away.
pub fn stream_snapshot(conn: Connection, tx: mpsc::Sender<StoreResult<Vec<SnapshotLine>>>) {
    let send = |batch: Vec<SnapshotLine>| tx.blocking_send(Ok(batch)).is_ok();
    let result = (|| -> StoreResult<bool> {
        let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
        {
            let mut stmt = conn
                .prepare(&format!(
                    "{} WHERE deleted_at IS NULL ORDER BY family_key, given_key, id",
                    select_patient()
                ))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            while let Some(row) = rows.next().db()? {
                batch.push(SnapshotLine::Patient(read_patient(row).db()?.0));
                if batch.len() == SNAPSHOT_BATCH && !send(std::mem::take(&mut batch)) {
                    return Ok(false);
                }
            }
        }
        {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM patient_history h JOIN patients p ON p.id = h.patient_id \
                     WHERE p.deleted_at IS NULL ORDER BY h.patient_id, h.version",
                    outpost_store::columns::history("h.")
                ))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            while let Some(row) = rows.next().db()? {
                let (patient_id, entry) = history::read(row).db()?;
                batch.push(SnapshotLine::History { patient_id, entry });
                if batch.len() == SNAPSHOT_BATCH && !send(std::mem::take(&mut batch)) {
                    return Ok(false);
                }
            }
        }
        batch.push(SnapshotLine::End);
        Ok(send(batch))
    })();
    if let Err(err) = result {
        let _ = tx.blocking_send(Err(err));
    }
    let _ = conn.execute_batch("COMMIT");
}
