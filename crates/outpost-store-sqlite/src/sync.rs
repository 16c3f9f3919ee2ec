//! The hub's side of sync on a tenant file: applying pushed ops, appending offline audit
//! events, pulling changes, and streaming a consistent snapshot.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use tokio::sync::mpsc;

use outpost_domain::audit::Actor;
use outpost_domain::sync::{
    Change, LocalAuditEvent, Op, OpAction, OpResult, OpRules, OpStatus, PullResponse, SnapshotLine,
};
use outpost_domain::{Entity, LocalEventId, RecordId};
use outpost_store::changes::{
    Synced, offline_event, op_done, op_failed, op_failure_event, pull_event,
};
use outpost_store::plan::{self, Step};
use outpost_store::{StoreError, StoreResult};

use crate::conn::open_encrypted;
use crate::keys::Key;
use crate::sql::{OrBackend, ts};
use crate::{audit, constraints, history, records};

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

/// Applies a push's ops in order, in one transaction: each op lands with its history row,
/// audit event, change-feed entry and stored answer, or not at all, and the whole push costs
/// one commit. Once an op on a record conflicts or is refused, the later ops on that record
/// in the same push are conflicts too: they were made on top of it.
pub fn apply_batch(
    conn: &mut Connection,
    ops: &[Op],
    rules: &OpRules,
    actor: &Actor,
) -> StoreResult<Vec<OpResult>> {
    let mut blocked = plan::Blocked::default();
    let mut results = Vec::with_capacity(ops.len());
    let tx = conn.transaction().db()?;
    for op in ops {
        let result = apply_op(&tx, op, rules, actor, blocked.contains(op))?;
        blocked.note(op, &result);
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
    let kind = op.entity.kind();
    let synced = Synced::of(op);
    let current = records::load(tx, kind, op.record_id)?;
    let others = match plan::history_needed(op, current.as_ref()) {
        Some(base) => history::changed_since(tx, kind, op.record_id, base, actor)?,
        None => BTreeSet::new(),
    };
    // No savepoint per op: every refusal is decided before the op's first write or by that
    // write's own statement, which SQLite undoes by itself. A savepoint would copy every page
    // the op touches and cost a push ~10% of its rate (docs/BENCHMARKS.md).
    let result = match plan::op(kind, op, rules, current, &others, blocked) {
        Step::Answer(result) => result,
        Step::Write(write) => match constraints::check(tx, kind, op.record_id, &write)? {
            Err(refusal) => plan::rejected(op, plan::Refused::Rule(refusal)),
            Ok(()) => {
                let status = write.status;
                let written = match write.before.clone() {
                    None => records::insert(tx, kind, op.record_id, write, actor, Some(&synced)),
                    Some(current) => {
                        records::update(tx, kind, current, write, actor, Some(&synced))
                    }
                };
                match written {
                    Ok(record) => op_done(op, status, record),
                    Err(err) => op_failed(op, err)?,
                }
            }
        },
        Step::Delete { status, current } => {
            let record = records::delete(tx, kind, current, actor, Some(&synced))?;
            OpResult {
                record: None,
                ..op_done(op, status, record)
            }
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
    kinds: &[Entity],
    actor: &Actor,
) -> StoreResult<PullResponse> {
    let tx = conn.transaction().db()?;
    let feed: Vec<(i64, String, String, i64, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT seq, entity, entity_id, version, action FROM change_feed WHERE seq > ?1 \
                 ORDER BY seq LIMIT ?2",
            )
            .db()?;
        stmt.query_map(params![cursor, i64::from(limit) + 1], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
    };
    let has_more = feed.len() > limit as usize;
    let mut changes = Vec::with_capacity(feed.len().min(limit as usize));
    let mut next = cursor;
    for (seq, entity, record_id, version, action) in feed.into_iter().take(limit as usize) {
        next = seq;
        let entity = records::entity(&entity)?;
        if !kinds.contains(&entity) {
            continue;
        }
        let kind = entity.kind();
        let id: RecordId = record_id
            .parse()
            .map_err(|_| StoreError::Corrupt("change feed id".into()))?;
        changes.push(Change {
            seq,
            entity,
            record_id: id,
            version,
            action: action_of(&action),
            record: records::load_live(&tx, kind, id)?,
            history: history::entry(&tx, kind, id, version)?,
        });
    }
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

fn action_of(text: &str) -> OpAction {
    match text {
        "create" => OpAction::Create,
        "update" => OpAction::Update,
        _ => OpAction::Delete,
    }
}

pub fn cursor(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("SELECT ifnull(max(seq), 0) FROM change_feed", [], |row| {
        row.get(0)
    })
    .db()
}

/// Opens a read transaction on a connection of its own and returns it with the snapshot's
/// first line, counting the records of `kinds` (those the caller may read); [`stream_snapshot`]
/// then sends the rest.
pub fn begin_snapshot(
    path: &Path,
    key: &Key,
    kinds: &[Entity],
) -> StoreResult<(Connection, SnapshotLine)> {
    let conn = open_encrypted(path, key)?;
    conn.execute_batch("BEGIN").db()?;
    let cursor = cursor(&conn)?;
    let (mut records, mut history) = (0u64, 0u64);
    for entity in kinds {
        let kind = entity.kind();
        let count = |sql: String| -> StoreResult<u64> {
            conn.query_row(&sql, [], |r| r.get::<_, i64>(0))
                .db()
                .map(i64::unsigned_abs)
        };
        records += count(format!(
            "SELECT count(*) FROM {} WHERE deleted_at IS NULL",
            kind.table
        ))?;
        history += count(format!(
            "SELECT count(*) FROM {} h JOIN {} r ON r.id = h.{} WHERE r.deleted_at IS NULL",
            kind.history_table, kind.table, kind.history_key
        ))?;
    }
    Ok((
        conn,
        SnapshotLine::Begin {
            cursor,
            records,
            history,
        },
    ))
}

/// Sends every live record of `kinds`, kind by kind, in each kind's list order (the client's, so that
/// its rows are appended), then every version of them in the order of the client's history
/// key, in batches, then `End`. Stops early when the receiver goes away.
pub fn stream_snapshot(
    conn: Connection,
    kinds: &[Entity],
    tx: mpsc::Sender<StoreResult<Vec<SnapshotLine>>>,
) {
    let send = |batch: Vec<SnapshotLine>| tx.blocking_send(Ok(batch)).is_ok();
    let result = (|| -> StoreResult<bool> {
        let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
        for entity in kinds {
            let kind = entity.kind();
            let order = outpost_store::statements::order(kind);
            let mut stmt = conn
                .prepare(&format!(
                    "{} WHERE deleted_at IS NULL ORDER BY {order}",
                    records::select(kind)
                ))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            while let Some(row) = rows.next().db()? {
                let record = records::read(kind, row).db()?.record;
                batch.push(SnapshotLine::Record {
                    entity: *entity,
                    record,
                });
                if batch.len() == SNAPSHOT_BATCH && !send(std::mem::take(&mut batch)) {
                    return Ok(false);
                }
            }
        }
        for entity in kinds {
            let kind = entity.kind();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM {} h JOIN {} r ON r.id = h.{key} \
                     WHERE r.deleted_at IS NULL ORDER BY h.{key}, h.version",
                    outpost_store::columns::history(kind.history_key, "h."),
                    kind.history_table,
                    kind.table,
                    key = kind.history_key,
                ))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            while let Some(row) = rows.next().db()? {
                let (record_id, entry) = history::read(row).db()?;
                batch.push(SnapshotLine::History {
                    entity: *entity,
                    record_id,
                    entry,
                });
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
