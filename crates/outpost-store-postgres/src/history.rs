//! The `patient_history` table: one row per version, written with each change and read by the
//! history route, reports, pulls and snapshots.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};

use outpost_domain::PatientId;
use outpost_domain::audit::Actor;
use outpost_domain::patient::{Changes, HistoryEntry, Patient};
use outpost_store::StoreResult;
use outpost_store::columns::history;

use crate::OrBackend;
use crate::sql::{col, id, json, opt_id, to_json};

/// Appends the version `patient` now is, and its change-feed entry. `client_time` is the
/// device's clock when a synced change was made. The caller's transaction holds the write
/// lock, so change-feed numbers commit in order.
pub async fn record(
    tx: &impl GenericClient,
    patient: &Patient,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    client_time: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    let id = patient.id.as_uuid();
    tx.execute(
        "INSERT INTO patient_history (patient_id, version, action, changes, actor_user_id, \
         session_id, device_id, at, client_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &id,
            &patient.version,
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
         VALUES ('patient', $1, $2, $3, $4)",
        &[&id.to_string(), &patient.version, &action, &actor.at],
    )
    .await
    .db()?;
    Ok(())
}

/// Every version of one patient, oldest first.
pub async fn of_patient(
    client: &impl GenericClient,
    patient: PatientId,
) -> StoreResult<Vec<HistoryEntry>> {
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM patient_history WHERE patient_id = $1 ORDER BY version",
                history("")
            ),
            &[&patient.as_uuid()],
        )
        .await
        .db()?;
    rows.iter().map(|row| read(row).map(|(_, e)| e)).collect()
}

/// One version of one patient.
pub async fn entry(
    client: &impl GenericClient,
    patient: PatientId,
    version: i64,
) -> StoreResult<Option<HistoryEntry>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM patient_history WHERE patient_id = $1 AND version = $2",
                history("")
            ),
            &[&patient.as_uuid(), &version],
        )
        .await
        .db()?;
    row.as_ref().map(|r| read(r).map(|(_, e)| e)).transpose()
}

/// A row selected with [`history`].
pub fn read(row: &Row) -> StoreResult<(PatientId, HistoryEntry)> {
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
