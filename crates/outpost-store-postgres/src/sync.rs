//! The hub's side of sync on a tenant database: applying pushed ops, appending offline audit
//! events, pulling changes, and streaming a consistent snapshot.

use std::collections::BTreeSet;

use futures_util::{TryStreamExt, pin_mut};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};

use outpost_domain::audit::Actor;
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::sync::{
    Change, Entity, LocalAuditEvent, Op, OpAction, OpResult, OpRules, OpStatus, PullResponse,
    SnapshotLine,
};
use outpost_domain::{LocalEventId, PatientId};
use outpost_store::changes::{
    Synced, offline_event, op_conflict, op_done, op_failed, op_failure_event, op_rejected,
    patch_error, pull_event, snapshot_event,
};
use outpost_store::{StoreError, StoreResult, merge};

use crate::router::Conn;
use crate::sql::{begin, col, json, lock_writers, to_json, unlock_writers};
use crate::tenant::{insert_patient, load, read_patient, save_delete, save_update, select_patient};
use crate::{OrBackend, audit, history};

/// Rows per snapshot batch: large enough to amortise channel and chunk overhead.
const SNAPSHOT_BATCH: usize = 512;

/// The stored answer of an op or event already received.
async fn stored(tx: &impl GenericClient, id: uuid::Uuid) -> StoreResult<Option<String>> {
    tx.query_opt("SELECT result FROM applied_ops WHERE op_id = $1", &[&id])
        .await
        .db()?
        .map(|row| col::<String>(&row, 0))
        .transpose()
}

/// Fields changed on the hub after `base_version` by anyone but this user on this device
/// (their own earlier ops are already part of what they edited).
async fn changed_since(
    tx: &impl GenericClient,
    id: PatientId,
    base_version: i64,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    let rows = tx
        .query(
            "SELECT changes FROM patient_history WHERE patient_id = $1 AND version > $2 \
             AND NOT (device_id IS NOT DISTINCT FROM $3 \
                      AND actor_user_id IS NOT DISTINCT FROM $4 AND $3 IS NOT NULL)",
            &[
                &id.as_uuid(),
                &base_version,
                &actor.device_id.map(|d| d.as_uuid()),
                &actor.user_id.map(|u| u.as_uuid()),
            ],
        )
        .await
        .db()?;
    let mut fields = BTreeSet::new();
    for row in rows {
        if let Value::Object(map) = json::<Value>(col::<&str>(&row, 0)?)? {
            fields.extend(map.keys().cloned());
        }
    }
    Ok(fields)
}

/// Fields others changed on the hub after the op's base version (none when the op has no
/// base or its base is current).
async fn changed_by_others(
    tx: &impl GenericClient,
    op: &Op,
    current: &Patient,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    match op.base_version {
        Some(base) if base != current.version => changed_since(tx, op.record_id, base, actor).await,
        _ => Ok(BTreeSet::new()),
    }
}

/// Applies a push's ops in order, in one transaction with a savepoint per op: each op lands
/// with its history row, audit event, change-feed entry and stored answer, or not at all, and
/// the whole push costs one commit. Once an op on a record conflicts or is refused, the later
/// ops on that record in the same push are conflicts too: they were made on top of it.
pub async fn apply_batch(
    conn: &mut Conn,
    ops: &[Op],
    rules: &OpRules,
    actor: &Actor,
) -> StoreResult<Vec<OpResult>> {
    let mut blocked = BTreeSet::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut tx = begin(conn).await?;
    for op in ops {
        let result = apply_op(&mut tx, op, rules, actor, blocked.contains(&op.record_id)).await?;
        if matches!(result.status, OpStatus::Conflict | OpStatus::Rejected) {
            blocked.insert(op.record_id);
        }
        results.push(result);
    }
    tx.commit().await.db()?;
    Ok(results)
}

