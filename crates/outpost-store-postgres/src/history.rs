//! Each kind's history table (one row per version, written with each change) and the change
//! feed, read by the history routes, reports, pulls, snapshots and the merge of pushed ops.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{GenericClient, Row};

use outpost_domain::RecordId;
use outpost_domain::audit::Actor;
use outpost_domain::kind::Kind;
use outpost_domain::record::{Changes, HistoryEntry, Record};
use outpost_store::StoreResult;
use outpost_store::columns::history;

use crate::OrBackend;
use crate::sql::{col, id, json, opt_id, to_json};

/// Appends the version `record` now is, and its change-feed entry. `client_time` is the
/// device's clock when a synced change was made. The caller's transaction holds the write
/// lock, so change-feed numbers commit in order.
pub async fn record(
    tx: &impl GenericClient,
    kind: &Kind,
    record: &Record,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    client_time: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    let id = record.id.as_uuid();
    tx.execute(
        &format!(
            "INSERT INTO {} ({}, version, action, changes, actor_user_id, session_id, \
             device_id, at, client_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            kind.history_table, kind.history_key
        ),
        &[
            &id,
            &record.version,
            &action,
            &to_json(changes)?,
            &actor.user_id.map(|u| u.as_uuid()),
            &actor.session_id.map(|s| s.as_uuid()),
            &actor.device_id.map(|d| d.as_uuid()),
            &actor.at,
            &client_time,
        ],
    )
    .await
    .db()?;
    tx.execute(
        "INSERT INTO change_feed (entity, entity_id, version, action, at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &kind.name,
            &id.to_string(),
            &record.version,
            &action,
            &actor.at,
        ],
    )
    .await
    .db()?;
    Ok(())
}

/// Every version of one record, oldest first.
pub async fn of_record(
    client: &impl GenericClient,
    kind: &Kind,
    record: RecordId,
) -> StoreResult<Vec<HistoryEntry>> {
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM {} WHERE {} = $1 ORDER BY version",
                history(kind.history_key, ""),
                kind.history_table,
                kind.history_key
            ),
            &[&record.as_uuid()],
        )
        .await
        .db()?;
    rows.iter().map(|row| read(row).map(|(_, e)| e)).collect()
}

/// One version of one record.
pub async fn entry(
    client: &impl GenericClient,
    kind: &Kind,
    record: RecordId,
    version: i64,
) -> StoreResult<Option<HistoryEntry>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM {} WHERE {} = $1 AND version = $2",
                history(kind.history_key, ""),
                kind.history_table,
                kind.history_key
            ),
            &[&record.as_uuid(), &version],
        )
        .await
        .db()?;
    row.as_ref().map(|r| read(r).map(|(_, e)| e)).transpose()
}

/// Fields changed after `base_version` by anyone but this user on this device (their own
/// earlier ops are already part of what they edited).
pub async fn changed_since(
    tx: &impl GenericClient,
    kind: &Kind,
    record: RecordId,
    base_version: i64,
    actor: &Actor,
) -> StoreResult<BTreeSet<String>> {
    let rows = tx
        .query(
            &format!(
                "SELECT changes FROM {} WHERE {} = $1 AND version > $2 \
                 AND NOT (device_id IS NOT DISTINCT FROM $3 \
                          AND actor_user_id IS NOT DISTINCT FROM $4 AND $3 IS NOT NULL)",
                kind.history_table, kind.history_key
            ),
            &[
                &record.as_uuid(),
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

/// A row selected with [`history`].
pub fn read(row: &Row) -> StoreResult<(RecordId, HistoryEntry)> {
    Ok((
        id(row, 0)?,
        HistoryEntry {
            version: col(row, 1)?,
            action: col(row, 2)?,
            changes: json(col::<&str>(row, 3)?)?,
            actor_user_id: opt_id(row, 4)?,
            session_id: opt_id(row, 5)?,
            device_id: opt_id(row, 6)?,
            at: col(row, 7)?,
            client_time: col(row, 8)?,
        },
    ))
}
