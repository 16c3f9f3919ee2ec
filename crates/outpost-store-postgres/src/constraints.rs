//! A kind's constraints that need other records, checked in the writing transaction before
//! the write (which holds the database's write lock, so no other writer books meanwhile): the
//! records it names are there, no two live records overlap in one group (a practitioner's
//! appointments), and a slot lies within its owner's working hours and outside the calendar's
//! closures. The decisions are the domain's; this reads what they need.

use chrono::{DateTime, Days, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use outpost_domain::kind::{Kind, NoOverlap, Refusal};
use outpost_domain::schedule::booking;
use outpost_domain::{Entity, RecordId};
use outpost_store::plan::{self, Write};
use outpost_store::{StoreError, StoreResult};

use crate::OrBackend;
use crate::records::{self, load_live};
use crate::sql::col;

/// `Err(refusal)` when `write` of record `id` breaks one of the kind's constraints.
pub async fn check(
    tx: &impl GenericClient,
    kind: &'static Kind,
    id: RecordId,
    write: &Write,
) -> StoreResult<Result<(), Refusal>> {
    for (reference, target) in plan::references(kind, write)? {
        if load_live(tx, reference.to.kind(), target).await?.is_none() {
            return Ok(Err(plan::missing_reference(reference)));
        }
    }
    let Some(rule) = kind.moves_slot(write.changes.keys(), &write.fields) else {
        return Ok(Ok(()));
    };
    let (start, end, group) = plan::slot(rule, &write.fields)?;
    let group: Uuid = group
        .parse()
        .map_err(|_| StoreError::Corrupt("a slot's group is not an id".into()))?;
    if let Some(taken) = overlapping(tx, kind, rule, id, group, start, end).await? {
        return Ok(Err(Refusal {
            code: "slot_taken",
            message: format!("the slot overlaps {} {taken}", kind.name),
        }));
    }
    let Some(owner) = rule.owner else {
        return Ok(Ok(()));
    };
    let Some(owner_record) = load_live(tx, owner.kind(), RecordId::from_uuid(group)).await? else {
        return Ok(Err(Refusal {
            code: "not_found",
            message: format!("no such {}", owner.as_str()),
        }));
    };
    let calendar = calendar_around(tx, group, start, end).await?;
    booking::check_records(&write.fields, &owner_record, &calendar).map_err(|e| {
        StoreError::Corrupt(format!(
            "a schedule record does not read ({:?})",
            e.classify()
        ))
    })
}

/// The first live record of the group, other than `id`, holding a slot that overlaps.
async fn overlapping(
    tx: &impl GenericClient,
    kind: &Kind,
    rule: &NoOverlap,
    id: RecordId,
    group: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<Option<Uuid>> {
    let inactive: Vec<&str> = rule.inactive.to_vec();
    let row = tx
        .query_opt(
            &format!(
                "SELECT id FROM {} WHERE \"{}\" = $1 AND id <> $2 AND deleted_at IS NULL \
                 AND \"{}\" < $3 AND \"{}\" > $4 AND NOT (\"{}\" = ANY($5)) LIMIT 1",
                kind.table, rule.group, rule.start, rule.end, rule.status
            ),
            &[&group, &id.as_uuid(), &end, &start, &inactive],
        )
        .await
        .db()?;
    row.map(|r| col(&r, 0)).transpose()
}

/// Live calendar entries of the tenant or of `owner` that may cover `start`..`end` (whole-day
/// entries are kept a day wider on each side: their days are local).
async fn calendar_around(
    tx: &impl GenericClient,
    owner: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<Vec<outpost_domain::Record>> {
    let kind = Entity::CalendarEntry.kind();
    let first_day = start.date_naive() - Days::new(1);
    let last_day = end.date_naive() + Days::new(1);
    let rows = tx
        .query(
            &format!(
                "{} WHERE deleted_at IS NULL AND (practitioner_id IS NULL OR practitioner_id = $1) \
                 AND ((date IS NOT NULL AND coalesce(end_date, date) >= $2 AND date <= $3) \
                 OR (\"start\" IS NOT NULL AND \"start\" < $4 AND \"end\" > $5))",
                records::select(kind)
            ),
            &[&owner, &first_day, &last_day, &end, &start],
        )
        .await
        .db()?;
    rows.iter()
        .map(|row| records::read(kind, row).map(|s| s.record))
        .collect()
}