/// Applies one op inside the push's transaction; a replay returns the stored answer unchanged.
async fn apply_op(
    tx: &mut Transaction<'_>,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    blocked: bool,
) -> StoreResult<OpResult> {
    if let Some(result) = stored(tx, op.op_id.as_uuid()).await? {
        return json(&result);
    }
    let synced = Synced::of(op);
    let result = if blocked {
        match load(tx, op.record_id).await? {
            Some((current, deleted_at)) => op_conflict(op, current, deleted_at.is_some()),
            None => op_rejected(
                op,
                "not_found",
                "an earlier op on this record was not applied",
            ),
        }
    } else if let Err(error) = rules.check(op) {
        OpResult {
            error: Some(error),
            ..op_rejected(op, "", "")
        }
    } else {
        // A savepoint, so that a refused write leaves nothing behind.
        let sp = tx.transaction().await.db()?;
        let outcome = match op.action {
            OpAction::Create => create(&sp, op, rules, actor, &synced).await,
            OpAction::Update => update(&sp, op, rules, actor, &synced).await,
            OpAction::Delete => delete(&sp, op, actor, &synced).await,
        };
        let result = match outcome {
            Ok(result) => result,
            Err(err) => op_failed(op, err)?,
        };
        if result.status == OpStatus::Rejected {
            sp.rollback().await.db()?;
        } else {
            sp.commit().await.db()?;
        }
        result
    };
    if matches!(result.status, OpStatus::Rejected | OpStatus::Conflict) {
        let event = op_failure_event(actor, op, &result, synced);
        audit::append(tx, &event).await?;
    }
    tx.execute(
        "INSERT INTO applied_ops (op_id, kind, device_id, user_id, received_at, result) \
         VALUES ($1, 'op', $2, $3, $4, $5)",
        &[
            &op.op_id.as_uuid(),
            &actor.device_id.map(|d| d.as_uuid()),
            &actor.user_id.map(|u| u.as_uuid()),
            &actor.at,
            &to_json(&result)?,
        ],
    )
    .await
    .db()?;
    Ok(result)
}

