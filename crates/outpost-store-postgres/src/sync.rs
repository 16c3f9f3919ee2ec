//! The hub's side of sync on a tenant database: applying pushed ops, appending offline audit
//! events, pulling changes, and streaming a consistent snapshot.

use std::collections::BTreeSet;

use futures_util::{TryStreamExt, pin_mut};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};

use outpost_domain::audit::Actor;
use outpost_domain::sync::{
    Change, LocalAuditEvent, Op, OpAction, OpResult, OpRules, OpStatus, PullResponse, SnapshotLine,
};
use outpost_domain::{Entity, LocalEventId, RecordId};
use outpost_store::changes::{
    Synced, offline_event, op_done, op_failed, op_failure_event, pull_event, snapshot_event,
};
use outpost_store::plan::{self, Step};
use outpost_store::{StoreError, StoreResult};

use crate::router::Conn;
use crate::sql::{begin, col, json, lock_writers, to_json, unlock_writers};
use crate::{OrBackend, audit, constraints, history, records};

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

/// Applies a push's ops in order, in one transaction: each op lands with its history row,
/// audit event, change-feed entry and stored answer, or not at all, and the whole push costs
/// one commit. Once an op on a record conflicts or is refused, the later ops on that record
/// in the same push are conflicts too: they were made on top of it.
pub async fn apply_batch(
    conn: &mut Conn,
    ops: &[Op],
    rules: &OpRules,
    actor: &Actor,
) -> StoreResult<Vec<OpResult>> {
    let mut blocked = plan::Blocked::default();
    let mut results = Vec::with_capacity(ops.len());
    let mut tx = begin(conn).await?;
    for op in ops {
        let result = apply_op(&mut tx, op, rules, actor, blocked.contains(op)).await?;
        blocked.note(op, &result);
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
    let kind = op.entity.kind();
    let synced = Synced::of(op);
    let current = records::load(tx, kind, op.record_id).await?;
    let others = match plan::history_needed(op, current.as_ref()) {
        Some(base) => history::changed_since(tx, kind, op.record_id, base, actor).await?,
        None => BTreeSet::new(),
    };
    let result = match plan::op(kind, op, rules, current, &others, blocked) {
        Step::Answer(result) => result,
        Step::Write(write) => match constraints::check(tx, kind, op.record_id, &write).await? {
            Err(refusal) => plan::rejected(op, plan::Refused::Rule(refusal)),
            Ok(()) => {
                // A savepoint: a write refused by its own statement (a unique key) aborts
                // it, and only it.
                let sp = tx.transaction().await.db()?;
                let status = write.status;
                let written = match write.before.clone() {
                    None => {
                        records::insert(&sp, kind, op.record_id, write, actor, Some(&synced)).await
                    }
                    Some(current) => {
                        records::update(&sp, kind, current, write, actor, Some(&synced)).await
                    }
                };
                match written {
                    Ok(record) => {
                        sp.commit().await.db()?;
                        op_done(op, status, record)
                    }
                    Err(err) => {
                        sp.rollback().await.db()?;
                        op_failed(op, err)?
                    }
                }
            }
        },
        Step::Delete { status, current } => {
            let record = records::delete(&*tx, kind, current, actor, Some(&synced)).await?;
            OpResult {
                record: None,
                ..op_done(op, status, record)
            }
        }
    };
    if matches!(result.status, OpStatus::Rejected | OpStatus::Conflict) {
        let event = op_failure_event(actor, op, &result, synced);
        audit::append(&*tx, &event).await?;
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
    kinds: &[Entity],
    actor: &Actor,
) -> StoreResult<PullResponse> {
    let tx = begin(conn).await?;
    let feed = tx
        .query(
            "SELECT seq, entity, entity_id, version, action FROM change_feed WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
            &[&cursor, &(i64::from(limit) + 1)],
        )
        .await
        .db()?;
    let has_more = feed.len() > limit as usize;
    let mut changes = Vec::with_capacity(feed.len().min(limit as usize));
    let mut next = cursor;
    for row in feed.iter().take(limit as usize) {
        next = col(row, 0)?;
        let entity = records::entity(col::<&str>(row, 1)?)?;
        if !kinds.contains(&entity) {
            continue;
        }
        let kind = entity.kind();
        let id: RecordId = col::<&str>(row, 2)?
            .parse()
            .map_err(|_| StoreError::Corrupt("change feed id".into()))?;
        let version: i64 = col(row, 3)?;
        let record = records::load_live(&tx, kind, id).await?;
        let action = match col::<&str>(row, 4)? {
            "create" => OpAction::Create,
            "update" => OpAction::Update,
            _ => OpAction::Delete,
        };
        changes.push(Change {
            seq: next,
            entity,
            record_id: id,
            version,
            action,
            record,
            history: history::entry(&tx, kind, id, version).await?,
        });
    }
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
/// streams every live record of `kinds` (those the caller reads), kind by kind in each kind's list order (the client's, so that
/// its rows are appended), then every version of them in the order of the client's history
/// key (appended too), in batches, then `End`. Stops early when the receiver goes away.
///
/// Everything runs on this one connection: a snapshot never waits for a second connection of
/// its database while holding one (four at once would take every slot of a tenant and wait
/// for each other), and a snapshot cancelled at any point leaves no transaction or lock behind
/// ([`Conn::enter`]).
pub async fn snapshot(
    mut conn: Conn,
    kinds: Vec<Entity>,
    actor: &Actor,
) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
    lock_writers(&mut conn).await?;
    let (cursor, records) = {
        let tx = begin(&mut conn).await?;
        let cursor = cursor(&tx).await?;
        let mut records = 0u64;
        for entity in &kinds {
            let count: i64 = col(
                &tx.query_one(
                    &format!(
                        "SELECT count(*) FROM {} WHERE deleted_at IS NULL",
                        entity.kind().table
                    ),
                    &[],
                )
                .await
                .db()?,
                0,
            )?;
            records += count.unsigned_abs();
        }
        audit::append(&tx, &snapshot_event(actor, cursor, records)).await?;
        tx.commit().await.db()?;
        (cursor, records)
    };
    // The first query takes the transaction's snapshot, before writers are let go.
    conn.enter("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
        .await?;
    unlock_writers(&mut conn).await?;
    let mut history = 0u64;
    for entity in &kinds {
        let kind = entity.kind();
        let count: i64 = col(
            &conn
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {} h JOIN {} r ON r.id = h.{} \
                         WHERE r.deleted_at IS NULL",
                        kind.history_table, kind.table, kind.history_key
                    ),
                    &[],
                )
                .await
                .db()?,
            0,
        )?;
        history += count.unsigned_abs();
    }
    let begin = SnapshotLine::Begin {
        cursor,
        records,
        history,
    };
    let (tx, rx) = mpsc::channel(8);
    tx.send(Ok(vec![begin]))
        .await
        .map_err(|_| StoreError::Corrupt("snapshot receiver closed".into()))?;
    tokio::spawn(async move {
        if let Err(err) = stream(&conn, &kinds, &tx).await {
            let _ = tx.send(Err(err)).await;
        }
        let _ = conn.leave("COMMIT").await;
    });
    Ok(rx)
}

async fn stream(
    conn: &Conn,
    kinds: &[Entity],
    tx: &mpsc::Sender<StoreResult<Vec<SnapshotLine>>>,
) -> StoreResult<()> {
    let no_params: [&(dyn ToSql + Sync); 0] = [];
    let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
    for entity in kinds {
        let kind = entity.kind();
        let order = outpost_store::statements::order(kind);
        let rows = conn
            .query_raw(
                &format!(
                    "{} WHERE deleted_at IS NULL ORDER BY {order}",
                    records::select(kind)
                ),
                no_params,
            )
            .await
            .db()?;
        pin_mut!(rows);
        while let Some(row) = rows.try_next().await.db()? {
            batch.push(SnapshotLine::Record {
                entity: *entity,
                record: records::read(kind, &row)?.record,
            });
            if batch.len() == SNAPSHOT_BATCH
                && tx.send(Ok(std::mem::take(&mut batch))).await.is_err()
            {
                return Ok(());
            }
        }
    }
    for entity in kinds {
        let kind = entity.kind();
        let versions = conn
            .query_raw(
                &format!(
                    "SELECT {} FROM {} h JOIN {} r ON r.id = h.{key} \
                     WHERE r.deleted_at IS NULL ORDER BY h.{key}, h.version",
                    outpost_store::columns::history(kind.history_key, "h."),
                    kind.history_table,
                    kind.table,
                    key = kind.history_key,
                ),
                no_params,
            )
            .await
            .db()?;
        pin_mut!(versions);
        while let Some(row) = versions.try_next().await.db()? {
            let (record_id, entry) = history::read(&row)?;
            batch.push(SnapshotLine::History {
                entity: *entity,
                record_id,
                entry,
            });
            if batch.len() == SNAPSHOT_BATCH
                && tx.send(Ok(std::mem::take(&mut batch))).await.is_err()
            {
                return Ok(());
            }
        }
    }
    batch.push(SnapshotLine::End);
    let _ = tx.send(Ok(batch)).await;
    Ok(())
}