async fn create(
    tx: &Transaction<'_>,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    synced: &Synced,
) -> StoreResult<OpResult> {
    if load(tx, op.record_id).await?.is_some() {
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
    let patient = insert_patient(tx, op.record_id, fields, actor, Some(synced)).await?;
    Ok(op_done(op, OpStatus::Applied, patient))
}

async fn update(
    tx: &Transaction<'_>,
    op: &Op,
    rules: &OpRules,
    actor: &Actor,
    synced: &Synced,
) -> StoreResult<OpResult> {
    let Some((current, deleted_at)) = load(tx, op.record_id).await? else {
        return Ok(op_rejected(op, "not_found", "no such record"));
    };
    if deleted_at.is_some() {
        return Ok(op_conflict(op, current, true));
    }
    let others = changed_by_others(tx, op, &current, actor).await?;
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
    let patient = save_update(tx, current, fields, &changed, actor, Some(synced)).await?;
    Ok(op_done(op, status, patient))
}

async fn delete(
    tx: &Transaction<'_>,
    op: &Op,
    actor: &Actor,
    synced: &Synced,
) -> StoreResult<OpResult> {
    let Some((current, deleted_at)) = load(tx, op.record_id).await? else {
        return Ok(op_rejected(op, "not_found", "no such record"));
    };
    if deleted_at.is_some() {
        return Ok(OpResult {
            record: None,
            ..op_done(op, OpStatus::Applied, current)
        });
    }
    if !merge::delete_applies(&changed_by_others(tx, op, &current, actor).await?) {
        return Ok(op_conflict(op, current, false));
    }
    let patient = save_delete(tx, current, actor, Some(synced)).await?;
    Ok(OpResult {
        record: None,
        ..op_done(op, OpStatus::Applied, patient)
    })
}

/// Appends offline events once each; returns every id now in the chain.
pub async fn append_local(
    conn: &mut Conn,
    events: &[LocalAuditEvent],
    actor: &Actor,
) -> StoreResult<Vec<LocalEventId>> {
    let tx = begin(conn).await?;
    let mut accepted = Vec::with_capacity(events.len());
    for event in events {
        let id = event.event_id.as_uuid();
        if stored(&tx, id).await?.is_none() {
            let record = offline_event(actor, event);
            let seq = audit::append(&tx, &record).await?;
            tx.execute(
                "INSERT INTO applied_ops (op_id, kind, device_id, user_id, received_at, result) \
                 VALUES ($1, 'audit', $2, $3, $4, $5)",
                &[
                    &id,
                    &actor.device_id.map(|d| d.as_uuid()),
                    &actor.user_id.map(|u| u.as_uuid()),
                    &actor.at,
                    &json!({ "seq": seq }).to_string(),
                ],
            )
            .await
            .db()?;
        }
        accepted.push(event.event_id);
    }
    tx.commit().await.db()?;
    Ok(accepted)
}

/// Changes after `cursor`, oldest first, with the record as it is now.
pub async fn pull(
    conn: &mut Conn,
    cursor: i64,
    limit: u32,
    actor: &Actor,
) -> StoreResult<PullResponse> {
    let tx = begin(conn).await?;
    let feed = tx
        .query(
            "SELECT seq, entity_id, version, action FROM change_feed WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
            &[&cursor, &(i64::from(limit) + 1)],
        )
        .await
        .db()?;
    let has_more = feed.len() > limit as usize;
    let mut changes = Vec::with_capacity(feed.len().min(limit as usize));
    for row in feed.iter().take(limit as usize) {
        let id: PatientId = col::<&str>(row, 1)?
            .parse()
            .map_err(|_| StoreError::Corrupt("change feed id".into()))?;
        let version: i64 = col(row, 2)?;
        let record = load(&tx, id)
            .await?
            .and_then(|(p, deleted)| deleted.is_none().then_some(p));
        let action = match col::<&str>(row, 3)? {
            "create" => OpAction::Create,
            "update" => OpAction::Update,
            _ => OpAction::Delete,
        };
        changes.push(Change {
            seq: col(row, 0)?,
            entity: Entity::Patient,
            record_id: id,
            version,
            action,
            record,
            history: history::entry(&tx, id, version).await?,
        });
    }
    let next = changes.last().map_or(cursor, |c| c.seq);
    if !changes.is_empty() {
        let ids: BTreeSet<String> = changes.iter().map(|c| c.record_id.to_string()).collect();
        audit::append(&tx, &pull_event(actor, cursor, next, &ids)).await?;
    }
    tx.commit().await.db()?;
    Ok(PullResponse {
        changes,
        cursor: next,
        has_more,
    })
}

pub async fn cursor(client: &impl GenericClient) -> StoreResult<i64> {
    let row = client
        .query_one("SELECT coalesce(max(seq), 0)::bigint FROM change_feed", &[])
        .await
        .db()?;
    col(&row, 0)
}

/// Audits the snapshot and starts it: with the writers held off for a moment (a session lock
/// on this connection), the audit event is appended and the read-only, repeatable-read
/// transaction begun, so that both see the same cursor; then writers go on while a task
/// streams every live patient in name order (the client's list order, so that its rows are
/// appended), then every version of them in the order of the client's history key (appended
/// too), in batches, then `End`. Stops early when the receiver goes away.
///
/// Everything runs on this one connection: a snapshot never waits for a second connection of
/// its database while holding one (four at once would take every slot of a tenant and wait
/// for each other), and a snapshot cancelled at any point leaves no transaction or lock behind
/// ([`Conn::enter`]).
pub async fn snapshot(
    mut conn: Conn,
    actor: &Actor,
) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
    lock_writers(&mut conn).await?;
    let (cursor, patients) = {
        let tx = begin(&mut conn).await?;
        let cursor = cursor(&tx).await?;
        let patients: i64 = col(
            &tx.query_one(
                "SELECT count(*) FROM patients WHERE deleted_at IS NULL",
                &[],
            )
            .await
            .db()?,
            0,
        )?;
        let patients = patients.unsigned_abs();
        audit::append(&tx, &snapshot_event(actor, cursor, patients)).await?;
        tx.commit().await.db()?;
        (cursor, patients)
    };
    // The first query takes the transaction's snapshot, before writers are let go.
    conn.enter("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
        .await?;
    unlock_writers(&mut conn).await?;
    let history: i64 = col(
        &conn
            .query_one(
                "SELECT count(*) FROM patient_history h JOIN patients p ON p.id = h.patient_id \
                 WHERE p.deleted_at IS NULL",
                &[],
            )
            .await
            .db()?,
        0,
    )?;
    let begin = SnapshotLine::Begin {
        cursor,
        patients,
        history: history.unsigned_abs(),
    };
    let (tx, rx) = mpsc::channel(8);
    tx.send(Ok(vec![begin]))
        .await
        .map_err(|_| StoreError::Corrupt("snapshot receiver closed".into()))?;
    tokio::spawn(async move {
        if let Err(err) = stream(&conn, &tx).await {
            let _ = tx.send(Err(err)).await;
        }
        let _ = conn.leave("COMMIT").await;
    });
    Ok(rx)
}

async fn stream(conn: &Conn, tx: &mpsc::Sender<StoreResult<Vec<SnapshotLine>>>) -> StoreResult<()> {
    let no_params: [&(dyn ToSql + Sync); 0] = [];
    let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
    let patients = conn
        .query_raw(
            &format!(
                "{} WHERE deleted_at IS NULL ORDER BY family_key, given_key, id",
                select_patient()
            ),
            no_params,
        )
        .await
        .db()?;
    pin_mut!(patients);
    while let Some(row) = patients.try_next().await.db()? {
        batch.push(SnapshotLine::Patient(read_patient(&row)?.0));
        if batch.len() == SNAPSHOT_BATCH && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
            return Ok(());
        }
    }
    let versions = conn
        .query_raw(
            &format!(
                "SELECT {} FROM patient_history h JOIN patients p ON p.id = h.patient_id \
                 WHERE p.deleted_at IS NULL ORDER BY h.patient_id, h.version",
                outpost_store::columns::history("h.")
            ),
            no_params,
        )
        .await
        .db()?;
    pin_mut!(versions);
    while let Some(row) = versions.try_next().await.db()? {
        let (patient_id, entry) = history::read(&row)?;
        batch.push(SnapshotLine::History { patient_id, entry });
        if batch.len() == SNAPSHOT_BATCH && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
            return Ok(());
        }
    }
    batch.push(SnapshotLine::End);
    let _ = tx.send(Ok(batch)).await;
    Ok(())
}
